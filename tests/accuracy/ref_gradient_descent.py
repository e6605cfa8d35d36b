"""References for :mod:`icl.theory.gradient_descent`: the filter and the risks in mpmath with
enough digits that the products of the float inputs are exact (1 - eta (s + lam) included), the
eigenvalues and eigenvectors of X^T X / n from mpmath's symmetric eigensolver at 40 digits, and
the scalar closed forms in exact rational arithmetic."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import torch

from tests.accuracy import Reference, register

F = Fraction
DIGITS = 700  # 1 - eta (s + lam) exactly for float inputs down to 1e-300


def _float(value) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _entries(t) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _rounded(values, like: torch.Tensor) -> np.ndarray:
    """The exact values rounded to the tensor's dtype (float32 overflows to inf, underflows to 0
    or a subnormal, as a correctly rounded result does), as float64."""
    values = np.asarray(values, dtype=float)
    if like.dtype == torch.float32:
        with np.errstate(over="ignore"):
            values = values.astype(np.float32).astype(float)
    return values


def _filter_mp(s, eta, steps, lam):
    """(g, 1 - g s) at DIGITS digits; g = (1 - a^T) / (s + lam), a = 1 - eta (s + lam)."""
    s, eta, lam = mpmath.mpf(float(s)), mpmath.mpf(eta), mpmath.mpf(lam)
    shifted = s + lam
    if steps is None:
        return 1 / shifted, lam / shifted
    if shifted == 0:
        return eta * steps, mpmath.mpf(1)
    a = 1 - eta * shifted
    if a > 0:
        one_minus = -mpmath.expm1(steps * mpmath.log1p(-eta * shifted))
    elif a == 0:
        one_minus = mpmath.mpf(1)
    else:
        one_minus = 1 - (-1) ** steps * mpmath.exp(steps * mpmath.log(-a))
    g = one_minus / shifted
    return g, 1 - g * s


def _filter(s, eta, steps, lam=0.0):
    with mpmath.workdps(DIGITS):
        exact = [_float(_filter_mp(v, eta, steps, lam)[0]) for v in _entries(s).ravel()]
    return _rounded(np.array(exact).reshape(tuple(s.shape)), s)


def _risk_mp(values, n, eta, steps, sigma2, psi2, lam):
    total = mpmath.mpf(0)
    for v in values:
        g, unlearned = _filter_mp(v, eta, steps, lam)
        total += mpmath.mpf(psi2) * unlearned**2 + mpmath.mpf(sigma2) / n * g**2 * mpmath.mpf(v)
    return total


def _risk_given_spectrum(s, n, eta, steps, sigma2, psi2=1.0, lam=0.0):
    values = _entries(s)
    rows = values.reshape(-1, values.shape[-1])
    with mpmath.workdps(DIGITS):
        out = [_float(_risk_mp(row, n, eta, steps, sigma2, psi2, lam)) for row in rows]
    return _rounded(np.array(out).reshape(values.shape[:-1]), s)


register(
    Reference(
        "icl.theory.gradient_descent.bayes_ridge_penalty",
        "exact rational arithmetic (Fraction)",
        exact=lambda n, sigma2, psi2=1.0: _float(F(sigma2) / (n * F(psi2))),
        cases=(dict(n=10**18, sigma2=1e-300, psi2=1e12), dict(n=1, sigma2=1e300, psi2=1e-12)),
    )
)

T64 = torch.float64
register(
    Reference(
        "icl.theory.gradient_descent.gd_filter",
        f"mpmath at {DIGITS} digits (exact products of the float inputs), log1p/expm1",
        exact=_filter,
        cases=(
            # issue 22, defect 13: float32 at s = 1e-6 gave 1.19 for 1.0
            dict(s=torch.tensor([1e-6], dtype=torch.float32), eta=0.1, steps=10, lam=0.0),
            dict(s=torch.tensor([2.0 - 2.0**-40, 1e-13], dtype=T64), eta=1.0, steps=10**9),
            dict(s=torch.tensor([1.5, 0.0], dtype=T64), eta=1.0, steps=10**9 + 1, lam=0.5),
            dict(s=torch.tensor([5.0], dtype=T64), eta=1.0, steps=300, lam=0.0),
            dict(s=torch.tensor([1e-300, 3.0], dtype=T64), eta=1e-8, steps=2**62, lam=0.0),
            dict(s=torch.tensor([0.0, 1e-12], dtype=T64), eta=0.3, steps=None, lam=1e-12),
        ),
    )
)

register(
    Reference(
        "icl.theory.gradient_descent.gd_risk_given_spectrum",
        f"mpmath at {DIGITS} digits, the textbook sum psi2 (1 - g s)^2 + sigma2 g^2 s / n",
        exact=_risk_given_spectrum,
        cases=(
            # converged: (1 - eta s)^{2T} below 1e-16, where 1 - g s cancelled
            dict(s=torch.tensor([1.0, 0.5], dtype=T64), n=10, eta=0.5, steps=100, sigma2=0.0),
            dict(
                s=torch.tensor([[1e-6, 2.0 - 1e-9], [0.0, 3.0]], dtype=torch.float32),
                n=3,
                eta=1.0,
                steps=4000,
                sigma2=0.5,
                psi2=2.0,
                lam=0.0,
            ),
            dict(
                s=torch.tensor([1e-9, 1.0], dtype=T64),
                n=7,
                eta=0.1,
                steps=None,
                sigma2=1.0,
                psi2=1.0,
                lam=1e-12,
            ),
        ),
    )
)


def _spectrum_mp(X2d: np.ndarray):
    """(eigenvalues, eigenvectors) of X^T X / n at 40 digits."""
    n, d = X2d.shape
    A = mpmath.matrix([[mpmath.mpf(float(v)) for v in row] for row in X2d])
    S = A.T * A / n
    return mpmath.eigsy(S)


def _risk_given_X(X, eta, steps, sigma2, psi2=1.0, lam=0.0):
    values = _entries(X)
    n, d = values.shape[-2:]
    designs = values.reshape(-1, n, d)
    out = []
    for X2d in designs:
        with mpmath.workdps(40):
            s, _ = _spectrum_mp(X2d)
            spectrum = [s[i] for i in range(d)]
        with mpmath.workdps(DIGITS):
            out.append(_float(_risk_mp(spectrum, n, eta, steps, sigma2, psi2, lam)))
    return _rounded(np.array(out).reshape(values.shape[:-2]), X)


register(
    Reference(
        "icl.theory.gradient_descent.gd_risk_given_X",
        "mpmath: eigenvalues of X^T X / n at 40 digits (mpmath.eigsy), then the textbook sum",
        exact=_risk_given_X,
        cases=(
            dict(
                X=torch.tensor([[1.0, 0.0], [0.0, 1e-6]], dtype=T64),
                eta=0.5,
                steps=None,
                sigma2=1.0,
                psi2=1.0,
                lam=0.0,
            ),
            dict(X=torch.ones(2, 4, 3, dtype=T64), eta=0.2, steps=10**8, sigma2=0.3, lam=0.0),
        ),
    )
)


def _iterate(X, y, eta, lam, T):
    Xv, yv = _entries(X), _entries(y)
    n, d = Xv.shape[-2:]
    out = []
    for X2d, y1d in zip(Xv.reshape(-1, n, d), yv.reshape(-1, n), strict=True):
        with mpmath.workdps(40):
            s, V = _spectrum_mp(X2d)
            A = mpmath.matrix([[mpmath.mpf(float(v)) for v in row] for row in X2d])
            b = A.T * mpmath.matrix([mpmath.mpf(float(v)) for v in y1d]) / n
            coefficients = V.T * b
        with mpmath.workdps(DIGITS):
            g = [_filter_mp(max(s[i], 0), eta, T, lam)[0] for i in range(d)]
        with mpmath.workdps(40):
            w = V * mpmath.matrix([g[i] * coefficients[i] for i in range(d)])
            out.append([_float(w[i]) for i in range(d)])
    return np.array(out).reshape(*Xv.shape[:-2], d)


def _norm(v: np.ndarray) -> np.ndarray:
    """Euclidean norms along the last axis, scaled so that 1e300 entries do not overflow."""
    top = np.max(np.abs(v), axis=-1, keepdims=True)
    safe = np.where(top > 0, top, 1.0)
    return np.linalg.norm(v / safe, axis=-1) * top[..., 0]


def _compare_iterate(kwargs, value) -> float:
    """The norm-wise error ||value - exact|| / ||exact|| per design, in units of the declared
    2e-7; the exact iterate is rounded to X's dtype first (entries beyond float32's range are
    +-inf there, as they must be in the value)."""
    exact = _rounded(_iterate(**kwargs), kwargs["X"])
    got = _entries(value)
    if got.shape != exact.shape:
        return math.inf
    same_inf = np.isinf(got) & np.isinf(exact) & (np.sign(got) == np.sign(exact))
    got, exact = np.where(same_inf, 0.0, got), np.where(same_inf, 0.0, exact)
    if not (np.all(np.isfinite(got)) and np.all(np.isfinite(exact))):
        return math.inf
    error, scale = _norm(got - exact), _norm(exact)
    return float(np.max(np.where(error == 0, 0.0, error / (2e-7 * np.maximum(scale, 1e-300)))))


def _draw_iterate(rng: np.random.Generator) -> dict:
    n, d = (int(v) for v in rng.choice([1, 2, 3, 5, 8, 13], size=2))
    batch = (int(rng.integers(1, 3)),) if rng.random() < 0.5 else ()
    dtype = torch.float32 if rng.random() < 0.25 else T64
    generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
    X = torch.randn(*batch, n, d, generator=generator, dtype=T64) * 10 ** rng.uniform(-3, 3)
    y = torch.randn(*batch, n, generator=generator, dtype=T64) * 10 ** rng.uniform(-3, 3)
    spectrum = torch.linalg.eigvalsh(X.transpose(-1, -2) @ X / n)
    lam = float(10 ** rng.uniform(-6, 0)) * (rng.random() < 0.5)
    eta = float(10 ** rng.uniform(-3, math.log10(3.0))) / max(float(spectrum.max()) + lam, 1e-300)
    T = int(round(10 ** rng.uniform(0, 8)))
    top = float((1 - eta * (spectrum + lam)).abs().max())
    if top > 1:  # divergent: keep |a|^T within the float range (the declared domain)
        T = min(T, int(600 / math.log(top)))
    return dict(X=X.to(dtype), y=y.to(dtype), eta=eta, lam=lam, T=T)


register(
    Reference(
        "icl.theory.gradient_descent.ridge_gd_iterate",
        "mpmath: eigendecomposition of X^T X / n at 40 digits, the filter exactly; norm-wise",
        compare=_compare_iterate,
        draw=_draw_iterate,
        cases=(
            dict(
                X=torch.tensor([[1.0, 0.0], [0.0, 1e-4], [0.0, 0.0]], dtype=T64),
                y=torch.tensor([1.0, 1.0, 0.5], dtype=T64),
                eta=1.0,
                lam=0.0,
                T=10**8,
            ),
        ),
    )
)

register(
    Reference(
        "icl.theory.gradient_descent.least_squares_risk",
        "exact rational arithmetic (Fraction)",
        exact=lambda n, d, sigma2: (
            _float(F(sigma2) * d / (n - d - 1)) if n >= d + 2 else (math.inf if sigma2 else 0.0)
        ),
        cases=(
            dict(n=5, d=5, sigma2=1.0),
            dict(n=6, d=5, sigma2=0.0),
            dict(n=10**18, d=1, sigma2=1e-300),
        ),
    )
)
