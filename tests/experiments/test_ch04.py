"""Chapter 4's settings and experiments at tiny sizes: shapes, seeds, and one identity each."""

import math

import numpy as np
import pytest
import torch

from icl import tasks, theory
from icl.experiments import ch04

CPU = dict(device=torch.device("cpu"), dtype=torch.float64)


def test_settings_validate_their_fields():
    with pytest.raises(ValueError):
        ch04.OneDim(n=0)
    with pytest.raises(ValueError):
        ch04.HighDim(sigma2=-1.0)
    with pytest.raises(ValueError):
        ch04.Curves(low=dict(n=6, d=2, sigma2=1.0))
    one = ch04.OneDim(prompts=4)
    assert one.eta == theory.optimal_step(6, 1, 3.0)
    assert one.params == dict(n=6, d=1, sigma2=3.0, eta=round(one.eta, 6))


def test_scores_match_their_definitions():
    gen = torch.Generator().manual_seed(0)
    p = tasks.sample_prompts(3, n=5, d=2, sigma2=0.5, generator=gen, **CPU)
    cand = ch04.candidates(p, eta=0.3, n_chains=4, tau=0.2, gen=gen)
    assert cand.shape == (3, 4, 2)
    norm = ch04.scores("norm", cand, p)
    torch.testing.assert_close(norm, (cand**2).sum(-1))
    oracle = ch04.scores("oracle", cand, p)
    torch.testing.assert_close(oracle, ((cand - p.w.unsqueeze(1)) ** 2).sum(-1))
    with pytest.raises(ValueError):
        ch04.scores("reward", cand, p)


def test_least_squares_centre_solves_the_normal_equations():
    gen = torch.Generator().manual_seed(1)
    for n, d in ((6, 3), (2, 5)):
        p = tasks.sample_prompts(4, n=n, d=d, sigma2=0.5, generator=gen, **CPU)
        w = ch04.least_squares_centre(p)
        expected = torch.stack([torch.linalg.pinv(x) @ y for x, y in zip(p.X, p.y)])
        torch.testing.assert_close(w, expected)


def test_min_of_normals_is_the_minimum():
    gen = torch.Generator().manual_seed(2)
    draws = ch04.min_of_normals(3, **CPU)(5, gen)
    gen = torch.Generator().manual_seed(2)
    z = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(draws, z.min(1).values)


def test_exact_1d_is_seeded_and_its_oracle_columns_agree():
    setting = ch04.OneDim(prompts=4, sets=3)
    first = ch04.exact_1d(setting, "oracle", 2, 0.5, seed=1, **CPU)
    again = ch04.exact_1d(setting, "oracle", 2, 0.5, seed=1, **CPU)
    assert first.values.shape == (4, 3)
    np.testing.assert_array_equal(first.values, again.values)
    assert np.all(first.values[:, 1] > first.values[:, 2])  # one more sample: a smaller risk


def test_sweep_reads_its_rows_back():
    setting = ch04.HighDim(n=4, d=3, n_grid=(1, 2), taus=(0.1, 0.2), prompts=2)
    sweep = ch04.sweep(setting, seed=0, **CPU)
    assert sweep.sim.shape == (2, 3, 2) and sweep.exact.shape == (2, 2, 2)
    # at N = 1 the oracle's exact risk is ||m - w*||^2 + tau^2 d, averaged over the prompts
    bias2 = sweep.mean_bias2.mean
    for k, tau in enumerate(setting.taus):
        assert math.isclose(sweep.exact[k, 0, 0], bias2 + tau**2 * 3, rel_tol=1e-9)
    assert sweep.at(0, 1, 1, tau=0).mean == sweep.sim[0, 1, 1]
    assert sweep.best.shape == (3, 2)
    assert "best tau" in sweep.accuracy_table()


def test_risk_curves_and_small_n_shapes():
    mean, se = ch04.risk_curves(3, 1, 1.0, 0.3, [1, 2, 4], samples=8, seed=0, **CPU)
    assert mean.shape == se.shape == (3, 3, 3)
    np.testing.assert_allclose(mean[:, 2, 0], 0.0, atol=1e-12)  # the drop from N = 1 to N = 1
    small = ch04.small_n(ch04.OneDim(prompts=4), 0.3, samples=6, seed=0, **CPU)
    assert np.shape(small.mean) == (4,)


def test_interpolator_and_ridge_risks_are_estimates():
    est = ch04.interpolator_risk(6, 2, 1.0, 10, seed=0, **CPU)
    ridge = ch04.ridge_risk(6, 2, 1.0, 10, seed=0, **CPU)
    assert est.n_samples == ridge.n_samples == 10


def test_sidak_z_is_four_for_one_comparison():
    level, z = ch04.sidak_z(1)
    assert math.isclose(z, 4.0, rel_tol=1e-12) and math.isclose(level, 6.334e-5, rel_tol=1e-3)
    assert ch04.sidak_z(30)[1] > 4.0


def test_shrinkage_at_tiny_size():
    setting = ch04.HighDim(n=4, d=3, prompts=2)
    shrink = ch04.shrinkage(setting, 0.5, prompts=2, seed=0, **CPU)
    K = len(setting.n_grid)
    assert np.shape(shrink.mean) == (3 * K + 4,)
    assert math.isclose(np.asarray(shrink.mean)[K], 1.0, rel_tol=1e-9)  # kappa_1 = 1
    with pytest.raises(ValueError):
        ch04.shrinkage(ch04.HighDim(n_grid=(1, 10)), 0.5, prompts=2, seed=0)


def test_settings_record_their_parameters_after_the_checks_own():
    high = ch04.HighDim(prompts=2)
    assert list(high.recorded(N=10, tau=0.2)) == ["N", "tau", "n", "d", "sigma2"]
    one = ch04.OneDim(prompts=4, sets=3)
    recorded = one.recorded(reward="norm", N=2, tau=0.5)
    assert list(recorded)[:3] == ["reward", "N", "tau"] and recorded["sets_per_prompt"] == 3
    limits = ch04.Curves(prompts_1d=2, prompts_low=2).low_limits()
    assert limits["norm"] == 6.0 and limits["in-context loss"] > 4.0  # psi^2 (d - n) = 4 and more


def test_quadrature_and_asymptote_tables():
    table, errors = ch04.quadrature_errors([10, 100])
    assert errors.shape == (2, 2) and np.all(np.abs(errors) < 1e-9)
    assert len(table.splitlines()) == 3
    table, ratios = ch04.asymptote_table([100, 1000], ts=(0, 1))
    assert ratios.shape == (2, 2) and np.all(ratios < 1) and np.all(ratios > 0.9)
    hp, g, remainder = ch04.two_term_law(1000, 1.0)
    assert math.isclose(hp, theory.nearest_sample_asymptote(1000, 1.0))
    assert remainder < 1e-4 * g  # O(N^-2) relative


def test_best_temperature_1d_tends_to_one_spread():
    tau_b, risk_b = ch04.best_temperature_1d(1000)
    assert abs(tau_b - 1) < 0.01 and abs(risk_b - 1) < 0.01


def test_loss_identity_equals_the_in_context_loss():
    gen = torch.Generator().manual_seed(3)
    for n, d in ((7, 3), (3, 6)):
        p = tasks.sample_prompts(4, n=n, d=d, sigma2=0.5, generator=gen, **CPU)
        cand = ch04.candidates(p, eta=0.4, n_chains=5, tau=0.5, gen=gen)
        expected = ((torch.einsum("bnd,bkd->bkn", p.X, cand) - p.y[:, None]) ** 2).mean(-1)
        torch.testing.assert_close(ch04.loss_identity(cand, p), expected)


def test_interpolator_formula_picks_least_squares_or_min_norm():
    formula, wrong, text = ch04.interpolator_formula(12, 4, 1.0)
    assert formula == theory.least_squares_risk(12, 4, 1.0) and wrong == 0.5 and "w_LS" in text
    formula, wrong, text = ch04.interpolator_formula(2, 8, 1.0)
    assert formula == theory.min_norm_risk(2, 8, 1.0) and "X^+ y" in text


def test_exact_curves_family_and_best_n():
    curves = ch04.exact_curves_1d(ch04.OneDim(prompts=4), 0.3, n_max=8)
    assert curves.n_values.tolist() == list(range(1, 9))
    first = {r: curves.risk(r, 1) for r in ch04.REWARDS}
    assert max(first.values()) - min(first.values()) < 1e-9  # N = 1: no reward chooses
    assert curves.best["oracle"] == 8 and curves.best["norm"] == 1
    assert curves.declared_error(("oracle", 1), ("norm", 2)) > 0
    flat = ch04.ExactCurves1D(np.arange(1, 1001), {"norm": np.ones(1000)}, {"norm": 1.0})
    assert "best N" in flat.table() and "norm" in flat.table()  # N = 1, ..., 1000 shown
    grid = np.array([1, 2, 4])
    exact = np.array([curves.exact[r][grid - 1] for r in ch04.REWARDS])
    mean = np.stack([exact, exact, exact], 1)  # (reward, 3, N)
    mean[1, 0, 2] += 0.5  # the worst comparison: in-context loss at N = 4
    family = ch04.curve_family(curves, mean, np.full_like(mean, 0.1), grid)
    assert family.comparisons == 9 and family.z > 4
    assert (family.reward, family.N) == ("in-context loss", 4)
    assert math.isclose(family.largest_abs_z, 5.0) and family.params["rule"] == "Sidak"
    low = np.ones((3, 3, 3))
    low[:, 0] = [2.0, 1.0, 1.5]  # the loss: best at the middle N
    best, report = ch04.best_n_of_grid(
        low, np.ones((3, 3, 3)), grid, {"in-context loss": 3.0, "norm": 6.0}
    )
    assert best["norm"].index == 1 and best["norm"].drop_z == 1.0
    assert len(report.splitlines()) == 2


def test_sweep_closed_temperatures_and_cut():
    setting = ch04.HighDim(n=4, d=3, n_grid=(1, 2), taus=(0.1, 0.2), prompts=2)
    sweep = ch04.sweep(setting, seed=0, **CPU)
    tau = sweep.closed_temperatures(1.0)
    assert tau.shape == (2,) and tau[0] == 0.0 and tau[1] > 0
    exact_cut, closed_cut = sweep.oracle_cut(1.0)
    assert closed_cut > 0 and exact_cut < 1
    assert "largest |relative error|" in sweep.accuracy_table()
