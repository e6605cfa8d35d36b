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
