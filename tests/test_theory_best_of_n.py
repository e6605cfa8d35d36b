import math

import mpmath as mp
import numpy as np
import pytest
import torch
from scipy import optimize

from icl import montecarlo, tasks, theory

mp.mp.dps = 30


def _emin_mp(N):
    peak = mp.sqrt(2 * mp.log(N))
    return -mp.quad(lambda x: x * N * mp.npdf(x) * mp.ncdf(x) ** (N - 1), [-mp.inf, 0, peak, peak + 3, mp.inf])


def _g_mp(N, t):
    p = lambda r: mp.ncdf(t + r) - mp.ncdf(t - r)
    s = 1 / (2 * N * mp.npdf(t))
    points = [0, s, 3 * s, 10 * s, 30 * s, 100 * s, abs(t) + 12] if 100 * s < abs(t) + 12 else [0, abs(t), abs(t) + 12]
    return mp.quad(lambda r: 2 * r * (1 - p(r)) ** N, points)


def _h_mp(N, t):
    p = lambda r: mp.ncdf(t + r) - mp.ncdf(t - r)
    points = [0, 1 / (2 * N * mp.npdf(t)), abs(t) + 1, abs(t) + 12]
    return mp.quad(lambda r: N * r * (1 - p(r)) ** (N - 1) * (mp.npdf(t + r) - mp.npdf(t - r)), sorted(points))


def test_expected_min_gaussian_known_values():
    assert theory.expected_min_gaussian(1) == 0.0
    assert abs(theory.expected_min_gaussian(2) + 1 / math.sqrt(math.pi)) < 1e-12
    assert abs(theory.expected_min_gaussian(3) + 3 / (2 * math.sqrt(math.pi))) < 1e-12
    e4 = -6 / (math.pi * math.sqrt(math.pi)) * math.atan(math.sqrt(2))  # classical closed form
    assert abs(theory.expected_min_gaussian(4) - e4) < 1e-12


@pytest.mark.parametrize("N", [5, 37, 100, 1000, 10_000])
def test_expected_min_gaussian_against_high_precision(N):
    assert abs(theory.expected_min_gaussian(N) - float(_emin_mp(N))) < 1e-10


def test_expected_min_gaussian_decreases_and_matches_monte_carlo():
    values = [theory.expected_min_gaussian(N) for N in range(1, 30)]
    assert all(b < a for a, b in zip(values, values[1:]))
    z = torch.randn(200_000, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64).min(1).values
    assert abs(z.mean().item() - theory.expected_min_gaussian(7)) < 4 * z.std().item() / math.sqrt(len(z))


@pytest.mark.parametrize("N,t", [(1, 0.3), (2, -1.0), (50, 1.0), (1000, 2.0), (10**4, 0.5), (10**6, 4.0), (100, 6.0)])
def test_nearest_sample_moments_against_high_precision(N, t):
    assert abs(theory.expected_min_sq_offset(N, t) / float(_g_mp(N, t)) - 1) < 1e-10
    h, reference = theory.expected_nearest_offset(N, t), float(_h_mp(N, t))
    assert abs(h - reference) <= 1e-9 * abs(reference) + 1e-300


def test_nearest_sample_moments_special_cases_symmetry_and_arrays():
    t = np.array([-1.5, 0.0, 0.4, 2.0])
    assert np.allclose(theory.expected_min_sq_offset(1, t), 1 + t**2, rtol=1e-10)   # E(Z - t)^2
    assert np.allclose(theory.expected_nearest_offset(1, t), -t, rtol=1e-10, atol=1e-14)  # E(Z - t)
    assert np.allclose(theory.expected_min_sq_offset(9, t), theory.expected_min_sq_offset(9, -t))
    assert np.allclose(theory.expected_nearest_offset(9, t), -theory.expected_nearest_offset(9, -t))
    grid = theory.expected_min_sq_offset(9, t.reshape(2, 2))
    assert grid.shape == (2, 2) and isinstance(theory.expected_min_sq_offset(9, 0.4), float)


def test_nearest_offset_against_monte_carlo():
    N, t = 6, 0.8
    z = torch.randn(200_000, N, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    offset = z.gather(1, (z - t).abs().argmin(1, keepdim=True))[:, 0] - t
    se = offset.std().item() / math.sqrt(len(offset))
    assert abs(offset.mean().item() - theory.expected_nearest_offset(N, t)) < 4 * se
    se2 = (offset**2).std().item() / math.sqrt(len(offset))
    assert abs((offset**2).mean().item() - theory.expected_min_sq_offset(N, t)) < 4 * se2


def test_best_of_n_risk_1d_cases_and_monte_carlo():
    m, c, w, tau = np.array([0.3, -1.0]), np.array([1.1, 0.0]), np.array([0.9, -0.5]), 0.7
    assert np.allclose(theory.best_of_n_risk_1d(1, tau, m, c, w), (m - w) ** 2 + tau**2)   # N = 1: one sample
    oracle = theory.best_of_n_risk_1d(5, tau, m, w, w)
    assert np.allclose(oracle, tau**2 * theory.expected_min_sq_offset(5, (w - m) / tau))
    N = 5
    z = torch.randn(200_000, N, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    cand = m[0] + tau * z
    sel = cand.gather(1, (cand - c[0]).abs().argmin(1, keepdim=True))[:, 0]
    loss = (sel - w[0]) ** 2
    exact = theory.best_of_n_risk_1d(N, tau, m[0], c[0], w[0])
    assert exact.shape == ()
    assert abs(loss.mean().item() - float(exact)) < 4 * loss.std().item() / math.sqrt(len(loss))


def test_oracle_best_of_n_risk_cases_and_monte_carlo():
    assert math.isclose(theory.oracle_best_of_n_risk(1, 0.5, 2.0, 7), 2.0 + 0.25 * 7, rel_tol=1e-9)
    b, tau = 0.6, 0.4   # d = 1: the same as tau^2 g_N(|b| / tau)
    assert math.isclose(theory.oracle_best_of_n_risk(8, tau, b**2, 1), tau**2 * theory.expected_min_sq_offset(8, b / tau), rel_tol=1e-8)
    N, d, bias2 = 12, 5, 1.5
    gen = torch.Generator().manual_seed(3)
    a = torch.zeros(d, dtype=torch.float64)
    a[0] = math.sqrt(bias2)
    loss = ((a + tau * torch.randn(100_000, N, d, generator=gen, dtype=torch.float64)) ** 2).sum(-1).min(1).values
    assert abs(loss.mean().item() - theory.oracle_best_of_n_risk(N, tau, bias2, d)) < 4 * loss.std().item() / math.sqrt(len(loss))


def test_gaussian_selection_risk_moments_against_monte_carlo():
    """The formula is mu_R + Cov(R, s)/sd(s) e_N; its moments are checked against simulated moments."""
    rng = np.random.default_rng(4)
    d, tau, N = 6, 0.5, 20
    a, c = rng.standard_normal(d), rng.standard_normal(d)
    A = rng.standard_normal((d, d))
    M = A @ A.T / d
    xi = rng.standard_normal((400_000, d))
    R = ((a + tau * xi) ** 2).sum(1)
    s = np.einsum("ki,ij,kj->k", c + tau * xi, M, c + tau * xi)
    implied = R.mean() + np.cov(R, s)[0, 1] / s.std() * theory.expected_min_gaussian(N)
    value = theory.gaussian_selection_risk(N, tau, a, c, M)
    assert value.shape == () and abs(value / implied - 1) < 0.01


def test_gaussian_selection_risk_special_cases_and_batch():
    rng = np.random.default_rng(5)
    a, c = rng.standard_normal((4, 8)), rng.standard_normal((4, 8))
    assert np.allclose(theory.gaussian_selection_risk(1, 0.3, a, c), (a**2).sum(1) + 0.09 * 8)
    oracle = theory.gaussian_selection_risk(30, 0.3, a, a)
    assert np.allclose(oracle, [theory.oracle_gaussian_risk(30, 0.3, 8, float((row**2).sum())) for row in a])
    assert np.allclose(theory.gaussian_selection_risk(30, 0.3, a, c), theory.gaussian_selection_risk(30, 0.3, a, c, np.eye(8)))
    assert np.allclose(theory.gaussian_selection_risk(30, 0.3, torch.as_tensor(a), torch.as_tensor(c)),
                       theory.gaussian_selection_risk(30, 0.3, a, c))


def test_oracle_closed_forms_minimise_the_gaussian_risk():
    d, B = 50, 20.0
    for N in (2, 10, 300):
        result = optimize.minimize_scalar(lambda tau: theory.oracle_gaussian_risk(N, tau, d, B), bounds=(0, 3), method="bounded",
                                          options={"xatol": 1e-10})
        assert math.isclose(theory.oracle_optimal_temperature(N, d, B), result.x, rel_tol=1e-5)
        assert math.isclose(theory.oracle_optimal_risk(N, d, B), result.fun, rel_tol=1e-10)
    with pytest.raises(ValueError, match="n_samples"):
        theory.oracle_optimal_risk(1000, 4, B)   # 2 e_N^2 > d: outside the approximation
    with pytest.raises(ValueError, match="n_samples"):
        theory.oracle_optimal_temperature(1000, 4, B)


def test_nearest_sample_asymptote():
    assert math.isclose(theory.nearest_sample_asymptote(10, 1.0, spread=2.0), 4 * math.pi * math.e / 100)
    for t in (0.0, 1.0):
        N = 10**5
        ratio = theory.expected_min_sq_offset(N, t) / theory.nearest_sample_asymptote(N, t)
        assert abs(N * (1 - ratio) - 3) < 0.01   # 1 - 3/N correction


def _interpolator_mc(n, d, sigma2, samples=100_000, seed=6):
    def sample(batch, gen):
        p = tasks.sample_prompts(batch, n, d, sigma2=sigma2, generator=gen, device="cpu", dtype=torch.float64)
        w_hat = torch.linalg.pinv(p.X) @ p.y.unsqueeze(-1)
        return ((w_hat[..., 0] - p.w) ** 2).sum(1)
    return montecarlo.estimate_mean(sample, samples, seed=seed, dev="cpu")


def test_interpolator_risks_against_monte_carlo():
    est = _interpolator_mc(9, 3, 0.5)
    assert abs(est.mean - theory.least_squares_risk(9, 3, 0.5)) < 4 * est.stderr
    est = _interpolator_mc(2, 9, 0.5)
    assert abs(est.mean - theory.min_norm_risk(2, 9, 0.5)) < 4 * est.stderr


def test_interpolator_limits_and_dispatch():
    assert theory.least_squares_risk(5, 5, 1.0) == math.inf and theory.least_squares_risk(6, 5, 1.0) == math.inf
    assert theory.least_squares_risk(5, 5, 0.0) == 0.0
    assert theory.min_norm_risk(4, 5, 1.0) == math.inf and theory.min_norm_risk(4, 5, 0.0) == 1.0
    assert theory.min_norm_risk(2, 8, 0.5, psi2=2.0) == 2.0 * 6 + 0.5 * 2 / 5
    assert theory.in_context_limit_risk(20, 5, 1.0, 0.7) == theory.least_squares_risk(20, 5, 1.0)
    assert math.isclose(theory.in_context_limit_risk(2, 8, 1.0, 0.7), theory.min_norm_risk(2, 8, 1.0) + 0.49 * 6)


def test_errors_name_the_argument():
    cases = [
        (lambda: theory.expected_min_gaussian(0), "n_samples"),
        (lambda: theory.expected_min_gaussian(2.5), "n_samples"),
        (lambda: theory.expected_min_sq_offset(0, 1.0), "n_samples"),
        (lambda: theory.expected_min_sq_offset(3, float("nan")), "t"),
        (lambda: theory.expected_nearest_offset(3, [0.0, float("inf")]), "t"),
        (lambda: theory.best_of_n_risk_1d(3, 0.0, 0.0, 0.0, 0.0), "tau"),
        (lambda: theory.best_of_n_risk_1d(3, 1.0, float("nan"), 0.0, 0.0), "mean"),
        (lambda: theory.oracle_best_of_n_risk(3, 1.0, -1.0, 2), "bias2"),
        (lambda: theory.oracle_best_of_n_risk(3, 1.0, 1.0, 0), "d"),
        (lambda: theory.gaussian_selection_risk(3, 1.0, np.zeros(3), np.zeros(4)), "score_offset"),
        (lambda: theory.gaussian_selection_risk(3, 1.0, np.zeros(3), np.zeros(3), np.eye(2)), "metric"),
        (lambda: theory.gaussian_selection_risk(3, 1.0, np.full(3, np.nan), np.zeros(3)), "risk_offset"),
        (lambda: theory.gaussian_selection_risk(3, -1.0, np.zeros(3), np.zeros(3)), "tau"),
        (lambda: theory.oracle_gaussian_risk(3, 1.0, 2, -1.0), "bias2"),
        (lambda: theory.nearest_sample_asymptote(3, 1.0, spread=0.0), "spread"),
        (lambda: theory.least_squares_risk(3, 5, 1.0), "n"),
        (lambda: theory.least_squares_risk(8, 5, -1.0), "sigma2"),
        (lambda: theory.min_norm_risk(5, 5, 1.0), "n"),
        (lambda: theory.min_norm_risk(2, 5, 1.0, psi2=0.0), "psi2"),
        (lambda: theory.in_context_limit_risk(2, 5, 1.0, -0.1), "tau"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()
