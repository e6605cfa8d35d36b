import math

import mpmath
import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from icl import theory
from icl.harness import montecarlo
from icl.theory import wishart


def trace_moment(n, d, k):
    """E tr (X^T X)^k for X n x d Gaussian (exact; symmetric in n and d)."""
    return {
        0: min(n, d),
        1: n * d,
        2: n * d * (n + d + 1),
        3: n * d * (n**2 + d**2 + 3 * n * d + 3 * n + 3 * d + 4),
        4: n
        * d
        * (
            n**3
            + d**3
            + 6 * n**2 * d
            + 6 * n * d**2
            + 6 * n**2
            + 6 * d**2
            + 17 * n * d
            + 21 * n
            + 21 * d
            + 20
        ),
    }[k]


def two_step_risk(n, d, sigma2, eta, psi2=1.0):
    """E R_2(X) from the exact moments: f_2(s) = psi2 (1 - eta s)^4 + (sigma2/n) s (2 eta - eta^2
    s)^2."""
    M = [d] + [trace_moment(n, d, k) / n**k for k in range(1, 5)]
    bias = M[0] - 4 * eta * M[1] + 6 * eta**2 * M[2] - 4 * eta**3 * M[3] + eta**4 * M[4]
    noise = 4 * eta**2 * M[1] - 4 * eta**3 * M[2] + eta**4 * M[3]
    return psi2 * bias + sigma2 / n * noise


SIZES = [
    (1, 1),
    (7, 1),
    (1, 6),
    (2, 2),
    (3, 5),
    (12, 10),
    (10, 12),
    (40, 10),
    (30, 50),
    (64, 64),
    (64, 63),
]


@pytest.mark.parametrize("n,d", SIZES)
def test_density_has_mass_min_n_d_and_the_exact_wishart_moments(n, d):
    mass = wishart.wishart_linear_statistic(lambda s: (s > 0) * 1.0, n, d)
    assert math.isclose(mass, min(n, d), rel_tol=1e-12)
    for k in range(1, 5):
        moment = wishart.wishart_linear_statistic(lambda s, k=k: s**k, n, d)
        assert math.isclose(moment, trace_moment(n, d, k) / n**k, rel_tol=1e-12), k


def test_complex_density_has_the_complex_moments_which_differ_from_the_real_ones():
    n, d = 12, 10
    assert math.isclose(
        wishart.wishart_linear_statistic(lambda s: s, n, d, beta=2), d, rel_tol=1e-12
    )
    complex_second = wishart.wishart_linear_statistic(lambda s: s**2, n, d, beta=2)
    assert math.isclose(
        complex_second, d * (n + d) / n, rel_tol=1e-12
    )  # n + d: not the real n + d + 1
    assert not math.isclose(complex_second, trace_moment(n, d, 2) / n**2, rel_tol=1e-3)


@pytest.mark.parametrize("p", [1, 4, 9])
def test_one_eigenvalue_is_chi_square(p):
    s = np.array([0.05, 0.7, 3.0, 11.0])
    assert np.allclose(
        wishart.wishart_eigenvalue_density(s, p, 1), p * stats.chi2.pdf(p * s, p), rtol=1e-12
    )
    assert np.allclose(
        wishart.wishart_eigenvalue_density(s, 1, p), stats.chi2.pdf(s, p), rtol=1e-12
    )


@pytest.mark.parametrize("p", [2, 3, 6])
def test_two_eigenvalues_against_the_joint_density(p):
    """rho(x) = 2 int f(x, y) dy with f the joint density of the two unordered eigenvalues (no
    Pfaffian)."""
    a = (p - 3) / 2
    ordered = math.pi**2 / (
        2**p * math.pi * math.gamma(p / 2) * math.gamma((p - 1) / 2) * math.gamma(0.5)
    )
    for x in [0.3, 2.0, 7.5, 25.0]:
        inner = (
            integrate.quad(
                lambda y, x=x: y**a * math.exp(-y / 2) * (x - y),
                0,
                x,
                epsabs=0,
                epsrel=1e-13,
                limit=200,
            )[0]
            + integrate.quad(
                lambda y, x=x: y**a * math.exp(-y / 2) * (y - x),
                x,
                np.inf,
                epsabs=0,
                epsrel=1e-13,
                limit=200,
            )[0]
        )
        direct = ordered * x**a * math.exp(-x / 2) * inner  # 2 * (ordered / 2!) * ...
        assert math.isclose(
            wishart.wishart_eigenvalue_density(np.array([x / p]), p, 2)[0] / p, direct, rel_tol=1e-9
        ), x


@pytest.mark.parametrize("m,p", [(2, 5), (10, 12), (30, 50)])
def test_density_tail_is_one_eigenvalue_above_the_rest(m, p):
    """Far above the bulk, rho(x) = C x^a e^{-x/2} (m-1)! |L_{m-1}^(p-m)(x)| with C = sqrt(pi)
    2^{-(m+p-1)/2} / (G(p/2) G(m/2))."""
    x = np.array([4.0, 8.0]) * (math.sqrt(m) + math.sqrt(p)) ** 2
    exact = wishart.wishart_eigenvalue_density(x / p, p, m) / p
    log_c = (
        0.5 * math.log(math.pi)
        - (m + p - 1) / 2 * math.log(2)
        - special.gammaln(p / 2)
        - special.gammaln(m / 2)
    )
    tail = np.exp(
        log_c
        + (p - m - 1) / 2 * np.log(x)
        - x / 2
        + special.gammaln(m)
        + np.log(np.abs(special.eval_genlaguerre(m - 1, p - m, x)))
    )
    assert np.allclose(exact, tail, rtol=1e-9, atol=0)
    assert not np.allclose(
        exact, m * tail, rtol=0.1, atol=0
    )  # the m! (ordered) normalisation in place of the unordered one


@pytest.mark.parametrize(
    "n,d,sigma2,eta",
    [(12, 10, 1.0, 0.2), (5, 20, 0.3, 0.05), (64, 64, 2.0, 0.02), (1, 1, 0.5, 0.01)],
)
def test_one_step_is_chapter_one(n, d, sigma2, eta):
    parts = theory.gd_risk_parts(n, d, sigma2, eta, 1)
    assert math.isclose(
        parts.typical + 10**parts.log10_divergent_part,
        theory.one_step_risk(n, d, sigma2, eta),
        rel_tol=1e-12,
    )
    assert math.isclose(
        theory.expected_gd_risk(n, d, sigma2, eta, 1),
        theory.one_step_risk(n, d, sigma2, eta),
        rel_tol=1e-10,
    )


@pytest.mark.parametrize(
    "n,d,sigma2,eta",
    [(12, 10, 1.0, 0.2), (3, 9, 0.7, 0.02), (64, 5, 0.1, 0.1), (20, 20, 1.0, 0.05)],
)
def test_two_steps_against_the_exact_moments(n, d, sigma2, eta):
    parts = theory.gd_risk_parts(n, d, sigma2, eta, 2, psi2=1.5)
    assert math.isclose(
        parts.typical + 10**parts.log10_divergent_part,
        two_step_risk(n, d, sigma2, eta, 1.5),
        rel_tol=1e-12,
    )


def test_many_steps_reach_least_squares_and_the_minimum_norm_interpolator():
    assert math.isclose(
        theory.expected_gd_risk(40, 10, 1.0, 0.2, 100_000),
        theory.least_squares_risk(40, 10, 1.0),
        rel_tol=1e-10,
    )
    assert not math.isclose(
        theory.expected_gd_risk(40, 10, 1.0, 0.2, 100_000), 1.0 * 10 / (40 - 10), rel_tol=1e-3
    )
    n, d, sigma2, psi2 = (
        5,
        20,
        0.4,
        2.0,
    )  # n < d: (d - n) psi2 unlearned, plus sigma2 E tr (X X^T)^{-1} = sigma2 n / (d - n - 1)
    limit = (d - n) * psi2 + sigma2 * n / (d - n - 1)
    assert math.isclose(
        theory.expected_gd_risk(n, d, sigma2, 0.05, 100_000, psi2=psi2), limit, rel_tol=1e-10
    )


def test_expected_gd_risk_against_monte_carlo_and_not_marchenko_pastur():
    n, d, sigma2, eta, T = 6, 9, 1.0, 0.1, 60

    def sample(batch, g):
        X = torch.randn(batch, n, d, generator=g, dtype=torch.float64)
        return theory.gd_risk_given_X(X, eta=eta, steps=T, sigma2=sigma2)

    est = montecarlo.estimate_mean(sample, 40_000, seed=3, dev="cpu")
    exact = theory.expected_gd_risk(n, d, sigma2, eta, T)
    assert abs(est.mean - exact) < 4 * est.stderr
    assert (
        abs(est.mean - theory.expected_gd_risk_marchenko_pastur(n, d, sigma2, eta, T))
        > 4 * est.stderr
    )


def test_plain_average_parts_from_the_typical_risk_at_the_parting_step():
    n, d, sigma2, eta = 12, 10, 1.0, 0.2
    T_part = theory.gd_parting_steps(n, d, sigma2, eta)
    before, at = (
        theory.gd_risk_parts(n, d, sigma2, eta, T_part - 1),
        theory.gd_risk_parts(n, d, sigma2, eta, T_part),
    )
    assert before.log10_divergent_part < math.log10(before.typical) <= at.log10_divergent_part
    assert theory.gd_risk_parts(n, d, sigma2, eta, 10).log10_divergent_part < -10
    assert math.isclose(at.typical, theory.expected_gd_risk(n, d, sigma2, eta, T_part))
    assert at.bound < 1e-10 and at.log10_p_divergent < -12


def test_divergent_part_against_laplace_and_the_reviewer_bounds():
    for n, d, sigma2, eta, T in [
        (12, 10, 1.0, 0.2, 300),
        (30, 50, 1 / 30, 0.03, 1000),
        (13, 6, 0.36, 0.07, 160),
    ]:
        parts = theory.gd_risk_parts(n, d, sigma2, eta, T)
        assert (
            abs(parts.log10_divergent_part - theory.gd_divergent_part_laplace(n, d, sigma2, eta, T))
            < 0.2
        )
        assert parts.log10_plain_average >= parts.log10_divergent_part
    assert theory.gd_risk_parts(30, 50, 1 / 30, 0.03, 1000).log10_divergent_part >= 156
    assert theory.gd_risk_parts(13, 6, 0.36, 0.07, 160).log10_divergent_part >= 7


def test_divergent_part_against_a_direct_quadrature_of_the_tail():
    n, d, sigma2, eta, T = 12, 10, 1.0, 0.2, 40

    def integrand(s):
        f = theory.gd_risk_given_spectrum(
            torch.tensor([[s]], dtype=torch.float64), n, eta=eta, steps=T, sigma2=sigma2
        ).item()
        return f * theory.wishart_eigenvalue_density(np.array([s]), n, d)[0]

    direct = integrate.quad(
        integrand, 2 / eta, 60.0, points=[18.0], epsabs=0, epsrel=1e-11, limit=400
    )[0]
    assert math.isclose(
        10 ** theory.gd_risk_parts(n, d, sigma2, eta, T).log10_divergent_part, direct, rel_tol=1e-8
    )


@pytest.mark.parametrize("lam", [0.05, 0.4])
def test_ridge_gd_parts(lam):
    n, d, sigma2, eta = 13, 6, 0.36, 0.07
    assert math.isclose(
        theory.gd_risk_parts(n, d, sigma2, eta, 1, lam=lam).typical,
        theory.one_step_risk(n, d, sigma2, eta),
        rel_tol=1e-12,
    )
    ridge = theory.wishart_linear_statistic(
        lambda s: (lam**2 + sigma2 / n * s) / (s + lam) ** 2, n, d
    )
    assert math.isclose(
        theory.gd_risk_parts(n, d, sigma2, eta, 100_000, lam=lam).typical, ridge, rel_tol=1e-10
    )
    x_cut = n * (2 / eta - lam)
    x = x_cut * np.array([1.01, 1.5, 3.0])
    for T in (1, 7, 40):
        given = theory.gd_risk_given_spectrum(
            torch.tensor(x / n)[:, None], n, eta=eta, steps=T, sigma2=sigma2, lam=lam
        ).numpy()
        assert np.allclose(
            wishart._gd_log_f_divergent(n, sigma2, eta, T, 1.0, lam, x_cut)(x - x_cut),
            np.log(given),
            rtol=1e-12,
            atol=0,
        )
    with pytest.raises(ValueError, match="eta lam"):
        theory.gd_risk_parts(n, d, sigma2, eta, 5, lam=2 / eta)


def test_marchenko_pastur_limit():
    n, d, sigma2, eta = 12, 10, 1.0, 0.1
    assert math.isclose(
        theory.expected_gd_risk_marchenko_pastur(n, d, sigma2, eta, 0), d, rel_tol=1e-12
    )
    n_plus_d = d * (1 - 2 * eta + eta**2 * (n + d) / n + eta**2 * sigma2 / n)
    assert math.isclose(
        theory.expected_gd_risk_marchenko_pastur(n, d, sigma2, eta, 1), n_plus_d, rel_tol=1e-12
    )
    assert math.isclose(
        theory.expected_gd_risk_marchenko_pastur(5, 20, 0.0, 0.05, 0), 20, rel_tol=1e-12
    )
    gaps = [
        abs(
            theory.expected_gd_risk_marchenko_pastur(k, k // 2, 1.0, 0.1, 50)
            / theory.expected_gd_risk(k, k // 2, 1.0, 0.1, 50)
            - 1
        )
        for k in (8, 32, 128)
    ]
    assert gaps[0] > gaps[1] > gaps[2]


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="n must"):
        theory.expected_gd_risk(0, 3, 1.0, 0.1, 5)
    with pytest.raises(ValueError, match=r"min\(n, d\) <= 256"):
        theory.expected_gd_risk(300, 257, 1.0, 0.001, 5)
    with pytest.raises(ValueError, match="n must be an integer <="):
        theory.expected_gd_risk(10**6 + 1, 3, 1.0, 0.001, 5)
    with pytest.raises(ValueError, match="eta"):
        theory.expected_gd_risk(10, 3, 1.0, 0.0, 5)
    with pytest.raises(ValueError, match="T must"):
        theory.expected_gd_risk(10, 3, 1.0, 0.1, -1)
    with pytest.raises(ValueError, match="T must be an integer <="):
        theory.expected_gd_risk(10, 3, 1.0, 0.1, 10**6 + 1)
    with pytest.raises(ValueError, match="sigma2"):
        theory.expected_gd_risk(10, 3, -1.0, 0.1, 5)
    with pytest.raises(ValueError, match="psi2"):
        theory.expected_gd_risk(10, 3, 1.0, 0.1, 5, psi2=0.0)
    with pytest.raises(ValueError, match="diverges on designs of probability at most"):
        theory.expected_gd_risk(
            1, 1, 1.0, 0.2, 5
        )  # P(chi2_1 > 10) = 1.6e-3: GD diverges on too many designs
    with pytest.raises(ValueError, match="Marchenko-Pastur edge"):
        theory.expected_gd_risk_marchenko_pastur(12, 10, 1.0, 0.6, 5)
    with pytest.raises(ValueError, match="beta"):
        theory.wishart_eigenvalue_density(1.0, 3, 3, beta=4)
    with pytest.raises(ValueError, match=r"s must be in \(0, inf\)"):
        theory.wishart_eigenvalue_density(np.array([0.0, 1.0]), 3, 3)


def _moment_series(n, d, sigma2, eta, T, psi2=1.0):
    """E sum_j f_T(s_j) from the exact moments E tr S^k, k <= 4, for eta so small that the terms
    beyond are below 1e-25 (no density, no quadrature: Wick's theorem only)."""
    M = [d] + [mpmath.mpf(trace_moment(n, d, k)) / n**k for k in range(1, 5)]
    eta = mpmath.mpf(eta)
    # psi2 (1 - eta s)^{2T} and (sigma2/n) (1 - (1 - eta s)^T)^2 / s as polynomials in s
    bias = sum(mpmath.binomial(2 * T, k) * (-eta) ** k * M[k] for k in range(5))
    one_minus = [-mpmath.binomial(T, k) * (-eta) ** k for k in range(1, 5)]  # 1 - (1 - eta s)^T
    noise = sum(
        one_minus[i] * one_minus[j] * M[i + j + 1] for i in range(4) for j in range(4) if i + j < 4
    )
    return float(psi2 * bias + mpmath.mpf(sigma2) / n * noise)


@pytest.mark.parametrize(
    "n,d,sigma2,eta,T",
    [
        (128, 32, 0.0, 1e-8, 100),
        (20, 5, 0.25, 1e-8, 3),
        (20, 5, 0.25, 1e-20, 3),
        (7, 9, 1.0, 1e-9, 50),
    ],
)
def test_tiny_steps_are_answered_and_match_the_exact_moments(n, d, sigma2, eta, T):
    """Issue 22, defect 11: eta = 1e-8 raised RuntimeError (the tail quadrature), 1e-20
    IndexError; the answer is psi2 d to first order."""
    assert math.isclose(
        theory.expected_gd_risk(n, d, sigma2, eta, T),
        _moment_series(n, d, sigma2, eta, T),
        rel_tol=1e-12,
    )


def test_noiseless_long_chains_are_answered_to_their_relative_accuracy():
    """Issue 22, defect 11: sigma2 = 0, T = 10^5 was refused, an absolute gap bound (5.9e-44)
    compared with 1e-7 of a risk of 1.3e-106; the bound is now relative to L_T."""
    value = theory.expected_gd_risk(128, 32, 0.0, 0.1, 100_000)
    from tests.accuracy.ref_wishart import _expected  # after the call under test

    assert math.isclose(value, _expected(128, 32, 0.0, 0.1, 100_000), rel_tol=1e-8)
    assert 1e-107 < value < 1e-105
    parts = theory.gd_risk_parts(128, 32, 0.0, 0.1, 100_000)
    assert parts.bound <= 1e-7 * parts.typical and parts.log10_p_divergent < -7


def test_gap_bound_holds_against_a_monte_carlo_of_the_conditioned_risk():
    """K [(d - m) psi2 + L'_T] bounds L_T - E[R_T; stable] where the gap is large enough to
    measure: eta near the edge, n = d = 2."""
    n, d, sigma2, eta, T = 2, 2, 0.5, 0.35, 4
    parts = theory.gd_risk_parts(n, d, sigma2, eta, T)
    X = torch.randn(400_000, n, d, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    s = torch.linalg.eigvalsh(X.transpose(1, 2) @ X / n)
    stable = (eta * s.max(1).values <= 2).double()
    risk = theory.gd_risk_given_spectrum(s, n, eta=eta, steps=T, sigma2=sigma2)
    gap = parts.typical - (risk * stable).mean().item()
    stderr = (risk * stable).std().item() / 400_000**0.5
    assert gap >= -4 * stderr
    assert gap <= parts.bound + 4 * stderr
    assert parts.bound < 0.5 * parts.typical  # the bound is not vacuous here


def _monomial_density(x, m, p, digits):
    """rho(x) from de Bruijn's Pfaffian in the monomial basis x^{a+j} e^{-x/2}, j < m, at
    ``digits`` digits: skew products by the recurrences I(b, c) = 2c I(b, c-1) + 2 Gamma(b+c+1),
    I(b, c) = 2b I(b-1, c) - 2 Gamma(b+c+1), I(a, a) = (2^{a+1} Gamma(a+1))^2 / 2."""
    with mpmath.workdps(digits):
        a = mpmath.mpf(p - m - 1) / 2
        b = [a + j for j in range(m)]
        skew = [[None] * m for _ in range(m)]
        skew[0][0] = (2 ** (a + 1) * mpmath.gamma(a + 1)) ** 2 / 2
        for j in range(m):
            if j > 0:
                skew[j][0] = 2 * b[j] * skew[j - 1][0] - 2 * mpmath.gamma(b[j] + b[0] + 1)
            for k in range(1, m):
                skew[j][k] = 2 * b[k] * skew[j][k - 1] + 2 * mpmath.gamma(b[j] + b[k] + 1)
        odd = m % 2
        A = mpmath.zeros(m + odd, m + odd)
        for j in range(m):
            for k in range(m):
                A[j, k] = skew[j][k] - skew[k][j]
            if odd:
                A[j, m] = 2 ** (b[j] + 1) * mpmath.gamma(b[j] + 1)
                A[m, j] = -A[j, m]
        B = mpmath.inverse(A)
        x = mpmath.mpf(x)
        phi = [x ** b[j] * mpmath.exp(-x / 2) for j in range(m)]
        Phi = [
            2 ** (b[k] + 1) * (mpmath.gamma(b[k] + 1) - 2 * mpmath.gammainc(b[k] + 1, 0, x / 2))
            for k in range(m)
        ]
        rho = mpmath.fsum(B[k, j] * phi[j] * Phi[k] for j in range(m) for k in range(m))
        if odd:
            rho += mpmath.fsum(B[m, j] * phi[j] for j in range(m))
        return rho


@pytest.mark.parametrize("m,p", [(1, 3), (2, 2), (3, 7), (4, 9), (5, 5), (6, 11)])
def test_census_reference_density_against_a_monomial_pfaffian(m, p):
    """The accuracy census's reference density (the AFNvM form, tests/accuracy/ref_wishart.py)
    against de Bruijn's Pfaffian in another basis (monomials), at 2m + 40 digits."""
    from tests.accuracy.ref_wishart import _loe

    e = _loe(m, p)
    for x in (0.05, 1.0, p * 1.0, 3.0 * e.edge):
        exact = _monomial_density(x, m, p, 2 * m + 40)
        with mpmath.workdps(30):
            assert abs(e.rho_mp(x) / exact - 1) < 1e-25
        long_double = float(np.exp(e.log_rho(np.array([x], dtype=np.longdouble))[0]))
        assert abs(long_double / float(exact) - 1) < 1e-13  # P(a+1, x/2) in float64


@pytest.mark.parametrize("n,d", [(12, 10), (3, 40), (200, 7)])
def test_census_reference_statistic_against_the_exact_moments(n, d):
    from tests.accuracy.ref_wishart import _label, _statistic

    for k in range(1, 5):
        value = _statistic(_label("s^k", k, 1.0), n, d)
        assert math.isclose(value, trace_moment(n, d, k) / n**k, rel_tol=1e-13), k


def test_large_p_density_keeps_its_relative_accuracy():
    """p up to 10^6: r_0 and the constants formed without log-gammas of size p log p (a general
    matrix inverse and a cancelling constant lost 2e-10 at p = 10^5)."""
    from tests.accuracy.ref_wishart import _density

    s = np.array([0.99, 1.0, 1.003])
    for n, d in [(10**5, 3), (10**6, 40)]:
        value = theory.wishart_eigenvalue_density(s, n, d)
        assert np.allclose(value, _density(s, n, d), rtol=1e-11, atol=0)


def test_chapter_three_values_against_the_census_reference():
    """The values Chapter 3 uses (issue 22, defects 2 and 3): ridge GD at the Bayes penalty and
    the Bayes risk, each against the independent reference (AFNvM density, long double)."""
    from tests.accuracy.ref_wishart import _label, _log_typical, _statistic

    typical = theory.gd_risk_parts(12, 10, 1.0, 1 / 16, 480, lam=1 / 12).typical
    assert abs(typical - 2.145278) < 5e-7
    assert math.isclose(
        typical, math.exp(_log_typical(12, 10, 1.0, 1 / 16, 480, 1.0, 1 / 12)), rel_tol=1e-9
    )
    bayes = theory.wishart_linear_statistic(lambda s: (1 / 12) / (s + 1 / 12), 12, 10)
    assert abs(bayes - 2.144968) < 5e-7
    assert math.isclose(bayes, _statistic(_label("c / (s + c)", 0, 1 / 12), 12, 10), rel_tol=1e-9)
