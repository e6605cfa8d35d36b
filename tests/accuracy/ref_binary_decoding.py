"""References for :mod:`icl.theory.binary_decoding`, each by a route independent of the package's:

- the Student-t tail and the majority vote's binomial tail as integrals of their densities in
  mpmath (30 digits), the binomial tie term and small votes as exact sums;
- the margin density from its definition as a normal variance-mean mixture, u | v ~ N(v, s2 v),
  v ~ chi^2_n, integrated over v in mpmath (no Bessel function);
- expectations over the margin (one sample, a vote) by QUADPACK in u, on panels found by a scan,
  of the variance-gamma density evaluated in mpmath (``besselk`` for order <= 150, the textbook
  Debye series with 20 terms beyond), unrearranged;
- greedy exact recovery: the orthant probability by the tilted Fourier inversion on the vertical
  line through the saddle point (scalar QUADPACK, the algebraic tail by QAWF) averaged over
  ||y|| by QUADPACK; exact values where they exist (2^(1-d) at n = 1, sigma2 = 0; the F law at
  d = 2, sigma2 = 0; d = 1);
- pass@k in exact rational arithmetic, or log-gamma at 60 digits;
- votes over several answers by a dynamic programme over the answers (exact sums of positive
  terms: multinomial, or hypergeometric in integers), or, where a Chernoff bound settles the
  vote to within 1e-14, that limit.
"""

from __future__ import annotations

import cmath
import functools
import math
from fractions import Fraction

import mpmath as mp
import numpy as np
from scipy import integrate, optimize, special, stats

from tests.accuracy import Reference, register

MODULE = "icl.theory.binary_decoding"


def _float(value) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf


# ---------------------------------------------------------------------------------------------
# greedy_sign_error: the Student-t tail as an integral of its density


def _t_tail(n: int, s2) -> float:
    """P(t_n > sqrt(n / s2)) = I_z(n/2, 1/2) / 2, z = s2 / (1 + s2) (exact at 30 digits), as the
    integral of the Beta density t^(a-1) (1-t)^(-1/2) over [0, z] in mpmath, on panels at the
    scales of its peak at z (z / a) and of its singularity at 1 (1 - z)."""
    with mp.workdps(30):
        a, half = mp.mpf(n) / 2, mp.mpf(1) / 2
        z = s2 / (1 + s2)
        log_beta = mp.loggamma(a) + mp.loggamma(half) - mp.loggamma(a + half)

        def log_h(t):
            return (a - 1) * mp.log(t) - mp.log1p(-t) / 2

        top = log_h(z)
        points = {mp.mpf(0), z}
        for scale in (z / max(a, 1), 1 - z):
            points |= {z - k * scale for k in (1, 4, 16, 64, 256, 1024)}
        points = sorted(t for t in points if 0 <= t <= z)
        body = mp.quad(lambda t: mp.exp(log_h(t) - top) if t > 0 else mp.mpf(0), points)
        return _float(mp.exp(top - log_beta) * body / 2)


def _greedy(n, d, sigma2):
    s2 = mp.mpf(d - 1) + mp.mpf(sigma2)
    if s2 == 0:
        return 0.0
    return _t_tail(n, s2)


register(
    Reference(
        f"{MODULE}.greedy_sign_error",
        "the Beta density integrated in mpmath (30 digits): P(t_n > x) = I_z(n/2, 1/2) / 2",
        exact=_greedy,
        cases=(
            dict(n=20, d=10, sigma2=0.25),
            dict(n=10**8, d=2, sigma2=0.0),  # underflows: exactly 0 in floats
            dict(n=10**4, d=5, sigma2=0.25),
            dict(n=1, d=10**9, sigma2=1e12),
            dict(n=3, d=1, sigma2=1e-100),
            dict(n=7, d=1, sigma2=0.0),
        ),
    )
)


# ---------------------------------------------------------------------------------------------
# margin_density: the normal variance-mean mixture


def _mixture_density(u: float, n: int, s2) -> float:
    """f(u) = int_0^inf chi2_n(v) N(u; v, s2 v) dv in mpmath (30 digits), about the integrand's
    peak v* (the root of (s2 + 1) v^2 - (n - 3) s2 v - u^2) and its width."""
    with mp.workdps(30):
        u, s2 = mp.mpf(u), mp.mpf(s2)
        k = mp.mpf(n) / 2

        def log_h(v):
            return (
                (k - 1) * mp.log(v)
                - v / 2
                - k * mp.log(2)
                - mp.loggamma(k)
                - (u - v) ** 2 / (2 * s2 * v)
                - mp.log(2 * mp.pi * s2 * v) / 2
            )

        a = (n - 3) * s2
        root = mp.sqrt(a * a + 4 * (s2 + 1) * u * u)
        if a >= 0:
            peak = (a + root) / (2 * (s2 + 1))
        else:  # the same root, rationalised (no cancellation)
            peak = 2 * u * u / (root - a)
        if peak <= 0:
            peak = mp.mpf(1)
        curvature = (n - 3) / (2 * peak**2) + u * u / (s2 * peak**3)
        width = 1 / mp.sqrt(curvature) if curvature > 0 else peak
        # scaled so that the integral is of order 1 or more (mpmath's tolerance is absolute)
        top = log_h(peak) + mp.log(max(peak, width))
        points = sorted(
            {mp.mpf(0), peak}
            | {peak + sign * j * width for j in (1, 4, 16, 64, 256) for sign in (-1, 1)}
            # for n <= 2 the integrand is like 1/v (n = 1) over many decades
            | ({peak * mp.mpf(10) ** j for j in range(-40, 41, 2)} if n <= 2 else set())
        )
        points = [p for p in points if p >= 0] + [mp.inf]
        body = mp.quad(lambda v: mp.exp(log_h(v) - top) if v > 0 else mp.mpf(0), points)
        return _float(mp.exp(top) * body)


def _margin(u, n, d, sigma2):
    s2 = mp.mpf(d - 1) + mp.mpf(sigma2)
    values = [_mixture_density(float(v), n, s2) for v in np.ravel(u)]
    return values[0] if np.ndim(u) == 0 else np.array(values).reshape(np.shape(u))


register(
    Reference(
        f"{MODULE}.margin_density",
        "the normal variance-mean mixture integrated over v ~ chi^2_n in mpmath (30 digits)",
        exact=_margin,
        cases=(
            dict(u=1000.0, n=2000, d=5, sigma2=0.25),  # review: 1.26e8 for 3.53e-23
            dict(u=1e5, n=100000, d=5, sigma2=0.25),
            dict(u=-30.0, n=10**6, d=5, sigma2=0.25),
            dict(u=1e-300, n=20, d=10, sigma2=0.25),
            dict(u=3.0, n=60, d=1, sigma2=1e-12),
            dict(u=np.array([-40.0, 0.0, 7.5, 60.0]), n=20, d=10, sigma2=0.25),
        ),
    )
)


# ---------------------------------------------------------------------------------------------
# expectations over the margin: the variance-gamma density in mpmath, QUADPACK in u

_DEBYE_TERMS = 20


def _debye_polynomials_mp(count: int) -> list[list[Fraction]]:
    """Debye's u_k(t) (DLMF 10.41.10), from u_{k+1} = t^2 (1 - t^2) u_k' / 2 + int_0^t (1 - 5 s^2)
    u_k(s) ds / 8, in exact arithmetic: coefficient lists in ascending powers."""
    polys = [[Fraction(1)]]
    for _ in range(count - 1):
        u = polys[-1]
        derivative = [i * c for i, c in enumerate(u)][1:]
        new = [Fraction(0)] * (len(u) + 3)
        for i, c in enumerate(derivative):  # t^2 (1 - t^2) u' / 2
            new[i + 2] += c / 2
            new[i + 4] -= c / 2
        for i, c in enumerate(u):  # int_0^t (1 - 5 s^2) u(s) ds / 8
            new[i + 1] += c / (8 * (i + 1))
            new[i + 3] -= 5 * c / (8 * (i + 3))
        polys.append(new)
    return polys


_DEBYE = _debye_polynomials_mp(_DEBYE_TERMS)


def _log_besselk(nu, x):
    """log K_nu(x) in mpmath: ``besselk`` for nu <= 150, else the Debye series
    K_nu(nu z) ~ sqrt(pi / (2 nu)) e^(-nu eta) (1 + z^2)^(-1/4) sum_k (-1)^k u_k(p) / nu^k
    (20 terms: below 1e-35 relative for nu > 150), its terms of size nu in mpmath and the series
    (of order 1) in floats."""
    if nu <= 150:
        return mp.log(mp.besselk(nu, x))
    z = x / nu
    root = mp.sqrt(1 + z * z)
    eta = root + mp.log(z / (1 + root))
    p = float(1 / root)
    series = 0.0
    for c in _debye_sum(float(nu)):
        series = series * p + c
    return mp.log(mp.sqrt(mp.pi / (2 * nu))) - nu * eta - mp.log(1 + z * z) / 4 + math.log(series)


@functools.lru_cache(maxsize=16)
def _debye_sum(nu: float) -> tuple[float, ...]:
    """Coefficients (descending) of sum_k (-1)^k u_k(p) / nu^k, as floats."""
    total = [Fraction(0)] * (3 * _DEBYE_TERMS)
    for k, u in enumerate(_DEBYE):
        for j, c in enumerate(u):
            total[j] += (-1) ** k * c / Fraction(nu) ** k
    return tuple(float(c) for c in reversed(total))


def _log_margin_density_ref(n: int, s2: float):
    """log f(u) of the margin, textbook forms: the variance-gamma density with scipy's ``kve``
    in double precision for n <= 400 (where its terms, of size n log n, lose nothing that
    matters; its constant from mpmath), in mpmath (40 digits) beyond, or where ``kve`` over- or
    underflows; the chi-square density likewise (scipy for n <= 400, else mpmath) for s2 = 0."""
    lam = n / 2
    nu = lam - 0.5
    if s2 == 0:

        def log_chi2(u: float) -> float:
            if u <= 0:
                return -math.inf
            if n <= 400:
                return float(stats.chi2.logpdf(u, n))
            with mp.workdps(25):
                k, v = mp.mpf(n) / 2, mp.mpf(u)
                return float((k - 1) * mp.log(v) - v / 2 - k * mp.log(2) - mp.loggamma(k))

        return log_chi2
    alpha = math.sqrt(1 + s2) / s2
    with mp.workdps(40):  # terms of size alpha |u| ~ 1e18 cancel in the exponent
        s2_mp = mp.mpf(s2)
        alpha_mp, beta_mp = mp.sqrt(1 + s2_mp) / s2_mp, 1 / s2_mp
        lam_mp = mp.mpf(n) / 2
        log_c_mp = (
            lam_mp * mp.log(alpha_mp**2 - beta_mp**2)
            - mp.log(mp.pi) / 2
            - mp.loggamma(lam_mp)
            - (lam_mp - mp.mpf(1) / 2) * mp.log(2 * alpha_mp)
        )
        log_c = float(log_c_mp)

    # e^(beta u - alpha |u|): beta - alpha = -1 / (1 + sqrt(1 + s2)) for u > 0, taken from
    # mpmath (the two are nearly equal when s2 is small); -(alpha + beta) for u < 0
    rate_plus = float(beta_mp - alpha_mp)
    rate_minus = -float(alpha_mp + beta_mp)

    def log_vg(u: float) -> float:
        a = abs(u) if u != 0 else 1e-300
        if n <= 400:
            k = special.kve(nu, alpha * a)
            if math.isfinite(k) and k > 0:
                rate = rate_plus if u > 0 else rate_minus
                return log_c + nu * math.log(a) + math.log(k) + rate * a
        with mp.workdps(40):
            a = mp.mpf(a)
            value = (
                log_c_mp
                + (lam_mp - mp.mpf(1) / 2) * mp.log(a)
                + _log_besselk(lam_mp - mp.mpf(1) / 2, alpha_mp * a)
                + beta_mp * mp.mpf(u)
            )
            return float(value)

    return log_vg


def _expectation_ref(n, d, sigma2, log_g, scales) -> float:
    """E[g(u)] for the margin u: QUADPACK (epsrel 1e-13) on panels in u whose edges come from a
    scan of the log integrand (density times g) on each side of 0, the integrand scaled by its
    peak and cut where it falls below e^-745 of it."""
    s2 = float(mp.mpf(d - 1) + mp.mpf(sigma2))
    log_f = _log_margin_density_ref(n, s2)
    sd = math.sqrt(n * (2 + s2))
    small = min([s for s in scales if s > 0] + [sd] + ([s2 / 2] if s2 > 0 else []))
    top_end = n + 90 * sd + 3000 * (1 + math.sqrt(1 + s2))
    grid = np.unique(
        np.concatenate(
            [np.geomspace(1e-9 * small, top_end, 100), n + sd * np.linspace(-12, 12, 25)]
        )
    )
    grid = grid[grid > 0]
    sides = []
    for sign in (1, -1):
        if s2 == 0 and sign < 0:
            continue
        values = np.array([log_f(sign * a) + log_g(sign * a) for a in grid])
        if np.max(values) == -math.inf:
            continue
        i = int(np.argmax(values))  # the peak, refined between the scan's neighbours
        best = optimize.minimize_scalar(
            lambda a, sign=sign: -(log_f(sign * a) + log_g(sign * a)),
            bounds=(grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]),
            method="bounded",
            options={"xatol": 1e-10 * grid[i]},
        )
        top = max(float(np.max(values)), -float(best.fun))
        grid_side = np.unique(np.append(grid, best.x))
        values = np.array([log_f(sign * a) + log_g(sign * a) for a in grid_side])
        sides.append((sign, grid_side, values, top))
    if not sides:
        return 0.0
    # a rough total (trapezoid on the grid) sets the absolute tolerance of every panel
    top_all = max(top for *_, top in sides)
    rough = 0.0
    for _, grid, values, _ in sides:
        heights = np.exp(values - top_all)
        rough += float(np.sum(np.diff(grid) * (heights[1:] + heights[:-1]))) / 2
    out = 0.0
    for sign, grid, values, top in sides:
        index = np.nonzero(values > top - 745)[0]
        lo = grid[index[0] - 1] if index[0] > 0 else 0.0
        hi = grid[min(index[-1] + 1, grid.size - 1)]
        edges = [lo]  # the kept grid, thinned to steps of at least 3x or the bulk's sd
        for a in grid[index]:
            if a >= 3 * edges[-1] or abs(a - n) <= 13 * sd or a - edges[-1] >= sd:
                edges.append(a)
        edges = np.unique([*edges, hi])
        atol = 1e-15 * rough * math.exp(min(top_all - top, 700.0))

        def integrand(a, sign=sign, top=top):
            value = log_f(sign * a) + log_g(sign * a) - top
            return math.exp(value) if value > -745 else 0.0

        out += math.exp(top) * sum(
            integrate.quad(integrand, a, b, epsabs=atol, epsrel=1e-13, limit=200)[0]
            for a, b in zip(edges[:-1], edges[1:])
        )
    return out


def _float_log(value) -> float:
    value = mp.re(value)
    return -math.inf if value == -mp.inf else float(value)


def _slope_mp(n, eta, temperature):
    with mp.workdps(30):
        return 2 * mp.mpf(eta) / (mp.mpf(n) * mp.mpf(temperature))


def _log_expit(x) -> float:
    """log sigmoid(x) in floats without overflow."""
    return -float(np.logaddexp(0.0, -x))


def _sampled(n, d, sigma2, eta, temperature):
    c = float(_slope_mp(n, eta, temperature))
    if c == 0:
        return 0.5
    if c == math.inf:
        return _greedy(n, d, sigma2)
    return _expectation_ref(
        n, d, sigma2, lambda u: _log_expit(-c * float(u)), (0.1 / c, 1 / c, 10 / c)
    )


register(
    Reference(
        f"{MODULE}.sampled_sign_error",
        "E[sigmoid(-c u)] by QUADPACK over u on panels from a scan, the margin density in its "
        "textbook form (scipy's kve for n <= 400, else mpmath: besselk, or the Debye series)",
        exact=_sampled,
        cases=(
            dict(n=2000, d=5, sigma2=0.25, eta=1.0, temperature=1.0),  # review: 8.8e22
            dict(n=100000, d=5, sigma2=0.25, eta=1.0, temperature=1.0),
            dict(n=200, d=2, sigma2=0.0, eta=1.0, temperature=1e-6),  # tiny: relative accuracy
            dict(n=3, d=1, sigma2=0.0, eta=1.0, temperature=1.0),
        ),
    )
)


def _vote(n, d, sigma2, eta, temperature, N):
    c = float(_slope_mp(n, eta, temperature))
    if c == 0:
        return 0.5
    if c == math.inf:
        return 1 - _greedy(n, d, sigma2)

    def log_vote(u):  # A_N(p): the binomial tail (regularised incomplete beta) and the tie
        p = special.expit(c * float(u))
        value = special.betainc(N // 2 + 1, N - N // 2, p)
        if N % 2 == 0 and 0 < p < 1:
            m = N // 2
            log_tie = (
                math.lgamma(N + 1) - 2 * math.lgamma(m + 1) + m * (math.log(p) + math.log1p(-p))
            )
            value += 0.5 * math.exp(log_tie)
        return math.log(value) if value > 0 else -math.inf

    step = 1 / (c * math.sqrt(N))
    return _expectation_ref(n, d, sigma2, log_vote, (step, 1 / c))


register(
    Reference(
        f"{MODULE}.vote_sign_accuracy",
        "E[A_N(sigmoid(c u))] by QUADPACK over u on panels from a scan, the margin density in "
        "its textbook form; A_N from scipy's incomplete beta function and the tie term in logs "
        "(checked itself against mpmath by majority_vote_accuracy's reference)",
        exact=_vote,
        cases=(
            dict(n=2000, d=5, sigma2=0.25, eta=1.0, temperature=1.0, N=11),
            dict(n=1, d=10, sigma2=0.25, eta=1.0, temperature=0.01, N=1000),
        ),
    )
)


# ---------------------------------------------------------------------------------------------
# calibration_temperature: exact rationals


register(
    Reference(
        f"{MODULE}.calibration_temperature",
        "exact rational arithmetic (Fraction)",
        exact=lambda n, d, sigma2, eta: _float(
            Fraction(eta) * (Fraction(d - 1) + Fraction(sigma2)) / n
        ),
        cases=(
            dict(n=20, d=10, sigma2=0.25, eta=1.0),
            dict(n=1, d=10**9, sigma2=1e12, eta=1e100),
            dict(n=10**8, d=1, sigma2=0.0, eta=5e-324),
        ),
    )
)


# ---------------------------------------------------------------------------------------------
# greedy_exact_recovery


def _orthant_vertical(m: float, d: int, sigma2: float) -> float:
    """log P(G_i > -m for all i), G ~ N(0, I - 1 1^T / (d + sigma2)): the density at 0 of a sum of
    d truncated normals (plus N(0, sigma2)) by Fourier inversion on the vertical line through the
    saddle point (scalar cmath, QUADPACK; beyond 30 tilted standard deviations, QAWF with the
    phase e^{-i Omega w} taken out)."""
    dim = float(d)

    def log_e(s: complex) -> complex:  # log(e^{s^2/2} Phi(m + s))
        z = m + s
        if z.real < 0:
            return cmath.log(0.5 * special.erfcx(-z / math.sqrt(2))) - m * s - m * m / 2
        return cmath.log(
            cmath.exp(s * s / 2)
            - 0.5 * special.erfcx(z / math.sqrt(2)) * cmath.exp(-m * s - m * m / 2)
        )

    def slope(tau: float) -> float:
        h = 1e-6 * max(1.0, abs(tau))
        return dim * (log_e(tau + h) - log_e(tau - h)).real / (2 * h) + sigma2 * tau

    low = -1.0
    while slope(low) > 0:
        low *= 2
    tau = optimize.brentq(slope, low, 1.0, xtol=1e-13) if slope(1.0) > 0 else 0.0
    h = 1e-4 * max(1.0, abs(tau))
    second = dim * (log_e(tau + h) - 2 * log_e(tau) + log_e(tau - h)).real / h**2 + sigma2
    width = 1 / math.sqrt(max(second, 1e-300))
    base = log_e(tau).real

    def term(w: float) -> complex:
        return cmath.exp(
            dim * (log_e(complex(tau, w)) - base) + sigma2 * complex(-w * w / 2, tau * w)
        )

    per_coordinate = 1 / math.sqrt(max((second - sigma2) / dim, 1e-300))
    head = 30 * per_coordinate
    edges = sorted({0.0, head, *(k * width for k in (1, 3, 10, 30) if k * width < head)})
    value = sum(
        integrate.quad(lambda w: term(w).real, a, b, epsabs=0.0, epsrel=1e-13, limit=400)[0]
        for a, b in zip(edges[:-1], edges[1:])
    )
    if abs(term(head)) * head > 1e-17 * abs(value):
        omega = dim * m - sigma2 * tau

        def slow(w: float) -> complex:
            return term(w) * cmath.exp(1j * omega * w)

        fourier = dict(a=head, b=np.inf, wvar=omega, limlst=200, epsabs=1e-17 * abs(value))
        value += integrate.quad(lambda w: slow(w).real, weight="cos", **fourier)[0]
        value += integrate.quad(lambda w: slow(w).imag, weight="sin", **fourier)[0]
    return (
        dim * base
        + sigma2 * tau * tau / 2
        - math.log(math.pi)
        + math.log(value)
        + 0.5 * math.log(2 * math.pi * (dim + sigma2))
    )


def _recovery(n, d, sigma2):
    if d == 1:
        return 1 - _greedy(n, d, sigma2)
    if n == 1 and sigma2 == 0:
        return 2.0 ** (1 - d)  # every z_j has the sign of y = sum z: 2 * 2^-d
    if d == 2 and sigma2 == 0:  # |Z| < sqrt(V) with Z^2 / (V / n) ~ F(1, n)
        with mp.workdps(30):
            return _float(mp.betainc(mp.mpf(1) / 2, mp.mpf(n) / 2, 0, mp.mpf(n) / (n + n), True))
    if n == 1 and (1 - d) * math.log(2) < -745:
        return 0.0  # at n = 1, P = 2^(1-d) P(sum_j |z_j| + sigma eps > 0) <= 2^(1-d)
    root_d = math.sqrt(d + sigma2)
    with mp.workdps(30):
        log_norm = (mp.mpf(n) / 2 - 1) * mp.log(2) + mp.loggamma(mp.mpf(n) / 2)

    def log_phi(t: float) -> float:
        with mp.workdps(30):  # the chi density's terms are of size n log n
            log_chi = float((n - 1) * mp.log(t) - mp.mpf(t) ** 2 / 2 - log_norm)
        return log_chi + _orthant_vertical(t / root_d, d, sigma2)

    # the integrand is log-concave in t: its peak by a scan and Brent's method, then 16-node
    # Gauss-Legendre rules on panels at 1.5, 4, 10 and 40 widths on either side
    grid = np.geomspace(1e-6, math.sqrt(n) + 40 + root_d * (math.sqrt(2 * math.log(d)) + 10), 16)
    values = np.array([log_phi(t) for t in grid])
    i = int(np.argmax(values))
    result = optimize.minimize_scalar(
        lambda t: -log_phi(t),
        bounds=(grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]),
        method="bounded",
        options={"xatol": 1e-6 * grid[i]},
    )
    peak, top = float(result.x), -float(result.fun)
    h = 1e-3 * max(peak, 1e-3)
    curvature = -(log_phi(peak + h) - 2 * top + log_phi(max(peak - h, peak / 2))) / h**2
    width = 1 / math.sqrt(curvature) if curvature > 0 else peak
    steps = (0, 1.5, 4, 10, 40)
    edges = sorted({0.0} | {max(peak + sign * k * width, 0.0) for k in steps for sign in (-1, 1)})
    nodes, weights = np.polynomial.legendre.leggauss(16)
    body = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        t = (b - a) / 2 * nodes + (a + b) / 2
        body += (b - a) / 2 * sum(w * math.exp(log_phi(v) - top) for v, w in zip(t, weights))
    return math.exp(top) * body


register(
    Reference(
        f"{MODULE}.greedy_exact_recovery",
        "exact values (2^(1-d) at n = 1, sigma2 = 0; F(1, n) at d = 2, sigma2 = 0; d = 1), else "
        "the orthant by tilted Fourier inversion on the vertical line (QUADPACK, QAWF tail) "
        "averaged over ||y|| by QUADPACK",
        exact=_recovery,
        cases=(
            dict(n=1, d=64, sigma2=0.0),  # review: 5.9e-16 for 2^-63
            dict(n=1, d=128, sigma2=0.0),
            dict(n=100000, d=10, sigma2=0.25),
            dict(n=20, d=2, sigma2=0.0),
        ),
    )
)


# ---------------------------------------------------------------------------------------------
# majority_vote_accuracy: binomial tails


def _binomial_tail_mp(N: int, p, k: int):
    """P(Bin(N, p) >= k) in mpmath: an exact sum for N <= 2000, else the Beta integral
    int_0^p t^(k-1) (1-t)^(N-k) dt / B(k, N - k + 1) about its peak."""
    if k <= 0:
        return mp.mpf(1)
    if p == 0:
        return mp.mpf(0)
    if N <= 2000:
        return mp.fsum(mp.binomial(N, j) * p**j * (1 - p) ** (N - j) for j in range(k, N + 1))
    a, b = mp.mpf(k), mp.mpf(N - k + 1)

    def log_h(t):
        return (a - 1) * mp.log(t) + (b - 1) * mp.log1p(-t)

    mode = (a - 1) / (a + b - 2)
    peak = min(mode, p)
    width = (
        mp.sqrt(peak * (1 - peak) / N) if peak < p else peak * (1 - peak) / (N * abs(mode - p) + 1)
    )
    top = log_h(peak)
    points = sorted({mp.mpf(0), p} | {peak + j * width for j in (-64, -16, -4, -1, 1, 4, 16)})
    points = [t for t in points if 0 <= t <= p]
    body = mp.quad(lambda t: mp.exp(log_h(t) - top) if 0 < t < 1 else mp.mpf(0), points)
    return mp.exp(top - mp.log(mp.beta(a, b))) * body


def _majority(p, N):
    values = []
    for q in np.ravel(np.asarray(p, dtype=float)):
        with mp.workdps(30):
            q = mp.mpf(q)
            value = _binomial_tail_mp(N, q, N // 2 + 1)
            if N % 2 == 0:
                value += mp.binomial(N, N // 2) * (q * (1 - q)) ** (N // 2) / 2
            values.append(_float(value))
    return values[0] if np.ndim(p) == 0 else np.array(values)


register(
    Reference(
        f"{MODULE}.majority_vote_accuracy",
        "binomial tail in mpmath (30 digits): exact sum for N <= 2000, else the Beta integral; "
        "the tie term exactly",
        exact=_majority,
        cases=(
            dict(p=np.array([0.0, 1e-306, 0.3, 0.5, 1.0]), N=100),
            dict(p=0.37, N=2),
            dict(p=0.4999, N=10**9),
            dict(p=0.6, N=10**6),
            dict(p=1e-5, N=20),
        ),
    )
)


# ---------------------------------------------------------------------------------------------
# unbiased_pass_at_k: exact rationals


def _pass_at_k(n, c, k):
    def one(nn: int, cc: int) -> float:
        if nn - cc < k:
            return 1.0
        r, s = min(cc, k), max(cc, k)
        if r <= 3000:
            ratio = Fraction(1)
            for i in range(r):
                ratio *= Fraction(nn - s - i, nn - i)
            return float(1 - ratio)
        with mp.workdps(60):
            log_ratio = (
                mp.loggamma(nn - cc + 1)
                - mp.loggamma(nn - cc - k + 1)
                - mp.loggamma(nn + 1)
                + mp.loggamma(nn - k + 1)
            )
            return float(-mp.expm1(log_ratio))

    nn, cc = np.broadcast_arrays(np.asarray(n).astype(object), np.asarray(c).astype(object))
    values = [one(int(a), int(b)) for a, b in zip(nn.ravel(), cc.ravel())]
    return values[0] if nn.ndim == 0 else np.array(values).reshape(nn.shape)


register(
    Reference(
        f"{MODULE}.unbiased_pass_at_k",
        "exact rational arithmetic (Fraction) for min(c, k) <= 3000, else log-gamma at 60 digits",
        exact=_pass_at_k,
        cases=(
            dict(n=10**15, c=1, k=3),  # review: c << n lost precision
            dict(n=10**10, c=5, k=10**9),  # review: 7.45 GiB
            dict(n=2**63 - 1, c=10**9, k=10**8),
            dict(n=10**18, c=10**6, k=10**5),
            dict(n=np.array([10, 10, 10, 5, 7]), c=np.array([0, 3, 9, 5, 2]), k=4),
            dict(n=10**6, c=500, k=999400),
        ),
    )
)


# ---------------------------------------------------------------------------------------------
# votes_needed


def _votes_needed(delta, target):
    with mp.workdps(40):
        z = mp.sqrt(2) * mp.erfinv(2 * mp.mpf(target) - 1)
        return _float((z / (2 * mp.mpf(delta))) ** 2)


register(
    Reference(
        f"{MODULE}.votes_needed",
        "mpmath's erfinv at 40 digits",
        exact=_votes_needed,
        cases=(
            dict(delta=0.05, target=0.9),
            dict(delta=1e-150, target=1 - 2**-53),
            dict(delta=0.5, target=0.5 + 2**-53),
        ),
    )
)


# ---------------------------------------------------------------------------------------------
# plurality and subsample votes: a dynamic programme over the answers


def _chernoff(p0: float, others: np.ndarray, N: int) -> float | None:
    """1 or 0 where a Chernoff bound (per draw, 1 - (sqrt p0 - sqrt p_i)^2) settles the vote to
    within 1e-14, else None."""
    with mp.workdps(30):
        p0 = mp.mpf(p0)
        bounds = [(1 - (mp.sqrt(p0) - mp.sqrt(mp.mpf(q))) ** 2) ** N for q in others]
        if all(q < p0 for q in others) and mp.fsum(bounds) < 1e-14:
            return 1.0
        if any(q > p0 and b < 1e-14 for q, b in zip(others, bounds)):
            return 0.0
    return None


def _vote_dp(table: np.ndarray, N: int, correct: int, ties: str, smaller) -> float:
    """sum over tallies (counts summing to N) of prod_i table[i, count_i] times P(the correct
    answer wins | tally), by a dynamic programme over the other answers for each count m of the
    correct one: the state is (votes used, others tied at m, whether one of them has a smaller
    code), and every term is positive (floats lose nothing to cancellation)."""
    answers = table.shape[0]
    others = [i for i in range(answers) if i != correct]
    total = 0.0
    for m in range(N + 1):
        w_m = table[correct, m]
        if w_m == 0:
            continue
        s = N - m
        state = np.zeros((s + 1, answers, 2))
        state[0, 0, 0] = 1.0
        for i in others:
            new = np.zeros_like(state)
            for c in range(min(m, s) + 1):
                w = table[i, c]
                if w == 0:
                    continue
                if c < m:
                    new[c:, :, :] += w * state[: s + 1 - c, :, :]
                else:  # c == m: one more tied answer (and a smaller code, if it has one)
                    moved = w * state[: s + 1 - c, :-1, :]
                    if smaller[i]:
                        new[c:, 1:, 1] += moved[:, :, 0] + moved[:, :, 1]
                    else:
                        new[c:, 1:, :] += moved
            state = new
        tied = np.arange(answers)
        if ties == "uniform":
            win = (state[s, :, 0] + state[s, :, 1]) @ (1 / (1 + tied))
        elif ties == "lose":
            win = state[s, 0, 0] + state[s, 0, 1]
        else:
            win = state[s, :, 0].sum()
        total += w_m * win
    return total


def _smaller(codes, correct: int, answers: int) -> list[bool]:
    if codes is None:
        return [False] * answers
    codes = np.asarray(codes)
    return list(codes < codes[correct])


def _plurality(probs, N, correct=0, tol=1e-12, ties="uniform", codes=None):
    probs = np.asarray(probs, dtype=float)
    others = np.delete(probs, correct)
    others = others[others > 0]
    if probs[correct] == 0:
        return 0.0
    if others.size == 0:
        return 1.0
    settled = _chernoff(float(probs[correct]), others, N)
    if settled is not None:
        return settled
    # multinomial: N! prod_i p_i^c_i / c_i!, the log N! shared among the answers' factors
    share = math.lgamma(N + 1) / probs.size
    counts = np.arange(N + 1)
    with np.errstate(divide="ignore"):
        log_table = (
            counts[None, :] * np.log(probs)[:, None] - special.gammaln(counts + 1)[None, :] + share
        )
    table = np.where(np.isnan(log_table), 0.0, np.exp(log_table))
    table[probs == 0, 0] = math.exp(share)
    return _vote_dp(table, N, correct, ties, _smaller(codes, correct, probs.size))


def _subsample(counts, N, correct=0, tol=1e-12, ties="uniform", codes=None):
    counts = np.asarray(counts, dtype=np.int64)
    S = int(counts.sum())
    others = np.delete(counts, correct)
    others = others[others > 0]
    if counts[correct] == 0:
        return 0.0
    if others.size == 0:
        return 1.0
    settled = _chernoff(counts[correct] / S, others / S, N)
    if settled is not None:
        return settled
    # multivariate hypergeometric: prod_i C(c_i, k_i) / C(S, N), in exact integers per factor
    table = np.array(
        [[float(math.comb(int(c), k)) for k in range(N + 1)] for c in counts], dtype=float
    )
    total = _vote_dp(table, N, correct, ties, _smaller(codes, correct, counts.size))
    return total / math.comb(S, N)


def _draw_vote(rng: np.random.Generator) -> dict:
    """A vote the dynamic programme can sum: 2 to 5 answers, N log-uniform up to 60 (N up to
    10^9 one time in four, where a Chernoff bound settles it), each tie rule, tol the default or
    (one time in three) log-uniform over its declared range."""
    answers = int(rng.integers(2, 6))
    weights = rng.exponential(size=answers) ** rng.uniform(0.5, 4)
    probs = weights / weights.sum()
    ties = ["uniform", "lose", "smallest"][int(rng.integers(3))]
    correct = int(rng.integers(answers))
    if rng.random() < 0.25:
        N = int(10 ** rng.uniform(4, 9))
        rival = np.delete(probs, correct).max()
        probs[correct] = rival * (1.5 if rng.random() < 0.5 else 0.5)
        probs = probs / probs.sum()
    else:
        N = int(min(round(math.exp(rng.uniform(0, math.log(60)))), 60))
    codes = rng.permutation(answers) if ties == "smallest" else None
    tol = 10 ** rng.uniform(-300, -10) if N <= 60 and rng.random() < 0.3 else 1e-12
    return dict(probs=probs, N=N, correct=correct, tol=tol, ties=ties, codes=codes)


def _draw_subsample(rng: np.random.Generator) -> dict:
    vote = _draw_vote(rng)
    S = int(rng.integers(max(vote["N"], 2), max(vote["N"], 2) * 3 + 1)) if vote["N"] <= 60 else 0
    if S == 0:  # a large N: counts proportional to the shares, S a few times N
        S = 3 * vote["N"]
    counts = np.maximum(np.round(vote["probs"] * S).astype(np.int64), 0)
    counts[vote["correct"]] = max(int(counts[vote["correct"]]), 1)
    if counts.sum() < vote["N"]:
        counts[vote["correct"]] += vote["N"] - int(counts.sum())
    if vote["N"] <= 60:  # keep the exact hypergeometric sum small
        counts = np.minimum(counts, 40)
        if counts.sum() < vote["N"]:
            vote["N"] = int(counts.sum())
    return {k: v for k, v in dict(vote, counts=counts).items() if k != "probs"}


register(
    Reference(
        f"{MODULE}.plurality_vote_accuracy",
        "a dynamic programme over the answers summing the multinomial law's positive terms (no "
        "Fourier transform, no Poissonisation), or the limit 1 / 0 where a Chernoff bound "
        "settles the vote to within 1e-14",
        exact=_plurality,
        draw=_draw_vote,
        cases=(
            dict(probs=np.array([0.4, 0.3, 0.3]), N=30000),  # review: 6-12 s
            dict(probs=np.array([0.4, 0.3, 0.3]), N=10**9),
            dict(probs=np.array([0.3, 0.4, 0.3]), N=10**6),
            dict(probs=np.array([0.5, 0.3, 0.2]), N=7),
            dict(probs=np.array([0.25, 0.25, 0.25, 0.25]), N=12, ties="lose"),
            dict(
                probs=np.array([0.3, 0.3, 0.2, 0.2]),
                N=9,
                correct=1,
                ties="smallest",
                codes=np.array([8, 2, 5, 11]),
            ),
        ),
    )
)

register(
    Reference(
        f"{MODULE}.subsample_vote_accuracy",
        "a dynamic programme over the answers summing the multivariate hypergeometric law in exact "
        "integers, or the limit 1 / 0 where a Chernoff bound settles the vote to within 1e-14",
        exact=_subsample,
        draw=_draw_subsample,
        cases=(
            dict(counts=np.array([40000, 30000, 30000]), N=30000),
            dict(counts=np.array([3, 2, 2, 1]), N=4),
            dict(counts=np.array([4, 4, 1]), N=6, correct=1, ties="lose"),
            dict(
                counts=np.array([2, 1, 1, 1, 1]),
                N=5,
                ties="smallest",
                codes=np.array([3, 2, 5, 1, 4]),
            ),
        ),
    )
)
