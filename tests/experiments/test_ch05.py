"""The experiments of Chapter 5 at tiny sizes: shapes, seeds, and one identity each."""

import math

import numpy as np
import pytest
import torch

from icl import runtime, theory, validation
from icl.experiments import ch05 as ex

SMALL = ex.Setting(6, 3, 0.5, 1.0)


def test_setting_validates_and_records_its_parameters():
    with pytest.raises(ValueError):
        ex.Setting(0, 3)
    with pytest.raises(ValueError):
        ex.Setting(5, 3, -1.0)
    with pytest.raises(ValueError):
        ex.Setting(5, 3, 0.5, 0.0)
    assert SMALL.spread == 2.5
    assert list(SMALL.params(T=1.0)) == ["n", "d", "sigma2", "eta", "T"]
    assert SMALL.prompt_params(k=2) == {"n": 6, "d": 3, "sigma2": 0.5, "k": 2}
    assert ex.sizes().single >= 2


def test_margins_are_repeatable_and_set_the_token_probability():
    u = ex.margins(SMALL, 7, runtime.generator(0))
    assert u.shape == (7, 3)
    assert torch.equal(u, ex.margins(SMALL, 7, runtime.generator(0)))
    p = ex.p_right(u, 0.5, SMALL)
    assert torch.allclose(p, torch.sigmoid(2 * SMALL.eta * u / (SMALL.n * 0.5)))
    assert float(ex.p_right(torch.zeros(1), 1.0, SMALL)) == 0.5


def test_estimates_are_repeatable_and_within_range():
    a = ex.greedy_error(SMALL, 64, seed=1)
    assert a.n_samples == 64 and 0 <= a.mean <= 1
    assert ex.greedy_error(SMALL, 64, seed=1).mean == a.mean
    b = ex.sampled_error(SMALL, 1.0, 64, seed=2)
    assert 0 <= b.mean <= 1
    votes = ex.vote_accuracy(SMALL, 3, 1.0, 64, seed=3)
    assert np.shape(votes.mean) == (2,)
    assert ex.greedy_recovery(SMALL, 64, seed=4).n_samples == 64
    assert np.shape(ex.calibration_residuals(SMALL, 0.4, 64, seed=5).mean) == (2,)


def test_vote_right_is_certain_at_certain_tokens():
    gen = runtime.generator(0)
    p = torch.ones(4, 3, dtype=torch.float64)
    assert ex.vote_right(p, 5, gen).all()
    assert not ex.vote_right(torch.zeros_like(p), 5, gen).any()


def test_margin_density_has_unit_mass_and_the_t_tail_below_zero():
    below, above = ex.margin_masses(SMALL)
    assert below + above == pytest.approx(1, abs=1e-9)
    assert below == pytest.approx(theory.greedy_sign_error(*SMALL.prompt_args), abs=1e-9)


def test_large_temperature_expansion():
    rows = ex.large_temperature_errors(SMALL, (1000.0,))
    T, exact, approx = rows[0]
    assert abs(exact - approx) < 10 / T**3


def test_pairing_rule_gap_is_the_direct_mixture_minus_greedy():
    rule = ex.pairing_rule(SMALL)
    direct = theory.vote_sign_accuracy(*SMALL.decoder_args, 1.0, 3) - (
        1 - theory.greedy_sign_error(*SMALL.prompt_args)
    )
    assert rule.gap(3, 1.0) == pytest.approx(direct, abs=1e-9)
    table = ex.gap_table([1, 3], [1.0], np.array([[rule.gap(1, 1.0), rule.gap(3, 1.0)]]))
    assert len(table.splitlines()) == 4


def test_vote_rejects_name_the_wrong_formulas():
    assert set(ex.vote_rejects(SMALL, 1.0, 1)) == {
        "greedy accuracy (the N -> infinity limit)",
        "logits +-w_hat/(2T)",
    }
    assert "ties counted as wrong" in ex.vote_rejects(SMALL, 1.0, 4)
    # with an odd N the ties-lost formula is the mixture itself
    assert ex.ties_lost(SMALL, 3, 1.0) == theory.vote_sign_accuracy(*SMALL.decoder_args, 1.0, 3)


def test_vector_vote_at_one_vote_is_the_product_of_token_probabilities():
    gen = runtime.generator(0)
    u = ex.margins(SMALL, 16, gen)
    vote = ex.vector_vote(u, 1, 1.0, gen, SMALL)
    p = ex.p_right(u, 1.0, SMALL).cpu().double()
    assert torch.allclose(vote.exact, p.prod(1))
    assert vote.hit.shape == (16,) and vote.ties_lost is None and vote.bias_bound >= 0
    assert ex.vector_vote(u, 2, 1.0, gen, SMALL).ties_lost is not None
    assert "greedy exact recovery (the N -> infinity limit)" in ex.vector_vote_rejects(
        vote, 1, 1.0, 0.5, SMALL
    )
    limit, deficits = ex.recovery_deficits(u, (10,), 1.0, SMALL)
    assert 0 <= limit.mean <= 1 and set(deficits) == {10}


def test_pass_at_k_curves_and_draws():
    gen = runtime.generator(0)
    u = ex.margins(SMALL, 32, gen)
    curves = ex.pass_curves(u, np.array([0.5, 1.0]), [1, 4], SMALL)
    q = ex.p_right(u, 0.5, SMALL).prod(1)
    assert curves[1][0] == pytest.approx(float(q.mean()))
    assert (curves[4] >= curves[1]).all()
    estimator, q = ex.pass_at_k_draws(u, 2, 1.0, 4, gen, SMALL)
    assert estimator.shape == q.shape == (32,)
    assert ((estimator >= 0) & (estimator <= 1)).all()


def test_plurality_forms_agree():
    probs = [0.5, 0.3, 0.2]
    for N in (1, 4, 7):
        general = theory.plurality_vote_accuracy(probs, N)
        assert ex.brute_vote(probs, N) == pytest.approx(general, abs=1e-10)
        assert ex.three_answer_vote(0.5, 0.3, N) == pytest.approx(general, abs=1e-10)
    assert ex.brute_vote([1.0, 0.0], 2, tie_weight=0.0) == pytest.approx(1.0)
    assert 0 <= ex.plurality_wins(np.array(probs), 3, 64, seed=0).mean <= 1


def test_samples_needed_is_the_smallest_odd_n_reaching_the_target():
    N = ex.samples_needed(0.5, 0.4)
    assert N % 2 == 1 and ex.three_answer_vote(0.5, 0.4, N) >= 0.9
    assert ex.three_answer_vote(0.5, 0.4, N - 2) < 0.9
    gap, n_vote, approx, n_verifier = ex.samples_table([0.1])[0]
    assert gap == 0.1 and n_vote == ex.samples_needed(0.5, 0.4)
    assert n_verifier == math.ceil(math.log(0.1) / math.log(0.5)) and approx > 0


def test_reliability_and_curves_have_matching_shapes():
    rel = ex.reliability(SMALL, 200, seed=0, edges=np.linspace(-1.5, 1.5, 5))
    assert rel.h.shape == rel.frequency.shape == rel.stderr.shape
    curves = ex.vote_curves(SMALL, [0.5, 1.0], [1, 3], [1.0])
    assert curves["error"].shape == (2,) and curves["vote"][1.0].shape == (2,)
    assert curves["greedy"] == pytest.approx(1 - curves["greedy_error"])
    assert ex.independent_given_y(SMALL) > 0
    assert ex.residual_if(SMALL, 0.4, np.sign, 0.4) == pytest.approx(0, abs=1e-12)


def test_reliability_draws_more_prompts_than_one_batch_holds(monkeypatch):
    edges = np.linspace(-2, 2, 5)
    whole = ex.reliability(ex.CHAPTER, 3000, 4, edges)
    monkeypatch.setattr(validation, "MAX_ENTRIES", 1000 * (ex.CHAPTER.n + 1) * ex.CHAPTER.d)
    parts = ex.reliability(ex.CHAPTER, 3000, 4, edges)
    np.testing.assert_allclose(parts.frequency, whole.frequency, atol=5 * whole.stderr.max())
    assert np.all(np.diff(parts.frequency) > 0)


def test_margins_draw_more_prompts_than_one_batch_holds(monkeypatch):
    setting = ex.CHAPTER
    monkeypatch.setattr(validation, "MAX_ENTRIES", 100 * (setting.n + 1) * setting.d)
    parts = ex.margins(setting, 300, runtime.generator(5))
    gen = runtime.generator(5)
    calls = torch.cat([ex.margins(setting, 100, gen) for _ in range(3)])
    assert parts.shape == (300, setting.d)
    torch.testing.assert_close(parts, calls, rtol=0, atol=0)  # three calls of one stream
