"""Chapter 3: the mean and covariance of noisy chains of GD thoughts, and the risk of their average.

Same convention as ``icl.decoders.gd_chains.sample_chains`` (gradient divided by n):
with S = X^T X / n, b = X^T y / n, a chain is

    additive:        w_{t+1} = w_t - eta (S w_t - b + lam w_t) + tau xi_t,          xi_t ~ N(0,
    I_d), multiplicative:  w_{t+1} = w_t - eta (S w_t - b + lam w_t + (xi_t^T w_t) xi_t), xi_t ~
    N(0, delta2 I_d),

(``level`` is tau, resp. delta = sqrt(delta2)). Given (X, y):

- the mean m_t of an additive chain is the noiseless iterate; of a
  multiplicative chain, the ridge-GD iterate with penalty lam + delta2;
- with A = I - eta (S + (lam + delta2) I) and P_t = C_t + m_t m_t^T,
  multiplicative: C_{t+1} = A C_t A + eta^2 delta2^2 (P_t + tr(P_t) I)
  (from the Gaussian fourth moment E[xi xi^T M xi xi^T] = delta2^2 (M + M^T + tr(M) I)),
  additive:       C_{t+1} = A C_t A + tau^2 I   (with A = I - eta (S + lam I));
- the average of N independent chains has risk ||m_T - w||^2 + tr(C_T) / N.

Prompt averages are over typical designs, eta (s_max(S) + lam + delta2) <= 1;
:func:`unstable_design_probability_bound` bounds the probability of the others.
"""

from __future__ import annotations

import math
from collections import deque

import torch

from icl.theory.gradient_descent import ridge_gd_iterate
from icl.validation import choice, design, integer, real, same_dtype, tensor

NOISES = ("additive", "multiplicative")


def gaussian_fourth_moment(M: torch.Tensor, delta2: float) -> torch.Tensor:
    """E[xi xi^T M xi xi^T] = delta2^2 (M + M^T + tr(M) I) for xi ~ N(0, delta2 I); ``M (..., d,
    d)``."""
    delta2 = real("delta2", delta2, minimum=0.0)
    tensor("M", M, min_ndim=2)
    if M.shape[-1] != M.shape[-2]:
        raise ValueError(
            f"M must be a tensor of square matrices (..., d, d), got {getattr(M, 'shape', M)!r}"
        )
    eye = torch.eye(M.shape[-1], device=M.device, dtype=M.dtype)
    trace = M.diagonal(dim1=-2, dim2=-1).sum(-1)[..., None, None]
    return delta2**2 * (M + M.transpose(-1, -2) + trace * eye)


def _setup(X, y, eta, level, noise, lam):
    design(X, y)
    choice("noise", noise, NOISES)
    eta, lam = real("eta", eta, minimum=0.0, strict=True), real("lam", lam, minimum=0.0)
    level = real("level", level, minimum=0.0, strict=True)
    n = X.shape[-2]
    S = X.transpose(-1, -2) @ X / n
    b = (X.transpose(-1, -2) @ y.unsqueeze(-1)).squeeze(-1) / n
    return S, b, eta, level, lam


def chain_mean(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    eta: float,
    steps: int,
    noise: str,
    level: float,
    lam: float = 0.0,
) -> torch.Tensor:
    """E[w_T | X, y]: the ridge-GD iterate with penalty lam + level^2 (multiplicative) or lam
    (additive); ``(..., d)``."""
    _, _, eta, level, lam = _setup(X, y, eta, level, noise, lam)
    steps = integer("steps", steps, minimum=0)
    return ridge_gd_iterate(
        X, y, eta, lam + (level**2 if noise == "multiplicative" else 0.0), steps
    )


def chain_covariance(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    eta: float,
    steps: int,
    noise: str,
    level: float,
    lam: float = 0.0,
) -> torch.Tensor:
    """Cov[w_T | X, y] by the exact recursion of the module docstring, from C_0 = 0; ``(..., d,
    d)``."""
    S, b, eta, level, lam = _setup(X, y, eta, level, noise, lam)
    steps = integer("steps", steps, minimum=0)
    d = S.shape[-1]
    eye = torch.eye(d, device=S.device, dtype=S.dtype)
    shift = lam + (level**2 if noise == "multiplicative" else 0.0)
    A = eye - eta * (S + shift * eye)
    m, C = torch.zeros_like(b), torch.zeros_like(S)
    for _ in range(steps):
        if noise == "multiplicative":
            P = C + m.unsqueeze(-1) * m.unsqueeze(-2)
            C = A @ C @ A + eta**2 * (gaussian_fourth_moment(P, level**2) - level**4 * P)
        else:
            C = A @ C @ A + level**2 * eye
        m = (A @ m.unsqueeze(-1)).squeeze(-1) + eta * b
    return C


def stationary_chain_covariance(
    X: torch.Tensor, y: torch.Tensor, *, eta: float, noise: str, level: float, lam: float = 0.0
) -> torch.Tensor:
    """The fixed point C_inf of the covariance recursion, ``(..., d, d)``.

    In the eigenbasis of S (a_j = 1 - eta (s_j + lam + delta2), kappa = eta^2 delta2^2,
    m = V^T (S + (lam + delta2) I)^{-1} b, D_jk = 1 - a_j a_k - kappa):

        multiplicative: C~ = kappa (m m^T + (|m|^2 + tr C) I) / D   (entrywise),
                        tr C = sum_j kappa (m_j^2 + |m|^2) / D_jj / (1 - sum_j kappa / D_jj);
        additive:       C~ = diag(tau^2 / (1 - a_j^2)),  a_j = 1 - eta (s_j + lam).

    Raises ``ValueError`` when the recursion has no stable fixed point
    (some |a_j| >= 1, or sum_j kappa / D_jj >= 1).
    """
    S, b, eta, level, lam = _setup(X, y, eta, level, noise, lam)
    s, V = torch.linalg.eigh(S)
    if noise == "additive":
        a = 1 - eta * (s + lam)
        if bool((a.abs() >= 1).any()):
            raise ValueError(
                "no stationary covariance: some |1 - eta (s_j + lam)| >= 1 "
                "(pass lam > 0 if S is singular)"
            )
        return V @ torch.diag_embed(level**2 / (1 - a**2)) @ V.transpose(-1, -2)
    delta2 = level**2
    a = 1 - eta * (s + lam + delta2)
    kappa = eta**2 * delta2**2
    m = (V.transpose(-1, -2) @ b.unsqueeze(-1)).squeeze(-1) / (s + lam + delta2)
    D = 1 - a.unsqueeze(-1) * a.unsqueeze(-2) - kappa
    Dd = D.diagonal(dim1=-2, dim2=-1)
    gain = (kappa / Dd).sum(-1)
    if bool((Dd <= 0).any()) or bool((gain >= 1).any()):
        raise ValueError(
            "no stationary covariance: "
            "the multiplicative-noise recursion is unstable at this eta and level"
        )
    m2 = (m**2).sum(-1, keepdim=True)
    trace = (kappa * (m**2 + m2) / Dd).sum(-1, keepdim=True) / (1 - gain.unsqueeze(-1))
    eye = torch.eye(s.shape[-1], device=s.device, dtype=s.dtype)
    Ct = kappa * (m.unsqueeze(-1) * m.unsqueeze(-2) + (m2 + trace).unsqueeze(-1) * eye) / D
    return V @ Ct @ V.transpose(-1, -2)


def _eigenbasis(S, b, w, eta, level, noise, lam):
    """In the eigenbasis S = V diag(s) V^T: a_j = 1 - eta (s_j + lam [+ delta2]), kappa = eta^2
    delta2^2, beta = V^T b and V^T w."""
    s, V = torch.linalg.eigh(S)
    beta = (V.transpose(-1, -2) @ b.unsqueeze(-1)).squeeze(-1)
    w_tilde = (V.transpose(-1, -2) @ w.unsqueeze(-1)).squeeze(-1)
    shift = lam + (level**2 if noise == "multiplicative" else 0.0)
    return 1 - eta * (s + shift), eta**2 * level**4, beta, w_tilde


def _diagonal_moments(a, kappa, beta, eta, level, noise, steps):
    """Yield (m_t, c_t) for t = 0..T in the eigenbasis: the mean and the diagonal of C_t, from
    m_0 = c_0 = 0 (the recursion of :func:`chain_risk_terms`)."""
    m, c = torch.zeros_like(beta), torch.zeros_like(beta)
    yield m, c
    for _ in range(steps):
        if noise == "multiplicative":
            second = c + m**2
            c = a**2 * c + kappa * (second + second.sum(-1, keepdim=True))
        else:
            c = a**2 * c + level**2
        m = a * m + eta * beta
        yield m, c


def chain_risk_terms(
    X: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor,
    *,
    eta: float,
    steps: int,
    level: float,
    noise: str = "multiplicative",
    lam: float = 0.0,
    every_step: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(||m_T - w||^2, tr C_T) given (X, y, w), each ``(...)``; with ``every_step``, for t = 0..T,
    ``(..., T + 1)``.

    Uses the diagonal of C_t in the eigenbasis of S, which the recursion keeps closed: c_{t+1,j} =
    a_j^2 c_{t,j} + kappa (c_{t,j} + m_{t,j}^2 + sum_k (c_{t,k} + m_{t,k}^2)) (multiplicative),
    c_{t+1,j} = a_j^2 c_{t,j} + tau^2 (additive); O(T d) per prompt.
    """
    S, b, eta, level, lam = _setup(X, y, eta, level, noise, lam)
    steps = integer("steps", steps, minimum=0)
    tensor("w", w, shape=tuple(b.shape))
    same_dtype(X=X, w=w)
    a, kappa, beta, w_tilde = _eigenbasis(S, b, w, eta, level, noise, lam)
    moments = _diagonal_moments(a, kappa, beta, eta, level, noise, steps)
    if every_step:
        terms = [(((m - w_tilde) ** 2).sum(-1), c.sum(-1)) for m, c in moments]
        return torch.stack([t[0] for t in terms], -1), torch.stack([t[1] for t in terms], -1)
    m, c = deque(moments, maxlen=1)[0]  # the last step's
    return ((m - w_tilde) ** 2).sum(-1), c.sum(-1)


def averaged_chain_risk(
    X: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor,
    *,
    eta: float,
    steps: int,
    level: float,
    n_chains: int,
    lam: float = 0.0,
) -> torch.Tensor:
    """Exact E[||mean of N multiplicative-noise chains - w||^2 | X, y, w] = ||m_T - w||^2 + tr(C_T)
    / N.

    Same convention as :func:`icl.decoders.gd_chains.sample_chains` with
    ``noise="multiplicative"`` (gradient divided by n, xi ~ N(0, level^2 I));
    ``X (..., n, d)``, ``y (..., n)``, ``w (..., d)`` -> ``(...)``.
    """
    n_chains = integer("n_chains", n_chains)
    bias2, trace = chain_risk_terms(X, y, w, eta=eta, steps=steps, level=level, lam=lam)
    return bias2 + trace / n_chains


def _geometric_sum(r: torch.Tensor, q: torch.Tensor, steps: int) -> torch.Tensor:
    """sum_{t=0}^{T-1} r^(T-1-t) q^t = (r^T - q^T) / (r - q), accurate also when q is close to r (T
    r^(T-1) at q = r)."""
    u = q / torch.where(r == 0, torch.ones_like(r), r) - 1  # q = r (1 + u)
    near = (u.abs() < 0.5) & (r != 0)
    u_safe = torch.where(near & (u != 0), u, torch.ones_like(u))
    close = torch.pow(r, steps - 1) * torch.where(
        u == 0, torch.full_like(u, float(steps)), torch.expm1(steps * torch.log1p(u_safe)) / u_safe
    )
    diff = torch.where(near, torch.ones_like(r), r - q)
    far = (torch.pow(r, steps) - torch.pow(q, steps)) / diff
    return torch.where(near, close, far)


def chain_error_moments(
    X: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor,
    *,
    eta: float,
    steps: int,
    level: float,
    noise: str = "multiplicative",
    lam: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(||b||^2, tr C_T, b^T C_T b) with b = m_T - w, each ``(...)``, given (X, y, w).

    These are the moments that the error norm ||mean of N chains - w|| depends on
    to order 1/N (:func:`averaged_chain_error_norm`). In the eigenbasis of S
    (a_j = 1 - eta (s_j + lam + delta2), kappa = eta^2 delta2^2, m_j(t) = mu_j (1 - a_j^t),
    mu_j = beta_j / (s_j + lam + delta2)), the off-diagonal entries of the multiplicative-noise
    covariance obey C_jk(t+1) = (a_j a_k + kappa) C_jk(t) + kappa m_j(t) m_k(t), so with r = a_j a_k
    + kappa and G(q) = sum_{t<T} r^(T-1-t) q^t = (r^T - q^T) / (r - q),

        C_jk(T) = kappa mu_j mu_k [G(1) - G(a_j) - G(a_k) + G(a_j a_k)]     (j != k),

    while the diagonal follows the recursion of :func:`chain_risk_terms`; O(T d + d^2)
    per prompt (only the min(n, d) directions of the row space of X have mu_j != 0).
    For additive noise C_T is diagonal in this basis. Computed in float64 whatever the
    input dtype (r - a_j a_k = kappa is below float32 resolution at small eta and delta2)
    and returned in the input dtype. ``X (..., n, d)``, ``y (..., n)``, ``w (..., d)``.
    """
    S, b, eta, level, lam = _setup(X, y, eta, level, noise, lam)
    steps = integer("steps", steps, minimum=1)
    tensor("w", w, shape=tuple(b.shape))
    same_dtype(X=X, w=w)
    out_dtype = b.dtype
    S, b, w = S.double(), b.double(), w.double()
    a, kappa, beta, w_tilde = _eigenbasis(S, b, w, eta, level, noise, lam)
    m, c = deque(_diagonal_moments(a, kappa, beta, eta, level, noise, steps), maxlen=1)[0]
    err = m - w_tilde
    bias2, trace = (err**2).sum(-1), c.sum(-1)
    quadratic = (err**2 * c).sum(-1)
    if noise == "multiplicative":
        # b = X^T y / n lies in the row space of X: only the top min(n, d) directions have mu_j != 0
        top = slice(max(S.shape[-1] - X.shape[-2], 0), None)
        a, err = a[..., top], err[..., top]
        mu = eta * beta[..., top] / (1 - a)
        aj, ak = a.unsqueeze(-1), a.unsqueeze(-2)
        r = aj * ak + kappa
        one = torch.ones_like(r)
        G = (
            _geometric_sum(r, one, steps)
            - _geometric_sum(r, aj.expand_as(r), steps)
            - _geometric_sum(r, ak.expand_as(r), steps)
            + _geometric_sum(r, aj * ak, steps)
        )
        off = kappa * mu.unsqueeze(-1) * mu.unsqueeze(-2) * G
        off = off - torch.diag_embed(off.diagonal(dim1=-2, dim2=-1))
        quadratic = quadratic + (err.unsqueeze(-2) @ off @ err.unsqueeze(-1)).squeeze(-1).squeeze(
            -1
        )
    return bias2.to(out_dtype), trace.to(out_dtype), quadratic.to(out_dtype)


def averaged_chain_error_norm(
    X: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor,
    *,
    eta: float,
    steps: int,
    level: float,
    n_chains: int,
    noise: str = "multiplicative",
    lam: float = 0.0,
) -> torch.Tensor:
    """E[||mean of N chains - w|| | X, y, w] to first order in 1/N, ``(...)``.

    With b = m_T - w and the average's deviation e (mean 0, covariance C_T / N),
    expanding ||b + e|| = ||b|| (1 + u)^(1/2), u = (2 b^T e + ||e||^2) / ||b||^2, to second order:

        E||b + e|| = ||b|| + (tr C_T - b^T C_T b / ||b||^2) / (2 N ||b||) + O(N^-2),

    where the O(N^-2) remainder involves the third and fourth moments of a chain.
    Exact bounds, for every N: ||b|| <= E||b + e|| <= (||b||^2 + tr C_T / N)^(1/2) (Jensen).
    Same conventions as :func:`chain_error_moments`.
    """
    n_chains = integer("n_chains", n_chains)
    bias2, trace, quadratic = chain_error_moments(
        X, y, w, eta=eta, steps=steps, level=level, noise=noise, lam=lam
    )
    norm = bias2.sqrt()
    return norm + (trace - quadratic / bias2) / (2 * n_chains * norm)


def unstable_design_probability_bound(n: int, d: int, eta: float, shift: float = 0.0) -> float:
    """An upper bound on P(eta (s_max(S) + shift) > 1) for S = X^T X / n, X (n, d) with N(0, 1)
    entries.

    Davidson and Szarek (2001, Thm II.13): the top singular value of X satisfies
    P(s_max(X) > sqrt(n) + sqrt(d) + r) <= exp(-r^2 / 2) (Gordon's bound on its mean plus
    Gaussian concentration of a 1-Lipschitz function). With s_max(S) = s_max(X)^2 / n and
    t = sqrt(1 / eta - shift) - 1 - sqrt(d / n),

        P(eta (s_max(S) + shift) > 1) <= exp(-n t^2 / 2)   when t > 0, and 1 otherwise.

    ``shift`` is lam + delta2, the penalty plus the multiplicative-noise level.
    """
    n, d = integer("n", n), integer("d", d)
    eta, shift = real("eta", eta, minimum=0.0, strict=True), real("shift", shift, minimum=0.0)
    if eta * shift >= 1:
        return 1.0
    t = math.sqrt(1 / eta - shift) - 1 - math.sqrt(d / n)
    return math.exp(-n * t**2 / 2) if t > 0 else 1.0
