"""References for :mod:`icl.theory.wishart`, independent of its Pfaffian form.

The one-point density of the real Wishart (Laguerre orthogonal) ensemble is written in the form of
Adler, Forrester, Nagao and van Moerbeke (J. Stat. Phys. 99, 2000): with r_i the orthonormal
Laguerre functions of the weight x^alpha e^{-x}, alpha = p - m, b_j = sqrt(j (j + alpha)) and
F_k(x) = int_0^x y^{-1/2} r_k(y) dy, J_k = F_k(inf),

    rho(x) = sum_{i < m-1} r_i(x)^2 + (b_{m-1} / 4) x^{-1/2} r_{m-1}(x) (J_{m-2} - 2 F_{m-2}(x))
             + [m odd] x^{-1/2} r_{m-1}(x) / J_{m-1},

a sum of squares and a rank-one correction, with F_k from the ladder
F_{j+1} = (2 sqrt(x) r_j + b_j F_{j-1}) / b_{j+1} (and F_0 an incomplete gamma function). It
is checked in ``tests/theory/test_wishart.py`` against a Pfaffian in the monomial basis at 60+
digits and against the exact moments E tr W^k. Here it is evaluated

- pointwise in mpmath at 30 digits (the density itself; the tails above a cut far beyond the
  float range: P(eta s_max > 2), D_T, by Gauss-Legendre panels around their peak);
- vectorised in 80-bit extended precision (``np.longdouble``: 19 digits, exponents to 1e+-4932),
  its constants from mpmath, for the integrals over the bulk (linear statistics, L_T, L'_T),
  by Gauss-Legendre panels laid out from the known scales (not by probing), refined until halving
  them changes the result by less than 1e-13.

The complex (beta = 2) density is the sum of squares sum_{i < m} r_i^2. The Marchenko-Pastur
average and the Laplace estimate are closed forms evaluated in mpmath (Laguerre polynomials by
mpmath.laguerre).
"""

from __future__ import annotations

import math
from functools import lru_cache

import mpmath
import numpy as np
from scipy import special

from tests.accuracy import Reference, register

LD = np.longdouble
DIGITS = 30
_GL_X, _GL_W = (v.astype(LD) for v in np.polynomial.legendre.leggauss(20))
_LD_FLOOR = LD(-11000)  # log values below this are treated in mpmath (e^-11000 ~ 1e-4777)
TOL = 1e-13


class _LOE:
    """The (m, p) ensemble: constants at DIGITS digits, density in mpmath and in long double."""

    def __init__(self, m: int, p: int):
        self.m, self.p, self.alpha = m, p, p - m
        with mpmath.workdps(DIGITS + 10):
            alpha = mpmath.mpf(self.alpha)
            self.a_mp = (alpha - 1) / 2
            self.b_mp = [mpmath.sqrt(mpmath.mpf(j) * (j + alpha)) for j in range(m + 1)]
            self.log_norm_mp = -mpmath.loggamma(alpha + 1) / 2  # log R_0
            J = [
                mpmath.exp(
                    self.log_norm_mp
                    + (self.a_mp + 1) * mpmath.log(2)
                    + mpmath.loggamma(self.a_mp + 1)
                )
            ]
            for k in range(1, m + 1):
                J.append(mpmath.mpf(0) if k % 2 else J[k - 2] * self.b_mp[k - 1] / self.b_mp[k])
            self.J_mp = J
            self.b = np.array([LD(str(v)) for v in self.b_mp], dtype=LD)
            self.log_norm = LD(str(self.log_norm_mp))
            self.J = np.array([LD(str(v)) for v in J], dtype=LD)

    @property
    def edge(self) -> float:
        return (math.sqrt(self.m) + math.sqrt(self.p)) ** 2

    # --- mpmath, pointwise ---

    def rho_mp(self, x, beta: int = 1):
        m, alpha, b = self.m, self.alpha, self.b_mp
        with mpmath.workdps(DIGITS):
            x = mpmath.mpf(x)
            log_r0 = (alpha * mpmath.log(x) / 2 if alpha else 0) - x / 2 + self.log_norm_mp
            r = [mpmath.exp(log_r0)]
            for i in range(m - 1):
                previous = r[i - 1] if i else 0
                r.append(((2 * i + alpha + 1 - x) * r[i] - b[i] * previous) / b[i + 1])
            if beta == 2:
                return mpmath.fsum(v * v for v in r)
            total = mpmath.fsum(v * v for v in r[: m - 1])
            root = mpmath.sqrt(x)
            if m >= 2:
                F = [self.J_mp[0] * mpmath.gammainc(self.a_mp + 1, 0, x / 2, regularized=True)]
                F.append(2 * root * r[0] / b[1])
                for j in range(1, m - 2):
                    F.append((2 * root * r[j] + b[j] * F[j - 1]) / b[j + 1])
                total += b[m - 1] / 4 * r[m - 1] / root * (self.J_mp[m - 2] - 2 * F[m - 2])
            if m % 2:
                total += r[m - 1] / root / self.J_mp[m - 1]
            return total

    # --- long double, vectorised: log rho(x) ---

    def log_rho(self, x: np.ndarray, beta: int = 1) -> np.ndarray:
        """log rho(x) in long double, with q_i = r_i / r_0 (polynomials: no underflow) and
        rho = e^{2 l} A_2 + e^{l} A_1, l = log r_0, A_2 = sum_{i<m-1} q_i^2 - (b_{m-1} / 2)
        q_{m-1} F' / sqrt(x), A_1 = q_{m-1} ((b_{m-1} / 4) J_{m-2} (1 - 2 P) + [m odd] / J_{m-1})
        / sqrt(x), F' the ladder of the q's from F_0 = 0 (F_{m-2} = e^l F' + J_{m-2} P)."""
        m, alpha, b = self.m, self.alpha, self.b
        x = np.asarray(x, dtype=LD)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            log_r0 = (LD(alpha) / 2 * np.log(x) if alpha else LD(0)) - x / 2 + self.log_norm
            q = [np.ones_like(x)]
            for i in range(m - 1):
                previous = q[i - 1] if i else LD(0)
                q.append(((2 * i + alpha + 1 - x) * q[i] - b[i] * previous) / b[i + 1])
            if beta == 2:
                return 2 * log_r0 + np.log(sum(v * v for v in q))
            root = np.sqrt(x)
            A2 = sum((v * v for v in q[: m - 1]), np.zeros_like(x))
            A1 = np.zeros_like(x)
            if m >= 2:
                F_prev, F = np.zeros_like(x), 2 * root * q[0] / b[1]
                for j in range(1, m - 2):
                    F_prev, F = F, (2 * root * q[j] + b[j] * F_prev) / b[j + 1]
                if m == 2:
                    F = np.zeros_like(x)  # F_0 = J_0 P: all of it in the P term
                xd = np.asarray(x, dtype=float) / 2
                P = special.gammainc(float(self.a_mp) + 1, xd)
                Q = special.gammaincc(float(self.a_mp) + 1, xd)
                one_minus_2p = np.where(P < 0.5, 1 - 2 * P, 2 * Q - 1).astype(LD)
                A2 = A2 - b[m - 1] / 2 * q[m - 1] * F / root
                A1 = A1 + b[m - 1] / 4 * q[m - 1] * self.J[m - 2] * one_minus_2p / root
            if m % 2:
                A1 = A1 + q[m - 1] / root / self.J[m - 1]
            near = log_r0 > _LD_FLOOR  # beyond, e^{l} A_2 is below e^-11000 of e^{l} A_1
            out = log_r0 + np.log(np.where(near, np.exp(log_r0) * A2, 0) + A1)
        return np.where(np.isnan(out), LD(-np.inf), out)


@lru_cache(maxsize=256)
def _loe(m: int, p: int) -> _LOE:
    return _LOE(m, p)


# ----------------------------------------------------------------------------------------------
# long-double quadrature over known scales


def _panels(breaks: np.ndarray):
    lo, hi = breaks[:-1, None], breaks[1:, None]
    return ((lo + hi) / 2 + (hi - lo) / 2 * _GL_X).ravel(), ((hi - lo) / 2 * _GL_W).ravel()


def _integrate(log_integrand, breaks: np.ndarray, floor: float = 0.0) -> tuple[LD, float]:
    """(log int, sign) of exp(log_integrand) (a pair (log|v|, sign(v)) per node) over the panels,
    halved until two passes agree to max(TOL, ``floor``) (``floor``: the relative error with
    which the log integrand itself is known)."""
    breaks = np.unique(np.asarray(breaks, dtype=LD))
    previous = None
    for _ in range(6):
        nodes, weights = _panels(breaks)
        log_v, sign = log_integrand(nodes)
        finite = np.isfinite(log_v)
        if not finite.any():
            return LD(-np.inf), 1.0
        peak = np.max(log_v[finite])
        total = np.sum(np.where(finite, weights * sign * np.exp(log_v - peak), 0))
        absolute = np.sum(np.where(finite, weights * np.exp(log_v - peak), 0))
        if previous is not None:
            prev_total, prev_peak = previous
            prev_total = prev_total * np.exp(prev_peak - peak)
            if abs(total - prev_total) <= max(TOL, floor) * max(abs(total), 1e-3 * absolute):
                return peak + np.log(abs(total)), float(np.sign(total)) or 1.0
        previous = (total, peak)
        breaks = np.sort(np.concatenate([breaks, (breaks[:-1] + breaks[1:]) / 2]))
    raise RuntimeError("reference quadrature did not converge")


def _floor(e: _LOE, x_top: float) -> float:
    """The relative error of the integrand from the long-double error of log r_0 =
    (alpha/2) log x - x/2 + ... (terms of size alpha log x and x)."""
    return 100 * float(np.finfo(LD).eps) * (e.alpha * abs(math.log(max(x_top, 2.0))) + x_top)


def _pruned(breaks: np.ndarray, levels: np.ndarray, margin: float = 120.0) -> np.ndarray:
    """The breaks without the interior points of runs whose log integrand is below its maximum
    by more than ``margin`` (each such run becomes one panel: its part is below e^-120)."""
    low = levels < np.max(levels) - margin
    keep = ~low
    keep[0] = keep[-1] = True
    keep[1:-1] |= ~low[:-2] | ~low[2:]  # the ends of each low run
    return breaks[keep]


def _t_breaks(e: _LOE, t_lo: float, t_hi: float, scales: tuple = ()) -> np.ndarray:
    """Panels in t = sqrt(x) on [t_lo, t_hi]: uniform of width min(0.5, 3 / sqrt(m + 1)) over the
    bulk and a margin, geometric (ratio 1.5) towards 0, towards t_hi, and around given scales."""
    width = min(0.5, 3.0 / math.sqrt(e.m + 1))
    bulk_lo = max(0.0, math.sqrt(e.p) - math.sqrt(e.m) - 9.0)
    bulk_hi = math.sqrt(e.p) + math.sqrt(e.m) + 9.0
    points = [t_lo, t_hi]
    lo, hi = max(t_lo, bulk_lo), min(t_hi, bulk_hi)
    if hi > lo:
        points += list(np.arange(lo, hi, width)) + [hi]
    ratio = 1.5
    top = max(t_hi, 1e-300)
    points += [top * ratio**-k for k in range(200)]  # towards 0
    points += [t_hi - top * ratio**-k for k in range(1, 120)]  # towards t_hi
    for scale in scales:
        points += [scale * ratio**k for k in range(-60, 30)]
    points = np.array([v for v in points if t_lo <= v <= t_hi], dtype=float)
    return np.unique(points)


def _log_bulk(
    e: _LOE, log_h, t_lo: float, t_hi: float, beta: int = 1, scales=(), floor: float = 0.0
) -> tuple:
    """(log|int|, sign) of int_{t_lo^2}^{t_hi^2} h(x) rho(x) dx in long double; log_h(x) returns
    (log|h|, sign h); ``floor``: the relative error of h itself."""

    def integrand(t):
        x = t * t
        log_h_x, sign = log_h(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = log_h_x + e.log_rho(x, beta) + np.log(2 * t)
        return np.where(np.isnan(v), -np.inf, v), sign

    breaks = _t_breaks(e, t_lo, t_hi, scales)
    # a peak away from the bulk and the known scales (f against the density's edge): located on
    # a dense grid, and resolved by panels of half its width (where the log falls by 2)
    dense = np.unique(
        np.concatenate(
            [np.geomspace(max(t_lo, 1e-8 * t_hi), t_hi, 3000), np.linspace(t_lo, t_hi, 3000)]
        )
    )
    dense_levels, _ = integrand(dense.astype(LD))
    if not np.any(dense_levels + np.log(LD(t_hi - t_lo + 1)) > -800):
        return LD(-np.inf), 1.0  # below 1e-347: 0 in float64
    if np.any(np.isfinite(dense_levels)):
        k = int(np.argmax(dense_levels))
        lo, hi = dense[max(k - 1, 0)], dense[min(k + 1, dense.size - 1)]
        fine = np.linspace(lo, hi, 401)
        fine_levels, _ = integrand(fine.astype(LD))
        j = int(np.argmax(fine_levels))
        low = np.nonzero(fine_levels < fine_levels[j] - 2)[0]
        sides = [
            abs(fine[i] - fine[j]) for i in (low[low > j][:1].tolist() + low[low < j][-1:].tolist())
        ]
        width = min(sides) if sides else hi - lo
        around = fine[j] + width / 2 * np.arange(-60, 61)
        breaks = np.unique(np.concatenate([breaks, around[(around > t_lo) & (around < t_hi)]]))
    mids = np.concatenate([(breaks[:-1] + breaks[1:]) / 2, [breaks[-1]]]).astype(LD)
    levels, _ = integrand(mids)  # at panel midpoints: a panel is dropped only if it and its
    levels = np.maximum(levels, np.concatenate([[-np.inf], levels[:-1]]))  # neighbours are low
    if np.all(~np.isfinite(levels)):
        return LD(-np.inf), 1.0
    pruned = _pruned(breaks, np.where(np.isfinite(levels), levels, -1e300))
    return _integrate(integrand, pruned, max(floor, _floor(e, float(t_hi) ** 2)))


# ----------------------------------------------------------------------------------------------
# GD integrands, exactly (long double, and mpmath beyond the cut)


def _log_f_ld(n, sigma2, eta, T, psi2, lam):
    """x -> (log f_T(x / n), 1) in long double, eta (s + lam) <= 2, in log form: with c = 1 -
    eta (s + lam) and L = T log|c|, 1 - g s = (lam + s c^T) / (s + lam) and
    g = (1 - c^T) / (s + lam)."""
    n, sigma2, eta, psi2, lam = LD(n), LD(sigma2), LD(eta), LD(psi2), LD(lam)

    def log_f(x):
        s = x / n
        shifted = s + lam
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            u = eta * shifted
            log_abs = np.where(u < 0.5, np.log1p(-u), np.log(np.abs(1 - u)))
            L = T * log_abs
            negative = (u > 1) & (T % 2 == 1)  # c^T < 0
            if lam == 0:
                log_unlearned = L
            else:
                log_unlearned = np.where(
                    negative,
                    np.log(np.abs(lam - s * np.exp(L))),
                    np.logaddexp(np.log(lam), np.log(s) + L),
                ) - np.log(shifted)
            one_minus = np.where(negative, 1 + np.exp(L), -np.expm1(L))
            log_g = np.where(shifted > 0, np.log(one_minus) - np.log(shifted), np.log(eta * T))
            log_g = np.where(T == 0, LD(-np.inf), log_g)
            noise = (np.log(sigma2 / n) if sigma2 > 0 else LD(-np.inf)) + 2 * log_g + np.log(s)
            value = np.logaddexp(np.log(psi2) + 2 * np.where(T == 0, LD(0), log_unlearned), noise)
        return np.where(np.isnan(value), LD(-np.inf), value), np.ones_like(x)

    return log_f


def _log_f_divergent_ld(n, sigma2, eta, T, psi2, lam):
    """x -> (log f_T(x / n), 1) in long double for eta (s + lam) >= 2 (|c|^T in log form)."""
    n, sigma2, eta, psi2, lam = LD(n), LD(sigma2), LD(eta), LD(psi2), LD(lam)
    sign = -1 if T % 2 else 1

    def log_f(x):
        s = x / n
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            L = T * np.log(eta * (s + lam) - 1)
            log_shifted = np.log(s + lam)
            log_unlearned = L + np.log(np.abs(s * sign + lam * np.exp(-L))) - log_shifted
            log_g = L + np.log(np.abs(np.exp(-L) - sign)) - log_shifted
            noise = (np.log(sigma2 / n) if sigma2 > 0 else LD(-np.inf)) + 2 * log_g + np.log(s)
            return np.logaddexp(np.log(psi2) + 2 * log_unlearned, noise), np.ones_like(x)

    return log_f


def _f_mp(s, n, sigma2, eta, T, psi2, lam):
    """f_T(s) in mpmath (any size)."""
    s, eta, lam = mpmath.mpf(s), mpmath.mpf(eta), mpmath.mpf(lam)
    shifted = s + lam
    if shifted == 0:
        return mpmath.mpf(psi2)
    c = 1 - eta * shifted
    power = c**T
    one_minus = -mpmath.expm1(T * mpmath.log1p(-eta * shifted)) if c > 0 else 1 - power
    g = one_minus / shifted
    unlearned = (lam + s * power) / shifted
    return psi2 * unlearned**2 + mpmath.mpf(sigma2) / n * g**2 * s


def _log_tail_mp(e: _LOE, x0: float, log_h) -> float:
    """log int_{x0}^inf h rho dx for x0 beyond 1e8, in mpmath. Where the integrand decays from
    x0 (rate r > 0 there), it is e^{-r u} times a function varying on the scale x0 / T, and
    Gauss-Laguerre quadrature in u = x - x0 (20 nodes, checked against 40) is exact to rounding;
    else its peak is found (doubling, then golden section), and Gauss-Legendre panels cover
    [peak - 30 w, peak + 60 w], w its half-width at e^-2 of the peak (12, checked against 24)."""
    with mpmath.workdps(DIGITS):
        x0 = mpmath.mpf(x0)

        def log_phi(u):
            return log_h(x0 + u) + mpmath.log(e.rho_mp(x0 + u))

        base = log_phi(0)
        rate = -(log_phi(1) - base)
        if rate > 0 and mpmath.isfinite(base):

            def run(nodes):
                u, w = np.polynomial.laguerre.laggauss(nodes)
                total = mpmath.fsum(
                    mpmath.mpf(float(wk))
                    * mpmath.exp(
                        log_phi(mpmath.mpf(float(uk)) / rate) - base + mpmath.mpf(float(uk))
                    )
                    for uk, wk in zip(u, w, strict=True)
                )
                return base + mpmath.log(total / rate)

            coarse, fine = run(20), run(40)
        else:
            lo, mid = mpmath.mpf(0), mpmath.mpf(1)
            hi = mpmath.mpf(3)
            while log_phi(hi) > log_phi(mid):
                lo, mid, hi = mid, hi, 2 * hi + 1
            ratio = (mpmath.sqrt(5) - 1) / 2
            for _ in range(300):
                a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
                lo, hi = (lo, b) if log_phi(a) >= log_phi(b) else (a, hi)
                if hi - lo < mpmath.mpf(10) ** -12 * max(1, hi):
                    break
            peak = (lo + hi) / 2
            top = log_phi(peak)

            def drop(direction):
                inside, step = peak, mpmath.mpf(1)
                while True:
                    outside = peak + direction * step
                    if outside < 0:
                        return peak
                    if log_phi(outside) < top - 2:
                        break
                    inside, step = outside, 2 * step
                for _ in range(60):
                    middle = (inside + outside) / 2
                    inside, outside = (
                        (middle, outside) if log_phi(middle) >= top - 2 else (inside, middle)
                    )
                return abs(outside - peak)

            width = max(drop(1), drop(-1) if peak > 0 else 0) / 2
            start, stop = max(0, peak - 30 * width), peak + 60 * width

            def run(panels):
                breaks = [start + (stop - start) * k / panels for k in range(panels + 1)]
                logs, weights = [], []
                for a, b in zip(breaks[:-1], breaks[1:], strict=True):
                    for xg, wg in zip(_GL_X, _GL_W, strict=True):
                        logs.append(log_phi((a + b) / 2 + (b - a) / 2 * mpmath.mpf(float(xg))))
                        weights.append((b - a) / 2 * mpmath.mpf(float(wg)))
                total = mpmath.fsum(
                    w * mpmath.exp(v - top) for v, w in zip(logs, weights, strict=True)
                )
                return top + mpmath.log(total)

            coarse, fine = run(12), run(24)
        if abs(fine - coarse) > 1e-12 * max(1, abs(fine)):
            raise RuntimeError(f"mp tail did not converge: {coarse} {fine}")
        return float(fine)


def _log_tail_ld(e: _LOE, x0: float, log_h) -> float:
    """log int_{x0}^inf h rho dx in long double, in x: the log integrand probed on a geometric
    grid from x0, Gauss-Legendre panels along the grid and, around its peak, no wider than
    half its scale (from the curvature), halved until two passes agree."""

    def level(x):
        log_h_x, _ = log_h(x)
        with np.errstate(invalid="ignore"):
            v = log_h_x + e.log_rho(x)
        return np.where(np.isnan(v), LD(-np.inf), v)

    top = max(4 * x0, 8 * e.edge + 1000)
    for _ in range(60):
        grid = x0 + np.geomspace(1e-6, top, 1500).astype(LD)
        values = level(grid)
        if values[-1] < np.max(values) - 100:
            break
        top *= 4
    best = int(np.argmax(values))
    top_level = values[best]
    # the scale: how far the log integrand takes to fall by 2 from its peak, on each side
    # (a fine grid between the peak's neighbours first locates the peak itself)
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    fine = np.linspace(lo, hi, 801).astype(LD) if best > 0 else np.linspace(x0, hi, 801).astype(LD)
    fine_values = level(fine)
    k = int(np.argmax(fine_values))
    peak, top_level = float(fine[k]), fine_values[k]
    widths = []
    for direction in (1, -1):
        inside = fine_values[k::direction] if direction > 0 else fine_values[k::-1]
        below = np.nonzero(inside < top_level - 2)[0]
        if below.size:
            widths.append(float(abs(fine[k + direction * below[0]] - fine[k])))
        elif (direction > 0 and k < fine.size - 1) or (direction < 0 and k > 0):
            widths.append(float(abs(fine[-1 if direction > 0 else 0] - fine[k])))
    scale = max(min(widths) if widths else float(hi - lo), 1e-12 * max(peak, 1.0)) / 2
    last = np.nonzero(values > np.max(values) - 100)[0]
    last = int(last[-1]) + 1 if last.size else grid.size - 1
    start = float(x0)
    stop = max(float(grid[min(last, grid.size - 1)]), peak + 80 * scale)
    inside = (grid >= start) & (grid <= stop)
    grid_breaks = _pruned(grid[inside].astype(float), np.asarray(values[inside], dtype=float))
    # gaps of at least min(x / 4, (scale / 2)(1 + |x - peak| / (8 scale))): panels of half the
    # scale at the peak, wider away from it (where the integrand is smaller and as smooth)
    thinned, last = [], -math.inf
    for point in grid_breaks:
        if point - last >= min(0.25 * point, scale / 2 * (1 + abs(point - peak) / (8 * scale))):
            thinned.append(point)
            last = point
    grid_breaks = np.asarray(thinned)
    breaks = np.concatenate(
        [
            grid_breaks,
            np.arange(max(start, peak - 10 * scale), min(stop, peak + 20 * scale), scale / 2),
            [start, stop],
        ]
    )
    log_total, _ = _integrate(
        lambda x: (level(x), np.ones_like(x)), np.unique(breaks), _floor(e, float(breaks.max()))
    )
    return float(log_total)


def _log_above(e: _LOE, x0: float, log_h_ld, log_h_mp) -> float:
    """log int_{x0}^inf h rho dx: in long double (in log form) up to x0 = 1e8, in mpmath by
    Gauss-Laguerre beyond."""
    if not math.isfinite(x0):
        return -math.inf
    if x0 > 1e8:  # beyond, long double loses 1e-19 x0 in the exponent
        return _log_tail_mp(e, x0, log_h_mp)
    return _log_tail_ld(e, x0, log_h_ld)


def _log_typical(n, d, sigma2, eta, T, psi2, lam, reduced=False) -> float:
    m, p = min(n, d), max(n, d)
    if reduced:
        m, p = m - 1, p - 1
        if m == 0:
            return -math.inf
    e = _loe(m, p)
    x_cut = n * (2 / eta - lam)
    t_cut = math.sqrt(x_cut) if math.isfinite(x_cut) else math.sqrt(4 * e.edge + 400)
    t_cut = min(t_cut, math.sqrt(4 * e.edge + 400))  # beyond, rho < e^-edge: nothing left
    t0 = math.sqrt(n / (2 * eta * max(T, 1)))
    log_int, _ = _log_bulk(
        e,
        _log_f_ld(n, sigma2, eta, T, psi2, lam),
        0.0,
        t_cut,
        scales=(t0,),
        floor=100 * float(np.finfo(LD).eps) * T,  # c^T near the cut: T x the error of c
    )
    log_int = float(log_int)
    if reduced:
        return log_int
    zeros = math.log((d - m) * psi2) if d > m else -math.inf
    return float(np.logaddexp(zeros, log_int))


def _log_count(n, d, x_cut) -> float:
    e = _loe(min(n, d), max(n, d))
    zero = lambda x: (np.zeros_like(x), np.ones_like(x))  # noqa: E731
    return _log_above(e, x_cut, zero, lambda x: mpmath.mpf(0))


def _log_divergent(n, d, sigma2, eta, T, psi2, lam) -> float:
    e = _loe(min(n, d), max(n, d))
    x_cut = n * (2 / eta - lam)
    return _log_above(
        e,
        x_cut,
        _log_f_divergent_ld(n, sigma2, eta, T, psi2, lam),
        lambda x: mpmath.log(_f_mp(x / n, n, sigma2, eta, T, psi2, lam)),
    )


def _log_k(n, d, x_cut) -> float:
    m, p = min(n, d), max(n, d)
    with mpmath.workdps(DIGITS):
        a = mpmath.mpf(p - m - 1) / 2
        log_c = (
            mpmath.log(mpmath.pi) / 2
            - mpmath.mpf(m + p - 1) / 2 * mpmath.log(2)
            - mpmath.loggamma(mpmath.mpf(p) / 2)
            - mpmath.loggamma(mpmath.mpf(m) / 2)
        )
        shape = a + m
        return float(
            log_c + shape * mpmath.log(2) + _log_upper_gamma_mp(shape, mpmath.mpf(x_cut) / 2)
        )


def _log_upper_gamma_mp(s, z):
    """log Gamma(s, z) in mpmath: mpmath.gammainc, or where its hypergeometric series gives up
    (s large), Gamma(s) (1 - P(s, z)) by the series of P for z < s + sqrt(s) and Legendre's
    continued fraction beyond."""
    try:
        return mpmath.log(mpmath.gammainc(s, z))
    except mpmath.libmp.NoConvergence:
        pass
    if z < s + mpmath.sqrt(s):
        term = total = 1 / s
        k = 0
        while abs(term) > mpmath.eps * abs(total):
            k += 1
            term *= z / (s + k)
            total += term
        log_p = s * mpmath.log(z) - z - mpmath.loggamma(s) + mpmath.log(total)
        return mpmath.loggamma(s) + mpmath.log(-mpmath.expm1(log_p))
    # Gamma(s, z) = e^{-z} z^s / (z + 1 - s - 1 (1 - s) / (z + 3 - s - ...))
    f = z + 1 - s
    c, d = 1 / mpmath.mpf(10) ** (-mpmath.mp.dps * 4), 1 / f
    h = d
    for i in range(1, 10**6):
        an = -i * (i - s)
        f += 2
        d = 1 / (an * d + f)
        c = f + an / c
        delta = c * d
        h *= delta
        if abs(delta - 1) < mpmath.eps:
            break
    return -z + s * mpmath.log(z) + mpmath.log(h)


def _parts(n, d, sigma2, eta, T, psi2=1.0, lam=0.0) -> dict:
    m = min(n, d)
    x_cut = n * (2 / eta - lam)
    log_typical = _log_typical(n, d, sigma2, eta, T, psi2, lam)
    log_reduced = _log_typical(n, d, sigma2, eta, T, psi2, lam, reduced=True)
    zeros = math.log((d - m) * psi2) if d > m else -math.inf
    log_k = _log_k(n, d, x_cut) if math.isfinite(x_cut) else -math.inf
    log_count = min(0.0, _log_count(n, d, x_cut))
    log_divergent = _log_divergent(n, d, sigma2, eta, T, psi2, lam)
    ln10 = math.log(10)
    log_bound = log_k + float(np.logaddexp(zeros, log_reduced))
    return dict(
        typical=float(np.exp(LD(log_typical))),  # inf beyond the float range
        bound=float(np.exp(LD(log_bound))),
        log10_p=log_count / ln10,
        log10_d=log_divergent / ln10,
        log10_plain=float(np.logaddexp(log_typical, log_divergent)) / ln10,
    )


def _relative(value, exact, tolerance) -> float:
    value, exact = float(value), float(exact)
    if value == exact:
        return 0.0
    if not (math.isfinite(value) and math.isfinite(exact)):
        return math.inf
    return abs(value - exact) / max(tolerance * abs(exact), 1e-320)


def _log_error(value, exact, tolerance) -> float:
    """|value - exact| / (tolerance max(1, |exact|)) for log10 values."""
    value, exact = float(value), float(exact)
    if value == exact:
        return 0.0
    if not (math.isfinite(value) and math.isfinite(exact)):
        return math.inf
    return abs(value - exact) / (tolerance * max(1.0, abs(exact)))


def _compare_parts(kwargs, value) -> float:
    """The worst field: typical and bound relative 1e-8, the log10 fields 1e-8 max(1, |value|)."""
    exact = _parts(**kwargs)
    return max(
        _relative(value.typical, exact["typical"], 1e-8),
        _relative(value.bound, exact["bound"], 1e-8),
        _log_error(value.log10_p_divergent, exact["log10_p"], 1e-8),
        _log_error(value.log10_divergent_part, exact["log10_d"], 1e-8),
        _log_error(value.log10_plain_average, exact["log10_plain"], 1e-8),
    )


# ----------------------------------------------------------------------------------------------
# The references


def _density(s, n, d, beta=1):
    e = _loe(min(n, d), max(n, d))
    values = np.atleast_1d(np.asarray(s, dtype=float))
    with mpmath.workdps(DIGITS):
        out = [float(n * e.rho_mp(n * mpmath.mpf(float(v)), beta)) for v in values.ravel()]
    return np.array(out).reshape(np.shape(s))


register(
    Reference(
        "icl.theory.wishart.wishart_eigenvalue_density",
        "mpmath at 30 digits: the AFNvM form (sum of squares and a rank-one correction) of the "
        "real Wishart one-point density; beta = 2: the sum of squares",
        exact=_density,
        cases=(
            dict(s=np.array([1e-9, 0.5, 1.0, 3.0, 40.0]), n=12, d=10, beta=1),
            dict(s=np.array([0.99, 1.0, 1.002]), n=10**5, d=3, beta=1),  # p large: r_0 stable
            dict(s=np.array([0.2, 4.0, 9.0]), n=256, d=256, beta=1),
            dict(s=np.array([1e-4, 2.0, 30.0]), n=7, d=20, beta=2),
            dict(s=np.array([0.3, 300.0]), n=1, d=1, beta=1),
        ),
    )
)


def _g_ld(g):
    """The drawn function g in long double (its label from the family of icl.theory.wishart)."""
    label, k, c = g.label
    c = LD(c)
    return {
        "s^k": lambda s: s**k,
        "exp(-c s)": lambda s: np.exp(-c * s),
        "c / (s + c)": lambda s: c / (s + c),
        "(1 - c s)^(2k)": lambda s: (1 - c * s) ** (2 * k),
        "1": lambda s: np.ones_like(s),
    }[label]


def _statistic(g, n, d, upper=None, beta=1):
    m, p = min(n, d), max(n, d)
    e = _loe(m, p)
    g_ld = _g_ld(g)
    k = g.label[1]

    def log_h(x):
        v = g_ld(x / LD(n))
        with np.errstate(divide="ignore"):
            return np.log(np.abs(v)), np.sign(v)

    if upper is None:
        t_hi = math.sqrt(4 * e.edge + 400 + 200 * k + 4 * n * k)
    else:
        t_hi = math.sqrt(n * upper)
    log_int, sign = _log_bulk(e, log_h, 0.0, t_hi, beta=beta)
    zeros = (d - m) * float(g_ld(np.zeros(1, dtype=LD))[0]) if d > m else 0.0
    integral = sign * math.exp(float(log_int)) if np.isfinite(log_int) else 0.0
    return zeros + integral


def _label(label, k, c):
    from icl.theory.wishart import _G_FAMILY

    make = dict(_G_FAMILY)[label]
    g = make(k, c)
    g.label = (label, k, c)
    return g


register(
    Reference(
        "icl.theory.wishart.wishart_linear_statistic",
        "the AFNvM density in 80-bit long double (constants from mpmath), Gauss-Legendre panels "
        "laid out from the bulk's known extent, halved to 1e-13",
        exact=_statistic,
        cases=(
            dict(g=_label("s^k", 4, 1.0), n=12, d=10, upper=None, beta=1),
            dict(g=_label("s^k", 4, 1.0), n=12, d=10, upper=None, beta=2),
            dict(g=_label("c / (s + c)", 0, 1 / 12), n=12, d=10, upper=None, beta=1),
            dict(g=_label("1", 0, 1.0), n=12, d=10, upper=5.0, beta=1),
            dict(g=_label("exp(-c s)", 0, 50.0), n=10**6, d=200, upper=None, beta=1),
            dict(g=_label("s^k", 2, 1.0), n=256, d=256, upper=None, beta=1),
        ),
    )
)

_GD_CASES = (
    # issue 22, defect 11: sigma2 = 0 and large T was refused (true value 1.3e-106)
    dict(n=128, d=32, sigma2=0.0, eta=0.1, T=100_000, psi2=1.0),
    # tiny steps: a RuntimeError at 1e-8, an IndexError at 1e-20 (answer near psi2 d)
    dict(n=128, d=32, sigma2=0.0, eta=1e-8, T=100, psi2=1.0),
    dict(n=20, d=5, sigma2=0.25, eta=1e-20, T=3, psi2=1.0),
    dict(n=12, d=10, sigma2=1.0, eta=0.2, T=300, psi2=1.0),
    dict(n=10**6, d=3, sigma2=0.5, eta=0.5, T=10**6, psi2=2.0),
)

register(
    Reference(
        "icl.theory.wishart.gd_risk_parts",
        "each field independently: L_T and L'_T by the AFNvM density in long double, "
        "E #{x > cut} and D_T in log form (long double, or mpmath by Gauss-Laguerre beyond "
        "1e15), K by mpmath.gammainc; typical and bound to 1e-8 relative, the log10 fields to "
        "1e-8 max(1, |value|)",
        compare=_compare_parts,
        cases=(
            *(dict(c, lam=0.0) for c in _GD_CASES[:3]),
            dict(n=12, d=10, sigma2=1.0, eta=1 / 16, T=480, psi2=1.0, lam=1 / 12),  # Chapter 3
            dict(n=8, d=5, sigma2=0.5, eta=0.1, T=1000, psi2=1.0, lam=0.25),  # Chapter 8
        ),
    )
)


def _expected(n, d, sigma2, eta, T, psi2=1.0):
    return float(np.exp(LD(_log_typical(n, d, sigma2, eta, T, psi2, 0.0))))


register(
    Reference(
        "icl.theory.wishart.expected_gd_risk",
        "L_T by the AFNvM density in long double (constants from mpmath), Gauss-Legendre panels "
        "laid out from the known scales (near 0: sqrt(n / (2 eta T)); the bulk; the cut)",
        exact=_expected,
        cases=_GD_CASES,
    )
)


def _compare_parting(kwargs, value) -> float:
    """0 if D_T >= L_T at the returned T and not at T - 1 (by the reference's L_T and D_T), else
    inf; a tie within 1e-9 counts as either."""
    n, d, sigma2, eta = kwargs["n"], kwargs["d"], kwargs["sigma2"], kwargs["eta"]
    psi2, lam = kwargs.get("psi2", 1.0), kwargs.get("lam", 0.0)

    def margin(T):  # log D_T - log L_T
        return _log_divergent(n, d, sigma2, eta, T, psi2, lam) - _log_typical(
            n, d, sigma2, eta, T, psi2, lam
        )

    if not isinstance(value, int) or value < 1:
        return math.inf
    at = margin(value)
    before = margin(value - 1) if value > 1 else -math.inf
    tie = 1e-9
    return 0.0 if at >= -tie and before <= tie else math.inf


register(
    Reference(
        "icl.theory.wishart.gd_parting_steps",
        "the defining property, D_T >= L_T at the returned T and D_{T-1} < L_{T-1}, by the "
        "reference's L_T and D_T",
        compare=_compare_parting,
        cases=(
            dict(n=12, d=10, sigma2=1.0, eta=0.2, psi2=1.0, lam=0.0),
            dict(n=30, d=50, sigma2=0.1, eta=0.03, psi2=1.0, lam=1 / 30),
            dict(n=8, d=5, sigma2=0.5, eta=0.1, psi2=1.0, lam=0.25),
        ),
    )
)


def _laplace(n, d, sigma2, eta, T, psi2=1.0, lam=0.0):
    m, p = min(n, d), max(n, d)
    with mpmath.workdps(DIGITS):
        n_, eta_, lam_ = mpmath.mpf(n), mpmath.mpf(eta), mpmath.mpf(lam)
        alpha, a = p - m, mpmath.mpf(p - m - 1) / 2
        k = n_ / (2 * eta_)
        x_star = n_ / eta_ * (1 + 4 * eta_ * T / n_) - n_ * lam_
        s = x_star / n_
        log_c = (
            mpmath.log(mpmath.pi) / 2
            - mpmath.mpf(m + p - 1) / 2 * mpmath.log(2)
            - mpmath.loggamma(mpmath.mpf(p) / 2)
            - mpmath.loggamma(mpmath.mpf(m) / 2)
        )
        laguerre = mpmath.factorial(m - 1) * abs(mpmath.laguerre(m - 1, alpha, x_star))
        log_h = (
            a * mpmath.log(x_star)
            + mpmath.log(laguerre)
            + mpmath.log((psi2 * s**2 + mpmath.mpf(sigma2) * s / n_) / (s + lam_) ** 2)
        )
        log_d = (
            log_c
            + mpmath.log(n_ / eta_)
            - k
            + n_ * lam_ / 2
            + mpmath.loggamma(2 * T + 1)
            - (2 * T + 1) * mpmath.log(k)
            + log_h
        )
        return float(log_d / mpmath.log(10))


def _compare_laplace(kwargs, value) -> float:
    return _log_error(value, _laplace(**kwargs), 1e-10)


register(
    Reference(
        "icl.theory.wishart.gd_divergent_part_laplace",
        "the closed form in mpmath at 30 digits (mpmath.laguerre for L_{m-1}^(alpha)); within "
        "1e-10 max(1, |value|)",
        compare=_compare_laplace,
        cases=(
            dict(n=12, d=10, sigma2=1.0, eta=0.2, T=300, psi2=1.0, lam=0.0),
            dict(n=30, d=50, sigma2=1 / 30, eta=0.03, T=1000, psi2=1.0, lam=0.0),
            dict(n=256, d=256, sigma2=0.0, eta=0.01, T=10**6, psi2=1.0, lam=0.5),
        ),
    )
)


def _marchenko_pastur(n, d, sigma2, eta, T, psi2=1.0):
    """d int f_T dMP + (d - n)^+ psi2, in long double over theta with s = (a + b)/2 -
    (b - a)/2 cos theta, Gauss-Legendre panels geometric towards both ends."""
    gamma = LD(d) / LD(n)
    lo = (LD(n - d) / LD(n) / (1 + np.sqrt(gamma))) ** 2
    half = 2 * np.sqrt(gamma)
    log_f = _log_f_ld(n, sigma2, eta, T, psi2, 0.0)

    def integrand(theta):
        s = lo + 2 * half * np.sin(theta / 2) ** 2
        log_value, _ = log_f(s * LD(n))
        with np.errstate(divide="ignore"):
            v = log_value + 2 * np.log(half * np.sin(theta)) - np.log(2 * LD(math.pi) * gamma * s)
        return np.where(np.isnan(v), LD(-np.inf), v), np.ones_like(theta)

    ends = [math.pi / 2 * 1.5**-k for k in range(120)]
    breaks = np.unique(
        np.concatenate([ends, [math.pi - v for v in ends], np.linspace(0, math.pi, 129)])
    )
    log_int, _ = _integrate(integrand, breaks)
    integral = math.exp(float(log_int)) if np.isfinite(log_int) else 0.0
    return d * integral + max(d - n, 0) * psi2


register(
    Reference(
        "icl.theory.wishart.expected_gd_risk_marchenko_pastur",
        "the Marchenko-Pastur integral in long double, Gauss-Legendre panels in theta "
        "geometric towards both edges, halved to 1e-13",
        exact=_marchenko_pastur,
        cases=(
            dict(n=12, d=10, sigma2=1.0, eta=0.1, T=50, psi2=1.0),
            dict(n=10, d=10, sigma2=0.0, eta=0.49, T=10**6, psi2=1.0),  # gamma = 1: edge at 0
            dict(n=10**12, d=1, sigma2=1.0, eta=1.0, T=10**6, psi2=1.0),
            dict(n=5, d=20, sigma2=0.0, eta=0.05, T=0, psi2=3.0),
        ),
    )
)
