"""Chapter 2: the risk of T steps of (ridge-regularised) gradient descent, given the design X.

Convention (the same as ``icl.decoders.gd_chains``): the gradient is divided by n,

    w_{t+1} = w_t - eta (X^T (X w_t - y) / n + lam w_t),    w_0 = 0,

so with S = X^T X / n = V diag(s) V^T and b = X^T y / n,

    w_T = V diag(g) V^T b,    g_j = (1 - a_j^T) / (s_j + lam),    a_j = 1 - eta (s_j + lam)

(g_j = eta T when s_j + lam = 0). For w ~ N(0, psi2 I_d) and label noise of
variance sigma2, the risk conditional on X is

    E[||w_T - w||^2 | X] = sum_j psi2 (1 - g_j s_j)^2 + (sigma2 / n) g_j^2 s_j,

and ridge regression (S + lam I)^{-1} b is the T -> infinity limit, g_j = 1 / (s_j + lam).

**Numerics.** Everything is computed in float64 and the result cast to the input's dtype.
1 - a^T is -expm1(T log|a|) (or 1 + |a|^T for a < 0 and T odd), with log|a| from
log1p of 1 - |a|; 1 - |a| is formed with the rounding error of eta (s + lam) carried along (an
error-free product), so that it keeps its relative accuracy where |a| is near 1 (eta (s + lam)
near 0 or 2), the only places where 1 - a^T would cancel. 1 - g s is (lam + s a^T) / (s + lam).
The relative error of a^T is then at most |T log|a|| x 2e-16 <= 745 x 2e-16 wherever a^T is
within the float range, whatever T is.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from icl.domain import Accuracy, Condition, Given, Integer, Real, declare
from icl.validation import design, tensor

_SPLIT = 134217729.0  # 2^27 + 1, Veltkamp's splitting constant for float64


def _split(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scaled = _SPLIT * a
    high = scaled - (scaled - a)
    return high, a - high


def _product_error(a: torch.Tensor, b: float) -> torch.Tensor:
    """The rounding error of the float64 product a * b (a * b - fl(a * b), exactly; 0 where the
    splitting overflows)."""
    product = a * b
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(torch.full_like(a, b))
    error = ((a_hi * b_hi - product) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return torch.where(torch.isfinite(error), error, torch.zeros_like(error))


def _sum_error(a: torch.Tensor, b: float, total: torch.Tensor) -> torch.Tensor:
    """The rounding error of the float64 sum ``total = fl(a + b)`` (Knuth's two-sum)."""
    virtual = total - a
    error = (a - (total - virtual)) + (b - virtual)
    return torch.where(torch.isfinite(error), error, torch.zeros_like(error))


def _contraction_log(shifted, shifted_error, eta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(log|a|, a < 0) for a = 1 - eta (s + lam), float64, with |a| accurate to a relative 1e-16
    near |a| = 1 and near a = 0."""
    u = eta * shifted  # u + u_low = eta (s + lam) to about 1e-32 relative
    u_low = _product_error(shifted, eta) + eta * shifted_error
    near_zero = torch.log1p(-(u + u_low))  # u < 0.5: log(1 - u)
    below_one = torch.log((1 - u) - u_low)  # 0.5 <= u <= 1: 1 - u exact (Sterbenz)
    above_one = torch.log((u - 1) + u_low)  # 1 < u < 1.5: u - 1 exact
    near_two = torch.log1p((u - 2) + u_low)  # u >= 1.5: u - 2 exact up to u = 4
    log_abs = torch.where(
        u < 0.5,
        near_zero,
        torch.where(u <= 1, below_one, torch.where(u < 1.5, above_one, near_two)),
    )
    return log_abs, u > 1


def _filter_parts(
    s: torch.Tensor, eta: float, steps: int | None, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(g, 1 - g s) in float64 for float64 eigenvalues ``s``."""
    shifted = s + lam
    shifted_error = _sum_error(s, lam, shifted)
    positive = shifted != 0
    safe = torch.where(positive, shifted, torch.ones_like(shifted))
    if steps is None:
        return 1.0 / safe, lam / safe
    if steps == 0:
        return torch.zeros_like(s), torch.ones_like(s)
    log_abs, negative = _contraction_log(shifted, shifted_error, eta)
    exponent = steps * log_abs
    odd = steps % 2 == 1
    power = torch.exp(exponent)  # |a|^T
    sign = torch.where(negative & odd, -1.0, 1.0).to(s.dtype)
    one_minus = torch.where(sign > 0, -torch.expm1(exponent), 1 + power)  # 1 - a^T
    g = torch.where(positive, one_minus / safe, torch.full_like(s, eta * steps))
    unlearned = torch.where(s == 0, torch.ones_like(s), (lam + s * (sign * power)) / safe)
    # eta (s + lam) below 1e-150: g = eta T (1 + O(T eta (s + lam))), without a subnormal product
    tiny = (eta * shifted).abs() < 1e-150
    g = torch.where(tiny, torch.full_like(s, eta * steps), g)
    unlearned = torch.where(tiny, 1 - (eta * steps) * s, unlearned)
    return g, unlearned


def _as_float64(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype == torch.float64 else t.double()


def _check_spectrum(name: str, value) -> torch.Tensor:
    tensor(name, value)
    top = float(value.detach().abs().max())
    if bool((value < -1e-12 * max(1.0, top)).any()):
        raise ValueError(f"{name} must hold eigenvalues of S = X^T X / n, which are >= 0")
    return value


def _draw_spectrum(rng: np.random.Generator) -> torch.Tensor:
    """Eigenvalues across the scales: 0, tiny, near 1 / eta-like values, huge; float64 or
    float32."""
    size = int(rng.integers(1, 6))
    values = 10.0 ** rng.uniform(-12, 4, size)
    values[rng.random(size) < 0.15] = 0.0
    dtype = torch.float32 if rng.random() < 0.25 else torch.float64
    return torch.tensor(values, dtype=dtype)


def _check_steps(name: str, value):
    if value is None:
        return None
    return Integer(0, None).validate(name, value)


def _draw_steps(rng: np.random.Generator):
    draw = rng.random()
    if draw < 0.1:
        return None
    if draw < 0.2:
        return 0
    return int(round(10 ** rng.uniform(0, 9)))


_SPECTRUM = Given(
    "a float32 or float64 tensor of eigenvalues of S = X^T X / n (entries >= 0, or above "
    "-1e-12 max(1, max|s|) from rounding)",
    check=_check_spectrum,
    bad=(torch.tensor([-1.0, 0.5], dtype=torch.float64),),
    draw=_draw_spectrum,
)
_STEPS = Given(
    "None (the ridge limit, T -> infinity) or an integer number of steps in [0, 2^63 - 1]",
    check=_check_steps,
    bad=(-1, 2.5, "3"),
    draw=_draw_steps,
)
_RIDGE_NEEDS_LAM = Condition(
    "steps is not None or lam > 0 or every s > 0 (ridge needs s + lam > 0)",
    lambda s, steps, lam: steps is not None or lam > 0 or bool((s > 0).all()),
    {"s": torch.tensor([0.0, 1.0], dtype=torch.float64), "steps": None, "lam": 0.0},
)
_FILTER_ACCURACY = Accuracy(
    relative=2e-7,
    absolute=1.5e-45,
    note="computed in float64 (relative error below 1e-12 wherever the value is within the float "
    "range, any number of steps) and rounded to the input's dtype: float32 adds one rounding, "
    "6e-8 (below 1.2e-38 a float32 is subnormal: one spacing, 1.4e-45); +-inf where the exact "
    "value exceeds the dtype's range",
)


@declare(
    Accuracy(
        relative=1e-15,
        absolute=1e-322,
        note="one product and one division (a subnormal result: a spacing of 5e-324)",
    ),
    n=Integer(1, None),
    sigma2=Real(0.0, None),
    psi2=Real(0.0, None, open_low=True),
)
def bayes_ridge_penalty(n: int, sigma2: float, *, psi2: float = 1.0) -> float:
    """The posterior-mean penalty in the divided-by-n convention: lam = sigma2 / (n psi2).

    (In the undivided convention of the authors' prototype, the penalty on
    ||X w - y||^2 is n lam = sigma2 / psi2.)
    """
    if sigma2 == 0:
        return 0.0
    # mantissas and exponents apart, so that sigma2 / psi2 can neither overflow nor underflow
    (m_s, e_s), (m_p, e_p), (m_n, e_n) = math.frexp(sigma2), math.frexp(psi2), math.frexp(n)
    try:
        return math.ldexp(m_s / (m_p * m_n), e_s - e_p - e_n)
    except OverflowError:  # beyond the float range
        return math.inf


@declare(
    _FILTER_ACCURACY,
    s=_SPECTRUM,
    eta=Real(0.0, None, open_low=True),
    steps=_STEPS,
    lam=Real(0.0, None),
    where=[_RIDGE_NEEDS_LAM],
)
def gd_filter(s: torch.Tensor, *, eta: float, steps: int | None, lam: float = 0.0) -> torch.Tensor:
    """The spectral filter g_j with w_T = V diag(g) V^T b; ``steps=None`` gives ridge, 1 / (s_j +
    lam).

    ``s`` holds eigenvalues of S (any shape); the result has the same shape and dtype.
    g = (1 - (1 - eta (s + lam))^T) / (s + lam), and eta T where s + lam = 0; computed without
    cancellation (module docstring), so that it keeps its relative accuracy for tiny eta s,
    for eta (s + lam) near 2, and for any T. Where a^T overflows (eta (s + lam) > 2, T large) the
    value is +-inf, as the exact value exceeds the float range.
    """
    g, _ = _filter_parts(_as_float64(s), eta, steps, lam)
    return g.to(s.dtype)


def _spectrum(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    X = _as_float64(X)
    S = X.transpose(-1, -2) @ X / X.shape[-2]
    return torch.linalg.eigh(S)


def _eigenvalues(X: torch.Tensor) -> torch.Tensor:
    """The d eigenvalues of S = X^T X / n in float64, from the singular values of X (the small
    ones to a relative accuracy of about 1e-16 cond(X), not cond(X)^2), zeros for d > n."""
    X = _as_float64(X)
    n, d = X.shape[-2], X.shape[-1]
    s = torch.linalg.svdvals(X) ** 2 / n
    if d > n:
        s = torch.cat([s, s.new_zeros(*s.shape[:-1], d - n)], dim=-1)
    return s


def _check_design(name: str, value) -> torch.Tensor:
    return tensor(name, value, min_ndim=2)


def _draw_design(rng: np.random.Generator) -> torch.Tensor:
    n, d = (int(v) for v in rng.choice([1, 2, 3, 5, 8, 13], size=2))
    batch = (int(rng.integers(1, 3)),) if rng.random() < 0.5 else ()
    dtype = torch.float32 if rng.random() < 0.25 else torch.float64
    scale = 10.0 ** rng.uniform(-3, 3)
    generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
    return scale * torch.randn(*batch, n, d, generator=generator, dtype=torch.float64).to(dtype)


_DESIGN = Given(
    "a float32 or float64 tensor (..., n, d) of designs",
    check=_check_design,
    bad=(torch.ones(3, dtype=torch.float64),),
    draw=_draw_design,
)


def _check_labels(name: str, value) -> torch.Tensor:
    return tensor(name, value, min_ndim=1, nonempty=False)


_MAX_STEPS_GIVEN_X = 10**8


def _iterate_in_range(X, eta, lam, T) -> bool:
    """Whether every |1 - eta (s_j + lam)|^T stays below 1e300 (the iterate within the float
    range): at once where eta (s_max + lam) <= 2, s_max bounded by the largest absolute row sum
    of S; else from the eigenvalues."""
    X = _as_float64(X)
    S = X.transpose(-1, -2) @ X / X.shape[-2]
    if eta * (float(S.abs().sum(-1).max()) + lam) <= 2:
        return True
    a = (1 - eta * (torch.linalg.eigvalsh(S) + lam)).abs()
    return bool((T * torch.log(a.clamp(min=1e-300)) <= 690).all())


@declare(
    Accuracy(
        relative=2e-7,
        note="norm-wise, ||value - exact|| <= 2e-7 ||exact||: float64 eigendecomposition of S "
        "(error about 1e-16 x max(1, T eta s_max) relative), rounded to the input's dtype",
    ),
    X=_DESIGN,
    y=Given(
        "a tensor (..., n) of labels, with X's dtype and leading dimensions", check=_check_labels
    ),
    eta=Real(0.0, None, open_low=True),
    lam=Real(0.0, None),
    T=Integer(0, _MAX_STEPS_GIVEN_X),
    where=[
        Condition(
            "|1 - eta (s_j + lam)|^T <= 1e300 for every eigenvalue s_j of X^T X / n (the iterate "
            "within the float range; always where eta (s_max + lam) <= 2)",
            _iterate_in_range,
            {"X": torch.ones(1, 2, 1, dtype=torch.float64), "eta": 10.0, "lam": 0.0, "T": 1000},
        )
    ],
)
def ridge_gd_iterate(
    X: torch.Tensor, y: torch.Tensor, eta: float, lam: float, T: int
) -> torch.Tensor:
    """The T-th iterate of w_{t+1} = w_t - eta (X^T (X w_t - y) / n + lam w_t) from w_0 = 0.

    The gradient is divided by n, as in :func:`icl.decoders.gd_chains.sample_chains`
    (the authors' prototype does not divide: its step eta' is eta / n here and
    its penalty lam' is n lam). Computed in closed form, w_T = V diag(g) V^T X^T y / n
    (see :func:`gd_filter`), in float64 and returned in X's dtype. ``X (..., n, d)``,
    ``y (..., n)`` -> ``(..., d)``.
    """
    design(X, y)
    X64, y64 = _as_float64(X), _as_float64(y)
    s, V = _spectrum(X64)
    b = (X64.transpose(-1, -2) @ y64.unsqueeze(-1)).squeeze(-1) / X.shape[-2]
    g, _ = _filter_parts(s.clamp(min=0.0), eta, T, lam)
    w = V @ (g * (V.transpose(-1, -2) @ b.unsqueeze(-1)).squeeze(-1)).unsqueeze(-1)
    return w.squeeze(-1).to(X.dtype)


def _risk(s64: torch.Tensor, n: int, eta, steps, sigma2: float, psi2: float, lam: float):
    g, unlearned = _filter_parts(s64, eta, steps, lam)
    noise = torch.where((s64 == 0) | (sigma2 == 0), 0.0, (sigma2 / n) * g**2 * s64)
    return (psi2 * unlearned**2 + noise).sum(-1)


_RISK_ACCURACY = Accuracy(
    relative=2e-7,
    absolute=1.5e-45,
    note="a sum of non-negative terms, each from the stable filter (module docstring), in "
    "float64 (relative error below 1e-12) and rounded to the input's dtype (float32: 6e-8; "
    "a subnormal float32, below 1.2e-38: 1.4e-45); inf where the exact value exceeds the range",
)


@declare(
    _RISK_ACCURACY,
    s=_SPECTRUM,
    n=Integer(1, None),
    eta=Real(0.0, None, open_low=True),
    steps=_STEPS,
    sigma2=Real(0.0, None),
    psi2=Real(0.0, None, open_low=True),
    lam=Real(0.0, None),
    where=[_RIDGE_NEEDS_LAM],
)
def gd_risk_given_spectrum(
    s: torch.Tensor,
    n: int,
    *,
    eta: float,
    steps: int | None,
    sigma2: float,
    psi2: float = 1.0,
    lam: float = 0.0,
) -> torch.Tensor:
    """E[||w_T - w||^2 | X] = sum_j psi2 (1 - g_j s_j)^2 + sigma2 g_j^2 s_j / n, for w ~ N(0, psi2
    I).

    ``s (..., d)``: eigenvalues of S = X^T X / n; returns ``(...)`` in s's dtype. ``steps=None``
    gives ridge regression with penalty ``lam`` (the T -> infinity limit). 1 - g s is
    (lam + s a^T) / (s + lam), without cancellation.
    """
    return _risk(_as_float64(s), n, eta, steps, sigma2, psi2, lam).to(s.dtype)


def _resolved(X, steps, lam) -> bool:
    """Ridge (steps None) needs s_min + lam > 0 to a relative 1e-9; the singular values of X give
    s_min to an absolute error of about 1e-16 sqrt(s_min s_max) (1e-32 s_max where X is
    singular), enough where s_min + lam >= 1e-14 s_max. A wide X (d > n) has exact zeros."""
    if steps is not None:
        return True
    X = _as_float64(X)
    s = _eigenvalues(X)
    floor = s.amin(-1) + lam
    return bool(((floor > 0) & (floor >= 1e-14 * s.amax(-1))).all())


@declare(
    Accuracy(
        relative=1e-6,
        absolute=1.5e-45,
        note="the eigenvalues of S from the singular values of X in float64 (absolute error "
        "about 1e-16 sqrt(s_j s_max)), then gd_risk_given_spectrum; relative error about "
        "1e-16 max(8 T, sqrt(s_max / (s_min + lam))) before the cast to X's dtype (a subnormal "
        "result: one spacing, 1.4e-45 in float32)",
    ),
    X=_DESIGN,
    eta=Real(0.0, None, open_low=True),
    steps=Given(
        "None (the ridge limit) or an integer number of steps in [0, 10^8]",
        check=lambda name, value: (
            None if value is None else Integer(0, _MAX_STEPS_GIVEN_X).validate(name, value)
        ),
        bad=(-1, 2.5, _MAX_STEPS_GIVEN_X + 1),
        draw=lambda rng: None if rng.random() < 0.15 else int(round(10 ** rng.uniform(0, 8))),
    ),
    sigma2=Real(0.0, None),
    psi2=Real(0.0, None, open_low=True),
    lam=Real(0.0, None),
    where=[
        Condition(
            "steps is not None or s_min + lam >= 1e-14 s_max (ridge needs S + lam I resolved; "
            "s the eigenvalues of X^T X / n)",
            _resolved,
            {"X": torch.ones(1, 3, 2, dtype=torch.float64), "steps": None, "lam": 0.0},
        )
    ],
)
def gd_risk_given_X(
    X: torch.Tensor,
    *,
    eta: float,
    steps: int | None,
    sigma2: float,
    psi2: float = 1.0,
    lam: float = 0.0,
) -> torch.Tensor:
    """:func:`gd_risk_given_spectrum` at the eigenvalues of X^T X / n; ``X (..., n, d)`` ->
    ``(...)``.

    The eigenvalues come from the singular values of X (float64), so that the small ones keep
    a relative accuracy of about 1e-16 cond(X); the d - n zero eigenvalues of a wide X are
    exact zeros.
    """
    s = _eigenvalues(X)
    return _risk(s, X.shape[-2], eta, steps, sigma2, psi2, lam).to(X.dtype)


@declare(
    Accuracy(
        relative=1e-15,
        absolute=1e-322,
        note="one product and one division (a subnormal result: a spacing of 5e-324); inf "
        "where it diverges",
    ),
    n=Integer(1, None),
    d=Integer(1, None),
    sigma2=Real(0.0, None),
    where=[Condition("n >= d (least squares is unique)", lambda n, d: n >= d, {"n": 4, "d": 5})],
)
def least_squares_risk(n: int, d: int, sigma2: float) -> float:
    """E||(X^T X)^{-1} X^T y - w||^2 = sigma2 d / (n - d - 1) for Gaussian X (the T -> infinity GD
    limit).

    Finite for n >= d + 2; infinite for n = d, d + 1 when sigma2 > 0 (E tr (X^T X)^{-1}
    diverges), 0 when sigma2 = 0; least squares is not unique for n < d.
    """
    if n >= d + 2:
        return sigma2 * (d / (n - d - 1))
    return math.inf if sigma2 > 0 else 0.0
