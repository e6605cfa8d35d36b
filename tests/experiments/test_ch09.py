"""Chapter 9's experiments, at tiny sizes."""

import numpy as np
import pytest
import torch

from icl import theory
from icl.experiments import ch09


def test_world_terms_draw_typical_designs_of_each_kind():
    terms = ch09.world_terms(ch09.MIXTURE[:3], 6, 40, seed=0)
    assert terms.bias2.shape == (6, 41) and list(terms.kinds) == [0, 0, 1, 1, 2, 2]
    for X in terms.designs:
        s_max = np.linalg.eigvalsh(X.T @ X / len(X))[-1]
        assert ch09.ETA * (s_max + ch09.LEVEL**2) <= 2
    assert np.array_equal(terms.index, terms.bias2[:, -1])


def test_the_three_strategies_are_ordered():
    terms = ch09.world_terms(ch09.MIXTURE[:9], 18, 200, seed=1)
    (row,) = ch09.budget_rows(terms, [50])
    assert row.adaptive <= row.own_split + 1e-12 <= row.uniform + 2e-12
    assert row.ratio >= row.own_ratio - 1e-12 and row.ratio >= 1
    assert ch09.uniform_risk(terms, int(row.ratio * 50)) <= row.adaptive
    assert "adaptive" in ch09.table([row])


def test_samplers_are_seeded_and_unbiased_in_shape():
    X = np.random.default_rng(0).standard_normal((8, ch09.D))
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    sampler = ch09.fixed_design_sampler(X, 0.5, 1.0, 2, 5)
    assert torch.equal(sampler(7, g()), sampler(7, g())) and sampler(7, g()).shape == (7,)
    votes = ch09.mixture_vote_sampler(ch09.CHEN_P, ch09.CHEN_WEIGHTS, 3)(20000, g())
    exact = theory.mixture_vote_accuracy(ch09.CHEN_P, ch09.CHEN_WEIGHTS, 3)
    assert float(votes.mean()) == pytest.approx(exact, abs=5 * 0.5 / np.sqrt(20000))


def test_coordinate_vote_curves_shape():
    curves = ch09.coordinate_vote_curves([(4, 2, 0.5, 1.0)], [1, 3, 5])
    assert curves.shape == (1, 3) and np.all(np.diff(curves) >= 0)


def test_plurality_accuracy_matches_a_simulation_of_its_model():
    rng = np.random.default_rng(0)
    a, b, q, M = 2.8, 2.5, 0.49, 200_000
    for N in (1, 2, 3, 5):
        p = rng.beta(a, b, M)
        C = rng.binomial(N, p)
        W = rng.binomial(N - C, q)
        u = rng.random(M)
        win = np.where(C >= 2, np.where(C > W, 1.0, np.where(C == W, u < 0.5, 0.0)), 0.0)
        win = np.where((C == 1) & (W <= 1), u < 1 / N, win)
        exact = ch09.plurality_accuracy(N, a, b, q)
        assert abs(win.mean() - exact) < 5 * win.std() / np.sqrt(M)
    assert ch09.plurality_accuracy(2, a, b, q) == pytest.approx(ch09.plurality_accuracy(1, a, b, q))


def test_binary_baseline_is_the_mixture_vote_over_the_beta_law():
    from scipy import stats

    p = np.linspace(0.0005, 0.9995, 1000)
    weights = stats.beta.pdf(p, 2.0, 3.0)
    mixture = theory.mixture_vote_accuracy(p, weights / weights.sum(), 7)
    assert ch09.binary_accuracy(7, 2.0, 3.0) == pytest.approx(mixture, abs=1e-5)


def test_gsm8k_fit_reproduces_the_fitted_points_and_reports_them():
    record = ch09.gsm8k_record()
    assert record.n_votes[0] == 1 and record.accuracy[0] == pytest.approx(703 / 1319)
    fit = ch09.fit_vote_model(record, "plurality over whole answers", replicates=3)
    assert np.allclose(fit.predicted[record.n_votes <= 8], record.accuracy[:4], atol=1e-3)
    assert np.all(fit.interval > 0) and "predict N = 256" in fit.describe(record)


def test_transformer_votes_on_a_few_prompts():
    votes = ch09.transformer_votes([1.0], np.array([1, 3]), 4, seed=1)
    assert votes.coordinate.shape == (4, 1, 2) and votes.whole.shape == (4, 1, 2)
    mean, se = votes.curves("whole")
    assert mean.shape == (1, 2) and np.all(se >= 0) and 0 <= votes.wrong_share[0] <= 1
    drop, _ = votes.fall("coordinate")
    assert drop[0] >= 0
    assert "whole answer" in ch09.votes_table(votes) and "prompts" in ch09.votes_summary(votes)


def test_sparse_vote_steps_read_the_record():
    stored = {"protocols": {"book": {"votes": {"uniform": {
        "1": {"mean": 0.1, "se": 0.01}, "10": {"mean": 0.3, "se": 0.02}}}}}}  # fmt: skip
    table, rises = ch09.sparse_vote_steps(stored)
    assert rises == pytest.approx([10.0]) and "N =    1 ->   10" in table


def test_strategy_risks_are_exact_where_closed_and_measured_where_not():
    terms = ch09.world_terms(ch09.MIXTURE[:3], 6, 60, seed=2)
    risks = ch09.strategy_risks(terms, 40, 4, replicates=3, seed=0)
    assert np.allclose(risks.sample_more, terms.bias2[:, 10] + terms.trace[:, 10] / 4)
    assert np.all(risks.own_split <= risks.think_longer + 1e-12)
    assert np.all(risks.own_split <= risks.sample_more + 1e-12)
    assert np.all(risks.select_se > 0) and "winner" in ch09.strategy_table(terms, risks, bins=2)
