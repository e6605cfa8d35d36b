r"""Chapter 2: averages over the Gaussian design, from the exact eigenvalue density of real Wishart.

**Setting.** :math:`X` is :math:`n \times d` with i.i.d. :math:`N(0, 1)` entries and
:math:`S = X^\top X / n`. With :math:`m = \min(n, d)` and :math:`p = \max(n, d)`, :math:`S` has
:math:`d - m` eigenvalues 0 and :math:`m` eigenvalues :math:`s = x / n`, where :math:`x` are the
eigenvalues of the :math:`m \times m` real Wishart matrix with :math:`p` degrees of freedom
(:math:`X^\top X` if :math:`n \ge d`, :math:`X X^\top` if :math:`n < d`). Their joint density is
proportional to

.. math::

    \prod_i x_i^a e^{-x_i/2} \prod_{i<j} |x_i - x_j|, \qquad a = \frac{p - m - 1}{2}

(the Laguerre orthogonal ensemble), so for any :math:`g`

.. math::

    \mathbb{E} \sum_{j=1}^d g(s_j) = (d - m) g(0) + \int_0^\infty g(x / n) \rho(x) \, dx,

with :math:`\rho` the one-point density, normalised to the expected number of eigenvalues per
unit :math:`x` (its integral is :math:`m`).

**The density (de Bruijn's Pfaffian).** Let :math:`\alpha = p - m`, :math:`R_i` the polynomials
orthonormal for the weight :math:`x^\alpha e^{-x}` (normalised Laguerre
:math:`L_i^{(\alpha)}`), :math:`r_i(x) = R_i(x) x^{\alpha/2} e^{-x/2}` and
:math:`b_j = \sqrt{j (j + \alpha)}`. The functions :math:`\psi_w = x^a e^{-x/2}` and

.. math::

    \psi_j = (x^{a+1} e^{-x/2} R_j)' = x^a e^{-x/2} (b_{j+1} R_{j+1} - b_j R_{j-1}) / 2,
    \qquad j = 0, \dots, m-2,

span :math:`x^a e^{-x/2}` times the polynomials of degree :math:`< m`, and their transforms
:math:`\Phi_k(x) = \int \operatorname{sign}(y - x) \psi_k(y) \, dy` are elementary:

.. math::

    \Phi_j = -2 x^{a+1} e^{-x/2} R_j, \qquad
    \Phi_w = 2^{a+1} \Gamma(a+1) \big(1 - 2 P(a+1, x/2)\big)

(:math:`P` the regularised lower incomplete gamma function). De Bruijn's identity gives
:math:`\mathbb{E} \prod_i (1 + \varepsilon g(x_i)) = \operatorname{Pf} A(\varepsilon) /
\operatorname{Pf} A(0)` with :math:`A_{jk}(\varepsilon) = \iint \operatorname{sign}(y - x)
\psi_j(x) \psi_k(y) (1 + \varepsilon g(x)) (1 + \varepsilon g(y)) \, dx \, dy`, bordered for odd
:math:`m` by the row :math:`A_{je} = \int \psi_j (1 + \varepsilon g)`. In this basis
:math:`A(0)` is skew-symmetric and tridiagonal along the chain :math:`(e), w, 0, 1, \dots, m-2`,
with the entries above the diagonal :math:`-2^{a+1} \Gamma(a+1)` (odd :math:`m` only),
:math:`-2 \sqrt{\Gamma(\alpha + 1)}`, :math:`-b_1, \dots, -b_{m-2}`, and
:math:`\frac{d}{d\varepsilon} \log \operatorname{Pf} A = \operatorname{tr}(A^{-1} A') / 2` at
:math:`\varepsilon = 0` gives, with :math:`B = A(0)^{-1}`,

.. math::

    \rho(x) = \sum_{j,k} B_{kj} \psi_j(x) \Phi_k(x) + [m \text{ odd}] \sum_j B_{ej} \psi_j(x).

Far beyond the bulk, :math:`\rho(x) = C x^a e^{-x/2} (m-1)! \, |L_{m-1}^{(\alpha)}(x)|` up to a
relative error exponentially small in :math:`x`, with :math:`C = \sqrt\pi \, 2^{-(m+p-1)/2} /
(\Gamma(p/2) \Gamma(m/2))`: one eigenvalue at :math:`x`, the other :math:`m - 1` those of the
:math:`(m-1) \times (m-1)` Wishart with :math:`p - 1` degrees of freedom, whose mean
characteristic polynomial :math:`\mathbb{E} \det(x - W')` is the monic Laguerre polynomial
:math:`(m-1)! \, (-1)^{m-1} L_{m-1}^{(\alpha)}(x)`. For complex Gaussian :math:`X`
(:math:`\beta = 2`, the Laguerre unitary ensemble, :math:`\mathbb{E}|X_{ij}|^2 = 1`) the density
is instead :math:`\sum_{i<m} r_i(x)^2`.

**GD averaged over X.** :math:`T` steps of GD from :math:`w_0 = 0` (gradient divided by
:math:`n`, step :math:`\eta`) have risk :math:`R_T(X) = \sum_j f_T(s_j)` given :math:`X`
(:func:`icl.theory.gd_risk_given_spectrum`), with

.. math::

    f_T(s) = \psi^2 (1 - \eta s)^{2T} + \frac{\sigma^2}{n} \frac{(1 - (1 - \eta s)^T)^2}{s},
    \qquad f_T(0) = \psi^2.

Along an eigenvalue :math:`s > 2 / \eta` the chain diverges, :math:`|1 - \eta s| > 1`, and
designs with such an eigenvalue have positive probability, so the plain average
:math:`\mathbb{E} R_T(X)` grows without bound in :math:`T` although almost every design gives a
bounded risk. The book's prompt-averaged risk is the average over the designs on which the chain
does not diverge,

.. math::

    \bar R_T = \mathbb{E}[R_T(X) ; \eta s_{\max}(X) \le 2],

computed as the truncated linear statistic
:math:`L_T = \mathbb{E} \sum_j f_T(s_j) 1\{\eta s_j \le 2\}`. Their gap is bounded relative to
:math:`L_T`: on a divergent design the largest eigenvalue :math:`y = x_{\max}` exceeds
:math:`c = 2n / \eta`, and given :math:`y` the other :math:`m - 1` have the density
:math:`\prod_j w(x_j) (y - x_j) \Delta(x)` of the :math:`(m-1)`-ensemble with :math:`p - 1`
degrees of freedom (the same weight :math:`w(x) = x^a e^{-x/2}`) tilted by
:math:`\prod_j (y - x_j) \le y^{m-1}`, so

.. math::

    0 \le L_T - \bar R_T \le K \big[(d - m) f_T(0) + L'_T\big], \qquad
    K = C \int_c^\infty y^{a+m-1} e^{-y/2} \, dy,

with :math:`C` as above and :math:`L'_T` the same truncated statistic over the
:math:`(m-1)`-ensemble; :math:`K \ge P(\eta s_{\max} > 2)` too. Ridge-regularised GD (penalty
:math:`\lambda`, contraction :math:`1 - \eta (s + \lambda)`) diverges where
:math:`\eta (s + \lambda) > 2`; :func:`gd_risk_parts` and :func:`gd_parting_steps` take ``lam``.

**Numerics.** The constants are rescaled by :math:`\sqrt{\Gamma(\alpha + 1)}`
(:math:`\psi_w / \sqrt{\Gamma(\alpha+1)}` in place of :math:`\psi_w`, its integral by Legendre's
duplication formula), :math:`A(0)^{-1}` is formed by the two-term recurrences of the skew chain
(each entry a product of ratios, exact to rounding), and :math:`r_0` is
:math:`\exp((\alpha/2)(\log(x/\alpha) - \delta) - \dots)`, :math:`\delta = x / \alpha - 1`, so
that nothing overflows or cancels for :math:`p` up to :math:`10^6`. Integrals run in
:math:`t = \sqrt x`, where every part of :math:`\rho(x) \, dx` is smooth: the integrand is first
probed in log form (on a geometric grid, which resolves :math:`e^{-2 \eta T x / n}` near 0 and
:math:`(1 - \eta s)^{2T}` near the cut, and a uniform one across the bulk), the parts below
:math:`e^{-92}` of its peak are dropped, and the rest is integrated by 20-point Gauss-Legendre
panels (no wider than :math:`5 / \sqrt{4m + 2}` in :math:`t`, a few wiggles of the density),
refined until halving every panel changes the result by less than :math:`10^{-10}` relative;
each pass is scaled by its largest value, so that a risk of :math:`10^{-300}` keeps its relative
accuracy. Beyond the bulk (beyond :math:`1.5 (\sqrt m + \sqrt p)^2 + 20`, or above
:math:`x = \alpha` where :math:`r_0` underflows) the density is evaluated in log form, and the
tails above the cut (:math:`P(\eta s_{\max} > 2)`, the divergent part :math:`D_T`) are
integrated in log form around their peak, shifted by their start, their logarithms accurate to
about :math:`10^{-16}` times their size.

References
----------
- N. G. de Bruijn, "On some multiple integrals involving determinants", *Journal of the Indian
  Mathematical Society* 19, 133-151, 1955.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy import special

from icl.domain import Accuracy, Condition, Given, Integer, Real, declare

MAX_SIZE = 10**6
"""Largest n and d accepted."""
MAX_RANK = 256
"""Largest min(n, d) accepted (the density costs O(min(n, d)^2) per point)."""
MAX_STEPS = 10**6
"""Largest number of GD steps T accepted by the exact GD averages."""
MAX_RANK_PARTING = 64
"""Largest min(n, d) accepted by :func:`gd_parting_steps`."""
RELATIVE_BOUND = 1e-7
"""The largest certified relative gap between the computed and the defined typical-design risk."""

_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)
_QUADRATURE_TOL = 1e-10
_KEEP = 92.0  # parts of an integrand below e^-92 (1e-40) of its peak are dropped
_FAR = 1e7  # above this x the tails are integrated in a form shifted by their start


def _stirling(alpha: float) -> float:
    """log Gamma(alpha + 1) - (alpha log alpha - alpha + log(2 pi alpha) / 2), alpha >= 30."""
    return 1 / (12 * alpha) - 1 / (360 * alpha**3) + 1 / (1260 * alpha**5) - 1 / (1680 * alpha**7)


def _log_r0(x: np.ndarray, alpha: int) -> np.ndarray:
    """log r_0(x) = (alpha/2) log x - x/2 - log Gamma(alpha + 1)/2, for large alpha as
    (alpha/2)(log1p(delta) - delta) - log(2 pi alpha)/4 - ..., delta = x/alpha - 1 (no
    cancellation of terms of size alpha log alpha)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if alpha == 0:
            return -x / 2
        if alpha < 30:
            return alpha / 2 * np.log(x) - x / 2 - special.gammaln(alpha + 1) / 2
        delta = x / alpha - 1
        log_ratio = np.where(delta > -0.5, np.log1p(np.maximum(delta, -0.5)), np.log(x / alpha))
        return (
            alpha / 2 * (log_ratio - delta)
            - 0.25 * math.log(2 * math.pi * alpha)
            - _stirling(alpha) / 2
        )


@dataclass(frozen=True)
class _Ensemble:
    """The m x m real Wishart matrix with p degrees of freedom: the pieces of its one-point
    density (psi_w rescaled by 1 / sqrt(Gamma(alpha + 1)))."""

    m: int
    p: int
    alpha: int
    a: float
    c_w: float  # int psi_w / sqrt(Gamma(alpha + 1)) = 2^{a+1} Gamma(a+1) / sqrt(Gamma(alpha+1))
    quad: np.ndarray  # (m-1, m): the psi_j Phi_k (k a chain index) part, a quadratic form in r
    lin_w: np.ndarray  # (m,): the psi_j Phi_w part, (r . lin_w) Phi_w x^{-1/2}
    lin_e: np.ndarray  # (m,): the odd-m border, (r . lin_e) x^{-1/2}
    log_c: float  # log C, the constant of rho(x) = C w(x) E'|det(x - W')|

    @property
    def edge(self) -> float:
        """The upper edge of the bulk, (sqrt(m) + sqrt(p))^2, in x."""
        return (math.sqrt(self.m) + math.sqrt(self.p)) ** 2

    @property
    def switch(self) -> float:
        """Beyond this x the density is evaluated in log form."""
        return 1.5 * self.edge + 20.0

    @property
    def width(self) -> float:
        """The widest panel in t: the Laguerre functions oscillate in t at most at the frequency
        sqrt(4m + 2), the density's wiggles about 2 / sqrt(m) apart."""
        return min(1.0, 5.0 / math.sqrt(4 * self.m + 2))


def _skew_chain_inverse(above: list[float]) -> np.ndarray:
    """The inverse of the skew-symmetric tridiagonal matrix of even size with A_{i,i+1} =
    above[i]: A z = e_k is solved by the two-term recurrences of its even rows (forward, for the
    odd entries) and odd rows (backward, for the even ones); each entry is a product of ratios
    of the entries, exact to rounding (a general inverse loses cond(A) x 1e-16: 1e-9 at large p)."""
    u = list(above)
    size = len(u) + 1
    B = np.zeros((size, size))
    for k in range(size):
        z = np.zeros(size)
        for i in range(0, size - 1, 2):
            z[i + 1] = ((i == k) + (u[i - 1] * z[i - 1] if i > 0 else 0.0)) / u[i]
        for i in range(size - 1, 0, -2):
            z[i - 1] = ((u[i] * z[i + 1] if i < size - 1 else 0.0) - (i == k)) / u[i - 1]
        B[:, k] = z
    return B


@lru_cache(maxsize=512)
def _ensemble(m: int, p: int) -> _Ensemble:
    alpha = p - m
    a = (alpha - 1) / 2
    # 2^{a+1} Gamma(a+1) / sqrt(Gamma(2a+2)) = sqrt(2) pi^{1/4} sqrt(Gamma(a+1) / Gamma(a+3/2))
    # (Legendre's duplication formula), without the cancellation of log-gammas of size p log p
    c_w = math.sqrt(2) * math.pi**0.25 / math.sqrt(special.poch(a + 1, 0.5))
    odd = m % 2 == 1
    above = ([-c_w] if odd else []) + ([-2.0] if m >= 2 else [])
    above += [-math.sqrt(j * (j + alpha)) for j in range(1, m - 1)]
    B = _skew_chain_inverse(above)
    off = 1 if odd else 0
    Bb = B[off:, off:]  # basis order: w, 0, 1, ..., m-2
    # sqrt(x) psi_basis = r @ Psi: psi_w -> r_0; psi_j -> (b_{j+1} r_{j+1} - b_j r_{j-1}) / 2
    Psi = np.zeros((m, m))
    Psi[0, 0] = 1.0
    for j in range(m - 1):
        Psi[j + 1, 1 + j] = math.sqrt((j + 1) * (j + 1 + alpha)) / 2
        if j >= 1:
            Psi[j - 1, 1 + j] = -math.sqrt(j * (j + alpha)) / 2
    quad = -2 * Bb[1:, :] @ Psi.T
    lin_w = Psi @ Bb[0, :]
    lin_e = Psi @ B[0, off:] if odd else np.zeros(m)
    log_c = (
        0.5 * math.log(math.pi)
        - (m + p - 1) / 2 * math.log(2)
        - special.gammaln(p / 2)
        - special.gammaln(m / 2)
    )
    return _Ensemble(m, p, alpha, a, c_w, quad, lin_w, lin_e, log_c)


def _laguerre_functions(x: np.ndarray, m: int, alpha: int) -> tuple[np.ndarray, np.ndarray]:
    """(r', L) with r_i(x) = R_i(x) x^{alpha/2} e^{-x/2} = e^{L} r'_i, i < m, by the three-term
    recurrence from log r_0, rescaled on the way (the scale L per point is the largest of the
    log|r_i|, so |r'_i| <= 1): nothing underflows, not even far below the bulk. ``r'`` is
    ``(m, len(x))``."""
    r = np.empty((m, x.size))
    scale = np.empty((m, x.size))  # r_i = r[i] e^{scale[i]}
    current = _log_r0(x, alpha)
    previous, r[0], scale[0] = np.zeros_like(x), 1.0, current
    for i in range(m - 1):
        b_i, b_next = math.sqrt(i * (i + alpha)), math.sqrt((i + 1) * (i + 1 + alpha))
        r[i + 1] = ((2 * i + alpha + 1 - x) * r[i] - b_i * previous) / b_next
        previous = r[i]
        if i % 4 == 3:  # keep the pair within 1e+-100: rescale both, carry the log
            size = np.maximum(np.abs(r[i + 1]), np.abs(r[i]))
            size = np.where((size > 1e100) | (size < 1e-100), size, 1.0)
            size = np.where(size > 0, size, 1.0)
            r[i + 1] /= size
            previous = r[i] / size
            current = current + np.log(size)
        scale[i + 1] = current
    with np.errstate(divide="ignore"):
        log_abs = scale + np.log(np.abs(r))
    top = np.max(log_abs, axis=0)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(under="ignore"):
        return r * np.exp(scale - top), top


def _phi_w(e: _Ensemble, x: np.ndarray) -> np.ndarray:
    return e.c_w * (2 * special.gammaincc(e.a + 1, x / 2) - 1)


def _log_density_in_t(e: _Ensemble, t: np.ndarray, beta: int = 1) -> np.ndarray:
    """log(2 t rho(t^2)), the density of t = sqrt(x) (smooth in t: no x^{-1/2} left), from the
    rescaled Laguerre functions: 2 t rho = e^{2L} 2t r' Q r' + e^{L} 2 (lin_w.r' Phi_w +
    lin_e.r')."""
    x = t * t
    r, top = _laguerre_functions(x, e.m, e.alpha)
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        if beta == 2:
            return 2 * top + np.log(2 * t * (r * r).sum(0))
        linear = 2 * (e.lin_w @ r * _phi_w(e, x) + e.lin_e @ r)
        if e.m > 1:
            quadratic = 2 * t * (r[: e.m - 1] * (e.quad @ r)).sum(0)
            linear = linear + np.exp(top) * quadratic
        return top + np.log(linear)


def _scaled_polynomials(e: _Ensemble, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, log F): sqrt(Gamma(alpha+1)) R_i(x) = F x^{m-1} P_i, i < m, for x beyond the bulk
    (``P`` is ``(m, len(x))``, its last row about (-1)^{m-1}; no overflow or underflow).

    Q_i = kappa_i R_i / x^i, kappa_i = sqrt(i! Gamma(i + alpha + 1)), follows
    Q_{i+1} = ((2i + alpha + 1)/x - 1) Q_i - (b_i / x)^2 Q_{i-1}, Q_0 = 1, and
    P_i = Q_i prod_{j=i+1}^{m-1} (b_j / x), F = sqrt(Gamma(alpha + 1)) / kappa_{m-1}.
    """
    m, alpha = e.m, e.alpha
    Q = np.empty((m, x.size))
    Q[0] = 1.0
    previous = np.zeros_like(x)
    for i in range(m - 1):
        Q[i + 1] = ((2 * i + alpha + 1) / x - 1) * Q[i] - (i * (i + alpha)) / x**2 * previous
        previous = Q[i]
    b = np.sqrt(np.arange(1, m) * (np.arange(1, m) + alpha))  # b_1 .. b_{m-1}
    ratios = np.ones((m, x.size))
    for i in range(m - 2, -1, -1):
        ratios[i] = ratios[i + 1] * (b[i] / x)
    log_f = -0.5 * (special.gammaln(m) + float(np.sum(np.log(alpha + np.arange(1.0, m)))))
    return Q * ratios, float(log_f)


def _far_rest(e: _Ensemble, x: np.ndarray, beta: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(lead, rest) with log rho(x) = beta lead + rest beyond the bulk: lead = log r_0(x) +
    (m-1) log x + log F and rest slowly varying, accurate to an absolute 1e-16."""
    P, log_f = _scaled_polynomials(e, x)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        lead = _log_r0(x, e.alpha) + (e.m - 1) * np.log(x) + log_f
        if beta == 2:
            return lead, np.log((P * P).sum(0))
        linear = (e.lin_w @ P * _phi_w(e, x) + e.lin_e @ P) / np.sqrt(x)
        if e.m > 1:
            linear = linear + np.exp(lead) * (P[: e.m - 1] * (e.quad @ P)).sum(0)
        return lead, np.log(linear)


def _log_density_far(e: _Ensemble, x: np.ndarray, beta: int = 1) -> np.ndarray:
    """log rho(x) for x >= 1 in log form (the polynomials scaled, see _scaled_polynomials)."""
    lead, rest = _far_rest(e, x, beta)
    return beta * lead + rest


def _log_density(e: _Ensemble, x: np.ndarray, beta: int = 1) -> np.ndarray:
    """log rho(x), x > 0: the rescaled Pfaffian form below :attr:`_Ensemble.switch`, the log
    form with scaled polynomials beyond."""
    t = np.sqrt(np.asarray(x, dtype=float))
    with np.errstate(divide="ignore"):
        return _log_density_t(e, t, beta) - np.log(2 * t)


def _log_density_t(e: _Ensemble, t: np.ndarray, beta: int = 1) -> np.ndarray:
    """log(2 t rho(t^2)), t >= 0."""
    t = np.asarray(t, dtype=float)
    out = np.empty_like(t)
    far = t * t >= e.switch
    if (~far).any():
        out[~far] = _log_density_in_t(e, t[~far], beta)
    if far.any():
        tf = t[far]
        out[far] = np.log(2 * tf) + _log_density_far(e, tf * tf, beta)
    return np.where(np.isnan(out), -np.inf, out)


# ----------------------------------------------------------------------------------------------
# Quadrature


def _panels(breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = breaks[:-1, None], breaks[1:, None]
    return ((lo + hi) / 2 + (hi - lo) / 2 * _GL_X).ravel(), ((hi - lo) / 2 * _GL_W).ravel()


def _halved(breaks: np.ndarray) -> np.ndarray:
    return np.sort(np.concatenate([breaks, (breaks[:-1] + breaks[1:]) / 2]))


def _integrate(
    log_values: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], pieces: list[np.ndarray]
) -> tuple[float, float]:
    """(log|I|, sign I) for I the sum over the pieces (arrays of breaks) of int v(t) dt, with
    ``log_values(t)`` = (log|v(t)|, sign v(t)): Gauss-Legendre panels checked against halved
    panels (refined until they agree to 1e-10 relative, or to 1.4e-14 L where the log integrand
    reaches a size L), each pass scaled by its largest value, so that neither e^{-10^6} nor
    e^{10^6} leaves the float range."""

    def once(all_breaks):
        nodes, weights = zip(*(_panels(b) for b in all_breaks), strict=True)
        level, sign = log_values(np.concatenate(nodes))
        w = np.concatenate(weights)
        finite = np.isfinite(level)
        if not finite.any():
            return -math.inf, 0.0, 0.0
        peak = float(np.max(level[finite]))
        with np.errstate(under="ignore"):
            v = np.where(finite, np.exp(np.where(finite, level, 0.0) - peak), 0.0)
        return peak, float(w @ (sign * v)), float(w @ v)

    pieces = [np.asarray(b, dtype=float) for b in pieces if len(b) >= 2]
    if not pieces:
        return -math.inf, 1.0
    coarse_peak, coarse, _ = once(pieces)
    for _ in range(5):
        pieces = [_halved(b) for b in pieces]
        peak, fine, absolute = once(pieces)
        if not math.isfinite(peak):
            return -math.inf, 1.0
        coarse = coarse * math.exp(coarse_peak - peak) if math.isfinite(coarse_peak) else 0.0
        # a log integrand of size L is known to about 1e-16 L: the values no better than that
        tolerance = max(_QUADRATURE_TOL, 64 * 2.2e-16 * abs(peak))
        if abs(fine - coarse) <= tolerance * max(abs(fine), 1e-3 * absolute, 1e-300):
            if fine == 0:
                return -math.inf, 1.0
            return peak + math.log(abs(fine)), math.copysign(1.0, fine)
        coarse_peak, coarse = peak, fine
    raise RuntimeError(
        f"the quadrature did not converge: {coarse!r} x e^{coarse_peak:.6g} (last change above "
        f"{_QUADRATURE_TOL:g})"
    )


def _thinned(points: np.ndarray, width: float, lo: float, hi: float) -> np.ndarray:
    """The sorted points thinned to about one per ``width`` and, within 4 ``width`` of either end,
    to one per factor 1.25 of the distance to that end (a geometric grid towards lo and hi)."""
    if points.size == 0:
        return points
    with np.errstate(divide="ignore", invalid="ignore"):
        to_lo, to_hi = points - lo, hi - points
        near = np.minimum(to_lo, to_hi)
        geometric = 0.25 * near < width
        level = np.floor(np.log(np.maximum(near, 1e-300)) / math.log(1.25))
        key = np.where(
            geometric,
            np.where(to_lo <= to_hi, -1e7, 1e7) + level,
            2e7 + np.floor(to_lo / width),
        )
    _, first = np.unique(key, return_index=True)
    return points[np.sort(first)]


def _kept_pieces(
    probes: np.ndarray, levels: np.ndarray, width: float, lo: float, hi: float
) -> tuple[float, list[np.ndarray]]:
    """(peak, pieces): the peak of the log integrand on the probes and the runs of probes within
    _KEEP of it (each widened to the neighbouring probes), as arrays of breaks no wider than
    ``width`` apart (the probes inside included)."""
    order = np.argsort(probes)
    probes, levels = probes[order], levels[order]
    peak = float(np.max(levels))
    if not np.isfinite(peak):
        return peak, []
    kept = levels > peak - _KEEP
    pieces = []
    index = np.nonzero(kept)[0]
    runs = np.split(index, np.nonzero(np.diff(index) > 1)[0] + 1)
    for run in runs:
        start = probes[run[0] - 1] if run[0] > 0 else lo
        stop = probes[run[-1] + 1] if run[-1] + 1 < probes.size else hi
        inside = _thinned(probes[(probes >= start) & (probes <= stop)], width, lo, hi)
        grid = np.linspace(start, stop, max(2, math.ceil((stop - start) / width) + 1))
        pieces.append(np.unique(np.concatenate([inside, grid, [start, stop]])))
    merged = [pieces[0]]
    for piece in pieces[1:]:
        if piece[0] <= merged[-1][-1]:
            merged[-1] = np.unique(np.concatenate([merged[-1], piece]))
        else:
            merged.append(piece)
    return peak, [_steep_split(piece, probes, levels) for piece in merged]


def _steep_split(breaks: np.ndarray, probes: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """The breaks with every panel across which the log integrand (interpolated between the
    probes) changes by more than 4 cut into equal parts that change it by at most 4 (a power
    x^100 or an exponential within one panel defeats Gauss-Legendre)."""
    finite = np.isfinite(levels)
    if finite.sum() < 2:
        return breaks
    floor = float(np.max(levels[finite])) - _KEEP - 10
    at = np.interp(breaks, probes[finite], np.maximum(levels[finite], floor))
    steps = np.ceil(np.abs(np.diff(at)) / 4).astype(int)
    if np.all(steps <= 1):
        return breaks
    parts = [
        np.linspace(a, b, k + 1)[:-1]
        for a, b, k in zip(breaks[:-1], breaks[1:], np.maximum(steps, 1))
    ]
    return np.concatenate([*parts, breaks[-1:]])


def _log_statistic(
    e: _Ensemble,
    log_factor: Callable[[np.ndarray], np.ndarray],
    factor_sign: Callable[[np.ndarray], np.ndarray] | None,
    t_lo: float,
    t_hi: float,
    *,
    beta: int = 1,
    t_scale: float = 1.0,
    below: float = -math.inf,
) -> tuple[float, float]:
    """(log |I|, sign I) for I = int_{t_lo^2}^{t_hi^2} h(x) rho(x) dx with log|h| = ``log_factor``
    and sign(h) = ``factor_sign`` (None: h >= 0); ``t_hi`` may be inf (then h may grow at most
    polynomially). ``t_scale``: the smallest scale in t on which h varies (near 0). Where the
    integrand's peak times the range stays below e^``below`` (a value that only 0 represents),
    (-inf, 1) without a quadrature."""
    width = e.width
    bulk_lo = max(0.0, math.sqrt(e.p) - math.sqrt(e.m) - 12.0)
    bulk_hi = math.sqrt(e.p) + math.sqrt(e.m) + 12.0
    top = t_hi if math.isfinite(t_hi) else 2 * bulk_hi
    small = max(min(1e-3, 1e-3 * t_scale), 1e-150)
    pieces = [np.geomspace(small, max(top, 2 * small), 400)]
    if bulk_lo < min(top, bulk_hi):
        pieces.append(np.arange(bulk_lo, min(top, bulk_hi), width))
    if math.isfinite(t_hi):
        pieces.append(t_hi - np.geomspace(1e-12 * t_hi, t_hi, 200))
    if t_lo > 0:
        pieces.append(t_lo + np.geomspace(1e-12 * max(t_lo, 1.0), top, 200))
    probes = np.unique(np.concatenate(pieces))
    probes = probes[(probes > t_lo) & (probes < t_hi)]

    def level(t):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            v = log_factor(t * t) + _log_density_t(e, t, beta)
        return np.where(np.isnan(v), -np.inf, v)

    levels = level(probes)
    if not math.isfinite(t_hi):
        for _ in range(60):  # reach beyond the decay of a polynomially growing factor
            if levels[-1] <= np.max(levels) - _KEEP:
                break
            more = probes[-1] * np.geomspace(1.01, 2.0, 40)
            probes, levels = np.concatenate([probes, more]), np.concatenate([levels, level(more)])
        else:
            raise RuntimeError("the integrand does not decay: g grows faster than a polynomial")
    if np.any(np.isposinf(levels)):
        raise ValueError("the integrand is not finite (g must return finite values)")
    peak, kept = _kept_pieces(
        probes, levels, width, t_lo, t_hi if math.isfinite(t_hi) else float(probes[-1])
    )
    if not kept or peak + math.log(float(probes[-1]) - t_lo + 1.0) < below:
        return -math.inf, 1.0

    def log_values(t):
        lv = level(t)
        return lv, (np.ones_like(lv) if factor_sign is None else factor_sign(t * t))

    return _integrate(log_values, kept)


def _log_tail_far(
    e: _Ensemble, x0: float, log_h: Callable[[np.ndarray], np.ndarray], beta: int = 1
) -> float:
    """log int_{x0}^inf h(x) rho(x) dx for x0 at or beyond the bulk (x0 >= switch), in a form
    shifted by x0: ``log_h(u)`` is log h(x0 + u), and log rho(x0 + u) - log rho(x0) is
    (beta (alpha/2 + m - 1)) log1p(u/x0) - beta u/2 + rest(x0 + u) - rest(x0), so that the
    integrand keeps its relative accuracy however large x0 is."""
    if not math.isfinite(x0):
        return -math.inf
    x0_arr = np.array([x0])
    base = float(_log_density_far(e, x0_arr, beta)[0])
    rest0 = float(_far_rest(e, x0_arr, beta)[1][0])
    power = beta * (e.alpha / 2 + e.m - 1)

    def phi(u):
        u = np.asarray(u, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            v = (
                log_h(u)
                + power * np.log1p(u / x0)
                - beta * u / 2
                + (_far_rest(e, x0 + u, beta)[1] - rest0)
            )
        return np.where(np.isnan(v), -np.inf, v)

    top = max(2.0 * x0, 1e3)
    probes = np.concatenate([[0.0], np.geomspace(1e-6, top, 600)])
    levels = phi(probes)
    for _ in range(200):
        if levels[-1] <= np.max(levels) - _KEEP:
            break
        more = probes[-1] * np.geomspace(1.05, 4.0, 60)
        probes, levels = np.concatenate([probes, more]), np.concatenate([levels, phi(more)])
    else:
        raise RuntimeError("the tail integrand does not decay")
    best = int(np.argmax(levels))
    if not math.isfinite(levels[best]):
        return -math.inf
    # the peak and its width (where phi falls by 1/2), on a fine grid between the neighbouring
    # probes: one vectorised evaluation
    lo, hi = probes[max(best - 1, 0)], probes[min(best + 1, probes.size - 1)]
    fine = np.linspace(lo, hi, 801)
    fine_levels = phi(fine)
    k = int(np.argmax(fine_levels))
    u_peak, peak = float(fine[k]), float(fine_levels[k])
    pieces_probes = np.unique(np.concatenate([probes, fine[::50], [u_peak]]))
    levels = phi(pieces_probes)
    widths = []
    for side, side_levels in ((fine[k:], fine_levels[k:]), (fine[k::-1], fine_levels[k::-1])):
        below = np.nonzero(side_levels < peak - 0.5)[0]
        if below.size:
            widths.append(abs(float(side[below[0]]) - u_peak))
    coarse_width = float(hi - lo)
    width = max(min(widths) if widths else coarse_width, 1e-12 * max(u_peak, 1.0)) / 2
    _, pieces = _kept_pieces(
        pieces_probes, levels, float(pieces_probes[-1]) + 1.0, 0.0, float(pieces_probes[-1])
    )
    local = u_peak + width * np.arange(-40, 41)
    pieces = [
        np.unique(
            np.concatenate(
                [
                    piece,
                    local[(local > piece[0]) & (local < piece[-1])],
                    np.linspace(piece[0], piece[-1], 65),
                ]
            )
        )
        for piece in pieces
    ]

    log_total, _ = _integrate(lambda u: (phi(u), np.ones_like(u)), pieces)
    return base + log_total


def _log_integral_above(
    e: _Ensemble,
    x0: float,
    log_h_x: Callable[[np.ndarray], np.ndarray],
    log_h_u: Callable[[np.ndarray], np.ndarray],
    beta: int = 1,
) -> float:
    """log int_{x0}^inf h(x) rho(x) dx: below the switch by the t-quadrature (``log_h_x`` of x),
    above it in log form shifted by its start (``log_h_u`` of u = x - x0)."""
    if not math.isfinite(x0):
        return -math.inf
    start = max(x0, e.switch)
    far = _log_tail_far(e, start, lambda u: log_h_u(u + (start - x0)), beta)
    if x0 >= e.switch:
        return far
    near, _ = _log_statistic(e, log_h_x, None, math.sqrt(x0), math.sqrt(e.switch), beta=beta)
    return float(np.logaddexp(near, far))


# ----------------------------------------------------------------------------------------------
# Gradient descent averaged over the design


def _log_contraction(u: np.ndarray) -> np.ndarray:
    """log|1 - u|, each branch where it keeps its relative accuracy."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            u < 0.5,
            np.log1p(-np.minimum(u, 0.5)),
            np.where(
                u <= 1,
                np.log(np.clip(1 - u, 0, None)),
                np.where(
                    u < 1.5, np.log(np.clip(u - 1, 0, None)), np.log1p(np.maximum(u, 1.5) - 2)
                ),
            ),
        )


def _gd_log_f(
    n: int, sigma2: float, eta: float, T: int, psi2: float, lam: float
) -> Callable[[np.ndarray], np.ndarray]:
    """log f_T(x / n) for eta (x/n + lam) <= 2, with c = 1 - eta (s + lam):
    f_T = psi2 ((lam + s c^T) / (s + lam))^2 + (sigma2 / n) s ((1 - c^T) / (s + lam))^2, in log
    form (a risk of 1e-300 or below keeps its relative accuracy)."""
    log_psi2 = math.log(psi2)
    log_noise = math.log(sigma2 / n) if sigma2 > 0 else -math.inf

    def log_f(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        s = x / n
        shifted = s + lam
        u = eta * shifted
        if T == 0:
            return np.full_like(x, log_psi2)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            L = T * _log_contraction(u)
            negative = (u > 1) & (T % 2 == 1)
            power = np.exp(L)
            log_s = np.log(s)
            log_shifted = np.log(shifted)
            if lam == 0:
                log_unlearned = L
            else:
                log_unlearned = (
                    np.where(
                        negative,
                        np.log(np.abs(lam - s * power)),
                        np.logaddexp(math.log(lam), log_s + L),
                    )
                    - log_shifted
                )
            one_minus = np.where(negative, 1 + power, -np.expm1(L))
            log_g = np.log(one_minus) - log_shifted
            log_g = np.where((shifted == 0) | (u < 1e-150), math.log(eta * T), log_g)
            noise = log_noise + 2 * log_g + log_s
            out = np.logaddexp(log_psi2 + 2 * log_unlearned, noise)
        return np.where(np.isnan(out), -np.inf, out)

    return log_f


def _gd_log_f_divergent(
    n: int, sigma2: float, eta: float, T: int, psi2: float, lam: float, x_cut: float
) -> Callable[[np.ndarray], np.ndarray]:
    """log f_T((x_cut + u) / n), u >= 0, beyond the cut: |c| = eta (s + lam) - 1 = 1 + eta u / n,
    |c|^T = e^L, c^T = (-1)^T e^L (formed from u, so that it is exact however large x_cut is)."""
    log_psi2 = math.log(psi2)
    log_noise = math.log(sigma2 / n) if sigma2 > 0 else -math.inf
    sign = -1.0 if T % 2 == 1 else 1.0

    def log_f(u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        s = (x_cut + u) / n
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            L = T * np.log1p(eta * u / n)
            log_shifted = np.log(s + lam)
            log_unlearned = L + np.log(np.abs(s * sign + lam * np.exp(-L))) - log_shifted
            back = -np.expm1(-L) if sign > 0 else np.exp(-L) + 1  # |e^{-L} - (-1)^T|
            log_g = L + np.log(back) - log_shifted
            noise = log_noise + 2 * log_g + np.log(s)
            out = np.logaddexp(log_psi2 + 2 * log_unlearned, noise)
        return np.where(np.isnan(out), -np.inf, out)

    return log_f


def _exp(value: float) -> float:
    """e^value, inf beyond the float range (a value that exceeds it)."""
    return math.exp(value) if value < 709.78 else math.inf


def _cut(n: int, eta: float, lam: float) -> float:
    """The x = n s above which GD diverges: eta (s + lam) > 2 (inf where 2 / eta overflows)."""
    return n * (2 / eta - lam)


def _t_scale(n: int, eta: float, T: int) -> float:
    """The scale in t = sqrt(x) of e^{-2 eta T x / n}, the decay of f_T near 0."""
    return math.sqrt(n / (2 * eta * max(T, 1))) if eta * max(T, 1) > 0 else 1.0


@lru_cache(maxsize=4096)
def _log_truncated(
    m: int, p: int, n: int, sigma2: float, eta: float, T: int, psi2: float, lam: float
) -> float:
    """log int_0^{x_cut} f_T(x / n) rho(x) dx over the (m, p) ensemble."""
    if m == 0:
        return -math.inf
    e = _ensemble(m, p)
    log_integral, _ = _log_statistic(
        e,
        _gd_log_f(n, sigma2, eta, T, psi2, lam),
        None,
        0.0,
        math.sqrt(_cut(n, eta, lam)),
        t_scale=_t_scale(n, eta, T),
    )
    return log_integral


def _log_typical(
    n: int, d: int, sigma2: float, eta: float, T: int, psi2: float, lam: float
) -> float:
    """log L_T, L_T = (d - m) psi2 + int_0^{x_cut} f_T(x / n) rho(x) dx."""
    m, p = min(n, d), max(n, d)
    log_zeros = math.log((d - m) * psi2) if d > m else -math.inf
    return float(np.logaddexp(log_zeros, _log_truncated(m, p, n, sigma2, eta, T, psi2, lam)))


def _log_upper_gamma(s: float, z: float) -> float:
    """log Gamma(s, z), the upper incomplete gamma function, without underflow (Legendre's
    continued fraction by the modified Lentz method where the regularised one underflows)."""
    if z <= 0:
        return float(special.gammaln(s))
    q = float(special.gammaincc(s, z))
    if q > 1e-280:
        return float(special.gammaln(s)) + math.log(q)
    tiny = 1e-300
    b = z + 1 - s
    c, dd = 1 / tiny, 1 / b
    h = dd
    for i in range(1, 100_000):
        an = -i * (i - s)
        b += 2
        dd = an * dd + b
        dd = tiny if abs(dd) < tiny else dd
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        dd = 1 / dd
        delta = dd * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return -z + s * math.log(z) + math.log(h)


def _log_k_bound(m: int, p: int, x_cut: float) -> float:
    """log K, K = C int_c^inf y^{a+m-1} e^{-y/2} dy = C 2^{a+m} Gamma(a+m, c/2) >= P(x_max > c)."""
    if not math.isfinite(x_cut):
        return -math.inf
    e = _ensemble(m, p)
    shape = e.a + m
    return e.log_c + shape * math.log(2) + _log_upper_gamma(shape, x_cut / 2)


@lru_cache(maxsize=4096)
def _log_count_above(m: int, p: int, x_cut: float) -> float:
    """log E #{x_j > x_cut}."""
    e = _ensemble(m, p)
    zero = lambda v: np.zeros_like(np.asarray(v, dtype=float))  # noqa: E731
    return _log_integral_above(e, x_cut, zero, zero)


@lru_cache(maxsize=4096)
def _log_divergent(
    n: int, d: int, sigma2: float, eta: float, T: int, psi2: float, lam: float
) -> float:
    """log D_T, D_T = int_{x_cut}^inf f_T(x / n) rho(x) dx."""
    m, p = min(n, d), max(n, d)
    x_cut = _cut(n, eta, lam)
    log_f_u = _gd_log_f_divergent(n, sigma2, eta, T, psi2, lam, x_cut)
    return _log_integral_above(
        _ensemble(m, p), x_cut, lambda x: log_f_u(np.asarray(x) - x_cut), log_f_u
    )


@lru_cache(maxsize=4096)
def _log_gap_bound(
    n: int, d: int, sigma2: float, eta: float, T: int, psi2: float, lam: float
) -> float:
    """log of K [(d - m) psi2 + L'_T] >= L_T - Rbar_T (module docstring)."""
    m, p = min(n, d), max(n, d)
    x_cut = _cut(n, eta, lam)
    log_zeros = math.log((d - m) * psi2) if d > m else -math.inf
    log_reduced = _log_truncated(m - 1, p - 1, n, sigma2, eta, T, psi2, lam)
    return _log_k_bound(m, p, x_cut) + float(np.logaddexp(log_zeros, log_reduced))


def _certified(n, d, sigma2, eta, T, psi2, lam=0.0) -> bool:
    """Whether P(eta (s_max + lam) > 2) <= 1e-7 and the gap bound is <= 1e-7 L_T."""
    m, p = min(n, d), max(n, d)
    x_cut = _cut(n, eta, lam)
    if x_cut < _ensemble(m, p).edge:
        return False
    if _log_count_above(m, p, x_cut) > math.log(RELATIVE_BOUND):
        return False
    log_typical = _log_typical(n, d, sigma2, eta, T, psi2, lam)
    # first with L'_T <= (m - 1) sup f_T, sup f_T <= psi2 + 4 sigma2 eta max(T, 1) / n on the
    # stable designs (|1 - g s| <= 1, g^2 s <= eta T for s <= 1 / (eta T), <= 4 / s above)
    others = (d - m) * psi2 + (m - 1) * (psi2 + 4 * sigma2 * eta * max(T, 1) / n)
    if others == 0:  # one eigenvalue, d = 1: no gap at all
        return True
    log_cheap = _log_k_bound(m, p, x_cut) + math.log(others)
    if log_cheap <= math.log(RELATIVE_BOUND) + log_typical:
        return True
    log_gap = _log_gap_bound(n, d, sigma2, eta, T, psi2, lam)
    return log_gap <= math.log(RELATIVE_BOUND) + log_typical


# ----------------------------------------------------------------------------------------------
# Declarations and public functions

_N = Integer(1, MAX_SIZE)
_RANK = Condition(
    f"min(n, d) <= {MAX_RANK}",
    lambda n, d: min(n, d) <= MAX_RANK,
    {"n": MAX_RANK + 1, "d": MAX_RANK + 1},
)
_BETA = Integer(1, 2)
_ETA = Real(0.0, None, open_low=True)
_SIGMA2 = Real(0.0, None)
_PSI2 = Real(0.0, None, open_low=True)
_LAM = Real(0.0, None)
_T = Integer(0, MAX_STEPS)
_STABLE_SOMEWHERE = Condition(
    "eta lam < 2 (else GD diverges on every design)",
    lambda eta, lam: eta * lam < 2,
    {"eta": 1.0, "lam": 2.0},
)


def _check_g(name: str, value):
    if not callable(value):
        raise TypeError(f"{name} must be a callable, got {type(value).__name__}")
    return value


_G_FAMILY = (
    ("s^k", lambda k, c: lambda s: s**k),
    ("exp(-c s)", lambda k, c: lambda s: np.exp(-c * s)),
    ("c / (s + c)", lambda k, c: lambda s: c / (s + c)),
    ("(1 - c s)^(2k)", lambda k, c: lambda s: (1 - c * s) ** (2 * k)),
    ("1", lambda k, c: lambda s: np.ones_like(s)),
)


def _draw_g(rng: np.random.Generator):
    """A function of one sign from a family (powers, exponentials, ridge filters, GD-like
    contractions), with its parameters; ``.label`` names it for the references."""
    label, make = _G_FAMILY[int(rng.integers(len(_G_FAMILY)))]
    k, c = int(rng.integers(0, 7)), float(10 ** rng.uniform(-3, 2))
    g = make(k, c)
    g.label = (label, k, c)
    return g


def _check_upper(name: str, value):
    if value is None:
        return None
    return Real(0.0, None, open_low=True).validate(name, value)


@declare(
    Accuracy(
        relative=1e-10,
        absolute=1e-320,
        note="the Pfaffian form in float64 (in the bulk about 1e-13; beyond the bulk in log form, "
        "relative error about 1e-16 x n s); a subnormal value (below 2.2e-308) to its spacing, "
        "0 below the float range",
    ),
    s=Real(0.0, None, open_low=True, array=True),
    n=_N,
    d=_N,
    beta=_BETA,
    where=[_RANK],
)
def wishart_eigenvalue_density(s, n: int, d: int, *, beta: int = 1) -> np.ndarray:
    r"""The density :math:`n \rho(n s)` of the nonzero eigenvalues of :math:`S = X^\top X / n`.

    Here :math:`X` is :math:`n \times d` Gaussian. Normalised to the expected number of eigenvalues
    per unit :math:`s` (its integral is :math:`\min(n, d)`); the :math:`d - \min(n, d)` zero
    eigenvalues are not included.

    Parameters
    ----------
    s : float or array_like
        A number or array of positive values.
    n : int
        Number of rows of :math:`X`, :math:`1 \le n \le 10^6` (:data:`MAX_SIZE`).
    d : int
        Number of columns of :math:`X`, :math:`1 \le d \le 10^6`; :math:`\min(n, d) \le 256`
        (:data:`MAX_RANK`).
    beta : {1, 2}, optional
        1: real :math:`X` (the book's case, the default); 2: complex :math:`X` with
        :math:`\mathbb{E}|X_{ij}|^2 = 1`.

    Returns
    -------
    density : numpy.ndarray
        :math:`n \rho(n s)`, of the shape of ``s``.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    Exact: de Bruijn's Pfaffian form for :math:`\beta = 1`, :math:`\sum_{i<m} r_i(x)^2` for
    :math:`\beta = 2` (see the module docstring).
    """
    m, p = min(n, d), max(n, d)
    s_arr = np.asarray(s, dtype=float)
    e = _ensemble(m, p)
    x = n * s_arr.ravel()
    return (n * np.exp(_log_density(e, x, beta))).reshape(s_arr.shape)


@declare(
    Accuracy(
        relative=1e-9,
        absolute=1e-320,
        note="adaptive Gauss-Legendre panels against the exact density, refined until halving "
        "them changes the result by less than 1e-10 (for g of one sign; where g changes sign, "
        "relative to E sum_j |g(s_j)|; a subnormal value to its spacing)",
    ),
    g=Given(
        "a vectorised function of an array of eigenvalues s >= 0 (finite, at most polynomial "
        "growth when upper is None)",
        check=_check_g,
        bad=(3.0, "s**2"),
        draw=_draw_g,
    ),
    n=_N,
    d=_N,
    upper=Given(
        "None (the whole spectrum) or a real number > 0",
        check=_check_upper,
        bad=(0.0, -1.0, float("nan"), float("inf"), "1"),
        draw=lambda rng: None if rng.random() < 0.5 else float(10 ** rng.uniform(-3, 2)),
    ),
    beta=_BETA,
    where=[_RANK],
)
def wishart_linear_statistic(
    g: Callable[[np.ndarray], np.ndarray],
    n: int,
    d: int,
    *,
    upper: float | None = None,
    beta: int = 1,
) -> float:
    r"""The linear statistic :math:`\mathbb{E} \sum_{j=1}^d g(s_j) 1\{s_j \le \mathrm{upper}\}`.

    Over the eigenvalues :math:`s_j` of :math:`S = X^\top X / n`.

    Parameters
    ----------
    g : callable
        Maps an array of eigenvalues :math:`s \ge 0` to an array of the same shape (vectorised,
        finite, smooth on :math:`[0, \mathrm{upper}]`); it is called at :math:`s = 0` for the
        :math:`d - \min(n, d)` zero eigenvalues.
    n : int
        Number of rows of :math:`X`, :math:`1 \le n \le 10^6` (:data:`MAX_SIZE`).
    d : int
        Number of columns of :math:`X`, :math:`1 \le d \le 10^6`; :math:`\min(n, d) \le 256`
        (:data:`MAX_RANK`).
    upper : float or None, optional
        The cut, a real number :math:`> 0`; ``None`` (the default) integrates over the whole
        spectrum (then :math:`g` must not grow faster than a polynomial).
    beta : {1, 2}, optional
        1: real :math:`X` (the book's case, the default); 2: complex :math:`X` with
        :math:`\mathbb{E}|X_{ij}|^2 = 1`.

    Returns
    -------
    value : float
        The statistic.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    Adaptive Gauss-Legendre panels in :math:`t = \sqrt{n s}` against the exact density
    (:func:`wishart_eigenvalue_density`), refined until halving every panel changes the result by
    less than :math:`10^{-10}`.
    """
    m, p = min(n, d), max(n, d)
    e = _ensemble(m, p)

    def values(x):
        s = np.asarray(x, dtype=float) / n
        v = np.broadcast_to(np.asarray(g(s), dtype=float), s.shape)
        if not np.all(np.isfinite(v)):
            raise ValueError("g must return finite values")
        return v

    def log_factor(x):
        with np.errstate(divide="ignore"):
            return np.log(np.abs(values(x)))

    t_hi = math.inf if upper is None else math.sqrt(n * upper)
    log_integral, sign = _log_statistic(
        e, log_factor, lambda x: np.sign(values(x)), 0.0, t_hi, beta=beta, below=-760.0
    )
    zeros = (d - m) * float(values(np.zeros(1))[0]) if d > m else 0.0
    return zeros + sign * math.exp(log_integral) if math.isfinite(log_integral) else zeros


class GDRiskParts(NamedTuple):
    """The parts of the average of :math:`R_T(X)` over Gaussian designs.

    See :func:`gd_risk_parts`.
    """

    typical: float
    r""":math:`L_T = \mathbb{E} \sum_j f_T(s_j) 1\{\eta (s_j + \lambda) \le 2\}`: with
    :math:`\lambda = 0`, the value of :func:`expected_gd_risk`."""
    bound: float
    r"""A certified bound on :math:`L_T - \mathbb{E}[R_T(X); \eta (s_{\max} + \lambda) \le 2]`
    (which is :math:`\ge 0`): :math:`K [(d - m) \psi^2 + L'_T]` (module docstring)."""
    log10_p_divergent: float
    r""":math:`\log_{10}` of :math:`\min(1, \mathbb{E} \#\{j : \eta (s_j + \lambda) > 2\})`, an
    upper bound on :math:`P(\eta (s_{\max} + \lambda) > 2)`, the probability of a design on which
    GD diverges."""
    log10_divergent_part: float
    r""":math:`\log_{10}` of :math:`D_T = \mathbb{E} \sum_j f_T(s_j) 1\{\eta (s_j + \lambda) > 2\}`
    (:math:`-\infty` when it is 0)."""
    log10_plain_average: float
    r""":math:`\log_{10}` of the plain average :math:`\mathbb{E} R_T(X) = L_T + D_T` (over all
    designs)."""


_GD_COMMON = dict(n=_N, d=_N, sigma2=_SIGMA2, eta=_ETA, T=_T, psi2=_PSI2)
_PARTS_ACCURACY = Accuracy(
    relative=1e-8,
    absolute=1e-320,
    note="typical and bound: relative 1e-8 (the quadrature to 1e-10; the float rounding of "
    "eta s near the cut costs about 12 T x 1e-16; a subnormal value to its spacing, inf beyond "
    "the float range); the log10 fields: within 1e-8 x max(1, |value|) (their size carries the "
    "float rounding of x_cut = n (2 / eta - lam))",
)


@declare(_PARTS_ACCURACY, **_GD_COMMON, lam=_LAM, where=[_RANK, _STABLE_SOMEWHERE])
def gd_risk_parts(
    n: int, d: int, sigma2: float, eta: float, T: int, *, psi2: float = 1.0, lam: float = 0.0
) -> GDRiskParts:
    r"""The average of :math:`R_T(X)` over Gaussian designs, split where GD diverges.

    The split is at the designs on which GD diverges. :math:`R_T(X) = \sum_j f_T(s_j)` is the risk
    of :math:`T` steps of GD given :math:`X` (module docstring); ``lam`` :math:`> 0` gives
    ridge-regularised GD, :math:`w_{t+1} = w_t - \eta (X^\top (X w_t - y) / n + \lambda w_t)`
    (:func:`icl.theory.ridge_gd_iterate`), which diverges along eigenvalues with
    :math:`\eta (s + \lambda) > 2`.

    Parameters
    ----------
    n : int
        Number of rows of :math:`X`, :math:`1 \le n \le 10^6` (:data:`MAX_SIZE`).
    d : int
        Number of columns of :math:`X`, :math:`1 \le d \le 10^6`; :math:`\min(n, d) \le 256`
        (:data:`MAX_RANK`).
    sigma2 : float
        Label-noise variance :math:`\sigma^2 \ge 0`.
    eta : float
        Step size, :math:`\eta > 0`.
    T : int
        Number of GD steps, :math:`0 \le T \le 10^6` (:data:`MAX_STEPS`).
    psi2 : float, optional
        Prior variance :math:`\psi^2 > 0` of :math:`w \sim N(0, \psi^2 I_d)`; default 1.
    lam : float, optional
        Ridge penalty :math:`\lambda \ge 0`, with :math:`\eta \lambda < 2` (else GD diverges on
        every design); default 0.

    Returns
    -------
    GDRiskParts
        The typical-design value :math:`L_T` (with :math:`\lambda = 0`, :func:`expected_gd_risk`);
        the certified bound :math:`K [(d - m) \psi^2 + L'_T]` on its gap to
        :math:`\mathbb{E}[R_T(X); \eta (s_{\max} + \lambda) \le 2]` (module docstring); the bound
        :math:`\min(1, \mathbb{E} \#\{j : \eta (s_j + \lambda) > 2\})` on that probability (in
        :math:`\log_{10}`); and, in :math:`\log_{10}` as they overflow a float for large
        :math:`\eta T / n`, the part :math:`D_T` of the plain average from the divergent eigenvalues
        and the plain average :math:`\mathbb{E} R_T(X) = L_T + D_T` itself.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).
    """
    m, p = min(n, d), max(n, d)
    x_cut = _cut(n, eta, lam)
    log_typical = _log_typical(n, d, sigma2, eta, T, psi2, lam)
    log_bound = _log_gap_bound(n, d, sigma2, eta, T, psi2, lam)
    log_count = min(0.0, _log_count_above(m, p, x_cut))
    log_divergent = _log_divergent(n, d, sigma2, eta, T, psi2, lam)
    ln10 = math.log(10)
    return GDRiskParts(
        _exp(log_typical),
        _exp(log_bound),
        log_count / ln10,
        log_divergent / ln10,
        float(np.logaddexp(log_typical, log_divergent)) / ln10,
    )


@declare(
    Accuracy(
        relative=1e-8,
        absolute=1e-320,
        note="the quadrature to 1e-10 relative; the float rounding of eta s near the cut costs "
        "about 12 T x 1e-16; a subnormal value to its spacing",
    ),
    **_GD_COMMON,
    where=[
        _RANK,
        Condition(
            f"GD diverges on designs of probability at most {RELATIVE_BOUND:g} and the certified "
            f"gap to the typical-design risk is at most {RELATIVE_BOUND:g} of it (eta not too "
            "large; see gd_risk_parts)",
            lambda n, d, sigma2, eta, T, psi2: _certified(n, d, sigma2, eta, T, psi2),
            {"n": 1, "d": 1, "sigma2": 1.0, "eta": 0.2, "T": 5},
        ),
    ],
)
def expected_gd_risk(
    n: int, d: int, sigma2: float, eta: float, T: int, *, psi2: float = 1.0
) -> float:
    r"""The prompt-averaged risk of :math:`T` GD steps, over the designs where GD does not diverge.

    GD from :math:`w_0 = 0` with the gradient divided by :math:`n` (as in
    :func:`icl.theory.ridge_gd_iterate`), :math:`w \sim N(0, \psi^2 I_d)`, label-noise variance
    :math:`\sigma^2`, :math:`x \sim N(0, I_d)`.

    Parameters
    ----------
    n : int
        Number of rows of :math:`X`, :math:`1 \le n \le 10^6` (:data:`MAX_SIZE`).
    d : int
        Number of columns of :math:`X`, :math:`1 \le d \le 10^6`; :math:`\min(n, d) \le 256`
        (:data:`MAX_RANK`).
    sigma2 : float
        Label-noise variance :math:`\sigma^2 \ge 0`.
    eta : float
        Step size, :math:`\eta > 0`.
    T : int
        Number of GD steps, :math:`0 \le T \le 10^6` (:data:`MAX_STEPS`).
    psi2 : float, optional
        Prior variance :math:`\psi^2 > 0` of :math:`w \sim N(0, \psi^2 I_d)`; default 1.

    Returns
    -------
    risk : float
        The truncated linear statistic :math:`L_T = \mathbb{E} \sum_j f_T(s_j) 1\{\eta s_j \le 2\}`.

    Raises
    ------
    ValueError
        Unless GD diverges on designs of probability at most :math:`10^{-7}`
        (:data:`RELATIVE_BOUND`) and the certified gap to the typical-design risk is at most
        :math:`10^{-7}` of it (a larger :math:`\eta` makes GD diverge on too many designs for a
        typical-design value; see :func:`gd_risk_parts`); or if an argument lies outside its range
        (see "Domain and accuracy" below).

    Notes
    -----
    Given :math:`X` the risk is :math:`R_T(X) = \sum_j f_T(s_j)` over the eigenvalues :math:`s_j` of
    :math:`S = X^\top X / n`, with

    .. math::

        f_T(s) = \psi^2 (1 - \eta s)^{2T} + \frac{\sigma^2}{n} \frac{(1 - (1 - \eta s)^T)^2}{s}.

    The book's prompt-averaged (typical-design) risk is

    .. math::

        \bar R_T = \mathbb{E}[R_T(X) ; \eta s_{\max}(X) \le 2],

    the average over the designs on which the chain does not diverge (those with an eigenvalue above
    :math:`2 / \eta` are rare, but for large :math:`\eta T / n` they dominate the plain average
    :math:`\mathbb{E} R_T(X)`: see :func:`gd_risk_parts` and :func:`gd_parting_steps`).

    Returned: the truncated linear statistic :math:`L_T`, one quadrature against the exact real
    Wishart eigenvalue density (module docstring).
    :math:`0 \le L_T - \bar R_T \le K [(d - m) \psi^2 + L'_T]`; the call is answered where this
    bound is below :math:`10^{-7} L_T` and :math:`P(\eta s_{\max} > 2) \le 10^{-7}` (then
    :math:`\bar R_T` and the average conditional on a stable design also agree to :math:`10^{-7}`).
    Below the parting step the plain average agrees with it (at :math:`T = 1` it is Chapter 1's
    :func:`icl.theory.one_step_risk` up to the divergent part :math:`D_1`).
    """
    return _exp(_log_typical(n, d, sigma2, eta, T, psi2, 0.0))


def _parted(n, d, sigma2, eta, T, psi2, lam) -> bool:
    """Whether D_T >= L_T."""
    return _log_divergent(n, d, sigma2, eta, T, psi2, lam) >= _log_typical(
        n, d, sigma2, eta, T, psi2, lam
    )


@declare(
    Accuracy(relative=1e-15, note="an integer found by bisection on the exact D_T and L_T"),
    n=_N,
    d=_N,
    sigma2=_SIGMA2,
    eta=_ETA,
    psi2=_PSI2,
    lam=_LAM,
    where=[
        Condition(
            f"min(n, d) <= {MAX_RANK_PARTING} (a bisection of some 20 evaluations of D_T and L_T)",
            lambda n, d: min(n, d) <= MAX_RANK_PARTING,
            {"n": MAX_RANK_PARTING + 1, "d": MAX_RANK_PARTING + 1},
        ),
        _STABLE_SOMEWHERE,
        Condition(
            f"the divergent designs take over by T = {MAX_STEPS} (D_T >= L_T there)",
            lambda n, d, sigma2, eta, psi2, lam: _parted(n, d, sigma2, eta, MAX_STEPS, psi2, lam),
            {"n": 20, "d": 5, "sigma2": 0.25, "eta": 1e-6},
        ),
    ],
)
def gd_parting_steps(
    n: int, d: int, sigma2: float, eta: float, *, psi2: float = 1.0, lam: float = 0.0
) -> int:
    r"""The smallest :math:`T` at which the divergent designs carry half of the plain average.

    That is, the smallest :math:`T` with :math:`D_T \ge L_T` in the notation of
    :func:`gd_risk_parts` (``lam`` as there), :math:`L_T + D_T = \mathbb{E} R_T(X)`.

    Parameters
    ----------
    n : int
        Number of rows of :math:`X`, :math:`1 \le n \le 10^6`.
    d : int
        Number of columns of :math:`X`, :math:`1 \le d \le 10^6`; :math:`\min(n, d) \le 64`
        (:data:`MAX_RANK_PARTING`: a bisection of some 20 evaluations of :math:`D_T` and
        :math:`L_T`).
    sigma2 : float
        Label-noise variance :math:`\sigma^2 \ge 0`.
    eta : float
        Step size, :math:`\eta > 0`.
    psi2 : float, optional
        Prior variance :math:`\psi^2 > 0`; default 1.
    lam : float, optional
        Ridge penalty :math:`\lambda \ge 0`, with :math:`\eta \lambda < 2` (else GD diverges on
        every design); default 0.

    Returns
    -------
    steps : int
        The parting step.

    Raises
    ------
    ValueError
        Unless the divergent designs take over by :math:`T = 10^6` (:math:`D_T \ge L_T` there), or
        if an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    Before the parting step the plain average and the typical-design risk agree to within a factor
    2, and to the relative :math:`D_T / L_T`, which falls super-exponentially as :math:`T`
    decreases; from it on, the plain average is dominated by designs that no simulation of a
    feasible size draws. Found by bisection (:math:`D_T / L_T` grows with :math:`T`).
    """
    hi = min(max(1, int(0.5 * n / eta)), MAX_STEPS)  # T_x is near 0.9 n / eta for large n / eta
    if _parted(n, d, sigma2, eta, hi, psi2, lam):
        lo = hi // 2
        while lo > 0 and _parted(n, d, sigma2, eta, lo, psi2, lam):
            lo, hi = lo // 2, lo
    else:
        lo, hi = hi, min(2 * hi, MAX_STEPS)
        while not _parted(n, d, sigma2, eta, hi, psi2, lam):
            lo, hi = hi, min(2 * hi, MAX_STEPS)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _parted(n, d, sigma2, eta, mid, psi2, lam) else (mid, hi)
    return hi


def _log_laguerre_tail(m: int, alpha: int, x: float) -> float:
    """log((m-1)! |L_{m-1}^(alpha)(x)|) = (m-1) log x + log|Q_{m-1}(x)| for x beyond the largest
    zero (see _scaled_polynomials: (m-1)! L_{m-1} = (-1)^{m-1} kappa_{m-1} R_{m-1})."""
    if m == 1:
        return 0.0
    P, _ = _scaled_polynomials(_ensemble(m, m + alpha), np.array([x]))
    return (m - 1) * math.log(x) + math.log(abs(P[m - 1, 0]))


def _laplace_x_star(n, eta, T, lam) -> float:
    return n / eta * (1 + 4 * eta * T / n) - n * lam


@declare(
    Accuracy(
        relative=1e-10,
        note="the closed form below evaluated in log form, within 1e-10 x max(1, |value|) "
        "(an estimate of log10 D_T; as such it is asymptotic: exact as T -> infinity)",
    ),
    **_GD_COMMON,
    lam=_LAM,
    where=[
        _RANK,
        _STABLE_SOMEWHERE,
        Condition(
            "n / eta <= 1e300 (the formula's terms within the float range)",
            lambda n, eta: n / eta <= 1e300,
            {"n": 20, "eta": 1e-305},
        ),
        Condition(
            "the saddle x* = (n / eta)(1 + 4 eta T / n) - n lam is beyond every zero of "
            "L_{m-1}^(alpha): x* >= 4 min(n, d) + 2 |n - d| + 2",
            lambda n, d, eta, T, lam: (
                _laplace_x_star(n, eta, T, lam) >= 4 * min(n, d) + 2 * abs(n - d) + 2
            ),
            {"n": 20, "d": 5, "eta": 1e3, "T": 0, "lam": 1e-3},
        ),
    ],
)
def gd_divergent_part_laplace(
    n: int, d: int, sigma2: float, eta: float, T: int, *, psi2: float = 1.0, lam: float = 0.0
) -> float:
    r""":math:`\log_{10}` of the Laplace estimate of :math:`D_T`, the divergent designs' part.

    :math:`D_T = \mathbb{E} \sum_j f_T(s_j) 1\{\eta (s_j + \lambda) > 2\}`.

    Parameters
    ----------
    n : int
        Number of rows of :math:`X`, :math:`1 \le n \le 10^6` (:data:`MAX_SIZE`).
    d : int
        Number of columns of :math:`X`, :math:`1 \le d \le 10^6`; :math:`\min(n, d) \le 256`
        (:data:`MAX_RANK`).
    sigma2 : float
        Label-noise variance :math:`\sigma^2 \ge 0`.
    eta : float
        Step size, :math:`\eta > 0`.
    T : int
        Number of GD steps, :math:`0 \le T \le 10^6` (:data:`MAX_STEPS`).
    psi2 : float, optional
        Prior variance :math:`\psi^2 > 0` of :math:`w \sim N(0, \psi^2 I_d)`; default 1.
    lam : float, optional
        Ridge penalty :math:`\lambda \ge 0`, with :math:`\eta \lambda < 2` (else GD diverges on
        every design); default 0.

    Returns
    -------
    log10_divergent_part : float
        :math:`\log_{10}` of the estimate of :math:`D_T` (asymptotic: exact as
        :math:`T \to \infty`).

    Raises
    ------
    ValueError
        Unless :math:`n / \eta \le 10^{300}` (the formula's terms within the float range) and the
        saddle :math:`x^* = (n / \eta)(1 + 4 \eta T / n) - n \lambda` is beyond every zero of
        :math:`L_{m-1}^{(\alpha)}`, :math:`x^* \ge 4 \min(n, d) + 2 |n - d| + 2`; or if an argument
        lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    With :math:`k = n / (2 \eta)`, the tail density :math:`C x^a e^{-x/2} (m-1)! \,
    |L_{m-1}^{(\alpha)}(x)|` (module docstring), :math:`f_T(s) \sim |c|^{2T} (\psi^2 s^2 + \sigma^2
    s / n) / (s + \lambda)^2` for :math:`|c| = \eta (s + \lambda) - 1 > 1`, the substitution
    :math:`u = |c|` and Laplace's method at the saddle :math:`u^* = 2T / k` give

    .. math::

        D_T &\sim C \frac{n}{\eta} e^{-k + n \lambda / 2} \, \Gamma(2T + 1) \, k^{-(2T+1)}
            h(x^*), \\
        h(x) &= x^a (m-1)! \, |L_{m-1}^{(\alpha)}(x)| \,
            \frac{\psi^2 s^2 + \sigma^2 s / n}{(s + \lambda)^2}, \qquad s = x / n, \\
        x^* &= \frac{n}{\eta} \Big(1 + \frac{4 \eta T}{n}\Big) - n \lambda,

    valid when :math:`u^*` is well above 1 (:math:`T` well above :math:`n / (2 \eta)`). The factor
    :math:`\Gamma(2T + 1) (2 \eta / n)^{2T} e^{-n / (2 \eta)}` makes :math:`D_T` pass any fixed
    level near :math:`\eta T / n = e^{1 + W(1/e)} / 4 = 0.898` as :math:`n / \eta` grows (:math:`W`:
    Lambert's function).
    """
    m, p = min(n, d), max(n, d)
    alpha, a = p - m, (p - m - 1) / 2
    k = n / (2 * eta)
    x_star = _laplace_x_star(n, eta, T, lam)
    s_star = x_star / n
    log_h = (
        a * math.log(x_star)
        + _log_laguerre_tail(m, alpha, x_star)
        + math.log((psi2 * s_star**2 + sigma2 * s_star / n) / (s_star + lam) ** 2)
    )
    log_d = (
        _ensemble(m, p).log_c
        + math.log(n / eta)
        - k
        + n * lam / 2
        + special.gammaln(2 * T + 1)
        - (2 * T + 1) * math.log(k)
        + log_h
    )
    return log_d / math.log(10)


def _mp_edges(n: int, d: int) -> tuple[float, float]:
    """(a, b) = ((1 - sqrt(gamma))^2, (1 + sqrt(gamma))^2), gamma = d / n; 1 - sqrt(gamma) as
    ((n - d) / n) / (1 + sqrt(gamma)), exact in n - d."""
    root = math.sqrt(d / n)
    return ((n - d) / n / (1 + root)) ** 2, (1 + root) ** 2


@declare(
    Accuracy(
        relative=1e-9,
        absolute=1e-320,
        note="adaptive Gauss-Legendre panels in theta (s = a + (b - a) sin^2(theta / 2)), "
        "refined until halving them changes the result by less than 1e-10 (a subnormal value "
        "to its spacing)",
    ),
    n=Integer(1, None),
    d=Integer(1, None),
    sigma2=_SIGMA2,
    eta=_ETA,
    T=Integer(0, MAX_STEPS),
    psi2=_PSI2,
    where=[
        Condition(
            "eta (1 + sqrt(d / n))^2 < 2 (the Marchenko-Pastur edge below the divergence of GD)",
            lambda n, d, eta: eta * _mp_edges(n, d)[1] < 2,
            {"n": 12, "d": 10, "eta": 0.6},
        )
    ],
)
def expected_gd_risk_marchenko_pastur(
    n: int, d: int, sigma2: float, eta: float, T: int, *, psi2: float = 1.0
) -> float:
    r"""The Marchenko-Pastur limit of :func:`expected_gd_risk`.

    The eigenvalue distribution of :math:`S` is replaced by its :math:`n, d \to \infty` limit at
    :math:`\gamma = d / n`.

    Parameters
    ----------
    n : int
        Number of examples, :math:`n \ge 1`.
    d : int
        Dimension, :math:`d \ge 1`, with :math:`\eta (1 + \sqrt{d / n})^2 < 2` (the Marchenko-Pastur
        edge below the divergence of GD).
    sigma2 : float
        Label-noise variance :math:`\sigma^2 \ge 0`.
    eta : float
        Step size, :math:`\eta > 0`.
    T : int
        Number of GD steps, :math:`0 \le T \le 10^6` (:data:`MAX_STEPS`).
    psi2 : float, optional
        Prior variance :math:`\psi^2 > 0` of :math:`w \sim N(0, \psi^2 I_d)`; default 1.

    Returns
    -------
    risk : float
        :math:`d \int f_T \, d\mathrm{MP}_{d/n} + (d - n)^+ \psi^2`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        d \int f_T \, d\mathrm{MP}_{d/n} + (d - n)^+ \psi^2,

    with the Marchenko-Pastur law of density
    :math:`\sqrt{(b - s)(s - a)} / (2 \pi \gamma s)` on :math:`[a, b]`,
    :math:`a, b = (1 \mp \sqrt\gamma)^2`, and an atom :math:`1 - 1/\gamma` at 0 when
    :math:`\gamma > 1`. An approximation at finite :math:`n, d` (it misses the :math:`n + d + 1` of
    :math:`\mathbb{E} \operatorname{tr} S^2 = d (n + d + 1) / n`, giving :math:`d (n + d) / n`, and
    the spread of the edge).

    References
    ----------
    - V. A. Marčenko and L. A. Pastur, "Distribution of eigenvalues for some sets of random
      matrices", *Mathematics of the USSR-Sbornik* 1(4), 457-483, 1967.
    """
    gamma = d / n
    lo, hi = _mp_edges(n, d)
    half = 2 * math.sqrt(gamma)  # (b - a) / 2
    log_f = _gd_log_f(n, sigma2, eta, T, psi2, 0.0)

    def level(theta):
        s = lo + 2 * half * np.sin(theta / 2) ** 2  # (a+b)/2 - half cos theta, no cancellation
        with np.errstate(divide="ignore", invalid="ignore"):
            v = log_f(n * s) + 2 * np.log(half * np.sin(theta)) - np.log(2 * math.pi * gamma * s)
        return np.where(np.isnan(v), -np.inf, v)

    ends = np.geomspace(1e-12, math.pi / 2, 300)
    probes = np.unique(np.concatenate([ends, math.pi - ends, np.linspace(0, math.pi, 257)]))
    probes = probes[(probes > 0) & (probes < math.pi)]
    _, pieces = _kept_pieces(probes, level(probes), math.pi / 64, 0.0, math.pi)
    log_integral, _ = _integrate(lambda th: (level(th), np.ones_like(th)), pieces)
    integral = math.exp(log_integral) if math.isfinite(log_integral) else 0.0
    return d * integral + max(d - n, 0) * psi2
