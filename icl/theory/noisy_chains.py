r"""Chapter 3: the mean and covariance of noisy chains of GD thoughts, and their average's risk.

Same convention as ``icl.decoders.gd_chains.sample_chains`` (gradient divided by :math:`n`):
with :math:`S = X^\top X / n`, :math:`b = X^\top y / n`, a chain is

.. math::

    \text{additive:} \quad & w_{t+1} = w_t - \eta (S w_t - b + \lambda w_t) + \tau \xi_t,
        \quad \xi_t \sim N(0, I_d), \\
    \text{multiplicative:} \quad & w_{t+1} = w_t - \eta (S w_t - b + \lambda w_t
        + (\xi_t^\top w_t) \xi_t), \quad \xi_t \sim N(0, \delta^2 I_d),

(``level`` is :math:`\tau`, resp. :math:`\delta = \sqrt{\delta^2}`), from :math:`w_0 = 0`.
Given :math:`(X, y)`:

- the mean :math:`m_t` of an additive chain is the noiseless iterate; of a multiplicative chain,
  the ridge-GD iterate with penalty :math:`\lambda + \delta^2`;
- with :math:`A = I - \eta (S + (\lambda + \delta^2) I)` and :math:`P_t = C_t + m_t m_t^\top`,

  .. math::

      \text{multiplicative:} \quad & C_{t+1} = A C_t A + \eta^2 \delta^4
          (P_t + \operatorname{tr}(P_t) I), \\
      \text{additive:} \quad & C_{t+1} = A C_t A + \tau^2 I
          \quad (\text{with } A = I - \eta (S + \lambda I)),

  the multiplicative one from the Gaussian fourth moment
  :math:`\mathbb{E}[\xi \xi^\top M \xi \xi^\top] = \delta^4 (M + M^\top + \operatorname{tr}(M) I)`;
- the average of :math:`N` independent chains has risk
  :math:`\|m_T - w\|^2 + \operatorname{tr}(C_T) / N`.

**In the eigenbasis** :math:`S = V \operatorname{diag}(s) V^\top`, with
:math:`u_j = s_j + \mathrm{shift}` (:math:`\mathrm{shift} = \lambda + \delta^2`, resp.
:math:`\lambda`), :math:`x_j = \eta u_j`, :math:`a_j = 1 - x_j`, :math:`\beta = V^\top b` and
:math:`[t]_a = \sum_{i<t} a^i = (1 - a^t) / x`:

.. math::

    \text{mean:} \quad & m_j(t) = \eta \beta_j [t]_{a_j} \quad \text{(the ridge-GD iterate)}, \\
    \text{additive:} \quad & C_T = \operatorname{diag}(\tau^2 [T]_{a_j^2}), \\
    \text{multiplicative, diagonal } (\kappa = \eta^2 \delta^4): \quad &
        c_j(t+1) = a_j^2 c_j(t) + \kappa \Big(c_j(t) + m_j(t)^2
        + \sum_k (c_k(t) + m_k(t)^2)\Big), \\
    \text{multiplicative, off the diagonal } (j \ne k,\ r = a_j a_k + \kappa): \quad &
        C_{jk}(T) = \kappa \eta^2 \beta_j \beta_k Q_{jk}, \quad
        Q_{jk} = \sum_{t<T} r^{T-1-t} [t]_{a_j} [t]_{a_k}.

Every quantity is computed in float64 from :math:`[t]_a = -\operatorname{expm1}(t
\operatorname{log1p}(-x)) / x` (and its forms for :math:`a < 0`), sums of non-negative terms
wherever the chain contracts, so that a slowly mixing chain (:math:`x T` small) loses nothing to
cancellation; the results are returned in the input's dtype.

**Which designs.** A prompt average of the book is a typical-design value (Chapter 2's
definition): over the designs on which the mean chain does not diverge,
:math:`\eta (s_{\max}(S) + \lambda + \delta^2) \le 2`.
:func:`unstable_design_probability_bound` bounds the probability of the larger set of designs on
which the contraction is not monotone, :math:`\eta (s_{\max}(S) + \lambda + \delta^2) > 1` (some
:math:`a_j < 0`), which contains the divergent ones.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch

from icl.domain import Accuracy, Choice, Condition, Flag, Given, Integer, Real, declare
from icl.validation import design, entries, same_dtype, tensor, work

NOISES = ("additive", "multiplicative")
MAX_STEPS = 10**5
"""Largest number of chain steps T accepted (the diagonal recursion is a loop over T)."""
MAX_DIM = 1000
"""Largest dimension d accepted (an eigendecomposition of S per prompt)."""
MAX_PATH = 10**8
"""Largest (number of prompts) x (T + 1) of the per-step output of :func:`chain_risk_terms`."""
MAX_ENTRY = 1e60
"""Largest magnitude of an entry of X, y or w."""
MAX_RATE = 1e12
"""Largest eta, level and lam accepted."""
_CHUNK = 2**22
"""Float64 entries of the largest temporary of one chunk of prompts (prompts are processed in
chunks of about this size, so that memory does not grow with the batch)."""

_DTYPE_NOTE = "for float64 tensors (float32 tensors are computed in float64 and rounded)"


# ----------------------------------------------------------------------------------------------
# Declarations shared by the functions of a prompt


def _entries(min_ndim: int, dimension: bool = False):
    def check(name: str, value) -> torch.Tensor:
        tensor(name, value, min_ndim=min_ndim)
        if bool((value.abs() > MAX_ENTRY).any()):
            raise ValueError(f"{name} must have entries of magnitude <= {MAX_ENTRY:g}")
        if dimension and value.shape[-1] > MAX_DIM:
            raise ValueError(f"{name} must have d <= {MAX_DIM} columns, got {value.shape[-1]}")
        return value

    return check


_X = Given(
    f"a float tensor (..., n, d), d <= {MAX_DIM}, of entries of magnitude <= {MAX_ENTRY:g}",
    check=_entries(2, dimension=True),
)
_Y = Given(f"a float tensor (..., n) of entries of magnitude <= {MAX_ENTRY:g}", check=_entries(1))
_W = Given(f"a float tensor (..., d) of entries of magnitude <= {MAX_ENTRY:g}", check=_entries(1))
_ETA = Real(0.0, MAX_RATE, open_low=True)
_LEVEL = Real(0.0, MAX_RATE, open_low=True)
_LAM = Real(0.0, MAX_RATE)
_STEPS = Integer(0, MAX_STEPS)
_NOISE = Choice(NOISES)


def _prompts(X: torch.Tensor) -> int:
    return math.prod(X.shape[:-2])


_PATH = Condition(
    f"every_step is False or (number of prompts) (T + 1) <= {MAX_PATH:.0e} (the output's size)",
    lambda X, steps, every_step: not every_step or _prompts(X) * (steps + 1) <= MAX_PATH,
    {"X": torch.zeros(2000, 1, 1, dtype=torch.float64), "steps": MAX_STEPS, "every_step": True},
)


def _with_setup(X, y, noise, w=None) -> torch.dtype:
    design(X, y)
    if w is not None:
        tensor("w", w, shape=(*X.shape[:-2], X.shape[-1]))
        same_dtype(X=X, w=w)
    return X.dtype


def _shift(noise: str, level: float, lam: float) -> float:
    return lam + (level**2 if noise == "multiplicative" else 0.0)


def _chunked(compute, X, y, w, per_prompt: int, *, steps: int = 0, output: int = 1):
    """``compute(X, y, w)`` on chunks of the prompts (batch dimensions flattened), each holding
    about :data:`_CHUNK` / ``per_prompt`` prompts; its outputs (tensors with the prompts first)
    concatenated and given back the batch dimensions. ``ValueError`` (validation.work,
    validation.entries) if the call's work, prompts (n d^2 + d^3 + T d), or its output, prompts
    ``output`` entries, is too large for one call."""
    lead, (n, d) = X.shape[:-2], X.shape[-2:]
    B = math.prod(lead)
    work("prompts (n d^2 + d^3 + T d)", B * (n * d * d + d**3 + steps * d))
    entries("the output, prompts x its entries per prompt", B * output)
    Xf, yf = X.reshape(B, n, d), y.reshape(B, n)
    wf = None if w is None else w.reshape(B, d)
    size = max(1, _CHUNK // max(per_prompt, 1))
    parts = [
        compute(Xf[i : i + size], yf[i : i + size], None if wf is None else wf[i : i + size])
        for i in range(0, B, size)
    ]
    if isinstance(parts[0], torch.Tensor):
        return torch.cat(parts).reshape(*lead, *parts[0].shape[1:])
    return tuple(
        torch.cat([p[k] for p in parts]).reshape(*lead, *parts[0][k].shape[1:])
        for k in range(len(parts[0]))
    )


# ----------------------------------------------------------------------------------------------
# The eigenbasis and the unit sums [t]_a


class _Basis:
    """Prompts (B, n, d) in the eigenbasis of S, in float64: s (B, d) ascending, V (B, d, d),
    beta = V^T b, w~ = V^T w, x = eta (s + shift) and a = 1 - x."""

    def __init__(self, X, y, eta, shift, w=None):
        n = X.shape[-2]
        X64, y64 = X.double(), y.double()
        S = X64.transpose(-1, -2) @ X64 / n
        b = (X64.transpose(-1, -2) @ y64.unsqueeze(-1)).squeeze(-1) / n
        s, V = torch.linalg.eigh(S)
        self.s, self.V, self.n = s.clamp(min=0.0), V, n
        self.beta = (V.transpose(-1, -2) @ b.unsqueeze(-1)).squeeze(-1)
        self.w = None if w is None else (V.transpose(-1, -2) @ w.double().unsqueeze(-1)).squeeze(-1)
        self.eta = eta
        self.x = eta * (self.s + shift)
        self.a = 1 - self.x

    def to_original(self, vector: torch.Tensor) -> torch.Tensor:
        return (self.V @ vector.unsqueeze(-1)).squeeze(-1)

    def matrix_to_original(self, matrix: torch.Tensor) -> torch.Tensor:
        return self.V @ matrix @ self.V.transpose(-1, -2)


def _unit_sums(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """[t]_a = sum_{i<t} a^i = (1 - a^t) / x for a = 1 - x (any shape) and steps t (k,), shape
    ``(*x.shape, k)``, without cancellation: -expm1(t log1p(-x)) / x for a >= 0 (t where x = 0),
    and for a < 0, |a| = x - 1, (1 - |a|^t) / x at even t and (1 + |a|^t) / x at odd t."""
    x = x.unsqueeze(-1)
    t = t.to(x.dtype)
    safe = torch.where(x == 0, torch.ones_like(x), x)
    up = x <= 1  # a >= 0
    log_a = torch.where(up, torch.log1p(-x.clamp(max=1.0)), torch.log((x - 1).clamp(min=1e-300)))
    scaled = torch.where(t == 0, torch.zeros_like(t * log_a), t * log_a)
    rising = -torch.expm1(scaled) / safe  # (1 - |a|^t) / x
    odd = (torch.remainder(t, 2) == 1) & ~up
    rising = torch.where(odd, (1 + torch.exp(scaled)) / safe, rising)
    return torch.where(x == 0, t.expand_as(rising), rising)


def _unit_sum(x: torch.Tensor, t: int) -> torch.Tensor:
    """[t]_a at one step t, shape of x (:func:`_unit_sums`)."""
    return _unit_sums(x, torch.tensor([float(t)], dtype=x.dtype, device=x.device))[..., 0]


def _finite(name: str, *values: torch.Tensor) -> None:
    if not all(bool(torch.isfinite(v).all()) for v in values):
        raise ValueError(
            f"{name}: the chain's moments overflow float64 (it diverges: some |1 - eta (s_j +"
            " shift)| > 1, or the multiplicative noise is too strong, at this eta, level and"
            " number of steps)"
        )


def _diagonal_moments(basis: _Basis, level: float, noise: str, steps: int, every_step: bool):
    """The mean m_T and the diagonal c_T of C_T in the eigenbasis, (B, d) each; with
    ``every_step``, (||m_t - w||^2, tr C_t) for t = 0..T instead, (B, T + 1) each.

    The mean and the additive-noise spread in closed form, m_j = eta beta_j [t]_{a_j} and
    c_j = tau^2 [t]_{a_j^2}; the multiplicative-noise spread by its recursion (module
    docstring), as repeated squaring of its matrix where that is cheaper, else as a loop over
    the steps (numpy on the CPU, torch elsewhere)."""
    beta, x, eta = basis.beta, basis.x, basis.eta
    if not every_step:
        mean = eta * beta * _unit_sum(x, steps)
        if noise == "additive":
            return mean, level**2 * _unit_sum(x * (2 - x), steps)
        if _power_is_cheaper(*beta.shape, steps):
            return mean, _spread_by_power(basis, level, steps)
        return mean, _spread_by_loop(basis, level, steps, record=False)
    B, d = beta.shape
    size = max(1, _CHUNK // max(B * d, 1))
    bias2, trace = [], []
    for start in range(0, steps + 1, size):
        t = torch.arange(start, min(start + size, steps + 1), dtype=x.dtype, device=x.device)
        mean = eta * beta.unsqueeze(-1) * _unit_sums(x, t)
        bias2.append(((mean - basis.w.unsqueeze(-1)) ** 2).sum(-2))
        if noise == "additive":
            trace.append(level**2 * _unit_sums(x * (2 - x), t).sum(-2))
    bias2 = torch.cat(bias2, -1)
    if noise == "additive":
        return bias2, torch.cat(trace, -1)
    if _blocks_are_cheaper(B, d, steps):
        return bias2, _spread_path_by_powers(basis, level, steps)
    return bias2, _spread_by_loop(basis, level, steps, record=True)


def _spread_by_loop(basis: _Basis, level: float, steps: int, *, record: bool):
    """The multiplicative-noise recursion over T steps: c_T (B, d), or with ``record`` tr C_t for
    t = 0..T (B, T + 1)."""
    on_cpu = basis.a.device.type == "cpu"
    convert = (lambda v: v.numpy()) if on_cpu else (lambda v: v)
    a, forcing = convert(basis.a), convert(basis.eta * basis.beta)
    kappa = (basis.eta * level**2) ** 2
    m, c = 0 * a, 0 * a
    a2 = a * a
    path = (np.zeros if on_cpu else torch.zeros)((steps + 1, a.shape[0]), dtype=a.dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging chain: _finite refuses it
        for t in range(1, steps + 1):
            second = c + m * m
            c = a2 * c + kappa * (second + second.sum(-1)[:, None])
            m = a * m + forcing
            if record:
                path[t] = c.sum(-1)
    out = path.T if record else c
    return torch.from_numpy(np.ascontiguousarray(out)) if on_cpu else out.contiguous()


def _power_is_cheaper(prompts: int, d: int, steps: int) -> bool:
    """Whether log2(T) squarings of (3d + 1)-square matrices per prompt cost less than T steps of
    the recursion (about 20 us of overhead a step on a CPU)."""
    if steps < 2:
        return False
    power = prompts * (3 * d + 1) ** 3 * 2 * math.log2(steps) * 2e-3
    return power < steps * (20 + prompts * d * 0.01)


_BLOCK = 128


def _blocks_are_cheaper(prompts: int, d: int, steps: int) -> bool:
    """Whether T / 128 blocks of 128 matrix-vector products per prompt cost less than T steps of
    the recursion."""
    D = 3 * d + 1
    blocks = (steps * prompts * D * (1 + D / _BLOCK) + _BLOCK * prompts * D**3) * 2e-3
    blocks += steps / _BLOCK * 30
    return blocks < steps * (20 + prompts * d * 0.01)


def _step_matrix(basis: _Basis, level: float) -> torch.Tensor:
    """The matrix L (B, 3d + 1, 3d + 1) of the linear recursion of z = (c, m^2, m, 1) of the
    multiplicative-noise chain (module docstring: m_j(t+1)^2 = a_j^2 m_j^2 + 2 a_j eta beta_j m_j
    + eta^2 beta_j^2)."""
    a, forcing = basis.a, basis.eta * basis.beta
    B, d = a.shape
    kappa = (basis.eta * level**2) ** 2
    D = 3 * d + 1
    coupling = kappa * (torch.eye(d, dtype=a.dtype, device=a.device) + 1.0)
    L = torch.zeros(B, D, D, dtype=a.dtype, device=a.device)
    L[:, :d, :d] = torch.diag_embed(a * a) + coupling
    L[:, :d, d : 2 * d] = coupling
    L[:, d : 2 * d, d : 2 * d] = torch.diag_embed(a * a)
    L[:, d : 2 * d, 2 * d : 3 * d] = torch.diag_embed(2 * a * forcing)
    L[:, d : 2 * d, -1] = forcing * forcing
    L[:, 2 * d : 3 * d, 2 * d : 3 * d] = torch.diag_embed(a)
    L[:, 2 * d : 3 * d, -1] = forcing
    L[:, -1, -1] = 1.0
    return L


def _spread_path_by_powers(basis: _Basis, level: float, steps: int) -> torch.Tensor:
    """tr C_t for t = 0..T (B, T + 1) from z_{t0 + j} = L^j z_{t0}, j < 128, with the powers
    L^0..L^128 formed once: T / 128 batched products instead of T steps."""
    L = _step_matrix(basis, level)
    B, D = L.shape[:2]
    d = (D - 1) // 3
    powers = [torch.eye(D, dtype=L.dtype, device=L.device).expand(B, D, D)]
    for _ in range(min(_BLOCK, steps)):
        powers.append(L @ powers[-1])
    block = powers[-1]
    traces = torch.stack([p[:, :d, :].sum(1) for p in powers], 1)  # (B, K + 1, D): 1^T L^j[:d]
    z = torch.zeros(B, D, 1, dtype=L.dtype, device=L.device)
    z[:, -1] = 1.0
    out = torch.zeros(B, steps + 1, dtype=L.dtype, device=L.device)
    for start in range(0, steps + 1, _BLOCK):
        count = min(_BLOCK, steps + 1 - start)
        out[:, start : start + count] = (traces[:, :count] @ z)[..., 0]
        if start + _BLOCK <= steps:
            z = block @ z
    return out


def _spread_by_power(basis: _Basis, level: float, steps: int) -> torch.Tensor:
    """The diagonal c_T of the multiplicative-noise covariance, z_T = L^T z_0 for the matrix of
    :func:`_step_matrix`, by repeated squaring; (B, d)."""
    d = basis.a.shape[-1]
    return torch.linalg.matrix_power(_step_matrix(basis, level), steps)[:, :d, -1]


def _geometric_sum(
    r: torch.Tensor, q: torch.Tensor, steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum_{t<T} r^(T-1-t) q^t = (r^T - q^T) / (r - q), the size of its rounding error).

    The sum is symmetric in (r, q): with p the one of larger magnitude and o the other,
    o = p (1 + u), it is p^(T-1) expm1(T log1p(u)) / u for |u| < 1/2 (T p^(T-1) at u = 0), a
    product of bounded factors, and the quotient otherwise."""
    swap = q.abs() > r.abs()
    p, o = torch.where(swap, q, r), torch.where(swap, r, q)
    u = o / torch.where(p == 0, torch.ones_like(p), p) - 1
    near = (u.abs() < 0.5) & (p != 0)
    u_safe = torch.where(near & (u != 0), u, torch.ones_like(u))
    close = torch.pow(p, steps - 1) * torch.where(
        u == 0, torch.full_like(u, float(steps)), torch.expm1(steps * torch.log1p(u_safe)) / u_safe
    )
    diff = torch.where(near, torch.ones_like(r), r - q)
    rT, qT = torch.pow(r, steps), torch.pow(q, steps)
    far = (rT - qT) / diff
    value = torch.where(near, close, far)
    size = torch.where(near, close.abs(), (rT.abs() + qT.abs()) / diff.abs())
    return value, size


def _compose(first: dict, second: dict) -> dict:
    """The pair sums of a chain of L1 + L2 steps from those of L1 steps (``first``) and of L2
    steps (``second``); see :func:`_pair_sums`."""
    X, Y = first, second
    return {
        "A": X["A"] * Y["A"],
        "B": X["B"] * Y["B"],
        "R": X["R"] * Y["R"],
        "E": Y["A"] * X["E"] + Y["E"],
        "F": Y["B"] * X["F"] + Y["F"],
        "S": Y["R"] * X["S"]
        + X["E"] * X["F"] * Y["Z"]
        + X["E"] * Y["U"]
        + X["F"] * Y["W"]
        + Y["S"],
        "U": Y["R"] * X["U"] + X["A"] * (X["F"] * Y["Z"] + Y["U"]),
        "W": Y["R"] * X["W"] + X["B"] * (X["E"] * Y["Z"] + Y["W"]),
        "Z": Y["R"] * X["Z"] + X["A"] * X["B"] * Y["Z"],
    }


def _pair_sums(aj: torch.Tensor, ak: torch.Tensor, r: torch.Tensor, steps: int) -> torch.Tensor:
    """Q = sum_{t<T} r^(T-1-t) [t]_{aj} [t]_{ak} by binary composition of chain segments, with no
    subtraction (every term is non-negative where the chain contracts monotonically).

    For a segment of L steps: A = aj^L, B = ak^L, R = r^L, E = [L]_{aj}, F = [L]_{ak},
    S = Q_L, U = sum_{i<L} r^(L-1-i) aj^i F_i, W = sum_{i<L} r^(L-1-i) ak^i E_i,
    Z = sum_{i<L} r^(L-1-i) (aj ak)^i; a segment of L1 + L2 steps follows from [i + L1]_a =
    a^i [L1]_a + [i]_a (:func:`_compose`). O(log T) per pair.
    """
    one, zero = torch.ones_like(r), torch.zeros_like(r)
    result = {
        "A": one,
        "B": one,
        "R": one,
        "E": zero,
        "F": zero,
        "S": zero,
        "U": zero,
        "W": zero,
        "Z": zero,
    }
    power = {
        "A": aj.expand_as(r),
        "B": ak.expand_as(r),
        "R": r,
        "E": one,
        "F": one,
        "S": zero,
        "U": zero,
        "W": zero,
        "Z": one,
    }
    remaining = steps
    while remaining:
        if remaining & 1:
            result = _compose(result, power)
        remaining >>= 1
        if remaining:
            power = _compose(power, power)
    return result["S"]


def _off_diagonal(basis: _Basis, level: float, steps: int) -> torch.Tensor:
    """C_jk(T) for j != k (zero on the diagonal) of the multiplicative-noise chain, in the
    eigenbasis, (B, d, d): kappa eta^2 beta_j beta_k Q_jk (module docstring) over the top
    min(n, d) directions (b = X^T y / n lies in the row space of X: beta_j = 0 on the others),
    Q_jk in closed form from four geometric sums, or by :func:`_pair_sums` where those cancel
    to more than 1e-4 of their size."""
    d = basis.a.shape[-1]
    top = slice(max(d - basis.n, 0), None)
    eta, a, x, beta = basis.eta, basis.a[:, top], basis.x[:, top], basis.beta[:, top]
    kappa = (eta * level**2) ** 2
    aj, ak = a.unsqueeze(-1), a.unsqueeze(-2)
    r = aj * ak + kappa
    parts = [
        _geometric_sum(r, torch.ones_like(r), steps),
        _geometric_sum(r, aj.expand_as(r), steps),
        _geometric_sum(r, ak.expand_as(r), steps),
        _geometric_sum(r, aj * ak, steps),
    ]
    bracket = parts[0][0] - parts[1][0] - parts[2][0] + parts[3][0]
    size = sum(p[1] for p in parts)
    denominator = x.unsqueeze(-1) * x.unsqueeze(-2)
    Q = bracket / torch.where(denominator == 0, torch.ones_like(r), denominator)
    shaky = (bracket.abs() * 1e4 < size) | (denominator == 0)
    if bool(shaky.any()):
        Q = torch.where(shaky, _pair_sums(aj, ak, r, steps), Q)
    off = kappa * eta**2 * beta.unsqueeze(-1) * beta.unsqueeze(-2) * Q
    out = torch.zeros(*basis.a.shape, d, dtype=off.dtype, device=off.device)
    out[:, top, top] = off - torch.diag_embed(off.diagonal(dim1=-2, dim2=-1))
    return out


def _moments(basis: _Basis, level: float, noise: str, steps: int, full: bool):
    """(m_T, c_T, C_T or None) in the eigenbasis: the mean, the diagonal of the covariance and,
    with ``full``, the covariance itself."""
    m, c = _diagonal_moments(basis, level, noise, steps, every_step=False)
    if not full:
        return m, c, None
    C = torch.diag_embed(c)
    if noise == "multiplicative" and steps > 0:
        C = C + _off_diagonal(basis, level, steps)
    return m, c, C


# ----------------------------------------------------------------------------------------------
# Public functions


def _fourth_moment_fits(M: torch.Tensor, delta2: float) -> bool:
    scale = float(M.abs().max())
    return delta2 * delta2 * scale * (M.shape[-1] + 2) <= torch.finfo(M.dtype).max / 4


def _square_matrices(name: str, M) -> torch.Tensor:
    tensor(name, M, min_ndim=2)
    if M.shape[-1] != M.shape[-2]:
        raise ValueError(
            f"{name} must be a tensor of square matrices (..., d, d), got {tuple(M.shape)}"
        )
    if M.numel() > 10**7:
        raise ValueError(f"{name} must have at most 1e7 entries, got {M.numel()}")
    return M


def _diagonal_sums(diagonal: torch.Tensor) -> torch.Tensor:
    """2 M_jj + tr M for each j, each as if summed exactly and rounded once (to 2^-52 relative):
    compensated summation (Ogita, Rump and Oishi's Sum2), and math.fsum for the entries where
    even that could lose digits (cancellation beyond 2^50 / d^2)."""
    d = diagonal.shape[-1]
    total, compensation = 2 * diagonal, torch.zeros_like(diagonal)
    for k in range(d):
        term = diagonal[..., k : k + 1]
        s = total + term
        z = s - total
        compensation = compensation + ((total - (s - z)) + (term - z))
        total = s
    sums = total + compensation
    magnitude = 2 * diagonal.abs() + diagonal.abs().sum(-1, keepdim=True)
    shaky = sums.abs() * 2.0**50 < magnitude * (d + 1) ** 2
    if bool(shaky.any()):
        rows = diagonal.reshape(-1, d).cpu().tolist()
        exact = [[math.fsum([*row, 2 * row[j]]) for j in range(d)] for row in rows]
        exact = torch.tensor(exact, dtype=sums.dtype, device=sums.device).reshape(sums.shape)
        sums = torch.where(shaky, exact, sums)
    return sums


@declare(
    Accuracy(
        relative=1e-15,
        absolute=1e-300,
        note="for float64 M: each entry is a sum rounded once (compensated on the diagonal,"
        " where tr M and 2 M_jj can cancel) times delta2 twice; float32 M: the same value"
        " rounded to float32",
    ),
    M=Given(
        "a float tensor (..., d, d) of square matrices, at most 1e7 entries",
        check=_square_matrices,
    ),
    delta2=Real(0.0, 1e100),
    where=[
        Condition(
            "delta2^2 (d + 2) max|M| <= (the largest float of M's dtype) / 4 (no overflow)",
            _fourth_moment_fits,
            {"delta2": 1e100, "M": torch.full((2, 2), 1e300, dtype=torch.float64)},
        )
    ],
)
def gaussian_fourth_moment(M: torch.Tensor, delta2: float) -> torch.Tensor:
    r"""The Gaussian fourth moment :math:`\mathbb{E}[\xi \xi^\top M \xi \xi^\top]`.

    Parameters
    ----------
    M : torch.Tensor
        A float tensor ``(..., d, d)`` of square matrices, at most :math:`10^7` entries.
    delta2 : float
        Variance :math:`\delta^2` of :math:`\xi \sim N(0, \delta^2 I)`,
        :math:`0 \le \delta^2 \le 10^{100}`.

    Returns
    -------
    moment : torch.Tensor
        ``(..., d, d)``, in M's dtype.

    Raises
    ------
    ValueError
        If an argument lies outside its range or the shapes disagree (see "Domain and accuracy"
        below).

    Notes
    -----
    .. math::

        \mathbb{E}[\xi \xi^\top M \xi \xi^\top] = \delta^4 (M + M^\top + \operatorname{tr}(M) I),
        \qquad \xi \sim N(0, \delta^2 I).
    """
    M64 = M.double()
    out = M64 + M64.transpose(-1, -2)
    sums = _diagonal_sums(M64.diagonal(dim1=-2, dim2=-1))
    out = out - torch.diag_embed(out.diagonal(dim1=-2, dim2=-1)) + torch.diag_embed(sums)
    return (out * delta2 * delta2).to(M.dtype)


_CHAIN_ACCURACY = Accuracy(
    relative=1e-9,
    note=_DTYPE_NOTE + "; per prompt, in norm (Frobenius for a matrix): ||value - exact|| <="
    " 1e-9 ||exact||; the eigendecomposition of S is backward stable and the rest is sums of"
    " non-negative terms where the chain contracts",
)


@declare(
    _CHAIN_ACCURACY,
    X=_X,
    y=_Y,
    eta=_ETA,
    steps=_STEPS,
    noise=_NOISE,
    level=_LEVEL,
    lam=_LAM,
)
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
    r"""The mean :math:`\mathbb{E}[w_T \mid X, y]` of a noisy chain.

    It is the ridge-GD iterate with penalty :math:`\lambda + \mathrm{level}^2` (multiplicative) or
    :math:`\lambda` (additive).

    Parameters
    ----------
    X : torch.Tensor
        Designs, a float tensor ``(..., n, d)`` with :math:`d \le 1000` (:data:`MAX_DIM`) and
        entries of magnitude at most :math:`10^{60}` (:data:`MAX_ENTRY`).
    y : torch.Tensor
        Labels ``(..., n)``, of X's dtype, entries of magnitude at most :math:`10^{60}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{12}` (:data:`MAX_RATE`).
    steps : int
        Number of steps :math:`T`, :math:`0 \le T \le 10^5` (:data:`MAX_STEPS`).
    noise : {"additive", "multiplicative"}
        Which noise the chain carries.
    level : float
        Noise level, :math:`\tau` (additive) or :math:`\delta` (multiplicative),
        :math:`0 < \mathrm{level} \le 10^{12}`.
    lam : float, optional
        Ridge penalty :math:`\lambda`, :math:`0 \le \lambda \le 10^{12}`; default 0.

    Returns
    -------
    mean : torch.Tensor
        ``(..., d)``, in X's dtype.

    Raises
    ------
    ValueError
        If an argument lies outside its range or the shapes disagree (see "Domain and accuracy"
        below).

    Notes
    -----
    In the eigenbasis (module docstring), :math:`m_j(T) = \eta \beta_j [T]_{a_j}`.
    """
    dtype = _with_setup(X, y, noise)
    shift = _shift(noise, level, lam)

    def compute(X, y, w):
        basis = _Basis(X, y, eta, shift)
        return basis.to_original(eta * basis.beta * _unit_sum(basis.x, steps))

    m = _chunked(compute, X, y, None, X.shape[-1] ** 2, output=X.shape[-1])
    _finite("chain_mean", m)
    return m.to(dtype)


@declare(
    _CHAIN_ACCURACY,
    X=_X,
    y=_Y,
    eta=_ETA,
    steps=_STEPS,
    noise=_NOISE,
    level=_LEVEL,
    lam=_LAM,
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
    r"""The covariance :math:`\operatorname{Cov}[w_T \mid X, y]` of a noisy chain, from zero.

    The chain starts at :math:`w_0 = 0`, so :math:`C_0 = 0`.

    Parameters
    ----------
    X : torch.Tensor
        Designs, a float tensor ``(..., n, d)`` with :math:`d \le 1000` (:data:`MAX_DIM`) and
        entries of magnitude at most :math:`10^{60}` (:data:`MAX_ENTRY`).
    y : torch.Tensor
        Labels ``(..., n)``, of X's dtype, entries of magnitude at most :math:`10^{60}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{12}` (:data:`MAX_RATE`).
    steps : int
        Number of steps :math:`T`, :math:`0 \le T \le 10^5` (:data:`MAX_STEPS`).
    noise : {"additive", "multiplicative"}
        Which noise the chain carries.
    level : float
        Noise level, :math:`\tau` (additive) or :math:`\delta` (multiplicative),
        :math:`0 < \mathrm{level} \le 10^{12}`.
    lam : float, optional
        Ridge penalty :math:`\lambda`, :math:`0 \le \lambda \le 10^{12}`; default 0.

    Returns
    -------
    covariance : torch.Tensor
        ``(..., d, d)``, in X's dtype.

    Raises
    ------
    ValueError
        If an argument lies outside its range or the shapes disagree (see "Domain and accuracy"
        below).

    Notes
    -----
    The recursion of the module docstring, solved in the eigenbasis of :math:`S`: the diagonal by
    its :math:`O(T d)` recursion, the off-diagonal entries in closed form.
    """
    dtype = _with_setup(X, y, noise)
    shift = _shift(noise, level, lam)

    def compute(X, y, w):
        basis = _Basis(X, y, eta, shift)
        return basis.matrix_to_original(_moments(basis, level, noise, steps, full=True)[2])

    C = _chunked(compute, X, y, None, 8 * X.shape[-1] ** 2, steps=steps, output=X.shape[-1] ** 2)
    _finite("chain_covariance", C)
    return C.to(dtype)


STABLE_MARGIN = 1e-6
"""How far inside the stable region the stationary covariance answers: 1 - a_j a_k - kappa
and 1 - sum_j kappa / D_jj must exceed this (its conditioning grows as they vanish)."""


@declare(
    Accuracy(
        relative=1e-8,
        note=_DTYPE_NOTE + "; per prompt, in Frobenius norm: ||value - exact|| <= 1e-8 ||exact||,"
        f" where the recursion is stable with the margins D_jk, 1 - gain >= {STABLE_MARGIN:g}"
        " (the conditioning is about 2^-52 / margin)",
    ),
    X=_X,
    y=_Y,
    eta=_ETA,
    noise=_NOISE,
    level=_LEVEL,
    lam=_LAM,
)
def stationary_chain_covariance(
    X: torch.Tensor, y: torch.Tensor, *, eta: float, noise: str, level: float, lam: float = 0.0
) -> torch.Tensor:
    r"""The fixed point :math:`C_\infty` of the covariance recursion.

    Parameters
    ----------
    X : torch.Tensor
        Designs, a float tensor ``(..., n, d)`` with :math:`d \le 1000` (:data:`MAX_DIM`) and
        entries of magnitude at most :math:`10^{60}` (:data:`MAX_ENTRY`).
    y : torch.Tensor
        Labels ``(..., n)``, of X's dtype, entries of magnitude at most :math:`10^{60}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{12}`.
    noise : {"additive", "multiplicative"}
        Which noise the chain carries.
    level : float
        Noise level, :math:`\tau` (additive) or :math:`\delta` (multiplicative),
        :math:`0 < \mathrm{level} \le 10^{12}`.
    lam : float, optional
        Ridge penalty :math:`\lambda`, :math:`0 \le \lambda \le 10^{12}`; default 0.

    Returns
    -------
    covariance : torch.Tensor
        ``(..., d, d)``, in X's dtype.

    Raises
    ------
    ValueError
        When the recursion has no stable fixed point (some :math:`|a_j| \ge 1`, or
        :math:`\sum_j \kappa / D_{jj} \ge 1`), or is within :data:`STABLE_MARGIN` of losing it; or
        if an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    In the eigenbasis of :math:`S` (:math:`a_j = 1 - \eta (s_j + \lambda + \delta^2)`,
    :math:`\kappa = \eta^2 \delta^4`, :math:`m = V^\top (S + (\lambda + \delta^2) I)^{-1} b`,
    :math:`D_{jk} = 1 - a_j a_k - \kappa`), with :math:`\tilde C = V^\top C V`:

    .. math::

        \text{multiplicative:} \quad & \tilde C = \kappa (m m^\top
            + (|m|^2 + \operatorname{tr} C) I) / D \quad \text{(entrywise)}, \\
        & \operatorname{tr} C = \frac{\sum_j \kappa (m_j^2 + |m|^2) / D_{jj}}
            {1 - \sum_j \kappa / D_{jj}}; \\
        \text{additive:} \quad & \tilde C = \operatorname{diag}\big(\tau^2 / (1 - a_j^2)\big),
            \quad a_j = 1 - \eta (s_j + \lambda).

    :math:`1 - a_j a_k` is computed as :math:`x_j + x_k - x_j x_k` with :math:`x_j = 1 - a_j`.
    """
    dtype = _with_setup(X, y, noise)
    shift = _shift(noise, level, lam)

    def compute(X, y, w):
        basis = _Basis(X, y, eta, shift)
        x = basis.x
        if noise == "additive":
            one_minus_a2 = x * (2 - x)
            if bool((one_minus_a2 < STABLE_MARGIN).any()):
                raise ValueError(
                    "no stationary covariance: some |1 - eta (s_j + lam)| >= 1 - 1e-6/2 "
                    "(pass lam > 0 if S is singular)"
                )
            return basis.matrix_to_original(torch.diag_embed(level**2 / one_minus_a2))
        kappa = (eta * level**2) ** 2
        m = basis.beta / (basis.s + shift)
        xj, xk = x.unsqueeze(-1), x.unsqueeze(-2)
        D = xj + xk - xj * xk - kappa
        Dd = D.diagonal(dim1=-2, dim2=-1)
        gain = (kappa / Dd).sum(-1)
        if bool((D < STABLE_MARGIN).any()) or bool((1 - gain < STABLE_MARGIN).any()):
            raise ValueError(
                "no stationary covariance: the multiplicative-noise recursion is unstable at"
                f" this eta and level (or within {STABLE_MARGIN:g} of it)"
            )
        m2 = (m**2).sum(-1, keepdim=True)
        trace = (kappa * (m**2 + m2) / Dd).sum(-1, keepdim=True) / (1 - gain.unsqueeze(-1))
        eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
        C = kappa * (m.unsqueeze(-1) * m.unsqueeze(-2) + (m2 + trace).unsqueeze(-1) * eye) / D
        return basis.matrix_to_original(C)

    C = _chunked(compute, X, y, None, 8 * X.shape[-1] ** 2, output=X.shape[-1] ** 2)
    _finite("stationary_chain_covariance", C)
    return C.to(dtype)


_TERMS_ACCURACY = Accuracy(
    relative=1e-9,
    note=_DTYPE_NOTE + "; tr C_T to 1e-9 relative; ||m_T - w||^2 to 1e-9 relative or, where m_T"
    " and w cancel, to 1e-13 (||m_T||^2 + ||w||^2)",
)


@declare(
    _TERMS_ACCURACY,
    X=_X,
    y=_Y,
    w=_W,
    eta=_ETA,
    steps=_STEPS,
    level=_LEVEL,
    noise=_NOISE,
    lam=_LAM,
    every_step=Flag(),
    where=[_PATH],
)
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
    r"""The two terms :math:`\|m_T - w\|^2` and :math:`\operatorname{tr} C_T` of a chain's risk.

    Both are conditional on :math:`(X, y, w)`.

    Parameters
    ----------
    X : torch.Tensor
        Designs, a float tensor ``(..., n, d)`` with :math:`d \le 1000` (:data:`MAX_DIM`) and
        entries of magnitude at most :math:`10^{60}` (:data:`MAX_ENTRY`).
    y : torch.Tensor
        Labels ``(..., n)``, of X's dtype, entries of magnitude at most :math:`10^{60}`.
    w : torch.Tensor
        The true parameters ``(..., d)``, of X's dtype, entries of magnitude at most
        :math:`10^{60}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{12}` (:data:`MAX_RATE`).
    steps : int
        Number of steps :math:`T`, :math:`0 \le T \le 10^5` (:data:`MAX_STEPS`).
    level : float
        Noise level, :math:`\tau` (additive) or :math:`\delta` (multiplicative),
        :math:`0 < \mathrm{level} \le 10^{12}`.
    noise : {"multiplicative", "additive"}, optional
        Which noise the chain carries; default ``"multiplicative"``.
    lam : float, optional
        Ridge penalty :math:`\lambda`, :math:`0 \le \lambda \le 10^{12}`; default 0.
    every_step : bool, optional
        If true, return the terms for every :math:`t = 0, \dots, T`; then
        (number of prompts) :math:`\times (T + 1)` must be at most :math:`10^8` (:data:`MAX_PATH`).
        Default false.

    Returns
    -------
    bias : torch.Tensor
        :math:`\|m_T - w\|^2`, shape ``(...)``; ``(..., T + 1)`` with ``every_step``.
    spread : torch.Tensor
        :math:`\operatorname{tr} C_T`, of the same shape.

    Raises
    ------
    ValueError
        If an argument lies outside its range or the shapes disagree (see "Domain and accuracy"
        below).

    Notes
    -----
    Uses the diagonal of :math:`C_t` in the eigenbasis of :math:`S`, which the recursion keeps
    closed:

    .. math::

        \text{multiplicative:} \quad & c_{t+1,j} = a_j^2 c_{t,j} + \kappa \Big(c_{t,j} + m_{t,j}^2
            + \sum_k (c_{t,k} + m_{t,k}^2)\Big), \\
        \text{additive:} \quad & c_{t+1,j} = a_j^2 c_{t,j} + \tau^2;

    :math:`O(T d)` per prompt.
    """
    dtype = _with_setup(X, y, noise, w)
    shift = _shift(noise, level, lam)

    def compute(X, y, w):
        basis = _Basis(X, y, eta, shift, w)
        if every_step:
            return _diagonal_moments(basis, level, noise, steps, every_step=True)
        m, c = _diagonal_moments(basis, level, noise, steps, every_step=False)
        return ((m - basis.w) ** 2).sum(-1), c.sum(-1)

    per_prompt = X.shape[-1] ** 2 + (steps + 1 if every_step else 0)
    bias2, trace = _chunked(
        compute, X, y, w, per_prompt, steps=steps, output=steps + 1 if every_step else 1
    )
    _finite("chain_risk_terms", bias2, trace)
    return bias2.to(dtype), trace.to(dtype)


@declare(
    _TERMS_ACCURACY,
    X=_X,
    y=_Y,
    w=_W,
    eta=_ETA,
    steps=_STEPS,
    level=_LEVEL,
    n_chains=Integer(1),
    lam=_LAM,
)
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
    r"""Exact risk of the mean of :math:`N` multiplicative-noise chains, given :math:`(X, y, w)`.

    Same convention as :func:`icl.decoders.gd_chains.sample_chains` with
    ``noise="multiplicative"`` (gradient divided by :math:`n`,
    :math:`\xi \sim N(0, \mathrm{level}^2 I)`).

    Parameters
    ----------
    X : torch.Tensor
        Designs, a float tensor ``(..., n, d)`` with :math:`d \le 1000` (:data:`MAX_DIM`) and
        entries of magnitude at most :math:`10^{60}` (:data:`MAX_ENTRY`).
    y : torch.Tensor
        Labels ``(..., n)``, of X's dtype, entries of magnitude at most :math:`10^{60}`.
    w : torch.Tensor
        The true parameters ``(..., d)``, of X's dtype, entries of magnitude at most
        :math:`10^{60}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{12}` (:data:`MAX_RATE`).
    steps : int
        Number of steps :math:`T`, :math:`0 \le T \le 10^5` (:data:`MAX_STEPS`).
    level : float
        Noise level, :math:`\tau` (additive) or :math:`\delta` (multiplicative),
        :math:`0 < \mathrm{level} \le 10^{12}`.
    n_chains : int
        Number :math:`N \ge 1` of independent chains averaged.
    lam : float, optional
        Ridge penalty :math:`\lambda`, :math:`0 \le \lambda \le 10^{12}`; default 0.

    Returns
    -------
    risk : torch.Tensor
        ``(...)``, in X's dtype.

    Raises
    ------
    ValueError
        If an argument lies outside its range or the shapes disagree (see "Domain and accuracy"
        below).

    Notes
    -----
    .. math::

        \mathbb{E}\Big[\Big\|\frac{1}{N} \sum_{i=1}^N w_T^{(i)} - w\Big\|^2 \Bigm| X, y, w\Big]
            = \|m_T - w\|^2 + \frac{\operatorname{tr}(C_T)}{N}.
    """
    dtype = _with_setup(X, y, "multiplicative", w)

    def compute(X, y, w):
        basis = _Basis(X, y, eta, lam + level**2, w)
        m, c = _diagonal_moments(basis, level, "multiplicative", steps, every_step=False)
        return ((m - basis.w) ** 2).sum(-1) + c.sum(-1) / n_chains

    risk = _chunked(compute, X, y, w, X.shape[-1] ** 2, steps=steps)
    _finite("averaged_chain_risk", risk)
    return risk.to(dtype)


@declare(
    Accuracy(
        relative=1e-9,
        note=_DTYPE_NOTE + "; ||b||^2 as in chain_risk_terms; tr C_T to 1e-9 relative; b^T C_T b"
        " to 1e-9 relative or, where it cancels, to 1e-9 ||b||^2 ||C_T||_F",
    ),
    X=_X,
    y=_Y,
    w=_W,
    eta=_ETA,
    steps=_STEPS,
    level=_LEVEL,
    noise=_NOISE,
    lam=_LAM,
)
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
    r"""The moments :math:`\|b\|^2, \operatorname{tr} C_T, b^\top C_T b` of :math:`b = m_T - w`.

    They are conditional on :math:`(X, y, w)`. These are the moments that the error norm
    :math:`\|\text{mean of } N \text{ chains} - w\|` depends on to order :math:`1/N`
    (:func:`averaged_chain_error_norm`).

    Parameters
    ----------
    X : torch.Tensor
        Designs, a float tensor ``(..., n, d)`` with :math:`d \le 1000` (:data:`MAX_DIM`) and
        entries of magnitude at most :math:`10^{60}` (:data:`MAX_ENTRY`).
    y : torch.Tensor
        Labels ``(..., n)``, of X's dtype, entries of magnitude at most :math:`10^{60}`.
    w : torch.Tensor
        The true parameters ``(..., d)``, of X's dtype, entries of magnitude at most
        :math:`10^{60}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{12}` (:data:`MAX_RATE`).
    steps : int
        Number of steps :math:`T`, :math:`0 \le T \le 10^5` (:data:`MAX_STEPS`).
    level : float
        Noise level, :math:`\tau` (additive) or :math:`\delta` (multiplicative),
        :math:`0 < \mathrm{level} \le 10^{12}`.
    noise : {"multiplicative", "additive"}, optional
        Which noise the chain carries; default ``"multiplicative"``.
    lam : float, optional
        Ridge penalty :math:`\lambda`, :math:`0 \le \lambda \le 10^{12}`; default 0.

    Returns
    -------
    bias2 : torch.Tensor
        :math:`\|b\|^2`, shape ``(...)``.
    trace : torch.Tensor
        :math:`\operatorname{tr} C_T`, shape ``(...)``.
    quadratic : torch.Tensor
        :math:`b^\top C_T b`, shape ``(...)``.

    Raises
    ------
    ValueError
        If an argument lies outside its range or the shapes disagree (see "Domain and accuracy"
        below).

    Notes
    -----
    In the eigenbasis of :math:`S` the diagonal of :math:`C_T` follows the recursion of
    :func:`chain_risk_terms` and the off-diagonal entries of the multiplicative-noise covariance
    obey

    .. math::

        C_{jk}(t+1) = (a_j a_k + \kappa) C_{jk}(t) + \kappa m_j(t) m_k(t),

    solved in closed form (module docstring); :math:`O(T d + d^2 \log T)` per prompt. For additive
    noise :math:`C_T` is diagonal in this basis. Computed in float64 whatever the input dtype
    (:math:`r - a_j a_k = \kappa` is below float32 resolution at small :math:`\eta` and
    :math:`\delta^2`) and returned in the input dtype.
    """
    dtype = _with_setup(X, y, noise, w)
    shift = _shift(noise, level, lam)

    def compute(X, y, w):
        basis = _Basis(X, y, eta, shift, w)
        m, c, C = _moments(basis, level, noise, steps, full=True)
        err = m - basis.w
        quadratic = (err.unsqueeze(-2) @ C @ err.unsqueeze(-1)).squeeze(-1).squeeze(-1)
        return (err**2).sum(-1), c.sum(-1), quadratic

    bias2, trace, quadratic = _chunked(compute, X, y, w, 8 * X.shape[-1] ** 2, steps=steps)
    _finite("chain_error_moments", bias2, trace, quadratic)
    return bias2.to(dtype), trace.to(dtype), quadratic.to(dtype)


_NORM_STEP = 0.125
_NORM_HALF_WIDTH = 80.0
_NORM_NODES = int(2 * _NORM_HALF_WIDTH / _NORM_STEP) + 1


def _gaussian_norm_mean(b: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """E||b + g|| for g ~ N(0, C), ``b (B, d)``, ``C (B, d, d)`` positive semi-definite.

    With lam_j, u_j the eigenpairs of C and beta_j = u_j^T b, E e^{-t||b + g||^2} =
    prod_j (1 + 2 t lam_j)^{-1/2} exp(-t beta_j^2 / (1 + 2 t lam_j)) =: M(t), and
    sqrt(q) = (4 pi)^{-1/2} int_0^inf (1 - e^{-t q}) t^{-3/2} dt, so
    E||b + g|| = (4 pi)^{-1/2} int (1 - M(e^v)) e^{-v/2} dv: the trapezoidal rule with step 1/8
    on v in log(1 / E||b + g||^2) +- 80, whose error is below 1e-15 relative (the integrand is
    analytic in the strip |Im v| < pi/2, and 0 <= 1 - M <= min(1, t E||b + g||^2) bounds the
    tails).
    """
    lam, U = torch.linalg.eigh(C)
    lam = lam.clamp(min=0.0)
    beta2 = ((U.transpose(-1, -2) @ b.unsqueeze(-1)).squeeze(-1)) ** 2
    mean_q = beta2.sum(-1) + lam.sum(-1)  # E||b + g||^2
    positive = mean_q > 0
    centre = -torch.log(torch.where(positive, mean_q, torch.ones_like(mean_q)))
    grid = torch.linspace(
        -_NORM_HALF_WIDTH, _NORM_HALF_WIDTH, _NORM_NODES, dtype=b.dtype, device=b.device
    )
    v = centre.unsqueeze(-1) + grid  # (B, K)
    t = torch.exp(v).unsqueeze(-1)  # (B, K, 1)
    one_plus = 1 + 2 * t * lam.unsqueeze(-2)
    log_m = -(0.5 * torch.log1p(2 * t * lam.unsqueeze(-2)) + t * beta2.unsqueeze(-2) / one_plus)
    integrand = -torch.expm1(log_m.sum(-1)) * torch.exp(-v / 2)
    value = _NORM_STEP * integrand.sum(-1) / math.sqrt(4 * math.pi)
    return torch.where(positive, value, torch.zeros_like(value))


@declare(
    Accuracy(
        relative=1e-9,
        note=_DTYPE_NOTE + "; the value E||b + g||, g ~ N(0, C_T / N), to 1e-9 relative or, where"
        " m_T and w cancel, to 1e-13 (||m_T|| + ||w||); as an approximation of the chains' own"
        " E||mean of N chains - w|| it is never further from it than the gap between the exact"
        " bounds ||b|| and (||b||^2 + tr C_T / N)^(1/2), both of which it respects",
    ),
    X=_X,
    y=_Y,
    w=_W,
    eta=_ETA,
    steps=_STEPS,
    level=_LEVEL,
    n_chains=Integer(1),
    noise=_NOISE,
    lam=_LAM,
)
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
    r"""The large-:math:`N` (Gaussian) value of the mean of :math:`N` chains' expected error norm.

    The error norm is :math:`\mathbb{E}[\|\text{mean of } N \text{ chains} - w\| \mid X, y, w]`.

    The mean of :math:`N` chains is :math:`b + e` with :math:`b = m_T - w` and :math:`e` of mean 0
    and covariance :math:`C_T / N`. The value returned is :math:`\mathbb{E}\|b + g\|` for Gaussian
    :math:`g \sim N(0, C_T / N)`, which the law of :math:`e` approaches as :math:`N` grows.

    Parameters
    ----------
    X : torch.Tensor
        Designs, a float tensor ``(..., n, d)`` with :math:`d \le 1000` (:data:`MAX_DIM`) and
        entries of magnitude at most :math:`10^{60}` (:data:`MAX_ENTRY`).
    y : torch.Tensor
        Labels ``(..., n)``, of X's dtype, entries of magnitude at most :math:`10^{60}`.
    w : torch.Tensor
        The true parameters ``(..., d)``, of X's dtype, entries of magnitude at most
        :math:`10^{60}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{12}` (:data:`MAX_RATE`).
    steps : int
        Number of steps :math:`T`, :math:`0 \le T \le 10^5` (:data:`MAX_STEPS`).
    level : float
        Noise level, :math:`\tau` (additive) or :math:`\delta` (multiplicative),
        :math:`0 < \mathrm{level} \le 10^{12}`.
    n_chains : int
        Number :math:`N \ge 1` of independent chains averaged.
    noise : {"multiplicative", "additive"}, optional
        Which noise the chain carries; default ``"multiplicative"``.
    lam : float, optional
        Ridge penalty :math:`\lambda`, :math:`0 \le \lambda \le 10^{12}`; default 0.

    Returns
    -------
    norm : torch.Tensor
        ``(...)``, in X's dtype. Same conventions as :func:`chain_error_moments`.

    Raises
    ------
    ValueError
        If an argument lies outside its range or the shapes disagree (see "Domain and accuracy"
        below).

    Notes
    -----
    It is the chains' value

    - to first order in :math:`1/N` where :math:`b \ne 0`: both expand as

      .. math::

          \|b\| + \frac{\operatorname{tr} C_T - b^\top C_T b / \|b\|^2}{2 N \|b\|} + O(N^{-2}),

      as the :math:`1/N` term depends only on the covariance (the :math:`O(N^{-2})` remainder
      involves the third and fourth moments of a chain, which differ);
    - to leading order, :math:`N^{-1/2} \mathbb{E}\|g_1\|`, where :math:`b = 0` (the central limit
      theorem);
    - and, like it, inside the exact bounds
      :math:`\|b\| \le \mathbb{E}\|b + e\| \le (\|b\|^2 + \operatorname{tr} C_T / N)^{1/2}` for
      every :math:`N` (Jensen's inequality for the convex norm and the concave square root holds for
      any law with that mean and covariance), so that it is never further from the chains' value
      than the gap between the two bounds.

    :math:`\mathbb{E}\|b + g\|` is computed from the eigenpairs of :math:`C_T`
    (:func:`chain_error_moments`' closed form) by a one-dimensional quadrature accurate to
    :math:`10^{-15}` (see the private ``_gaussian_norm_mean``).
    """
    dtype = _with_setup(X, y, noise, w)
    shift = _shift(noise, level, lam)

    def compute(X, y, w):
        basis = _Basis(X, y, eta, shift, w)
        m, _, C = _moments(basis, level, noise, steps, full=True)
        _finite("averaged_chain_error_norm", m, C)
        return _gaussian_norm_mean(m - basis.w, C / n_chains)

    d = X.shape[-1]
    value = _chunked(compute, X, y, w, 8 * d**2 + 4 * _NORM_NODES * d, steps=steps)
    return value.to(dtype)


@declare(
    Accuracy(
        relative=1e-10,
        absolute=1e-300,
        note="the bound's formula evaluated with 1 - eta shift exact (rational arithmetic);"
        " below 1e-300 it may underflow to 0",
    ),
    n=Integer(1, 10**12),
    d=Integer(1, 10**12),
    eta=Real(0.0, 1e12, open_low=True),
    shift=Real(0.0, 1e12),
)
def unstable_design_probability_bound(n: int, d: int, eta: float, shift: float = 0.0) -> float:
    r"""An upper bound on :math:`P(\eta (s_{\max}(S) + \mathrm{shift}) > 1)`.

    Here :math:`S = X^\top X / n` and :math:`X` is ``(n, d)`` with :math:`N(0, 1)` entries. The
    event is a design on which the contraction :math:`1 - \eta (s_j + \mathrm{shift})` is not
    monotone (some factor negative), a set that contains the designs outside the typical ones,
    :math:`\eta (s_{\max}(S) + \mathrm{shift}) > 2` (Chapter 2's cut), on which the mean chain
    diverges.

    Parameters
    ----------
    n : int
        Number of rows of :math:`X`, :math:`1 \le n \le 10^{12}`.
    d : int
        Number of columns of :math:`X`, :math:`1 \le d \le 10^{12}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{12}`.
    shift : float, optional
        :math:`\lambda + \delta^2`, the penalty plus the multiplicative-noise level,
        :math:`0 \le \mathrm{shift} \le 10^{12}`; default 0.

    Returns
    -------
    bound : float
        The bound, in :math:`[0, 1]`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    Davidson and Szarek (2001, Thm II.13): the top singular value of :math:`X` satisfies
    :math:`P(s_{\max}(X) > \sqrt n + \sqrt d + r) \le \exp(-r^2 / 2)` (Gordon's bound on its mean
    plus Gaussian concentration of a 1-Lipschitz function). With
    :math:`s_{\max}(S) = s_{\max}(X)^2 / n` and
    :math:`t = \sqrt{1 / \eta - \mathrm{shift}} - 1 - \sqrt{d / n}`,

    .. math::

        P(\eta (s_{\max}(S) + \mathrm{shift}) > 1) \le
        \begin{cases} \exp(-n t^2 / 2) & t > 0, \\ 1 & \text{otherwise.} \end{cases}

    References
    ----------
    - K. R. Davidson and S. J. Szarek, "Local operator theory, random matrices and Banach spaces",
      in *Handbook of the Geometry of Banach Spaces*, vol. 1, 2001, Theorem II.13.
    """
    slack = 1 - Fraction(eta) * Fraction(shift)  # 1 - eta shift, exactly
    if slack <= 0:
        return 1.0
    t = math.sqrt(float(slack) / eta) - 1 - math.sqrt(d / n)
    return math.exp(-n * t**2 / 2) if t > 0 else 1.0
