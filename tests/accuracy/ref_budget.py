"""References for :mod:`icl.theory.budget`.

- Averages over the Gaussian design: for min(n, d) = 1 and 2, the one-point density of the
  eigenvalues written out independently (a chi-square density, with mpmath quadrature at 30
  digits; for two eigenvalues, the joint density x^a y^a e^{-(x+y)/2} |x - y| integrated over
  y in closed form with incomplete gamma functions, with adaptive quadrature to 1e-13); for
  min(n, d) >= 3, the identity with the
  typical-design GD average of :func:`icl.theory.gd_risk_parts` (ridge GD with penalty level^2:
  another quadrature code, whose density has its own references).
- The spread over the seeded design sample: the same designs redrawn, the recursion in mpmath.
- Searches: exhaustive over (N, T) in exact rational arithmetic.
- Closed forms: mpmath at 30-50 digits; soft selection's averages by mpmath quadrature of the
  original (precision) formulas against the chi-square law; the coverage miss by mpmath
  quadrature against the variance-gamma density written with mpmath's Bessel K.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath as mp
import numpy as np
from scipy import integrate, special

from icl.theory import budget, gd_risk_parts
from tests.accuracy import Reference, register

NAME = "icl.theory.budget."
DPS = 30


# ----------------------------------------------------------------------------------------------
# Averages over the design


def _chi2_log_density(p: int):
    """log of the chi^2_p density, in mpmath: the eigenvalue x of X^T X when min(n, d) = 1."""
    k = mp.mpf(p) / 2
    return lambda x: (k - 1) * mp.log(x) - x / 2 - mp.loggamma(k) - k * mp.log(2)


def _pair_density(p: int):
    """rho(x) for min(n, d) = 2 (integral 2), in float64: the joint density of the two
    eigenvalues of a 2 x 2 real Wishart matrix with p degrees of freedom is proportional to
    x^a y^a e^{-(x+y)/2} |x - y|, a = (p - 3) / 2, and its integral over y is
    2^{a+1} Gamma(a+1) x^a e^{-x/2} [2 x P(a+1, x/2) - 4 (a+1) P(a+2, x/2) + 2 (a+1) - x]
    (P the regularised lower incomplete gamma function); normalised by adaptive quadrature."""
    a = (p - 3) / 2

    def shape(x):
        bracket = (
            2 * x * special.gammainc(a + 1, x / 2)
            - 4 * (a + 1) * special.gammainc(a + 2, x / 2)
            + 2 * (a + 1)
            - x
        )
        return np.exp(a * np.log(x) - x / 2) * bracket

    edges = [0.0, p / 4, p, 2 * p + 40, 4 * p + 200, np.inf]
    total = sum(
        integrate.quad(shape, lo, hi, epsabs=0.0, epsrel=1e-13, limit=200)[0]
        for lo, hi in zip(edges[:-1], edges[1:])
    )
    return lambda x: 2 * shape(x) / total


def linear_statistic(g_mp, g_float, n: int, d: int, upper: float, extra_points=()) -> float:
    """E sum_j g(s_j) 1{s_j <= upper}, s_j the eigenvalues of X^T X / n, min(n, d) <= 2: mpmath
    quadrature at 30 digits against the chi-square density (min(n, d) = 1), adaptive quadrature
    (1e-13) against :func:`_pair_density` (min(n, d) = 2)."""
    m, p = min(n, d), max(n, d)
    top = n * upper
    points = {0.0, top, *[x for x in (p / 4, p, 2 * p + 40) if x < top]}
    points |= {x for x in extra_points if 0 < x < top}
    points = sorted(points)
    if m == 1:
        with mp.workdps(DPS):
            log_rho = _chi2_log_density(p)
            integral = mp.quad(
                lambda x: g_mp(x / n) * mp.exp(log_rho(x)), [mp.mpf(x) for x in points]
            )
            return float((d - m) * g_mp(mp.mpf(0)) + integral)
    rho = _pair_density(p)
    integral = sum(
        integrate.quad(
            lambda x: g_float(x / n) * rho(x), lo, hi, epsabs=0.0, epsrel=1e-13, limit=200
        )[0]
        for lo, hi in zip(points[:-1], points[1:])
    )
    return (d - m) * g_float(0.0) + integral


def _bias_functions(n, sigma2, eta, level, t, psi2):
    """f_t(s) = psi2 ((delta2 + s a^t) / (s + delta2))^2 + (sigma2 / n) s (1 - a^t)^2 / (s +
    delta2)^2, a = 1 - eta (s + delta2), in mpmath and in float64 (1 - a^t by expm1)."""

    def f_mp(s):
        delta2 = mp.mpf(level) ** 2
        a = 1 - mp.mpf(eta) * (s + delta2)
        power = a**t
        return (
            mp.mpf(psi2) * ((delta2 + s * power) / (s + delta2)) ** 2
            + mp.mpf(sigma2) / n * s * (1 - power) ** 2 / (s + delta2) ** 2
        )

    def f_float(s):
        delta2 = level**2
        x = eta * (s + delta2)
        if x <= 1:
            rest = -math.expm1(t * math.log1p(-x)) if t else 0.0  # 1 - a^t
        else:
            rest = 1 - (1 - x) ** t
        power = 1 - rest
        return (
            psi2 * ((delta2 + s * power) / (s + delta2)) ** 2
            + sigma2 / n * s * rest**2 / (s + delta2) ** 2
        )

    return f_mp, f_float


def _bias_exact(n, d, sigma2, eta, level, t, psi2):
    """E b_t over the typical designs (eta (s + delta2) <= 2 for each eigenvalue)."""
    if min(n, d) >= 3:
        return gd_risk_parts(n, d, sigma2, eta, t, psi2=psi2, lam=level**2).typical
    f_mp, f_float = _bias_functions(n, sigma2, eta, level, t, psi2)
    fine = [n / (eta * max(t, 1)) * f_ for f_ in (0.1, 1, 10, 100)]
    return linear_statistic(f_mp, f_float, n, d, 2 / eta - level**2, fine)


def _designs_exact(n, d, eta, level, designs, seed):
    """The spectra of the function's design sample: the same draws, in order, from
    numpy.random.default_rng(seed), the atypical ones left out."""
    rng = np.random.default_rng(seed)
    kept = []
    while len(kept) < designs:
        X = rng.standard_normal((n, d))
        s = np.linalg.eigvalsh(X.T @ X / n).clip(min=0.0)
        if eta * (s[-1] + level**2) <= 2:
            kept.append(s)
    return kept


def _trace_exact(n, d, sigma2, eta, level, steps, psi2, designs, seed):
    """(E v_t, its standard error) for t = 0..T: the recursion of the spread in mpmath, per
    design."""
    spectra = _designs_exact(n, d, eta, level, designs, seed)
    with mp.workdps(DPS):
        eta_, delta2 = mp.mpf(eta), mp.mpf(level) ** 2
        kappa = eta_**2 * delta2**2
        values = np.zeros((steps + 1, designs))
        for index, spectrum in enumerate(spectra):
            s = [mp.mpf(float(v)) for v in spectrum]
            a = [1 - eta_ * (v + delta2) for v in s]
            mu2 = [(mp.mpf(psi2) * v**2 + mp.mpf(sigma2) * v / n) / (v + delta2) ** 2 for v in s]
            c = [mp.mpf(0)] * d
            for t in range(1, steps + 1):
                second = [c[j] + mu2[j] * (1 - a[j] ** (t - 1)) ** 2 for j in range(d)]
                total = mp.fsum(second)
                c = [a[j] ** 2 * c[j] + kappa * (second[j] + total) for j in range(d)]
                values[t, index] = float(mp.fsum(c))
    return values.mean(1), values.std(1, ddof=1) / math.sqrt(designs)


def _typical_draw(rng, *, rate=(1e-3, 0.9)):
    """(n, d, sigma2, eta, level, psi2) with the atypical designs of probability <= 1e-7: the
    cut 2 / eta - level^2 is put beyond sqrt(s) = 1 + sqrt(d / n) + sqrt(52 / n), where the
    Davidson-Szarek bound min(n, d) e^{-n t^2 / 2} on the expected count above it is below
    1e-9; and eta level^2 in ``rate``."""
    for _ in range(50):
        n = int(np.exp(rng.uniform(0, math.log(128))))
        d = (
            int(np.exp(rng.uniform(0, math.log(128))))
            if rng.random() < 0.6
            else int(rng.integers(1, 3))
        )
        edge = (1 + math.sqrt(d / n) + math.sqrt(52 / n)) ** 2
        level = float(10.0 ** rng.uniform(-2, 1))
        eta = float(10.0 ** rng.uniform(-3, 0) * 2 / (edge + level**2))
        if not rate[0] <= eta * level**2 <= rate[1]:
            continue
        if budget._typical(n, d, eta, level):
            sigma2 = float(10.0 ** rng.uniform(-4, 3)) if rng.random() < 0.8 else 0.0
            psi2 = float(10.0 ** rng.uniform(-2, 2))
            return dict(n=n, d=d, sigma2=sigma2, eta=eta, level=level, psi2=psi2)
    return dict(n=8, d=5, sigma2=0.5, eta=0.1, level=0.5, psi2=1.0)


def _terms_draw(rng):
    for _ in range(20):
        kwargs = _typical_draw(rng)
        kwargs.update(
            steps=int(rng.choice([0, 1, 2, 17, 60])),
            designs=int(rng.choice([2, 3, 5])),
            seed=int(rng.integers(0, 2**31)),
        )
        # the mpmath recursion of the reference costs designs T d: keep it near 5000
        kwargs["steps"] = min(kwargs["steps"], 5000 // (kwargs["designs"] * kwargs["d"]))
        try:
            budget.prompt_averaged_chain_terms(**kwargs)
        except ValueError:  # the gap condition, checked inside: not a valid input
            continue
        return kwargs
    return dict(n=8, d=5, sigma2=0.5, eta=0.1, level=0.5, psi2=1.0, steps=20, designs=3, seed=1)


def _terms_compare(kwargs, value) -> float:
    steps = kwargs["steps"]
    args = [kwargs[k] for k in ("n", "d", "sigma2", "eta", "level")]
    worst = 0.0
    for t in sorted({0, min(1, steps), steps // 2, steps}):
        exact = _bias_exact(*args, t, kwargs["psi2"])
        worst = max(worst, abs(value.bias2[t] - exact) / (1e-8 * abs(exact)))
    mean, se = _trace_exact(
        *args, steps, kwargs["psi2"], kwargs.get("designs", 4096), kwargs.get("seed", 0)
    )
    scale = np.maximum(np.abs(mean), 1e-300)
    worst = max(worst, float(np.max(np.abs(value.trace - mean) / (1e-8 * scale))))
    worst = max(worst, float(np.max(np.abs(value.trace_se - se) / (1e-8 * scale))))
    return worst


register(
    Reference(
        NAME + "prompt_averaged_chain_terms",
        "E b_t by mpmath quadrature against the eigenvalue density (min(n, d) <= 2) or the"
        " identity with gd_risk_parts; E v_t by the recursion in mpmath on the same designs",
        compare=_terms_compare,
        draw=_terms_draw,
        cases=(dict(n=8, d=5, sigma2=0.5, eta=0.1, level=0.5, steps=30, designs=4, psi2=1.0),),
    )
)


def _ridge_exact(n, d, sigma2, eta, level, psi2):
    if min(n, d) >= 3:
        T = min(10**5, math.ceil(40 / (eta * level**2)))
        return gd_risk_parts(n, d, sigma2, eta, T, psi2=psi2, lam=level**2).typical
    delta2 = level**2

    def g_mp(s):
        return (mp.mpf(psi2) * mp.mpf(delta2) ** 2 + mp.mpf(sigma2) / n * s) / (
            s + mp.mpf(delta2)
        ) ** 2

    def g_float(s):
        return (psi2 * delta2**2 + sigma2 / n * s) / (s + delta2) ** 2

    return linear_statistic(g_mp, g_float, n, d, 2 / eta - delta2, [n * delta2])


def _ridge_draw(rng):
    for _ in range(20):
        kwargs = _typical_draw(rng)
        try:
            budget.ridge_limit_risk(**kwargs)
        except ValueError:
            continue
        return kwargs
    return dict(n=8, d=5, sigma2=0.5, eta=0.1, level=0.5, psi2=1.0)


register(
    Reference(
        NAME + "ridge_limit_risk",
        "mpmath quadrature against the eigenvalue density (min(n, d) <= 2) or the T -> infinity"
        " identity with gd_risk_parts",
        exact=_ridge_exact,
        draw=_ridge_draw,
        cases=(
            dict(n=8, d=5, sigma2=0.5, eta=0.1, level=0.5, psi2=1.0),
            dict(n=1, d=3, sigma2=0.0, eta=0.05, level=0.3, psi2=2.0),
            dict(n=40, d=2, sigma2=3.0, eta=0.2, level=1.0, psi2=0.5),
        ),
    )
)


# ----------------------------------------------------------------------------------------------
# Searches


def _exhaustive_split(bias2, trace, budget_):
    """min over integers N, T >= 1 with N T <= B of bias2[T] + trace[T] / N in exact rationals:
    every N for B <= 3000, N = floor(B / T) otherwise (the risk falls with N: trace >= 0)."""
    b = [Fraction(float(v)) for v in bias2]
    c = [Fraction(float(v)) for v in trace]
    best = None
    for T in range(1, min(budget_, len(b) - 1) + 1):
        counts = range(1, budget_ // T + 1) if budget_ <= 3000 else (budget_ // T,)
        for N in counts:
            risk = b[T] + c[T] / N
            if best is None or risk < best[0]:
                best = (risk, N, T)
    return best


def _split_error(bias2, trace, budget_, value) -> float:
    """The returned (N, T, R) against the exhaustive search: (N, T) feasible and optimal (its
    exact risk within 1e-15 of the minimum; ties are equally right), R its risk."""
    exact, _, _ = _exhaustive_split(bias2, trace, budget_)
    N, T, R = value[:3]
    if not (1 <= T < len(bias2) and 1 <= N and N * T <= budget_):
        return math.inf
    risk = Fraction(float(bias2[T])) + Fraction(float(trace[T])) / N
    allowed = Fraction(1, 10**15) * abs(exact)
    if allowed == 0:
        return 0.0 if risk == exact and R == 0 else math.inf
    return float(max(abs(risk - exact), abs(Fraction(R) - risk)) / allowed)


def _split_draw(rng):
    length = int(rng.integers(2, 300))
    t = np.arange(length)
    kind = rng.random()
    scale = 10.0 ** rng.uniform(-100, 100)
    if kind < 0.4:  # a decaying bias with an early-stopping dip and a growing spread
        bias2 = scale * (1 + np.exp(-t / rng.uniform(1, 50)) - 0.3 * np.exp(-t / 200))
        trace = scale * rng.uniform(0, 2) * (1 - np.exp(-t / rng.uniform(1, 30)))
    elif kind < 0.7:
        bias2, trace = scale * rng.random(length), scale * rng.random(length)
    else:  # ties
        bias2, trace = np.full(length, scale), np.zeros(length)
    budget_ = (
        int(np.exp(rng.uniform(0, math.log(10**12))))
        if rng.random() < 0.5
        else int(rng.integers(1, 3000))
    )
    return {"bias2": bias2, "trace": trace, "budget": budget_}


register(
    Reference(
        NAME + "best_split",
        "exhaustive search over (N, T) in exact rational arithmetic",
        compare=lambda kwargs, value: _split_error(
            kwargs["bias2"], kwargs["trace"], kwargs["budget"], value
        ),
        draw=_split_draw,
        cases=(
            {"bias2": np.linspace(2.0, 1.0, 21), "trace": np.linspace(0.0, 0.1, 21), "budget": 50},
            {"bias2": np.ones(5), "trace": np.zeros(5), "budget": 2**63 - 1},
        ),
    )
)


def _optimal_compare(kwargs, value) -> float:
    """(N*, T*, R*) against an exhaustive search over the terms (verified by their own
    reference) computed to twice the function's horizon, and R*'s standard error."""
    budget_ = kwargs["budget"]
    horizon = min(budget_, 2 * budget._convergence_steps(kwargs["eta"], kwargs["level"]))
    args = {k: v for k, v in kwargs.items() if k != "budget"}
    terms = budget.prompt_averaged_chain_terms(**args, steps=horizon)
    error = _split_error(terms.bias2, terms.trace, budget_, value)
    se = terms.trace_se[value.steps] / value.n_chains
    return max(error * 1e-15 / 1e-8, abs(value.risk_se - se) / (1e-8 * max(abs(se), 1e-300)))


def _optimal_draw(rng):
    for _ in range(20):
        kwargs = _typical_draw(rng, rate=(0.05, 0.9))
        kwargs.update(
            budget=int(np.exp(rng.uniform(0, math.log(10**15)))),
            designs=int(rng.choice([2, 3, 8])),
            seed=int(rng.integers(0, 2**31)),
        )
        horizon = min(
            kwargs["budget"], 2 * budget._convergence_steps(kwargs["eta"], kwargs["level"])
        )
        terms = {k: v for k, v in kwargs.items() if k != "budget"}
        try:
            budget.compute_optimal_split(**kwargs)
            budget.prompt_averaged_chain_terms(**terms, steps=horizon)  # the reference's horizon
        except ValueError:
            continue
        return kwargs
    return dict(n=8, d=5, sigma2=0.5, eta=0.1, level=0.5, psi2=1.0, budget=100, designs=4, seed=0)


register(
    Reference(
        NAME + "compute_optimal_split",
        "exhaustive search in exact rationals over the terms of prompt_averaged_chain_terms"
        " computed to twice the function's horizon",
        compare=_optimal_compare,
        draw=_optimal_draw,
        cases=(
            dict(n=8, d=5, sigma2=0.5, eta=0.1, level=0.5, psi2=1.0, budget=60, designs=16, seed=1),
            dict(
                n=8, d=5, sigma2=0.5, eta=0.1, level=0.5, psi2=1.0, budget=10**18, designs=4, seed=0
            ),
        ),
    )
)


# ----------------------------------------------------------------------------------------------
# Closed forms


def _kl_exact(n_samples):
    counts = np.asarray(n_samples)
    with mp.workdps(40):
        values = [float(mp.log(int(N)) - mp.mpf(int(N) - 1) / int(N)) for N in counts.ravel()]
    return np.array(values).reshape(counts.shape)


def _kl_draw(rng):
    if rng.random() < 0.5:
        return {"n_samples": int(np.exp(rng.uniform(0, math.log(2**62))))}
    return {"n_samples": np.exp(rng.uniform(0, 40, size=int(rng.integers(1, 6)))).astype(np.int64)}


register(
    Reference(
        NAME + "best_of_n_kl",
        "log N - (N - 1) / N in mpmath (40 digits)",
        exact=_kl_exact,
        draw=_kl_draw,
        cases=(
            {"n_samples": 1},
            {"n_samples": 2},
            {"n_samples": 2**63 - 1},
            {"n_samples": np.array([1, 2, 3, 10**18])},
        ),
    )
)


def _tilt_exact(mean, tau, beta, curvature, center):
    """The tilted Gaussian's mean and variance from the precision form, at 50 digits; and the
    scale |h mean| + |(1 - h) center| of the declared accuracy of the mean."""
    mean, curvature, center = np.broadcast_arrays(
        np.asarray(mean, float), np.asarray(curvature, float), np.asarray(center, float)
    )
    out_mean, out_var, scale = (np.zeros(mean.shape) for _ in range(3))
    with mp.workdps(50):
        t2, b = mp.mpf(tau) ** 2, mp.mpf(beta)
        for index in np.ndindex(mean.shape):
            m, c, z = (mp.mpf(float(v[index])) for v in (mean, curvature, center))
            precision = 1 / t2 + 2 * c / b
            own, pulled = (m / t2) / precision, (2 * c * z / b) / precision
            out_mean[index] = float(own + pulled)
            out_var[index] = float(1 / precision)
            scale[index] = float(abs(own) + abs(pulled))
    return out_mean, out_var, scale


def _tilt_compare(kwargs, value) -> float:
    mean, var, scale = _tilt_exact(**kwargs)
    got_mean = np.broadcast_to(np.asarray(value[0], float), mean.shape)
    got_var = np.broadcast_to(np.asarray(value[1], float), var.shape)

    def units(got, exact, size):
        gap = np.abs(got - exact)
        allowed = np.maximum(1e-12 * size, 1e-300)
        return float(np.max(np.where(gap == 0, 0.0, gap / allowed)))

    return max(units(got_mean, mean, scale), units(got_var, var, np.abs(var)))


def _tilt_draw(rng):
    shape = () if rng.random() < 0.5 else (int(rng.integers(1, 4)),)

    def signed(scale_lo, scale_hi):
        values = np.sign(rng.standard_normal(shape)) * 10.0 ** rng.uniform(
            scale_lo, scale_hi, shape
        )
        return float(values) if shape == () else values

    curvature = 10.0 ** rng.uniform(-300, 300, shape)
    if rng.random() < 0.2:
        curvature = np.zeros(shape)
    return {
        "mean": signed(-300, 300),
        "tau": float(10.0 ** rng.uniform(-150, 150)),
        "beta": float(10.0 ** rng.uniform(-300, 300)),
        "curvature": float(curvature) if shape == () else curvature,
        "center": signed(-300, 300),
    }


register(
    Reference(
        NAME + "soft_selection_tilt",
        "the precision form (mean / tau^2 + 2 c center / beta) / precision in mpmath (50 digits)",
        compare=_tilt_compare,
        draw=_tilt_draw,
        cases=(
            dict(mean=0.3, tau=0.5, beta=0.4, curvature=2.0, center=1.0),
            dict(mean=0.3, tau=1e-200, beta=1e-300, curvature=1.0, center=1.0),  # was 1/0
            dict(mean=0.3, tau=1e150, beta=1e-300, curvature=1e300, center=-2.0),  # was NaN
            dict(mean=1e300, tau=1e150, beta=1e300, curvature=1e-300, center=0.0),
        ),
    )
)


def _soft_exact(beta, tau, n, sigma2, eta, reward, psi2):
    """(risk, KL) from the precision form of the tilt averaged over S ~ chi^2_n / n by mpmath
    quadrature (30 digits); for the norm reward both are quadratic in S (E S = 1, E S^2 =
    1 + 2/n)."""
    with mp.workdps(DPS):
        beta, tau2 = mp.mpf(beta), mp.mpf(tau) ** 2
        eta, sigma2, psi2 = mp.mpf(eta), mp.mpf(sigma2), mp.mpf(psi2)

        if reward == "norm":  # h, v do not depend on S: the moments E S = 1, E S^2 = 1 + 2/n
            h, v = eta * beta / (beta + 2 * tau2), tau2 * beta / (beta + 2 * tau2)
            second = 1 + mp.mpf(2) / n
            risk = psi2 * (h**2 * second - 2 * h + 1) + h**2 * sigma2 / n + v
            kl = (
                v / tau2
                - 1
                - mp.log(v / tau2)
                + (h - eta) ** 2 * (psi2 * second + sigma2 / n) / tau2
            ) / 2
            return float(risk), float(kl)

        def parts(S):
            precision = 1 / tau2 + 2 * S / beta
            h, v = (eta / tau2 + 2 / beta) / precision, 1 / precision
            risk = psi2 * (h * S - 1) ** 2 + h**2 * sigma2 * S / n + v
            kl = (
                v / tau2
                - 1
                - mp.log(v / tau2)
                + (h - eta) ** 2 * (psi2 * S**2 + sigma2 * S / n) / tau2
            ) / 2
            return risk, kl

        def density(S):
            q = n * S
            return n * mp.exp(
                (mp.mpf(n) / 2 - 1) * mp.log(q)
                - q / 2
                - mp.loggamma(mp.mpf(n) / 2)
                - mp.log(2) * mp.mpf(n) / 2
            )

        sd = mp.sqrt(mp.mpf(2) / n)
        points = {mp.mpf(0), mp.mpf(1), 1 + 3 * sd, 1 + 12 * sd, 1 + 60 * sd + mp.mpf(60) / n}
        points |= {x for x in (1 - 3 * sd, 1 - 12 * sd) if x > 0}
        points |= {beta / (2 * tau2) * f for f in (mp.mpf("0.1"), 1, 10)}
        edges = sorted(points) + [mp.inf]
        return tuple(
            float(mp.quad(lambda S, k=k: parts(S)[k] * density(S), edges)) for k in range(2)
        )


def _soft_draw(rng):
    return dict(
        beta=float(10.0 ** rng.uniform(-8, 8)),
        tau=float(10.0 ** rng.uniform(-4, 2)),
        n=int(np.exp(rng.uniform(0, math.log(10**6)))),
        sigma2=float(10.0 ** rng.uniform(-4, 3)) if rng.random() < 0.8 else 0.0,
        eta=float(10.0 ** rng.uniform(-3, 1)),
        reward=str(rng.choice(budget.SOFT_REWARDS)),
        psi2=float(10.0 ** rng.uniform(-2, 2)),
    )


register(
    Reference(
        NAME + "soft_selection_1d_averaged",
        "the precision form of the tilt averaged over the chi^2_n law by mpmath quadrature (30"
        " digits); the norm reward's moments in mpmath",
        exact=_soft_exact,
        draw=_soft_draw,
        cases=(
            dict(
                beta=0.1, tau=0.3, n=6, sigma2=3.0, eta=6 / 11, reward="in-context loss", psi2=1.0
            ),
            dict(beta=0.1, tau=0.3, n=6, sigma2=3.0, eta=6 / 11, reward="norm", psi2=1.0),
            dict(beta=1e-12, tau=1.0, n=1, sigma2=1.0, eta=0.5, reward="in-context loss", psi2=1.0),
        ),
    )
)


def _exponents_exact(n, d, sigma2, eta, temperature):
    with mp.workdps(40):
        s2 = d - 1 + mp.mpf(sigma2)
        a = (1 + mp.sqrt(1 + s2)) * n * mp.mpf(temperature) / (2 * mp.mpf(eta) * s2)
        return float(a), n / 2 - 1


def _exponents_draw(rng):
    for _ in range(100):
        kwargs = dict(
            n=int(np.exp(rng.uniform(0, math.log(10**9)))),
            d=int(np.exp(rng.uniform(0, math.log(10**9)))),
            sigma2=float(10.0 ** rng.uniform(-12, 12)) if rng.random() < 0.8 else 0.0,
            eta=float(10.0 ** rng.uniform(-100, 100)),
            temperature=float(10.0 ** rng.uniform(-100, 100)),
        )
        if budget._spread_positive(kwargs["d"], kwargs["sigma2"]) and budget._rate_fits(**kwargs):
            return kwargs
    return dict(n=20, d=10, sigma2=0.25, eta=1.0, temperature=0.5)


register(
    Reference(
        NAME + "coverage_exponents",
        "the formula in mpmath (40 digits)",
        exact=_exponents_exact,
        draw=_exponents_draw,
        cases=(
            dict(n=20, d=10, sigma2=0.25, eta=1.0, temperature=0.5),
            dict(n=1, d=1, sigma2=1e-12, eta=1e-100, temperature=1e-100),
        ),
    )
)


_GL16_X, _GL16_W = np.polynomial.legendre.leggauss(16)


_LEVELS = (-0.3, -3.0, -20.0, -100.0, -460.0)
_SUB = np.linspace(0.0, 1.0, 3)


def log_bessel_k(nu: float, x: np.ndarray) -> np.ndarray:
    """log K_nu(x) for an array x > 0, from K_nu(x) = int_0^inf e^{-x cosh t} cosh(nu t) dt
    (independent of scipy's kve): the exponent g(t) = -x cosh t + nu t is concave with its peak
    at sinh t* = nu / x; its exponential relative to the peak is integrated by 16-point
    Gauss-Legendre on 2 panels between each two of the points where g(t) - g(t*) = -0.3, -3,
    -20, -100, -460 on either side (found by bisection; beyond them the integrand is below
    e^{-460} of the peak)."""
    x = np.asarray(x, dtype=float)[:, None]
    ratio = nu / x
    t_star = np.arcsinh(ratio)
    peak = -x * np.hypot(1.0, ratio) + nu * t_star

    def drop(t):  # g(t) - g(t*), with cosh t - cosh t* = 2 sinh((t + t*)/2) sinh((t - t*)/2)
        with np.errstate(over="ignore", invalid="ignore"):
            value = -x * 2 * np.sinh((t + t_star) / 2) * np.sinh((t - t_star) / 2)
            return np.nan_to_num(value + nu * (t - t_star), nan=-np.inf, neginf=-np.inf)

    far = t_star + 1.0
    while np.any(drop(far) > _LEVELS[-1]):
        far = np.where(drop(far) > _LEVELS[-1], t_star + 2 * (far - t_star), far)
    levels = np.array(_LEVELS)[None, :]

    def crossing(outside):
        inside, outside = t_star + 0 * levels, outside + 0 * levels
        for _ in range(55):
            middle = (inside + outside) / 2
            above = drop(middle) > levels
            inside, outside = np.where(above, middle, inside), np.where(above, outside, middle)
        return (inside + outside) / 2

    right = crossing(far)
    left = np.where(drop(0.0 * t_star) < levels, crossing(0.0 * far), 0.0)
    points = np.sort(np.concatenate([np.zeros_like(t_star), t_star, left, right], 1), 1)
    edges = (points[:, :-1, None] + np.diff(points, axis=1)[..., None] * _SUB[:-1]).reshape(
        len(x), -1
    )
    edges = np.concatenate([edges, points[:, -1:]], 1)
    half = np.diff(edges, axis=1)[..., None] / 2
    t = (edges[:, :-1, None] + half + half * _GL16_X).reshape(len(x), -1)
    weights = (half * _GL16_W).reshape(len(x), -1)
    values = np.exp(drop(t)) * (1 + np.exp(-2 * nu * t)) / 2
    return peak[:, 0] + np.log((weights * values).sum(1))


def _margin_log_density(n, d, sigma2):
    """log of the variance-gamma density of the margin (icl.theory.margin_density's
    definition: lam = n/2, alpha = sqrt(1 + s2) / s2, beta = 1 / s2), with Bessel K from its
    integral representation (:func:`log_bessel_k`); for an array u != 0."""
    s2 = d - 1 + sigma2
    lam, alpha, beta = n / 2, math.sqrt(1 + s2) / s2, 1 / s2
    nu = lam - 0.5
    log_c = (
        -lam * math.log(s2)  # (alpha^2 - beta^2)^lam, alpha^2 - beta^2 = 1 / s2
        - 0.5 * math.log(math.pi)
        - math.lgamma(lam)
        - nu * math.log(2 * alpha)
    )

    def log_f(u):
        a = np.abs(u)
        return log_c + nu * np.log(a) + log_bessel_k(nu, alpha * a) + beta * u

    return log_f, alpha, beta


_GL32_X, _GL32_W = np.polynomial.legendre.leggauss(32)


def _miss_exact(k, n, d, sigma2, eta, temperature):
    """E (1 - sigmoid(c u))^k by composite 32-point Gauss-Legendre in u (4 panels between each
    two break-points: each kernel's step -log(k) / c +- 40 / c, the margin's bulk and its
    exponential tails out to 60 decay lengths, and a geometric grid down to 1e-12 of the
    bulk's width on either side of u = 0, where the density
    of n = 1 has a logarithmic singularity; the tails cut where the density's exponential decay
    has fallen below e^{-60}) against the variance-gamma density of
    :func:`_margin_log_density`; the kernel in log form, exp(log f(u) - k log(1 + e^{cu}))."""
    ks = np.atleast_1d(np.asarray(k)).astype(np.int64)
    log_f, alpha, beta = _margin_log_density(n, d, sigma2)
    c = 2 * eta / (n * temperature)
    width = math.sqrt(n * (2 + d - 1 + sigma2))
    points = {n + j * width for j in (-40, -20, -10, -6, -3, -1, 0, 1, 3, 6, 10, 20, 40)} | {0.0}
    points |= {sign * width * 10.0**-j for sign in (-1, 1) for j in range(13)}
    scales = (1, 2, 5, 10, 20, 40, 60)  # the exponential tails, e^{-(alpha +- beta) |u|}
    points |= {-m / (alpha + beta) for m in scales} | {n + m / (alpha - beta) for m in scales}
    for kk in ks:
        step = -math.log(int(kk)) / c
        points |= {step + j / c for j in (-40, -10, -3, -1, 0, 1, 3, 10)}
    lo = min(points) - 60 / (alpha + beta) - 6 * width
    hi = max(points) + 60 / (alpha - beta) + 6 * width
    points = np.array(sorted(points | {lo, hi}))
    edges = (points[:-1, None] + np.diff(points)[:, None] * np.linspace(0, 1, 5)[:-1]).ravel()
    edges = np.append(edges, points[-1])
    half = np.diff(edges)[:, None] / 2
    u = (edges[:-1, None] + half + half * _GL32_X).ravel()
    weights = (half * _GL32_W).ravel()
    keep = u != 0
    u, weights = u[keep], weights[keep]
    density = log_f(u)
    softplus = np.maximum(c * u, 0.0) + np.log1p(np.exp(-np.abs(c * u)))
    out = [float(weights @ np.exp(density - int(kk) * softplus)) for kk in ks]
    return out[0] if np.ndim(k) == 0 else np.array(out)


def _miss_draw(rng):
    for _ in range(100):
        n = int(np.exp(rng.uniform(0, math.log(10**4))))
        kwargs = dict(
            n=n,
            d=int(np.exp(rng.uniform(0, math.log(10**4)))),
            sigma2=float(10.0 ** rng.uniform(-4, 3)) if rng.random() < 0.8 else 0.0,
            eta=float(10.0 ** rng.uniform(-2, 2)),
            temperature=float(10.0 ** rng.uniform(-3, 3)),
        )
        if not (
            budget._spread_positive(kwargs["d"], kwargs["sigma2"]) and budget._rate_fits(**kwargs)
        ):
            continue
        if rng.random() < 0.5:
            kwargs["k"] = int(np.exp(rng.uniform(0, math.log(10**12))))
        else:
            kwargs["k"] = np.exp(rng.uniform(0, 20, size=2)).astype(np.int64)
        return kwargs
    return dict(k=8, n=20, d=10, sigma2=0.25, eta=1.0, temperature=0.5)


register(
    Reference(
        NAME + "coverage_miss",
        "adaptive quadrature against the variance-gamma density, its Bessel K from the integral"
        " representation int e^{-x cosh t} cosh(nu t) dt (independent of scipy's kve)",
        exact=_miss_exact,
        draw=_miss_draw,
        cases=(
            dict(k=np.array([1, 100, 10**8]), n=20, d=10, sigma2=0.25, eta=1.0, temperature=0.05),
        ),
    )
)
