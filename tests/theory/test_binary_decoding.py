import itertools
import math
import time
from fractions import Fraction

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
import torch
from scipy import integrate, special, stats

from icl import runtime, tasks, theory
from icl.harness import montecarlo
from icl.techniques import plurality_vote


def brute_plurality(probs, N, correct=0, ties="uniform"):
    total = 0.0
    for counts in itertools.product(range(N + 1), repeat=len(probs)):
        if sum(counts) != N or counts[correct] != max(counts):
            continue
        tied = sum(c == counts[correct] for c in counts)
        weight = 1 / tied if ties == "uniform" else float(tied == 1)
        total += (
            weight
            * math.factorial(N)
            * np.prod([p**c / math.factorial(c) for p, c in zip(probs, counts)])
        )
    return total


@pytest.mark.parametrize("n,d,s2", [(1, 2, 1.0), (6, 4, 0.5), (40, 50, 0.5), (1000, 10, 2.0)])
def test_the_quadratures_scalar_density_is_the_array_density(n, d, s2):
    """The quadratures evaluate the margin density one float at a time in scalar arithmetic; it is
    the array formula's value, at u = 0, at tiny |u| (where K_nu overflows for large nu) and in
    both tails."""
    from icl.theory.binary_decoding import _margin_density_function

    density = _margin_density_function(n, d, s2)
    u = np.concatenate([np.linspace(-4 * n - 60, 6 * n + 60, 401), [0.0, 1e-300, -1e-12, 1e4]])
    arrays = density(u)
    scalars = np.array([density(float(v)) for v in u])
    assert all(type(density(float(v))) is float for v in u[:3])
    np.testing.assert_allclose(scalars, arrays, rtol=1e-13, atol=0)


@pytest.mark.parametrize("n,d,s2", [(20, 10, 0.25), (5, 10, 0.5), (3, 30, 0.0), (1, 2, 1.0)])
def test_greedy_error_is_the_mass_of_the_margin_density_below_zero(n, d, s2):
    below = integrate.quad(lambda u: theory.margin_density(u, n, d, s2), -np.inf, 0, limit=200)[0]
    total = (
        below
        + integrate.quad(lambda u: theory.margin_density(u, n, d, s2), 0, np.inf, limit=200)[0]
    )
    assert abs(total - 1) < 1e-7
    assert abs(below - theory.greedy_sign_error(n, d, s2)) < 1e-7


def test_greedy_error_formula_and_degenerate_case():
    assert theory.greedy_sign_error(20, 10, 0.25) == pytest.approx(
        stats.t.sf(math.sqrt(20 / 9.25), 20)
    )
    assert theory.greedy_sign_error(7, 1, 0.0) == 0.0


def test_margin_density_moments_match_the_mgf():
    n, d, s2 = 6, 4, 0.5  # E u = n, Var u = n (2 + s2) with s2 = d - 1 + sigma2
    spread = d - 1 + s2
    mean = integrate.quad(
        lambda u: u * theory.margin_density(u, n, d, s2), -np.inf, np.inf, limit=200
    )[0]
    second = integrate.quad(
        lambda u: u**2 * theory.margin_density(u, n, d, s2), -np.inf, np.inf, limit=200
    )[0]
    assert mean == pytest.approx(n, rel=1e-7)
    assert second - mean**2 == pytest.approx(n * (2 + spread), rel=1e-6)
    assert theory.margin_density(np.array([-1.0, 0.0, 2.0]), n, d, s2).shape == (3,)


def test_greedy_and_sampled_error_against_small_monte_carlo():
    n, d, s2, T = 8, 5, 0.5, 0.7

    def sample(batch, gen):
        p = tasks.sample_prompts(
            batch, n, d, prior="rademacher", sigma2=s2, generator=gen, device="cpu"
        )
        u = p.w * torch.einsum("bnd,bn->bd", p.X, p.y)
        wrong_sample = torch.rand(u.shape, generator=gen, dtype=u.dtype) >= torch.sigmoid(
            2 * u / (n * T)
        )
        return torch.stack([(u < 0).to(u.dtype).mean(1), wrong_sample.to(u.dtype).mean(1)], 1)

    est = montecarlo.estimate_mean(sample, 40000, seed=3, dev="cpu")
    assert abs(est[0].mean - theory.greedy_sign_error(n, d, s2)) < 4 * est[0].stderr
    assert abs(est[1].mean - theory.sampled_sign_error(n, d, s2, 1.0, T)) < 4 * est[1].stderr


def test_sampled_error_limits_and_eta_over_T():
    n, d, s2 = 20, 10, 0.25
    assert theory.sampled_sign_error(n, d, s2, 1.0, 1e-4) == pytest.approx(
        theory.greedy_sign_error(n, d, s2), abs=1e-5
    )
    assert theory.sampled_sign_error(n, d, s2, 1.0, 1e3) == pytest.approx(0.5 - 1 / 2e3, abs=1e-8)
    assert theory.sampled_sign_error(n, d, s2, 2.0, 1.0) == pytest.approx(
        theory.sampled_sign_error(n, d, s2, 1.0, 0.5)
    )
    assert theory.sampled_sign_error(3, 1, 0.0, 1.0, 1.0) < 0.5


def test_majority_vote_accuracy_against_sympy_and_identities():
    p = sp.Symbol("p")
    for N in range(1, 9):
        exact = sum(sp.binomial(N, m) * p**m * (1 - p) ** (N - m) for m in range(N // 2 + 1, N + 1))
        if N % 2 == 0:
            exact += sp.Rational(1, 2) * sp.binomial(N, N // 2) * (p * (1 - p)) ** (N // 2)
        for value in (0.0, 0.3, 0.5, 0.81, 1.0):
            assert theory.majority_vote_accuracy(value, N) == pytest.approx(
                float(exact.subs(p, value))
            )
    grid = np.linspace(0, 1, 11)
    assert np.allclose(
        theory.majority_vote_accuracy(grid, 6), theory.majority_vote_accuracy(grid, 5)
    )
    assert np.allclose(
        theory.majority_vote_accuracy(1 - grid, 7), 1 - theory.majority_vote_accuracy(grid, 7)
    )


@pytest.mark.parametrize("N", [1, 2, 3, 4, 7, 10])
def test_majority_vote_accuracy_on_tensors_brute_force(N):
    q = torch.tensor([0.0, 0.2, 0.5, 0.73, 1.0], dtype=torch.float64)
    expected = []
    for qq in q.tolist():
        total = 0.0
        for outcome in itertools.product([0, 1], repeat=N):
            right = sum(outcome)
            weight = 1.0 if 2 * right > N else 0.5 if 2 * right == N else 0.0
            total += weight * qq**right * (1 - qq) ** (N - right)
        expected.append(total)
    accuracy = theory.majority_vote_accuracy(q, N)
    assert torch.is_tensor(accuracy) and accuracy.dtype == q.dtype
    assert np.allclose(accuracy.numpy(), expected, atol=1e-12)


def test_majority_vote_accuracy_on_tensors_errors_and_even_identity():
    q = torch.rand(10, dtype=torch.float64)
    assert torch.allclose(
        theory.majority_vote_accuracy(q, 2), q
    )  # a tie of two is a coin: A_2(q) = q
    with pytest.raises(ValueError, match="N must"):
        theory.majority_vote_accuracy(q, 0)
    with pytest.raises(ValueError, match="p must"):
        theory.majority_vote_accuracy(torch.tensor([1.2]), 3)


def test_vote_sign_accuracy_limits():
    n, d, s2 = 20, 10, 0.25
    assert theory.vote_sign_accuracy(n, d, s2, 1.0, 1.0, 1) == pytest.approx(
        1 - theory.sampled_sign_error(n, d, s2, 1.0, 1.0)
    )
    assert theory.vote_sign_accuracy(n, d, s2, 1.0, 1.0, 2) == pytest.approx(
        theory.vote_sign_accuracy(n, d, s2, 1.0, 1.0, 1)
    )
    big = theory.vote_sign_accuracy(n, d, s2, 1.0, 1.0, 5000)
    assert big < 1 - theory.greedy_sign_error(n, d, s2) < big + 1e-3


@pytest.mark.parametrize("n,d,s2", [(20, 10, 0.25), (5, 3, 0.5), (2, 2, 0.0), (7, 1, 0.3)])
def test_margin_density_is_tilted_by_its_reflection(n, d, s2):
    u = np.array([0.05, 0.3, 1.0, 4.0, 15.0])
    spread = d - 1 + s2
    ratio = theory.margin_density(-u, n, d, s2) / theory.margin_density(u, n, d, s2)
    assert np.allclose(ratio, np.exp(-2 * u / spread), rtol=1e-9)
    assert not np.allclose(ratio, np.exp(-2 * u / (d + s2)), rtol=1e-3)  # the slip d + sigma2


def test_calibration_temperature_value_and_posterior():
    assert theory.calibration_temperature(20, 10, 0.25, 1.0) == pytest.approx(9.25 / 20)
    assert theory.calibration_temperature(16, 8, 4.0, 2.0) == pytest.approx(2 * 11 / 16)
    assert theory.calibration_temperature(5, 1, 0.0, 1.0) == 0.0
    n, d, s2, eta = 6, 4, 0.5, 0.7
    t_cal = theory.calibration_temperature(n, d, s2, eta)
    for h in (
        -1.3,
        -0.2,
        0.05,
        0.6,
        2.0,
    ):  # P(w_j = +1 | w_hat_j = h) from the two conditional densities
        plus, minus = (
            theory.margin_density(n * h / eta, n, d, s2),
            theory.margin_density(-n * h / eta, n, d, s2),
        )
        assert plus / (plus + minus) == pytest.approx(1 / (1 + math.exp(-2 * h / t_cal)), rel=1e-9)


def test_linear_decoder_is_calibrated_against_monte_carlo():
    n, d, s2, eta = 5, 3, 0.5, 1.0
    t_cal = theory.calibration_temperature(n, d, s2, eta)

    def paired(
        batch, gen
    ):  # (1{w_j = +1} - sigmoid(2 w_hat_j / T)) sign(w_hat_j), averaged over j, at T_cal, two slips
        p = tasks.sample_prompts(
            batch, n, d, prior="rademacher", sigma2=s2, generator=gen, device="cpu"
        )
        w_hat = eta * torch.einsum("bnd,bn->bd", p.X, p.y) / n
        plus = (p.w > 0).to(w_hat.dtype)
        temps = [t_cal, eta * (d + s2) / n, eta * (d - 1) / n]
        return torch.stack(
            [((plus - torch.sigmoid(2 * w_hat / t)) * torch.sign(w_hat)).mean(1) for t in temps], 1
        )

    est = montecarlo.estimate_mean(paired, 100_000, seed=4, dev="cpu")
    assert abs(est[0].mean) < 4 * est[0].stderr
    assert abs(est[1].mean) > 4 * est[1].stderr and abs(est[2].mean) > 4 * est[2].stderr


@pytest.mark.parametrize("N", [1, 2, 5, 30, 400])
@pytest.mark.parametrize("T", [0.05, 0.5, 3.0])
def test_vote_never_beats_greedy_and_the_pairing_identity(N, T):
    n, d, s2, eta = 20, 10, 0.25, 1.0
    spread, c = d - 1 + s2, 2 * eta / (n * T)
    gap = theory.vote_sign_accuracy(n, d, s2, eta, T, N) - (1 - theory.greedy_sign_error(n, d, s2))
    paired = integrate.quad(
        lambda u: (
            theory.margin_density(u, n, d, s2)
            * (1 - theory.majority_vote_accuracy(1 / (1 + math.exp(-c * u)), N))
            * math.expm1(-2 * u / spread)
        ),
        0,
        np.inf,
        limit=400,
        epsabs=1e-13,
    )[0]
    assert gap < 0 and paired < 0
    assert gap == pytest.approx(paired, rel=1e-6, abs=1e-11)


def _orthant_by_recursion(k, d, rho):
    """P(Z_1 < k, ..., Z_d < k), equicorrelated rho: condition on Z_1, the rest are equicorrelated
    rho/(1 + rho)."""
    if d == 1:
        return float(special.ndtr(k))
    sd = math.sqrt(1 - rho**2)
    return integrate.quad(
        lambda z: (
            math.exp(-z * z / 2)
            / math.sqrt(2 * math.pi)
            * _orthant_by_recursion((k - rho * z) / sd, d - 1, rho / (1 + rho))
        ),
        -np.inf,
        k,
        epsabs=1e-14,
        epsrel=1e-12,
        limit=200,
    )[0]


def _orthant(k, d, s2):
    """P(Z_1 < k, ..., Z_d < k), unit variances, equal correlation -1/s2, from the package's
    ``_orthant_logs`` (G = -Z sqrt(s2 / D), D = s2 + 1, so Z_i < k is G_i > -k sqrt(s2 / D))."""
    from icl.theory.binary_decoding import _orthant_logs

    m = k * math.sqrt(s2 / (s2 + 1))
    return float(np.exp(_orthant_logs(np.array([m]), d, s2 - d + 1)[0]))


def test_equicorrelated_orthant_against_recursion_and_degenerate_forms():
    for d, s2, k in [(2, 1.25, 0.7), (2, 3.0, 1.5), (3, 2.001, 0.4), (3, 12.0, 2.2)]:
        reference = _orthant_by_recursion(k, d, -1 / s2)
        assert _orthant(k, d, s2) == pytest.approx(reference, abs=1e-12, rel=1e-11)
    for k in (0.1, 1.0, 3.0):  # d = 2, correlation -1: P(|Z| < k)
        assert _orthant(k, 2, 1.0) == pytest.approx(2 * stats.norm.cdf(k) - 1, abs=1e-12, rel=1e-12)
    # sum zero: not all below 0, and the probability falls like k^(d-1) as k -> 0
    assert _orthant(1e-6, 4, 3.0) < 1e-15
    assert _orthant(40.0, 10, 9.5) == pytest.approx(1.0, abs=1e-12)


def test_greedy_exact_recovery_exact_values():
    for n in (
        1,
        4,
        20,
    ):  # d = 1: one sign; d = 2 and sigma2 = 0: |Z| < sqrt(V), Z^2 / (V / n) ~ F(1, n)
        assert theory.greedy_exact_recovery(n, 1, 0.4) == pytest.approx(
            1 - theory.greedy_sign_error(n, 1, 0.4), abs=1e-14
        )
        assert theory.greedy_exact_recovery(n, 2, 0.0) == pytest.approx(
            stats.f.cdf(n, 1, n), abs=1e-11
        )
    n, d, s2 = 6, 2, 0.5
    spread = d - 1 + s2
    chi_pdf = lambda t: math.exp(
        (n - 1) * math.log(t) - t * t / 2 - (n / 2 - 1) * math.log(2) - math.lgamma(n / 2)
    )
    brute = integrate.quad(
        lambda t: chi_pdf(t) * _orthant_by_recursion(t / math.sqrt(spread), d, -1 / spread),
        0,
        20,
        epsabs=1e-13,
        epsrel=1e-11,
        limit=200,
    )[0]
    assert theory.greedy_exact_recovery(n, d, s2) == pytest.approx(brute, abs=1e-11)
    assert theory.greedy_exact_recovery(7, 1, 0.0) == 1.0


def test_greedy_exact_recovery_against_monte_carlo():
    n, d, s2 = 8, 4, 0.3

    def all_right(batch, gen):
        p = tasks.sample_prompts(
            batch, n, d, prior="rademacher", sigma2=s2, generator=gen, device="cpu"
        )
        return (p.w * torch.einsum("bnd,bn->bd", p.X, p.y) > 0).all(1).to(p.X.dtype)

    est = montecarlo.estimate_mean(all_right, 200_000, seed=6, dev="cpu")
    exact = theory.greedy_exact_recovery(n, d, s2)
    assert abs(est.mean - exact) < 4 * est.stderr
    assert (
        abs(est.mean - (1 - theory.greedy_sign_error(n, d, s2)) ** d) > 4 * est.stderr
    )  # independent coefficients


def test_pass_at_k_is_unbiased_and_matches_the_binomial_form():
    q = sp.Symbol("q")
    for n in range(1, 7):
        for k in range(1, n + 1):
            mean = sum(
                sp.binomial(n, c)
                * q**c
                * (1 - q) ** (n - c)
                * sp.nsimplify(theory.unbiased_pass_at_k(n, c, k), tolerance=1e-12)
                for c in range(n + 1)
            )
            assert sp.expand(mean - (1 - (1 - q) ** k)) == 0
    assert theory.unbiased_pass_at_k(10, 0, 3) == 0.0
    assert theory.pass_at_k is theory.unbiased_pass_at_k  # its former name still works
    assert theory.unbiased_pass_at_k(10, 8, 3) == 1.0
    assert theory.unbiased_pass_at_k(100, 5, 10) == pytest.approx(
        1 - math.comb(95, 10) / math.comb(100, 10)
    )


def test_pass_at_k_elementwise_on_tensors():
    n = torch.tensor([10, 10, 10, 5, 7])
    c = torch.tensor([0, 3, 9, 5, 2])
    expected = [1 - math.comb(int(nn - cc), 4) / math.comb(int(nn), 4) for nn, cc in zip(n, c)]
    estimate = theory.unbiased_pass_at_k(n, c, 4)
    assert torch.is_tensor(estimate) and estimate.dtype == torch.float64
    assert np.allclose(estimate.numpy(), expected, atol=1e-12)
    assert np.allclose(theory.unbiased_pass_at_k(n.numpy(), c.numpy(), 4), expected, atol=1e-12)
    # unbiased: averaging over c ~ Bin(n, p) gives 1 - (1 - p)^k exactly
    nn, pp, k = 12, 0.3, 5
    cs = torch.arange(nn + 1)
    mean = (
        theory.unbiased_pass_at_k(torch.full_like(cs, nn), cs, k).numpy()
        * stats.binom.pmf(cs.numpy(), nn, pp)
    ).sum()
    assert math.isclose(mean, 1 - (1 - pp) ** k, rel_tol=1e-10)
    with pytest.raises(ValueError, match="c <= n"):
        theory.unbiased_pass_at_k(torch.tensor([3]), torch.tensor([4]), 1)
    with pytest.raises(ValueError, match="k <= n"):
        theory.unbiased_pass_at_k(torch.tensor([3]), torch.tensor([1]), 4)
    with pytest.raises(ValueError, match="integers"):
        theory.unbiased_pass_at_k(torch.tensor([3.0]), torch.tensor([1]), 2)


@pytest.mark.parametrize(
    "probs,N",
    [
        ([0.5, 0.3, 0.2], 7),
        ([0.2, 0.2, 0.2, 0.4], 6),
        ([0.1, 0.3, 0.3, 0.3], 9),
        ([0.34, 0.33, 0.33], 10),
        ([0.25, 0.25, 0.25, 0.25], 4),
        ([0.05, 0.05, 0.9], 5),
    ],
)
def test_plurality_vote_against_brute_force(probs, N):
    for correct in range(len(probs)):
        assert theory.plurality_vote_accuracy(probs, N, correct=correct) == pytest.approx(
            brute_plurality(probs, N, correct), abs=1e-10
        )
        assert theory.plurality_vote_accuracy(
            probs, N, correct=correct, ties="lose"
        ) == pytest.approx(brute_plurality(probs, N, correct, ties="lose"), abs=1e-10)


def test_plurality_vote_special_cases():
    assert theory.plurality_vote_accuracy([0.6, 0.4], 8) == pytest.approx(
        theory.majority_vote_accuracy(0.6, 8)
    )
    assert theory.plurality_vote_accuracy([1.0], 5) == 1.0
    assert theory.plurality_vote_accuracy([0.0, 1.0], 5) == 0.0
    assert theory.plurality_vote_accuracy([0.3, 0.7, 0.0], 1) == pytest.approx(0.3)
    probs = np.full(50, 0.02)  # symmetric: each answer wins with probability 1/50
    assert theory.plurality_vote_accuracy(probs, 30) == pytest.approx(0.02, abs=1e-9)


def _three_answer_vote(log_weight, N: int, ties: str) -> float:
    """Exact vote over three answers: the sum over count vectors (a, b, N - a - b) with the
    correct answer's count a the largest, of exp(log_weight(a, b, c)) split over the ties."""
    a, b = np.arange(N + 1)[:, None], np.arange(N + 1)[None, :]
    c = N - a - b
    valid = (c >= 0) & (a >= b) & (a >= c)
    tied = 1 + (b == a) + (c == a)
    share = 1.0 / tied if ties == "uniform" else (tied == 1).astype(float)
    with np.errstate(invalid="ignore"):
        terms = np.where(valid, share * np.exp(log_weight(a, b, np.maximum(c, 0))), 0.0)
    return float(terms.sum())


@pytest.mark.parametrize("ties", ["uniform", "lose"])
def test_votes_where_the_correct_answer_outnumbers_the_transform_length(ties):
    """N = 200 at p = 0.8: the correct answer's count m reaches 170 while the others share s = 30
    votes, more than the Fourier transform's length for s (128); every m > s wins outright."""
    N, lg = 200, special.gammaln
    probs = np.array([0.8, 0.12, 0.08])
    multinomial = _three_answer_vote(
        lambda a, b, c: (
            lg(N + 1)
            - lg(a + 1)
            - lg(b + 1)
            - lg(c + 1)
            + a * np.log(probs[0])
            + b * np.log(probs[1])
            + c * np.log(probs[2])
        ),
        N,
        ties,
    )
    assert theory.plurality_vote_accuracy(probs, N, ties=ties) == pytest.approx(
        multinomial, abs=1e-10
    )
    assert theory.plurality_vote_accuracy([0.8, 0.2], N, ties=ties) == pytest.approx(
        theory.majority_vote_accuracy(0.8, N)
        if ties == "uniform"
        else stats.binom.sf(N // 2, N, 0.8)
    )
    counts = np.array([240, 36, 24])

    def log_choose(n, k):
        return lg(n + 1) - lg(k + 1) - lg(n - k + 1)

    hypergeometric = _three_answer_vote(
        lambda a, b, c: (
            log_choose(counts[0], a)
            + log_choose(counts[1], b)
            + log_choose(counts[2], c)
            - log_choose(counts.sum(), N)
        ),
        N,
        ties,
    )
    assert theory.subsample_vote_accuracy(counts, N, ties=ties) == pytest.approx(
        hypergeometric, abs=1e-10
    )


def test_plurality_vote_against_simulation_with_many_answers():
    probs = np.r_[0.02, np.full(196, 0.005)]
    N = 300
    gen = runtime.generator(5, "cpu")
    answers = torch.multinomial(
        torch.tensor(probs), 4000 * N, replacement=True, generator=gen
    ).reshape(4000, N)
    won = (plurality_vote(answers, gen) == 0).double()
    exact = theory.plurality_vote_accuracy(probs, N)
    assert abs(won.mean().item() - exact) < 4 * math.sqrt(exact * (1 - exact) / 4000)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: theory.greedy_sign_error(0, 2, 0.1), "n must"),
        (lambda: theory.greedy_sign_error(2, 0, 0.1), "d must"),
        (lambda: theory.greedy_sign_error(2, 2, -1.0), "sigma2"),
        (lambda: theory.margin_density(0.5, 3, 1, 0.0), "d >= 2"),
        (lambda: theory.sampled_sign_error(3, 2, 0.1, 0.0, 1.0), "eta"),
        (lambda: theory.sampled_sign_error(3, 2, 0.1, 1.0, 0.0), "temperature"),
        (lambda: theory.vote_sign_accuracy(3, 2, 0.1, 1.0, 1.0, 0), "N must"),
        (lambda: theory.vote_sign_accuracy(3, 2, 0.1, 1.0, -1.0, 3), "temperature"),
        (lambda: theory.calibration_temperature(0, 2, 0.1, 1.0), "n must"),
        (lambda: theory.calibration_temperature(3, 0, 0.1, 1.0), "d must"),
        (lambda: theory.calibration_temperature(3, 2, -0.1, 1.0), "sigma2"),
        (lambda: theory.calibration_temperature(3, 2, 0.1, 0.0), "eta"),
        (lambda: theory.greedy_exact_recovery(0, 2, 0.1), "n must"),
        (lambda: theory.greedy_exact_recovery(3, 0, 0.1), "d must"),
        (lambda: theory.greedy_exact_recovery(3, 2, -1.0), "sigma2"),
        (lambda: theory.greedy_exact_recovery(3, 2, float("nan")), "sigma2"),
        (lambda: theory.majority_vote_accuracy(1.2, 3), "p must"),
        (lambda: theory.majority_vote_accuracy(0.5, 0), "N must"),
        (lambda: theory.unbiased_pass_at_k(5, 2, 6), "k <= n"),
        (lambda: theory.unbiased_pass_at_k(5, 6, 2), "c <= n"),
        (lambda: theory.unbiased_pass_at_k(5, -1, 2), "c must"),
        (lambda: theory.unbiased_pass_at_k(5, 1, 0), "k must"),
        (lambda: theory.plurality_vote_accuracy([0.5, 0.6], 3), "sum to 1"),
        (lambda: theory.plurality_vote_accuracy([[0.5, 0.5]], 3), "1-D"),
        (lambda: theory.plurality_vote_accuracy([0.5, 0.5], 3, correct=2), "correct must index"),
        (lambda: theory.plurality_vote_accuracy([0.5, 0.5], 0), "N must"),
        (lambda: theory.plurality_vote_accuracy([0.5, 0.5], 3, ties="first"), "ties must"),
        (lambda: theory.plurality_vote_accuracy([0.5, 0.5], 3, tol=0.0), "tol"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def brute_subsample(counts, N, correct=0, ties="uniform"):
    """Average over all N-subsets of the stored answers (as an urn) of the vote's outcome."""
    urn = [a for a, c in enumerate(counts) for _ in range(c)]
    total, subsets = 0.0, 0
    for subset in itertools.combinations(range(len(urn)), N):
        tally = np.bincount([urn[i] for i in subset], minlength=len(counts))
        if tally[correct] == tally.max():
            tied = int((tally == tally.max()).sum())
            total += 1 / tied if ties == "uniform" else float(tied == 1)
        subsets += 1
    return total / subsets


@pytest.mark.parametrize(
    "counts,N",
    [
        ([3, 2, 2, 1], 4),
        ([2, 1, 1, 1, 1, 1], 5),
        ([1, 1, 1, 1, 1, 1, 1], 3),
        ([4, 4, 1], 6),
        ([2, 3], 5),
    ],
)
def test_subsample_vote_against_brute_force(counts, N):
    for correct in range(len(counts)):
        for ties in ("uniform", "lose"):
            assert theory.subsample_vote_accuracy(
                np.array(counts), N, correct=correct, ties=ties
            ) == pytest.approx(brute_subsample(counts, N, correct, ties), abs=1e-10)


def test_subsample_vote_is_unbiased_for_the_multinomial_vote():
    """E over the stored counts ~ Multinomial(S, pi) of the subsample vote equals the vote at pi:
    summed exactly over all 91 count vectors; the plug-in vote at counts / S is biased."""
    probs, S, N = np.array([0.4, 0.35, 0.25]), 12, 5
    tallies = [np.array([a, b, S - a - b]) for a in range(S + 1) for b in range(S + 1 - a)]
    weights = np.array([stats.multinomial.pmf(c, S, probs) for c in tallies])
    unbiased = sum(w * theory.subsample_vote_accuracy(c, N) for w, c in zip(weights, tallies))
    plug_in = sum(w * theory.plurality_vote_accuracy(c / S, N) for w, c in zip(weights, tallies))
    exact = theory.plurality_vote_accuracy(probs, N)
    assert weights.sum() == pytest.approx(1.0, abs=1e-14)
    assert unbiased == pytest.approx(exact, abs=1e-10)
    assert abs(plug_in - exact) > 1e-3  # the estimate this one replaces would be rejected
    assert theory.subsample_vote_accuracy(np.array([5, 0, 3]), 8) == 1.0
    assert theory.subsample_vote_accuracy(np.array([0, 3]), 2) == 0.0


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: theory.subsample_vote_accuracy(np.array([2, 1]), 4), r"N <= sum\(counts\)"),
        (lambda: theory.subsample_vote_accuracy(np.array([0.5, 0.5]), 1), "integers"),
        (lambda: theory.subsample_vote_accuracy(np.array([2, -1]), 1), "integers"),
        (
            lambda: theory.subsample_vote_accuracy(np.array([2, 1]), 1, correct=2),
            "correct must index",
        ),
        (lambda: theory.subsample_vote_accuracy(np.array([2, 1]), 0), "N must"),
        (lambda: theory.subsample_vote_accuracy(np.array([2, 1]), 1, ties="x"), "ties must"),
    ],
)
def test_subsample_vote_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def brute_vote(counts_of, weight_of, n_answers, N, correct, ties, codes):
    """Sum over every tally of N answers of weight_of(tally) times the vote's chance of picking
    ``correct``."""
    total = 0.0
    for tally in itertools.product(range(N + 1), repeat=n_answers):
        if sum(tally) != N or not counts_of(tally):
            continue
        top = max(tally)
        tied = [a for a in range(n_answers) if tally[a] == top]
        if correct not in tied:
            continue
        if ties == "uniform":
            win = 1 / len(tied)
        elif ties == "lose":
            win = float(len(tied) == 1)
        else:
            win = float(min(tied, key=lambda a: codes[a]) == correct)
        total += weight_of(tally) * win
    return total


@pytest.mark.parametrize(
    "probs,codes,N",
    [
        ([0.3, 0.3, 0.2, 0.2], [8, 2, 5, 11], 6),
        ([0.1, 0.3, 0.3, 0.3], [4, 1, 9, 2], 7),
        ([0.25] * 4, [3, 0, 2, 1], 4),
        ([0.5, 0.25, 0.25], [9, 8, 10], 5),
    ],
)
def test_smallest_tie_rule_exact_vote_against_brute_force(probs, codes, N):
    def multinomial(tally):
        return math.factorial(N) * np.prod([p**c / math.factorial(c) for p, c in zip(probs, tally)])

    for correct in range(len(probs)):
        exact = {
            ties: theory.plurality_vote_accuracy(
                probs,
                N,
                correct=correct,
                ties=ties,
                codes=np.array(codes) if ties == "smallest" else None,
            )
            for ties in ("uniform", "lose", "smallest")
        }
        for ties, value in exact.items():
            assert value == pytest.approx(
                brute_vote(lambda t: True, multinomial, len(probs), N, correct, ties, codes),
                abs=1e-10,
            )
        assert exact["lose"] <= exact["smallest"] + 1e-12
        if codes[correct] == min(codes):
            assert exact["smallest"] > exact["uniform"]
        if codes[correct] == max(codes):
            assert exact["smallest"] < exact["uniform"]


@pytest.mark.parametrize(
    "counts,codes,N",
    [
        ([3, 2, 2, 1], [7, 1, 9, 4], 4),
        ([2, 1, 1, 1, 1], [3, 2, 5, 1, 4], 5),
        ([4, 4, 1], [2, 1, 0], 6),
    ],
)
def test_smallest_tie_rule_exact_subset_vote_against_brute_force(counts, codes, N):
    S = sum(counts)

    def hypergeometric(tally):
        return np.prod([math.comb(c, t) for c, t in zip(counts, tally)]) / math.comb(S, N)

    for correct in range(len(counts)):
        exact = theory.subsample_vote_accuracy(
            np.array(counts), N, correct=correct, ties="smallest", codes=np.array(codes)
        )
        assert exact == pytest.approx(
            brute_vote(
                lambda t: all(a <= c for a, c in zip(t, counts)),
                hypergeometric,
                len(counts),
                N,
                correct,
                "smallest",
                codes,
            ),
            abs=1e-10,
        )


def test_smallest_tie_rule_exact_vote_against_simulated_votes():
    """Many rare answers, as in Chapter 6: simulated votes with ties="smallest" match the exact sum,
    not the uniform one."""
    probs = np.r_[0.03, np.full(97, 0.01)]
    codes = np.r_[
        40, np.arange(97) + (np.arange(97) >= 40)
    ]  # the correct answer has 40 smaller rivals and 57 larger ones
    N, reps = 10, 40000
    gen = runtime.generator(9, "cpu")
    draws = torch.multinomial(
        torch.tensor(probs), reps * N, replacement=True, generator=gen
    ).reshape(reps, N)
    won = (plurality_vote(torch.tensor(codes)[draws], ties="smallest") == 40).double().mean().item()
    exact = theory.plurality_vote_accuracy(probs, N, ties="smallest", codes=codes)
    se = math.sqrt(exact * (1 - exact) / reps)
    assert abs(won - exact) < 4 * se
    assert abs(won - theory.plurality_vote_accuracy(probs, N)) > 8 * se


def test_votes_needed_normal_approximation():
    delta, target = 0.05, 0.9
    n_star = theory.votes_needed(delta, target)
    assert math.isclose(n_star, (stats.norm.ppf(target) / (2 * delta)) ** 2, rel_tol=1e-10)
    exact = theory.majority_vote_accuracy(
        torch.tensor([0.5 + delta], dtype=torch.float64), round(n_star)
    ).item()
    assert abs(exact - target) < 0.01
    with pytest.raises(ValueError, match="delta"):
        theory.votes_needed(0.0, 0.9)
    with pytest.raises(ValueError, match="target"):
        theory.votes_needed(0.1, 0.5)
    with pytest.raises(ValueError):
        theory.votes_needed(0.6, 0.9)


@pytest.mark.parametrize(
    "call,match",
    [
        (
            lambda: theory.plurality_vote_accuracy([0.5, 0.5], 3, ties="smallest"),
            "codes must be given",
        ),
        (
            lambda: theory.plurality_vote_accuracy([0.5, 0.5], 3, codes=np.array([1, 2])),
            "codes must be given",
        ),
        (
            lambda: theory.plurality_vote_accuracy(
                [0.5, 0.5], 3, ties="smallest", codes=np.array([1, 1])
            ),
            "distinct integers",
        ),
        (
            lambda: theory.plurality_vote_accuracy(
                [0.5, 0.5], 3, ties="smallest", codes=np.array([1.0, 2.0])
            ),
            "distinct integers",
        ),
        (
            lambda: theory.subsample_vote_accuracy(
                np.array([2, 1]), 2, ties="smallest", codes=np.array([1, 2, 3])
            ),
            "distinct integers",
        ),
        (lambda: theory.subsample_vote_accuracy(np.array([2, 1]), 2, ties="first"), "ties must"),
    ],
)
def test_exact_vote_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(("n", "u"), [(100, 1e-12), (100, 1e-6), (200, 1e-3), (20, 1e-300)])
def test_margin_density_is_finite_where_the_bessel_function_overflows(n, u):
    """K_nu(alpha u) overflows at tiny u for large n; the density stays the exact variance-gamma
    value (mpmath, 40 digits)."""
    import mpmath as mp

    d, sigma2 = 10, 0.25
    s2 = d - 1 + sigma2
    with mp.workdps(40):
        lam, alpha, beta = mp.mpf(n) / 2, mp.sqrt(1 + s2) / s2, 1 / mp.mpf(s2)
        nu, x = lam - mp.mpf(1) / 2, mp.mpf(u)
        exact = (
            (alpha**2 - beta**2) ** lam
            * x**nu
            * mp.besselk(nu, alpha * x)
            * mp.e ** (beta * x)
            / (mp.sqrt(mp.pi) * mp.gamma(lam) * (2 * alpha) ** nu)
        )
    assert theory.margin_density(u, n, d, sigma2) == pytest.approx(float(exact), rel=1e-9)


def test_majority_vote_accuracy_at_probabilities_where_scipys_pmf_overflows():
    """scipy's binomial pmf raises OverflowError near p = 1e-306; A_2(p) = p exactly."""
    p = np.array([0.0, 1e-306, 1.138166521654063e-306, 0.3, 1.0])
    assert np.all(theory.majority_vote_accuracy(p, 100)[:3] == 0.0)
    assert theory.majority_vote_accuracy(p, 2) == pytest.approx(p, rel=1e-12, abs=0)


def test_vote_sign_accuracy_where_the_vote_is_a_sharp_step_at_a_singular_density():
    """n = 1 (log-singular margin density at 0), T = 0.01, N = 1000: the vote's step has width
    1e-4 on both sides of u = 0. Reference: quadrature over 160 geometric panels."""
    n, d, sigma2, eta, temperature, N = 1, 10, 0.25, 1.0, 0.01, 1000
    c = 2 * eta / (n * temperature)

    def integrand(u):
        vote = theory.majority_vote_accuracy(special.expit(c * u), N)
        return vote * theory.margin_density(u, n, d, sigma2)

    panels = np.logspace(-8, 3, 80)
    edges = np.concatenate([[-np.inf], -panels[::-1], [0.0], panels, [np.inf]])
    reference = sum(
        integrate.quad(integrand, a, b, limit=400, epsabs=1e-14, epsrel=1e-12)[0]
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    )
    value = theory.vote_sign_accuracy(n, d, sigma2, eta, temperature, N)
    assert value == pytest.approx(reference, abs=1e-10)


# Defects of issue #22: valid inputs far from the book's settings.


def _vg_density_mpmath(u: float, n: int, d: int, sigma2: float) -> float:
    """The variance-gamma density in mpmath at 40 digits (Bessel form)."""
    s2 = d - 1 + sigma2
    with mp.workdps(40):
        lam, alpha, beta = mp.mpf(n) / 2, mp.sqrt(1 + s2) / s2, 1 / mp.mpf(s2)
        nu, x = lam - mp.mpf(1) / 2, mp.mpf(u)
        return float(
            (alpha**2 - beta**2) ** lam
            * abs(x) ** nu
            * mp.besselk(nu, alpha * abs(x))
            * mp.e ** (beta * x)
            / (mp.sqrt(mp.pi) * mp.gamma(lam) * (2 * alpha) ** nu)
        )


@pytest.mark.parametrize(
    "u,n", [(1000.0, 2000), (2000.0, 2000), (2300.0, 2000), (-3.0, 2000), (500.0, 1001)]
)
def test_margin_density_right_where_the_bessel_function_overflows_at_large_order(u, n):
    """Issue #22 (6): the density at n = 2000, u = 1000 was 1.26e8 (exact 3.53e-23): the fallback
    for an overflowing ``kve`` was the small-argument form, wrong at large arguments."""
    exact = _vg_density_mpmath(u, n, 5, 0.25)
    assert theory.margin_density(u, n, 5, 0.25) == pytest.approx(exact, rel=1e-10, abs=0)


def test_margin_density_stays_finite_and_normalised_at_huge_n():
    """Issue #22 (6): inf from n ~ 5000, NaN from 1e5. Its mass is 1 and its mean n at every n
    (Gauss-Legendre over +-12 standard deviations, where it lives)."""
    for n in (5000, 10**5, 10**7):
        sd = math.sqrt(n * (2 + 4.25))
        nodes, weights = np.polynomial.legendre.leggauss(200)
        u = n + 12 * sd * nodes
        f = theory.margin_density(u, n, 5, 0.25)
        assert np.all(np.isfinite(f)) and np.all(f >= 0)
        assert 12 * sd * (weights @ f) == pytest.approx(1.0, abs=1e-9)
        assert 12 * sd * (weights @ (u * f)) == pytest.approx(n, rel=1e-10, abs=0)


def test_sampled_and_vote_right_at_large_n():
    """Issue #22 (6): sampled_sign_error(2000, 5, 0.25, 1, 1) was 8.8e22 (Monte Carlo 0.1197).
    With c = 2 eta / (n T) = 2 / n, c u -> 2 and, by the delta method, E sigmoid(-c u) =
    sigmoid(-2) + g''(2) Var(c u) / 2 + O(1/n^2), g(x) = sigmoid(-x), Var(c u) = 4 (2 + s2) / n:
    the integral must find the mass as it concentrates."""
    s = special.expit(-2.0)
    curvature = s * (1 - s) * (1 - 2 * s)
    for n in (10**6, 10**7, 10**8):
        limit = s + curvature / 2 * 4 * (2 + 4.25) / n
        assert theory.sampled_sign_error(n, 5, 0.25, 1.0, 1.0) == pytest.approx(
            limit, rel=1e-9, abs=0
        )
    value = theory.sampled_sign_error(2000, 5, 0.25, 1.0, 1.0)
    assert value == pytest.approx(s + curvature * 2 * 6.25 / 2000, rel=2e-5, abs=0)
    vote = theory.vote_sign_accuracy(2000, 5, 0.25, 1.0, 1.0, 11)
    assert 0.99 < vote < 1 - theory.greedy_sign_error(2000, 5, 0.25) + 1e-12


def test_sampled_error_relatively_accurate_when_tiny():
    """At a low temperature the error probability is the greedy one, 1e-32 here: the quadrature
    is relative, not absolute."""
    greedy = theory.greedy_sign_error(200, 2, 0.0)
    assert 1e-33 < greedy < 1e-31
    assert theory.sampled_sign_error(200, 2, 0.0, 1.0, 1e-6) == pytest.approx(
        greedy, rel=1e-6, abs=0
    )


@pytest.mark.parametrize("d", [8, 64, 128, 1000])
def test_greedy_exact_recovery_relatively_accurate_when_tiny(d):
    """Issue #22 (10): at n = 1, sigma2 = 0 every coefficient must share the sign of y = sum z:
    P = 2^(1-d). It was 5.9e-16 at d = 64 (absolute accuracy only) and 0.0 at d = 128."""
    assert theory.greedy_exact_recovery(1, d, 0.0) == pytest.approx(
        2.0 ** (1 - d), rel=1e-12, abs=0
    )


def test_greedy_exact_recovery_at_large_n():
    """Issue #22 (10): an error of 1e-10 at n = 1e5. Each coefficient is wrong with probability
    greedy_sign_error (below 1e-300 here), so P is 1 to double precision."""
    assert theory.greedy_sign_error(10**5, 10, 0.25) < 1e-300
    assert theory.greedy_exact_recovery(10**5, 10, 0.25) == pytest.approx(1.0, abs=1e-15)
    assert theory.greedy_exact_recovery(100, 2, 0.0) == pytest.approx(
        stats.f.cdf(100, 1, 100), rel=1e-13
    )


def test_votes_answer_in_bounded_time():
    """Issue #22 (12): plurality_vote_accuracy([0.4, 0.3, 0.3], 30000) took 6-12 s (more at
    1e5) for an answer that is 1 by a Chernoff bound, (1 - (sqrt 0.4 - sqrt 0.3)^2)^N ~ 1e-94 per
    rival."""
    start = time.perf_counter()
    for N in (30000, 10**5, 10**9):
        assert theory.plurality_vote_accuracy([0.4, 0.3, 0.3], N) == 1.0
        assert theory.plurality_vote_accuracy([0.3, 0.4, 0.3], N) == 0.0
        assert theory.subsample_vote_accuracy(np.array([4 * N, 3 * N, 3 * N]), N) == 1.0
    assert time.perf_counter() - start < 2.0
    with pytest.raises(ValueError, match="Chernoff"):  # a close contest beyond the exact sums
        theory.plurality_vote_accuracy([0.34, 0.33, 0.33], 50001)


def test_unbiased_pass_at_k_in_constant_memory():
    """Issue #22 (12): unbiased_pass_at_k(10**10, 5, 10**9) wanted 7.45 GiB and 60 s. Exact:
    1 - prod_{i<5} (1 - k / (n - i))."""
    start = time.perf_counter()
    value = theory.unbiased_pass_at_k(10**10, 5, 10**9)
    assert time.perf_counter() - start < 1.0
    ratio = math.prod(Fraction(10**10 - 10**9 - i, 10**10 - i) for i in range(5))
    assert value == pytest.approx(float(1 - ratio), rel=1e-14, abs=0)
    n, c, k = 10**18, 10**6, 10**5  # both large: the Euler-Maclaurin path
    with mp.workdps(60):
        exact = -mp.expm1(
            mp.loggamma(n - c + 1)
            - mp.loggamma(n - c - k + 1)
            - mp.loggamma(n + 1)
            + mp.loggamma(n - k + 1)
        )
    assert theory.unbiased_pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-13, abs=0)


def test_unbiased_pass_at_k_relatively_accurate_for_rare_successes():
    """Issue #22 (13): for c << n the estimate is about k c / n; 1 - prod lost it to
    cancellation (2.9976e-15 for 3e-15)."""
    assert theory.unbiased_pass_at_k(10**15, 1, 3) == pytest.approx(3e-15, rel=1e-14, abs=0)
    assert theory.unbiased_pass_at_k(10**12, 1000, 1000) == pytest.approx(
        9.999995009996656e-07, rel=1e-14
    )
    values = theory.unbiased_pass_at_k(torch.tensor([10**15, 10**15]), torch.tensor([1, 2]), 3)
    assert torch.is_tensor(values) and torch.allclose(
        values, torch.tensor([3e-15, 6e-15], dtype=torch.float64), rtol=1e-13, atol=0
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: theory.unbiased_pass_at_k(2**63, 1, 3),
        lambda: theory.unbiased_pass_at_k(10, 2**64, 3),
        lambda: theory.unbiased_pass_at_k(10, 1, 2**64),
        lambda: theory.majority_vote_accuracy(0.5, 2**64),
        lambda: theory.vote_sign_accuracy(20, 10, 0.25, 1.0, 1.0, 2**64),
    ],
)
def test_integers_beyond_int64_are_refused(call):
    """Issue #22 (13): Python ints like 2**64 passed validation and overflowed inside torch."""
    with pytest.raises(ValueError):
        call()
