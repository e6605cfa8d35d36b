"""Chapter 1: the risk of one step of preconditioned GD, w_hat = Gamma X^T y / n, from w_0 = 0.

With S = X^T X / n:

    E[(X^T X)^2] = n (n + d + 1) I_d,
    R(Gamma) = psi2 [ (n + d + 1)/n ||Gamma||_F^2 - 2 tr Gamma + d ] + sigma2/n ||Gamma||_F^2,
    R(eta I) = d [ psi2 (1 - 2 eta + eta^2 (n + d + 1)/n) + eta^2 sigma2 / n ],
    eta* = psi2 n / (psi2 (n + d + 1) + sigma2),
    R(eta* I) = d psi2 (psi2 (d + 1) + sigma2) / (psi2 (n + d + 1) + sigma2).
"""

from __future__ import annotations

import numpy as np

from icl.validation import array, integer, real


def _check_common(n, d, sigma2, psi2):
    return (
        integer("n", n),
        integer("d", d),
        real("sigma2", sigma2, minimum=0.0),
        real("psi2", psi2, minimum=0.0, strict=True),
    )


def one_step_risk(n: int, d: int, sigma2: float, eta: float, *, psi2: float = 1.0) -> float:
    """E||eta X^T y / n - w||^2 = d [psi2 (1 - 2 eta + eta^2 (n+d+1)/n) + eta^2 sigma2 / n]."""
    n, d, sigma2, psi2 = _check_common(n, d, sigma2, psi2)
    eta = real("eta", eta)
    return d * (psi2 * (1 - 2 * eta + eta**2 * (n + d + 1) / n) + eta**2 * sigma2 / n)


def optimal_step(n: int, d: int, sigma2: float, *, psi2: float = 1.0) -> float:
    """The step minimising :func:`one_step_risk`: eta* = psi2 n / (psi2 (n + d + 1) + sigma2)."""
    n, d, sigma2, psi2 = _check_common(n, d, sigma2, psi2)
    return psi2 * n / (psi2 * (n + d + 1) + sigma2)


def optimal_one_step_risk(n: int, d: int, sigma2: float, *, psi2: float = 1.0) -> float:
    """min over Gamma of R(Gamma) = d psi2 (psi2 (d + 1) + sigma2) / (psi2 (n + d + 1) + sigma2)."""
    n, d, sigma2, psi2 = _check_common(n, d, sigma2, psi2)
    return d * psi2 * (psi2 * (d + 1) + sigma2) / (psi2 * (n + d + 1) + sigma2)


def preconditioned_risk(gamma, n: int, sigma2: float, *, psi2: float = 1.0) -> float:
    """E||Gamma X^T y / n - w||^2 = psi2 [(n+d+1)/n ||Gamma||_F^2 - 2 tr Gamma + d] + sigma2/n
    ||Gamma||_F^2.

    ``gamma`` is a square ``(d, d)`` array or tensor (any preconditioner, not
    necessarily symmetric).
    """
    gamma = array("gamma", gamma)
    if gamma.ndim != 2 or gamma.shape[0] != gamma.shape[1] or gamma.shape[0] < 1:
        raise ValueError(f"gamma must be a square (d, d) matrix, got shape {gamma.shape}")
    d = gamma.shape[0]
    n, d, sigma2, psi2 = _check_common(n, d, sigma2, psi2)
    frob2 = float(np.sum(gamma**2))
    return psi2 * ((n + d + 1) / n * frob2 - 2 * float(np.trace(gamma)) + d) + sigma2 / n * frob2


def optimal_preconditioner(n: int, d: int, sigma2: float, *, psi2: float = 1.0) -> np.ndarray:
    """Gamma* = eta* I_d, the minimiser of :func:`preconditioned_risk` (isotropic x and prior)."""
    return optimal_step(n, d, sigma2, psi2=psi2) * np.eye(integer("d", d))
