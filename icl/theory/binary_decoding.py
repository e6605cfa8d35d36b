"""Chapters 5 and 6: decoding binary coefficients token by token, majority votes and pass@k.

Chapter 5's setting: w uniform on {-1, +1}^d, x ~ N(0, I_d), label noise
variance ``sigma2``, and the one-step estimate w_hat = eta X^T y / n. Decoding
coefficient j at temperature T gives it the two logits +-w_hat_j / T, so a
sampled coefficient is +1 with probability sigmoid(2 w_hat_j / T); greedy
decoding takes sign(w_hat_j).

With s2 = d - 1 + sigma2 and u = x_{.j}^T y w_j (so that w_hat_j w_j = eta u / n):

- conditioning on the column x_{.j}, u = |x_{.j}|^2 + |x_{.j}| sqrt(s2) Z, hence
  P(sign w_hat_j != w_j) = P(t_n > sqrt(n / s2)), a Student-t tail with n
  degrees of freedom (:func:`greedy_sign_error`);
- u has the moment generating function (1 - 2t - s2 t^2)^(-n/2), a
  variance-gamma law with lambda = n/2, alpha = sqrt(1 + s2)/s2, beta = 1/s2
  (:func:`margin_density`);
- one sample at temperature T errs with probability
  E[sigmoid(-2 eta u / (n T))] (:func:`sampled_sign_error`);
- a majority vote of N samples of one coefficient is right with probability
  E[A_N(sigmoid(2 eta u / (n T)))] (:func:`vote_sign_accuracy`), where
  A_N(p) is :func:`majority_vote_accuracy`;
- the margin density is tilted by its own reflection, f(-u) = exp(-2u/s2) f(u), so the
  linear decoder is exactly calibrated at T_cal = eta s2 / n:
  P(w_j = +1 | w_hat_j) = sigmoid(2 w_hat_j / T_cal) (:func:`calibration_temperature`);
- given y, the d margins are jointly Gaussian with equal correlation -1/s2, so greedy
  recovers the whole vector with an orthant probability averaged over ||y||^2
  (:func:`greedy_exact_recovery`).

Votes over more than two answers (:func:`plurality_vote_accuracy`), the
unbiased pass@k estimator (:func:`unbiased_pass_at_k`; :func:`pass_at_k` is its
former name) and the normal approximation to the votes a margin needs
(:func:`votes_needed`) serve Chapters 5 to 7.
:func:`majority_vote_accuracy` and :func:`unbiased_pass_at_k` are elementwise and also take
torch tensors (Chapter 7's per-prompt answer distributions), returning a tensor on
the same device.
"""

from __future__ import annotations

import cmath
import functools
import math
from functools import partial

import numpy as np
import torch
from scipy import integrate, special, stats

from icl.validation import array, integer, probabilities, real

TIE_RULES = ("uniform", "lose", "smallest")


def _as_arrays(*values):
    """``values`` as numpy arrays, and a function giving a result back in their kind.

    Back: a float for scalars, an array for arrays, and a tensor on the inputs' device
    if any input is a tensor (of that tensor's dtype if floating, else float64).
    """
    tensor = next((v for v in values if torch.is_tensor(v)), None)
    arrays = [np.asarray(v.detach().cpu() if torch.is_tensor(v) else v) for v in values]

    def back(result):
        result = np.asarray(result, dtype=float)
        if tensor is not None:
            dtype = tensor.dtype if tensor.dtype.is_floating_point else torch.float64
            return torch.as_tensor(result, device=tensor.device).to(dtype)
        return float(result) if result.ndim == 0 else result

    return arrays, back


def _spread(d: int, sigma2: float) -> float:
    return d - 1 + sigma2


def greedy_sign_error(n: int, d: int, sigma2: float) -> float:
    """P(sign(w_hat_j) != w_j) = P(t_n > sqrt(n / (d - 1 + sigma2))) for the rademacher prior, any
    eta > 0.

    t_n is Student's t with n degrees of freedom; exact for every finite n, d.
    (With d = 1 and sigma2 = 0 the estimate is never wrong: the result is 0.)
    """
    n, d, sigma2 = integer("n", n), integer("d", d), real("sigma2", sigma2, minimum=0.0)
    s2 = _spread(d, sigma2)
    return 0.0 if s2 == 0 else float(stats.t.sf(math.sqrt(n / s2), n))


def margin_density(u, n: int, d: int, sigma2: float):
    """Density of the margin u = w_j x_{.j}^T y (so w_j w_hat_j = eta u / n), at ``u`` (scalar or
    array).

    Variance-gamma: f(u) = (alpha^2 - beta^2)^lam |u|^(lam - 1/2) K_(lam - 1/2)(alpha |u|) e^(beta
    u) / (sqrt(pi) Gamma(lam) (2 alpha)^(lam - 1/2)), lam = n/2, alpha = sqrt(1 + s2)/s2, beta =
    1/s2, s2 = d - 1 + sigma2 > 0. Needs d >= 2 or sigma2 > 0.
    """
    n, d, sigma2 = integer("n", n), integer("d", d), real("sigma2", sigma2, minimum=0.0)
    density = _margin_density_function(n, d, sigma2)
    body = density(array("u", u))
    return float(body) if body.ndim == 0 else body


def _margin_density_function(n: int, d: int, sigma2: float):
    """:func:`margin_density` at fixed (n, d, sigma2), arguments already checked, as a function of
    a float array u: its constants computed once, for quadratures that call it many times."""
    s2 = _spread(d, sigma2)
    if s2 == 0:
        raise ValueError(
            "margin_density needs d >= 2 or sigma2 > 0 "
            "(otherwise u is chi-square, not variance-gamma)"
        )
    lam, alpha, beta = n / 2, math.sqrt(1 + s2) / s2, 1 / s2
    nu = lam - 0.5
    log_c = (
        lam * math.log(alpha**2 - beta**2)
        - 0.5 * math.log(math.pi)
        - special.gammaln(lam)
        - nu * math.log(2 * alpha)
    )
    # K_nu(x) ~ Gamma(nu) 2^(nu - 1) x^(-nu) as x -> 0 (nu > 0), exact to O(x^2 / nu): the value
    # at u = 0, and log K_nu at tiny x > 0, where K_nu overflows for large nu
    small_x_log_k = special.gammaln(nu) + (nu - 1) * math.log(2) if nu > 0 else None
    at_zero = math.exp(log_c + small_x_log_k - nu * math.log(alpha)) if nu > 0 else np.inf

    def at_point(u: float) -> float:
        """The density at one float u in scalar arithmetic (the quadratures call it ~10^5 times;
        numpy's per-call overhead on scalars was most of their time)."""
        if u == 0:
            return at_zero
        a = abs(u)
        x = alpha * a
        k = special.kve(nu, x)
        if math.isfinite(k) and k > 0:
            log_k = math.log(k) - x
        elif small_x_log_k is not None:
            log_k = small_x_log_k - nu * math.log(x)
        else:
            return 0.0 if k == 0 else math.inf
        try:
            return math.exp(log_c + nu * math.log(a) + log_k + beta * u)
        except OverflowError:
            return math.inf

    def density(u: np.ndarray | float) -> np.ndarray | float:
        if isinstance(u, float):
            return at_point(u)
        a = np.abs(u)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            x = alpha * a
            log_k = np.log(special.kve(nu, x)) - x  # log K_nu(x)
            small = ~np.isfinite(log_k) & (x > 0)
            if small_x_log_k is not None and np.any(small):
                log_k = np.where(small, small_x_log_k - nu * np.log(x), log_k)
            body = np.exp(log_c + nu * np.log(a) + log_k + beta * u)
        return np.where(a == 0, at_zero, body)

    return density


def _expect_over_margin(g, n: int, d: int, sigma2: float, scale: float) -> float:
    """E[g(u)] under :func:`margin_density` (or the chi-square law when s2 = 0), by adaptive
    quadrature."""
    if _spread(d, sigma2) == 0:
        value, _ = integrate.quad(lambda v: g(v) * stats.chi2.pdf(v, n), 0, np.inf, limit=200)
        return value
    margin = _margin_density_function(n, d, sigma2)
    density = lambda v: g(v) * margin(np.float64(v))
    width = math.sqrt(n * (2 + _spread(d, sigma2)))
    edges = [-np.inf, -width, 0.0, width, n + 40 * width, np.inf]
    if 0 < 1 / scale < width:  # g changes on the scale 1/scale around u = 0, on both sides
        edges += [-1 / scale, 1 / scale]
    edges = sorted(set(edges))
    return sum(
        integrate.quad(density, lo, hi, limit=400, epsabs=1e-12, epsrel=1e-10)[0]
        for lo, hi in zip(edges[:-1], edges[1:])
    )


def sampled_sign_error(n: int, d: int, sigma2: float, eta: float, temperature: float) -> float:
    """P(one coefficient sampled at temperature T is wrong) = E[sigmoid(-2 eta u / (n T))], u ~
    :func:`margin_density`.

    Tends to :func:`greedy_sign_error` as T -> 0 and to 1/2 - eta / (2 T) as T -> infinity.
    """
    n, d, sigma2 = integer("n", n), integer("d", d), real("sigma2", sigma2, minimum=0.0)
    eta = real("eta", eta, minimum=0.0, strict=True)
    temperature = real("temperature", temperature, minimum=0.0, strict=True)
    c = 2 * eta / (n * temperature)
    return _expect_over_margin(lambda v: special.expit(-c * v), n, d, sigma2, c)


def calibration_temperature(n: int, d: int, sigma2: float, eta: float) -> float:
    """T_cal = eta (d - 1 + sigma2) / n: the temperature at which the linear decoder is exactly
    calibrated.

    For the rademacher prior, every finite n and d, P(w_j = +1 | w_hat_j) = sigmoid(2 w_hat_j /
    T_cal), with w_hat = eta X^T y / n. Given w_j = +1, w_hat_j = eta u / n with u of density f
    (:func:`margin_density`); given w_j = -1, w_hat_j = -eta u / n. Since f(-u) = exp(-2u/s2) f(u)
    (s2 = d - 1 + sigma2; each Gaussian N(v, v s2) of the mixture has this ratio, whatever v), P(w_j
    = +1 | w_hat_j = h) = f(nh/eta) / (f(nh/eta) + f(-nh/eta)) = sigmoid(2 n h / (eta s2)). With d =
    1 and sigma2 = 0 the result is 0: w_hat_j then always has the sign of w_j.
    """
    n, d, sigma2 = integer("n", n), integer("d", d), real("sigma2", sigma2, minimum=0.0)
    eta = real("eta", eta, minimum=0.0, strict=True)
    return eta * _spread(d, sigma2) / n


def _equicorrelated_orthant(k: float, d: int, s2: float) -> float:
    """P(Z_1 < k, ..., Z_d < k) for unit-variance Gaussians Z with equal correlation -r, r = 1/s2,
    s2 >= d - 1 >= 1.

    With a^2 = 1 + r the density of Z is proportional to exp(-|z|^2/(2a^2) - q (sum_j z_j)^2 / 2),
    q = r / (a^2 (1 + r - r d)) >= 0. Writing exp(-q S^2/2) = E_W[exp(i sqrt(q) W S)], W ~ N(0, 1),
    factorises the orthant integral into d equal one-dimensional ones; after rescaling W,

        P = (1 + r) / sqrt(2 pi r) * int Re[F(theta)^d] exp(-(1 + r)(1 - r (d - 1)) theta^2 / (2 r))
        dtheta,

    over the real line, with F(theta) = exp(-a^2 theta^2/2) Phi(k/a - i a theta) = int_{z<k}
    exp(-z^2/(2a^2) + i theta z) dz / (a sqrt(2 pi)), the Fourier transform of a Gaussian truncated
    at k, so |F| <= Phi(k/a): the integrand is bounded (no cancellation of large terms). The
    Gaussian factor is 1 when s2 = d - 1 (sigma2 = 0, the margins' sum fixed); F^d then decays like
    theta^-d. Numerically F = exp(-a^2 theta^2/2) - exp(-k^2/(2a^2) + i k theta) erfcx((k/a - i a
    theta)/sqrt 2) / 2 (bounded for k >= 0); beyond theta = 9/a, F^d = G(theta) exp(i k d theta)
    with G slowly varying, integrated with Fourier weights (QUADPACK's QAWF).
    """
    r = 1 / s2
    a2 = 1 + r
    a = math.sqrt(a2)
    damping = a2 * max(1 - r * (d - 1), 0.0) / (2 * r)
    jump = math.exp(-k * k / (2 * a2))
    omega = k * d

    def slow(theta: float) -> complex:  # F(theta)^d exp(-i k d theta) exp(-damping theta^2)
        # scalar arithmetic (cmath, math): quad calls this ~10^5 times per recovery probability
        tail = 0.5 * jump * complex(special.erfcx(complex(k / a, -a * theta) / math.sqrt(2)))
        return (cmath.exp(complex(-a2 * theta**2 / 2, -k * theta)) - tail) ** d * math.exp(
            -damping * theta**2
        )

    edge = 9 / a
    head = integrate.quad(
        lambda t: (slow(t) * np.exp(1j * omega * t)).real,
        0,
        edge,
        limit=400,
        epsabs=1e-14,
        epsrel=1e-12,
    )[0]
    if omega > 0:
        fourier = partial(integrate.quad, a=edge, b=np.inf, wvar=omega, limlst=200, epsabs=1e-14)
        tail = (
            fourier(lambda t: slow(t).real, weight="cos")[0]
            - fourier(lambda t: slow(t).imag, weight="sin")[0]
        )
    else:
        tail = integrate.quad(lambda t: slow(t).real, edge, np.inf, limit=400, epsabs=1e-14)[0]
    return 2 * a2 / math.sqrt(2 * math.pi * r) * (head + tail)


def greedy_exact_recovery(n: int, d: int, sigma2: float) -> float:
    """P(sign(w_hat) = w): greedy decoding recovers the whole rademacher vector (any eta > 0).

    With w_j x_{.j} =: z_{.j}, the rows z_i ~ N(0, I_d) and y_i = sum_j z_ij + sigma eps_i, so given
    y the rows are independent N(y_i 1 / D, I - 1 1^T / D), D = d + sigma2. The margins u_j =
    z_{.j}^T y are then jointly Gaussian: mean ||y||^2 / D, variance ||y||^2 (1 - 1/D), equal
    correlation -1/(D - 1) = -1/s2 (s2 = d - 1 + sigma2), and ||y||^2 = D V with V ~ chi^2_n. All d
    margins are positive with the probability that d such unit Gaussians stay below k = sqrt(V /
    s2):

        P = E_V[ P(Z_1 < k, ..., Z_d < k) ],   corr(Z_i, Z_j) = -1/s2,

    an orthant probability (``_equicorrelated_orthant``, a Fourier integral) averaged over
    t = sqrt(V) ~ chi_n by adaptive quadrature; about 1e-12 absolute accuracy (see the tests).
    sigma2 = 0 is allowed (the correlation is then -1/(d-1) and the margins' sum is fixed, ||y||^2).
    For d = 1 it is 1 - :func:`greedy_sign_error`.
    """
    n, d, sigma2 = integer("n", n), integer("d", d), real("sigma2", sigma2, minimum=0.0)
    if d == 1:
        return 1.0 - greedy_sign_error(n, d, sigma2)
    s2 = _spread(d, sigma2)
    log_norm = (n / 2 - 1) * math.log(2) + special.gammaln(n / 2)

    def integrand(t: float) -> float:
        chi_density = (
            math.exp((n - 1) * math.log(t) - t * t / 2 - log_norm)
            if t > 0
            else float(n == 1) * math.sqrt(2 / math.pi)
        )
        return chi_density * _equicorrelated_orthant(t / math.sqrt(s2), d, s2)

    centre = math.sqrt(n)
    value = integrate.quad(
        integrand, max(0.0, centre - 12), centre + 12, limit=200, epsabs=1e-13, epsrel=1e-11
    )[0]
    return float(min(max(value, 0.0), 1.0))


def _tie_probability(p: np.ndarray, N: int) -> np.ndarray:
    """P(Bin(N, p) = N/2), N even, for p in [1e-100, 1 - 1e-100]: C(N, N/2) (p (1 - p))^(N/2) for
    N <= 100 (relative error below 5e-15 against mpmath; scipy's pmf, up to 5e-14, costs a
    distribution call), scipy's pmf (accurate to round-off) for larger N; in logs outside (scipy's
    pmf overflows near p = 1e-306), where the probability is below 1e-100 anyway for N >= 4 and
    exact to 1e-13 relative for N = 2."""
    m = N // 2
    inner = (p >= 1e-100) & (p <= 1 - 1e-100)
    with np.errstate(divide="ignore"):
        log_tie = (
            special.gammaln(N + 1) - 2 * special.gammaln(m + 1) + m * (np.log(p) + np.log1p(-p))
        )
    if N <= 100:
        with np.errstate(under="ignore"):
            direct = special.binom(N, m) * (p * (1 - p)) ** m
    else:
        direct = stats.binom.pmf(m, N, np.where(inner, p, 0.5))
    return np.where(inner, direct, np.exp(log_tie))


def majority_vote_accuracy(p, N: int):
    """P(the majority of N independent Bernoulli(p) votes is right), ties (N even) broken uniformly
    at random.

    A_N(p) = P(Bin(N, p) > N/2) + 1/2 P(Bin(N, p) = N/2); elementwise in ``p`` (a float, an
    array, or a tensor, which gives a tensor of its dtype on its device).
    With uniform tie-breaking A_N(1 - p) = 1 - A_N(p) and A_{2m} = A_{2m-1}.
    """
    N = integer("N", N)
    array("p", p)
    (p,), back = _as_arrays(p)
    p = p.astype(float)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p must lie in [0, 1]")
    return back(_majority_vote(p, N))


def _majority_vote(p, N: int):
    """A_N(p) for p in [0, 1] (checked by the caller): P(Bin(N, p) > N/2) = I_p(N//2 + 1, N - N//2),
    the regularised incomplete beta (scipy's binomial sf, bit for bit), plus half the tie
    probability for N even."""
    accuracy = special.betainc(N // 2 + 1, N - N // 2, p)
    if N % 2 == 0:
        accuracy = accuracy + 0.5 * _tie_probability(p, N)
    return accuracy


def vote_sign_accuracy(
    n: int, d: int, sigma2: float, eta: float, temperature: float, N: int
) -> float:
    """P(a majority vote of N samples of one coefficient at temperature T is right) =
    E[A_N(sigmoid(2 eta u / (n T)))].

    Tends to 1 - :func:`greedy_sign_error` as N -> infinity, from below, with a deficit ~ f'(0) (n T
    / eta)^2 / (2 N) (f the margin density).
    """
    n, d, sigma2 = integer("n", n), integer("d", d), real("sigma2", sigma2, minimum=0.0)
    eta = real("eta", eta, minimum=0.0, strict=True)
    temperature = real("temperature", temperature, minimum=0.0, strict=True)
    N = integer("N", N)
    c = 2 * eta / (n * temperature)
    return _expect_over_margin(
        lambda v: _majority_vote(special.expit(c * v), N), n, d, sigma2, c / math.sqrt(N)
    )


def unbiased_pass_at_k(n, c, k: int):
    """The unbiased pass@k estimator from n >= k samples of which c are right: 1 - C(n - c, k) /
    C(n, k).

    Elementwise in the integers ``n`` and ``c`` (scalars, arrays or tensors; a tensor gives a
    tensor on its device), computed as 1 - prod_{j<k} (n - c - j) / (n - j), which is 1 when
    n - c < k. Its expectation, for c ~ Bin(n, q), is exactly 1 - (1 - q)^k.
    """
    k = integer("k", k)
    (n, c), back = _as_arrays(n, c)
    if not (np.issubdtype(n.dtype, np.integer) and np.issubdtype(c.dtype, np.integer)):
        raise ValueError(f"n and c must be integers, got dtypes {n.dtype} and {c.dtype}")
    if np.any(n < 1):
        raise ValueError(f"n must be >= 1, got {n.min()}")
    if np.any(c < 0):
        raise ValueError(f"c must be >= 0, got {c.min()}")
    if np.any(c > n):
        raise ValueError("c must be <= n")
    if np.any(k > n):
        raise ValueError(f"k must be <= n, got k = {k} and n = {n.min()}")
    n, c = np.broadcast_arrays(n.astype(float)[..., None], c.astype(float)[..., None])
    j = np.arange(k)
    return back(1.0 - np.prod((n - c - j) / (n - j), axis=-1))


pass_at_k = unbiased_pass_at_k  # its former name, kept so that icl.theory.pass_at_k still works


def votes_needed(delta: float, target: float) -> float:
    """Normal approximation to the votes N with V_N(1/2 + delta) = target: (Phi^{-1}(target) / (2
    delta))^2.

    V_N is :func:`majority_vote_accuracy`; by the central limit theorem
    V_N(1/2 + delta) ~ Phi(2 delta sqrt(N)).
    """
    delta = real("delta", delta, minimum=0.0, strict=True)
    target = real("target", target, minimum=0.5, strict=True)
    if delta > 0.5 or target >= 1:
        raise ValueError(f"need delta <= 0.5 and target < 1, got delta={delta}, target={target}")
    z = (
        math.sqrt(2)
        * torch.special.erfinv(torch.tensor(2 * target - 1, dtype=torch.float64)).item()
    )
    return (z / (2 * delta)) ** 2


@functools.lru_cache(maxsize=64)
def _gauss_legendre01(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1] (read-only; computed once per q)."""
    nodes, weights = np.polynomial.legendre.leggauss(q)
    nodes, weights = (nodes + 1) / 2, weights / 2
    nodes.flags.writeable = weights.flags.writeable = False
    return nodes, weights


class _Law:
    """``pmf(k) = dist.pmf(k, *args)`` of a scipy distribution, without freezing it (a frozen
    distribution is built anew, docstring included, at every call: most of the vote sums' time)."""

    def __init__(self, dist, *args):
        self.dist, self.args = dist, args

    def pmf(self, k):
        return self.dist.pmf(k, *self.args)


def _others_at_most(
    law, total, mult: np.ndarray, m: int, s: int, tol: float, ties: str, smaller: np.ndarray
) -> float:
    """E[1{max_i C_i <= m} / (1 + #{i: C_i = m})] for counts C of the other answers that sum to s.

    With ``ties="lose"``: P(max_i C_i < m). With ``ties="smallest"``: P(C_i < m for the groups
    flagged in ``smaller``, C_i <= m for the others), one evaluation with t = 0 on the flagged
    groups and t = 1 on the others. ``law`` is a distribution (its ``pmf``) of shape
    (groups, 1) whose independent copies, conditioned on summing to s, have the law of C:
    Poisson(s q_i) for a multinomial (Poissonisation), Binomial(c_i, r) for a multivariate
    hypergeometric (any r); ``total`` is the law of the sum of all copies, and ``mult`` counts the
    answers in each group.

    The expectation is [z^s] prod_i (sum_{c<m} P_i(c) z^c + t P_i(m) z^m), integrated over t in
    [0, 1] (1/(1+J) = int t^J dt), divided by P(sum = s). The coefficient is read off a discrete
    Fourier transform of length L > s + 12 sqrt(s) + 30 (no wrap-around). The t-integrand is a
    polynomial of degree at most min(s // m, number of answers); Gauss-Legendre with Q nodes is
    exact up to degree 2Q - 1, and Q doubles from 2 until it reaches that degree, or the ties it
    neglects provably weigh less than ``tol`` (P(J >= 2Q) <= 3 sqrt(s) mu^(2Q) / (2Q)!), or two
    successive rules agree to ``tol``.
    """
    if m > s:  # no other answer can reach m votes (nor tie at m): the correct answer wins
        return 1.0
    size = 1 << int(math.ceil(math.log2(s + 12 * math.sqrt(s) + 31)))
    rows = np.zeros((mult.size, size))
    rows[:, :m] = law.pmf(np.arange(m)[None, :])
    A = np.fft.fft(rows, axis=1)
    at_m = law.pmf(m)[:, 0]
    B = at_m[:, None] * np.exp(-2j * np.pi * m * np.arange(size) / size)[None, :]
    read = np.exp(2j * np.pi * s * np.arange(size) / size) / size
    normaliser = total.pmf(s)

    def value(t: np.ndarray) -> np.ndarray:  # t: (nodes, groups)
        with np.errstate(divide="ignore"):
            logs = np.log(A[None] + t[:, :, None] * B[None])
        F = np.exp(
            (mult[None, :, None] * logs.real).sum(1) + 1j * (mult[None, :, None] * logs.imag).sum(1)
        )
        return (F @ read).real / normaliser

    if ties == "lose":
        return float(value(np.zeros((1, mult.size)))[0])
    if ties == "smallest":
        return float(value((~smaller).astype(float)[None, :])[0])
    bound = float(value(np.ones((1, mult.size)))[0])  # t = 1: P(max_i C_i <= m) >= the expectation
    if bound < tol:
        return bound
    log_mu = math.log(
        max(float((mult * at_m).sum()), 1e-300)
    )  # mu: Poissonised mean number of others at m

    def tail_small(q: int) -> bool:  # P(J >= 2q) <= 3 sqrt(s) mu^(2q) / (2q)! < tol
        return math.log(3 * math.sqrt(s)) + 2 * q * log_mu - special.gammaln(2 * q + 1) < math.log(
            tol
        )

    exact = min(s // m, int(mult.sum())) // 2 + 1  # enough nodes for every possible number of ties
    q_nodes, previous = 2, None
    while True:
        q_nodes = min(q_nodes, exact)
        nodes, weights = _gauss_legendre01(q_nodes)
        estimate = float(weights @ value(np.repeat(nodes[:, None], mult.size, axis=1)))
        if (
            q_nodes == exact
            or tail_small(q_nodes)
            or (previous is not None and abs(estimate - previous) < tol)
        ):
            return estimate
        previous, q_nodes = estimate, 2 * q_nodes


def _split_correct(name: str, values: np.ndarray, correct: int, ties: str, codes):
    """``values[correct]``, the positive entries among the others, and which of those win a tie
    against ``correct``.

    ``ties`` and ``codes`` are checked here: ``ties="smallest"`` needs ``codes``, distinct integers
    labelling the answers (a tie goes to the smallest code), and no other rule takes them.
    """
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {TIE_RULES}, got {ties!r}")
    correct = integer("correct", correct, minimum=0)
    if correct >= values.size:
        raise ValueError(f"correct must index {name} (size {values.size}), got {correct}")
    if (ties == "smallest") != (codes is not None):
        raise ValueError(
            "codes must be given exactly when ties='smallest' "
            f"(ties={ties!r}, codes {'given' if codes is not None else 'missing'})"
        )
    smaller = np.zeros(values.size, dtype=bool)
    if codes is not None:
        codes = np.asarray(codes)
        if (
            codes.shape != values.shape
            or not np.issubdtype(codes.dtype, np.integer)
            or np.unique(codes).size != codes.size
        ):
            raise ValueError(
                f"codes must be {values.size} distinct integers, one per answer of {name}"
            )
        smaller = codes < codes[correct]
    keep = np.delete(values, correct) > 0
    return (
        values[correct].item(),
        np.delete(values, correct)[keep],
        np.delete(smaller, correct)[keep],
    )


def _groups(others: np.ndarray, smaller: np.ndarray):
    """Distinct (value, wins-a-tie) pairs of the other answers: values, flags, multiplicities."""
    keys, mult = np.unique(
        np.stack([others.astype(float), smaller.astype(float)]), axis=1, return_counts=True
    )
    return keys[0], keys[1].astype(bool), mult


def plurality_vote_accuracy(
    probs, N: int, correct: int = 0, tol: float = 1e-12, ties: str = "uniform", codes=None
) -> float:
    """P(the most frequent of N i.i.d. answers drawn from ``probs`` is answer ``correct``), ties
    broken by ``ties``.

    Exact multinomial sum  sum_m P(M_correct = m) E[1{max_other <= m} / (1 + #ties at m) | M_correct
    = m], evaluated numerically: terms of weight below ``tol / N`` are dropped and each conditional
    term is integrated to ``tol`` (see ``_others_at_most``), so the result is within a few ``tol``
    plus floating round-off (~1e-10) of the exact value. ``probs`` is a 1-D array of probabilities
    summing to 1 (answers of equal probability are grouped, so a distribution estimated from counts
    is cheap). For two answers it equals :func:`majority_vote_accuracy`.

    ``ties`` is the tie-breaking rule: ``"uniform"`` (each tied answer equally likely, as above),
    ``"lose"`` (the probability that the correct answer is strictly the most frequent, a rule that
    never favours it), or ``"smallest"`` (the tied answer with the smallest of ``codes`` wins, as
    ``scipy.stats.mode`` and ``torch.mode`` do): then the correct answer must be strictly more
    frequent than every answer with a smaller code and at least as frequent as every other.
    """
    N = integer("N", N)
    tol = real("tol", tol, minimum=0.0, strict=True)
    probabilities("probs", probs)  # a float32 softmax output passes (its dtype's tolerance)
    probs = array("probs", probs)
    if probs.ndim != 1:
        raise ValueError(f"probs must be a non-empty 1-D array, got shape {probs.shape}")
    p0, others, smaller = _split_correct("probs", probs, correct, ties, codes)
    if others.size == 0:
        return 1.0
    if p0 == 0:
        return 0.0
    values, flags, mult = _groups(others, smaller)
    values = values / (values * mult).sum()

    def others_law(s: int):
        return _Law(stats.poisson, s * values[:, None]), _Law(stats.poisson, s)

    return _vote_sum(_Law(stats.binom, N, p0), others_law, mult, flags, N, tol, ties)


def _vote_sum(
    correct_law, others_law, mult: np.ndarray, smaller: np.ndarray, N: int, tol: float, ties: str
) -> float:
    """sum_m P(M = m) E[win | M = m], M ~ ``correct_law``; the others' counts given M = m from
    ``others_law(N - m)``."""
    m_all = np.arange(1, N + 1)
    weight = correct_law.pmf(m_all)
    total = 0.0
    for m, w_m in zip(m_all, weight):
        if w_m < tol / N:
            continue
        s = N - int(m)
        if s == 0:
            total += w_m
            continue
        if m * mult.sum() < s:  # the other answers cannot all stay at or below m
            continue
        total += w_m * _others_at_most(
            *others_law(s), mult, int(m), s, tol / (N * w_m), ties, smaller
        )
    return float(min(max(total, 0.0), 1.0))


def subsample_vote_accuracy(
    counts, N: int, correct: int = 0, tol: float = 1e-12, ties: str = "uniform", codes=None
) -> float:
    """P(the plurality of N answers drawn WITHOUT replacement from a stored sample is answer
    ``correct``).

    ``counts`` (1-D, non-negative integers, sum S >= N) are the stored sample's answer counts. If
    the S stored answers are i.i.d. from pi, every N-subset is an i.i.d. sample of size N, so this
    is an unbiased estimate of :func:`plurality_vote_accuracy` at pi (the plug-in
    ``plurality_vote_accuracy(counts / S, N)``, a vote with replacement, is biased). Exact
    multivariate hypergeometric sum, evaluated like :func:`plurality_vote_accuracy` (independent
    Binomial(c_i, r) counts conditioned on their sum in place of Poisson ones), with the same
    tie rules ``ties`` (``"uniform"``, ``"lose"``, ``"smallest"`` with ``codes``).
    """
    N = integer("N", N)
    tol = real("tol", tol, minimum=0.0, strict=True)
    counts = np.asarray(counts)
    if (
        counts.ndim != 1
        or counts.size < 1
        or not np.issubdtype(counts.dtype, np.integer)
        or np.any(counts < 0)
    ):
        raise ValueError("counts must be a non-empty 1-D array of non-negative integers")
    c0, others, smaller = _split_correct("counts", counts, correct, ties, codes)
    S = int(counts.sum())
    if N > S:
        raise ValueError(f"N must be <= the stored sample size {S}, got {N}")
    if others.size == 0:
        return 1.0
    if c0 == 0:
        return 0.0
    sizes, flags, mult = _groups(others, smaller)
    sizes = sizes.astype(np.int64)
    rest = S - c0

    def others_law(s: int):
        r = min(s / rest, 1 - 1e-12)
        return _Law(stats.binom, sizes[:, None], r), _Law(stats.binom, rest, r)

    return _vote_sum(_Law(stats.hypergeom, S, c0, N), others_law, mult, flags, N, tol, ties)
