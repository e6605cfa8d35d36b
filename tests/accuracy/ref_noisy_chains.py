"""References for :mod:`icl.theory.noisy_chains`: the chain's mean and second moment by their
exact linear recursion in mpmath at 40 digits, iterated step by step (short chains) or by the
power of the recursion's matrix (long chains), independent of the eigenbasis closed forms;
E||b + g|| by mpmath quadrature; the fourth moment by Isserlis' theorem in exact rationals."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import mpmath as mp
import numpy as np
import torch
from scipy import integrate

from icl.theory import noisy_chains
from tests.accuracy import Reference, register

DPS = 40
NAME = "icl.theory.noisy_chains."


# ----------------------------------------------------------------------------------------------
# The chain's moments in mpmath


def _mp_prompt(X, y):
    """S = X^T X / n and b = X^T y / n in mpmath, from the float entries exactly."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, d = X.shape
    Xm = [[mp.mpf(float(v)) for v in row] for row in X]
    ym = [mp.mpf(float(v)) for v in y]
    S = mp.matrix(d, d)
    b = mp.matrix(d, 1)
    for i in range(d):
        b[i] = mp.fsum(Xm[k][i] * ym[k] for k in range(n)) / n
        for j in range(i, d):
            S[i, j] = S[j, i] = mp.fsum(Xm[k][i] * Xm[k][j] for k in range(n)) / n
    return S, b


def _step_matrix(S, b, eta, noise, level, lam):
    """The matrix L of the linear recursion of z = (vec C, vec Q, m, 1), C the covariance and
    Q = m m^T, written out from the model's definition with A = I - eta (S + shift I):
    m' = A m + eta b, Q' = A Q A + eta (A m b^T + b m^T A) + eta^2 b b^T, and
    C' = A C A + kappa (C + Q + tr(C + Q) I) (multiplicative) or A C A + tau^2 I (additive)."""
    d = S.rows
    eta, level, lam = mp.mpf(eta), mp.mpf(level), mp.mpf(lam)
    delta2 = level**2
    kappa = eta**2 * delta2**2
    shift = lam + (delta2 if noise == "multiplicative" else 0)
    A = mp.eye(d) - eta * (S + shift * mp.eye(d))
    D = 2 * d * d + d + 1
    L = mp.zeros(D, D)
    one = D - 1

    def c(i, j):
        return i * d + j

    def q(i, j):
        return d * d + i * d + j

    def m(i):
        return 2 * d * d + i

    for i in range(d):
        for j in range(d):
            for k in range(d):
                for l_ in range(d):
                    L[c(i, j), c(k, l_)] += A[i, k] * A[l_, j]
                    L[q(i, j), q(k, l_)] += A[i, k] * A[l_, j]
                L[q(i, j), m(k)] += eta * (A[i, k] * b[j] + b[i] * A[k, j])
            L[q(i, j), one] += eta**2 * b[i] * b[j]
            if noise == "multiplicative":
                L[c(i, j), c(i, j)] += kappa
                L[c(i, j), q(i, j)] += kappa
                if i == j:
                    for k in range(d):
                        L[c(i, j), c(k, k)] += kappa
                        L[c(i, j), q(k, k)] += kappa
            elif i == j:
                L[c(i, j), one] += level**2
        for k in range(d):
            L[m(i), m(k)] += A[i, k]
        L[m(i), one] += eta * b[i]
    L[one, one] = 1
    return L


def _apply_power(L, steps):
    """L^T e_last (the state after T steps from w_0 = 0) by repeated squaring."""
    D = L.rows
    z = mp.zeros(D, 1)
    z[D - 1] = 1
    power = L
    while steps:
        if steps & 1:
            z = power * z
        steps >>= 1
        if steps:
            power = power * power
    return z


def _state_to_moments(z, d):
    m = mp.matrix([z[2 * d * d + i] for i in range(d)])
    C = mp.matrix(d, d)
    for i in range(d):
        for j in range(d):
            C[i, j] = z[i * d + j]
    return m, C


def mp_moments(X, y, eta, steps, noise, level, lam):
    """(m_T, C_T) of one prompt in mpmath."""
    with mp.workdps(DPS):
        S, b = _mp_prompt(X, y)
        L = _step_matrix(S, b, eta, noise, level, lam)
        return _state_to_moments(_apply_power(L, steps), S.rows)


def mp_stationary(X, y, eta, noise, level, lam):
    """C_inf: the fixed point of the covariance recursion, by solving (I - L) z = 0 with the last
    component 1."""
    with mp.workdps(DPS):
        S, b = _mp_prompt(X, y)
        L = _step_matrix(S, b, eta, noise, level, lam)
        D = L.rows
        system = mp.eye(D - 1) - L[: D - 1, : D - 1]
        z = mp.lu_solve(system, L[: D - 1, D - 1])
        z = mp.matrix([*[z[i] for i in range(D - 1)], 1])
        return _state_to_moments(z, S.rows)[1]


# ----------------------------------------------------------------------------------------------
# Draws: prompts of every scale, steps from 0 to the maximum, rates up to the stability edge


def _prompt_draw(rng, *, with_w=True, max_d=3, long=True, noise=None):
    """Keyword arguments of one prompt: n from 1 to 1000, d <= max_d, entries of any scale,
    eta up to the edge of the stable region (the moments stay far from overflow), T up to
    MAX_STEPS when ``long``."""
    n = int(rng.choice([1, 2, 3, 5, 8, 20, 100, 1000]))
    d = int(rng.integers(1, max_d + 1))
    scale = 10.0 ** rng.uniform(-3, 3)
    X = rng.standard_normal((n, d)) * scale
    w = rng.standard_normal(d) * 10.0 ** rng.uniform(-3, 3)
    y = X @ w + rng.standard_normal(n) * 10.0 ** rng.uniform(-4, 1) * scale
    noise = noise or str(rng.choice(["additive", "multiplicative"]))
    s_max = float(np.linalg.eigvalsh(X.T @ X / n).max())
    lam = 0.0 if rng.random() < 0.5 else float(s_max * 10.0 ** rng.uniform(-6, 1))
    level = float(math.sqrt(max(s_max, 1e-300)) * 10.0 ** rng.uniform(-4, 0))
    shift = lam + (level**2 if noise == "multiplicative" else 0.0)
    edge = 2.0 / (s_max + shift)
    eta = float(edge * (10.0 ** rng.uniform(-8, 0) if rng.random() < 0.7 else rng.uniform(0.5, 1)))
    steps = (
        int(rng.choice([0, 1, 2, 7, 40, 1000, noisy_chains.MAX_STEPS]))
        if long
        else int(rng.choice([0, 1, 2, 5, 12]))
    )
    if noise == "multiplicative":  # the second moment grows at most by this factor a step
        growth = 1 + (eta * level**2) ** 2 * (d + 2) / max(1e-300, 1 - (1 - eta * shift) ** 2)
        if steps * math.log(growth + 1e-300) > 50:
            level *= 1e-3
    kwargs = dict(
        X=torch.tensor(X[None], dtype=torch.float64),
        y=torch.tensor(y[None], dtype=torch.float64),
        eta=eta,
        steps=steps,
        noise=noise,
        level=level,
        lam=lam,
    )
    if with_w:
        kwargs["w"] = torch.tensor(w[None], dtype=torch.float64)
    return kwargs


def _args(kwargs):
    return (
        kwargs["X"][0].numpy(),
        kwargs["y"][0].numpy(),
        kwargs["eta"],
        kwargs["steps"],
        kwargs.get("noise", "multiplicative"),
        kwargs["level"],
        kwargs.get("lam", 0.0),
    )


def _norm_error(value, exact, relative) -> float:
    """||value - exact|| / (relative ||exact||), 0 when both are 0."""
    value = np.asarray(value, dtype=float).ravel()
    exact = np.asarray(exact, dtype=float).ravel()
    gap, size = np.linalg.norm(value - exact), np.linalg.norm(exact)
    if gap == 0:
        return 0.0
    return float(gap / (relative * size)) if size > 0 else math.inf


def _scaled_error(value, exact, relative, floor) -> float:
    """|value - exact| / max(relative |exact|, floor)."""
    gap = abs(float(value) - float(exact))
    if gap == 0:
        return 0.0
    allowed = max(relative * abs(float(exact)), floor)
    return gap / allowed if allowed > 0 else math.inf


def _mp_vector(v):
    return np.array([float(x) for x in v])


def _mp_matrix(M):
    return np.array([[float(M[i, j]) for j in range(M.cols)] for i in range(M.rows)])


# ----------------------------------------------------------------------------------------------
# The references


def _fourth_moment_exact(M, delta2):
    """E[xi xi^T M xi xi^T] entry by entry by Isserlis' theorem, in exact rationals."""
    M = np.asarray(M, dtype=float)
    lead, d = M.shape[:-2], M.shape[-1]
    flat = M.reshape(-1, d, d)
    q = Fraction(delta2)
    out = np.zeros(flat.shape)
    for index, matrix in enumerate(flat):
        F = [[Fraction(float(v)) for v in row] for row in matrix]
        for a, b in itertools.product(range(d), repeat=2):
            total = Fraction(0)
            for c, e in itertools.product(range(d), repeat=2):
                pairs = (a == c) * (e == b) + (a == e) * (c == b) + (a == b) * (c == e)
                if pairs:
                    total += F[c][e] * pairs
            out[index, a, b] = float(total * q * q)
    return out.reshape(*lead, d, d)


def _fourth_moment_draw(rng):
    d = int(rng.integers(1, 5))
    scale = 10.0 ** rng.uniform(-100, 90)
    M = rng.standard_normal((int(rng.integers(1, 3)), d, d)) * scale
    if rng.random() < 0.3:  # a diagonal whose trace cancels 2 M_jj
        M[..., 0, 0] = -(np.trace(M, axis1=-2, axis2=-1) - M[..., 0, 0]) / 3 * (1 + 1e-12)
    delta2 = float(10.0 ** rng.uniform(-100, 4)) if rng.random() < 0.9 else 0.0
    return {"M": torch.tensor(M, dtype=torch.float64), "delta2": delta2}


register(
    Reference(
        NAME + "gaussian_fourth_moment",
        "Isserlis' theorem entry by entry in exact rational arithmetic",
        exact=lambda M, delta2: _fourth_moment_exact(M.numpy(), delta2),
        draw=_fourth_moment_draw,
        cases=(
            {"M": torch.tensor([[1.0, 2.0], [3.0, -3.0]], dtype=torch.float64), "delta2": 0.7},
            {  # tr M + 2 M_00 cancels to 1e-16 of its terms
                "M": torch.tensor([[1.0, 0.0], [0.0, -3.0 + 2**-50]], dtype=torch.float64),
                "delta2": 1.0,
            },
            {"M": torch.eye(3, dtype=torch.float64) * 1e-200, "delta2": 1e-60},
        ),
    )
)


def _mean_compare(kwargs, value):
    m, _ = mp_moments(*_args(kwargs))
    return _norm_error(value[0].numpy(), _mp_vector(m), 1e-9)


register(
    Reference(
        NAME + "chain_mean",
        "the mean recursion m' = A m + eta b by an mpmath matrix power (40 digits)",
        compare=_mean_compare,
        draw=lambda rng: _prompt_draw(rng, with_w=False),
        cases=(
            dict(  # a slowly mixing chain: eta x s ~ 1e-9
                X=torch.tensor([[[1.0, 0.5], [0.3, -2.0], [0.1, 0.1]]], dtype=torch.float64),
                y=torch.tensor([[1.0, -1.0, 0.5]], dtype=torch.float64),
                eta=1e-9,
                steps=100000,
                noise="multiplicative",
                level=1e-3,
                lam=0.0,
            ),
        ),
    )
)


def _covariance_compare(kwargs, value):
    _, C = mp_moments(*_args(kwargs))
    return _norm_error(value[0].numpy(), _mp_matrix(C), 1e-9)


SLOW_PROMPT = dict(  # eta tiny: the closed form of the off-diagonal entries cancels
    X=torch.tensor([[[1.0, 0.5, -0.2], [0.3, -2.0, 1.0], [0.1, 0.1, 0.4]]], dtype=torch.float64),
    y=torch.tensor([[1.0, -1.0, 0.5]], dtype=torch.float64),
    eta=1e-6,
    steps=10,
    noise="multiplicative",
    level=0.5,
    lam=0.0,
)

register(
    Reference(
        NAME + "chain_covariance",
        "the second-moment recursion P' = A P A + ... by an mpmath matrix power (40 digits)",
        compare=_covariance_compare,
        draw=lambda rng: (
            _prompt_draw(rng, with_w=False, max_d=3)
            if rng.random() < 0.6
            else _prompt_draw(rng, with_w=False, max_d=5, long=False)
        ),
        cases=(SLOW_PROMPT,),
    )
)


def _stationary_draw(rng):
    kwargs = _prompt_draw(rng, with_w=False)
    del kwargs["steps"]
    X = kwargs["X"][0].numpy()
    s = np.linalg.eigvalsh(X.T @ X / X.shape[0])
    if kwargs["noise"] == "additive" and kwargs["lam"] == 0.0:
        kwargs["lam"] = float(s.max() * 10.0 ** rng.uniform(-3, 0))
    shift = kwargs["lam"] + (kwargs["level"] ** 2 if kwargs["noise"] == "multiplicative" else 0)
    x = kwargs["eta"] * (s + shift)
    kappa = (kwargs["eta"] * kwargs["level"] ** 2) ** 2
    margin = float((x * (2 - x)).min())
    if margin < 1e-4 or kappa * len(s) / margin > 0.5:  # keep it clear of the stability edge
        kwargs["level"] *= 1e-2
        kwargs["lam"] = max(kwargs["lam"], float(s.max()))
        shift = kwargs["lam"] + (kwargs["level"] ** 2 if kwargs["noise"] == "multiplicative" else 0)
        kwargs["eta"] = float(1.0 / (s.max() + shift))
    return kwargs


register(
    Reference(
        NAME + "stationary_chain_covariance",
        "the fixed point of the second-moment recursion by an mpmath linear solve (40 digits)",
        compare=lambda kwargs, value: _norm_error(
            value[0].numpy(),
            _mp_matrix(
                mp_stationary(
                    kwargs["X"][0].numpy(),
                    kwargs["y"][0].numpy(),
                    kwargs["eta"],
                    kwargs["noise"],
                    kwargs["level"],
                    kwargs["lam"],
                )
            ),
            1e-8,
        ),
        draw=_stationary_draw,
    )
)


def _terms_errors(kwargs, bias2, trace, m, C, w):
    """Errors of (||m - w||^2, tr C) in units of the declared accuracy (module note)."""
    with mp.workdps(DPS):
        wm = [mp.mpf(float(v)) for v in w]
        exact_bias2 = mp.fsum((m[i] - wm[i]) ** 2 for i in range(len(wm)))
        exact_trace = mp.fsum(C[i, i] for i in range(len(wm)))
        scale = mp.fsum(m[i] ** 2 + wm[i] ** 2 for i in range(len(wm)))
    return max(
        _scaled_error(bias2, exact_bias2, 1e-9, 1e-13 * float(scale)),
        _scaled_error(trace, exact_trace, 1e-9, 0.0),
    )


def _terms_compare(kwargs, value):
    args = _args(kwargs)
    w = kwargs["w"][0].numpy()
    if not kwargs.get("every_step", False):
        m, C = mp_moments(*args)
        return _terms_errors(kwargs, float(value[0][0]), float(value[1][0]), m, C, w)
    steps = kwargs["steps"]
    worst = 0.0
    for t in sorted({0, min(1, steps), steps // 2, steps}):
        m, C = mp_moments(*args[:3], t, *args[4:])
        worst = max(
            worst, _terms_errors(kwargs, float(value[0][0, t]), float(value[1][0, t]), m, C, w)
        )
    return worst


def _terms_draw(rng):
    kwargs = _prompt_draw(rng)
    kwargs["every_step"] = bool(rng.random() < 0.3)
    if kwargs["every_step"]:
        kwargs["steps"] = min(kwargs["steps"], 1000)
    return kwargs


CANCELLING = dict(  # w = m_T to 1e-8: ||m_T - w||^2 cancels
    X=torch.tensor([[[1.0, 0.5], [0.3, -2.0], [0.1, 0.1]]], dtype=torch.float64),
    y=torch.tensor([[1.0, -1.0, 0.5]], dtype=torch.float64),
    eta=0.1,
    steps=50,
    noise="multiplicative",
    level=0.3,
    lam=0.0,
)

register(
    Reference(
        NAME + "chain_risk_terms",
        "the mean and second-moment recursion by mpmath matrix powers (40 digits)",
        compare=_terms_compare,
        draw=_terms_draw,
        cases=(
            dict(SLOW_PROMPT, w=torch.tensor([[0.2, -0.1, 0.3]], dtype=torch.float64)),
            dict(
                SLOW_PROMPT,
                w=torch.tensor([[0.2, -0.1, 0.3]], dtype=torch.float64),
                every_step=True,
            ),
        ),
    )
)


def _averaged_risk_compare(kwargs, value):
    args = list(_args(kwargs))
    args[4] = "multiplicative"
    m, C = mp_moments(*args)
    w = kwargs["w"][0].numpy()
    with mp.workdps(DPS):
        wm = [mp.mpf(float(v)) for v in w]
        bias2 = mp.fsum((m[i] - wm[i]) ** 2 for i in range(len(wm)))
        trace = mp.fsum(C[i, i] for i in range(len(wm)))
        scale = mp.fsum(m[i] ** 2 + wm[i] ** 2 for i in range(len(wm)))
        exact = bias2 + trace / kwargs["n_chains"]
    return _scaled_error(float(value[0]), exact, 1e-9, 1e-13 * float(scale))


def _averaged_draw(rng):
    kwargs = _prompt_draw(rng, noise="multiplicative")
    del kwargs["noise"]
    kwargs["n_chains"] = int(rng.choice([1, 2, 10, 1000, 10**9]))
    return kwargs


register(
    Reference(
        NAME + "averaged_chain_risk",
        "||m_T - w||^2 + tr C_T / N from the mpmath recursion (40 digits)",
        compare=_averaged_risk_compare,
        draw=_averaged_draw,
    )
)


def _moments_compare(kwargs, value):
    m, C = mp_moments(*_args(kwargs))
    w = kwargs["w"][0].numpy()
    first = _terms_errors(kwargs, float(value[0][0]), float(value[1][0]), m, C, w)
    with mp.workdps(DPS):
        b = [m[i] - mp.mpf(float(w[i])) for i in range(len(w))]
        d = len(b)
        quadratic = mp.fsum(b[i] * C[i, j] * b[j] for i in range(d) for j in range(d))
        floor = mp.fsum(x**2 for x in b) * mp.sqrt(
            mp.fsum(C[i, j] ** 2 for i in range(d) for j in range(d))
        )
    return max(first, _scaled_error(float(value[2][0]), quadratic, 1e-9, 1e-9 * float(floor)))


register(
    Reference(
        NAME + "chain_error_moments",
        "b = m_T - w and C_T from the mpmath recursion (40 digits), b^T C_T b summed exactly",
        compare=_moments_compare,
        draw=lambda rng: (
            _prompt_draw(rng, max_d=3)
            if rng.random() < 0.6
            else _prompt_draw(rng, max_d=5, long=False)
        ),
        cases=(
            dict(SLOW_PROMPT, w=torch.tensor([[0.2, -0.1, 0.3]], dtype=torch.float64)),
            dict(CANCELLING, w=torch.tensor([[0.2, -0.1]], dtype=torch.float64)),
        ),
    )
)


def mp_gaussian_norm(b, C) -> float:
    """E||b + g|| for g ~ N(0, C): the eigenpairs of C in mpmath (mp.eigsy, 40 digits), then
    (4 pi)^{-1/2} int_0^inf (1 - E e^{-t||b + g||^2}) t^{-3/2} dt in v = log t by scipy's adaptive
    Gauss-Kronrod quadrature (1e-13) on panels of width <= 20 across the scales
    log 1 / (2 lam_j) and log 1 / E||b + g||^2, extended by 80 on both sides (the integrand is
    below min(1, t E||b + g||^2) e^{-v/2}, so the tails left out are below 4 e^{-40} E||b + g||)."""
    with mp.workdps(DPS):
        d = len(b)
        lam, U = mp.eigsy(C)
        lam = [float(max(lam[i], mp.mpf(0))) for i in range(d)]
        beta2 = [float(mp.fsum(U[k, i] * b[k] for k in range(d)) ** 2) for i in range(d)]
    lam, beta2 = np.array(lam), np.array(beta2)
    mean = beta2.sum() + lam.sum()
    if mean == 0:
        return 0.0

    def integrand(v):
        t = math.exp(v)
        log_m = -(0.5 * np.log1p(2 * t * lam) + t * beta2 / (1 + 2 * t * lam)).sum()
        return -math.expm1(log_m) * math.exp(-v / 2)

    scales = [-math.log(mean), *[-math.log(2 * x) for x in lam if x > 0]]
    lo, hi = min(scales) - 80, max(scales) + 80
    points = np.linspace(lo, hi, int(math.ceil((hi - lo) / 20)) + 1)
    total = sum(
        integrate.quad(integrand, a, z, epsabs=0.0, epsrel=1e-13, limit=200)[0]
        for a, z in zip(points[:-1], points[1:])
    )
    return total / math.sqrt(4 * math.pi)


def _norm_compare(kwargs, value):
    m, C = mp_moments(*_args(kwargs))
    w = kwargs["w"][0].numpy()
    with mp.workdps(DPS):
        b = [m[i] - mp.mpf(float(w[i])) for i in range(len(w))]
        exact = mp_gaussian_norm(b, C / kwargs["n_chains"])
        floor = 1e-13 * float(
            mp.sqrt(mp.fsum(x**2 for x in m)) + mp.sqrt(mp.fsum(mp.mpf(float(x)) ** 2 for x in w))
        )
    return _scaled_error(float(value[0]), exact, 1e-9, floor)


def _norm_draw(rng):
    kwargs = _prompt_draw(rng)
    kwargs["steps"] = max(kwargs["steps"], 1)
    kwargs["n_chains"] = int(rng.choice([1, 2, 10, 1000, 10**9]))
    if rng.random() < 0.3:  # b = 0: w is the chain's mean
        m, _ = mp_moments(*_args(kwargs))
        kwargs["w"] = torch.tensor(_mp_vector(m)[None], dtype=torch.float64)
    return kwargs


register(
    Reference(
        NAME + "averaged_chain_error_norm",
        "E||b + g||, g ~ N(0, C_T / N), by adaptive quadrature of its Laplace transform"
        " (eigenpairs in mpmath), b and C_T from the mpmath recursion (40 digits)",
        compare=_norm_compare,
        draw=_norm_draw,
        cases=(dict(CANCELLING, w=torch.tensor([[0.2, -0.1]], dtype=torch.float64), n_chains=1),),
    )
)


def _bound_exact(n, d, eta, shift):
    with mp.workdps(DPS):
        slack = 1 - mp.mpf(eta) * mp.mpf(shift)
        if slack <= 0:
            return 1.0
        t = mp.sqrt(slack / mp.mpf(eta)) - 1 - mp.sqrt(mp.mpf(d) / n)
        return float(mp.exp(-n * t**2 / 2)) if t > 0 else 1.0


register(
    Reference(
        NAME + "unstable_design_probability_bound",
        "the bound's formula in mpmath (40 digits)",
        exact=_bound_exact,
        cases=(
            dict(n=8, d=2, eta=1 / 9, shift=0.0),
            dict(n=10**12, d=1, eta=0.2, shift=3.0),
            dict(n=1, d=10**12, eta=1e-12, shift=0.0),
            dict(n=1000, d=10, eta=1e-12, shift=1e12 - 4.0),
        ),
    )
)
