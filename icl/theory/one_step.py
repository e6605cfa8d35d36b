"""Chapter 1: the risk of one step of preconditioned GD, w_hat = Gamma X^T y / n, from w_0 = 0.

With S = X^T X / n:

    E[(X^T X)^2] = n (n + d + 1) I_d,
    R(Gamma) = psi2 [ (n + d + 1)/n ||Gamma||_F^2 - 2 tr Gamma + d ] + sigma2/n ||Gamma||_F^2,
    R(eta I) = d [ psi2 (1 - 2 eta + eta^2 (n + d + 1)/n) + eta^2 sigma2 / n ],
    eta* = psi2 n / (psi2 (n + d + 1) + sigma2),
    R(eta* I) = d psi2 (psi2 (d + 1) + sigma2) / (psi2 (n + d + 1) + sigma2).

Each is evaluated as a sum of non-negative terms, so that no cancellation costs accuracy:
(n + d + 1)/n ||Gamma||^2 - 2 tr Gamma + d = ||Gamma - I||_F^2 + (d + 1)/n ||Gamma||_F^2, and
1 - 2 eta + eta^2 (n + d + 1)/n = (1 - eta)^2 + eta^2 (d + 1)/n.
"""

from __future__ import annotations

import numpy as np

from icl.domain import Accuracy, Given, Integer, Real, declare
from icl.validation import array

_SIZE = Integer(1, None)
_SIGMA2 = Real(0.0, None)
_PSI2 = Real(0.0, None, open_low=True)
_CLOSED_FORM = Accuracy(
    relative=1e-14,
    absolute=1e-322,
    note="a closed form of non-negative terms, a few roundings (a subnormal result, below "
    "2.2e-308: a few spacings of 5e-324); inf only where the value exceeds the float range",
)


def _one_step_risk(n: int, d: int, sigma2: float, eta: float, psi2: float) -> float:
    """The small factor last (psi2 times the rest), so that no intermediate is subnormal."""
    return psi2 * (d * ((1 - eta) ** 2 + eta**2 * ((d + 1) / n))) + d * eta**2 * (sigma2 / n)


def _optimal_step(n: int, d: int, sigma2: float, psi2: float) -> float:
    """psi2 n / (psi2 (n + d + 1) + sigma2), with the ratio of the variances taken below 1 (no
    overflow) and n psi2 / sigma2 where psi2 / sigma2 would underflow."""
    if psi2 >= sigma2:
        return n / ((n + d + 1) + sigma2 / psi2)
    ratio = psi2 / sigma2
    if ratio < 1e-300:
        return n * psi2 / sigma2
    return n * ratio / ((n + d + 1) * ratio + 1)


@declare(_CLOSED_FORM, n=_SIZE, d=_SIZE, sigma2=_SIGMA2, eta=Real(), psi2=_PSI2)
def one_step_risk(n: int, d: int, sigma2: float, eta: float, *, psi2: float = 1.0) -> float:
    """E||eta X^T y / n - w||^2 = d [psi2 (1 - 2 eta + eta^2 (n+d+1)/n) + eta^2 sigma2 / n].

    Any real step ``eta`` (the risk is a quadratic in it); evaluated as
    d [psi2 ((1 - eta)^2 + eta^2 (d + 1)/n) + eta^2 sigma2 / n].
    """
    return _one_step_risk(n, d, sigma2, eta, psi2)


@declare(_CLOSED_FORM, n=_SIZE, d=_SIZE, sigma2=_SIGMA2, psi2=_PSI2)
def optimal_step(n: int, d: int, sigma2: float, *, psi2: float = 1.0) -> float:
    """The step minimising :func:`one_step_risk`: eta* = psi2 n / (psi2 (n + d + 1) + sigma2)."""
    return _optimal_step(n, d, sigma2, psi2)


@declare(_CLOSED_FORM, n=_SIZE, d=_SIZE, sigma2=_SIGMA2, psi2=_PSI2)
def optimal_one_step_risk(n: int, d: int, sigma2: float, *, psi2: float = 1.0) -> float:
    """min over Gamma of R(Gamma) = d psi2 (psi2 (d + 1) + sigma2) / (psi2 (n + d + 1) + sigma2)."""
    if psi2 >= sigma2:
        ratio = sigma2 / psi2
        shrink = ((d + 1) + ratio) / ((n + d + 1) + ratio)
    else:
        ratio = psi2 / sigma2
        shrink = ((d + 1) * ratio + 1) / ((n + d + 1) * ratio + 1)
    return psi2 * (d * shrink)


def _square_matrix(name: str, value) -> np.ndarray:
    gamma = array(name, value)
    if gamma.ndim != 2 or gamma.shape[0] != gamma.shape[1] or gamma.shape[0] < 1:
        raise ValueError(f"{name} must be a square (d, d) matrix, got shape {gamma.shape}")
    return value


def _draw_gamma(rng: np.random.Generator) -> np.ndarray:
    d = int(rng.choice([1, 2, 3, 5, 8, 20]))
    scale = 10.0 ** rng.uniform(-6, 6)
    gamma = rng.standard_normal((d, d)) * scale
    return gamma if rng.random() < 0.5 else np.eye(d) + 1e-6 * gamma / scale


@declare(
    Accuracy(
        relative=1e-13,
        absolute=1e-322,
        note="||Gamma - I||_F^2 + (d + 1)/n ||Gamma||_F^2 and ||Gamma||_F^2, sums of squares "
        "(relative error a few d x 1e-16)",
    ),
    gamma=Given(
        "a square (d, d) array or tensor of finite real numbers",
        check=_square_matrix,
        bad=(np.ones((2, 3)), np.zeros((0, 0)), np.array([[np.inf]])),
        draw=_draw_gamma,
    ),
    n=_SIZE,
    sigma2=_SIGMA2,
    psi2=_PSI2,
)
def preconditioned_risk(gamma, n: int, sigma2: float, *, psi2: float = 1.0) -> float:
    """E||Gamma X^T y / n - w||^2 = psi2 [(n+d+1)/n ||Gamma||_F^2 - 2 tr Gamma + d] + sigma2/n
    ||Gamma||_F^2.

    ``gamma`` is a square ``(d, d)`` array or tensor (any preconditioner, not
    necessarily symmetric). Evaluated as psi2 [||Gamma - I||_F^2 + (d + 1)/n ||Gamma||_F^2]
    + sigma2/n ||Gamma||_F^2.
    """
    gamma = array("gamma", gamma)
    d = gamma.shape[0]
    frob2 = float(np.sum(gamma**2))
    off = float(np.sum((gamma - np.eye(d)) ** 2))
    return psi2 * (off + (d + 1) / n * frob2) + sigma2 / n * frob2


@declare(_CLOSED_FORM, n=_SIZE, d=Integer(1, 4096), sigma2=_SIGMA2, psi2=_PSI2)
def optimal_preconditioner(n: int, d: int, sigma2: float, *, psi2: float = 1.0) -> np.ndarray:
    """Gamma* = eta* I_d, the minimiser of :func:`preconditioned_risk` (isotropic x and prior).

    A dense ``(d, d)`` array, so d is at most 4096 (134 MB).
    """
    return _optimal_step(n, d, sigma2, psi2) * np.eye(d)
