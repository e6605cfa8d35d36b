"""The experiments of Chapter 7 at tiny sizes, on the stored checkpoint (read, never written)."""

import collections

import numpy as np
import pytest
import torch

from icl import runtime, theory
from icl.decoders import answer_distribution as ad
from icl.experiments import ch07 as ex
from icl.models import softmax_transformer as st


@pytest.fixture(scope="module")
def model():
    return st.load_checkpoint(ex.checkpoint_path("smoke"), device=runtime.device())[0]


@pytest.fixture(scope="module")
def ev(model):
    return ex.evaluate(model, ex.SETTING, 6, seed=1)


@pytest.fixture(scope="module")
def draws(model, ev):
    return ex.draw(model, ev, 3, 8, 1.0, seed=2)


def test_settings_validate():
    assert ex.SETTING.prompt_args == (16, 8, 4.0) and ex.sizes().simulated >= 2
    with pytest.raises(ValueError):
        ex.Sizes(10, 5, 6, 2)  # more simulated prompts than evaluated
    with pytest.raises(ValueError):
        ex.Grids(temperature=0.0)
    temps = ex.GRIDS.temperatures
    assert len(temps) == 49 and temps[0] == pytest.approx(0.05) and temps[-1] == pytest.approx(20)
    assert ex.GRIDS.grid_se == pytest.approx(np.log(temps[1] / temps[0]) / np.sqrt(12))


def test_evaluation_is_repeatable_and_normalised(model, ev):
    again = ex.evaluate(model, ex.SETTING, 6, seed=1)
    assert torch.equal(again.prompts.X, ev.prompts.X) and torch.equal(again.margins, ev.margins)
    assert ev.margins.shape == (6, 256, 8) and ev.loss.shape == ev.bayes.shape == (6, 256)
    for lp in (ev.model_lp(0.7), ev.linear_lp(0.7), ev.bayes):
        assert torch.allclose(lp.exp().sum(1), torch.ones(6, dtype=lp.dtype), atol=1e-6)
    q = ev.right_marginals(ev.model_lp(1.0))
    assert q.shape == (6, 8) and bool(((q >= 0) & (q <= 1)).all())


def test_draws_follow_the_enumeration(draws):
    assert draws.samples.shape == (3, 8, 8) and draws.right.shape == (3, 8)
    assert float(draws.apart.mean) < 1e-5  # float32 differences only
    groups, g = draws.groups(3)
    assert g == 2 and groups.shape == (6, 3, 8)


def test_a_vote_of_one_is_the_sample(draws):
    gen = runtime.generator(0)
    assert torch.equal(ex.voted(draws.samples, 1, gen), draws.samples)
    single = ex.vector_vote_right(draws.samples, draws.w, 1, gen)
    assert torch.equal(single, draws.right.mean(1))


def test_best_of_one_is_one_sample(draws, ev):
    assert torch.equal(ex.best_of_n_right(draws, ev, 1), draws.right.mean(1))


def test_exact_curves_at_one_sample_are_the_marginal_and_p(ev):
    lp = ev.model_lp(1.0)
    vote, bon = ex.exact_curves(ev, lp, [1, 3])
    assert vote.shape == bon.shape == (6, 2)
    assert torch.allclose(vote[:, 0], ev.right_marginals(lp).mean(1))
    assert torch.allclose(bon[:, 0], ad.probability_of(lp, ev.w))


def test_the_linear_vote_limits_are_greedy(ev, model):
    coef, vec, differs = ex.vote_limits(ev, ev.linear_lp(1.0), ev.linear_greedy())
    assert coef.abs().max() == 0 and vec.abs().max() == 0 and differs.sum() == 0
    acc = ex.greedy_accuracies(ev, ex.greedy_model(model, ev))
    assert list(acc) == ["trained model, greedy", "linear, greedy", "Bayes (marginals / MAP)"]


def test_pass_curves_and_fixed_budget(ev):
    temps = np.array([0.5, 1.0, 2.0])
    curves = ex.pass_curves(ev, ev.model_lp, temps, [1, 4])
    assert curves.shape == (2, 6, 3)
    assert torch.allclose(curves[0, :, 1], ad.probability_of(ev.model_lp(1.0), ev.w))
    vote, bon = ex.fixed_budget(ev, ev.linear_lp, temps, 1)
    assert torch.allclose(bon[:, 2], ad.probability_of(ev.linear_lp(2.0), ev.w))
    assert vote.shape == (6, 3)


def test_best_temperature_finds_the_peak():
    temps = np.array([0.5, 1.0, 2.0])
    curves = torch.tensor([[[0.1, 0.9, 0.2]] * 5, [[0.1, 0.2, 0.9]] * 5], dtype=torch.float64)
    best, se = ex.best_temperature(curves, temps, 10, seed=0)
    assert list(best) == [1.0, 2.0] and list(se) == [0.0, 0.0]


def test_agreement_and_bayes_conditional(draws, ev):
    q_plus = ad.marginals(draws.log_probs)
    x, hit, exact = ex.agreement(draws.samples, q_plus, [1, 3], runtime.generator(0))
    assert x.shape == hit.shape == exact.shape == (3, 16)
    assert torch.allclose(exact[:, :8], 0.5 + (q_plus - 0.5).abs())  # V_1(q) = q
    assert torch.allclose(exact[:, 8:], theory.majority_vote_accuracy(exact[:, :8], 3))
    cond = ex.bayes_conditional(ev)
    assert torch.allclose(cond[:, 0], ad.marginals(ev.bayes)[:, 0])  # nothing to condition on


def test_cross_entropies_record_the_excess(model):
    ce = ex.cross_entropies(model, ex.SETTING, 4, 0.6875, seed=3)
    assert np.shape(ce.mean) == (5,)
    assert ce.mean[4] == pytest.approx(ce.mean[0] - ce.mean[1])


def test_apart_and_the_table():
    m = collections.defaultdict(lambda: {"estimate": 0.1, "stderr": 0.01})
    m["ch7.marginal-vs-bayes"] = {"estimate": 0.04, "stderr": 0.0}
    assert ex.apart(m, "ch7.marginal-vs-calibrated-linear", "ch7.marginal-vs-bayes") == (
        pytest.approx(6.0)
    )
    best = {"trained model": np.array([0.5, 1.0]), "linear": np.array([0.25, 0.75])}
    table = ex.carry_over_table(m, best, -12.3)
    assert len(table.splitlines()) == 8 and "12 SE apart" in table and "0.50, 1.00" in table


def test_labels_and_ignored_biases():
    assert ex.cross_entropy_labels(0.6875)[-1] == "linear decoder, T_cal = 0.6875"
    assert ex.ignores(3, 0.5) == {ex.FLOAT32: 1.5}
    q = torch.full((4, 8), 0.8, dtype=torch.float64)
    both = ex.ignores(2, 0.5, binomial=theory.majority_vote_accuracy(q, 5), estimator=q)
    assert list(both) == [ex.FLOAT32, "binomial sums", "the estimator's rounding"]
    assert all(v >= 0 for v in both.values())


def test_vector_vote_curve_stacks_the_votes(draws):
    a, b = runtime.generator(0), runtime.generator(0)
    curve = ex.vector_vote_curve(draws.samples, draws.w, [1, 2], a)
    assert curve.shape == (3, 2) and torch.equal(curve[:, 0], draws.right.mean(1))
    ex.vector_vote_right(draws.samples, draws.w, 1, b)
    assert torch.equal(curve[:, 1], ex.vector_vote_right(draws.samples, draws.w, 2, b))


def test_vote_limit_gaps_name_the_vote_limits(ev, model):
    greedy = ex.greedy_model(model, ev)
    gaps = ex.vote_limit_gaps(ev, 2.0, greedy)
    assert [g[0] for g in gaps] == [f"ch7.vote-limit.{m}.T2" for m in ex.VOTE_LIMITS]
    for (_, _, value), limit in zip(gaps, ex.vote_limits(ev, ev.model_lp(2.0), greedy)):
        assert torch.equal(value, limit)


def test_best_temperatures_and_budget_optima():
    temps = np.array([0.5, 1.0, 2.0])
    curves = torch.tensor([[[0.1, 0.9, 0.2]] * 5, [[0.1, 0.2, 0.9]] * 5], dtype=torch.float64)
    best, rows = ex.best_temperatures({"trained model": curves}, temps, [1, 4], 10, [0])
    assert list(best["trained model"]) == [1.0, 2.0] and len(rows) == 2
    assert rows[1].id == "ch7.best-temperature.model.k4" and rows[1].peak == pytest.approx(0.9)
    assert rows[0].log_t == 0.0 and "pass@4" in rows[1].statement
    optima = ex.budget_optima({"linear": (curves[0], curves[1])}, temps)
    assert optima["linear"] == (1.0, pytest.approx(0.9), 2.0, pytest.approx(0.9))


def test_calibration_predictors_are_probabilities(ev):
    probs = ex.calibration_predictors(ev, 0.6875)
    assert list(probs)[0] == "trained model (teacher-forced)" and len(probs) == 3
    for p in probs.values():
        assert p.shape == (6, 8) and bool(((p >= 0) & (p <= 1)).all())
    assert torch.equal(list(probs.values())[2], ex.bayes_conditional(ev))
