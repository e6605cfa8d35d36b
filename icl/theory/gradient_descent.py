r"""Chapter 2: the risk of :math:`T` steps of (ridge-regularised) gradient descent, given X.

Convention (the same as ``icl.decoders.gd_chains``): the gradient is divided by :math:`n`,

.. math::

    w_{t+1} = w_t - \eta \big(X^\top (X w_t - y) / n + \lambda w_t\big), \qquad w_0 = 0,

so with :math:`S = X^\top X / n = V \operatorname{diag}(s) V^\top` and :math:`b = X^\top y / n`,

.. math::

    w_T = V \operatorname{diag}(g) V^\top b, \qquad g_j = \frac{1 - a_j^T}{s_j + \lambda},
    \qquad a_j = 1 - \eta (s_j + \lambda)

(:math:`g_j = \eta T` when :math:`s_j + \lambda = 0`). For :math:`w \sim N(0, \psi^2 I_d)` and
label noise of variance :math:`\sigma^2`, the risk conditional on :math:`X` is

.. math::

    \mathbb{E}[\|w_T - w\|^2 \mid X] = \sum_j \psi^2 (1 - g_j s_j)^2
        + \frac{\sigma^2}{n} g_j^2 s_j,

and ridge regression :math:`(S + \lambda I)^{-1} b` is the :math:`T \to \infty` limit,
:math:`g_j = 1 / (s_j + \lambda)`.

**Numerics.** Everything is computed in float64 and the result cast to the input's dtype.
:math:`1 - a^T` is :math:`-\operatorname{expm1}(T \log|a|)` (or :math:`1 + |a|^T` for
:math:`a < 0` and :math:`T` odd), with :math:`\log|a|` from :math:`\operatorname{log1p}` of
:math:`1 - |a|`; :math:`1 - |a|` is formed with the rounding error of :math:`\eta (s + \lambda)`
carried along (an error-free product), so that it keeps its relative accuracy where :math:`|a|`
is near 1 (:math:`\eta (s + \lambda)` near 0 or 2), the only places where :math:`1 - a^T` would
cancel. :math:`1 - g s` is :math:`(\lambda + s a^T) / (s + \lambda)`. The relative error of
:math:`a^T` is then at most :math:`|T \log|a|| \times 2 \cdot 10^{-16} \le 745 \times 2 \cdot
10^{-16}` wherever :math:`a^T` is within the float range, whatever :math:`T` is.
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
    r"""The posterior-mean ridge penalty in the divided-by-:math:`n` convention.

    Parameters
    ----------
    n : int
        Number of examples, :math:`n \ge 1`.
    sigma2 : float
        Label-noise variance :math:`\sigma^2 \ge 0`.
    psi2 : float, optional
        Prior variance :math:`\psi^2 > 0` of :math:`w \sim N(0, \psi^2 I)`; default 1.

    Returns
    -------
    lam : float
        :math:`\lambda = \sigma^2 / (n \psi^2)`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    In the undivided convention of the authors' prototype, the penalty on :math:`\|X w - y\|^2` is
    :math:`n \lambda = \sigma^2 / \psi^2`.
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
    r"""The spectral filter :math:`g_j` with :math:`w_T = V \operatorname{diag}(g) V^\top b`.

    Parameters
    ----------
    s : torch.Tensor
        Eigenvalues of :math:`S = X^\top X / n`, a float32 or float64 tensor of any shape (entries
        :math:`\ge 0`, or above :math:`-10^{-12} \max(1, \max|s|)` from rounding).
    eta : float
        Step size, :math:`\eta > 0`.
    steps : int or None
        Number of steps :math:`T`, an integer in :math:`[0, 2^{63} - 1]`; ``None`` gives the ridge
        limit, :math:`T \to \infty`, which needs :math:`s + \lambda > 0` (``lam > 0`` or every
        :math:`s > 0`).
    lam : float, optional
        Ridge penalty :math:`\lambda \ge 0` (divided-by-:math:`n` convention); default 0.

    Returns
    -------
    g : torch.Tensor
        The filter, of the shape and dtype of ``s``; with ``steps=None``, ridge's
        :math:`1 / (s_j + \lambda)`. Where :math:`a^T` overflows (:math:`\eta (s + \lambda) > 2`,
        :math:`T` large) the value is :math:`\pm\infty`, as the exact value exceeds the float range.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        g = \frac{1 - (1 - \eta (s + \lambda))^T}{s + \lambda},

    and :math:`\eta T` where :math:`s + \lambda = 0`; computed without cancellation (module
    docstring), so that it keeps its relative accuracy for tiny :math:`\eta s`, for
    :math:`\eta (s + \lambda)` near 2, and for any :math:`T`.
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
    r"""The :math:`T`-th iterate of ridge-regularised GD from :math:`w_0 = 0`, in closed form.

    The iteration is :math:`w_{t+1} = w_t - \eta (X^\top (X w_t - y) / n + \lambda w_t)`. The
    gradient is divided by :math:`n`, as in :func:`icl.decoders.gd_chains.sample_chains` (the
    authors' prototype does not divide: its step :math:`\eta'` is :math:`\eta / n` here and its
    penalty :math:`\lambda'` is :math:`n \lambda`).

    Parameters
    ----------
    X : torch.Tensor
        Designs ``(..., n, d)``.
    y : torch.Tensor
        Labels ``(..., n)``, with X's dtype and leading dimensions.
    eta : float
        Step size, :math:`\eta > 0`.
    lam : float
        Ridge penalty :math:`\lambda \ge 0`.
    T : int
        Number of steps, :math:`0 \le T \le 10^8`.

    Returns
    -------
    w : torch.Tensor
        The iterate :math:`w_T`, ``(..., d)``, in X's dtype.

    Raises
    ------
    ValueError
        If :math:`|1 - \eta (s_j + \lambda)|^T > 10^{300}` for some eigenvalue :math:`s_j` of
        :math:`X^\top X / n` (the iterate outside the float range; never where
        :math:`\eta (s_{\max} + \lambda) \le 2`), or an argument lies outside its range (see
        "Domain and accuracy" below).

    Notes
    -----
    Computed in closed form, :math:`w_T = V \operatorname{diag}(g) V^\top X^\top y / n` (see
    :func:`gd_filter`), in float64 and returned in X's dtype.
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
    r"""The risk :math:`\mathbb{E}[\|w_T - w\|^2 \mid X]` of GD, from the spectrum of :math:`S`.

    Here :math:`w \sim N(0, \psi^2 I)`.

    Parameters
    ----------
    s : torch.Tensor
        Eigenvalues ``(..., d)`` of :math:`S = X^\top X / n`, float32 or float64 (entries
        :math:`\ge 0`, or above :math:`-10^{-12} \max(1, \max|s|)` from rounding).
    n : int
        Number of examples, :math:`n \ge 1`.
    eta : float
        Step size, :math:`\eta > 0`.
    steps : int or None
        Number of steps :math:`T`, an integer in :math:`[0, 2^{63} - 1]`; ``None`` gives the ridge
        limit, :math:`T \to \infty`, which needs :math:`s + \lambda > 0` (``lam > 0`` or every
        :math:`s > 0`).
    sigma2 : float
        Label-noise variance :math:`\sigma^2 \ge 0`.
    psi2 : float, optional
        Prior variance :math:`\psi^2 > 0` of :math:`w \sim N(0, \psi^2 I)`; default 1.
    lam : float, optional
        Ridge penalty :math:`\lambda \ge 0` (divided-by-:math:`n` convention); default 0.

    Returns
    -------
    risk : torch.Tensor
        ``(...)``, in s's dtype. ``steps=None`` gives ridge regression with penalty ``lam`` (the
        :math:`T \to \infty` limit).

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        \mathbb{E}[\|w_T - w\|^2 \mid X] = \sum_j \psi^2 (1 - g_j s_j)^2 + \sigma^2 g_j^2 s_j / n,

    with :math:`1 - g s = (\lambda + s a^T) / (s + \lambda)`, without cancellation.
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
    r""":func:`gd_risk_given_spectrum` at the eigenvalues of :math:`X^\top X / n`.

    Parameters
    ----------
    X : torch.Tensor
        Designs ``(..., n, d)``.
    eta : float
        Step size, :math:`\eta > 0`.
    steps : int or None
        Number of steps :math:`T`, an integer in :math:`[0, 10^8]`; ``None`` gives the ridge limit,
        which needs :math:`S + \lambda I` resolved,
        :math:`s_{\min} + \lambda \ge 10^{-14} s_{\max}`.
    sigma2 : float
        Label-noise variance :math:`\sigma^2 \ge 0`.
    psi2 : float, optional
        Prior variance :math:`\psi^2 > 0` of :math:`w \sim N(0, \psi^2 I)`; default 1.
    lam : float, optional
        Ridge penalty :math:`\lambda \ge 0` (divided-by-:math:`n` convention); default 0.

    Returns
    -------
    risk : torch.Tensor
        ``(...)``, in X's dtype.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    The eigenvalues come from the singular values of :math:`X` (float64), so that the small ones
    keep a relative accuracy of about :math:`10^{-16} \operatorname{cond}(X)`; the :math:`d - n`
    zero eigenvalues of a wide :math:`X` are exact zeros.
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
    r"""The risk of least squares, :math:`\mathbb{E}\|(X^\top X)^{-1} X^\top y - w\|^2`.

    For Gaussian :math:`X`; this is the :math:`T \to \infty` GD limit.

    Parameters
    ----------
    n : int
        Number of examples, :math:`n \ge d`.
    d : int
        Dimension, :math:`d \ge 1`.
    sigma2 : float
        Label-noise variance :math:`\sigma^2 \ge 0`.

    Returns
    -------
    risk : float
        :math:`\sigma^2 d / (n - d - 1)`: finite for :math:`n \ge d + 2`; infinite for
        :math:`n = d, d + 1` when :math:`\sigma^2 > 0` (:math:`\mathbb{E} \operatorname{tr}
        (X^\top X)^{-1}` diverges), 0 when :math:`\sigma^2 = 0`.

    Raises
    ------
    ValueError
        If :math:`n < d` (least squares is not unique), or an argument lies outside its range (see
        "Domain and accuracy" below).

    Notes
    -----
    .. math::

        \mathbb{E}\|(X^\top X)^{-1} X^\top y - w\|^2 = \frac{\sigma^2 d}{n - d - 1}.
    """
    if n >= d + 2:
        return sigma2 * (d / (n - d - 1))
    return math.inf if sigma2 > 0 else 0.0
