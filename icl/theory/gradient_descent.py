"""Chapter 2: the risk of T steps of (ridge-regularised) gradient descent, given the design X.

Convention (the same as ``icl.decoders.gd_chains``): the gradient is divided by n,

    w_{t+1} = w_t - eta (X^T (X w_t - y) / n + lam w_t),    w_0 = 0,

so with S = X^T X / n = V diag(s) V^T and b = X^T y / n,

    w_T = V diag(g) V^T b,    g_j = (1 - a_j^T) / (s_j + lam),    a_j = 1 - eta (s_j + lam)

(g_j = eta T when s_j + lam = 0). For w ~ N(0, psi2 I_d) and label noise of
variance sigma2, the risk conditional on X is

    E[||w_T - w||^2 | X] = sum_j psi2 (1 - g_j s_j)^2 + (sigma2 / n) g_j^2 s_j,

and ridge regression (S + lam I)^{-1} b is the T -> infinity limit, g_j = 1 / (s_j + lam).
"""

from __future__ import annotations

import math

import torch

from icl.validation import design, integer, positive, real, tensor


def bayes_ridge_penalty(n: int, sigma2: float, *, psi2: float = 1.0) -> float:
    """The posterior-mean penalty in the divided-by-n convention: lam = sigma2 / (n psi2).

    (In the undivided convention of the authors' prototype, the penalty on
    ||X w - y||^2 is n lam = sigma2 / psi2.)
    """
    n, sigma2 = integer("n", n), real("sigma2", sigma2, minimum=0.0)
    return sigma2 / (n * real("psi2", psi2, minimum=0.0, strict=True))


def gd_filter(s: torch.Tensor, *, eta: float, steps: int | None, lam: float = 0.0) -> torch.Tensor:
    """The spectral filter g_j with w_T = V diag(g) V^T b; ``steps=None`` gives ridge, 1 / (s_j +
    lam).

    ``s`` holds eigenvalues of S (any shape); the result has the same shape.
    """
    eta, lam = positive("eta", eta), real("lam", lam, minimum=0.0)
    tensor("s", s)
    if bool((s < -1e-12 * max(1.0, float(s.abs().max()))).any()):
        raise ValueError("s must hold eigenvalues of S = X^T X / n, which are >= 0")
    shifted = s + lam
    if steps is None:
        if bool((shifted <= 0).any()):
            raise ValueError(
                "steps=None (ridge) needs s + lam > 0; pass lam > 0 when S is singular"
            )
        return 1.0 / shifted
    steps = integer("steps", steps, minimum=0)
    tiny = shifted.abs() < 1e-12
    safe = torch.where(tiny, torch.ones_like(shifted), shifted)
    return torch.where(
        tiny, torch.full_like(shifted, eta * steps), (1 - (1 - eta * safe) ** steps) / safe
    )


def _spectrum(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    tensor("X", X, min_ndim=2)
    S = X.transpose(-1, -2) @ X / X.shape[-2]
    return torch.linalg.eigh(S)


def ridge_gd_iterate(
    X: torch.Tensor, y: torch.Tensor, eta: float, lam: float, T: int
) -> torch.Tensor:
    """The T-th iterate of w_{t+1} = w_t - eta (X^T (X w_t - y) / n + lam w_t) from w_0 = 0.

    The gradient is divided by n, as in :func:`icl.decoders.gd_chains.sample_chains`
    (the authors' prototype does not divide: its step eta' is eta / n here and
    its penalty lam' is n lam). Computed in closed form, w_T = V diag(g) V^T X^T y / n
    (see :func:`gd_filter`). ``X (..., n, d)``, ``y (..., n)`` -> ``(..., d)``.
    """
    design(X, y)
    T = integer("T", T, minimum=0)
    eta = positive("eta", eta)
    s, V = _spectrum(X)
    b = (X.transpose(-1, -2) @ y.unsqueeze(-1)).squeeze(-1) / X.shape[-2]
    g = gd_filter(s.clamp(min=0.0), eta=eta, steps=T, lam=lam)
    return (V @ (g * (V.transpose(-1, -2) @ b.unsqueeze(-1)).squeeze(-1)).unsqueeze(-1)).squeeze(-1)


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

    ``s (..., d)``: eigenvalues of S = X^T X / n; returns ``(...)``. ``steps=None``
    gives ridge regression with penalty ``lam`` (the T -> infinity limit).
    """
    n, sigma2 = integer("n", n), real("sigma2", sigma2, minimum=0.0)
    psi2 = real("psi2", psi2, minimum=0.0, strict=True)
    g = gd_filter(s, eta=eta, steps=steps, lam=lam)
    return (psi2 * (1 - g * s) ** 2 + sigma2 / n * g**2 * s).sum(-1)


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
    ``(...)``."""
    s, _ = _spectrum(X)
    return gd_risk_given_spectrum(
        s.clamp(min=0.0), X.shape[-2], eta=eta, steps=steps, sigma2=sigma2, psi2=psi2, lam=lam
    )


def least_squares_risk(n: int, d: int, sigma2: float) -> float:
    """E||(X^T X)^{-1} X^T y - w||^2 = sigma2 d / (n - d - 1) for Gaussian X (the T -> infinity GD
    limit).

    Finite for n >= d + 2; infinite for n = d, d + 1 when sigma2 > 0 (E tr (X^T X)^{-1}
    diverges); ``ValueError`` for n < d, where least squares is not unique.
    """
    n, d, sigma2 = integer("n", n), integer("d", d), real("sigma2", sigma2, minimum=0.0)
    if n < d:
        raise ValueError(f"n must be >= d = {d} for least squares, got {n}")
    return sigma2 * d / (n - d - 1) if n >= d + 2 else (math.inf if sigma2 > 0 else 0.0)
