"""Chapter 2: averages over the Gaussian design, from the exact eigenvalue density of the real
Wishart matrix.

**Setting.** X is n x d with i.i.d. N(0, 1) entries and S = X^T X / n. With m = min(n, d)
and p = max(n, d), S has d - m eigenvalues 0 and m eigenvalues s = x / n, where x are the
eigenvalues of the m x m real Wishart matrix with p degrees of freedom (X^T X if n >= d,
X X^T if n < d). Their joint density is proportional to

    prod_i x_i^a e^{-x_i/2} prod_{i<j} |x_i - x_j|,        a = (p - m - 1) / 2

(the Laguerre orthogonal ensemble), so for any g

    E sum_{j=1}^d g(s_j) = (d - m) g(0) + int_0^inf g(x / n) rho(x) dx,

with rho the one-point density, normalised to the expected number of eigenvalues per unit x
(its integral is m).

**The density (de Bruijn's Pfaffian).** Let alpha = p - m, R_i the polynomials orthonormal for
the weight x^alpha e^{-x} (normalised Laguerre L_i^(alpha)), r_i(x) = R_i(x) x^{alpha/2} e^{-x/2}
and b_j = sqrt(j (j + alpha)). The functions psi_w = x^a e^{-x/2} and

    psi_j = (x^{a+1} e^{-x/2} R_j)' = x^a e^{-x/2} (b_{j+1} R_{j+1} - b_j R_{j-1}) / 2,   j =
    0..m-2,

span x^a e^{-x/2} times the polynomials of degree < m, and their transforms
Phi_k(x) = int sign(y - x) psi_k(y) dy are elementary:

    Phi_j = -2 x^{a+1} e^{-x/2} R_j,       Phi_w = 2^{a+1} Gamma(a+1) (1 - 2 P(a+1, x/2))

(P the regularised lower incomplete gamma function). De Bruijn's identity gives
E prod_i (1 + eps g(x_i)) = Pf A(eps) / Pf A(0) with
A_jk(eps) = int int sign(y - x) psi_j(x) psi_k(y) (1 + eps g(x)) (1 + eps g(y)) dx dy, bordered
for odd m by the row A_je = int psi_j (1 + eps g). In this basis A(0) is skew-symmetric and
tridiagonal along the chain (e), w, 0, 1, ..., m-2, with the entries above the diagonal
-2^{a+1} Gamma(a+1) (odd m only), -2 sqrt(Gamma(alpha + 1)), -b_1, ..., -b_{m-2}, and
d/d eps log Pf A = tr(A^{-1} A') / 2 at eps = 0 gives, with B = A(0)^{-1},

    rho(x) = sum_{j,k} B_kj psi_j(x) Phi_k(x) + [m odd] sum_j B_ej psi_j(x).

Far beyond the bulk, rho(x) = C x^a e^{-x/2} (m-1)! |L_{m-1}^(alpha)(x)| up to a relative error
exponentially small in x, with C = sqrt(pi) 2^{-(m+p-1)/2} / (Gamma(p/2) Gamma(m/2)): one eigenvalue
at x, the other m - 1 those of the m-1 x m-1 Wishart with p - 1 degrees of freedom, whose mean
characteristic polynomial E det(x - W') is the monic Laguerre polynomial (m-1)! (-1)^{m-1}
L_{m-1}^(alpha)(x). For complex Gaussian X (beta = 2, the Laguerre unitary ensemble, E|X_ij|^2 = 1)
the density is instead sum_{i<m} r_i(x)^2.

**GD averaged over X.** T steps of GD from w_0 = 0 (gradient divided by n, step eta) have
risk R_T(X) = sum_j f_T(s_j) given X (:func:`icl.theory.gd_risk_given_spectrum`), with

    f_T(s) = psi2 (1 - eta s)^{2T} + (sigma2 / n) (1 - (1 - eta s)^T)^2 / s,     f_T(0) = psi2.

Along an eigenvalue s > 2 / eta the chain diverges, |1 - eta s| > 1, and designs with such
an eigenvalue have positive probability, so the plain average E R_T(X) grows without bound
in T although almost every design gives a bounded risk. The book's prompt-averaged risk is
the average over the designs on which the chain does not diverge,

    Rbar_T = E[ R_T(X) ; eta s_max(X) <= 2 ],

computed as the truncated linear statistic L_T = E sum_j f_T(s_j) 1{eta s_j <= 2}, for which

    0 <= L_T - Rbar_T <= (d - 1) sup_{eta s <= 2} f_T(s) P(eta s_max > 2),
    sup_{eta s <= 2} f_T <= psi2 + 4 (sigma2 eta / n) max(T, 1),
    P(eta s_max > 2) <= E #{j : eta s_j > 2} = int_{2n/eta}^inf rho(x) dx.

Ridge-regularised GD (penalty lam, contraction 1 - eta (s + lam)) diverges where
eta (s + lam) > 2; :func:`gd_risk_parts` and :func:`gd_parting_steps` take ``lam``.

Quadratures run in t = sqrt(x), where every part of rho(x) dx is smooth (Gauss-Legendre
panels, checked against the same rule on halved panels).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy import special

from icl.validation import array, function, integer, real

MAX_SIZE = 128
"""Largest n and d accepted (the range over which the quadrature is validated in the tests)."""
MAX_STEPS = 100_000
"""Largest number of GD steps T accepted by the exact GD averages."""
RELATIVE_BOUND = 1e-7
"""The largest certified relative gap between the computed and the defined typical-design risk."""

_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)
_QUADRATURE_TOL = 1e-10


@dataclass(frozen=True)
class _Ensemble:
    """The m x m real Wishart matrix with p degrees of freedom: the pieces of its one-point
    density."""

    m: int
    p: int
    alpha: int
    a: float
    c_w: float  # 2^{a+1} Gamma(a+1) = int psi_w
    quad: np.ndarray  # (m-1, m): the psi_j Phi_k (k a chain index) part, a quadratic form in r
    lin_w: np.ndarray  # (m,): the psi_j Phi_w part, (r . lin_w) Phi_w x^{-1/2}
    lin_e: np.ndarray  # (m,): the odd-m border, (r . lin_e) x^{-1/2}

    @property
    def edge(self) -> float:
        """The upper edge of the bulk, (sqrt(m) + sqrt(p))^2, in x."""
        return (math.sqrt(self.m) + math.sqrt(self.p)) ** 2

    @property
    def switch(self) -> float:
        """Beyond this x the density is evaluated in log form."""
        return 1.5 * self.edge + 20.0


@lru_cache(maxsize=512)
def _ensemble(m: int, p: int) -> _Ensemble:
    alpha = p - m
    a = (alpha - 1) / 2
    c_w = 2 ** (a + 1) * math.gamma(a + 1)
    odd = m % 2 == 1
    above = ([-c_w] if odd else []) + ([-2 * math.sqrt(math.gamma(alpha + 1))] if m >= 2 else [])
    above += [-math.sqrt(j * (j + alpha)) for j in range(1, m - 1)]
    size = len(above) + 1
    A = np.zeros((size, size))
    idx = np.arange(size - 1)
    A[idx, idx + 1], A[idx + 1, idx] = above, -np.asarray(above)
    B = np.linalg.inv(A)
    off = 1 if odd else 0
    Bb = B[off:, off:]  # basis order: w, 0, 1, ..., m-2
    # sqrt(x) psi_basis = r @ Psi: psi_w -> sqrt(Gamma(alpha+1)) r_0;
    # psi_j -> (b_{j+1} r_{j+1} - b_j r_{j-1}) / 2
    Psi = np.zeros((m, m))
    Psi[0, 0] = math.sqrt(math.gamma(alpha + 1))
    for j in range(m - 1):
        Psi[j + 1, 1 + j] = math.sqrt((j + 1) * (j + 1 + alpha)) / 2
        if j >= 1:
            Psi[j - 1, 1 + j] = -math.sqrt(j * (j + alpha)) / 2
    quad = -2 * Bb[1:, :] @ Psi.T
    lin_w = Psi @ Bb[0, :]
    lin_e = Psi @ B[0, off:] if odd else np.zeros(m)
    return _Ensemble(m, p, alpha, a, c_w, quad, lin_w, lin_e)


def _laguerre_functions(x: np.ndarray, m: int, alpha: int) -> np.ndarray:
    """r_i(x) = R_i(x) x^{alpha/2} e^{-x/2}, i < m, by the three-term recurrence: ``(len(x),
    m)``."""
    r = np.empty((x.size, m))
    with np.errstate(divide="ignore"):
        log_x = np.log(x) if alpha > 0 else np.zeros_like(x)
    r[:, 0] = np.exp(alpha / 2 * log_x - x / 2 - special.gammaln(alpha + 1) / 2)
    previous = np.zeros_like(x)
    for i in range(m - 1):
        b_i, b_next = math.sqrt(i * (i + alpha)), math.sqrt((i + 1) * (i + 1 + alpha))
        r[:, i + 1] = ((2 * i + alpha + 1 - x) * r[:, i] - b_i * previous) / b_next
        previous = r[:, i]
    return r


def _phi_w(e: _Ensemble, x: np.ndarray) -> np.ndarray:
    return e.c_w * (2 * special.gammaincc(e.a + 1, x / 2) - 1)


def _density_in_t(e: _Ensemble, t: np.ndarray, beta: int = 1) -> np.ndarray:
    """2 t rho(t^2): the density of t = sqrt(x), smooth in t (no x^{-1/2} left)."""
    x = t * t
    r = _laguerre_functions(x, e.m, e.alpha)
    if beta == 2:
        return 2 * t * (r * r).sum(1)
    quadratic = (
        np.einsum("xk,kx->x", r[:, : e.m - 1], e.quad @ r.T) if e.m > 1 else np.zeros_like(x)
    )
    return 2 * t * quadratic + 2 * (r @ e.lin_w * _phi_w(e, x) + r @ e.lin_e)


def _log_density_far(e: _Ensemble, x: np.ndarray) -> np.ndarray:
    """log rho(x) for x >= 1, with the polynomials scaled by x^{-i} so that nothing overflows."""
    m, alpha = e.m, e.alpha
    q = np.empty((x.size, m))
    q[:, 0] = math.exp(-special.gammaln(alpha + 1) / 2)
    previous = np.zeros_like(x)
    for i in range(m - 1):
        b_i, b_next = math.sqrt(i * (i + alpha)), math.sqrt((i + 1) * (i + 1 + alpha))
        q[:, i + 1] = (((2 * i + alpha + 1) / x - 1) * q[:, i] - b_i * previous / x**2) / b_next
        previous = q[:, i]
    powers = x[:, None] ** (np.arange(m) - (m - 1))  # R_i = q_i x^i = x^{m-1} q_i x^{i-m+1}
    scaled = q * powers
    log_e = alpha / 2 * np.log(x) - x / 2
    linear = (scaled @ e.lin_w * _phi_w(e, x) + scaled @ e.lin_e) / np.sqrt(x)
    if m > 1:
        weight = np.exp(log_e + (m - 1) * np.log(x))
        linear = linear + weight * np.einsum("xk,kx->x", scaled[:, : m - 1], e.quad @ scaled.T)
    with np.errstate(divide="ignore", invalid="ignore"):
        return log_e + (m - 1) * np.log(x) + np.log(linear)


def _log_density(e: _Ensemble, x: np.ndarray) -> np.ndarray:
    """log rho(x), x > 0: direct below :attr:`_Ensemble.switch`, in log form above."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    near = x < e.switch
    if near.any():
        t = np.sqrt(x[near])
        with np.errstate(divide="ignore", invalid="ignore"):
            out[near] = np.log(_density_in_t(e, t) / (2 * t))
    if (~near).any():
        out[~near] = _log_density_far(e, x[~near])
    return out


@lru_cache(maxsize=512)
def _bulk_end(m: int, p: int) -> float:
    """An x beyond the bulk with rho(x) (x + 4) < 1e-40: the density's mass above it is
    negligible."""
    e = _ensemble(m, p)
    k = np.arange(1, 400)
    x = e.edge * (1 + 0.05 * k) + 2.0 * k
    small = np.nonzero(_log_density(e, x) + np.log(x + 4) < math.log(1e-40))[0]
    return float(x[small[0]])


def _panels(breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = breaks[:-1, None], breaks[1:, None]
    return ((lo + hi) / 2 + (hi - lo) / 2 * _GL_X).ravel(), ((hi - lo) / 2 * _GL_W).ravel()


def _halved(breaks: np.ndarray) -> np.ndarray:
    return np.sort(np.concatenate([breaks, (breaks[:-1] + breaks[1:]) / 2]))


def _integrate_t(values: Callable[[np.ndarray], np.ndarray], breaks: np.ndarray) -> float:
    """int values(t) dt over the panels, checked against halved panels (refined until they
    agree)."""
    t, w = _panels(breaks)
    coarse = float(w @ values(t))
    for _ in range(4):
        breaks = _halved(breaks)
        t, w = _panels(breaks)
        v = values(t)
        fine = float(w @ v)
        if abs(fine - coarse) <= _QUADRATURE_TOL * max(
            abs(fine), 1e-3 * float(w @ np.abs(v)), 1e-300
        ):
            return fine
        coarse = fine
    raise RuntimeError(
        f"the quadrature did not converge: {coarse!r} (last change above {_QUADRATURE_TOL:g})"
    )


def _bulk_breaks(e: _Ensemble, t_top: float, fine: list[tuple[float, float, float]]) -> np.ndarray:
    """Panels on [0, t_top]: width 2.5 / sqrt(4m + 2 alpha + 2) (the oscillation of r_i in t), finer
    where asked.

    ``fine``: (start, stop, width) triples in t, for functions of s that vary fast.
    """
    width = min(0.5, 2.5 / math.sqrt(4 * e.m + 2 * e.alpha + 2))
    pieces = [np.linspace(0.0, t_top, max(2, math.ceil(t_top / width) + 1))]
    for start, stop, step in fine:
        start, stop = max(0.0, start), min(t_top, stop)
        if stop > start and step < width:
            pieces.append(np.linspace(start, stop, max(2, math.ceil((stop - start) / step) + 1)))
    return np.unique(np.concatenate(pieces))


def _log_integral_above(
    e: _Ensemble, x0: float, log_f: Callable[[np.ndarray], np.ndarray]
) -> float:
    """log int_{x0}^inf exp(log_f(x)) rho(x) dx, in log form (values far beyond the float range are
    fine)."""
    probe = x0 + np.concatenate([[0.0], np.geomspace(1e-4, 1e8, 1200)])
    phi = log_f(probe) + _log_density(e, probe)
    phi = np.where(np.isnan(phi), -np.inf, phi)
    top = int(np.argmax(phi))
    peak = phi[top]
    if not np.isfinite(peak):
        return -math.inf
    inside = np.nonzero(phi > peak - 80)[0]
    lo, hi = probe[max(inside[0] - 1, 0)], probe[min(inside[-1] + 1, probe.size - 1)]
    x_pk = probe[top]
    h = 1e-3 * max(1.0, x_pk)
    around = log_f(np.array([x_pk - h, x_pk, x_pk + h])) + _log_density(
        e, np.array([x_pk - h, x_pk, x_pk + h])
    )
    curvature = -(around[0] - 2 * around[1] + around[2]) / h**2 if x_pk - h > x0 else 0.0
    slope = abs(around[2] - around[1]) / h
    width = 1 / math.sqrt(curvature) if curvature > 0 else 1 / max(slope, 1e-3)
    width = min(width, 1.0) if lo < e.switch else width
    width = max(width, (hi - lo) / 4000)
    breaks = np.linspace(lo, hi, max(2, math.ceil((hi - lo) / width) + 1))

    def scaled(x):
        return np.exp(np.nan_to_num(log_f(x) + _log_density(e, x), nan=-np.inf) - peak)

    xs, ws = _panels(breaks)
    coarse = float(ws @ scaled(xs))
    xs, ws = _panels(_halved(breaks))
    fine = float(ws @ scaled(xs))
    if not abs(fine - coarse) <= 1e-8 * fine:
        raise RuntimeError(f"the tail quadrature did not converge: {coarse!r} against {fine!r}")
    return peak + math.log(fine) if fine > 0 else -math.inf


def _sizes(n, d) -> tuple[int, int, int, int]:
    n, d = integer("n", n), integer("d", d)
    if max(n, d) > MAX_SIZE:
        raise ValueError(
            f"n and d must be <= {MAX_SIZE} (the validated range), got n = {n}, d = {d}"
        )
    return n, d, min(n, d), max(n, d)


def wishart_eigenvalue_density(s, n: int, d: int, *, beta: int = 1) -> np.ndarray:
    """The density of the nonzero eigenvalues of S = X^T X / n, X n x d Gaussian: n rho(n s).

    Normalised to the expected number of eigenvalues per unit s (its integral is
    min(n, d)); the d - min(n, d) zero eigenvalues are not included. ``beta = 1``:
    real X (the book's case); ``beta = 2``: complex X with E|X_ij|^2 = 1. ``s`` is a
    number or array of positive values; the result has its shape. Exact (see the
    module docstring) to about 1e-13 relative in the bulk.
    """
    n, d, m, p = _sizes(n, d)
    if isinstance(beta, bool) or beta not in (1, 2):
        raise ValueError(f"beta must be 1 (real) or 2 (complex), got {beta!r}")
    s_arr = array("s", s)
    if s_arr.size == 0 or np.any(s_arr <= 0):
        raise ValueError("s must hold finite positive eigenvalues")
    e = _ensemble(m, p)
    x = n * s_arr.ravel()
    if beta == 2:
        r = _laguerre_functions(x, m, e.alpha)
        return (n * (r * r).sum(1)).reshape(s_arr.shape)
    return (n * np.exp(_log_density(e, x))).reshape(s_arr.shape)


def wishart_linear_statistic(
    g: Callable[[np.ndarray], np.ndarray],
    n: int,
    d: int,
    *,
    upper: float | None = None,
    beta: int = 1,
) -> float:
    """E sum_{j=1}^d g(s_j) 1{s_j <= upper} over the eigenvalues s_j of S = X^T X / n.

    ``g`` maps an array of eigenvalues s >= 0 to an array of the same shape
    (vectorised, smooth on [0, upper]); it is called at s = 0 for the d - min(n, d)
    zero eigenvalues. ``upper=None`` integrates over the whole spectrum (then g
    must not grow faster than a polynomial). Adaptive Gauss-Legendre panels in
    t = sqrt(n s) against the exact density (:func:`wishart_eigenvalue_density`),
    refined until halving every panel changes the result by less than 1e-10.
    """
    n, d, m, p = _sizes(n, d)
    if isinstance(beta, bool) or beta not in (1, 2):
        raise ValueError(f"beta must be 1 (real) or 2 (complex), got {beta!r}")
    function("g", g)
    if upper is not None:
        upper = real("upper", upper, minimum=0.0, strict=True)
    e = _ensemble(m, p)
    x_top = _bulk_end(m, p) if upper is None else min(n * upper, _bulk_end(m, p))
    zeros = (d - m) * float(np.asarray(g(np.zeros(1)))[0]) if d > m else 0.0
    integral = _integrate_t(
        lambda t: g(t * t / n) * _density_in_t(e, t, beta), _bulk_breaks(e, math.sqrt(x_top), [])
    )
    return zeros + integral


# ----------------------------------------------------------------------------------------------
# Gradient descent averaged over the design


def _gd_arguments(n, d, sigma2, eta, T, psi2, lam=0.0):
    n, d, m, p = _sizes(n, d)
    sigma2 = real("sigma2", sigma2, minimum=0.0)
    eta = real("eta", eta, minimum=0.0, strict=True)
    T = integer("T", T, minimum=0)
    if T > MAX_STEPS:
        raise ValueError(f"T must be <= {MAX_STEPS} (the validated range), got {T}")
    psi2 = real("psi2", psi2, minimum=0.0, strict=True)
    lam = real("lam", lam, minimum=0.0)
    if eta * lam >= 2:
        raise ValueError(
            f"eta lam must be < 2 (else GD diverges on every design), got eta = {eta}, lam = {lam}"
        )
    return n, d, m, p, sigma2, eta, T, psi2, lam


def _gd_integrand(
    n: int, sigma2: float, eta: float, T: int, psi2: float, lam: float = 0.0
) -> Callable[[np.ndarray], np.ndarray]:
    """f_T(s) = psi2 (1 - g s)^2 + (sigma2 / n) g^2 s, g = (1 - c^T) / (s + lam), c = 1 - eta (s +
    lam); stable near 0.

    1 - g s = (lam + s c^T) / (s + lam); with lam = 0 this is Chapter 2's
    psi2 (1 - eta s)^{2T} + (sigma2 / n) (1 - (1 - eta s)^T)^2 / s.
    """

    def f(s: np.ndarray) -> np.ndarray:
        shifted = s + lam
        u = eta * shifted
        safe = np.minimum(u, 0.5)
        small = u < 0.5
        power = np.where(small, np.exp(T * np.log1p(-safe)), (1 - u) ** T)  # c^T
        one_minus = np.where(small, -np.expm1(T * np.log1p(-safe)), 1 - power)
        positive = shifted > 0
        denominator = np.where(positive, shifted, 1.0)
        g = np.where(positive, one_minus / denominator, eta * T)
        unlearned = np.where(positive, (lam + s * power) / denominator, 1.0)  # 1 - g s
        return psi2 * unlearned**2 + sigma2 / n * g**2 * s

    return f


def _gd_log_integrand(
    n: int, sigma2: float, eta: float, T: int, psi2: float, lam: float
) -> Callable[[np.ndarray], np.ndarray]:
    """log f_T(x / n) where eta (x / n + lam) >= 2, in log form (|c|^T = e^L, L >= 0)."""

    def log_f(x: np.ndarray) -> np.ndarray:
        s = x / n
        L = T * np.log(eta * (s + lam) - 1)
        sign = (-1) ** T  # c^T = sign e^L
        with np.errstate(divide="ignore"):
            log_unlearned = L + np.log(np.abs(s * sign + lam * np.exp(-L))) - np.log(s + lam)
            log_g = L + np.log(np.abs(np.exp(-L) - sign)) - np.log(s + lam)
            noise = np.log(sigma2 / n) + 2 * log_g + np.log(s) if sigma2 > 0 else -np.inf
        return np.logaddexp(math.log(psi2) + 2 * log_unlearned, noise)

    return log_f


def _gd_breaks(e: _Ensemble, n: int, eta: float, T: int, x_top: float, x_cut: float) -> np.ndarray:
    t_top = math.sqrt(x_top)
    fine = []
    if T > 0:
        t0 = math.sqrt(n / (2 * eta * T))  # e^{-2 eta T s}: its width in t near 0
        fine.append((0.0, 12 * t0, t0 / 2))
        if x_top >= x_cut:  # c^{2T} rises back to 1 just below the cut
            t_cut = math.sqrt(x_cut)
            step = n / (2 * eta * T) / (2 * t_cut)
            fine.append((t_cut - 40 * step, t_cut, step))
    return _bulk_breaks(e, t_top, fine)


class GDRiskParts(NamedTuple):
    """The parts of the average of R_T(X) over Gaussian designs (see :func:`gd_risk_parts`)."""

    typical: float
    """L_T = E sum_j f_T(s_j) 1{eta (s_j + lam) <= 2}: with lam = 0, the value of
    :func:`expected_gd_risk`."""
    bound: float
    """A certified bound on L_T - E[R_T(X); eta (s_max + lam) <= 2] (which is >= 0)."""
    log10_p_divergent: float
    """log10 of an upper bound on P(eta (s_max + lam) > 2), the probability of a design on which GD
    diverges."""
    log10_divergent_part: float
    """log10 of D_T = E sum_j f_T(s_j) 1{eta (s_j + lam) > 2} (-inf when it is 0)."""
    log10_plain_average: float
    """log10 of the plain average E R_T(X) = L_T + D_T (over all designs)."""


@lru_cache(maxsize=4096)
def _log_expected_count_above(m: int, p: int, x_cut: float) -> float:
    return _log_integral_above(_ensemble(m, p), x_cut, lambda x: np.zeros_like(x))


def _cut(n: int, eta: float, lam: float) -> float:
    """The x = n s above which GD diverges: eta (s + lam) > 2."""
    return n * (2 / eta - lam)


@lru_cache(maxsize=4096)
def _typical(n: int, d: int, sigma2: float, eta: float, T: int, psi2: float, lam: float) -> float:
    m, p = min(n, d), max(n, d)
    e = _ensemble(m, p)
    x_cut = _cut(n, eta, lam)
    x_top = min(x_cut, _bulk_end(m, p))
    f = _gd_integrand(n, sigma2, eta, T, psi2, lam)
    integral = _integrate_t(
        lambda t: f(t * t / n) * _density_in_t(e, t), _gd_breaks(e, n, eta, T, x_top, x_cut)
    )
    return (d - m) * float(f(np.zeros(1))[0]) + integral


def _typical_bound(
    n: int, d: int, sigma2: float, eta: float, T: int, psi2: float, lam: float
) -> tuple[float, float]:
    """(bound on L_T - E[R_T; stable], log10 of the bound min(1, E #{j : eta (s_j + lam) > 2}) on
    P(not stable)).

    The bound is (d - 1) sup f_T P(not stable), plus sup f_T times the density's mass
    beyond the end of the quadrature when that end is below the cut.
    sup_{stable} f_T <= psi2 + 4 sigma2 eta max(T, 1) / n: |1 - g s| <= 1, and g^2 s <= eta T
    for s <= 1 / (eta T), g^2 s <= 4 / s <= 4 eta T above.
    """
    m, p = min(n, d), max(n, d)
    x_cut, x_end = _cut(n, eta, lam), _bulk_end(m, p)
    log_count = min(0.0, _log_expected_count_above(m, p, x_cut))
    sup_f = psi2 + 4 * sigma2 * eta * max(T, 1) / n
    beyond = math.exp(_log_expected_count_above(m, p, x_end)) if x_cut > x_end else 0.0
    return (d - 1) * sup_f * math.exp(log_count) + sup_f * beyond, log_count / math.log(10)


def gd_risk_parts(
    n: int, d: int, sigma2: float, eta: float, T: int, *, psi2: float = 1.0, lam: float = 0.0
) -> GDRiskParts:
    """The average of R_T(X) over Gaussian designs, split at the designs on which GD diverges.

    R_T(X) = sum_j f_T(s_j) is the risk of T steps of GD given X (module
    docstring); ``lam`` > 0 gives ridge-regularised GD,
    w_{t+1} = w_t - eta (X^T (X w_t - y) / n + lam w_t) (:func:`icl.theory.ridge_gd_iterate`),
    which diverges along eigenvalues with eta (s + lam) > 2. Returns the
    typical-design value L_T (with lam = 0, :func:`expected_gd_risk`), the certified
    bound (d - 1) (psi2 + 4 sigma2 eta max(T, 1) / n) P(eta (s_max + lam) > 2) on its
    gap to E[R_T(X); eta (s_max + lam) <= 2] (plus the density mass beyond the
    quadrature's end), the bound E #{j : eta (s_j + lam) > 2} on that probability (in
    log10), and, in log10 as they overflow a float for large eta T / n, the part D_T of
    the plain average from the divergent eigenvalues and the plain average
    E R_T(X) = L_T + D_T itself. Same range as :func:`expected_gd_risk`.
    """
    n, d, m, p, sigma2, eta, T, psi2, lam = _gd_arguments(n, d, sigma2, eta, T, psi2, lam)
    typical = _typical(n, d, sigma2, eta, T, psi2, lam)
    bound, log10_p = _typical_bound(n, d, sigma2, eta, T, psi2, lam)
    log_tail = _log_integral_above(
        _ensemble(m, p), _cut(n, eta, lam), _gd_log_integrand(n, sigma2, eta, T, psi2, lam)
    )
    log10_plain = float(np.logaddexp(math.log(typical), log_tail)) / math.log(10)
    return GDRiskParts(typical, bound, log10_p, log_tail / math.log(10), log10_plain)


def expected_gd_risk(
    n: int, d: int, sigma2: float, eta: float, T: int, *, psi2: float = 1.0
) -> float:
    """The prompt-averaged risk of T steps of GD, over the designs on which GD does not diverge.

    GD from w_0 = 0 with the gradient divided by n (as in
    :func:`icl.theory.ridge_gd_iterate`), w ~ N(0, psi2 I_d), label-noise variance
    sigma2, x ~ N(0, I_d). Given X the risk is R_T(X) = sum_j f_T(s_j) over the
    eigenvalues s_j of S = X^T X / n, with
    f_T(s) = psi2 (1 - eta s)^{2T} + (sigma2 / n) (1 - (1 - eta s)^T)^2 / s. The book's
    prompt-averaged (typical-design) risk is

        Rbar_T = E[ R_T(X) ; eta s_max(X) <= 2 ],

    the average over the designs on which the chain does not diverge (those with an
    eigenvalue above 2 / eta are rare, but for large eta T / n they dominate the plain
    average E R_T(X): see :func:`gd_risk_parts` and :func:`gd_parting_steps`).

    Returned: the truncated linear statistic L_T = E sum_j f_T(s_j) 1{eta s_j <= 2},
    one quadrature against the exact real Wishart eigenvalue density (module
    docstring), accurate to about 1e-10 relative. 0 <= L_T - Rbar_T <= (d - 1)
    (psi2 + 4 sigma2 eta max(T, 1) / n) P(eta s_max > 2); ``ValueError`` unless this
    bound is below 1e-7 L_T and P(eta s_max > 2) <= 1e-7 (then Rbar_T and the average
    conditional on a stable design also agree to 1e-7): a larger eta makes GD diverge
    on too many designs for a typical-design value. Below the parting step the plain
    average agrees with it (at T = 1 it is Chapter 1's :func:`icl.theory.one_step_risk`
    up to the divergent part D_1). ``n, d <= 128``, ``T <= 100000``.
    """
    n, d, m, p, sigma2, eta, T, psi2, lam = _gd_arguments(n, d, sigma2, eta, T, psi2)
    typical = _typical(n, d, sigma2, eta, T, psi2, lam)
    bound, log10_p = _typical_bound(n, d, sigma2, eta, T, psi2, lam)
    if bound > RELATIVE_BOUND * typical or log10_p > math.log10(RELATIVE_BOUND):
        raise ValueError(
            f"eta = {eta:g} is too large for n = {n}, d = {d}, T = {T}: GD diverges on designs "
            f"of probability up to {10**log10_p:.2g} (eta s_max > 2), with a bound {bound:.2g} on "
            f"the gap to the typical-design risk {typical:.6g}; both must be below "
            f"{RELATIVE_BOUND:g} (relative); see icl.theory.gd_risk_parts"
        )
    return typical


def gd_parting_steps(
    n: int, d: int, sigma2: float, eta: float, *, psi2: float = 1.0, lam: float = 0.0
) -> int:
    """The smallest T at which the divergent designs carry at least half of the plain average E
    R_T(X).

    That is, the smallest T with D_T >= L_T in the notation of :func:`gd_risk_parts`
    (``lam`` as there): before it the plain average and the typical-design risk agree
    to within a factor 2, and to the relative D_T / L_T, which falls
    super-exponentially as T decreases; from it on, the plain average is dominated
    by designs that no simulation of a feasible size draws. Found by bisection
    (D_T / L_T grows with T); ``ValueError`` if it exceeds 100000.
    """
    n, d, m, p, sigma2, eta, _, psi2, lam = _gd_arguments(n, d, sigma2, eta, 0, psi2, lam)

    def parted(T: int) -> bool:
        parts = gd_risk_parts(n, d, sigma2, eta, T, psi2=psi2, lam=lam)
        return parts.log10_divergent_part >= math.log10(parts.typical)

    lo, hi = 0, 1
    while not parted(hi):
        if hi == MAX_STEPS:
            raise ValueError(f"the divergent designs do not take over before T = {MAX_STEPS}")
        lo, hi = hi, min(2 * hi, MAX_STEPS)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if parted(mid) else (mid, hi)
    return hi


def gd_divergent_part_laplace(
    n: int, d: int, sigma2: float, eta: float, T: int, *, psi2: float = 1.0, lam: float = 0.0
) -> float:
    """log10 of the Laplace estimate of D_T = E sum_j f_T(s_j) 1{eta (s_j + lam) > 2}, the divergent
    designs' part.

    With k = n / (2 eta), the tail density C x^a e^{-x/2} (m-1)! |L_{m-1}^(alpha)(x)|
    (module docstring), f_T(s) ~ |c|^{2T} (psi2 s^2 + sigma2 s / n) / (s + lam)^2 for
    |c| = eta (s + lam) - 1 > 1, the substitution u = |c| and Laplace's method at the
    saddle u* = 2T / k give

        D_T ~ C (n / eta) e^{-k + n lam / 2} Gamma(2T + 1) k^{-(2T+1)} h(x*),
        h(x) = x^a (m-1)! |L_{m-1}^(alpha)(x)| (psi2 s^2 + sigma2 s / n) / (s + lam)^2,  s = x / n,
        x* = (n / eta)(1 + 4 eta T / n) - n lam,

    valid when u* is well above 1 (T well above n / (2 eta)). The factor
    Gamma(2T + 1) (2 eta / n)^{2T} e^{-n / (2 eta)} makes D_T pass any fixed level near
    eta T / n = e^{1 + W(1/e)} / 4 = 0.898 as n / eta grows (W: Lambert's function).
    """
    n, d, m, p, sigma2, eta, T, psi2, lam = _gd_arguments(n, d, sigma2, eta, T, psi2, lam)
    alpha, a = p - m, (p - m - 1) / 2
    k = n / (2 * eta)
    log_c = (
        0.5 * math.log(math.pi)
        - (m + p - 1) / 2 * math.log(2)
        - special.gammaln(p / 2)
        - special.gammaln(m / 2)
    )
    x_star = n / eta * (1 + 4 * eta * T / n) - n * lam
    s_star = x_star / n
    log_h = (
        a * math.log(x_star)
        + special.gammaln(m)
        + math.log(abs(special.eval_genlaguerre(m - 1, alpha, x_star)))
        + math.log((psi2 * s_star**2 + sigma2 * s_star / n) / (s_star + lam) ** 2)
    )
    log_d = (
        log_c
        + math.log(n / eta)
        - k
        + n * lam / 2
        + special.gammaln(2 * T + 1)
        - (2 * T + 1) * math.log(k)
        + log_h
    )
    return log_d / math.log(10)


def expected_gd_risk_marchenko_pastur(
    n: int, d: int, sigma2: float, eta: float, T: int, *, psi2: float = 1.0
) -> float:
    """The Marchenko-Pastur limit of :func:`expected_gd_risk`: d int f_T dMP_{d/n}, plus (d - n)^+
    psi2.

    The eigenvalue distribution of S is replaced by its n, d -> infinity limit at
    gamma = d / n: density sqrt((b - s)(s - a)) / (2 pi gamma s) on [a, b],
    a, b = (1 -+ sqrt(gamma))^2, and an atom 1 - 1/gamma at 0 when gamma > 1. An
    approximation at finite n, d (it misses the n + d + 1 of E tr S^2 = d (n + d + 1) / n,
    giving d (n + d) / n, and the spread of the edge); ``ValueError`` if eta b >= 2.
    """
    n, d, _, _, sigma2, eta, T, psi2, _ = _gd_arguments(n, d, sigma2, eta, T, psi2)
    gamma = d / n
    lo, hi = (1 - math.sqrt(gamma)) ** 2, (1 + math.sqrt(gamma)) ** 2
    if eta * hi >= 2:
        raise ValueError(
            f"eta = {eta:g} puts the Marchenko-Pastur edge {hi:.4g} above 2 / eta: "
            "GD diverges in the limit"
        )
    f = _gd_integrand(n, sigma2, eta, T, psi2)
    half = (hi - lo) / 2

    def integrand(
        theta,
    ):  # s = (lo + hi) / 2 - half cos(theta): sqrt((b - s)(s - a)) ds = half^2 sin^2 dtheta
        s = (lo + hi) / 2 - half * np.cos(theta)
        return f(s) * half**2 * np.sin(theta) ** 2 / (2 * math.pi * gamma * s)

    breaks = [np.linspace(0, math.pi, 65)]
    if T > 0:
        theta0 = math.sqrt(
            2 / (eta * T * half)
        )  # s - lo ~ half theta^2 / 2 varies on the scale 1 / (eta T)
        stop = min(12 * theta0, math.pi)
        if theta0 / 2 < math.pi / 64:
            breaks.append(np.linspace(0, stop, max(2, math.ceil(stop / (theta0 / 2)) + 1)))
    return d * _integrate_t(integrand, np.unique(np.concatenate(breaks))) + max(d - n, 0) * psi2
