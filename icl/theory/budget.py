"""Chapter 8: spending a test-time budget -- longer chains, more chains, or better selection.

**Longer chains against more chains.** Chapter 3's multiplicative-noise chains (gradient divided
by n, step eta, noise xi ~ N(0, delta2 I), delta = ``level``) have, given the prompt, mean m_T =
the ridge-GD iterate with penalty delta2 and covariance C_T; the average of N chains of T steps has
risk ||m_T - w||^2 + tr C_T / N. Averaged over w ~ N(0, psi2 I) and the label noise, given the
design (eigenvalues s_j of S = X^T X / n, a_j = 1 - eta (s_j + delta2), kappa = eta^2 delta2^2,
mu2_j = E mu_j^2 = (psi2 s_j^2 + sigma2 s_j / n) / (s_j + delta2)^2):

    b_T(X) = sum_j psi2 (delta2 + s_j a_j^T)^2 / (s_j + delta2)^2
                   + (sigma2 / n) s_j (1 - a_j^T)^2 / (s_j + delta2)^2,
    c_{t+1,j} = a_j^2 c_{t,j} + kappa (c_{t,j} + q_{t,j} + sum_k (c_{t,k} + q_{t,k})),
    q_{t,j} = mu2_j (1 - a_j^t)^2,    v_T(X) = sum_j c_{T,j}

(the diagonal recursion of :func:`icl.theory.chain_risk_terms`, linear in the second moments of
the mean, so its average over w and the noise replaces m_j^2 by q_j). The prompt average is over
typical designs, eta (s_max + delta2) <= 2 (Chapter 2's definition). b_T(X) is a linear statistic
of the spectrum: its average is computed by quadrature against the exact eigenvalue density of the
real Wishart matrix (:func:`icl.theory.wishart_eigenvalue_density`). v_T(X) is not (the sum over k
couples the directions): its average is over a seeded sample of designs, whose standard error is
returned with it.

**Best-of-N as a change of distribution.** For a continuous score, the minimum of N i.i.d. scores
has density N (1 - F)^{N-1} f, so best-of-N has KL divergence from the base sampler
E log(N (1 - U)^{N-1}) = log N - (N - 1) / N with U ~ Beta(1, N) (:func:`best_of_n_kl`). Soft
selection (weights e^{-score / beta}) tends as N -> infinity to the base law tilted by
e^{-score / beta}, Gaussian for a Gaussian sampler and a quadratic score
(:func:`soft_selection_tilt`, prompt-averaged in d = 1 by :func:`soft_selection_1d_averaged`).

**Coverage.** For one ±1 coefficient of Chapter 5's model, 1 - pass@k = E(1 - p)^k
(:func:`coverage_miss`) falls as C k^{-a} (log k)^b at a fixed temperature
(:func:`coverage_exponents`), and is smallest at the temperature (k - 1) T_cal.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import integrate, special

from icl.theory.wishart import wishart_eigenvalue_density, wishart_linear_statistic
from icl.validation import array, integer, real

_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)


class ChainTerms(NamedTuple):
    """Prompt-averaged E b_t, E v_t and the standard error of E v_t, for t = 0..T (arrays)."""

    bias2: np.ndarray
    trace: np.ndarray
    trace_se: np.ndarray


class BudgetSplit(NamedTuple):
    """The best split of a budget B into N chains of T steps (N T <= B) and its risk."""

    n_chains: int
    steps: int
    risk: float
    risk_se: float


def _chain_arguments(n, d, sigma2, eta, level, psi2):
    n, d = integer("n", n), integer("d", d)
    sigma2 = real("sigma2", sigma2, minimum=0.0)
    eta = real("eta", eta, minimum=0.0, strict=True)
    level = real("level", level, minimum=0.0, strict=True)
    psi2 = real("psi2", psi2, minimum=0.0, strict=True)
    if eta * level**2 >= 1:
        raise ValueError(
            f"eta level^2 must be < 1 (else the chains diverge on every design), got eta = {eta},"
            f" level = {level}"
        )
    return n, d, sigma2, eta, level**2, psi2


def _bias_curve(s, w, t, n, sigma2, eta, delta2, psi2):
    """sum_q w_q b_t(s_q) for steps t (k,), nodes s (q,) and weights w (q,): (k,).

    With a = 1 - eta (s + delta2) and P = a^t, b_t(s) = psi2 ((delta2 + s P) / (s + delta2))^2 +
    (sigma2 / n) s (1 - P)^2 / (s + delta2)^2 is a quadratic in P, so the sum is
    c0 + P @ c1 + P^2 @ c2 with a^t = sign(a)^t exp(t log|a|).
    """
    shifted2 = (s + delta2) ** 2
    noise = sigma2 / n * s
    c0 = w @ ((psi2 * delta2**2 + noise) / shifted2)
    c1 = w * (2 * psi2 * delta2 * s - 2 * noise) / shifted2
    c2 = w * (psi2 * s**2 + noise) / shifted2
    a = 1 - eta * (s + delta2)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_a = np.log(np.abs(a))  # -inf where a = 0: a^0 = 1, a^t = 0 after
        power = np.where(t[:, None] == 0, 1.0, np.exp(t[:, None] * log_a))
    odd = (t[:, None] % 2 == 1) & (a < 0)
    return c0 + np.where(odd, -power, power) @ c1 + (power * power) @ c2


def _bias_rule(n: int, d: int, eta: float, delta2: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights in t = sqrt(n s) for E sum_j g(s_j) over the nonzero
    eigenvalues, on graded panels up to the typical-design cut eta (s + delta2) = 2 (or the end of
    the spectrum)."""
    m, p = min(n, d), max(n, d)
    s_end = ((math.sqrt(m) + math.sqrt(p)) ** 2 * 3 + 60.0) / n
    t_top = math.sqrt(n * min(2 / eta - delta2, s_end))
    inner = np.geomspace(1e-6 * t_top, 0.05 * t_top, 60)
    breaks = np.concatenate([[0.0], inner, np.linspace(0.05 * t_top, t_top, 400)[1:]])
    lo, hi = breaks[:-1, None], breaks[1:, None]
    t = ((lo + hi) / 2 + (hi - lo) / 2 * _GL_X).ravel()
    w = ((hi - lo) / 2 * _GL_W).ravel()
    s = t * t / n
    return s, w * wishart_eigenvalue_density(s, n, d) * 2 * t / n


def _designs(n, d, eta, delta2, designs, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((designs, n, d))
    s = np.linalg.eigvalsh(np.einsum("bni,bnj->bij", X, X) / n).clip(min=0.0)
    if np.any(eta * (s[:, -1] + delta2) > 2):
        raise ValueError(
            "the design sample holds a design on which the chain diverges, eta (s_max + level^2)"
            " > 2: the typical-design average is not defined at this eta"
        )
    return s


def prompt_averaged_chain_terms(
    n: int,
    d: int,
    sigma2: float,
    eta: float,
    level: float,
    steps: int,
    *,
    psi2: float = 1.0,
    designs: int = 4096,
    seed: int = 0,
) -> ChainTerms:
    """The prompt-averaged bias^2 E b_t and spread E v_t = E tr C_t of Chapter 3's
    multiplicative-noise chains, for t = 0..``steps`` (module docstring).

    E b_t: exact, by quadrature against the real-Wishart eigenvalue density over the typical
    designs eta (s + delta2) <= 2 (matches :func:`icl.theory.gd_risk_parts` with ``lam =
    level^2`` to about 1e-10 relative). E v_t: the mean over ``designs`` Gaussian designs drawn
    with ``numpy.random.default_rng(seed)``, with its standard error (the averages over w and
    the label noise are exact given each design). Arrays of length ``steps + 1``.
    """
    n, d, sigma2, eta, delta2, psi2 = _chain_arguments(n, d, sigma2, eta, level, psi2)
    steps = integer("steps", steps, minimum=0)
    designs = integer("designs", designs, minimum=2)
    seed = integer("seed", seed, minimum=0)
    t = np.arange(steps + 1)
    s_q, w_q = _bias_rule(n, d, eta, delta2)
    bias2 = np.full(len(t), (d - min(n, d)) * psi2)  # a zero eigenvalue: b_t = psi2 at every t
    for chunk in np.array_split(t, max(1, len(t) // 256)):
        bias2[chunk] += _bias_curve(s_q, w_q, chunk, n, sigma2, eta, delta2, psi2)
    s = _designs(n, d, eta, delta2, designs, seed)
    a = 1 - eta * (s + delta2)
    kappa = eta**2 * delta2**2
    mu2 = (psi2 * s**2 + sigma2 * s / n) / (s + delta2) ** 2
    c, power = np.zeros_like(s), np.ones_like(s)
    trace = np.zeros((steps + 1, designs))
    for step in range(1, steps + 1):
        second = c + mu2 * (1 - power) ** 2
        c = a**2 * c + kappa * (second + second.sum(1, keepdims=True))
        power = power * a
        trace[step] = c.sum(1)
    return ChainTerms(bias2, trace.mean(1), trace.std(1, ddof=1) / math.sqrt(designs))


def ridge_limit_risk(n: int, d: int, sigma2: float, eta: float, level: float, *, psi2=1.0):
    """The N, T -> infinity limit of the budget's risk: the prompt-averaged risk of ridge with
    penalty level^2, E sum_j [psi2 delta2^2 + (sigma2 / n) s_j] / (s_j + delta2)^2, over the
    typical designs eta (s_max + delta2) <= 2 (quadrature,
    :func:`icl.theory.wishart_linear_statistic`).
    """
    n, d, sigma2, eta, delta2, psi2 = _chain_arguments(n, d, sigma2, eta, level, psi2)
    return wishart_linear_statistic(
        lambda s: (psi2 * delta2**2 + sigma2 / n * s) / (s + delta2) ** 2,
        n,
        d,
        upper=2 / eta - delta2,
    )


def best_split(bias2: np.ndarray, trace: np.ndarray, budget: int) -> tuple[int, int, float]:
    """min over integers N, T >= 1 with N T <= B of bias2[T] + trace[T] / N, given the curves for
    t = 0..T_max: (N*, T*, R*). For each T the best N is floor(B / T) (the risk falls with N)."""
    bias2 = array("bias2", bias2, minimum=0.0)
    trace = array("trace", trace, minimum=0.0)
    if bias2.ndim != 1 or bias2.shape != trace.shape or len(bias2) < 2:
        raise ValueError(
            "bias2 and trace must be 1-d arrays of one length >= 2 (t = 0..T_max), got shapes"
            f" {bias2.shape} and {trace.shape}"
        )
    budget = integer("budget", budget)
    steps = np.arange(1, min(budget, len(bias2) - 1) + 1)
    risk = bias2[steps] + trace[steps] / (budget // steps)
    best = int(np.argmin(risk))
    return int(budget // steps[best]), int(steps[best]), float(risk[best])


def compute_optimal_split(
    n: int,
    d: int,
    sigma2: float,
    eta: float,
    level: float,
    budget: int,
    *,
    psi2: float = 1.0,
    designs: int = 4096,
    seed: int = 0,
) -> BudgetSplit:
    """The best split of a budget of B chain-steps into N multiplicative-noise chains of T steps
    (integers, N T <= B) for the prompt-averaged risk of their average, E b_T + E v_T / N
    (:func:`prompt_averaged_chain_terms`, typical designs; E v_T over a seeded design sample).

    The search runs over every T <= min(B, T_max) with T_max = ceil(60 / r), r = -log(1 - eta
    delta2) the slowest rate at which b_t and v_t converge (their remainders at T_max are below
    e^{-60} of their scale, so a longer chain only loses chains); for each T, N = floor(B / T).
    Returns (N*, T*, R*, standard error of R* from the design sample).
    """
    n, d, sigma2, eta, delta2, psi2 = _chain_arguments(n, d, sigma2, eta, level, psi2)
    budget = integer("budget", budget)
    t_max = min(budget, math.ceil(60 / -math.log1p(-eta * delta2)))
    terms = prompt_averaged_chain_terms(
        n, d, sigma2, eta, level, t_max, psi2=psi2, designs=designs, seed=seed
    )
    n_star, t_star, risk = best_split(terms.bias2, terms.trace, budget)
    return BudgetSplit(n_star, t_star, risk, float(terms.trace_se[t_star] / n_star))


def best_of_n_kl(n_samples) -> float | np.ndarray:
    """KL(best-of-N || base) = log N - (N - 1) / N for a score with a continuous law.

    The selected sample's score has density N (1 - F)^{N-1} f (the minimum of N), so the
    likelihood ratio is N (1 - U)^{N-1} with U = F(score) ~ Beta(1, N), and E log(1 - U) = -1/N.
    ``n_samples``: an int >= 1 or an array of them; returns a float or an array.
    """
    counts = np.asarray(n_samples)
    if counts.ndim == 0:
        N = integer("n_samples", n_samples)
        return math.log(N) - (N - 1) / N
    if counts.dtype.kind not in "iu" or np.any(counts < 1):
        raise ValueError("n_samples must hold integers >= 1")
    return np.log(counts) - (counts - 1) / counts


SOFT_REWARDS = ("in-context loss", "norm")


def soft_selection_tilt(mean, tau: float, beta: float, curvature, center):
    """The law of soft selection with weights e^{-score / beta} among N -> infinity candidates
    N(mean, tau^2) in d = 1, for the quadratic score curvature (w - center)^2 (+ const).

    Soft selection samples w_k with probability proportional to e^{-score(w_k) / beta}; as N grows
    it samples the base law tilted by e^{-score / beta}, which for a Gaussian base and a quadratic
    score is Gaussian: precision 1 / tau^2 + 2 curvature / beta,

        tilted mean = (mean / tau^2 + 2 curvature center / beta) / precision,
        tilted variance = 1 / precision.

    Elementwise over numpy arrays; returns (tilted mean, tilted variance).
    """
    tau = real("tau", tau, minimum=0.0, strict=True)
    beta = real("beta", beta, minimum=0.0, strict=True)
    mean, center = array("mean", mean), array("center", center)
    curvature = array("curvature", curvature, minimum=0.0)  # a convex quadratic score
    precision = 1 / tau**2 + 2 * curvature / beta
    return (mean / tau**2 + 2 * curvature * center / beta) / precision, 1 / precision


def _chi2_pdf(q: float, n: int) -> float:
    """The chi^2_n density at q > 0, exp((n/2 - 1) log q - q/2 - log Gamma(n/2) - (n/2) log 2): the
    expression of ``scipy.stats.chi2.pdf``, bit for bit, without its per-call argument handling."""
    return np.exp(
        special.xlogy(n / 2.0 - 1.0, q) - q / 2.0 - special.gammaln(n / 2.0) - np.log(2) * n / 2.0
    )


def soft_selection_1d_averaged(
    beta: float, tau: float, *, n: int, sigma2: float, eta: float, reward: str, psi2: float = 1.0
) -> tuple[float, float]:
    """Prompt-averaged (oracle risk E(w_sel - w*)^2, KL from the base sampler) of soft selection
    with weights e^{-score / beta}, N -> infinity, in Chapter 4's d = 1 setting.

    Prompt as in :func:`icl.theory.best_of_n_risk_1d_averaged`: S = sum x_i^2 / n ~ chi^2_n / n,
    b = S w* + sqrt(sigma2 S / n) Z, candidates N(m, tau^2) with m = eta b. The in-context loss
    is S (w - b / S)^2 + const, the norm reward w^2: by :func:`soft_selection_tilt` the selected
    w is N(h b, v) given the prompt, with

        in-context loss: h = (eta / tau^2 + 2 / beta) / (1 / tau^2 + 2 S / beta),
                         v = 1 / (1 / tau^2 + 2 S / beta);
        norm:            h = eta beta / (beta + 2 tau^2),  v = tau^2 beta / (beta + 2 tau^2).

    Given S: risk = psi2 (h S - 1)^2 + h^2 sigma2 S / n + v and
    KL = [v / tau^2 - 1 - log(v / tau^2) + (h - eta)^2 (psi2 S^2 + sigma2 S / n) / tau^2] / 2;
    both are averaged over S by Gauss-Laguerre-type quadrature of the chi^2_n law
    (scipy.integrate.quad, 1e-12 relative).
    """
    beta = real("beta", beta, minimum=0.0, strict=True)
    tau = real("tau", tau, minimum=0.0, strict=True)
    n, sigma2 = integer("n", n), real("sigma2", sigma2, minimum=0.0)
    eta = real("eta", eta, minimum=0.0, strict=True)
    psi2 = real("psi2", psi2, minimum=0.0, strict=True)
    if reward not in SOFT_REWARDS:
        raise ValueError(f"reward must be one of {SOFT_REWARDS}, got {reward!r}")

    def parts(S):
        if reward == "norm":
            h, v = eta * beta / (beta + 2 * tau**2), tau**2 * beta / (beta + 2 * tau**2)
        else:
            precision = 1 / tau**2 + 2 * S / beta
            h, v = (eta / tau**2 + 2 / beta) / precision, 1 / precision
        risk = psi2 * (h * S - 1) ** 2 + h**2 * sigma2 * S / n + v
        kl = (
            v / tau**2
            - 1
            - math.log(v / tau**2)
            + (h - eta) ** 2 * (psi2 * S**2 + sigma2 * S / n) / tau**2
        ) / 2
        return risk, kl

    out = []
    for k in range(2):
        value, _ = integrate.quad(
            lambda q, k=k: parts(q / n)[k] * _chi2_pdf(q, n),
            0,
            np.inf,
            epsabs=1e-14,
            epsrel=1e-12,
            limit=200,
        )
        out.append(value)
    return out[0], out[1]


def coverage_exponents(n: int, d: int, sigma2: float, eta: float, temperature: float):
    """(a, b) of the law 1 - pass@k ~ C k^{-a} (log k)^b for one ±1 coefficient of Chapter 5's
    model sampled at temperature T, as k -> infinity.

    One sample is right with probability p = sigmoid(c u), c = 2 eta / (n T), u the margin
    (:func:`icl.theory.margin_density`, variance-gamma with lam = n/2, alpha = sqrt(1 + s2) / s2,
    beta = 1 / s2, s2 = d - 1 + sigma2), whose left tail is
    f(u) ~ K |u|^{lam-1} e^{-(alpha+beta)|u|}.
    With q = e^{-c|u|} ~ p, E(1 - p)^k ~ int q^{a-1} (log 1/q)^{lam-1} e^{-kq} dq, so

        a = (alpha + beta) / c = (1 + sqrt(1 + s2)) n T / (2 eta s2),    b = n/2 - 1

    (a = (1 + sqrt(1 + s2)) / 2 at the calibrated temperature eta s2 / n). The law needs
    (log k) / c far in the margin's left tail, beyond the bulk and beyond (n/2)^2 / alpha, where
    the Bessel function's asymptotic form holds.
    """
    n, d, sigma2 = integer("n", n), integer("d", d), real("sigma2", sigma2, minimum=0.0)
    eta = real("eta", eta, minimum=0.0, strict=True)
    temperature = real("temperature", temperature, minimum=0.0, strict=True)
    s2 = d - 1 + sigma2
    if s2 <= 0:
        raise ValueError("coverage_exponents needs d >= 2 or sigma2 > 0")
    return (1 + math.sqrt(1 + s2)) * n * temperature / (2 * eta * s2), n / 2 - 1


def coverage_miss(k, n: int, d: int, sigma2: float, eta: float, temperature: float):
    """1 - pass@k = E[(1 - sigmoid(c u))^k], c = 2 eta / (n T), for one ±1 coefficient of Chapter
    5's model (u the margin, :func:`icl.theory.margin_density`): the probability that none of k
    samples at temperature T is right. ``k``: an int >= 1 or an array of them.

    Adaptive quadrature in u; the kernel exp(-k log(1 + e^{cu})) is a smoothed step at
    u = -log(k) / c of width about 1 / c, which is given to the quadrature as break-points.
    """
    from icl.theory.binary_decoding import _margin_density_function

    n, d, sigma2 = integer("n", n), integer("d", d), real("sigma2", sigma2, minimum=0.0)
    eta = real("eta", eta, minimum=0.0, strict=True)
    temperature = real("temperature", temperature, minimum=0.0, strict=True)
    ks = np.atleast_1d(np.asarray(k))
    if ks.dtype.kind not in "iu" or np.any(ks < 1):
        raise ValueError("k must hold integers >= 1")
    c = 2 * eta / (n * temperature)
    s2 = d - 1 + sigma2
    width = math.sqrt(n * (2 + s2))
    margin = _margin_density_function(n, d, sigma2)
    out = []
    for kk in ks:

        def integrand(u, kk=int(kk)):
            cu = c * u  # log(1 + e^{cu}) = max(cu, 0) + log1p(e^{-|cu|})
            return margin(u) * math.exp(-kk * (max(cu, 0.0) + math.log1p(math.exp(-abs(cu)))))

        step = -math.log(kk) / c
        points = sorted(
            {step + j / c for j in (-30, -10, -3, -1, 0, 1, 3, 10)} | {-width, 0.0, n, n + width}
        )
        edges = [-np.inf, *points, n + 40 * width, np.inf]
        out.append(
            sum(
                integrate.quad(integrand, lo, hi, limit=400, epsabs=0.0, epsrel=1e-11)[0]
                for lo, hi in zip(edges[:-1], edges[1:])
                if hi > lo
            )
        )
    values = np.array(out)
    return float(values[0]) if np.ndim(k) == 0 else values
