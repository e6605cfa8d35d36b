import math

import numpy as np
import pytest
import torch

from icl import theory
from icl.theory import budget

SETTING = dict(n=8, d=5, sigma2=0.5, eta=0.1, level=0.5)


def test_bias_quadrature_matches_the_exact_gd_average():
    terms = theory.prompt_averaged_chain_terms(**SETTING, steps=300, designs=16)
    for T in (0, 1, 7, 300):
        exact = theory.gd_risk_parts(8, 5, 0.5, 0.1, T, lam=0.25).typical
        assert terms.bias2[T] == pytest.approx(exact, rel=1e-9)
    for n, d in ((3, 7), (12, 4)):
        terms = theory.prompt_averaged_chain_terms(n, d, 0.3, 0.05, 0.4, 50, designs=8)
        exact = theory.gd_risk_parts(n, d, 0.3, 0.05, 50, lam=0.16).typical
        assert terms.bias2[50] == pytest.approx(exact, rel=1e-9)
    assert theory.ridge_limit_risk(**SETTING) == pytest.approx(
        theory.gd_risk_parts(8, 5, 0.5, 0.1, 5000, lam=0.25).typical, rel=1e-9
    )


def test_trace_average_over_w_and_noise_matches_monte_carlo():
    """Given one design, E tr C_T over w and the label noise (the module's q-recursion) against the
    mean of chain_risk_terms over many (w, noise) draws."""
    n, d, steps = 8, 5, 40
    gen = torch.Generator().manual_seed(3)
    X = torch.randn(1, n, d, generator=gen, dtype=torch.float64).expand(20000, n, d)
    w = torch.randn(20000, d, generator=gen, dtype=torch.float64)
    y = (X @ w.unsqueeze(-1))[..., 0] + math.sqrt(0.5) * torch.randn(
        20000, n, generator=gen, dtype=torch.float64
    )
    _, trace = theory.chain_risk_terms(X, y, w, eta=0.1, steps=steps, level=0.5)
    s = np.linalg.eigvalsh((X[0].T @ X[0] / n).numpy()).clip(min=0)
    a, kappa = 1 - 0.1 * (s + 0.25), 0.01 * 0.25**2
    mu2 = (s**2 + 0.5 * s / n) / (s + 0.25) ** 2
    c, power = np.zeros(d), np.ones(d)
    for _ in range(steps):
        second = c + mu2 * (1 - power) ** 2
        c, power = a**2 * c + kappa * (second + second.sum()), power * a
    se = trace.std().item() / math.sqrt(len(trace))
    assert abs(trace.mean().item() - c.sum()) < 4 * se
    assert abs(trace.mean().item() - 1.25 * c.sum()) > 4 * se  # a 25 % slip would be seen


def test_compute_optimal_split_agrees_with_brute_force():
    budget = 60
    terms = theory.prompt_averaged_chain_terms(**SETTING, steps=budget, designs=256, seed=1)
    brute = min(
        (terms.bias2[T] + terms.trace[T] / N, N, T)
        for T in range(1, budget + 1)
        for N in range(1, budget // T + 1)
    )
    split = theory.compute_optimal_split(**SETTING, budget=budget, designs=256, seed=1)
    assert (split.n_chains, split.steps) == (brute[1], brute[2])
    assert split.risk == pytest.approx(brute[0], rel=1e-12)
    assert split.n_chains * split.steps <= budget
    # a larger budget: the optimum is interior and uses several chains
    big = theory.compute_optimal_split(**SETTING, budget=5000, designs=256, seed=1)
    assert big.n_chains > 1 and big.steps < 5000 and big.risk < split.risk
    assert theory.best_split(terms.bias2, terms.trace, 1)[:2] == (1, 1)


@pytest.mark.parametrize(
    "change, name",
    [
        (dict(budget=0), "budget"),
        (dict(n=0), "n"),
        (dict(level=-0.1), "level"),
        (dict(eta=0.0), "eta"),
        (dict(eta=5.0), "eta"),
        (dict(sigma2=-1.0), "sigma2"),
        (dict(designs=1), "designs"),
    ],
)
def test_compute_optimal_split_validation(change, name):
    args = dict(SETTING, budget=100, designs=16) | change
    with pytest.raises(ValueError, match=name):
        theory.compute_optimal_split(**args)


def test_best_of_n_kl_exact_values_and_monte_carlo():
    assert theory.best_of_n_kl(1) == 0.0
    assert theory.best_of_n_kl(2) == pytest.approx(math.log(2) - 0.5)
    values = theory.best_of_n_kl(np.arange(1, 200))
    assert np.all(np.diff(values) > 0)
    assert values[9] == pytest.approx(math.log(10) - 0.9)
    with pytest.raises(ValueError, match="n_samples"):
        theory.best_of_n_kl(0)
    with pytest.raises(ValueError, match="n_samples"):
        theory.best_of_n_kl(np.array([1, 0]))
    # continuous score: the likelihood ratio of the minimum of N exponential scores is
    # N (1 - F(s))^{N-1}
    rng = np.random.default_rng(0)
    N = 5
    smallest = rng.exponential(size=(200_000, N)).min(1)
    log_ratio = math.log(N) + (N - 1) * (-smallest)  # log(1 - F(s)) = -s
    se = log_ratio.std() / math.sqrt(len(log_ratio))
    assert abs(log_ratio.mean() - theory.best_of_n_kl(N)) < 4 * se
    assert abs(log_ratio.mean() - math.log(N)) > 4 * se


def test_soft_selection_tilt_and_its_average():
    mean, var = theory.soft_selection_tilt(0.3, 0.5, 1e12, 2.0, 1.0)
    assert mean == pytest.approx(0.3) and var == pytest.approx(0.25)
    # the tilt of N(0.3, 0.25) by exp(-2 (w - 1)^2 / 0.4), by direct quadrature
    grid = np.linspace(-6, 6, 200_001)
    density = np.exp(-((grid - 0.3) ** 2) / 0.5 - 2 * (grid - 1) ** 2 / 0.4)
    density /= density.sum()
    mean, var = theory.soft_selection_tilt(0.3, 0.5, 0.4, 2.0, 1.0)
    assert mean == pytest.approx((grid * density).sum(), rel=1e-8)
    assert var == pytest.approx(((grid - mean) ** 2 * density).sum(), rel=1e-6)
    # beta -> infinity: the base sampler (greedy risk + tau^2, KL 0)
    n, sigma2, eta, tau = 6, 3.0, 6 / 11, 0.3
    for reward in ("in-context loss", "norm"):
        risk, kl = theory.soft_selection_1d_averaged(
            1e9, tau, n=n, sigma2=sigma2, eta=eta, reward=reward
        )
        assert risk == pytest.approx(theory.one_step_risk(n, 1, sigma2, eta) + tau**2, rel=1e-6)
        assert kl == pytest.approx(0.0, abs=1e-6)
    # the norm reward in closed form: E S = 1, E S^2 = 1 + 2/n
    beta = 0.2
    k = beta / (beta + 2 * tau**2)
    h, v = eta * k, tau**2 * k
    closed = (h**2 * (1 + 2 / n) - 2 * h + 1) + h**2 * sigma2 / n + v
    risk, _ = theory.soft_selection_1d_averaged(
        beta, tau, n=n, sigma2=sigma2, eta=eta, reward="norm"
    )
    assert risk == pytest.approx(closed, rel=1e-9)
    with pytest.raises(ValueError, match="reward"):
        theory.soft_selection_1d_averaged(beta, tau, n=n, sigma2=sigma2, eta=eta, reward="oracle")
    with pytest.raises(ValueError, match="beta"):
        theory.soft_selection_tilt(0.0, 1.0, 0.0, 1.0, 0.0)


def test_coverage_miss_and_its_laws():
    setting = dict(n=20, d=10, sigma2=0.25, eta=1.0)
    t_cal = theory.calibration_temperature(**setting)
    assert theory.coverage_miss(1, **setting, temperature=0.7) == pytest.approx(
        theory.sampled_sign_error(**setting, temperature=0.7), rel=1e-9
    )
    # the best temperature for k samples is (k - 1) T_cal: the miss is stationary there
    for k in (3, 10):
        at = lambda t, k=k: theory.coverage_miss(k, **setting, temperature=t)
        best = (k - 1) * t_cal
        assert at(best) < at(0.98 * best) and at(best) < at(1.02 * best)
    # n = 2: the margin density is exactly exponential in its left tail, b = 0
    small = dict(setting, n=2)
    t = theory.calibration_temperature(**small)
    a, b = theory.coverage_exponents(**small, temperature=t)
    assert a == pytest.approx((1 + math.sqrt(1 + 9.25)) / 2) and b == 0
    ks = np.array([10**5, 10**7])
    miss = theory.coverage_miss(ks, **small, temperature=t)
    slope = np.diff(np.log(miss))[0] / np.diff(np.log(ks))[0]
    assert slope == pytest.approx(-a, rel=1e-3)
    right_tail = (math.sqrt(1 + 9.25) - 1) / 2  # (alpha - beta) / c: the wrong tail's exponent
    assert abs(slope + right_tail) > 0.5
    with pytest.raises(ValueError, match="k"):
        theory.coverage_miss(0, **setting, temperature=1.0)
    with pytest.raises(ValueError, match="temperature"):
        theory.coverage_exponents(**setting, temperature=0.0)


def test_bias_curve_is_the_direct_sum_also_where_a_is_zero_or_negative():
    """sum_q w_q b_t(s_q) as a quadratic in a^t equals the direct formula, at a node with a = 0
    (eta (s + delta2) = 1: a^0 = 1) and at nodes with a < 0 (odd powers negative)."""
    s, w = np.array([0.0, 0.5, 3.0, 9.75, 15.0, 19.0]), np.linspace(0.5, 1.5, 6)
    t, eta, delta2, n, sigma2, psi2 = np.arange(40), 0.1, 0.25, 8, 0.5, 1.3
    a = 1 - eta * (s + delta2)
    assert a[3] == 0 and np.all(a[4:] < 0)
    P = a[None, :] ** t[:, None]
    direct = (
        psi2 * ((delta2 + s * P) / (s + delta2)) ** 2
        + sigma2 / n * s * (1 - P) ** 2 / (s + delta2) ** 2
    ) @ w
    got = budget._bias_curve(s, w, t, n, sigma2, eta, delta2, psi2)
    assert np.allclose(got, direct, rtol=1e-13, atol=0)
    # a wrong sign rule (|a|^t for every t) is off at odd t
    assert not np.allclose(
        budget._bias_curve(s, w, t, n, sigma2, eta, delta2, psi2)[1::2],
        ((psi2 * ((delta2 + s * np.abs(P)) / (s + delta2)) ** 2) @ w)[1::2]
        + ((sigma2 / n * s * (1 - np.abs(P)) ** 2 / (s + delta2) ** 2) @ w)[1::2],
        rtol=1e-6,
    )


def test_compute_optimal_split_works_only_up_to_the_horizon_that_can_matter():
    """The terms are needed only up to T_max = min(B, ceil(60 / -log(1 - eta delta2))): any
    budget at Chapter 8's setting (T_max = 2370) costs the same; where T_max is out of reach
    (eta delta2 = 1e-6: 6e7 steps, which allocated 6e7 x designs floats up front), the domain
    ends with a ValueError."""
    setting = dict(n=8, d=5, sigma2=0.5, eta=0.1, level=0.5, designs=16, seed=1)
    large = theory.compute_optimal_split(**setting, budget=10**6)
    huge = theory.compute_optimal_split(**setting, budget=10**18)
    terms = theory.prompt_averaged_chain_terms(
        8, 5, 0.5, 0.1, 0.5, 2 * budget._convergence_steps(0.1, 0.5), designs=16, seed=1
    )
    for B, split in ((10**6, large), (10**18, huge)):
        assert (split.n_chains, split.steps) == theory.best_split(terms.bias2, terms.trace, B)[:2]
    with pytest.raises(ValueError, match="T_max"):
        theory.compute_optimal_split(20, 5, 0.5, 0.01, 0.01, 10**9, designs=16)


def test_chain_terms_answer_where_expected_gd_risk_answers():
    """At n = d = 1, eta = 1.9 the atypical designs have probability 0.3: expected_gd_risk
    refuses, and so do the chain terms (they truncated silently)."""
    with pytest.raises(ValueError):
        theory.expected_gd_risk(1, 1, 0.1, 1.9, 5)
    with pytest.raises(ValueError, match="typical"):
        theory.prompt_averaged_chain_terms(1, 1, 0.1, 1.9, 0.1, 5, designs=4)
    with pytest.raises(ValueError, match="typical"):
        theory.ridge_limit_risk(1, 1, 0.1, 1.9, 0.1)
    with pytest.raises(ValueError, match="typical"):
        theory.compute_optimal_split(1, 1, 0.1, 1.9, 0.1, 100, designs=4)
    # where P(atypical) <= 1e-7 both answer
    assert theory.prompt_averaged_chain_terms(8, 5, 0.5, 0.1, 0.5, 3, designs=4).bias2[3] > 0


def test_soft_selection_tilt_at_extreme_parameters():
    """tau = 1e-200 raised ZeroDivisionError and a huge tilt gave NaN: the tilt is computed in
    log space, h = 1 / (1 + r), r = 2 c tau^2 / beta."""
    mean, var = theory.soft_selection_tilt(0.3, 1e-200, 1e-300, 1.0, 1.0)
    assert mean == pytest.approx(0.3, rel=1e-12) and 0 <= var <= 1e-300  # tau^2 = 1e-400
    mean, var = theory.soft_selection_tilt(0.3, 1e150, 1e-300, 1e300, -2.0)
    assert mean == -2.0 and 0 <= var <= 1e-300  # beta / (2 c) = 5e-601
    mean, var = theory.soft_selection_tilt(0.3, 1e150, 1e300, 1e-300, 1.0)  # r = 2e-300
    assert mean == pytest.approx(0.3, rel=1e-12) and var == pytest.approx(1e300, rel=1e-12)
    # r = 1: halfway, variance halved
    mean, var = theory.soft_selection_tilt(np.array([0.0, 2.0]), 2.0, 8.0, 1.0, 1.0)
    assert np.allclose(mean, [0.5, 1.5], rtol=1e-14) and var == pytest.approx(2.0, rel=1e-14)


def test_soft_selection_average_where_the_tilt_is_sharp():
    """beta = 1e-12, n = 1: r = 2e12, the selected w ~ b / S, E 1/S = inf; the risk grows like
    sqrt(r). The quadrature missed most of it (551234 against 886226); checked against an
    independent quadrature in v = log S."""
    from scipy import integrate

    beta, tau, n, sigma2, eta, psi2 = 1e-12, 1.0, 1, 1.0, 0.5, 1.0
    r = 2 * tau**2 / beta

    def risk(v):
        S = math.exp(v)
        shrink = 1 / (1 + r * S)
        value = psi2 * ((eta * S - 1) * shrink) ** 2 + ((eta + r) * shrink) ** 2 * sigma2 * S / n
        density = math.exp(-S / 2) / math.sqrt(2 * math.pi * S)  # chi^2_1
        return (value + tau**2 * shrink) * density * S

    edges = np.linspace(-80, 6, 87)
    exact = sum(
        integrate.quad(risk, a, b, epsabs=0, epsrel=1e-13)[0] for a, b in zip(edges, edges[1:])
    )
    got, _ = theory.soft_selection_1d_averaged(
        beta, tau, n=n, sigma2=sigma2, eta=eta, reward="in-context loss", psi2=psi2
    )
    assert got == pytest.approx(exact, rel=1e-9)


def test_coverage_miss_when_the_kernel_step_is_far_from_the_bulk():
    """At a high temperature (c = 2 eta / (n T) small) the kernel's break-points lie far out and
    one quadrature panel held the margin's bulk at its end: 16 % of the miss was lost at n = 200
    (independent reference: quadrature against the variance-gamma density written from Bessel
    K's integral representation)."""
    from tests.accuracy.ref_budget import _miss_exact

    setting = dict(k=333, n=200, d=50, sigma2=0.25, eta=0.01, temperature=255.0)
    exact = _miss_exact(**setting)  # 5.64e-101
    assert theory.coverage_miss(**setting) == pytest.approx(exact, rel=1e-8, abs=0)
