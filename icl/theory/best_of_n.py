r"""Chapter 4: best-of-N with a reward, through the distribution of the minimum of N i.i.d. scores.

Setup: given a prompt, :math:`N` candidates :math:`w_k = m + \tau \xi_k`,
:math:`\xi_k \sim N(0, I_d)` i.i.d. (one noisy GD step from :math:`w_0 = 0`:
:math:`m = \eta X^\top y / n`). A reward is a score :math:`s(w)` to minimise; best-of-:math:`N`
returns the candidate of smallest score. For the oracle :math:`s(w) = \|w - w^*\|^2` the returned
risk is :math:`\mathbb{E}[\min_k s(w_k)] = \int_0^\infty P(s > u)^N \, du`.

Exact (quadrature in one or, for the prompt averages, two dimensions):

- ``expected_min_gaussian(N)`` :math:`= e_N = \mathbb{E}[\text{min of } N \text{ i.i.d. }
  N(0, 1)] = -\mathbb{E} M`, :math:`M` the maximum;
- ``expected_min_sq_offset(N, t)`` :math:`= g_N(t) = \mathbb{E}[\min_k (Z_k - t)^2] =
  \int_0^\infty 2 r (1 - p_t(r))^N \, dr`, :math:`p_t(r) = \Phi(t + r) - \Phi(t - r)`;
- ``expected_nearest_offset(N, t)`` :math:`= h_N(t) = \mathbb{E}[Z_{\mathrm{sel}} - t]`,
  :math:`Z_{\mathrm{sel}}` the :math:`Z_k` nearest :math:`t`,
  :math:`= \int_0^\infty N r (1 - p_t(r))^{N-1} (\varphi(t + r) - \varphi(t - r)) \, dr`;

  all three by the exponential clock: a distance :math:`R` with :math:`P(R > r) = S(r)^N` is
  :math:`r(X)` for :math:`X \sim \mathrm{Exp}(1)` and :math:`-N \log S(r(X)) = X`, so
  :math:`\mathbb{E} f(R) = \int e^{-x} f(r(x)) \, dx`, one smooth bump in :math:`\log x` whatever
  :math:`N` and :math:`t` (the radii solved by Newton's method); where the nearest sample is the
  extreme one (:math:`|t|` large: the low-temperature regime) :math:`g` and :math:`h` follow from
  :math:`\mathbb{E} M` and :math:`\operatorname{Var} M`;
- ``best_of_n_risk_1d``: in :math:`d = 1`, any reward :math:`s(w) = (w - c)^2` (oracle
  :math:`c = w^*`, in-context loss :math:`c` = least squares, norm :math:`c = 0`) selects the
  candidate nearest :math:`c`, and :math:`\mathbb{E}[(w_{\mathrm{sel}} - w^*)^2] = \tau^2 g_N(t) +
  2 \tau \delta h_N(t) + \delta^2`, :math:`t = (c - m)/\tau`, :math:`\delta = c - w^*`, computed as
  :math:`\tau^2 \operatorname{Var}(Z_{\mathrm{sel}}) + (\mathbb{E} w_{\mathrm{sel}} - w^*)^2` (no
  cancellation);
- ``oracle_best_of_n_risk``: in any :math:`d`, the oracle score is
  :math:`\tau^2 \chi'^2_d(\lambda)`, :math:`\lambda = \|m - w^*\|^2 / \tau^2`, and the risk is
  :math:`\tau^2 \int_0^\infty [P(\chi'^2_d(\lambda) > u)]^N \, du`, integrated in :math:`\log u`;
  at large :math:`\lambda` (low temperature) the score is nearly Gaussian,
  :math:`\lambda + 2 \sqrt\lambda S` with :math:`S = \xi_1 + (\xi_1^2 + C) / (2 \sqrt\lambda)`,
  and the minimum of :math:`S` is integrated given :math:`C`;
- ``norm_reward_shrinkage``, ``norm_reward_risk``: the norm reward in any :math:`d`, given the
  prompt: :math:`\mathbb{E}[w_{\mathrm{sel}} \mid \text{prompt}] = \kappa_N m`,
  :math:`\kappa_N = (\tau / \|m\|) \mathbb{E}[\rho A_d(\rho \|m\| / \tau)]` (von Mises-Fisher
  direction given the selected norm), risk :math:`\|m - w^* + (\kappa_N - 1) m\|^2 + \tau^2
  \operatorname{tr} \operatorname{Cov}(\xi_{\mathrm{sel}})`, :math:`\rho^2` the min of :math:`N`
  :math:`\chi'^2_d(\|m\|^2 / \tau^2)` (at large :math:`\lambda` from the Gaussian score);
- ``best_of_n_risk_1d_averaged``: in :math:`d = 1` the three rewards' risks averaged over the
  prompt distribution (two-dimensional quadrature over :math:`Q = \sum x_i^2` and the
  standardised centre :math:`t`);
- ``min_norm_risk``, ``in_context_limit_risk`` (and ``least_squares_risk`` of
  :mod:`icl.theory.gradient_descent`): the :math:`N \to \infty` limit of the in-context-loss
  reward.

Approximate (Gaussian scores, :math:`d` large):

- ``gaussian_selection_risk``: treating (risk, score) of one candidate as jointly Gaussian,
  :math:`\mathbb{E}[R_{\mathrm{sel}}] = \mu_R + \operatorname{Cov}(R, s) / \operatorname{sd}(s)
  \cdot e_N` with :math:`e_N` = ``expected_min_gaussian(N)``;
- ``oracle_gaussian_risk``, ``oracle_optimal_temperature``, ``oracle_optimal_risk``: its oracle
  case with :math:`\|m - w^*\|^2` replaced by its mean :math:`B`:
  :math:`R = B + \tau^2 d + e_N \sqrt{4 \tau^2 B + 2 \tau^4 d}`,
  :math:`\tau^{*2} = (B/d)(1/\sqrt{1 - 2 e_N^2/d} - 1)`, :math:`R^* = B \sqrt{1 - 2 e_N^2/d}`,
  valid while :math:`2 e_N^2 < d`;
- ``nearest_sample_asymptote``: :math:`\mathbb{E}[\min_k (Z_k - t)^2] \sim \pi e^{t^2} / N^2`
  (Halder and Pehlevan).

Every public function declares its domain and accuracy (:mod:`icl.domain`); the references it is
checked against are in ``tests/accuracy/ref_best_of_n.py``.

References
----------
- I. Halder and C. Pehlevan, "Demystifying LLM-as-a-Judge: analytically tractable model for
  inference-time scaling", 2025, arXiv:2512.19905.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
from scipy import linalg, special, stats

from icl import validation
from icl.domain import Accuracy, Choice, Condition, Given, Integer, Real, declare
from icl.theory.gradient_descent import least_squares_risk


def _composite(edges: np.ndarray, rule) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (..., P * order) of a Gauss-Legendre rule on the panels between ``edges``
    (..., P + 1)."""
    half = (edges[..., 1:] - edges[..., :-1]) / 2
    nodes = ((edges[..., 1:] + edges[..., :-1]) / 2)[..., None] + half[..., None] * rule[0]
    return nodes.reshape(*edges.shape[:-1], -1), (half[..., None] * rule[1]).reshape(
        *edges.shape[:-1], -1
    )


_GL16 = np.polynomial.legendre.leggauss(16)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)

# The exponential clock: a distance R with P(R > r) = S(r)^N is R = r(X) with X ~ Exp(1) and
# -N log S(r(X)) = X. E f(R) = int_0^inf e^-x f(r(x)) dx, by Gauss-Legendre in log x on
# [e^-50, 60] (the mass left out is below 1e-21): the integrand x e^-x f(r(x)) is one smooth bump
# in log x whatever N and t, because x is the clock of the selection itself.
_CLOCK_EDGES = np.array(
    [-50.0, -35.0, -25.0, -20.0, -16.0, -13.0, -10.0, *np.linspace(-8.0, math.log(60.0), 13)]
)
_CLOCK_LOG_X, _CLOCK_W = _composite(_CLOCK_EDGES, _GL16)
_CLOCK_X = np.exp(_CLOCK_LOG_X)
_CLOCK_W = _CLOCK_W * _CLOCK_X * np.exp(-_CLOCK_X)  # weights of the Exp(1) measure
# The nearest of N normals to t >= 0 is their maximum, up to a probability N Q(t) < e^-80, once
# log N + log Q(t) < -80 (t > 12.4 for N = 1, t > 15.3 for N = 10^18).
_EXTREME_LOG_MASS = -80.0
_CHUNK = 1024  # rows of t per block in the clock (memory ~ 1024 x 304 floats per temporary)


@functools.lru_cache(maxsize=4096)
def _max_moments(n_samples: int) -> tuple[float, float]:
    """(E M, Var M) for M the maximum of N i.i.d. N(0, 1): M = Phi^-1(e^(-X/N)), X ~ Exp(1), by
    the exponential clock (``scipy.special.ndtri_exp``)."""
    if n_samples == 1:
        return 0.0, 1.0
    z = special.ndtri_exp(-_CLOCK_X / n_samples)
    mean = float(_CLOCK_W @ z)
    return mean, float(_CLOCK_W @ (z - mean) ** 2)


def _log_q(x: np.ndarray) -> np.ndarray:
    """log P(Z > x), accurate in both tails."""
    return special.log_ndtr(-x)


def _clock_level(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L = log(-log S(r)) at r = e^v, S(r) = P(|Z - t| > r) for t >= 0, and dL/dv.

    -log S is computed to relative accuracy for every r: with p = P(|Z - t| <= r),
    -log S = -log1p(-p) where p is small, p = 2 phi(t) int_0^r e^(-s^2/2) cosh(t s) ds by
    16-point Gauss-Legendre where r (t + r) <= 2 (in log space, so phi(t) may underflow),
    p = Q(t - r) - Q(t + r) from the log tails where r <= t, else log S = log(Q(r - t) + Q(r + t)).
    """
    t, v = np.broadcast_arrays(t, v)
    r = np.exp(v)
    level = np.empty(r.shape)
    series = r * (t + r) <= 2.0
    left = ~series & (r <= t)
    right = ~series & ~left
    ts, rs = t[series], r[series]
    s = rs[:, None] * (1.0 + _GL16[0]) / 2
    integral = (_GL16[1] * np.exp(-(s**2) / 2) * np.cosh(ts[:, None] * s)).sum(1) * rs / 2
    log_p = np.empty(r.shape)
    log_p[series] = math.log(2.0) - ts**2 / 2 - _LOG_SQRT_2PI + np.log(integral)
    a, b = _log_q(t[left] - r[left]), _log_q(t[left] + r[left])
    log_p[left] = a + np.log1p(-np.exp(b - a))
    inner = series | left
    p = np.exp(log_p[inner])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(p < 1e-8, 1.0 + p / 2 + p * p / 3, -np.log1p(-p) / p)  # -log1p(-p) / p
    level[inner] = log_p[inner] + np.log(ratio)
    tr, rr = t[right], r[right]
    level[right] = np.log(-np.logaddexp(_log_q(rr - tr), _log_q(rr + tr)))
    log_density = -((t - r) ** 2) / 2 - _LOG_SQRT_2PI + np.log1p(np.exp(-2.0 * t * r))
    return level, np.exp(v + log_density + np.exp(level) - level)


def _clock_radius(t: np.ndarray, log_rate: np.ndarray) -> np.ndarray:
    """r with -N log S(r) = x, for t (T, 1) >= 0 and log_rate = log(x / N) (1, M): (T, M).

    Newton's method in v = log r, kept inside a bracket that it shrinks (a step that leaves it is
    replaced by bisection). The bracket: r >= t - Phi^-1(e^(-x/N)) (S(r) >= Phi(t - r)) and
    r >= min(1/2, x/N)/4 (-log S(r) <= 1.34 r while r <= 1/2), r <= t + 12 (x <= 60). The start is
    the first bound where it is positive (the nearest is the extreme one), else the small-r
    solution x/N = 2 r phi(t). Converges in at most ~5 steps.
    """
    t, log_rate = np.broadcast_arrays(t, log_rate)
    rate = np.exp(log_rate)
    extreme = t - special.ndtri_exp(-rate)
    low = np.log(np.maximum(extreme, np.minimum(0.5, rate) / 4))
    high = np.log(t + 12.0)
    local = log_rate - math.log(2.0) + t**2 / 2 + _LOG_SQRT_2PI
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.clip(np.where(extreme > 0, np.log(extreme), local), low, high)
    for _ in range(60):
        level, slope = _clock_level(t, v)
        excess = level - log_rate
        low, high = np.where(excess < 0, v, low), np.where(excess > 0, v, high)
        with np.errstate(invalid="ignore", over="ignore"):
            step = v - excess / slope
        step = np.where((step >= low) & (step <= high), step, (low + high) / 2)
        moved = np.max(np.abs(step - v), initial=0.0)
        v = step
        if moved < 1e-13:
            break
    return np.exp(v)


def _nearest_stats(n_samples: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(g, h, v) at t >= 0 (1-D): g = E D^2, h = E D, v = Var D for D = Z_sel - t, Z_sel the nearest
    of N i.i.d. N(0, 1) to t.

    By the exponential clock of R = |D|: P(D = +R | R) = 1/(1 + e^(2tR)), so with X ~ Exp(1),
    g = E R^2, h = -E[R tanh(tR)], v = E[P+ (R - h)^2 + P- (R + h)^2]. Where the nearest is the
    maximum M (log N + log Q(t) < -80): D = M - t, h = E M - t, g = Var M + (t - E M)^2, v = Var M.
    """
    g, h, var = np.empty(t.shape), np.empty(t.shape), np.empty(t.shape)
    mean, spread = _max_moments(n_samples)
    extreme = math.log(n_samples) + _log_q(t) < _EXTREME_LOG_MASS
    g[extreme] = spread + (t[extreme] - mean) ** 2
    h[extreme] = mean - t[extreme]
    var[extreme] = spread
    index = np.flatnonzero(~extreme)
    log_rate = (_CLOCK_LOG_X - math.log(n_samples))[None, :]
    for block in np.array_split(index, max(1, math.ceil(len(index) / _CHUNK))):
        if len(block) == 0:
            continue
        tb = t[block][:, None]
        r = _clock_radius(tb, log_rate)
        slope = np.tanh(tb * r)
        g[block] = (r**2) @ _CLOCK_W
        h[block] = -(r * slope) @ _CLOCK_W
        hb = h[block][:, None]
        var[block] = ((1 - slope) / 2 * (r - hb) ** 2 + (1 + slope) / 2 * (r + hb) ** 2) @ _CLOCK_W
    return g, h, var


_SAMPLES_1D = Integer(1, 10**18)
_CLOCK_NOTE = (
    "the exponential clock: a Gauss-Legendre rule of 304 nodes in log x over the Exp(1) clock x, "
    "mass left out below 1e-21, radii solved by Newton's method to 1e-13 in log r; measured within "
    "4e-15 of mpmath at 30 digits"
)


@declare(Accuracy(relative=1e-12, note=_CLOCK_NOTE), n_samples=_SAMPLES_1D)
def expected_min_gaussian(n_samples: int) -> float:
    r"""The expected minimum :math:`e_N` of :math:`N` i.i.d. standard normals.

    :math:`e_N = \mathbb{E}[\min(Z_1, \dots, Z_N)]`, :math:`Z_k \sim N(0, 1)` i.i.d.

    Parameters
    ----------
    n_samples : int
        Number :math:`N` of samples, :math:`1 \le N \le 10^{18}`.

    Returns
    -------
    e_N : float
        The expected minimum.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    :math:`e_N = -\mathbb{E} M` for the maximum :math:`M = \Phi^{-1}(e^{-X/N})` with
    :math:`X \sim \mathrm{Exp}(1)` (the exponential clock: the maximum is below :math:`z` with
    probability :math:`\Phi(z)^N = e^{N \log \Phi(z)}`), integrated over :math:`x` by
    Gauss-Legendre in :math:`\log x`.

    Examples
    --------
    :math:`e_1 = 0`, :math:`e_2 = -1/\sqrt\pi`, :math:`e_3 = -3/(2 \sqrt\pi)`.
    """
    return 0.0 - _max_moments(n_samples)[0]


@declare(
    Accuracy(relative=1e-12, note=_CLOCK_NOTE),
    n_samples=_SAMPLES_1D,
    t=Real(-1e150, 1e150, array=True),
)
def expected_min_sq_offset(n_samples: int, t) -> np.ndarray | float:
    r"""The mean squared distance :math:`g_N(t)` from :math:`t` to the nearest of :math:`N` normals.

    :math:`g_N(t) = \mathbb{E}[\min_k (Z_k - t)^2]`, :math:`Z_k \sim N(0, 1)` i.i.d.; :math:`g_N` is
    even in :math:`t`.

    Parameters
    ----------
    n_samples : int
        Number :math:`N` of samples, :math:`1 \le N \le 10^{18}`.
    t : float or array_like
        The offset(s), :math:`|t| \le 10^{150}`; vectorised over ``t``.

    Returns
    -------
    g : float or numpy.ndarray
        :math:`g_N(t)`, of the shape of ``t``.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        g_N(t) = \int_0^\infty 2 r (1 - p_t(r))^N \, dr, \qquad p_t(r) = \Phi(t + r) - \Phi(t - r),

    computed as :math:`\mathbb{E} R^2` for the distance :math:`R = \min_k |Z_k - t|` by the
    exponential clock (:math:`R = r(X)`, :math:`X \sim \mathrm{Exp}(1)`,
    :math:`-N \log(1 - p_t(r(X))) = X`); where the nearest sample is the maximum
    (:math:`\log N + \log Q(|t|) < -80`), :math:`g_N(t) = \operatorname{Var} M + (|t| -
    \mathbb{E} M)^2`.
    """
    t0 = validation.array("t", t)
    value = _nearest_stats(n_samples, np.abs(t0).reshape(-1))[0].reshape(t0.shape)
    return float(value) if t0.ndim == 0 else value


@declare(
    Accuracy(
        relative=1e-12,
        absolute=1e-300,
        note=_CLOCK_NOTE + "; h_N(t) = O(t) as t -> 0 underflows below 1e-300",
    ),
    n_samples=_SAMPLES_1D,
    t=Real(array=True),
)
def expected_nearest_offset(n_samples: int, t) -> np.ndarray | float:
    r"""The expected offset :math:`h_N(t)` from :math:`t` of the nearest of :math:`N` normals.

    :math:`h_N(t) = \mathbb{E}[Z_{\mathrm{sel}} - t]`: :math:`Z_{\mathrm{sel}}` is the :math:`Z_k`
    (:math:`k \le N`, i.i.d. :math:`N(0, 1)`) nearest :math:`t`; :math:`h_N` is odd in :math:`t`.

    Parameters
    ----------
    n_samples : int
        Number :math:`N` of samples, :math:`1 \le N \le 10^{18}`.
    t : float or array_like
        The offset(s), any finite reals; vectorised over ``t``.

    Returns
    -------
    h : float or numpy.ndarray
        :math:`h_N(t)`, of the shape of ``t``.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        h_N(t) = \int_0^\infty N r (1 - p_t(r))^{N-1} (\varphi(t + r) - \varphi(t - r)) \, dr
            = -\mathbb{E}[R \tanh(|t| R)] \operatorname{sign}(t),

    by the exponential clock of :func:`expected_min_sq_offset`; where the nearest sample is the
    extreme one, :math:`h_N(t) = \operatorname{sign}(t) (\mathbb{E} M - |t|)`.
    """
    t0 = validation.array("t", t)
    value = np.sign(t0) * _nearest_stats(n_samples, np.abs(t0).reshape(-1))[1].reshape(t0.shape)
    return float(value) if t0.ndim == 0 else value


_COORDINATE = Real(-1e100, 1e100, array=True)


@declare(
    Accuracy(
        relative=1e-11,
        note="the exponential clock (as expected_min_sq_offset), combined as tau^2 Var + bias^2 "
        "without cancellation",
    ),
    n_samples=_SAMPLES_1D,
    tau=Real(1e-100, 1e100),
    mean=_COORDINATE,
    center=_COORDINATE,
    target=_COORDINATE,
)
def best_of_n_risk_1d(n_samples: int, tau: float, mean, center, target) -> np.ndarray:
    r"""Exact best-of-:math:`N` risk in :math:`d = 1` for a score :math:`(w - c)^2`.

    The risk :math:`\mathbb{E}[(w_{\mathrm{sel}} - w^*)^2]`, for the score :math:`(w - c)^2` (or any
    increasing function of :math:`|w - c|`), candidates :math:`w_k = m + \tau Z_k`.

    Parameters
    ----------
    n_samples : int
        Number :math:`N` of samples, :math:`1 \le N \le 10^{18}`.
    tau : float
        The candidates' spread, :math:`10^{-100} \le \tau \le 10^{100}`.
    mean : float or array_like
        :math:`m`, entries in :math:`[-10^{100}, 10^{100}]`.
    center : float or array_like
        :math:`c`, entries in :math:`[-10^{100}, 10^{100}]`.
    target : float or array_like
        :math:`w^*`, entries in :math:`[-10^{100}, 10^{100}]`. ``mean``, ``center`` and ``target``
        broadcast against each other.

    Returns
    -------
    risk : numpy.ndarray
        Of the broadcast shape.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    With :math:`t = (c - m)/\tau` and :math:`\delta = c - w^*`:

    .. math::

        \mathbb{E}[(w_{\mathrm{sel}} - w^*)^2] = \tau^2 g_N(t) + 2 \tau \delta h_N(t) + \delta^2,

    computed without cancellation as :math:`\tau^2 \operatorname{Var}(Z_{\mathrm{sel}}) +
    (\mathbb{E} w_{\mathrm{sel}} - w^*)^2` with :math:`\mathbb{E} w_{\mathrm{sel}} - w^* = \delta +
    \tau h_N(t)`, or, where the nearest candidate is the extreme one (:math:`|t|` large: the
    low-temperature regime), :math:`m - w^* + \tau \operatorname{sign}(t) \mathbb{E} M` with
    :math:`\operatorname{Var}(Z_{\mathrm{sel}}) = \operatorname{Var} M` (:math:`M` the maximum of
    :math:`N` normals).
    """
    m, c, w = np.broadcast_arrays(
        validation.array("mean", mean),
        validation.array("center", center),
        validation.array("target", target),
    )
    shape = m.shape
    m, c, w = m.reshape(-1), c.reshape(-1), w.reshape(-1)
    t = (c - m) / tau
    abs_t = np.abs(t)
    _, h, var = _nearest_stats(n_samples, abs_t)
    mean_max, var_max = _max_moments(n_samples)
    extreme = math.log(n_samples) + _log_q(abs_t) < _EXTREME_LOG_MASS
    bias = np.where(extreme, (m - w) + tau * np.sign(t) * mean_max, (c - w) + tau * np.sign(t) * h)
    return (tau**2 * np.where(extreme, var_max, var) + bias**2).reshape(shape)


_V_NODES, _V_WEIGHTS = np.polynomial.legendre.leggauss(16)
_LOWER_MASS = 1e-16  # the rule starts where N_max F(u) = 1e-16 (F the score's CDF) ...
_UPPER_TAIL = 1e-20  # ... and stops where P(score > u) = 1e-20
_PANEL = 0.5  # panel width in log u, in units of min(1, sd / mean) of the score


def _counts_check(high: int):
    """The check of an ``n_samples`` that is an integer in [1, high] or a non-empty 1-D array of
    them (returned as given, or as an int64 array)."""

    def check(name: str, value):
        if np.ndim(value) == 0 and not isinstance(value, np.ndarray):
            return validation.integer(
                name, int(value) if isinstance(value, np.integer) else value, 1, high
            )
        values = np.asarray(value)
        if (
            values.ndim != 1
            or values.size == 0
            or values.dtype.kind not in "iu"
            or values.min() < 1
            or values.max() > high
        ):
            raise ValueError(
                f"{name} must be an integer in [1, {high}] or a non-empty 1-D array of them, "
                f"got {value!r}"
            )
        return values.astype(np.int64)

    return check


def _counts_draw(high: int):
    """Draws of ``n_samples``: an edge (1 or ``high``) or log-uniform, as an int two times in three,
    else a sorted array of 1 or 2 of them."""

    def one(rng: np.random.Generator) -> int:
        u = rng.random()
        if u < 0.15:
            return 1
        if u < 0.3:
            return high
        return int(min(high, max(1, round(math.exp(rng.uniform(0.0, math.log(high)))))))

    def draw(rng: np.random.Generator):
        if rng.random() < 2 / 3:
            return one(rng)
        return np.unique([one(rng) for _ in range(rng.integers(1, 3))])

    return draw


def _counts(high: int) -> Given:
    """``n_samples`` declared: an integer in [1, high] or a non-empty 1-D array of them."""
    return Given(
        f"integer in [1, {high:.0e}] or a non-empty 1-D array of them".replace("e+", "e"),
        check=_counts_check(high),
        bad=(0, 2.5, [1, 0], [[1, 2]], [], high + 1),
        draw=_counts_draw(high),
    )


def _sample_counts(n_samples) -> tuple[np.ndarray, bool]:
    """A validated ``n_samples`` as a 1-D int array, and whether it was a scalar."""
    if np.ndim(n_samples) == 0:
        return np.array([int(n_samples)]), True
    return np.asarray(n_samples, dtype=np.int64), False


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


_ROWS = 256  # values of lambda per block of the chi-square rule (a few thousand nodes each)


def _by_rows(function, lam: np.ndarray, *args):
    """``function(lam_block, *args)`` on blocks of ``_ROWS`` entries of lam, joined along the last
    axis (each returns arrays (K, rows)): the rules' memory stays bounded for long batches."""
    parts = [function(lam[i : i + _ROWS], *args) for i in range(0, len(lam), _ROWS)]
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(p, axis=-1) for p in zip(*parts, strict=True))
    return np.concatenate(parts, axis=-1)


def _expected_minimum(lam: np.ndarray, counts: np.ndarray, d: int) -> np.ndarray:
    """E[min of N i.i.d. chi'^2_d(lam)] = int_0^inf P(U > u)^N du for each N in ``counts`` (K,) and
    lam (B,): (K, B)."""
    u_lo, _, weights, log_sf = _minimum_score_rule(d, lam, int(counts.max()))
    return u_lo + np.stack([(weights * np.exp(N * log_sf)).sum(-1) for N in counts])


_CHI_NODES = 24
_S_PANEL = 0.5


@functools.lru_cache(maxsize=64)
def _chi_square_rule(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (summing to 1) of the 24-point Gauss rule for C ~ chi^2_k: generalised
    Gauss-Laguerre for the weight c^(k/2 - 1) e^(-c/2), by the Golub-Welsch eigenproblem of its
    Jacobi matrix (diagonal 2i + a + 1, off-diagonal sqrt(i (i + a)), a = k/2 - 1)."""
    alpha = k / 2 - 1
    i = np.arange(_CHI_NODES)
    nodes, vectors = linalg.eigh_tridiagonal(
        2.0 * i + alpha + 1.0, np.sqrt(i[1:] * (i[1:] + alpha))
    )
    weights = vectors[0] ** 2
    return 2.0 * nodes, weights / weights.sum()


def _gaussian_score_moments(
    counts: np.ndarray, d: int, eps: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The minimum of N i.i.d. scores S = xi + eps (xi^2 + C), xi ~ N(0, 1), C ~ chi^2_(d-1)
    independent (C = 0 for d = 1), for each N in ``counts`` (K,) and eps (B,) >= 0: E min S, and
    for the selected (smallest S) draw E xi, Var xi and E C; four arrays (K, B).

    A score chi'^2_d(lambda) is ||sqrt(lambda) e_1 + (xi, ...)||^2 = lambda + 2 sqrt(lambda) S
    with eps = 1 / (2 sqrt(lambda)). Given C = c, S <= s iff xi lies between the roots of xi + eps
    (xi^2 + c) = s; the upper one is xi+(s, c) = 2 (s - eps c) / (1 + sqrt(1 + 4 eps (s - eps c))),
    the lower one is below -1/(2 eps) = -sqrt(lambda) and carries probability below
    Phi(-sqrt(lambda)) < 1e-200 where this serves (lambda >= 1000; left out). So P(S <= s) = E_C
    Phi(xi+(s, C)), and the density of (S, C) at (s, c) is phi(xi+) / (1 + 2 eps xi+) times that of
    C. The selected draw has density
    N P(S > s)^(N-1) at s; E over C by the 24-point chi-square rule, over s by Gauss-Legendre on
    panels of width 0.5 from Phi^-1(1e-20 / N_max) (S >= xi) to 10 + eps (100 + chi^2 quantile
    1e-21) (P(S above) < 1e-20). Var xi is assembled from moments about s (no cancellation).
    """
    c, wc = (np.zeros(1), np.ones(1)) if d == 1 else _chi_square_rule(d - 1)
    s_lo = float(special.ndtri(1e-20 / counts.max()))
    c_top = 0.0 if d == 1 else float(stats.chi2.isf(1e-21, d - 1))
    out = np.empty((4, len(counts), len(eps)))
    rows = max(1, 2**20 // (len(c) * 2000))
    for start in range(0, len(eps), rows):
        e = eps[start : start + rows, None]
        s_hi = 10.0 + e * (100.0 + c_top)
        panels = int(np.ceil(np.max(s_hi - s_lo) / _S_PANEL))
        s, ws = _composite(s_lo + (s_hi - s_lo) * np.linspace(0.0, 1.0, panels + 1), _GL16)
        shifted = s[..., None] - e[..., None] * c  # s - eps c: (rows, S, C)
        arg = 1.0 + 4.0 * e[..., None] * shifted
        valid = arg > 0.0
        root = np.sqrt(np.where(valid, arg, 1.0))
        xi = 2.0 * shifted / (1.0 + root)
        below = np.where(valid, special.ndtr(xi), 0.0) @ wc  # P(S <= s)
        above = np.where(valid, special.ndtr(-xi), 1.0) @ wc
        with np.errstate(divide="ignore", invalid="ignore"):
            log_above = np.where(below < 0.5, np.log1p(-below), np.log(above))
        density = wc * np.where(valid, np.exp(-(xi**2) / 2 - _LOG_SQRT_2PI) / root, 0.0)
        anchor = s - e * d  # xi - anchor is small: E[xi^2 + C] = d
        gap = xi - anchor[..., None]
        mass, shift, spread = density.sum(-1), (density * gap).sum(-1), (density * gap**2).sum(-1)
        chi = density @ c
        for k, N in enumerate(counts):
            with np.errstate(under="ignore"):
                weight = ws * N * np.exp((N - 1) * log_above)
                survival = (ws * np.exp(N * log_above)).sum(-1)
            total = (weight * mass).sum(-1)[:, None]
            mean_anchor = (weight * mass * anchor).sum(-1, keepdims=True) / total
            mean_gap = (weight * shift).sum(-1, keepdims=True) / total
            centre = anchor - mean_anchor
            var_xi = (weight * (spread + 2.0 * shift * centre + mass * centre**2)).sum(
                -1, keepdims=True
            ) / total - mean_gap**2
            out[:, k, start : start + rows] = np.stack(
                [
                    s_lo + survival,
                    (mean_anchor + mean_gap)[:, 0],
                    var_xi[:, 0],
                    ((weight * chi).sum(-1, keepdims=True) / total)[:, 0],
                ]
            )
    return out[0], out[1], out[2], out[3]


def _gaussian_score_lambda(d: int, n_max: int) -> float:
    """The lambda above which :func:`_gaussian_score_moments` serves: max(1000, 4 d, (2 (3 -
    s_lo))^2) with s_lo = Phi^-1(1e-20 / N_max), so that the edge -sqrt(lambda)/2 of the score's
    support (where the density of S has a square-root singularity) lies more than 3 below the
    rule."""
    s_lo = float(special.ndtri(1e-20 / n_max))
    return max(1000.0, 4.0 * d, (2.0 * (3.0 - s_lo)) ** 2)


_SCORE_SAMPLES = 10**12
_SCORE_DIM = Integer(1, 1000)
_SCORE_TAU = Real(1e-100, 1e100)
_SCORE_NOTE = (
    "below lambda = max(1000, 4 d) Gauss-Legendre in log u with Boost's noncentral chi-square "
    "(measured to 1e-13 against mpmath); above it the Gaussian-score representation, a 24-point "
    "chi-square rule and Gauss-Legendre in s (to 1e-13 against the first where they overlap); "
    "checked against mpmath at 20-30 digits"
)


@declare(
    Accuracy(relative=1e-10, note=_SCORE_NOTE),
    n_samples=_counts(_SCORE_SAMPLES),
    tau=_SCORE_TAU,
    bias2=Real(0.0, 1e100, array=True),
    d=_SCORE_DIM,
)
def oracle_best_of_n_risk(n_samples, tau: float, *, bias2, d: int):
    r"""Exact oracle best-of-:math:`N` risk given the prompt, in any dimension.

    The risk :math:`\mathbb{E}[\min_k \|m + \tau \xi_k - w^*\|^2]`.

    Parameters
    ----------
    n_samples : int or array_like of int
        Number :math:`N` of candidates, :math:`1 \le N \le 10^{12}`, or a non-empty 1-D array of
        them.
    tau : float
        The candidates' spread, :math:`10^{-100} \le \tau \le 10^{100}`.
    bias2 : float or array_like
        :math:`\|m - w^*\|^2`, in :math:`[0, 10^{100}]`; a float or an array.
    d : int
        Dimension, :math:`1 \le d \le 1000`.

    Returns
    -------
    risk : float or numpy.ndarray
        A float for scalar arguments, else an array of shape
        ``shape(n_samples) + shape(bias2)``.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    With :math:`\lambda = \mathrm{bias2} / \tau^2` the score is :math:`\tau^2 U`,
    :math:`U \sim \chi'^2_d(\lambda)`, and

    .. math::

        \mathbb{E}[\min] = \tau^2 \int_0^\infty P(U > u)^N \, du
            = \tau^2 \int \exp\big(v + N \log P(U > e^v)\big) \, dv,

    integrated in :math:`v = \log u` (see ``_minimum_score_rule``), with
    :math:`\log P(U > u) = \operatorname{log1p}(-F(u))` in the lower tail. Where :math:`\lambda` is
    large (above ``_gaussian_score_lambda``, the low-temperature regime) the score is nearly
    Gaussian: :math:`\tau^2 U = \mathrm{bias2} + 2 \tau \sqrt{\mathrm{bias2}} \, S` with
    :math:`S = \xi + \varepsilon (\xi^2 + C)`, :math:`\varepsilon = \tau / (2
    \sqrt{\mathrm{bias2}})`, and the risk is :math:`\mathrm{bias2} + 2 \tau \sqrt{\mathrm{bias2}} \,
    \mathbb{E}[\min_k S_k]` (``_gaussian_score_moments``).
    """
    counts, scalar_n = _sample_counts(n_samples)
    bias2 = np.asarray(bias2, dtype=float)
    flat = bias2.reshape(-1)
    lam = flat / tau**2
    gaussian = lam > _gaussian_score_lambda(d, int(counts.max()))
    value = np.empty((len(counts), len(flat)))
    if np.any(~gaussian):
        value[:, ~gaussian] = tau**2 * _by_rows(_expected_minimum, lam[~gaussian], counts, d)
    if np.any(gaussian):
        root = np.sqrt(flat[gaussian])
        mean_s = _gaussian_score_moments(counts, d, tau / (2.0 * root))[0]
        value[:, gaussian] = flat[gaussian] + 2.0 * tau * root * mean_s
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
    lam: np.ndarray, counts: np.ndarray, d: int
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


def _norm_reward_parts(
    counts: np.ndarray, d: int, tau: float, norm: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """kappa_N, kappa_N - 1 and tr Cov(xi_sel) for the norm reward, ||m|| = ``norm`` (B,): (K, B)
    each, with E w_sel = kappa_N m and E||w_sel - E w_sel||^2 = tau^2 tr Cov(xi_sel). Each of
    kappa_N and kappa_N - 1 keeps its digits (kappa_N -> 0 for m -> 0 and large N; kappa_N -> 1 as
    lambda -> inf), so that E w_sel - w* = m - w* + (kappa_N - 1) m does too.

    Where lambda = ||m||^2 / tau^2 is above :func:`_gaussian_score_lambda`: kappa_N - 1 = E[xi_1]
    / sqrt(lambda) and tr Cov = Var xi_1 + E C for the selected candidate
    (``_gaussian_score_moments``, xi_1 the component along m, C = ||xi||^2 - xi_1^2). Elsewhere
    from the minimum rho^2 of the chi'^2_d(lambda) scores: kappa_N from the von Mises-Fisher
    direction and tr Cov = E rho^2 - kappa_N^2 lambda.
    """
    lam = (norm / tau) ** 2
    gaussian = lam > _gaussian_score_lambda(d, int(counts.max()))
    kappa, shrink, spread = np.empty((3, len(counts), len(norm)))
    if np.any(~gaussian):
        second, kappa[:, ~gaussian] = _by_rows(_norm_reward_moments, lam[~gaussian], counts, d)
        shrink[:, ~gaussian] = kappa[:, ~gaussian] - 1.0
        spread[:, ~gaussian] = second - kappa[:, ~gaussian] ** 2 * lam[~gaussian]
    if np.any(gaussian):
        eps = tau / (2.0 * norm[gaussian])
        _, mean_xi, var_xi, mean_c = _gaussian_score_moments(counts, d, eps)
        shrink[:, gaussian] = 2.0 * eps * mean_xi
        kappa[:, gaussian] = 1.0 + shrink[:, gaussian]
        spread[:, gaussian] = var_xi + mean_c
    return kappa, shrink, spread


@declare(
    Accuracy(
        relative=1e-10,
        note=_SCORE_NOTE + "; the von Mises-Fisher Bessel ratio to 1e-12 for d <= 3000",
    ),
    n_samples=_counts(_SCORE_SAMPLES),
    tau=_SCORE_TAU,
    mean_norm=Real(0.0, 1e100, array=True),
    d=_SCORE_DIM,
)
def norm_reward_shrinkage(n_samples, tau: float, *, mean_norm, d: int):
    r"""The shrinkage :math:`\kappa_N` of the norm reward's selected candidate.

    :math:`\mathbb{E}[w_{\mathrm{sel}} \mid \text{prompt}] = \kappa_N m` for the norm reward: the
    smallest :math:`\|w\|^2` of :math:`N` candidates :math:`m + \tau \xi_k`.

    Parameters
    ----------
    n_samples : int or array_like of int
        Number :math:`N` of candidates, :math:`1 \le N \le 10^{12}`, or a non-empty 1-D array of
        them.
    tau : float
        The candidates' spread, :math:`10^{-100} \le \tau \le 10^{100}`.
    mean_norm : float or array_like
        :math:`\|m\|`, in :math:`[0, 10^{100}]`; a float or an array.
    d : int
        Dimension, :math:`1 \le d \le 1000`.

    Returns
    -------
    kappa : float or numpy.ndarray
        A float for scalar arguments, else shape ``shape(n_samples) + shape(mean_norm)``.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    Exact given the prompt: the scores :math:`\|w_k\|^2 / \tau^2` are i.i.d.
    :math:`\chi'^2_d(\lambda)`, :math:`\lambda = \|m\|^2 / \tau^2`; given
    :math:`\|w_{\mathrm{sel}}\| = \tau \rho` the direction of :math:`w_{\mathrm{sel}}` is von
    Mises-Fisher about :math:`m / \|m\|` with concentration :math:`\rho \|m\| / \tau`, so

    .. math::

        \kappa_N = \frac{\tau}{\|m\|} \mathbb{E}\Big[\rho A_d\Big(\frac{\rho \|m\|}{\tau}\Big)\Big],
        \qquad A_d = I_{d/2} / I_{d/2 - 1},

    :math:`\rho^2` the minimum of :math:`N` :math:`\chi'^2_d(\lambda)` draws (density
    :math:`N P(U > u)^{N-1} f(u)`, same quadrature as :func:`oracle_best_of_n_risk`); where
    :math:`\lambda` is large, :math:`\kappa_N = 1 + \mathbb{E}[\xi_1] / \sqrt\lambda` for the
    component :math:`\xi_1` of the selected candidate's noise along :math:`m`
    (``_gaussian_score_moments``). :math:`\kappa_1 = 1`; at :math:`m = 0` the limit is
    :math:`\mathbb{E}[\rho^2] / d`.

    Accuracy (measured): :math:`\kappa_1 = 1` to :math:`2 \cdot 10^{-14}`, and halving the panels
    changes :math:`\kappa_N` by less than :math:`5 \cdot 10^{-13}` (:math:`d \le 1000`,
    :math:`\lambda \le 10^5`, :math:`N \le 10^7`); in :math:`d = 1`, :func:`norm_reward_risk` equals
    :func:`best_of_n_risk_1d` with :math:`c = 0` to :math:`10^{-11}`.
    """
    counts, scalar_n = _sample_counts(n_samples)
    mean_norm = np.asarray(mean_norm, dtype=float)
    kappa = _norm_reward_parts(counts, d, tau, mean_norm.reshape(-1))[0].reshape(
        counts.shape + mean_norm.shape
    )
    if scalar_n:
        kappa = kappa[0]
    return float(kappa) if kappa.ndim == 0 else kappa


def _check_offsets(name: str, value) -> np.ndarray:
    """A batch of d-vectors (..., d), 1 <= d <= 1000, entries of magnitude at most 1e100."""
    entries = validation.array(name, value)
    if entries.ndim < 1 or not 1 <= entries.shape[-1] <= 1000:
        raise ValueError(
            f"{name} must have shape (..., d) with 1 <= d <= 1000, got {entries.shape}"
        )
    if entries.size == 0 or np.max(np.abs(entries)) > 1e100:
        raise ValueError(f"{name} must be non-empty with entries of magnitude <= 1e100")
    return entries


def _draw_vectors(rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((2, 3)) * 10.0 ** rng.uniform(-6, 6)


_VECTORS = Given(
    "array of shape (..., d), 1 <= d <= 1000, entries of magnitude <= 1e100",
    check=_check_offsets,
    bad=([], [[1.0, float("nan")]], np.zeros((2, 0)), np.zeros(1001), [1e101]),
    draw=_draw_vectors,
)
_SAME_SHAPE = Condition(
    "mean and target have the same shape (..., d)",
    lambda mean, target: mean.shape == target.shape,
    {"mean": np.zeros(3), "target": np.zeros(4)},
)


@declare(
    Accuracy(relative=1e-10, note=_SCORE_NOTE + "; E w_sel - w* and tr Cov(w_sel) kept apart"),
    n_samples=_counts(_SCORE_SAMPLES),
    tau=_SCORE_TAU,
    mean=_VECTORS,
    target=_VECTORS,
    where=[_SAME_SHAPE],
)
def norm_reward_risk(n_samples, tau: float, mean, target):
    r"""Exact risk of best-of-:math:`N` with the norm reward, given the prompt.

    The risk is :math:`\mathbb{E}\|w_{\mathrm{sel}} - w^*\|^2`. The norm reward selects the smallest
    :math:`\|w\|^2` of :math:`N` candidates :math:`m + \tau \xi_k`.

    Parameters
    ----------
    n_samples : int or array_like of int
        Number :math:`N` of candidates, :math:`1 \le N \le 10^{12}`, or a non-empty 1-D array of
        them.
    tau : float
        The candidates' spread, :math:`10^{-100} \le \tau \le 10^{100}`.
    mean : array_like or torch.Tensor
        :math:`m`, shape ``(..., d)`` with :math:`1 \le d \le 1000`, entries of magnitude at most
        :math:`10^{100}` (numpy or torch).
    target : array_like or torch.Tensor
        :math:`w^*`, of the shape of ``mean``.

    Returns
    -------
    risk : float or numpy.ndarray
        Shape ``(...)`` for an int ``n_samples``, ``(K, ...)`` for a 1-D array of :math:`K` sample
        counts (a float for a single prompt and :math:`N`).

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        \mathbb{E}\|w_{\mathrm{sel}} - w^*\|^2
            &= \tau^2 \mathbb{E}[\rho^2] - 2 \kappa_N \langle m, w^* \rangle + \|w^*\|^2 \\
            &= \|m - w^* + (\kappa_N - 1) m\|^2 + \tau^2 \operatorname{tr}
                \operatorname{Cov}(\xi_{\mathrm{sel}}),

    :math:`\rho^2` the minimum of :math:`N` :math:`\chi'^2_d(\|m\|^2 / \tau^2)` draws and
    :math:`\kappa_N` as in :func:`norm_reward_shrinkage`; computed in the second form (no
    cancellation when the selected candidate is close to :math:`w^*`).
    """
    counts, scalar_n = _sample_counts(n_samples)
    m, w = mean, target
    batch, d = m.shape[:-1], m.shape[-1]
    m, w = m.reshape(-1, d), w.reshape(-1, d)
    norm = np.sqrt((m**2).sum(-1))
    _, shrink, spread = _norm_reward_parts(counts, d, tau, norm)
    risk = ((m - w + shrink[..., None] * m) ** 2).sum(-1) + tau**2 * spread
    risk = risk.reshape(counts.shape + batch)
    if scalar_n:
        risk = risk[0]
    return float(risk) if risk.ndim == 0 else risk


REWARDS_1D = ("oracle", "in-context loss", "norm")
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
_MAX_SAMPLES_1D = 10**12  # N Q(13) < 1e-26: beyond |t| = 13 the nearest is the extreme one
_LINEAR_PANELS = 84
_SHARED_MAX = 10**4  # N above: tables by the exponential clock


@functools.lru_cache(maxsize=4)
def _nearest_moments(counts: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """h_N(t) / t and g_N(t) at ``_T_NODES`` for each N (h, g as in :func:`expected_nearest_offset`
    and :func:`expected_min_sq_offset`): (K, T) each.

    With r = |Z_sel - t| and S(r) = P(|Z - t| > r):
    h(t) = int_0^inf N r S^(N-1) phi(t - r) expm1(-2 t r) dr (= phi(t + r) - phi(t - r)) and
    g(t) = int_0^inf N r^2 S^(N-1) (phi(t + r) + phi(t - r)) dr: Gauss-Legendre on 24 panels in
    log r from 1e-6 r_N (r_N = min(1 / (2 N phi(t)), t + 1) the typical distance to the nearest
    sample, largest N; the integrands are O(r^2) below) to 1, and on 84 panels in r from 1 to t + 9
    (relative error below 1e-12 for N <= 10^4, against the exponential clock). The same nodes serve
    every N; where N - 1 precedes N in ``counts``, S^(N-1) is the previous power times S. For N >
    10^4 (where the distance to the nearest sample is too narrow for these nodes) the tables come
    from the exponential clock of :func:`expected_min_sq_offset` at each node.
    """
    shared = [N for N in counts if N <= _SHARED_MAX]
    n_max = max(shared, default=1)
    t = _T_NODES[:, None]
    phi_t = np.exp(-0.5 * t**2) / math.sqrt(2 * math.pi)
    r_low = 1e-6 * np.minimum(1.0 / (2.0 * n_max * phi_t), t + 1.0)
    log_r, log_w = _composite(np.log(r_low) * np.linspace(1.0, 0.0, 25), _GL12)
    lin_r, lin_w = _composite(1.0 + (t + 8.0) * np.linspace(0.0, 1.0, _LINEAR_PANELS + 1), _GL8)
    r = np.concatenate([np.exp(log_r), lin_r], 1)
    weights = np.concatenate([log_w * np.exp(log_r), lin_w], 1)
    # log S(r), finite so that N = 1 gives S^0 = 1
    log_outside = np.maximum(-np.exp(_clock_level(t, np.log(r))[0]), -1e300)
    minus = np.exp(-0.5 * (t - r) ** 2 - _LOG_SQRT_2PI)
    offset = weights * r * minus * np.expm1(-2.0 * t * r) / t
    square = weights * r**2 * (np.exp(-0.5 * (t + r) ** 2 - _LOG_SQRT_2PI) + minus)
    outside = np.exp(log_outside)
    ratio, g, previous, survive = [], [], None, None
    for N in counts:
        if N > _SHARED_MAX:
            g_clock, h_clock, _ = _nearest_stats(N, _T_NODES)
            ratio.append(h_clock / _T_NODES)
            g.append(g_clock)
            continue
        # S^(N - 1), by one product from the previous N where that was N - 1
        survive = survive * outside if previous == N - 1 else np.exp((N - 1) * log_outside)
        previous = N
        ratio.append(N * (survive * offset).sum(1))
        g.append(N * (survive * square).sum(1))
    return np.array(ratio), np.array(g)


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
) -> tuple[np.ndarray, float, np.ndarray]:
    """Weights (2, T) of (h(t)/t, g(t)) at ``_T_NODES``, the part free of N, and the weights (3,) of
    (1, E M, E M^2) in the part where |t| > 13 (M the maximum of N normals).

    Given Q = sum x_i^2 = s, a = m - w* = alpha . (w*, Z), tau t = theta . (w*, Z) and delta = c -
    w* = a + tau t, with (w*, Z) ~ N(0, diag(psi2, 1)): t = sd u, u ~ N(0, 1), sd = |theta| / tau.
    Where |t| <= 13 the risk is E[(delta + tau D)^2] = E[delta^2] + 2 tau E[delta h(t)] + tau^2
    E[g(t)] (D = Z_sel - t) with E[delta | u] = gamma u, so 2 tau E[delta h(t) | u] = 2 (beta .
    theta) u^2 h(t)/t (beta = alpha + theta); where |t| > 13 the nearest candidate is the extreme
    one (N Q(13) < 1e-26 for N <= 10^12), Z_sel = sign(t) M, and the risk is E[a^2 + 2 tau a
    sign(u) E M + tau^2 E M^2] in closed form (a large |t| makes delta and tau t large, so the
    first form would cancel there). s: 12-point Gauss-Legendre in log s between the 1e-16
    quantiles of chi^2_n, on panels of width min(0.25, sqrt(2 / n)) (the sd of log Q) above the
    1e-4 quantile and min(2, 16 / n) below it (where the density grows like Q^(n/2)), weights
    normalised (scipy's log-density is off by a constant ~1e-10 at n ~ 1e6); u: 40 panels of 8
    nodes on [0, min(10, 13 / sd)]. (|theta|, beta . theta: in the metric diag(psi2, 1).)
    """
    x_lo, x_hi = np.log(stats.chi2.ppf(1e-16, n)), np.log(stats.chi2.isf(1e-16, n))
    x_mid = np.log(stats.chi2.ppf(1e-4, n))
    width = min(0.25, math.sqrt(2.0 / n))  # log Q has sd ~ sqrt(2 / n)
    low = max(width, min(2.0, 16.0 / n))  # below x_mid the density grows like e^(n x / 2)
    edges = np.concatenate(
        [
            np.linspace(x_lo, x_mid, int(np.ceil((x_mid - x_lo) / low)) + 1)[:-1],
            np.linspace(x_mid, x_hi, int(np.ceil((x_hi - x_mid) / width)) + 1),
        ]
    )
    x, wx = _composite(edges, _GL12)
    s = np.exp(x)
    ws = wx * np.exp(stats.chi2.logpdf(s, n) + x)
    ws /= ws.sum()
    sigma = math.sqrt(sigma2)
    alpha = np.stack([eta * s / n - 1.0, eta * sigma * np.sqrt(s) / n])  # a = alpha . (w*, Z)
    if reward == "oracle":
        theta = -alpha  # c = w*
    elif reward == "in-context loss":
        theta = (1.0 / s - eta / n) * np.stack([s, sigma * np.sqrt(s)])  # c = Q_xy / Q
    else:
        theta = -(eta / n) * np.stack([s, sigma * np.sqrt(s)])  # c = 0
    scale = np.array([psi2, 1.0])[:, None]
    beta = alpha + theta
    if reward == "oracle":
        beta = np.zeros_like(beta)  # delta = 0 exactly
    spread = np.sqrt((scale * theta**2).sum(0))  # |theta|, the sd of tau t
    sd_t = spread / tau
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.where(spread > 0, (scale * beta * theta).sum(0) / spread, 0.0)  # Cov(delta, u)
        gamma_a = np.where(spread > 0, (scale * alpha * theta).sum(0) / spread, 0.0)  # Cov(a, u)
        u_edge = np.where(sd_t > 0, _T_MAX / sd_t, np.inf)
    rest = np.maximum((scale * beta**2).sum(0) - gamma**2, 0.0)  # Var(delta - gamma u)
    rest_a = np.maximum((scale * alpha**2).sum(0) - gamma_a**2, 0.0)
    u_top = np.minimum(u_edge, 10.0)
    u, wu = _composite(u_top[:, None] * np.linspace(0.0, 1.0, 41), _GL8)
    density = ws[:, None] * wu * 2 * np.exp(-0.5 * u**2 - _LOG_SQRT_2PI)  # u and -u together
    t = np.minimum(sd_t[:, None] * u, _T_MAX).ravel()
    node_weights = _interpolation_weights(
        t,
        np.stack(
            [
                (density * 2 * (gamma * spread)[:, None] * u**2).ravel(),
                (density * tau**2).ravel(),
            ]
        ),
    )
    inside = (density * (gamma[:, None] ** 2 * u**2 + rest[:, None])).sum()
    q = special.ndtr(-u_edge)  # P(u > u_edge)
    with np.errstate(invalid="ignore"):
        pdf = np.where(np.isfinite(u_edge), np.exp(-0.5 * u_edge**2 - _LOG_SQRT_2PI), 0.0)
        edge_pdf = np.where(np.isfinite(u_edge), u_edge * pdf, 0.0)
    tail_abs, tail_sq = 2 * pdf, 2 * (edge_pdf + q)  # E[|u|; |u| > e], E[u^2; |u| > e]
    tail = np.array(
        [
            (ws * (gamma_a**2 * tail_sq + rest_a * 2 * q)).sum(),
            2 * tau * (ws * gamma_a * tail_abs).sum(),
            tau**2 * (ws * 2 * q).sum(),
        ]
    )
    return node_weights, float(inside), tail


@declare(
    Accuracy(
        relative=1e-9,
        note="tables of h_N(t)/t and g_N(t) on Chebyshev panels (shared nodes for N <= 10^4, the "
        "exponential clock above), Gauss-Legendre over Q and the standardised centre; checked "
        "against an independent quadrature over the centre's marginal law with the clock's "
        "moments, and against B + tau^2 at N = 1",
    ),
    n_samples=_counts(_MAX_SAMPLES_1D),
    tau=Real(1e-6, 1e6),
    n=Integer(1, 10**6),
    sigma2=Real(0.0, 1e4),
    eta=Real(1e-6, 1e3),
    reward=Choice(REWARDS_1D),
    psi2=Real(1e-6, 1e6),
)
def best_of_n_risk_1d_averaged(
    n_samples, tau: float, *, n: int, sigma2: float, eta: float, reward: str, psi2: float = 1.0
):
    r"""Exact prompt-averaged best-of-:math:`N` risk in :math:`d = 1`.

    The risk :math:`\mathbb{E}\|w_{\mathrm{sel}} - w^*\|^2`, for the three rewards of Chapter 4.

    Parameters
    ----------
    n_samples : int or array_like of int
        Number :math:`N` of candidates, :math:`1 \le N \le 10^{12}`, or a non-empty 1-D array of
        them.
    tau : float
        The candidates' spread, :math:`10^{-6} \le \tau \le 10^6`.
    n : int
        Number of examples, :math:`1 \le n \le 10^6`.
    sigma2 : float
        Label-noise variance, :math:`0 \le \sigma^2 \le 10^4`.
    eta : float
        Step size, :math:`10^{-6} \le \eta \le 10^3`.
    reward : {"oracle", "in-context loss", "norm"}
        The reward.
    psi2 : float, optional
        Prior variance, :math:`10^{-6} \le \psi^2 \le 10^6`; default 1.

    Returns
    -------
    risk : float or numpy.ndarray
        A float, or an array of the length of ``n_samples``.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    Prompt: :math:`x_i \sim N(0, 1)`, :math:`w^* \sim N(0, \psi^2)`, :math:`y_i = w^* x_i + \sigma
    \epsilon_i` (:math:`i \le n`); :math:`Q = \sum x_i^2 \sim \chi^2_n`, :math:`Q_{xy} = \sum x_i
    y_i = w^* Q + \sigma \sqrt Q Z`. Candidates :math:`m + \tau Z_k`, :math:`m = \eta Q_{xy} /
    n`. Every reward picks the candidate nearest a centre :math:`c` (oracle :math:`c =
    w^*`, in-context loss :math:`c = Q_{xy} / Q`, norm :math:`c =
    0`), i.e. :math:`Z_{\mathrm{sel}}` = the :math:`Z_k` nearest :math:`t = (c - m) /
    \tau`. With :math:`D = Z_{\mathrm{sel}} - t`, :math:`\delta = c - w^*` and :math:`a = m - w^*`:

    .. math::

        R_N &= \mathbb{E}[(\delta + \tau D)^2]
            = \mathbb{E}[\delta^2 + 2 \tau \delta h_N(t) + \tau^2 g_N(t)] && (|t| \le 13), \\
        R_N &= \mathbb{E}[(a + \tau \operatorname{sign}(t) M)^2] && (|t| > 13),

    :math:`h_N`, :math:`g_N` as in :func:`expected_nearest_offset`, :func:`expected_min_sq_offset`
    (beyond :math:`|t| = 13` the nearest candidate is the extreme one, :math:`M` the maximum of
    :math:`N` normals: :math:`N Q(13) < 10^{-26}` for :math:`N \le 10^{12}`). Given :math:`Q`,
    :math:`(a, \delta, t)` is a centred Gaussian triple, so the expectation is a two-dimensional
    integral (over :math:`Q` and :math:`t`) of the one-dimensional :math:`h_N`, :math:`g_N`,
    computed once per :math:`N` on fixed Chebyshev panels in :math:`t` and interpolated
    (``_nearest_moments``, ``_averaging_weights``). For the oracle :math:`\delta = 0` and
    :math:`R_N = \tau^2 \mathbb{E} g_N(t)`: no cancellation however small the risk.

    Cost: about 1.5 s for :math:`N = 1, \dots, 1000` (the tables are cached per tuple of :math:`N`).
    :math:`N = 1` gives the greedy risk :math:`B + \tau^2`
    (``one_step_risk(n, 1, sigma2, eta) + tau**2``).
    """
    counts, scalar_n = _sample_counts(n_samples)
    node_weights, inside, tail = _averaging_weights(tau, n, sigma2, eta, reward, psi2)
    ratio, g = _nearest_moments(tuple(int(N) for N in counts))
    extreme = np.array([[1.0, m, v + m * m] for m, v in map(_max_moments, counts.tolist())])
    risk = inside + ratio @ node_weights[0] + g @ node_weights[1] + extreme @ tail
    return float(risk[0]) if scalar_n else risk


_GAUSSIAN_NOTE = (
    "of the formula (an approximation of the selected risk), relative to the scale of its terms "
    "mu_R + |e_N Cov / sd| (the two can cancel; the approximation can even be negative)"
)


def _check_offset_batch(name: str, value) -> np.ndarray:
    """A batch of d-vectors (..., d), entries of magnitude at most 1e50."""
    entries = validation.array(name, value)
    if entries.ndim < 1 or entries.size == 0 or np.max(np.abs(entries)) > 1e50:
        raise ValueError(
            f"{name} must have shape (..., d), d >= 1, with entries of magnitude <= 1e50, "
            f"got shape {entries.shape}"
        )
    return entries


def _check_metric(name: str, value):
    """``None`` (the identity), or a batch of nonzero symmetric matrices (..., d, d) with entries of
    magnitude at most 1e50 (symmetric to 1e-10 of its largest entry; its symmetric part is used)."""
    if value is None:
        return None
    M = validation.array(name, value)
    if M.ndim < 2 or M.shape[-1] != M.shape[-2] or M.size == 0:
        raise ValueError(f"{name} must have shape (..., d, d), got {M.shape}")
    scale = np.max(np.abs(M), axis=(-2, -1))
    if np.any(scale == 0) or np.any(scale > 1e50):
        raise ValueError(
            f"{name} must be nonzero (a constant score selects nothing), entries <= 1e50"
        )
    if np.any(np.max(np.abs(M - np.swapaxes(M, -1, -2)), axis=(-2, -1)) > 1e-10 * scale):
        raise ValueError(f"{name} must be symmetric")
    return (M + np.swapaxes(M, -1, -2)) / 2


@declare(
    Accuracy(relative=1e-12, note=_GAUSSIAN_NOTE),
    n_samples=_SAMPLES_1D,
    tau=Real(1e-50, 1e50),
    risk_offset=Given(
        "array of shape (..., d), entries of magnitude <= 1e50",
        check=_check_offset_batch,
        bad=([], [float("nan")], [1e51]),
    ),
    score_offset=Given(
        "array of shape (..., d) (the shape of risk_offset), entries of magnitude <= 1e50",
        check=_check_offset_batch,
        bad=([], [float("inf")], [1e51]),
    ),
    metric=Given(
        "None (the identity) or a nonzero symmetric array (..., d, d), entries of magnitude "
        "<= 1e50",
        check=_check_metric,
        bad=(np.zeros((2, 2)), np.array([[1.0, 2.0], [0.0, 1.0]]), np.eye(2)[None, :, :1]),
    ),
    where=[
        Condition(
            "risk_offset and score_offset have the same shape (..., d)",
            lambda risk_offset, score_offset: risk_offset.shape == score_offset.shape,
            {"risk_offset": np.zeros(3), "score_offset": np.zeros(4)},
        ),
        Condition(
            "metric is None or has shape (..., d, d) for the d of score_offset",
            lambda score_offset, metric: (
                metric is None or metric.shape[-2:] == 2 * score_offset.shape[-1:]
            ),
            {"score_offset": np.zeros(3), "metric": np.eye(2)},
        ),
    ],
)
def gaussian_selection_risk(
    n_samples: int, tau: float, risk_offset, score_offset, metric=None
) -> np.ndarray:
    r"""Gaussian (high-dimensional) approximation of the best-of-:math:`N` risk.

    The risk :math:`\mathbb{E}[\|w_{\mathrm{sel}} - w^*\|^2]`, for a quadratic score: candidates
    :math:`w = m + \tau \xi`, :math:`\xi \sim N(0, I_d)`; score
    :math:`s(w) = (w - c_0)^\top M (w - c_0)`.

    Parameters
    ----------
    n_samples : int
        Number :math:`N` of samples, :math:`1 \le N \le 10^{18}`.
    tau : float
        The candidates' spread, :math:`10^{-50} \le \tau \le 10^{50}`.
    risk_offset : array_like
        :math:`a = m - w^*`, shape ``(..., d)``, entries of magnitude at most :math:`10^{50}`.
    score_offset : array_like
        :math:`c = m - c_0`, of the shape of ``risk_offset``, entries of magnitude at most
        :math:`10^{50}`.
    metric : array_like or None, optional
        :math:`M`, a nonzero symmetric array ``(..., d, d)`` (the :math:`d` of ``score_offset``),
        entries of magnitude at most :math:`10^{50}`; ``None`` (the default) for :math:`I_d`.

    Returns
    -------
    risk : numpy.ndarray
        Shape ``(...)``, one value per prompt.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    With :math:`R = \|a + \tau \xi\|^2` and :math:`s = (c + \tau \xi)^\top M (c + \tau \xi)`:

    .. math::

        \mu_R &= \|a\|^2 + \tau^2 d, \qquad
            \operatorname{Var} s = 4 \tau^2 c^\top M^2 c + 2 \tau^4 \operatorname{tr} M^2, \\
        \operatorname{Cov}(R, s) &= 4 \tau^2 a^\top M c + 2 \tau^4 \operatorname{tr} M, \\
        \mathbb{E}[R_{\mathrm{sel}}] &\approx \mu_R + \frac{\operatorname{Cov}(R, s)}
            {\operatorname{sd}(s)} e_N \qquad \text{(exact if } (R, s) \text{ were jointly
            Gaussian)},

    .. math::

        \frac{\operatorname{Cov}(R, s)}{\operatorname{sd}(s)} = \frac{\tau (4 a^\top M c + 2 \tau^2
        \operatorname{tr} M)}{\sqrt{4 |M c|^2 + 2 \tau^2 \operatorname{tr} M^2}},

    with :math:`M` scaled to unit largest entry (the selection does not depend on the scale of the
    score).
    """
    a, c = risk_offset, score_offset
    d = a.shape[-1]
    if metric is None:  # M = I_d
        Mc, tr_M, tr_M2 = c, d, d
    else:
        M = metric / np.max(np.abs(metric), axis=(-2, -1), keepdims=True)
        Mc = np.einsum("...ij,...j->...i", M, c)
        tr_M, tr_M2 = np.einsum("...ii->...", M), np.einsum("...ij,...ji->...", M, M)
    ratio = (
        tau
        * (4 * (a * Mc).sum(-1) + 2 * tau**2 * tr_M)
        / np.sqrt(4 * (Mc**2).sum(-1) + 2 * tau**2 * tr_M2)
    )
    return (a**2).sum(-1) + tau**2 * d + ratio * (0.0 - _max_moments(n_samples)[0])


@declare(
    Accuracy(relative=1e-12, note=_GAUSSIAN_NOTE),
    n_samples=_SAMPLES_1D,
    tau=Real(0.0, 1e50),
    d=Integer(1, 10**8),
    bias2=Real(0.0, 1e100),
)
def oracle_gaussian_risk(n_samples: int, tau: float, *, d: int, bias2: float) -> float:
    r"""Gaussian approximation of the oracle best-of-:math:`N` risk.

    Parameters
    ----------
    n_samples : int
        Number :math:`N` of samples, :math:`1 \le N \le 10^{18}`.
    tau : float
        The candidates' spread, :math:`0 \le \tau \le 10^{50}`.
    d : int
        Dimension, :math:`1 \le d \le 10^8`.
    bias2 : float
        :math:`B`, the mean of :math:`\|m - w^*\|^2`, in :math:`[0, 10^{100}]`.

    Returns
    -------
    risk : float
        :math:`B + \tau^2 d + e_N \sqrt{4 \tau^2 B + 2 \tau^4 d}`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        R = B + \tau^2 d + e_N \sqrt{4 \tau^2 B + 2 \tau^4 d},

    with the last term computed as :math:`e_N \tau \sqrt{4 B + 2 \tau^2 d}`.
    """
    e_n = 0.0 - _max_moments(n_samples)[0]
    return bias2 + tau**2 * d + e_n * tau * math.sqrt(4 * bias2 + 2 * tau**2 * d)


def _oracle_excess(n_samples: int, d: int) -> float:
    """x = 2 e_N^2 / d (the Gaussian approximation's range is x < 1)."""
    return 2.0 * _max_moments(n_samples)[0] ** 2 / d


_MARGIN = 1e-4
_OPTIMUM_RANGE = Condition(
    f"2 e_N^2 <= (1 - {_MARGIN:g}) d (the Gaussian approximation's range 2 e_N^2 < d, short of its "
    "edge where the optimum is ill-conditioned)",
    lambda n_samples, d: _oracle_excess(n_samples, d) <= 1.0 - _MARGIN,
    {"n_samples": 1000, "d": 4},
)
_OPTIMUM_NOTE = (
    "closed form in e_N (relative error 1e-15); x = 2 e_N^2 / d near 1 amplifies it by 1/(1 - x)"
)


@declare(
    Accuracy(relative=1e-10, note=_OPTIMUM_NOTE),
    n_samples=_SAMPLES_1D,
    d=Integer(1, 10**8),
    bias2=Real(0.0, 1e100),
    where=[_OPTIMUM_RANGE],
)
def oracle_optimal_temperature(n_samples: int, *, d: int, bias2: float) -> float:
    r"""The spread :math:`\tau^*(N)` minimising :func:`oracle_gaussian_risk`.

    Parameters
    ----------
    n_samples : int
        Number :math:`N` of samples, :math:`1 \le N \le 10^{18}`.
    d : int
        Dimension, :math:`1 \le d \le 10^8`, with :math:`2 e_N^2 \le (1 - 10^{-4}) d` (the Gaussian
        approximation's range :math:`2 e_N^2 < d`, short of its edge where the optimum is
        ill-conditioned).
    bias2 : float
        :math:`B`, in :math:`[0, 10^{100}]`.

    Returns
    -------
    tau : float
        :math:`\tau^*`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        \tau^{*2} = \frac{B}{d} \Big(\frac{1}{\sqrt{1 - x}} - 1\Big), \qquad x = \frac{2 e_N^2}{d},

    computed as :math:`(B/d) \, x / (\sqrt{1 - x} (1 + \sqrt{1 - x}))` (no cancellation at small
    :math:`x`).
    """
    x = _oracle_excess(n_samples, d)
    root = math.sqrt(1.0 - x)
    return math.sqrt(bias2 / d * (x / (root * (1.0 + root))))


@declare(
    Accuracy(relative=1e-10, note=_OPTIMUM_NOTE),
    n_samples=_SAMPLES_1D,
    d=Integer(1, 10**8),
    bias2=Real(0.0, 1e100),
    where=[_OPTIMUM_RANGE],
)
def oracle_optimal_risk(n_samples: int, *, d: int, bias2: float) -> float:
    r"""The minimum over :math:`\tau` of :func:`oracle_gaussian_risk`.

    Parameters
    ----------
    n_samples : int
        Number :math:`N` of samples, :math:`1 \le N \le 10^{18}`.
    d : int
        Dimension, :math:`1 \le d \le 10^8`, with :math:`2 e_N^2 \le (1 - 10^{-4}) d` (the Gaussian
        approximation's range :math:`2 e_N^2 < d`, short of its edge where the optimum is
        ill-conditioned).
    bias2 : float
        :math:`B`, in :math:`[0, 10^{100}]`.

    Returns
    -------
    risk : float
        :math:`R^*(N) = B \sqrt{1 - 2 e_N^2 / d}`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).
    """
    return bias2 * math.sqrt(1.0 - _oracle_excess(n_samples, d))


def _log_asymptote(n_samples: int, t: float, spread: float) -> float:
    return math.log(math.pi) + t * t + 2 * math.log(spread) - 2 * math.log(n_samples)


@declare(
    Accuracy(
        relative=1e-12,
        note="exp of a sum of logarithms: relative error about 2e-16 (t^2 + 2 log N)",
    ),
    n_samples=Integer(1, 10**300),
    t=Real(),
    spread=Real(0.0, None, open_low=True),
    where=[
        Condition(
            "pi e^(t^2) spread^2 / N^2 neither overflows nor underflows a float "
            "(it lies in [1e-300, 1e300])",
            lambda n_samples, t, spread: (
                abs(_log_asymptote(n_samples, t, spread) + 0.0) <= 300 * math.log(10)
            ),
            {"n_samples": 2, "t": 30.0, "spread": 1.0},
        )
    ],
)
def nearest_sample_asymptote(n_samples: int, t: float, spread: float = 1.0) -> float:
    r"""Halder and Pehlevan's law for the squared distance to the nearest of :math:`N` samples.

    The law of :math:`\mathbb{E}[\min_k (s Z_k - s t)^2]` as :math:`N \to \infty`.

    Parameters
    ----------
    n_samples : int
        :math:`N`, :math:`1 \le N \le 10^{300}`.
    t : float
        The offset, any finite real.
    spread : float, optional
        :math:`s > 0`; default 1.

    Returns
    -------
    value : float
        :math:`\pi e^{t^2} s^2 / N^2`, computed in log space.

    Raises
    ------
    ValueError
        Unless :math:`\pi e^{t^2} s^2 / N^2` lies in :math:`[10^{-300}, 10^{300}]` (neither
        overflows nor underflows a float), or if an argument lies outside its range (see "Domain and
        accuracy" below).

    Notes
    -----
    .. math::

        \mathbb{E}\big[\min_k (s Z_k - s t)^2\big] \sim \frac{\pi e^{t^2} s^2}{N^2}.

    References
    ----------
    - I. Halder and C. Pehlevan, "Demystifying LLM-as-a-Judge: analytically tractable model for
      inference-time scaling", 2025, arXiv:2512.19905.
    """
    return math.exp(_log_asymptote(n_samples, t, spread))


_LIMIT_NOTE = "a closed form in a few roundings; inf where it diverges"


@declare(
    Accuracy(relative=1e-14, absolute=1e-300, note=_LIMIT_NOTE),
    n=Integer(1, 10**15),
    d=Integer(2, 10**15),
    sigma2=Real(0.0, 1e100),
    psi2=Real(0.0, 1e100, open_low=True),
    where=[Condition("n < d (an interpolator)", lambda n, d: n < d, {"n": 5, "d": 5})],
)
def min_norm_risk(n: int, d: int, sigma2: float, *, psi2: float = 1.0) -> float:
    r"""Risk :math:`\mathbb{E}\|X^+ y - w\|^2` of the minimum-norm interpolator.

    Parameters
    ----------
    n : int
        Number of examples, :math:`1 \le n \le 10^{15}`, :math:`n < d` (an interpolator).
    d : int
        Dimension, :math:`2 \le d \le 10^{15}`.
    sigma2 : float
        Label-noise variance, :math:`0 \le \sigma^2 \le 10^{100}`.
    psi2 : float, optional
        Prior variance, :math:`0 < \psi^2 \le 10^{100}`; default 1.

    Returns
    -------
    risk : float
        :math:`\psi^2 (d - n) + \sigma^2 n / (d - n - 1)` for :math:`n \le d - 2` (infinite for
        :math:`n = d - 1` when :math:`\sigma^2 > 0`).

    Raises
    ------
    ValueError
        If :math:`n \ge d`, or an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        \mathbb{E}\|X^+ y - w\|^2 = \psi^2 (d - n) + \frac{\sigma^2 n}{d - n - 1}.
    """
    noise = sigma2 * n / (d - n - 1) if n <= d - 2 else (math.inf if sigma2 > 0 else 0.0)
    return psi2 * (d - n) + noise


@declare(
    Accuracy(relative=1e-14, absolute=1e-300, note=_LIMIT_NOTE),
    n=Integer(1, 10**15),
    d=Integer(1, 10**15),
    sigma2=Real(0.0, 1e100),
    tau=Real(0.0, 1e100),
    psi2=Real(0.0, 1e100, open_low=True),
)
def in_context_limit_risk(n: int, d: int, sigma2: float, tau: float, *, psi2: float = 1.0) -> float:
    r"""The :math:`N \to \infty` risk of best-of-:math:`N` with the in-context loss.

    Candidates :math:`m + \tau \xi` with :math:`m` in the row space of :math:`X`.

    Parameters
    ----------
    n : int
        Number of examples, :math:`1 \le n \le 10^{15}`.
    d : int
        Dimension, :math:`1 \le d \le 10^{15}`.
    sigma2 : float
        Label-noise variance, :math:`0 \le \sigma^2 \le 10^{100}`.
    tau : float
        The candidates' spread, :math:`0 \le \tau \le 10^{100}`.
    psi2 : float, optional
        Prior variance, :math:`0 < \psi^2 \le 10^{100}`; default 1.

    Returns
    -------
    risk : float
        The limit risk.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    :math:`n \ge d`: the least-squares risk :math:`\sigma^2 d / (n - d - 1)` (infinite for
    :math:`n \le d + 1` when :math:`\sigma^2 > 0`); :math:`n < d`: the selected candidate tends to
    :math:`X^+ y + \tau P_{\mathrm{null}} \xi`, risk

    .. math::

        \psi^2 (d - n) + \frac{\sigma^2 n}{d - n - 1} + \tau^2 (d - n).
    """
    if n >= d:
        return least_squares_risk(n, d, sigma2)
    noise = sigma2 * n / (d - n - 1) if n <= d - 2 else (math.inf if sigma2 > 0 else 0.0)
    return (psi2 + tau**2) * (d - n) + noise
