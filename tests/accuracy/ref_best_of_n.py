"""References for :mod:`icl.theory.best_of_n`, independent of its exponential clock, its noncentral
chi-square quadrature and its Gaussian-score form.

- The maximum M of N standard normals: E M and Var M by mpmath quadrature (30 digits) of the
  density N phi Phi^(N-1), on intervals cut at its quantiles Phi(z)^N in {1e-40, ..., 1 - 1e-40}.
- The nearest of N normals to t: g_N(t) = int 2 r S(r)^N dr and h_N(t) = int N r S(r)^(N-1)
  (phi(t + r) - phi(t - r)) dr in mpmath, S(r) = P(|Z - t| > r) in erf/erfc form at the working
  precision that keeps its digits (tiny r: up to 120 digits), on intervals cut at the quantiles
  of the distance (found by bisection in mpmath). Where the nearest is the maximum to far below
  the float resolution (log N + log Q(|t|) < -120, against -80 in the package), the exact
  identities g = Var M + (|t| - E M)^2, h = sign(t) (E M - |t|).
- The minimum of N noncentral chi-square scores chi'^2_d(lambda): E min U = int (1 - F)^N du and
  its derivative in lambda (which is kappa_N of the norm reward: the envelope theorem gives
  d E min ||m + tau xi||^2 / d ||m||^2 = E <w_sel, m> / ||m||^2). For lambda <= 200 by the Poisson
  mixture of regularised gamma functions in mpmath (F_d(u) = sum_j p_j P(d/2 + j, u/2), and
  dF_d/d lambda = (F_(d+2) - F_d) / 2); above, given C = ||xi_perp||^2 ~ chi^2_(d-1),
  F(u) = E_C[Phi(sqrt(u - C) - sqrt(lambda)) - Phi(-sqrt(u - C) - sqrt(lambda))] in mpmath, E_C
  by the 32-point generalised Gauss-Laguerre rule of chi^2_(d-1) (nodes refined in mpmath), s
  by 16-point Gauss-Legendre rules between breakpoints around the minimum's bump (20 digits); the
  two agree to 1e-14 where both serve (``tests/theory/test_best_of_n.py``). The norm reward's
  risk needs tr Cov of the selected candidate's noise without the cancellation of E min U -
  kappa^2 lambda at large lambda: there the selected candidate's moments are integrated directly
  over its density (``selected_mp``).
- The prompt average in d = 1: a quadrature over the marginal law of the standardised centre t
  (a scale mixture of normals) with g_N and h_N by the package's clock (checked above), instead of
  the package's product rule over (Q, u) with interpolated tables; N = 1 exactly.
- Closed forms (the Gaussian approximations, the asymptote) in mpmath at 30 digits; the N -> inf
  limits in exact rational arithmetic.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import mpmath as mp
import numpy as np
from scipy import special, stats

from icl.theory.best_of_n import _max_moments, _nearest_stats
from tests.accuracy import Reference, register

DIGITS = 30
MODULE = "icl.theory.best_of_n"


# --- the maximum of N normals ---


def _log_cdf(z):
    """log Phi(z) in mpmath, accurate in both tails."""
    return mp.log1p(-mp.ncdf(-z)) if z > 0 else mp.log(mp.ncdf(z))


_GL = {order: np.polynomial.legendre.leggauss(order) for order in (16, 24)}


def _gauss(f, points, order: int = 24) -> list:
    """Sums of f over Gauss-Legendre rules (16 or 24 nodes) on the intervals between ``points``
    (floats): f returns a tuple of mpmath values; returns the tuple of integrals."""
    total = None
    for a, b in zip(points[:-1], points[1:], strict=True):
        half, mid = (mp.mpf(b) - mp.mpf(a)) / 2, (mp.mpf(a) + mp.mpf(b)) / 2
        for x, w in zip(*_GL[order], strict=True):
            values = f(mid + half * mp.mpf(float(x)))
            weight = half * mp.mpf(float(w))
            total = (
                [weight * v for v in values]
                if total is None
                else [acc + weight * v for acc, v in zip(total, values, strict=True)]
            )
    return total


def _max_points(n_samples: int) -> list[float]:
    """Breakpoints for the maximum's density: its quantiles Phi(z)^N = q (float64, from
    ``scipy.special.ndtri_exp``), q from 1e-60 to 1 - 1e-60, 16 intervals."""
    log_q = np.concatenate(
        [
            np.log([1e-60, 1e-30, 1e-15, 1e-8, 1e-4, 1e-2, 0.1, 0.3, 0.5, 0.7, 0.9]),
            np.log1p(-np.array([1e-2, 1e-4, 1e-8, 1e-15, 1e-30, 1e-60])),
        ]
    )
    return sorted(set(special.ndtri_exp(log_q / n_samples).tolist()))


@lru_cache(maxsize=256)
def max_moments_mp(n_samples: int) -> tuple:
    """(E M, Var M) for M the maximum of N standard normals: 24-point Gauss-Legendre rules in
    mpmath (30 digits) on the intervals between the maximum's quantiles."""
    with mp.workdps(DIGITS):
        if n_samples == 1:
            return mp.mpf(0), mp.mpf(1)
        N = mp.mpf(n_samples)

        def density(z):
            return N * mp.npdf(z) * mp.exp((N - 1) * _log_cdf(z))

        def moments(z):
            p = density(z)
            return p, z * p, z * z * p

        mass, first, second = _gauss(moments, _max_points(n_samples))
        mean = first / mass
        return mean, second / mass - mean**2  # at 30 digits: Var M >= 1e-2 keeps 27 of them


def emin_mp(n_samples: int):
    """E min of N standard normals (= -E M)."""
    return -max_moments_mp(n_samples)[0]


# --- the nearest of N normals to t ---


def _inside(t, r):
    """P(|Z - t| <= r) for t >= 0, r > 0, at a precision that keeps its relative digits."""
    extra = int(max(0, -mp.log10(r))) + 10 if r < 1 else 10
    with mp.workdps(DIGITS + extra):
        root2 = mp.sqrt(2)
        if t >= r:
            return (mp.erfc((t - r) / root2) - mp.erfc((t + r) / root2)) / 2
        return (mp.erf((t + r) / root2) - mp.erf((t - r) / root2)) / 2


def _log_survival(t, r):
    """log S(r) = log P(|Z - t| > r)."""
    p = _inside(t, r)
    if p < mp.mpf("0.5"):
        return mp.log1p(-p)
    root2 = mp.sqrt(2)
    return mp.log((mp.erfc((r - t) / root2) + mp.erfc((r + t) / root2)) / 2)


def _distance_points(n_samples: int, t: float) -> list[float]:
    """Breakpoints for the distance R to the nearest sample: r with -N log S(r) = x for x from
    1e-30 to 60 (float64 bisection in log r, S from erfc, or 1 - 2 r phi(t) for tiny r), 0, and
    t + 15."""
    xs = np.array([1e-30, 1e-15, 1e-8, 1e-4, 1e-2, 0.1, 0.4, 1, 2, 4, 8, 16, 60])
    lo, hi = np.full(len(xs), -200.0), np.full(len(xs), math.log(t + 15))
    for _ in range(100):
        mid = (lo + hi) / 2
        r = np.exp(mid)
        with np.errstate(divide="ignore"):
            p = np.where(
                r <= t,
                (special.erfc((t - r) / math.sqrt(2)) - special.erfc((t + r) / math.sqrt(2))) / 2,
                (special.erf((t + r) / math.sqrt(2)) - special.erf((t - r) / math.sqrt(2))) / 2,
            )
            # where the difference cancels, its leading term 2 r phi(t) (e^(t r) at most)
            small = r * (t + r) < 1e-3
            p = np.where(small, 2 * r * np.exp(-t * t / 2) / math.sqrt(2 * math.pi), p)
            rate = -n_samples * np.log1p(-np.minimum(p, 1.0))
        below = rate < xs
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return sorted({0.0, *np.exp(lo).tolist(), t + 15.0})


def _extreme(n_samples: int, t) -> bool:
    """Whether the nearest of N normals to t >= 0 is their maximum up to e^-120 (always beyond t =
    50, where log Q(t) < -1200, for N <= 1e18)."""
    return t > 50 or mp.log(n_samples) + mp.log(mp.ncdf(-t)) < -120


def nearest_mp(n_samples: int, t: float) -> tuple:
    """(g_N(t), h_N(t)) in mpmath at 30 digits: 24-point Gauss-Legendre rules on the intervals
    between the quantiles of the distance."""
    with mp.workdps(DIGITS):
        sign, t_ = (1 if t >= 0 else -1), abs(mp.mpf(t))
        if _extreme(n_samples, t_):
            mean, var = max_moments_mp(n_samples)
            return var + (t_ - mean) ** 2, sign * (mean - t_)
        N = n_samples

        def integrands(r):
            log_s = _log_survival(t_, r)
            with mp.workdps(DIGITS + 10):
                difference = mp.npdf(t_ - r) * mp.expm1(-2 * t_ * r)  # phi(t + r) - phi(t - r)
            return 2 * r * mp.exp(N * log_s), N * r * mp.exp((N - 1) * log_s) * difference

        g, h = _gauss(integrands, _distance_points(n_samples, abs(float(t))))
        return g, sign * h


def _g_reference(n_samples, t):
    values = [nearest_mp(n_samples, float(x))[0] for x in np.ravel(t)]
    return np.array([float(v) for v in values]).reshape(np.shape(t))


def _h_reference(n_samples, t):
    values = [nearest_mp(n_samples, float(x))[1] for x in np.ravel(t)]
    return np.array([float(v) for v in values]).reshape(np.shape(t))


def _risk_1d_reference(n_samples, tau, mean, center, target):
    """tau^2 g + 2 tau delta h + delta^2 at 60 digits (exact inputs); where the nearest is the
    maximum, (m - w* + tau sign(t) E M)^2 + tau^2 Var M (Z_sel = sign(t) M exactly)."""
    m, c, w = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (mean, center, target)))
    out = []
    for mi, ci, wi in zip(m.ravel(), c.ravel(), w.ravel(), strict=True):
        with mp.workdps(60):
            tau_, m_, c_, w_ = (mp.mpf(float(v)) for v in (tau, mi, ci, wi))
            t = (c_ - m_) / tau_
            if _extreme(n_samples, abs(t)):
                mean_max, var_max = max_moments_mp(n_samples)
                out.append((m_ - w_ + tau_ * mp.sign(t) * mean_max) ** 2 + tau_**2 * var_max)
            else:
                g, h = nearest_mp(n_samples, t)
                delta = c_ - w_
                out.append(tau_**2 * g + 2 * tau_ * delta * h + delta**2)
    return np.array([float(v) for v in out]).reshape(m.shape)


# --- the minimum of N noncentral chi-square scores ---

_POISSON_LAMBDA = 200


def _poisson_minimum(n_samples: int, d: int, lam) -> tuple:
    """(E min U, d E min U / d lambda) for U ~ chi'^2_d(lambda), lambda <= 200: the Poisson mixture
    of regularised gamma functions, integrated in v = log u around the bump of the minimum."""
    d, lam = mp.mpf(d), mp.mpf(lam)
    terms = int(lam / 2 + 12 * mp.sqrt(lam / 2 + 1) + 30) if lam > 0 else 1
    poisson = [
        mp.exp(-lam / 2 + j * mp.log(lam / 2) - mp.loggamma(j + 1)) if lam > 0 else mp.mpf(1)
        for j in range(terms)
    ]

    def parts(u):
        """log P(U > u) and -dF/dlambda = sum_j p_j g(a + j) / 2, g(a) = x^a e^-x / Gamma(a + 1):
        P(a, x) = P(a + 1, x) + g(a) summed down from the last term (Q(a + 1, x) = Q(a, x) + g(a)
        up from the first for the upper tail)."""
        x, a = u / 2, d / 2
        last = a + terms - 1
        g = mp.exp(last * mp.log(x) - x - mp.loggamma(last + 1))
        p = mp.gammainc(last, 0, x, regularized=True)
        lower, slope = poisson[-1] * p, poisson[-1] * g
        for j in range(terms - 2, -1, -1):
            g *= (a + j + 1) / x
            p += g
            lower += poisson[j] * p
            slope += poisson[j] * g
        if lower < 0.5:
            return mp.log1p(-lower), slope / 2
        g = mp.exp(a * mp.log(x) - x - mp.loggamma(a + 1))
        q = mp.gammainc(a, x, mp.inf, regularized=True)
        upper = poisson[0] * q
        for j in range(1, terms):
            q += g
            g *= x / (a + j)
            upper += poisson[j] * q
        return mp.log(upper), slope / 2

    N = n_samples
    lo, hi = mp.mpf(-700), mp.log(d + lam + 10)
    for _ in range(40):  # v0 with N P(U <= e^v0) = 1: the bump of the integrand in v
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if -N * parts(mp.exp(mid))[0] > 1 else (mid, hi)
    top = mp.log(d + lam + 40 * mp.sqrt(2 * (d + 2 * lam)) + 100)
    # the bump's width in v: 2 / d from the lower tail F ~ u^(d/2), at most sd / mean and 1
    width = min(1.0, 2.0 / float(d), float(mp.sqrt(2 * (d + 2 * lam)) / (d + lam)))
    steps = (0, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)
    points = {float(lo + k) for k in (-60, -30, -10, -5, -3, -2, -1, -0.5)}
    points |= {float(lo + sign * k * width) for k in steps for sign in (-1, 1)}
    points = sorted({p for p in points if lo - 61 < p < top} | {float(top)})

    def integrands(v):
        log_sf, slope = parts(mp.exp(v))
        return mp.exp(v + N * log_sf), mp.exp(v + (N - 1) * log_sf) * N * slope

    return tuple(_gauss(integrands, points, order=16))


_CHI_NODES = 32


@lru_cache(maxsize=64)
def _chi_rule(k: int) -> tuple:
    """Nodes c and weights (mpmath, 30 digits, summing to 1) of the 32-point Gauss rule for C ~
    chi^2_k: the generalised Laguerre rule of the weight c^(k/2 - 1) e^(-c/2), its nodes (from the
    float64 eigenvalues of the Jacobi matrix) refined by Newton's method on L_32^(a)(c/2) by the
    three-term recurrence in mpmath, weights 1 / (x L'(x)^2) normalised; the nodes of weight below
    1e-22 are left out."""
    from scipy import linalg

    n = _CHI_NODES
    i = np.arange(n)
    with mp.workdps(DIGITS):
        a = mp.mpf(k) / 2 - 1
        guesses = linalg.eigh_tridiagonal(
            2.0 * i + float(a) + 1.0, np.sqrt(i[1:] * (i[1:] + float(a))), eigvals_only=True
        )

        def laguerre(x):
            """L_n^(a)(x) and its derivative, by L_(j+1) = ((2j + 1 + a - x) L_j - (j + a) L_(j-1))
            / (j + 1) and x L_n' = n L_n - (n + a) L_(n-1)."""
            previous, current = mp.mpf(1), 1 + a - x
            for j in range(1, n):
                previous, current = (
                    current,
                    ((2 * j + 1 + a - x) * current - (j + a) * previous) / (j + 1),
                )
            return current, (n * current - (n + a) * previous) / x

        nodes, weights = [], []
        for guess in guesses:
            x = mp.mpf(float(guess))
            for _ in range(8):
                value, slope = laguerre(x)
                x -= value / slope
            slope = laguerre(x)[1]
            nodes.append(2 * x)
            weights.append(1 / (x * slope**2))
        total = mp.fsum(weights)
        # nodes of weight below 1e-22 change no sum of terms in [0, 1] by more than that
        kept = [(c, w / total) for c, w in zip(nodes, weights, strict=True) if w / total > 1e-22]
        return tuple(c for c, _ in kept), tuple(w for _, w in kept)


def _far_tail(x) -> tuple:
    """(Phi(-x), phi(x)) for x = a + sqrt(lambda) > 0: 0 beyond x = 60 (below 1e-780, far under the
    other terms; mpmath would spend milliseconds on exp(-x^2 / 2) at x ~ 1e100)."""
    if x > 60:
        return mp.mpf(0), mp.mpf(0)
    return mp.ncdf(-x), mp.npdf(x)


def _score_points(n_samples: int, d: int, lam) -> tuple:
    """s_lo and breakpoints in s = (u - lambda) / (2 sqrt(lambda)) around the minimum's bump: S >=
    xi_1, so P(S <= s_lo) <= 1e-25 / N at s_lo = Phi^-1(1e-25 / N); the bump at S = xi + eps
    (xi^2 + C) with xi = e_N (the expected minimum of N normals) and C = d - 1 (its mean), of width
    w = 1 / sqrt(2 log N) (the spread of a minimum of N normals), breakpoints at multiples of w up
    to 24 w from it; above 12 + eps (150 + the 1e-25 quantile of C) nothing is left."""
    eps = 1 / (2 * mp.sqrt(lam))
    s_lo = float(special.ndtri(1e-25 / n_samples))
    c_top = 0 if d == 1 else float(stats.chi2.isf(1e-25, d - 1))
    s_hi = float(12 + eps * (150 + c_top))
    low = emin_mp(n_samples)
    centre = float(low + eps * (low**2 + d - 1))
    width = 1 / max(1.0, math.sqrt(2 * math.log(n_samples)))
    offsets = (0, 1, 2, 3, 4, 6, 8, 12, 24)
    points = {centre + sign * k * width for k in offsets for sign in (-1, 1)}
    points = sorted({s_lo, s_hi} | {p for p in points if s_lo < p < s_hi})
    return mp.mpf(s_lo), points


def _conditional_minimum(n_samples: int, d: int, lam) -> tuple:
    """(E min U, d E min U / d lambda) for lambda > 200, given C: F(u) = E_C[Phi(a - sqrt(lambda)) -
    Phi(-a - sqrt(lambda))], a = sqrt(u - C), dF/dlambda = -E_C[phi(a - sqrt(lambda)) - phi(a +
    sqrt(lambda))] / (2 sqrt(lambda)); integrated over s, u = lambda + 2 sqrt(lambda) s."""
    root = mp.sqrt(lam)
    nodes, weights = ((mp.mpf(0),), (mp.mpf(1),)) if d == 1 else _chi_rule(d - 1)
    N = n_samples

    def parts(s):
        """log P(U > u) and -sqrt(lambda) dF/dlambda at u = lambda + 2 sqrt(lambda) s, with a -
        sqrt(lambda) = q / (a + sqrt(lambda)), q = u - C - lambda (no loss of digits at huge
        lambda)."""
        below, above, slope = mp.mpf(0), mp.mpf(0), mp.mpf(0)
        for c, w in zip(nodes, weights, strict=True):
            q = 2 * root * s - c
            if lam + q <= 0:  # C > u: U > u surely
                above += w
                continue
            a = mp.sqrt(lam + q)
            low = q / (a + root)  # a - sqrt(lambda)
            far = _far_tail(a + root)
            below += w * (mp.ncdf(low) - far[0])
            above += w * (mp.ncdf(-low) + far[0])
            slope += w * (mp.npdf(low) - far[1])
        log_above = mp.log1p(-below) if below < 0.5 else mp.log(above)
        return log_above, slope  # dF/dlambda du = -slope ds

    s_lo, points = _score_points(N, d, lam)

    def integrands(s):
        log_above, slope = parts(s)
        return mp.exp(N * log_above), N * mp.exp((N - 1) * log_above) * slope

    survival, slope_total = _gauss(integrands, points, order=16)
    return lam + 2 * root * (s_lo + survival), slope_total


@lru_cache(maxsize=512)
def minimum_mp(n_samples: int, d: int, lam: float) -> tuple:
    """(E min U, d E min U / d lambda) for N i.i.d. U ~ chi'^2_d(lambda), mpmath at 20 digits."""
    with mp.workdps(20):
        if lam > _POISSON_LAMBDA:
            return _conditional_minimum(n_samples, d, mp.mpf(lam))
        return _poisson_minimum(n_samples, d, lam)


def _counts_list(n_samples) -> list[int]:
    return [int(v) for v in np.atleast_1d(n_samples)]


def _shape_out(n_samples, values: np.ndarray, shape) -> np.ndarray | float:
    out = values.reshape((len(_counts_list(n_samples)), *shape))
    if np.ndim(n_samples) == 0:
        out = out[0]
    return out


def _oracle_reference(n_samples, tau, bias2, d):
    b = np.asarray(bias2, dtype=float)
    out = []
    for N in _counts_list(n_samples):
        for bi in b.ravel():
            with mp.workdps(DIGITS):
                tau_, b_ = mp.mpf(float(tau)), mp.mpf(float(bi))
                lam = b_ / tau_**2
                if lam > mp.mpf(10) ** 300:  # tau^2 U = b + 2 tau sqrt(b) S, S -> xi
                    out.append(b_ + 2 * tau_ * mp.sqrt(b_) * emin_mp(N))
                    continue
                value, _ = minimum_mp(N, d, float(lam) if lam < 1e300 else 1e300)
                out.append(tau_**2 * value)
    return _shape_out(n_samples, np.array([float(v) for v in out]), b.shape)


@lru_cache(maxsize=512)
def selected_mp(n_samples: int, d: int, lam: float) -> tuple:
    """For lambda > 200: E xi_1, Var xi_1 and E C of the selected (smallest-score) candidate, C =
    ||xi_perp||^2, in mpmath at 20 digits. With S = (U - lambda) / (2 sqrt(lambda)) = xi_1 + (xi_1^2
    + C) / (2 sqrt(lambda)), given C = c the event S = s has xi_1 = xi+(s, c) (the other root lies
    below -sqrt(lambda) < -14: left out), density phi(xi+) / sqrt(1 + 4 eps (s - eps c)); the
    selected one has density N P(S > s)^(N-1) at s. Moments about the running ones, no
    cancellation."""
    with mp.workdps(20):
        lam_ = mp.mpf(lam)
        root = mp.sqrt(lam_)
        nodes, weights = ((mp.mpf(0),), (mp.mpf(1),)) if d == 1 else _chi_rule(d - 1)
        N = n_samples
        _, points = _score_points(N, d, lam_)

        def integrands(s):
            below, above = mp.mpf(0), mp.mpf(0)
            mass, first, second, chi = (mp.mpf(0),) * 4
            for c, w in zip(nodes, weights, strict=True):
                q = 2 * root * s - c
                if lam_ + q <= 0:
                    above += w
                    continue
                a = mp.sqrt(lam_ + q)
                xi = q / (a + root)  # a - sqrt(lambda), the upper root
                far = _far_tail(a + root)[0]
                below += w * (mp.ncdf(xi) - far)
                above += w * (mp.ncdf(-xi) + far)
                density = w * mp.npdf(xi) * root / a  # d xi / d s = sqrt(lambda) / a
                mass += density
                first += density * xi
                second += density * xi * xi
                chi += density * c
            log_above = mp.log1p(-below) if below < 0.5 else mp.log(above)
            weight = N * mp.exp((N - 1) * log_above)
            return weight * mass, weight * first, weight * second, weight * chi

        mass, first, second, chi = _gauss(integrands, points, order=16)
        mean = first / mass
        return mean, second / mass - mean**2, chi / mass


def _shrinkage_mp(N, d, tau, norm):
    """kappa_N: d E min U / d lambda (lambda <= 200; no 1 subtracted and added back, which would
    lose its digits where kappa_N is tiny), else 1 + 2 eps E xi_1 of the selected."""
    with mp.workdps(DIGITS):
        lam = (mp.mpf(float(norm)) / mp.mpf(float(tau))) ** 2
        if lam > mp.mpf(10) ** 300:
            return 1 + emin_mp(N) / mp.sqrt(lam)
        if lam > _POISSON_LAMBDA:
            return 1 + selected_mp(N, d, float(lam))[0] / mp.sqrt(lam)
        return minimum_mp(N, d, float(lam))[1]


def _shrinkage_reference(n_samples, tau, mean_norm, d):
    norms = np.asarray(mean_norm, dtype=float)
    out = [
        float(_shrinkage_mp(N, d, tau, v)) for N in _counts_list(n_samples) for v in norms.ravel()
    ]
    return _shape_out(n_samples, np.array(out), norms.shape)


def _norm_risk_reference(n_samples, tau, mean, target):
    """||m - w* + (kappa_N - 1) m||^2 + tau^2 tr Cov(xi_sel) at 30 digits: for lambda <= 200 tr Cov
    = E min U - kappa_N^2 lambda (the Poisson reference and its derivative), above Var xi_1 + E C of
    the selected (``selected_mp``), beyond lambda = 1e300 the selection by xi_1 alone."""
    m = np.asarray(mean, dtype=float)
    w = np.asarray(target, dtype=float)
    d = m.shape[-1]
    out = []
    for N in _counts_list(n_samples):
        for mi, wi in zip(m.reshape(-1, d), w.reshape(-1, d), strict=True):
            with mp.workdps(DIGITS):
                mm = [mp.mpf(float(v)) for v in mi]
                ww = [mp.mpf(float(v)) for v in wi]
                tau_ = mp.mpf(float(tau))
                lam = mp.fsum(v * v for v in mm) / tau_**2
                shrink = _shrinkage_mp(N, d, tau, float(mp.sqrt(lam) * tau_))
                if lam > mp.mpf(10) ** 300:
                    spread = max_moments_mp(N)[1] + d - 1
                elif lam > _POISSON_LAMBDA:
                    _, var, chi = selected_mp(N, d, float(lam))
                    spread = var + chi
                else:
                    value, slope = minimum_mp(N, d, float(lam))
                    spread = value - slope**2 * lam
                bias = mp.fsum((shrink * a - b) ** 2 for a, b in zip(mm, ww, strict=True))
                out.append(bias + tau_**2 * spread)
    return _shape_out(n_samples, np.array([float(v) for v in out]), m.shape[:-1])


# --- the prompt average in d = 1 ---


def _gl(edges: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(order)
    half = (edges[1:] - edges[:-1]) / 2
    x = ((edges[1:] + edges[:-1]) / 2)[:, None] + half[:, None] * nodes
    return x.ravel(), (half[:, None] * weights).ravel()


def averaged_risk(N, tau, n, sigma2, eta, reward, psi2=1.0, T=16.0, order=12) -> float:
    """E over prompts of the d = 1 risk: Q-rule (log s, chi^2_n quantiles 1e-18) times, for |t| <=
    T, the centre's marginal law on a t-rule (12-point Gauss-Legendre on panels of width 1 in log t
    from 1e-9 of the smallest scale to 1, then of width 0.5 to T) with the clock's g_N, h_N; for
    |t| > T the nearest is the extreme candidate and the risk E[(a + tau sign(t) M)^2] is a
    Gaussian tail moment."""
    x_lo, x_hi = np.log(stats.chi2.ppf(1e-18, n)), np.log(stats.chi2.isf(1e-18, n))
    width = min(0.2, 0.5 * math.sqrt(2.0 / n))  # log Q has sd ~ sqrt(2 / n)
    x, wx = _gl(np.linspace(x_lo, x_hi, int(np.ceil((x_hi - x_lo) / width)) + 1), order)
    s = np.exp(x)
    ws = wx * np.exp(stats.chi2.logpdf(s, n) + x)
    ws /= ws.sum()  # scipy's chi^2 log-density is off by a constant ~1e-10 at n ~ 1e6
    sig = math.sqrt(sigma2)
    alpha = np.stack([eta * s / n - 1.0, eta * sig * np.sqrt(s) / n])
    theta = {
        "oracle": -alpha,
        "in-context loss": (1 / s - eta / n) * np.stack([s, sig * np.sqrt(s)]),
        "norm": -(eta / n) * np.stack([s, sig * np.sqrt(s)]),
    }[reward]
    beta = np.zeros_like(alpha) if reward == "oracle" else alpha + theta
    scale = np.array([psi2, 1.0])[:, None]
    spread = np.sqrt((scale * theta**2).sum(0))
    sd = spread / tau
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.where(spread > 0, (scale * beta * theta).sum(0) / spread, 0.0)
        gamma_a = np.where(spread > 0, (scale * alpha * theta).sum(0) / spread, 0.0)
        edge = np.where(sd > 0, T / sd, np.inf)
    rest = (scale * beta**2).sum(0) - gamma**2
    rest_a = (scale * alpha**2).sum(0) - gamma_a**2
    q = special.ndtr(-edge)
    pdf = np.where(np.isfinite(edge), np.exp(-(edge**2) / 2) / math.sqrt(2 * math.pi), 0.0)
    edge_pdf = np.where(np.isfinite(edge), edge * pdf, 0.0)
    mean_max, var_max = _max_moments(N)
    total = (ws * (gamma**2 * (1 - 2 * (edge_pdf + q)) + rest * (1 - 2 * q))).sum()
    total += (ws * (gamma_a**2 * 2 * (edge_pdf + q) + rest_a * 2 * q)).sum()
    total += 2 * tau * mean_max * (ws * gamma_a * 2 * pdf).sum()
    total += tau**2 * (var_max + mean_max**2) * (ws * 2 * q).sum()
    positive = sd[sd > 0]
    lo = max(min(positive.min() * 1e-9, 1e-3), 1e-300) if len(positive) else 1e-3
    edges = np.concatenate(
        [
            np.exp(np.linspace(math.log(lo), 0.0, int(np.ceil(-math.log(lo))) + 1)),
            np.linspace(1.0, T, int(np.ceil((T - 1) / 0.5)) + 1)[1:],
        ]
    )
    t, wt = _gl(edges, order)
    g, h, _ = _nearest_stats(N, t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        u = t[:, None] / sd[None, :]
        density = np.where(sd > 0, np.exp(-(u**2) / 2) / (math.sqrt(2 * math.pi) * sd), 0.0)
    marginal = 2 * (density * ws).sum(1)
    moment = 2 * (density * ws * gamma * np.where(sd > 0, u, 0.0)).sum(1)
    total += (wt * (2 * tau * h * moment + tau**2 * g * marginal)).sum()
    g0 = _nearest_stats(N, np.zeros(1))[0][0]  # [0, lo]: the marginal and g are flat there
    with np.errstate(divide="ignore"):
        flat = 2 * (ws * np.where(sd > 0, 1 / (sd * math.sqrt(2 * math.pi)), 0.0)).sum()
    total += lo * tau**2 * g0 * flat
    total += tau**2 * g0 * ws[sd == 0].sum()  # t = 0 exactly
    return float(total)


def _averaged_reference(n_samples, tau, n, sigma2, eta, reward, psi2=1.0):
    greedy = psi2 * (1 - 2 * eta + eta**2 * (n + 2) / n) + eta**2 * sigma2 / n
    values = [
        greedy + tau**2 if N == 1 else averaged_risk(N, tau, n, sigma2, eta, reward, psi2)
        for N in _counts_list(n_samples)
    ]
    return values[0] if np.ndim(n_samples) == 0 else np.array(values)


# --- closed forms ---


def _gaussian_terms(n_samples, tau, risk_offset, score_offset, metric):
    """(value, scale) of the Gaussian approximation at 30 digits, per prompt."""
    a = np.asarray(risk_offset, dtype=float)
    c = np.asarray(score_offset, dtype=float)
    d = a.shape[-1]
    batch = a.shape[:-1]
    M = None if metric is None else np.broadcast_to(np.asarray(metric, float), (*batch, d, d))
    values, scales = [], []
    with mp.workdps(DIGITS):
        e_n, tau_ = emin_mp(n_samples), mp.mpf(float(tau))
        for index in np.ndindex(*batch):
            av = [mp.mpf(float(v)) for v in a[index]]
            cv = [mp.mpf(float(v)) for v in c[index]]
            if M is None:
                Mm = mp.eye(d)
            else:
                Mi = M[index]
                Mm = mp.matrix(
                    [
                        [(mp.mpf(float(Mi[i, j])) + float(Mi[j, i])) / 2 for j in range(d)]
                        for i in range(d)
                    ]
                )
            Mc = Mm * mp.matrix(cv)
            trM = mp.fsum(Mm[i, i] for i in range(d))
            trM2 = mp.fsum(Mm[i, j] * Mm[j, i] for i in range(d) for j in range(d))
            var_s = 4 * tau_**2 * mp.fsum(v**2 for v in Mc) + 2 * tau_**4 * trM2
            cov = 4 * tau_**2 * mp.fsum(av[i] * Mc[i] for i in range(d)) + 2 * tau_**4 * trM
            mu = mp.fsum(v**2 for v in av) + tau_**2 * d
            select = cov / mp.sqrt(var_s) * e_n
            values.append(float(mu + select))
            scales.append(float(abs(mu) + abs(select)))
    return np.array(values).reshape(batch), np.array(scales).reshape(batch)


def _compare_scaled(terms, relative: float):
    """compare(kwargs, value): the error in units of ``relative`` times the scale of the terms."""

    def compare(kwargs, value) -> float:
        exact, scale = terms(**kwargs)
        value = np.asarray(value, dtype=float)
        if value.shape != exact.shape or not np.all(np.isfinite(value)):
            return math.inf
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(value == exact, 0.0, np.abs(value - exact) / (relative * scale))
        return float(np.max(ratio, initial=0.0))

    return compare


def _oracle_gaussian_terms(n_samples, tau, d, bias2):
    with mp.workdps(DIGITS):
        tau_, b = mp.mpf(float(tau)), mp.mpf(float(bias2))
        mu = b + tau_**2 * d
        select = emin_mp(n_samples) * mp.sqrt(4 * tau_**2 * b + 2 * tau_**4 * d)
        return np.array(float(mu + select)), np.array(float(abs(mu) + abs(select)))


def _optimal_temperature(n_samples, d, bias2):
    with mp.workdps(DIGITS):
        x = 2 * emin_mp(n_samples) ** 2 / d
        return float(mp.sqrt(mp.mpf(float(bias2)) / d * (1 / mp.sqrt(1 - x) - 1)))


def _optimal_risk(n_samples, d, bias2):
    with mp.workdps(DIGITS):
        return float(mp.mpf(float(bias2)) * mp.sqrt(1 - 2 * emin_mp(n_samples) ** 2 / d))


def _asymptote(n_samples, t, spread=1.0):
    with mp.workdps(DIGITS):
        value = mp.pi * mp.exp(mp.mpf(float(t)) ** 2) * mp.mpf(float(spread)) ** 2
        return float(value / mp.mpf(n_samples) ** 2)


def _min_norm_exact(n, d, sigma2, psi2=1.0):
    if n == d - 1:
        return math.inf if sigma2 > 0 else float(Fraction(psi2))
    return float(Fraction(psi2) * (d - n) + Fraction(sigma2) * n / (d - n - 1))


def _limit_exact(n, d, sigma2, tau, psi2=1.0):
    if n >= d:
        if n <= d + 1:
            return math.inf if sigma2 > 0 else 0.0
        return float(Fraction(sigma2) * d / (n - d - 1))
    noise = (math.inf if sigma2 > 0 else 0) if n == d - 1 else Fraction(sigma2) * n / (d - n - 1)
    if noise == math.inf:
        return math.inf
    return float((Fraction(psi2) + Fraction(tau) ** 2) * (d - n) + noise)


# --- draws (where the declaration's sampler cannot give structured arrays) ---


def _magnitude(rng: np.random.Generator, low: float = -12, high: float = 12) -> float:
    return float(10.0 ** rng.uniform(low, high))


def _draw_norm_risk(rng: np.random.Generator) -> dict:
    from icl.theory.best_of_n import _counts_draw

    d = int(rng.choice([1, 2, 3, 7, 50, 1000]))
    batch = (int(rng.integers(1, 3)),)
    m = rng.standard_normal((*batch, d)) * _magnitude(rng, -6, 6)
    w = m + rng.standard_normal((*batch, d)) * _magnitude(rng, -6, 6)
    return dict(n_samples=_counts_draw(10**12)(rng), tau=_magnitude(rng), mean=m, target=w)


def _draw_gaussian(rng: np.random.Generator) -> dict:
    d = int(rng.integers(1, 6))
    batch = (int(rng.integers(1, 3)),)
    a = rng.standard_normal((*batch, d)) * _magnitude(rng, -10, 10)
    c = rng.standard_normal((*batch, d)) * _magnitude(rng, -10, 10)
    metric = None
    if rng.random() < 0.5:
        A = rng.standard_normal((d, d))
        metric = A @ A.T * _magnitude(rng, -10, 10)
    n_samples = int(10 ** rng.uniform(0, 18))
    return dict(
        n_samples=n_samples,
        tau=_magnitude(rng, -10, 10),
        risk_offset=a,
        score_offset=c,
        metric=metric,
    )


register(
    Reference(
        f"{MODULE}.expected_min_gaussian",
        "mpmath quadrature (30 digits) of the maximum's density, cut at its quantiles",
        exact=lambda n_samples: float(emin_mp(n_samples)),
        cases=(
            dict(n_samples=1),
            dict(n_samples=2),
            dict(n_samples=10**6),
            dict(n_samples=10**18),
        ),
    )
)

register(
    Reference(
        f"{MODULE}.expected_min_sq_offset",
        "mpmath quadrature (30 digits) in the distance r, cut at its quantiles; the maximum's "
        "moments where the nearest sample is the extreme one",
        exact=_g_reference,
        cases=(
            dict(n_samples=5, t=np.array([0.0, 0.7, -3.0])),
            dict(n_samples=1000, t=50.0),  # the low-temperature regime
            dict(n_samples=10**6, t=np.array([1e-3, 4.0, 9.0])),
            dict(n_samples=10**18, t=15.0),
            dict(n_samples=1, t=1e150),
        ),
    )
)

register(
    Reference(
        f"{MODULE}.expected_nearest_offset",
        "mpmath quadrature (30 digits) in the distance r, cut at its quantiles; the maximum's "
        "moments where the nearest sample is the extreme one",
        exact=_h_reference,
        cases=(
            dict(n_samples=1000, t=50.0),  # -46.76: the review's case
            dict(n_samples=100, t=np.array([-6.0, 1e-200, 11.0])),
            dict(n_samples=10**12, t=1e300),
        ),
    )
)

register(
    Reference(
        f"{MODULE}.best_of_n_risk_1d",
        "tau^2 g + 2 tau delta h + delta^2 at 60 digits with the mpmath g and h (exact inputs); "
        "(m - w* + tau sign(t) E M)^2 + tau^2 Var M where the nearest is the extreme candidate",
        exact=_risk_1d_reference,
        cases=(
            dict(n_samples=5, tau=1e-6, mean=0.3, center=0.5, target=0.1),  # 0.0400005
            dict(n_samples=5, tau=1.0, mean=0.0, center=40.0, target=0.0),  # E M^2 = 1.8
            dict(n_samples=10, tau=0.5, mean=np.array([0.3, -1.0]), center=1.1, target=0.9),
            dict(n_samples=10**9, tau=1e-100, mean=1e100, center=-1e100, target=0.0),
        ),
    )
)

register(
    Reference(
        f"{MODULE}.oracle_best_of_n_risk",
        "tau^2 E min U, U ~ chi'^2_d(lambda), by the Poisson mixture (lambda <= 200) or the "
        "conditional law given ||xi_perp||^2 (above) in mpmath",
        exact=_oracle_reference,
        cases=(
            dict(n_samples=10, tau=1.0, bias2=1e12, d=5),  # NaN before
            dict(n_samples=np.array([1, 1000]), tau=0.5, bias2=np.array([0.0, 2.0]), d=2),
            dict(n_samples=10**7, tau=1.0, bias2=500.0, d=1),
            # lambda = 330: the reference's breakpoints once missed the bump (off by 8.5e-10)
            dict(n_samples=np.array([1, 10**12]), tau=0.0977561, bias2=3.1571526, d=2),
        ),
    )
)

register(
    Reference(
        f"{MODULE}.norm_reward_shrinkage",
        "kappa_N = d E min U / d lambda (the envelope theorem) from the oracle reference's "
        "derivative in mpmath",
        exact=_shrinkage_reference,
        cases=(
            dict(n_samples=10, tau=1.0, mean_norm=1e5, d=3),  # lambda = 1e10
            dict(n_samples=np.array([1, 50]), tau=0.4, mean_norm=np.array([0.0, 1.3]), d=6),
            # kappa = pi / N^2: the reference once lost its digits to 1 + (kappa - 1)
            dict(n_samples=10**12, tau=1e100, mean_norm=3.0440133e-06, d=1),
        ),
    )
)

register(
    Reference(
        f"{MODULE}.norm_reward_risk",
        "tau^2 E min U - 2 kappa_N <m, w*> + ||w*||^2 at 30 digits, from the oracle reference "
        "and its derivative in lambda",
        exact=_norm_risk_reference,
        draw=_draw_norm_risk,
        cases=(
            dict(
                n_samples=10,
                tau=1.0,
                mean=np.array([1e5, 0.0, 0.0]),
                target=np.array([1e5, 0.0, 0.0]),
            ),
            dict(
                n_samples=12,
                tau=0.6,
                mean=np.array([[0.5, -1.0, 0.2]]),
                target=np.array([[0.4, -0.3, 1.0]]),
            ),
        ),
    )
)

register(
    Reference(
        f"{MODULE}.best_of_n_risk_1d_averaged",
        "a quadrature over the marginal law of the standardised centre (a scale mixture of "
        "normals) with the clock's g_N, h_N at each node, Gaussian tail moments beyond |t| = 16; "
        "B + tau^2 at N = 1",
        exact=_averaged_reference,
        cases=(
            dict(n_samples=1000, tau=0.3, n=6, sigma2=3.0, eta=6 / 11, reward="oracle", psi2=1.0),
            dict(
                n_samples=6,
                tau=0.3,
                n=6,
                sigma2=3.0,
                eta=6 / 11,
                reward="in-context loss",
                psi2=1.0,
            ),
        ),
    )
)

register(
    Reference(
        f"{MODULE}.gaussian_selection_risk",
        "the formula in mpmath at 30 digits (e_N by quadrature), error relative to the scale of "
        "its terms",
        compare=_compare_scaled(_gaussian_terms, 1e-12),
        draw=_draw_gaussian,
        cases=(
            dict(
                n_samples=30,
                tau=0.3,
                risk_offset=np.ones((2, 4)),
                score_offset=np.ones((2, 4)),
                metric=None,
            ),
            dict(
                n_samples=10**18,
                tau=1e-10,
                risk_offset=np.array([1e10, 0.0]),
                score_offset=np.array([0.0, 1e-10]),
                metric=np.diag([1e-30, 2e-30]),
            ),
        ),
    )
)

register(
    Reference(
        f"{MODULE}.oracle_gaussian_risk",
        "the formula in mpmath at 30 digits (e_N by quadrature), error relative to the scale of "
        "its terms",
        compare=_compare_scaled(_oracle_gaussian_terms, 1e-12),
        cases=(dict(n_samples=100, tau=0.4, d=50, bias2=20.0),),
    )
)

register(
    Reference(
        f"{MODULE}.oracle_optimal_temperature",
        "the closed form in mpmath at 30 digits (e_N by quadrature)",
        exact=_optimal_temperature,
        cases=(dict(n_samples=2, d=10**8, bias2=1.0), dict(n_samples=300, d=50, bias2=20.0)),
    )
)

register(
    Reference(
        f"{MODULE}.oracle_optimal_risk",
        "the closed form in mpmath at 30 digits (e_N by quadrature)",
        exact=_optimal_risk,
        cases=(dict(n_samples=300, d=50, bias2=20.0),),
    )
)

register(
    Reference(
        f"{MODULE}.nearest_sample_asymptote",
        "pi e^(t^2) spread^2 / N^2 in mpmath at 30 digits",
        exact=_asymptote,
        cases=(dict(n_samples=10**200, t=30.0, spread=1.0), dict(n_samples=10, t=1.0, spread=2.0)),
    )
)

register(
    Reference(
        f"{MODULE}.min_norm_risk",
        "exact rational arithmetic",
        exact=_min_norm_exact,
        cases=(dict(n=4, d=5, sigma2=1.0, psi2=1.0), dict(n=2, d=8, sigma2=0.5, psi2=2.0)),
    )
)

register(
    Reference(
        f"{MODULE}.in_context_limit_risk",
        "exact rational arithmetic",
        exact=_limit_exact,
        cases=(
            dict(n=20, d=5, sigma2=1.0, tau=0.7, psi2=1.0),
            dict(n=2, d=8, sigma2=1.0, tau=0.7, psi2=1.0),
        ),
    )
)
