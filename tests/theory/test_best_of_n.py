import math
import warnings

import mpmath as mp
import numpy as np
import pytest
import torch
from scipy import optimize, stats

from icl import tasks, theory
from icl.harness import montecarlo
from icl.theory.best_of_n import _bessel_ratio_over_x, _clock_level


def _log_outside(t, r):
    return np.maximum(-np.exp(_clock_level(t, np.log(r))[0]), -1e300)

mp.mp.dps = 30


def _emin_mp(N):
    peak = mp.sqrt(2 * mp.log(N))
    return -mp.quad(
        lambda x: x * N * mp.npdf(x) * mp.ncdf(x) ** (N - 1), [-mp.inf, 0, peak, peak + 3, mp.inf]
    )


def _g_mp(N, t):
    p = lambda r: mp.ncdf(t + r) - mp.ncdf(t - r)
    s = 1 / (2 * N * mp.npdf(t))
    points = (
        [0, s, 3 * s, 10 * s, 30 * s, 100 * s, abs(t) + 12]
        if 100 * s < abs(t) + 12
        else [0, abs(t), abs(t) + 12]
    )
    return mp.quad(lambda r: 2 * r * (1 - p(r)) ** N, points)


def _h_mp(N, t):
    p = lambda r: mp.ncdf(t + r) - mp.ncdf(t - r)
    points = [0, 1 / (2 * N * mp.npdf(t)), abs(t) + 1, abs(t) + 12]
    return mp.quad(
        lambda r: N * r * (1 - p(r)) ** (N - 1) * (mp.npdf(t + r) - mp.npdf(t - r)), sorted(points)
    )


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
    z = (
        torch.randn(200_000, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        .min(1)
        .values
    )
    assert abs(z.mean().item() - theory.expected_min_gaussian(7)) < 4 * z.std().item() / math.sqrt(
        len(z)
    )


@pytest.mark.parametrize(
    "N,t", [(1, 0.3), (2, -1.0), (50, 1.0), (1000, 2.0), (10**4, 0.5), (10**6, 4.0), (100, 6.0)]
)
def test_nearest_sample_moments_against_high_precision(N, t):
    assert abs(theory.expected_min_sq_offset(N, t) / float(_g_mp(N, t)) - 1) < 1e-10
    h, reference = theory.expected_nearest_offset(N, t), float(_h_mp(N, t))
    assert abs(h - reference) <= 1e-9 * abs(reference) + 1e-300


def test_nearest_sample_moments_special_cases_symmetry_and_arrays():
    t = np.array([-1.5, 0.0, 0.4, 2.0])
    assert np.allclose(theory.expected_min_sq_offset(1, t), 1 + t**2, rtol=1e-10)  # E(Z - t)^2
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
    assert np.allclose(
        theory.best_of_n_risk_1d(1, tau, m, c, w), (m - w) ** 2 + tau**2
    )  # N = 1: one sample
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
    assert math.isclose(
        theory.oracle_best_of_n_risk(1, 0.5, bias2=2.0, d=7), 2.0 + 0.25 * 7, rel_tol=1e-9
    )
    b, tau = 0.6, 0.4  # d = 1: the same as tau^2 g_N(|b| / tau)
    assert math.isclose(
        theory.oracle_best_of_n_risk(8, tau, bias2=b**2, d=1),
        tau**2 * theory.expected_min_sq_offset(8, b / tau),
        rel_tol=1e-8,
    )
    N, d, bias2 = 12, 5, 1.5
    gen = torch.Generator().manual_seed(3)
    a = torch.zeros(d, dtype=torch.float64)
    a[0] = math.sqrt(bias2)
    loss = (
        ((a + tau * torch.randn(100_000, N, d, generator=gen, dtype=torch.float64)) ** 2)
        .sum(-1)
        .min(1)
        .values
    )
    assert abs(
        loss.mean().item() - theory.oracle_best_of_n_risk(N, tau, bias2=bias2, d=d)
    ) < 4 * loss.std().item() / math.sqrt(len(loss))


def _oracle_mp(N, d, lam):
    """int_0^inf P(chi'^2_d(lam) > u)^N du by mpmath, in v = log u, the CDF as a Poisson mixture of
    regularised gammas."""
    with mp.workdps(20):  # agrees with 30 digits to 2e-12 on the cases below
        return _oracle_mp_at_precision(N, d, lam)


def _oracle_mp_at_precision(N, d, lam):
    d, lam = mp.mpf(d), mp.mpf(lam)
    terms = int(lam / 2 + 12 * mp.sqrt(lam / 2 + 1) + 30) if lam > 0 else 1
    poisson = [
        mp.exp(-lam / 2 + j * mp.log(lam / 2) - mp.loggamma(j + 1)) if lam > 0 else mp.mpf(1)
        for j in range(terms)
    ]

    def log_sf(u):
        """sum_j poisson_j P(d/2 + j, u/2) with one incomplete gamma: P(a, x) = P(a + 1, x) + g(a),
        g(a) = x^a e^-x / Gamma(a + 1), summed down from the last term (Q(a + 1, x) = Q(a, x) +
        g(a) up from the first for the upper tail); every step adds a positive term."""
        x, a = u / 2, d / 2
        last = a + terms - 1
        g = mp.exp(last * mp.log(x) - x - mp.loggamma(last + 1))  # g(last)
        p = mp.gammainc(last, 0, x, regularized=True)
        lower = poisson[-1] * p
        for j in range(terms - 2, -1, -1):
            g *= (a + j + 1) / x  # g(a + j)
            p += g
            lower += poisson[j] * p
        if lower < 0.5:
            return mp.log1p(-lower)
        g = mp.exp(a * mp.log(x) - x - mp.loggamma(a + 1))  # g(a)
        q = mp.gammainc(a, x, mp.inf, regularized=True)
        upper = poisson[0] * q
        for j in range(1, terms):
            q += g  # Q(a + j, x)
            g *= x / (a + j)  # g(a + j)
            upper += poisson[j] * q
        return mp.log(upper)

    lo, hi = mp.mpf(-300), mp.log(d + lam + 10)
    for _ in range(50):  # v0 with N P(U <= e^v0) = 1: the bump of the integrand in v
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if -N * log_sf(mp.exp(mid)) > 1 else (mid, hi)
    top = mp.log(d + lam + 40 * mp.sqrt(2 * (d + 2 * lam)) + 100)
    points = sorted(
        {p for p in (lo - 60, lo - 10, lo - 3, lo - 1, lo, lo + 0.5, lo + 1.5, lo + 4) if p < top}
        | {top}
    )
    return mp.quad(lambda v: mp.exp(v + N * log_sf(mp.exp(v))), points)


@pytest.mark.parametrize("N,tau", [(1, 0.7), (2, 1.0), (1000, 1.0), (1_500_000, 1.0), (10**7, 0.7)])
def test_oracle_risk_d2_is_exactly_2_tau2_over_N(N, tau):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = theory.oracle_best_of_n_risk(
            N, tau, bias2=0.0, d=2
        )  # chi^2_2 is exponential: E min = 2 / N
    assert (
        abs(value / (2 * tau**2 / N) - 1) < 1e-12
    )  # the log-free quadrature returned 0 at N = 1.5e6


@pytest.mark.parametrize(
    "N,tau,bias2",
    [(1000, 1.0, 0.0), (3000, 1.3, 0.2), (12000, 0.8, 0.3), (50_000, 1.0, 0.0), (10**6, 0.5, 0.1)],
)
def test_oracle_risk_d1_equals_nearest_sample_formula(N, tau, bias2):
    """d = 1: tau^2 E min_k (Z_k - b/tau)^2 = tau^2 g_N(b / tau), an independent quadrature in r =
    |Z - t|."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = theory.oracle_best_of_n_risk(N, tau, bias2=bias2, d=1)
    reference = tau**2 * theory.expected_min_sq_offset(N, math.sqrt(bias2) / tau)
    assert (
        abs(value / reference - 1) < 1e-9
    )  # the u-space quadrature was -0.5 %, -11 %, -92 %, -100 % off here


@pytest.mark.parametrize(
    "N,d,lam", [(10**7, 1, 0.5), (10**7, 3, 2.0), (10**7, 50, 20.0), (1000, 2, 3.0), (37, 5, 0.0)]
)
def test_oracle_risk_against_high_precision(N, d, lam):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = theory.oracle_best_of_n_risk(N, 1.0, bias2=lam, d=d)
    assert abs(value / float(_oracle_mp(N, d, lam)) - 1) < 1e-10


@pytest.mark.parametrize("d,N,bias2,tau", [(1, 10, 0.3, 0.4), (2, 20, 0.5, 0.3)])
def test_oracle_risk_low_dimension_against_monte_carlo(d, N, bias2, tau):
    a = torch.zeros(d, dtype=torch.float64)
    a[0] = math.sqrt(bias2)
    xi = torch.randn(
        40_000, N, d, generator=torch.Generator().manual_seed(7 + d), dtype=torch.float64
    )
    loss = ((a + tau * xi) ** 2).sum(-1).min(1).values
    exact, wrong = theory.oracle_best_of_n_risk([N, N + 1], tau, bias2=bias2, d=d)
    se = loss.std().item() / math.sqrt(len(loss))
    assert abs(loss.mean().item() - exact) < 4 * se
    assert abs(loss.mean().item() - wrong) > 4 * se  # N + 1 in place of N is rejected


def test_oracle_risk_vectorised():
    values = theory.oracle_best_of_n_risk(
        [1, 5, 50], 0.5, bias2=np.array([[0.0, 1.0], [2.0, 3.0]]), d=4
    )
    assert values.shape == (3, 2, 2)
    assert np.allclose(
        values[0], 0.25 * 4 + np.array([[0.0, 1.0], [2.0, 3.0]]), rtol=1e-12
    )  # N = 1: mean
    assert math.isclose(
        values[1, 1, 0], theory.oracle_best_of_n_risk(5, 0.5, bias2=2.0, d=4), rel_tol=1e-10
    )


@pytest.mark.parametrize("d", [1, 2, 3, 10, 50, 1000, 3000])
def test_bessel_ratio_against_high_precision(d):
    x = np.array(
        [0.0, 1e-300, 1e-8, 0.5, 3.0, 29.9, 100.0, 199.9, 200.1, d / 2 + 10.1, 1.5 * d, 1e4, 1e6]
    )
    value = _bessel_ratio_over_x(d, x)
    reference = [
        1 / mp.mpf(d)
        if v == 0
        else mp.besseli(mp.mpf(d) / 2, v) / (v * mp.besseli(mp.mpf(d) / 2 - 1, v))
        for v in x
    ]
    assert np.all(np.abs(value / np.array([float(r) for r in reference]) - 1) < 1e-12)


def test_norm_reward_exact_limits():
    rng = np.random.default_rng(8)
    m, w = rng.standard_normal((3, 6)), rng.standard_normal((3, 6))
    assert np.allclose(
        theory.norm_reward_shrinkage(1, 0.4, mean_norm=np.linalg.norm(m, axis=1), d=6),
        1.0,
        rtol=1e-12,
    )
    assert np.allclose(
        theory.norm_reward_risk(1, 0.4, m, w), ((m - w) ** 2).sum(1) + 0.16 * 6, rtol=1e-12
    )
    for d, lam in [
        (1, 0.3),
        (50, 400.0),
        (1000, 0.3),
        (1000, 1e4),
    ]:  # E[rho A_d(rho sqrt(lam))] = sqrt(lam): E w = m
        assert math.isclose(
            theory.norm_reward_shrinkage(1, 0.5, mean_norm=0.5 * math.sqrt(lam), d=d),
            1.0,
            rel_tol=1e-11,
        )
    # m = 0: the selected direction is uniform, kappa = E[rho^2] / d, and in d = 2
    # E[rho^2] = 2 / N exactly
    assert math.isclose(
        theory.norm_reward_shrinkage(10, 0.4, mean_norm=0.0, d=2), (2 / 10) / 2, rel_tol=1e-12
    )
    assert math.isclose(
        theory.norm_reward_risk(10, 0.4, np.zeros(2), np.ones(2)), 0.16 * 2 / 10 + 2, rel_tol=1e-12
    )
    assert math.isclose(
        theory.norm_reward_shrinkage(10, 0.4, mean_norm=1e-9, d=2), 0.1, rel_tol=1e-9
    )  # continuous at m = 0


@pytest.mark.parametrize("N", [2, 7, 100, 10**4])
def test_norm_reward_in_d1_equals_nearest_sample_formula(N):
    """d = 1: the norm reward picks the candidate nearest 0, the formula of best_of_n_risk_1d with c
    = 0."""
    rng = np.random.default_rng(9)
    m, w = rng.standard_normal((5, 1)), rng.standard_normal((5, 1))
    assert np.allclose(
        theory.norm_reward_risk(N, 0.4, m, w),
        theory.best_of_n_risk_1d(N, 0.4, m[:, 0], 0.0, w[:, 0]),
        rtol=1e-11,
    )


def test_norm_reward_against_monte_carlo_and_the_gaussian_approximation():
    rng = np.random.default_rng(10)
    d, N, tau = 7, 12, 0.6
    m = rng.standard_normal(d)
    w = m + 0.8 * rng.standard_normal(d)
    cand = torch.as_tensor(m) + tau * torch.randn(
        200_000, N, d, generator=torch.Generator().manual_seed(11), dtype=torch.float64
    )
    sel = cand[torch.arange(len(cand)), (cand**2).sum(-1).argmin(1)]
    loss, proj = ((sel - torch.as_tensor(w)) ** 2).sum(-1), sel @ torch.as_tensor(m) / (m @ m)
    se_loss, se_proj = (v.std().item() / math.sqrt(len(v)) for v in (loss, proj))
    assert abs(loss.mean().item() - theory.norm_reward_risk(N, tau, m, w)) < 4 * se_loss
    kappa = theory.norm_reward_shrinkage(N, tau, mean_norm=float(np.linalg.norm(m)), d=d)
    assert abs(proj.mean().item() - kappa) < 4 * se_proj
    # the Gaussian (concomitant) approximation of the shrinkage is rejected
    approx = 1 + 2 * tau**2 * theory.expected_min_gaussian(N) / math.sqrt(
        4 * tau**2 * m @ m + 2 * tau**4 * d
    )
    assert abs(proj.mean().item() - approx) > 4 * se_proj


def test_norm_reward_shapes():
    rng = np.random.default_rng(12)
    m, w = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 3, 5))
    assert theory.norm_reward_risk(4, 0.3, m, w).shape == (2, 3)
    assert theory.norm_reward_risk([1, 4], 0.3, m, w).shape == (2, 2, 3)
    assert isinstance(theory.norm_reward_risk(4, 0.3, m[0, 0], w[0, 0]), float)
    assert np.allclose(
        theory.norm_reward_risk(4, 0.3, torch.as_tensor(m), torch.as_tensor(w)),
        theory.norm_reward_risk(4, 0.3, m, w),
    )
    assert theory.norm_reward_shrinkage([1, 2, 3], 0.3, mean_norm=[0.5, 1.0], d=5).shape == (3, 2)


def _gauss_panels(edges, order):
    nodes, weights = np.polynomial.legendre.leggauss(order)
    half = (edges[..., 1:] - edges[..., :-1]) / 2
    x = ((edges[..., 1:] + edges[..., :-1]) / 2)[..., None] + half[..., None] * nodes
    return x.reshape(*edges.shape[:-1], -1), (half[..., None] * weights).reshape(
        *edges.shape[:-1], -1
    )


def _nearest_moments_direct(N, t):
    """E[Z_sel] and E[Z_sel^2] at any t, Z_sel the nearest of N standard normals to t, by direct
    quadrature in r."""
    sign, t = (
        np.sign(t),
        np.minimum(np.abs(t), 13.0)[:, None],
    )  # beyond 13 the nearest is the extreme sample
    phi = np.exp(-(t**2) / 2) / math.sqrt(2 * math.pi)
    r_low = 1e-7 * np.minimum(1 / (2 * N * phi), t + 1)
    log_r, log_w = _gauss_panels(np.log(r_low) * np.linspace(1, 0, 21), 12)
    lin_r, lin_w = _gauss_panels(1 + (t + 11) * np.linspace(0, 1, 41), 8)
    r, w = (
        np.concatenate([np.exp(log_r), lin_r], 1),
        np.concatenate([log_w * np.exp(log_r), lin_w], 1),
    )
    w = w * np.exp((N - 1) * np.maximum(_log_outside(t, r), -1e300)) * N / math.sqrt(2 * math.pi)
    plus, minus = np.exp(-((t + r) ** 2) / 2), np.exp(-((t - r) ** 2) / 2)
    first = (w * ((t + r) * plus + (t - r) * minus)).sum(1) + N * r_low[:, 0] * 2 * t[:, 0] * phi[
        :, 0
    ]
    second = (w * ((t + r) ** 2 * plus + (t - r) ** 2 * minus)).sum(1) + N * r_low[:, 0] * 2 * t[
        :, 0
    ] ** 2 * phi[:, 0]
    return sign * first, second


def _averaged_risk_direct(N, tau, n, sigma2, eta, reward, psi2=1.0):
    """E over prompts of a^2 + 2 tau a E[Z_sel | t] + tau^2 E[Z_sel^2 | t] (a = m - w*), Gauss rules
    in log S and in the standardised t, the moments evaluated at every node (no interpolation in
    t)."""
    x_lo, x_hi = np.log(stats.chi2.ppf(1e-15, n)), np.log(stats.chi2.isf(1e-15, n))
    x, wx = _gauss_panels(np.linspace(x_lo, x_hi, int((x_hi - x_lo) / 0.5) + 1), 12)
    s = np.exp(x)
    ws = wx * np.exp(stats.chi2.logpdf(s, n) + x)
    u, wu = _gauss_panels(np.linspace(0, 10, 16), 8)  # 30 panels: same to 1e-10
    wu = 2 * wu * np.exp(-(u**2) / 2) / math.sqrt(2 * math.pi)  # u and -u
    a1, a2 = eta * s / n - 1, eta * np.sqrt(sigma2 * s) / n  # a = a1 w* + a2 Z
    centre = {
        "oracle": (-a1, -a2),
        "in-context loss": ((1 / s - eta / n) * s, (1 / s - eta / n) * np.sqrt(sigma2 * s)),
        "norm": (-(eta / n) * s, -(eta / n) * np.sqrt(sigma2 * s)),
    }[reward]  # tau t = c - m
    sd = np.sqrt(psi2 * centre[0] ** 2 + centre[1] ** 2)
    gamma = (psi2 * a1 * centre[0] + a2 * centre[1]) / sd  # Cov(a, u) with tau t = sd u
    t = (sd / tau)[:, None] * u
    # the moments depend on min(|t|, 13) and sign(t) only: each distinct value is computed once
    distinct, index = np.unique(np.minimum(np.abs(t), 13.0), return_inverse=True)
    first, second = np.empty_like(distinct), np.empty_like(distinct)
    for block in np.array_split(np.arange(len(distinct)), max(1, len(distinct) // 2880)):
        first[block], second[block] = _nearest_moments_direct(N, distinct[block])
    first, second = np.sign(t) * first[index.reshape(t.shape)], second[index.reshape(t.shape)]
    inner = (wu * (2 * tau * gamma[:, None] * u * first + tau**2 * second)).sum(1)
    return float((ws * (psi2 * a1**2 + a2**2 + inner)).sum())


@pytest.mark.parametrize("reward,N", [("in-context loss", 6), ("norm", 1000)])
def test_averaged_risk_1d_against_direct_quadrature(reward, N):
    value = theory.best_of_n_risk_1d_averaged(N, 0.3, n=6, sigma2=3.0, eta=6 / 11, reward=reward)
    assert abs(value / _averaged_risk_direct(N, 0.3, 6, 3.0, 6 / 11, reward) - 1) < 1e-8


def test_averaged_risk_1d_single_sample_and_chapter_values():
    for reward in theory.best_of_n.REWARDS_1D:
        for n, s2, eta, tau in [(6, 3.0, 6 / 11, 0.3), (1, 0.5, 0.2, 1.0), (30, 0.0, 0.9, 0.1)]:
            value = theory.best_of_n_risk_1d_averaged(
                1, tau, n=n, sigma2=s2, eta=eta, reward=reward
            )
            assert math.isclose(
                value, theory.one_step_risk(n, 1, s2, eta) + tau**2, rel_tol=1e-12
            )  # N = 1: greedy + tau^2
    curves = {
        r: theory.best_of_n_risk_1d_averaged(
            np.arange(1, 1001), 0.3, n=6, sigma2=3.0, eta=6 / 11, reward=r
        )
        for r in theory.best_of_n.REWARDS_1D
    }
    assert np.all(np.diff(curves["oracle"]) < 0)  # the oracle only gains
    assert curves["in-context loss"].argmin() + 1 == 6  # best N = 6
    assert curves["norm"].argmin() == 0 and np.all(
        np.diff(curves["norm"]) > 0
    )  # every sample beyond the first hurts
    assert abs(curves["norm"][999] - 0.825) < 5e-4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        single = theory.best_of_n_risk_1d_averaged(
            6, 0.3, n=6, sigma2=3.0, eta=6 / 11, reward="in-context loss"
        )
    assert math.isclose(single, curves["in-context loss"][5], rel_tol=1e-10)


@pytest.mark.parametrize("reward", ["oracle", "in-context loss", "norm"])
def test_averaged_risk_1d_against_monte_carlo(reward):
    n, s2, tau, N = 6, 3.0, 0.3, 2
    eta = theory.optimal_step(n, 1, s2)

    def sample(batch, gen):
        p = tasks.sample_prompts(
            batch, n, 1, sigma2=s2, generator=gen, device="cpu", dtype=torch.float64
        )
        sxx, sxy = (p.X[..., 0] ** 2).sum(1), (p.X[..., 0] * p.y).sum(1)
        centre = {"oracle": p.w[:, 0], "in-context loss": sxy / sxx, "norm": torch.zeros_like(sxx)}[
            reward
        ]
        cand = (eta * sxy / n)[:, None] + tau * torch.randn(
            batch, N, generator=gen, dtype=torch.float64
        )
        sel = cand.gather(1, (cand - centre[:, None]).abs().argmin(1, keepdim=True))[:, 0]
        return (sel - p.w[:, 0]) ** 2

    est = montecarlo.estimate_mean(sample, 400_000, seed=13, dev="cpu")
    exact, wrong = theory.best_of_n_risk_1d_averaged(
        [N, N + 1], tau, n=n, sigma2=s2, eta=eta, reward=reward
    )
    assert abs(est.mean - exact) < 4 * est.stderr
    assert abs(est.mean - wrong) > 4 * est.stderr  # N + 1 in place of N is rejected


def test_averaged_risk_1d_arguments():
    with pytest.raises(TypeError):
        theory.best_of_n_risk_1d_averaged(
            5, 0.3, 6, 3.0, 0.5, "norm"
        )  # keyword-only: a swap cannot compute silently
    assert theory.best_of_n_risk_1d_averaged(
        np.array([1, 2, 3]), 0.3, n=6, sigma2=3.0, eta=0.5, reward="norm"
    ).shape == (3,)


def test_gaussian_selection_risk_moments_against_monte_carlo():
    """The formula is mu_R + Cov(R, s)/sd(s) e_N; its moments are checked against simulated
    moments."""
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
    assert np.allclose(
        oracle,
        [theory.oracle_gaussian_risk(30, 0.3, d=8, bias2=float((row**2).sum())) for row in a],
    )
    assert np.allclose(
        theory.gaussian_selection_risk(30, 0.3, a, c),
        theory.gaussian_selection_risk(30, 0.3, a, c, np.eye(8)),
    )
    assert np.allclose(
        theory.gaussian_selection_risk(30, 0.3, torch.as_tensor(a), torch.as_tensor(c)),
        theory.gaussian_selection_risk(30, 0.3, a, c),
    )


def test_oracle_closed_forms_minimise_the_gaussian_risk():
    d, B = 50, 20.0
    for N in (2, 10, 300):
        result = optimize.minimize_scalar(
            lambda tau, N=N: theory.oracle_gaussian_risk(N, tau, d=d, bias2=B),
            bounds=(0, 3),
            method="bounded",
            options={"xatol": 1e-10},
        )
        assert math.isclose(
            theory.oracle_optimal_temperature(N, d=d, bias2=B), result.x, rel_tol=1e-5
        )
        assert math.isclose(theory.oracle_optimal_risk(N, d=d, bias2=B), result.fun, rel_tol=1e-10)
    with pytest.raises(ValueError, match="n_samples"):
        theory.oracle_optimal_risk(1000, d=4, bias2=B)  # 2 e_N^2 > d: outside the approximation
    with pytest.raises(ValueError, match="n_samples"):
        theory.oracle_optimal_temperature(1000, d=4, bias2=B)


def test_nearest_sample_asymptote():
    assert math.isclose(
        theory.nearest_sample_asymptote(10, 1.0, spread=2.0), 4 * math.pi * math.e / 100
    )
    for t in (0.0, 1.0):
        N = 10**5
        ratio = theory.expected_min_sq_offset(N, t) / theory.nearest_sample_asymptote(N, t)
        assert abs(N * (1 - ratio) - 3) < 0.01  # 1 - 3/N correction


def _interpolator_mc(n, d, sigma2, samples=100_000, seed=6):
    def sample(batch, gen):
        p = tasks.sample_prompts(
            batch, n, d, sigma2=sigma2, generator=gen, device="cpu", dtype=torch.float64
        )
        w_hat = torch.linalg.pinv(p.X) @ p.y.unsqueeze(-1)
        return ((w_hat[..., 0] - p.w) ** 2).sum(1)

    return montecarlo.estimate_mean(sample, samples, seed=seed, dev="cpu")


def test_interpolator_risks_against_monte_carlo():
    est = _interpolator_mc(9, 3, 0.5)
    assert abs(est.mean - theory.least_squares_risk(9, 3, 0.5)) < 4 * est.stderr
    est = _interpolator_mc(2, 9, 0.5)
    assert abs(est.mean - theory.min_norm_risk(2, 9, 0.5)) < 4 * est.stderr


def test_interpolator_limits_and_dispatch():
    assert (
        theory.least_squares_risk(5, 5, 1.0) == math.inf
        and theory.least_squares_risk(6, 5, 1.0) == math.inf
    )
    assert theory.least_squares_risk(5, 5, 0.0) == 0.0
    assert theory.min_norm_risk(4, 5, 1.0) == math.inf and theory.min_norm_risk(4, 5, 0.0) == 1.0
    assert theory.min_norm_risk(2, 8, 0.5, psi2=2.0) == 2.0 * 6 + 0.5 * 2 / 5
    assert theory.in_context_limit_risk(20, 5, 1.0, 0.7) == theory.least_squares_risk(20, 5, 1.0)
    assert math.isclose(
        theory.in_context_limit_risk(2, 8, 1.0, 0.7), theory.min_norm_risk(2, 8, 1.0) + 0.49 * 6
    )


def test_errors_name_the_argument():
    cases = [
        (lambda: theory.expected_min_gaussian(0), "n_samples"),
        (lambda: theory.expected_min_gaussian(2.5), "n_samples"),
        (lambda: theory.expected_min_sq_offset(0, 1.0), "n_samples"),
        (lambda: theory.expected_min_sq_offset(3, float("nan")), "t"),
        (lambda: theory.expected_nearest_offset(3, [0.0, float("inf")]), "t"),
        (lambda: theory.best_of_n_risk_1d(3, 0.0, 0.0, 0.0, 0.0), "tau"),
        (lambda: theory.best_of_n_risk_1d(3, 1.0, float("nan"), 0.0, 0.0), "mean"),
        (lambda: theory.oracle_best_of_n_risk(3, 1.0, bias2=-1.0, d=2), "bias2"),
        (lambda: theory.oracle_best_of_n_risk(3, 1.0, bias2=1.0, d=0), "d"),
        (lambda: theory.gaussian_selection_risk(3, 1.0, np.zeros(3), np.zeros(4)), "score_offset"),
        (
            lambda: theory.gaussian_selection_risk(3, 1.0, np.zeros(3), np.zeros(3), np.eye(2)),
            "metric",
        ),
        (
            lambda: theory.gaussian_selection_risk(3, 1.0, np.full(3, np.nan), np.zeros(3)),
            "risk_offset",
        ),
        (lambda: theory.gaussian_selection_risk(3, -1.0, np.zeros(3), np.zeros(3)), "tau"),
        (lambda: theory.oracle_gaussian_risk(3, 1.0, d=2, bias2=-1.0), "bias2"),
        (lambda: theory.nearest_sample_asymptote(3, 1.0, spread=0.0), "spread"),
        (lambda: theory.least_squares_risk(3, 5, 1.0), "n"),
        (lambda: theory.least_squares_risk(8, 5, -1.0), "sigma2"),
        (lambda: theory.min_norm_risk(5, 5, 1.0), "n"),
        (lambda: theory.min_norm_risk(2, 5, 1.0, psi2=0.0), "psi2"),
        (lambda: theory.in_context_limit_risk(2, 5, 1.0, -0.1), "tau"),
        (lambda: theory.oracle_best_of_n_risk([3, 0], 1.0, bias2=1.0, d=2), "n_samples"),
        (lambda: theory.oracle_best_of_n_risk(3, 1.0, bias2=[1.0, float("nan")], d=2), "bias2"),
        (lambda: theory.norm_reward_shrinkage(3, 1.0, mean_norm=-1.0, d=2), "mean_norm"),
        (lambda: theory.norm_reward_shrinkage(3, 0.0, mean_norm=1.0, d=2), "tau"),
        (lambda: theory.norm_reward_risk(3, 1.0, np.zeros(3), np.zeros(4)), "target"),
        (lambda: theory.norm_reward_risk(3, 1.0, np.full(3, np.inf), np.zeros(3)), "mean"),
        (lambda: theory.norm_reward_risk(2.5, 1.0, np.zeros(3), np.zeros(3)), "n_samples"),
        (
            lambda: theory.best_of_n_risk_1d_averaged(
                3, 0.3, n=6, sigma2=3.0, eta=0.5, reward="loss"
            ),
            "reward",
        ),
        (
            lambda: theory.best_of_n_risk_1d_averaged(
                3, 0.3, n=0, sigma2=3.0, eta=0.5, reward="norm"
            ),
            "n",
        ),
        (
            lambda: theory.best_of_n_risk_1d_averaged(
                3, 0.3, n=6, sigma2=-1.0, eta=0.5, reward="norm"
            ),
            "sigma2",
        ),
        (
            lambda: theory.best_of_n_risk_1d_averaged(
                3, 0.3, n=6, sigma2=3.0, eta=0.0, reward="norm"
            ),
            "eta",
        ),
        (
            lambda: theory.best_of_n_risk_1d_averaged(
                3, -0.3, n=6, sigma2=3.0, eta=0.5, reward="norm"
            ),
            "tau",
        ),
        (
            lambda: theory.best_of_n_risk_1d_averaged(
                3, 0.3, n=6, sigma2=3.0, eta=0.5, reward="norm", psi2=0.0
            ),
            "psi2",
        ),
        (
            lambda: theory.best_of_n_risk_1d_averaged(
                [1, 10**13], 0.3, n=6, sigma2=3.0, eta=0.5, reward="norm"
            ),
            "n_samples",
        ),
        (
            lambda: theory.best_of_n_risk_1d_averaged(
                [[1, 2]], 0.3, n=6, sigma2=3.0, eta=0.5, reward="norm"
            ),
            "n_samples",
        ),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()
