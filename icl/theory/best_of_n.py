"""Chapter 4: best-of-N with a reward, through the distribution of the minimum of N i.i.d. scores.

Setup: given a prompt, N candidates w_k = m + tau * xi_k, xi_k ~ N(0, I_d) i.i.d.
(one noisy GD step from w_0 = 0: m = eta X^T y / n). A reward is a score s(w)
to minimise; best-of-N returns the candidate of smallest score. For the oracle
s(w) = ||w - w*||^2 the returned risk is E[min_k s(w_k)] = int_0^inf P(s > u)^N du.

Exact (quadrature in one or, for the prompt averages, two dimensions):

- ``expected_min_gaussian(N)`` = E[min of N i.i.d. N(0, 1)]
  = -( int_0^inf (1 - Phi(x)^N) dx - int_{-inf}^0 Phi(x)^N dx );
- ``expected_min_sq_offset(N, t)`` = g_N(t) = E[min_k (Z_k - t)^2]
  = int_0^inf 2 r (1 - p_t(r))^N dr,   p_t(r) = Phi(t + r) - Phi(t - r);
- ``expected_nearest_offset(N, t)`` = h_N(t) = E[Z_sel - t], Z_sel the Z_k nearest t,
  = int_0^inf N r (1 - p_t(r))^(N-1) (phi(t + r) - phi(t - r)) dr;
- ``best_of_n_risk_1d``: in d = 1, any reward s(w) = (w - c)^2 (oracle c = w*,
  in-context loss c = least squares, norm c = 0) selects the candidate nearest c, and
  E[(w_sel - w*)^2] = tau^2 g_N(t) + 2 tau delta h_N(t) + delta^2,  t = (c - m)/tau, delta = c - w*;
- ``oracle_best_of_n_risk``: in any d, the oracle score is tau^2 chi'^2_d(lambda), lambda = ||m -
  w*||^2 / tau^2, and the risk is tau^2 int_0^inf [P(chi'^2_d(lambda) > u)]^N du, integrated in log
  u;
- ``norm_reward_shrinkage``, ``norm_reward_risk``: the norm reward in any d, given the prompt:
  E[w_sel | prompt] = kappa_N m, kappa_N = (tau/||m||) E[rho A_d(rho ||m||/tau)] (von Mises-Fisher
  direction given the selected norm), risk tau^2 E[rho^2] - 2 kappa_N <m, w*> + ||w*||^2, rho^2 the
  min of N chi'^2_d(||m||^2/tau^2);
- ``best_of_n_risk_1d_averaged``: in d = 1 the three rewards' risks averaged over the prompt
  distribution (two-dimensional quadrature over Q = sum x_i^2 and the standardised centre t);
- ``least_squares_risk``, ``min_norm_risk``, ``in_context_limit_risk``: the N -> inf limit of the
  in-context-loss reward.

Approximate (Gaussian scores, d large):

- ``gaussian_selection_risk``: treating (risk, score) of one candidate as jointly Gaussian,
  E[R_sel] = mu_R + Cov(R, s) / sd(s) * e_N with e_N = expected_min_gaussian(N);
- ``oracle_gaussian_risk``, ``oracle_optimal_temperature``, ``oracle_optimal_risk``: its oracle case
  with ||m - w*||^2 replaced by its mean B: R = B + tau^2 d + e_N sqrt(4 tau^2 B + 2 tau^4 d),
  tau*^2 = (B/d)(1/sqrt(1 - 2 e_N^2/d) - 1), R* = B sqrt(1 - 2 e_N^2/d), valid while 2 e_N^2 < d;
- ``nearest_sample_asymptote``: E[min_k (Z_k - t)^2] ~ pi e^{t^2} / N^2 (Halder and Pehlevan).
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
from scipy import integrate, special, stats

from icl.theory.gradient_descent import least_squares_risk
from icl.validation import array, integer, real


def expected_min_gaussian(n_samples: int) -> float:
    """E[min(Z_1, ..., Z_N)], Z_k ~ N(0, 1) i.i.d., by quadrature (absolute error below 1e-10 for N
    <= 1e4).

    E[min] = -E[max] and E[max] = int_0^inf (1 - Phi(x)^N) dx - int_{-inf}^0 Phi(x)^N dx, with
    Phi(x)^N evaluated as exp(N log Phi(x)). Examples: N = 2: -1/sqrt(pi); N = 3: -3/(2 sqrt(pi)).
    """
    return _expected_min_gaussian(integer("n_samples", n_samples))


@functools.lru_cache(maxsize=4096)
def _expected_min_gaussian(n_samples: int) -> float:
    """:func:`expected_min_gaussian` of a validated ``n_samples``, cached (a function of N only)."""
    if n_samples == 1:
        return 0.0
    log_phi = special.log_ndtr
    peak = math.sqrt(2.0 * math.log(n_samples))
    upper = sum(
        integrate.quad(
            lambda x: -math.expm1(n_samples * log_phi(x)),
            a,
            b,
            epsabs=1e-14,
            epsrel=1e-13,
            limit=500,
        )[0]
        for a, b in [(0.0, peak), (peak, peak + 4.0), (peak + 4.0, 40.0)]
    )
    lower = integrate.quad(
        lambda x: math.exp(n_samples * log_phi(x)),
        -40.0,
        0.0,
        epsabs=1e-14,
        epsrel=1e-13,
        limit=500,
    )[0]
    return -(upper - lower)


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)
_PANELS = 40


def _t_array(t) -> np.ndarray:
    return array("t", t)


def _nearest_rule(n_samples: int, t: np.ndarray):
    """Nodes r (..., K) and weights of a composite Gauss-Legendre rule in log r covering the
    distance to the nearest Z_k.

    The range is [1e-7 s, |t| + 12] with s = 1 / (2 N phi(t)) the typical distance (floored at
    1e-300): the integrands vanish like r^2 below it and like P(|Z - t| > r)^N above it.
    """
    t = np.abs(t)[..., None]
    phi = np.exp(-0.5 * t**2) / math.sqrt(2 * math.pi)
    scale = np.minimum(1.0 / np.maximum(2.0 * n_samples * phi, 1e-300), t + 1.0)
    lo, hi = np.log(1e-7 * scale), np.log(t + 12.0)
    edges = lo + (hi - lo) * np.linspace(0.0, 1.0, _PANELS + 1)
    half = (edges[..., 1:] - edges[..., :-1]) / 2
    v = ((edges[..., :-1] + edges[..., 1:]) / 2)[..., None] + half[..., None] * _GL_NODES
    r = np.exp(v).reshape(*t.shape[:-1], -1)
    weights = (half[..., None] * _GL_WEIGHTS).reshape(*t.shape[:-1], -1) * r  # dr = r dv
    return t, r, weights


def _log_outside(t: np.ndarray, r: np.ndarray) -> np.ndarray:
    """log P(|Z - t| > r) for t >= 0, with P(|Z - t| <= r) = Phi(t + r) - Phi(t - r) computed in the
    accurate tail."""
    root2 = math.sqrt(2.0)
    t, r = np.broadcast_arrays(t, r)
    tail = t - r >= 0.0
    inside = np.empty(t.shape)
    a, b = t[tail], r[tail]  # upper tail: by erfc
    inside[tail] = 0.5 * (special.erfc((a - b) / root2) - special.erfc((a + b) / root2))
    a, b = t[~tail], r[~tail]  # central: by erf
    inside[~tail] = 0.5 * (special.erf((a + b) / root2) - special.erf((a - b) / root2))
    with np.errstate(divide="ignore"):
        return np.log1p(-np.clip(inside, 0.0, 1.0))


def expected_min_sq_offset(n_samples: int, t) -> np.ndarray | float:
    """g_N(t) = E[min_k (Z_k - t)^2], Z_k ~ N(0, 1) i.i.d.; even in t, vectorised over ``t``.

    g_N(t) = int_0^inf 2 r (1 - p_t(r))^N dr with p_t(r) = Phi(t + r) - Phi(t - r), by composite
    Gauss-Legendre quadrature in log r (relative error below 1e-10 for N <= 1e6, |t| <= 6).
    """
    n_samples = integer("n_samples", n_samples)
    t0 = _t_array(t)
    t, r, weights = _nearest_rule(n_samples, t0)
    value = (weights * 2 * r * np.exp(n_samples * _log_outside(t, r))).sum(-1)
    return float(value) if t0.ndim == 0 else value


def expected_nearest_offset(n_samples: int, t) -> np.ndarray | float:
    """h_N(t) = E[Z_sel - t], Z_sel the Z_k (k <= N, i.i.d. N(0, 1)) nearest t; odd in t, vectorised
    over ``t``.

    h_N(t) = int_0^inf N r (1 - p_t(r))^(N-1) (phi(t + r) - phi(t - r)) dr, same quadrature as
    :func:`expected_min_sq_offset`.
    """
    n_samples = integer("n_samples", n_samples)
    t0 = _t_array(t)
    t, r, weights = _nearest_rule(n_samples, t0)
    density = (np.exp(-0.5 * (t + r) ** 2) - np.exp(-0.5 * (t - r) ** 2)) / math.sqrt(2 * math.pi)
    survive = np.exp((n_samples - 1) * _log_outside(t, r)) if n_samples > 1 else 1.0
    value = np.sign(t0) * (weights * n_samples * r * survive * density).sum(-1)
    return float(value) if t0.ndim == 0 else value


def best_of_n_risk_1d(n_samples: int, tau: float, mean, center, target) -> np.ndarray:
    """Exact E[(w_sel - w*)^2] in d = 1 when the score is (w - c)^2 (or any increasing function of
    |w - c|).

    Candidates w_k = m + tau Z_k; with t = (c - m)/tau and delta = c - w*:
    E[(w_sel - w*)^2] = tau^2 g_N(t) + 2 tau delta h_N(t) + delta^2. ``mean`` (m), ``center`` (c)
    and ``target`` (w*) broadcast against each other; returns their shape.
    """
    n_samples = integer("n_samples", n_samples)
    tau = real("tau", tau, minimum=0.0, strict=True)
    m, c, w = np.broadcast_arrays(
        array("mean", mean), array("center", center), array("target", target)
    )
    t, delta = (c - m) / tau, c - w
    g, h = expected_min_sq_offset(n_samples, t), expected_nearest_offset(n_samples, t)
    return tau**2 * g + 2.0 * tau * delta * h + delta**2


_V_NODES, _V_WEIGHTS = np.polynomial.legendre.leggauss(16)
_LOWER_MASS = 1e-16  # the rule starts where N_max F(u) = 1e-16 (F the score's CDF) ...
_UPPER_TAIL = 1e-20  # ... and stops where P(score > u) = 1e-20
_PANEL = 0.5  # panel width in log u, in units of min(1, sd / mean) of the score


def _sample_counts(n_samples) -> tuple[np.ndarray, bool]:
    """``n_samples`` as a 1-D int array (and whether it was a scalar), or ``ValueError``."""
    if np.ndim(n_samples) == 0:
        return np.array([integer("n_samples", n_samples)]), True
    values = np.asarray(n_samples)
    if values.ndim != 1 or values.size == 0 or values.dtype.kind not in "iu" or values.min() < 1:
        raise ValueError(
            f"n_samples must be an integer >= 1 or a non-empty 1-D array of them, got {n_samples!r}"
        )
    return values.astype(np.int64), False


def _nonnegative_array(name: str, value) -> np.ndarray:
    """``value`` as a float array, or ``ValueError`` naming ``name`` unless every entry is finite
    and >= 0."""
    return array(name, value, minimum=0.0)


def _noncentral_log_sf(u: np.ndarray, d: int, lam: np.ndarray) -> np.ndarray:
    """log P(chi'^2_d(lam) > u), as log1p(-F) for u <= d + lam (F in the accurate lower tail), else
    log sf; one evaluation per node.

    The mean d + lam is where the two tails are equally accurate (F(d + lam) is between 1/2 and
    0.69, and Boost switches between the two series there too).
    """
    u, lam = np.broadcast_arrays(u, lam)
    lower = u <= d + lam
    log_sf = np.empty(u.shape)
    log_sf[lower] = np.log1p(-stats.ncx2.cdf(u[lower], d, lam[lower]))
    with np.errstate(divide="ignore"):
        log_sf[~lower] = np.log(stats.ncx2.sf(u[~lower], d, lam[~lower]))
    return log_sf


def _bisect(
    fun, lo: np.ndarray, hi: np.ndarray, iterations: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Bracket the root of an increasing vectorised ``fun`` in [lo, hi] by bisection."""
    for _ in range(iterations):
        mid = (lo + hi) / 2
        above = fun(mid) > 0
        lo, hi = np.where(above, lo, mid), np.where(above, mid, hi)
    return lo, hi


_BRACKET = 1e-4  # half-width in v = log u of the bracket checked around Boost's quantile


def _bracket_root(
    fun, guess: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """[a, b] with fun(a) <= 0 < fun(b) for an increasing ``fun(v, index)`` (index selects the
    entries of v): [guess - 1e-4, guess + 1e-4] where fun changes sign there, else 30 bisections of
    [lo, hi] (fun(lo) <= 0 < fun(hi) assumed)."""
    a, b = guess - _BRACKET, guess + _BRACKET
    index = np.arange(len(guess))
    with np.errstate(invalid="ignore"):
        values = fun(np.concatenate([a, b]), np.concatenate([index, index]))
        good = np.isfinite(guess) & (values[: len(guess)] <= 0) & (values[len(guess) :] > 0)
    if not np.all(good):
        bad = index[~good]
        a[bad], b[bad] = _bisect(lambda v: fun(v, bad), lo[bad], hi[bad])
    return a, b


def _minimum_score_rule(d: int, lam: np.ndarray, n_max: int):
    """Quadrature for the minimum of N <= n_max i.i.d. scores U ~ chi'^2_d(lam), one rule per entry
    of ``lam`` (B,).

    Composite 16-point Gauss-Legendre in v = log u on [u_lo, u_hi], panel width 0.5 min(1, sd/mean):
    u_lo solves n_max F(u_lo) = 1e-16 and u_hi solves P(U > u_hi) = 1e-20 (Boost's quantiles,
    checked to bracket the root within 2e-4 in v, else bisection in v; the rule starts at or below
    the first root and stops at or above the second). In log u the integrand u P(U > u)^N is a
    single smooth bump whatever N and d (in u it is a spike of width ~ N^(-2/d) at 0). Returns u_lo
    (B,), nodes u (B, M), weights (B, M) for du (the Jacobian u included), log P(U > u) (B, M).
    """
    mean, sd = d + lam, np.sqrt(2.0 * (d + 2.0 * lam))
    lower_mass = _LOWER_MASS / n_max
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # where a quantile fails, _bracket_root bisects
        guess_lo = np.log(stats.ncx2.ppf(lower_mass, d, lam))
        guess_hi = np.log(stats.ncx2.isf(_UPPER_TAIL, d, lam))
    with np.errstate(divide="ignore"):
        v_lo, _ = _bracket_root(
            lambda v, i: np.log(stats.ncx2.cdf(np.exp(v), d, lam[i])) - math.log(lower_mass),
            guess_lo,
            np.full_like(lam, -700.0),
            np.log(mean),
        )
        _, v_hi = _bracket_root(
            lambda v, i: math.log(_UPPER_TAIL) - np.log(stats.ncx2.sf(np.exp(v), d, lam[i])),
            guess_hi,
            np.log(mean),
            np.log(mean + 80.0 * sd + 200.0),
        )
    width = _PANEL * np.minimum(1.0, sd / mean)
    panels = int(np.ceil(np.max((v_hi - v_lo) / width)))
    edges = v_lo[:, None] + (v_hi - v_lo)[:, None] * np.linspace(0.0, 1.0, panels + 1)
    half = (edges[:, 1:] - edges[:, :-1]) / 2
    v = (((edges[:, 1:] + edges[:, :-1]) / 2)[..., None] + half[..., None] * _V_NODES).reshape(
        len(lam), -1
    )
    u = np.exp(v)
    weights = (half[..., None] * _V_WEIGHTS).reshape(len(lam), -1) * u
    return np.exp(v_lo), u, weights, _noncentral_log_sf(u, d, lam[:, None])


def _expected_minimum(counts: np.ndarray, d: int, lam: np.ndarray) -> np.ndarray:
    """E[min of N i.i.d. chi'^2_d(lam)] = int_0^inf P(U > u)^N du for each N in ``counts`` (K,) and
    lam (B,): (K, B)."""
    u_lo, _, weights, log_sf = _minimum_score_rule(d, lam, int(counts.max()))
    return u_lo + np.stack([(weights * np.exp(N * log_sf)).sum(-1) for N in counts])


def oracle_best_of_n_risk(n_samples, tau: float, *, bias2, d: int):
    """Exact oracle best-of-N risk given the prompt, any d: E[min_k ||m + tau xi_k - w*||^2].

    With lambda = bias2 / tau^2 (bias2 = ||m - w*||^2) the score is tau^2 U, U ~ chi'^2_d(lambda),
    and

        E[min] = tau^2 int_0^inf P(U > u)^N du = tau^2 int exp(v + N log P(U > e^v)) dv,

    integrated in v = log u (see ``_minimum_score_rule``), with log P(U > u) = log1p(-F(u)) in the
    lower tail. Accuracy (measured): relative error below 1e-13 against mpmath for d in {1, 2, 3, 5,
    10, 50}, N up to 10^7, and against the exact 2 tau^2 / N (d = 2, bias2 = 0); halving the panels
    changes it by less than 1e-15 for d <= 1000, lambda <= 1e5, N <= 1e7. ``n_samples``: an int, or
    a 1-D array of them; ``bias2``: a float or an array. Returns a float for scalar arguments, else
    an array of shape ``shape(n_samples) + shape(bias2)``.
    """
    counts, scalar_n = _sample_counts(n_samples)
    d = integer("d", d)
    tau = real("tau", tau, minimum=0.0, strict=True)
    bias2 = _nonnegative_array("bias2", bias2)
    value = tau**2 * _expected_minimum(counts, d, bias2.reshape(-1) / tau**2)
    value = value.reshape(counts.shape + bias2.shape)
    if scalar_n:
        value = value[0]
    return float(value) if value.ndim == 0 else value


_CF_DEPTH = 80


def _bessel_ratio_over_x(d: int, x: np.ndarray) -> np.ndarray:
    """A_d(x) / x = I_{d/2}(x) / (x I_{d/2 - 1}(x)) for x >= 0 (1/d at x = 0).

    By the continued fraction 1 / (d + x^2 / (d + 2 + x^2 / (d + 4 + ...))), evaluated backward from
    depth 80 + 6 sqrt(max(x)), where x < max(200, d/2 + 10) or ``scipy.special.ive`` underflows;
    elsewhere by ive (truncated at depth sqrt(40 x) + 8 the fraction already agrees with the deep
    one to 1e-17, measured for d <= 3000, x <= 1e4). Relative error below 1e-12 against mpmath for
    d <= 3000, 0 <= x <= 1e6.
    """
    x = np.asarray(x, dtype=float)
    nu = d / 2
    out = np.empty_like(x)
    fraction = x < max(200.0, nu + 10.0)
    large = x[~fraction]
    numerator = special.ive(nu, large)
    out[~fraction] = numerator / (special.ive(nu - 1, large) * large)
    underflow = np.zeros_like(fraction)
    underflow[~fraction] = ~(numerator > 1e-290)  # large d: use the continued fraction there too
    for where in (fraction, underflow):
        depth = _CF_DEPTH + int(6 * math.sqrt(x[where].max(initial=0.0)))
        x2 = x[where] ** 2
        tail = np.zeros_like(x2)
        for k in range(depth, 0, -1):
            tail = x2 / (d + 2 * k + tail)
        out[where] = 1.0 / (d + tail)
    return out


def _norm_reward_moments(
    counts: np.ndarray, d: int, lam: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """E[rho^2] and kappa_N = E[rho^2 A_d(rho sqrt(lam)) / (rho sqrt(lam))], rho^2 the min of N
    chi'^2_d(lam): (K, B) each."""
    u_lo, u, weights, log_sf = _minimum_score_rule(d, lam, int(counts.max()))
    with np.errstate(divide="ignore"):
        log_pdf = np.log(
            stats.ncx2.pdf(u, d, lam[:, None])
        )  # scipy's logpdf underflows to -inf for large d
    shrink = u * _bessel_ratio_over_x(d, np.sqrt(u * lam[:, None]))
    second, kappa = [], []
    for N in counts:
        density = N * np.exp((N - 1) * log_sf + log_pdf)  # of the minimum, at u
        second.append(u_lo + (weights * np.exp(N * log_sf)).sum(-1))
        kappa.append((weights * density * shrink).sum(-1))
    return np.stack(second), np.stack(kappa)


def norm_reward_shrinkage(n_samples, tau: float, *, mean_norm, d: int):
    """kappa_N with E[w_sel | prompt] = kappa_N m for the norm reward (smallest ||w||^2 of N
    candidates m + tau xi_k).

    Exact given the prompt: the scores ||w_k||^2 / tau^2 are i.i.d. chi'^2_d(lambda), lambda =
    ||m||^2 / tau^2; given ||w_sel|| = tau rho the direction of w_sel is von Mises-Fisher about m /
    ||m|| with concentration rho ||m|| / tau, so

        kappa_N = (tau / ||m||) E[rho A_d(rho ||m|| / tau)],   A_d = I_{d/2} / I_{d/2 - 1},

    rho^2 the minimum of N chi'^2_d(lambda) draws (density N P(U > u)^(N-1) f(u), same quadrature as
    :func:`oracle_best_of_n_risk`). kappa_1 = 1; at m = 0 the limit is E[rho^2] / d. Accuracy
    (measured): kappa_1 = 1 to 2e-14, and halving the panels changes kappa_N by less than 5e-13 (d
    <= 1000, lambda <= 1e5, N <= 1e7); in d = 1, :func:`norm_reward_risk` equals
    :func:`best_of_n_risk_1d` with c = 0 to 1e-11. ``mean_norm`` = ||m|| (float or array); returns a
    float for scalar arguments, else shape ``shape(n_samples) + shape(mean_norm)``.
    """
    counts, scalar_n = _sample_counts(n_samples)
    d = integer("d", d)
    tau = real("tau", tau, minimum=0.0, strict=True)
    mean_norm = _nonnegative_array("mean_norm", mean_norm)
    kappa = _norm_reward_moments(counts, d, (mean_norm.reshape(-1) / tau) ** 2)[1].reshape(
        counts.shape + mean_norm.shape
    )
    if scalar_n:
        kappa = kappa[0]
    return float(kappa) if kappa.ndim == 0 else kappa


def norm_reward_risk(n_samples, tau: float, mean, target):
    """Exact E||w_sel - w*||^2 given the prompt for the norm reward (smallest ||w||^2 of N
    candidates m + tau xi_k).

        E||w_sel - w*||^2 = tau^2 E[rho^2] - 2 kappa_N <m, w*> + ||w*||^2,

    rho^2 the minimum of N chi'^2_d(||m||^2 / tau^2) draws and kappa_N as in
    :func:`norm_reward_shrinkage`. ``mean`` (m) and ``target`` (w*) have shape ``(..., d)`` (numpy
    or torch); returns shape ``(...)`` for an int ``n_samples``, ``(K, ...)`` for a 1-D array of K
    sample counts (a float for a single prompt and N).
    """
    counts, scalar_n = _sample_counts(n_samples)
    tau = real("tau", tau, minimum=0.0, strict=True)
    m, w = _as_array(mean, "mean"), _as_array(target, "target")
    if m.ndim < 1 or m.shape != w.shape:
        raise ValueError(
            f"mean and target must have the same shape (..., d), got {m.shape} and {w.shape}"
        )
    batch, d = m.shape[:-1], m.shape[-1]
    m, w = m.reshape(-1, d), w.reshape(-1, d)
    second, kappa = _norm_reward_moments(counts, d, (m**2).sum(-1) / tau**2)
    risk = (tau**2 * second - 2.0 * kappa * (m * w).sum(-1) + (w**2).sum(-1)).reshape(
        counts.shape + batch
    )
    if scalar_n:
        risk = risk[0]
    return float(risk) if risk.ndim == 0 else risk


REWARDS_1D = ("oracle", "in-context loss", "norm")
# beyond |t| = 13 the nearest of N <= 1e7 normals to t is the extreme one (P(max > 13) < 1e-31)
_T_MAX = 13.0
_T_PANEL, _T_ORDER = 0.5, 12
_CHEB = np.cos((2 * np.arange(_T_ORDER) + 1) * np.pi / (2 * _T_ORDER))[
    ::-1
]  # Chebyshev points of the first kind
_CHEB_BARY = (-1.0) ** np.arange(_T_ORDER) * np.sin(
    (2 * np.arange(_T_ORDER) + 1) * np.pi / (2 * _T_ORDER)
)[::-1]
_T_NODES = np.append(
    (np.arange(0.0, _T_MAX, _T_PANEL)[:, None] + _T_PANEL * (_CHEB + 1) / 2).ravel(), _T_MAX
)
_GL8 = np.polynomial.legendre.leggauss(8)
_GL12 = np.polynomial.legendre.leggauss(12)
_MAX_SAMPLES_1D = 10**7


def _composite(edges: np.ndarray, rule) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (..., P * order) of a Gauss-Legendre rule on the panels between ``edges``
    (..., P + 1)."""
    half = (edges[..., 1:] - edges[..., :-1]) / 2
    nodes = ((edges[..., 1:] + edges[..., :-1]) / 2)[..., None] + half[..., None] * rule[0]
    return nodes.reshape(*edges.shape[:-1], -1), (half[..., None] * rule[1]).reshape(
        *edges.shape[:-1], -1
    )


@functools.lru_cache(maxsize=4)
def _nearest_moments(counts: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """mu1(t) / t and mu2(t) at ``_T_NODES`` for each N, mu_k(t) = E[Z_sel^k], Z_sel the nearest of
    N normals to t: (K, T) each.

    mu_k(t) = int_0^inf N (1 - p_t(r))^(N-1) [(t + r)^k phi(t + r) + (t - r)^k phi(t - r)] dr,
    p_t(r) = Phi(t + r) - Phi(t - r) (r = |Z_sel - t|): Gauss-Legendre on 24 panels in log r from
    1e-6 r_N (r_N = min(1 / (2 N phi(t)), t + 1) the typical distance to the nearest sample, largest
    N) to 1, plus the exact first-order piece below, and on 42 panels in r from 1 to t + 9. The same
    nodes serve every N; where N - 1 precedes N in ``counts``, (1 - p)^(N-1) is the previous power
    times (1 - p) (for N = 1..1000 within 7e-14 of exp((N - 1) log(1 - p)) in the averaged risks).
    """
    n_max = max(counts)
    t = _T_NODES[:, None]
    phi_t = np.exp(-0.5 * t**2) / math.sqrt(2 * math.pi)
    r_low = 1e-6 * np.minimum(1.0 / (2.0 * n_max * phi_t), t + 1.0)
    log_r, log_w = _composite(np.log(r_low) * np.linspace(1.0, 0.0, 25), _GL12)
    lin_r, lin_w = _composite(1.0 + (t + 8.0) * np.linspace(0.0, 1.0, 43), _GL8)
    r = np.concatenate([np.exp(log_r), lin_r], 1)
    weights = np.concatenate([log_w * np.exp(log_r), lin_w], 1)
    log_outside = np.maximum(
        _log_outside(t, r), -1e300
    )  # finite, so that N = 1 gives (1 - p)^0 = 1
    plus, minus = (np.exp(-0.5 * (t + r) ** 2), np.exp(-0.5 * (t - r) ** 2))
    first = weights * ((t + r) * plus + (t - r) * minus) / math.sqrt(2 * math.pi)
    second = weights * ((t + r) ** 2 * plus + (t - r) ** 2 * minus) / math.sqrt(2 * math.pi)
    outside = np.exp(log_outside)
    nu, mu2, previous, survive = [], [], None, None
    for N in counts:
        # (1 - p)^(N - 1), by one product from the previous N where that was N - 1
        survive = survive * outside if previous == N - 1 else np.exp((N - 1) * log_outside)
        previous = N
        nu.append(
            N * ((survive * first).sum(1) + r_low[:, 0] * 2 * t[:, 0] * phi_t[:, 0]) / t[:, 0]
        )
        mu2.append(N * ((survive * second).sum(1) + r_low[:, 0] * 2 * t[:, 0] ** 2 * phi_t[:, 0]))
    return np.array(nu), np.array(mu2)


def _interpolation_weights(t: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Weights (K, T) on ``_T_NODES`` of sum_i values_ki f(t_i) for f interpolated on each panel (t
    in [0, _T_MAX]); ``values`` (K, P) share the interpolation basis of ``t`` (P,)."""
    panel = np.minimum((t / _T_PANEL).astype(int), len(_T_NODES) // _T_ORDER - 1)
    x = 2.0 * (t - panel * _T_PANEL) / _T_PANEL - 1.0
    diff = x[:, None] - _CHEB
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = _CHEB_BARY / diff
    total = terms.sum(1, keepdims=True)
    hit = np.flatnonzero(~np.isfinite(total[:, 0]))  # t on a Chebyshev point (diff = 0)
    terms[hit], total[hit] = diff[hit] == 0.0, 1.0
    basis = terms / total
    index = (panel[:, None] * _T_ORDER + np.arange(_T_ORDER)).ravel()
    return np.stack(
        [np.bincount(index, (v[:, None] * basis).ravel(), minlength=len(_T_NODES)) for v in values]
    )


@functools.lru_cache(maxsize=16)
def _averaging_weights(
    tau: float, n: int, sigma2: float, eta: float, reward: str, psi2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (2, T) of (mu1(t)/t, mu2(t)) at ``_T_NODES``, and (2,) of the tail constants (m1, m2)
    = (mu1, mu2) at t = 13.

    Given Q = sum x_i^2 = s, a = m - w* = alpha . (w*, Z) and tau t = theta . (w*, Z) with (w*, Z) ~
    N(0, diag(psi2, 1)): t = sqrt(v) u with u ~ N(0, 1), and E[risk | s] = B_s + 2 C E[u^2 mu1(t)/t]
    + tau^2 E[mu2(t)], C = Cov(a, tau t). s: Gauss-Legendre in log s (chi^2_n density, mass outside
    2e-13); u: 40 panels of 8 nodes on [0, min(10, T / sqrt v)]; |t| > T = 13: mu1 = sign(t) m1, mu2
    = m2 in closed form.
    """
    x_lo, x_hi = np.log(stats.chi2.ppf(1e-13, n)), np.log(stats.chi2.isf(1e-13, n))
    x, wx = _composite(np.linspace(x_lo, x_hi, int(np.ceil((x_hi - x_lo) / 0.25)) + 1), _GL12)
    s = np.exp(x)
    ws = wx * np.exp(stats.chi2.logpdf(s, n) + x)
    sigma = math.sqrt(sigma2)
    alpha = np.stack([eta * s / n - 1.0, eta * sigma * np.sqrt(s) / n])  # a = alpha . (w*, Z)
    if reward == "oracle":
        theta = -alpha  # c = w*
    elif reward == "in-context loss":
        theta = (1.0 / s - eta / n) * np.stack([s, sigma * np.sqrt(s)])  # c = Q_xy / Q
    else:
        theta = -(eta / n) * np.stack([s, sigma * np.sqrt(s)])  # c = 0
    scale = np.array([psi2, 1.0])[:, None]
    sd_t = np.sqrt((scale * theta**2).sum(0)) / tau  # sqrt(v)
    cov = (scale * alpha * theta).sum(0)  # C = Cov(a, tau t)
    with np.errstate(divide="ignore"):
        u_edge = np.where(sd_t > 0, _T_MAX / sd_t, np.inf)
    u_top = np.minimum(u_edge, 10.0)
    u, wu = _composite(u_top[:, None] * np.linspace(0.0, 1.0, 41), _GL8)
    density = (
        ws[:, None] * wu * 2 * np.exp(-0.5 * u**2) / math.sqrt(2 * math.pi)
    )  # u and -u together
    t = np.minimum(sd_t[:, None] * u, _T_MAX).ravel()
    node_weights = _interpolation_weights(
        t, np.stack([(density * 2 * cov[:, None] * u**2).ravel(), (density * tau**2).ravel()])
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        tail_m1 = np.where(
            sd_t > 0, 4 * cov * np.exp(-0.5 * u_edge**2) / math.sqrt(2 * math.pi) / sd_t, 0.0
        )
    tail_m2 = 2 * tau**2 * special.ndtr(-u_edge)
    return node_weights, np.array([(ws * tail_m1).sum(), (ws * tail_m2).sum()])


def best_of_n_risk_1d_averaged(
    n_samples, tau: float, *, n: int, sigma2: float, eta: float, reward: str, psi2: float = 1.0
):
    """Exact prompt-averaged best-of-N risk E||w_sel - w*||^2 in d = 1, for the three rewards of
    Chapter 4.

    Prompt: x_i ~ N(0, 1), w* ~ N(0, psi2), y_i = w* x_i + sigma eps_i (i <= n); Q = sum x_i^2 ~
    chi^2_n, Q_xy = sum x_i y_i = w* Q + sigma sqrt(Q) Z. Candidates m + tau Z_k, m = eta Q_xy / n.
    Every reward picks the candidate nearest a centre c (oracle c = w*, in-context loss c = Q_xy /
    Q, norm c = 0), i.e. Z_sel = the Z_k nearest t = (c - m) / tau:

        R_N = B + E[2 tau a mu1_N(t) + tau^2 mu2_N(t)],   a = m - w*,  mu_k(t) = E[Z_sel^k | t],

    with B = E a^2 the greedy one-step risk (exact, ``one_step_risk(n, 1, sigma2, eta)``). Given Q,
    (a, t) is a centred Gaussian pair, so the expectation is a two-dimensional integral (over Q and
    t) of the one-dimensional integrals mu_k; mu_k is computed once per N on fixed Chebyshev panels
    in t and interpolated (``_nearest_moments``).

    ``n_samples``: an int or a 1-D array of ints (1 <= N <= 1e7); returns a float or an array of the
    same length. Cost: about a second for N = 1..1000 (the mu_k tables are cached per tuple of N).
    Accuracy (measured against a direct quadrature that evaluates mu_k at every node, without
    interpolation, on finer rules): relative error below 3e-9 for n in {1, 2, 3, 6, 40}, N <= 1e4,
    tau in [0.1, 1], all three rewards, and below 1e-11 at n = 6, sigma2 = 3, eta = 6/11, tau = 0.3
    (N = 2, 6, 1000); N = 1 gives B + tau^2 to round-off. ``tests/test_theory_best_of_n.py`` repeats
    two of these points and a Monte Carlo check.
    """
    counts, scalar_n = _sample_counts(n_samples)
    if counts.max() > _MAX_SAMPLES_1D:
        raise ValueError(f"n_samples must be <= {_MAX_SAMPLES_1D}, got {counts.max()}")
    tau = real("tau", tau, minimum=0.0, strict=True)
    n, sigma2 = integer("n", n), real("sigma2", sigma2, minimum=0.0)
    eta, psi2 = (
        real("eta", eta, minimum=0.0, strict=True),
        real("psi2", psi2, minimum=0.0, strict=True),
    )
    if reward not in REWARDS_1D:
        raise ValueError(f"reward must be one of {REWARDS_1D}, got {reward!r}")
    node_weights, tail_weights = _averaging_weights(tau, n, sigma2, eta, reward, psi2)
    nu, mu2 = _nearest_moments(tuple(int(N) for N in counts))
    greedy = psi2 * (1 - 2 * eta + eta**2 * (n + 2) / n) + eta**2 * sigma2 / n
    risk = (
        greedy
        + nu @ node_weights[0]
        + mu2 @ node_weights[1]
        + (nu[:, -1] * _T_MAX) * tail_weights[0]
        + mu2[:, -1] * tail_weights[1]
    )
    return float(risk[0]) if scalar_n else risk


def _as_array(value, name: str) -> np.ndarray:
    return array(name, value)


def gaussian_selection_risk(
    n_samples: int, tau: float, risk_offset, score_offset, metric=None
) -> np.ndarray:
    """Gaussian (high-dimensional) approximation of E[||w_sel - w*||^2] for a quadratic score.

    Candidates w = m + tau xi, xi ~ N(0, I_d); score s(w) = (w - c0)^T M (w - c0);
    ``risk_offset`` a = m - w*, ``score_offset`` c = m - c0, shapes ``(..., d)``; ``metric`` M is
    ``(..., d, d)`` (symmetric) or ``None`` for I_d. With R = ||a + tau xi||^2 and s = (c + tau
    xi)^T M (c + tau xi):

        mu_R = ||a||^2 + tau^2 d,   Var s = 4 tau^2 c^T M^2 c + 2 tau^4 tr M^2,
        Cov(R, s) = 4 tau^2 a^T M c + 2 tau^4 tr M,
        E[R_sel] ~ mu_R + Cov(R, s) / sd(s) * e_N       (exact if (R, s) were jointly Gaussian).

    Returns an array of shape ``(...)``, one value per prompt.
    """
    n_samples = integer("n_samples", n_samples)
    tau = real("tau", tau, minimum=0.0, strict=True)
    a, c = _as_array(risk_offset, "risk_offset"), _as_array(score_offset, "score_offset")
    if a.ndim < 1 or a.shape != c.shape:
        raise ValueError(
            "risk_offset and score_offset must have the same shape (..., d), "
            f"got {a.shape} and {c.shape}"
        )
    d = a.shape[-1]
    if metric is None:  # M = I_d
        Mc, tr_M, tr_M2 = c, d, d
    else:
        M = _as_array(metric, "metric")
        if M.shape[-2:] != (d, d):
            raise ValueError(f"metric must have shape (..., {d}, {d}), got {M.shape}")
        Mc = np.einsum("...ij,...j->...i", M, c)
        tr_M, tr_M2 = np.einsum("...ii->...", M), np.einsum("...ij,...ji->...", M, M)
    var_s = 4 * tau**2 * (Mc**2).sum(-1) + 2 * tau**4 * tr_M2
    cov = 4 * tau**2 * (a * Mc).sum(-1) + 2 * tau**4 * tr_M
    return (a**2).sum(-1) + tau**2 * d + cov / np.sqrt(var_s) * expected_min_gaussian(n_samples)


def oracle_gaussian_risk(n_samples: int, tau: float, *, d: int, bias2: float) -> float:
    """Gaussian approximation of the oracle risk: B + tau^2 d + e_N sqrt(4 tau^2 B + 2 tau^4 d), B =
    bias2."""
    n_samples, d = integer("n_samples", n_samples), integer("d", d)
    tau, bias2 = real("tau", tau, minimum=0.0), real("bias2", bias2, minimum=0.0)
    return (
        bias2
        + tau**2 * d
        + expected_min_gaussian(n_samples) * math.sqrt(4 * tau**2 * bias2 + 2 * tau**4 * d)
    )


def _oracle_ratio(n_samples: int, d: int) -> float:
    e2 = expected_min_gaussian(n_samples) ** 2
    if 2 * e2 >= d:
        raise ValueError(
            f"n_samples = {n_samples} is outside the Gaussian approximation's range "
            f"2 e_N^2 < d = {d}"
        )
    return 1.0 - 2.0 * e2 / d


def oracle_optimal_temperature(n_samples: int, *, d: int, bias2: float) -> float:
    """tau*(N) minimising :func:`oracle_gaussian_risk`: tau*^2 = (B/d) (1/sqrt(1 - 2 e_N^2/d) -
    1)."""
    n_samples, d = integer("n_samples", n_samples), integer("d", d)
    bias2 = real("bias2", bias2, minimum=0.0)
    return math.sqrt(bias2 / d * (1.0 / math.sqrt(_oracle_ratio(n_samples, d)) - 1.0))


def oracle_optimal_risk(n_samples: int, *, d: int, bias2: float) -> float:
    """min over tau of :func:`oracle_gaussian_risk`: R*(N) = B sqrt(1 - 2 e_N^2 / d)."""
    n_samples, d = integer("n_samples", n_samples), integer("d", d)
    bias2 = real("bias2", bias2, minimum=0.0)
    return bias2 * math.sqrt(_oracle_ratio(n_samples, d))


def nearest_sample_asymptote(n_samples: int, t: float, spread: float = 1.0) -> float:
    """Halder and Pehlevan's law: E[min_k (s Z_k - s t)^2] ~ pi e^{t^2} s^2 / N^2 as N -> inf."""
    n_samples = integer("n_samples", n_samples)
    t, spread = real("t", t), real("spread", spread, minimum=0.0, strict=True)
    log_value = math.log(math.pi) + t * t + 2 * math.log(spread) - 2 * math.log(n_samples)
    if log_value > math.log(np.finfo(float).max):
        raise ValueError(f"the asymptote overflows a float at t = {t} (log value {log_value:.1f})")
    return math.exp(log_value)


def min_norm_risk(n: int, d: int, sigma2: float, *, psi2: float = 1.0) -> float:
    """E||X^+ y - w||^2 = psi2 (d - n) + sigma2 n / (d - n - 1) for n <= d - 2 (infinite for n = d -
    1)."""
    n, d, sigma2 = integer("n", n), integer("d", d), real("sigma2", sigma2, minimum=0.0)
    psi2 = real("psi2", psi2, minimum=0.0, strict=True)
    if n >= d:
        raise ValueError(f"n must be < d = {d} for the minimum-norm interpolator, got {n}")
    noise = sigma2 * n / (d - n - 1) if n <= d - 2 else (math.inf if sigma2 > 0 else 0.0)
    return psi2 * (d - n) + noise


def in_context_limit_risk(n: int, d: int, sigma2: float, tau: float, *, psi2: float = 1.0) -> float:
    """N -> inf risk of best-of-N with the in-context loss, candidates m + tau xi with m in the row
    space of X.

    n >= d: the least-squares risk sigma2 d / (n - d - 1); n < d: the selected candidate tends to
    X^+ y + tau P_null xi, risk psi2 (d - n) + sigma2 n / (d - n - 1) + tau^2 (d - n).
    """
    tau = real("tau", tau, minimum=0.0)
    if integer("n", n) >= integer("d", d):
        return least_squares_risk(n, d, sigma2)
    return min_norm_risk(n, d, sigma2, psi2=psi2) + tau**2 * (d - n)
