"""Chapter 4: best-of-N with a reward, through the distribution of the minimum of N i.i.d. scores.

Setup: given a prompt, N candidates w_k = m + tau * xi_k, xi_k ~ N(0, I_d) i.i.d.
(one noisy GD step from w_0 = 0: m = eta X^T y / n). A reward is a score s(w)
to minimise; best-of-N returns the candidate of smallest score. For the oracle
s(w) = ||w - w*||^2 the returned risk is E[min_k s(w_k)] = int_0^inf P(s > u)^N du.

Exact (one-dimensional quadrature):

- ``expected_min_gaussian(N)`` = E[min of N i.i.d. N(0, 1)]
  = -( int_0^inf (1 - Phi(x)^N) dx - int_{-inf}^0 Phi(x)^N dx );
- ``expected_min_sq_offset(N, t)`` = g_N(t) = E[min_k (Z_k - t)^2]
  = int_0^inf 2 r (1 - p_t(r))^N dr,   p_t(r) = Phi(t + r) - Phi(t - r);
- ``expected_nearest_offset(N, t)`` = h_N(t) = E[Z_sel - t], Z_sel the Z_k nearest t,
  = int_0^inf N r (1 - p_t(r))^(N-1) (phi(t + r) - phi(t - r)) dr;
- ``best_of_n_risk_1d``: in d = 1, any reward s(w) = (w - c)^2 (oracle c = w*,
  in-context loss c = least squares, norm c = 0) selects the candidate nearest c, and
  E[(w_sel - w*)^2] = tau^2 g_N(t) + 2 tau delta h_N(t) + delta^2,  t = (c - m)/tau, delta = c - w*;
- ``oracle_best_of_n_risk``: in any d, the oracle score is tau^2 chi'^2_d(lambda), lambda = ||m - w*||^2 / tau^2,
  and the risk is tau^2 int_0^inf [P(chi'^2_d(lambda) > u)]^N du;
- ``least_squares_risk``, ``min_norm_risk``, ``in_context_limit_risk``: the N -> inf limit of the
  in-context-loss reward.

Approximate (Gaussian scores, d large):

- ``gaussian_selection_risk``: treating (risk, score) of one candidate as jointly Gaussian,
  E[R_sel] = mu_R + Cov(R, s) / sd(s) * e_N with e_N = expected_min_gaussian(N);
- ``oracle_gaussian_risk``, ``oracle_optimal_temperature``, ``oracle_optimal_risk``: its oracle case with
  ||m - w*||^2 replaced by its mean B: R = B + tau^2 d + e_N sqrt(4 tau^2 B + 2 tau^4 d),
  tau*^2 = (B/d)(1/sqrt(1 - 2 e_N^2/d) - 1), R* = B sqrt(1 - 2 e_N^2/d), valid while 2 e_N^2 < d;
- ``nearest_sample_asymptote``: E[min_k (Z_k - t)^2] ~ pi e^{t^2} / N^2 (Halder and Pehlevan).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special, stats

from icl.theory.gradient_descent import least_squares_risk
from icl.validation import integer, real

_QUAD = dict(epsabs=0.0, epsrel=1e-12, limit=500)


def expected_min_gaussian(n_samples: int) -> float:
    """E[min(Z_1, ..., Z_N)], Z_k ~ N(0, 1) i.i.d., by quadrature (absolute error below 1e-10 for N <= 1e4).

    E[min] = -E[max] and E[max] = int_0^inf (1 - Phi(x)^N) dx - int_{-inf}^0 Phi(x)^N dx,
    with Phi(x)^N evaluated as exp(N log Phi(x)). Examples: N = 2: -1/sqrt(pi); N = 3: -3/(2 sqrt(pi)).
    """
    n_samples = integer("n_samples", n_samples)
    if n_samples == 1:
        return 0.0
    log_phi = special.log_ndtr
    peak = math.sqrt(2.0 * math.log(n_samples))
    upper = sum(integrate.quad(lambda x: -math.expm1(n_samples * log_phi(x)), a, b, epsabs=1e-14, epsrel=1e-13, limit=500)[0]
                for a, b in [(0.0, peak), (peak, peak + 4.0), (peak + 4.0, 40.0)])
    lower = integrate.quad(lambda x: math.exp(n_samples * log_phi(x)), -40.0, 0.0, epsabs=1e-14, epsrel=1e-13, limit=500)[0]
    return -(upper - lower)


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)
_PANELS = 40


def _t_array(t) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(t)):
        raise ValueError("t must be finite")
    return t


def _nearest_rule(n_samples: int, t: np.ndarray):
    """Nodes r (..., K) and weights of a composite Gauss-Legendre rule in log r covering the distance to the nearest Z_k.

    The range is [1e-7 s, |t| + 12] with s = 1 / (2 N phi(t)) the typical distance (floored at 1e-300): the
    integrands vanish like r^2 below it and like P(|Z - t| > r)^N above it.
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
    """log P(|Z - t| > r) for t >= 0, with P(|Z - t| <= r) = Phi(t + r) - Phi(t - r) computed in the accurate tail."""
    root2 = math.sqrt(2.0)
    upper_tail = 0.5 * (special.erfc((t - r) / root2) - special.erfc((t + r) / root2))
    central = 0.5 * (special.erf((t + r) / root2) - special.erf((t - r) / root2))
    inside = np.clip(np.where(t - r >= 0.0, upper_tail, central), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return np.log1p(-inside)


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
    """h_N(t) = E[Z_sel - t], Z_sel the Z_k (k <= N, i.i.d. N(0, 1)) nearest t; odd in t, vectorised over ``t``.

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
    """Exact E[(w_sel - w*)^2] in d = 1 when the score is (w - c)^2 (or any increasing function of |w - c|).

    Candidates w_k = m + tau Z_k; with t = (c - m)/tau and delta = c - w*:
    E[(w_sel - w*)^2] = tau^2 g_N(t) + 2 tau delta h_N(t) + delta^2.
    ``mean`` (m), ``center`` (c) and ``target`` (w*) broadcast against each other; returns their shape.
    """
    n_samples = integer("n_samples", n_samples)
    tau = real("tau", tau, minimum=0.0, strict=True)
    m, c, w = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (mean, center, target)))
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(c)) and np.all(np.isfinite(w))):
        raise ValueError("mean, center and target must be finite")
    t, delta = (c - m) / tau, c - w
    g, h = expected_min_sq_offset(n_samples, t), expected_nearest_offset(n_samples, t)
    return tau**2 * g + 2.0 * tau * delta * h + delta**2


def oracle_best_of_n_risk(n_samples: int, tau: float, bias2: float, d: int) -> float:
    """Exact oracle best-of-N risk given the prompt, any d: E[min_k ||m + tau xi_k - w*||^2].

    With lambda = bias2 / tau^2 (bias2 = ||m - w*||^2) the score is tau^2 chi'^2_d(lambda) and
    E[min] = tau^2 int_0^inf [P(chi'^2_d(lambda) > u)]^N du.
    """
    n_samples, d = integer("n_samples", n_samples), integer("d", d)
    tau = real("tau", tau, minimum=0.0, strict=True)
    lam = real("bias2", bias2, minimum=0.0) / tau**2
    law = stats.ncx2(d, lam) if lam > 0 else stats.chi2(d)
    mean, sd = d + lam, math.sqrt(2 * (d + 2 * lam))
    guess = max(mean + expected_min_gaussian(min(n_samples, 10**4)) * sd, 0.0)
    upper = mean + 40 * sd
    points = sorted({p for p in (guess / 2, guess, mean) if 0 < p < upper})
    value = integrate.quad(lambda u: law.sf(u) ** n_samples, 0.0, upper, points=points, **_QUAD)[0]
    return tau**2 * value


def _as_array(value, name: str) -> np.ndarray:
    array = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=float)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must have finite entries")
    return array


def gaussian_selection_risk(n_samples: int, tau: float, risk_offset, score_offset, metric=None) -> np.ndarray:
    """Gaussian (high-dimensional) approximation of E[||w_sel - w*||^2] for a quadratic score.

    Candidates w = m + tau xi, xi ~ N(0, I_d); score s(w) = (w - c0)^T M (w - c0);
    ``risk_offset`` a = m - w*, ``score_offset`` c = m - c0, shapes ``(..., d)``; ``metric`` M is
    ``(..., d, d)`` (symmetric) or ``None`` for I_d. With R = ||a + tau xi||^2 and s = (c + tau xi)^T M (c + tau xi):

        mu_R = ||a||^2 + tau^2 d,   Var s = 4 tau^2 c^T M^2 c + 2 tau^4 tr M^2,
        Cov(R, s) = 4 tau^2 a^T M c + 2 tau^4 tr M,
        E[R_sel] ~ mu_R + Cov(R, s) / sd(s) * e_N       (exact if (R, s) were jointly Gaussian).

    Returns an array of shape ``(...)``, one value per prompt.
    """
    n_samples = integer("n_samples", n_samples)
    tau = real("tau", tau, minimum=0.0, strict=True)
    a, c = _as_array(risk_offset, "risk_offset"), _as_array(score_offset, "score_offset")
    if a.ndim < 1 or a.shape != c.shape:
        raise ValueError(f"risk_offset and score_offset must have the same shape (..., d), got {a.shape} and {c.shape}")
    d = a.shape[-1]
    M = np.broadcast_to(np.eye(d), a.shape[:-1] + (d, d)) if metric is None else _as_array(metric, "metric")
    if M.shape[-2:] != (d, d):
        raise ValueError(f"metric must have shape (..., {d}, {d}), got {M.shape}")
    Mc = np.einsum("...ij,...j->...i", M, c)
    tr_M, tr_M2 = np.einsum("...ii->...", M), np.einsum("...ij,...ji->...", M, M)
    var_s = 4 * tau**2 * (Mc**2).sum(-1) + 2 * tau**4 * tr_M2
    cov = 4 * tau**2 * (a * Mc).sum(-1) + 2 * tau**4 * tr_M
    return (a**2).sum(-1) + tau**2 * d + cov / np.sqrt(var_s) * expected_min_gaussian(n_samples)


def oracle_gaussian_risk(n_samples: int, tau: float, d: int, bias2: float) -> float:
    """Gaussian approximation of the oracle risk: B + tau^2 d + e_N sqrt(4 tau^2 B + 2 tau^4 d), B = bias2."""
    n_samples, d = integer("n_samples", n_samples), integer("d", d)
    tau, bias2 = real("tau", tau, minimum=0.0), real("bias2", bias2, minimum=0.0)
    return bias2 + tau**2 * d + expected_min_gaussian(n_samples) * math.sqrt(4 * tau**2 * bias2 + 2 * tau**4 * d)


def _oracle_ratio(n_samples: int, d: int) -> float:
    e2 = expected_min_gaussian(n_samples) ** 2
    if 2 * e2 >= d:
        raise ValueError(f"n_samples = {n_samples} is outside the Gaussian approximation's range 2 e_N^2 < d = {d}")
    return 1.0 - 2.0 * e2 / d


def oracle_optimal_temperature(n_samples: int, d: int, bias2: float) -> float:
    """tau*(N) minimising :func:`oracle_gaussian_risk`: tau*^2 = (B/d) (1/sqrt(1 - 2 e_N^2/d) - 1)."""
    n_samples, d = integer("n_samples", n_samples), integer("d", d)
    bias2 = real("bias2", bias2, minimum=0.0)
    return math.sqrt(bias2 / d * (1.0 / math.sqrt(_oracle_ratio(n_samples, d)) - 1.0))


def oracle_optimal_risk(n_samples: int, d: int, bias2: float) -> float:
    """min over tau of :func:`oracle_gaussian_risk`: R*(N) = B sqrt(1 - 2 e_N^2 / d)."""
    n_samples, d = integer("n_samples", n_samples), integer("d", d)
    bias2 = real("bias2", bias2, minimum=0.0)
    return bias2 * math.sqrt(_oracle_ratio(n_samples, d))


def nearest_sample_asymptote(n_samples: int, t: float, spread: float = 1.0) -> float:
    """Halder and Pehlevan's law: E[min_k (s Z_k - s t)^2] ~ pi e^{t^2} s^2 / N^2 as N -> inf."""
    n_samples = integer("n_samples", n_samples)
    t, spread = real("t", t), real("spread", spread, minimum=0.0, strict=True)
    return math.pi * math.exp(t * t) * spread**2 / n_samples**2


def min_norm_risk(n: int, d: int, sigma2: float, *, psi2: float = 1.0) -> float:
    """E||X^+ y - w||^2 = psi2 (d - n) + sigma2 n / (d - n - 1) for n <= d - 2 (infinite for n = d - 1)."""
    n, d, sigma2 = integer("n", n), integer("d", d), real("sigma2", sigma2, minimum=0.0)
    psi2 = real("psi2", psi2, minimum=0.0, strict=True)
    if n >= d:
        raise ValueError(f"n must be < d = {d} for the minimum-norm interpolator, got {n}")
    noise = sigma2 * n / (d - n - 1) if n <= d - 2 else (math.inf if sigma2 > 0 else 0.0)
    return psi2 * (d - n) + noise


def in_context_limit_risk(n: int, d: int, sigma2: float, tau: float, *, psi2: float = 1.0) -> float:
    """N -> inf risk of best-of-N with the in-context loss, candidates m + tau xi with m in the row space of X.

    n >= d: the least-squares risk sigma2 d / (n - d - 1); n < d: the selected candidate tends to
    X^+ y + tau P_null xi, risk psi2 (d - n) + sigma2 n / (d - n - 1) + tau^2 (d - n).
    """
    tau = real("tau", tau, minimum=0.0)
    if integer("n", n) >= integer("d", d):
        return least_squares_risk(n, d, sigma2)
    return min_norm_risk(n, d, sigma2, psi2=psi2) + tau**2 * (d - n)
