r"""Chapter 6: one step of the sparse binary chain (:mod:`icl.decoders.sparse_chains`), closed.

Sampling :math:`k` indices without replacement, each draw in proportion to the remaining weights
:math:`w` (:math:`W = \sum_j w_j`), returns the set :math:`S` (:math:`|S| = k`) with probability

.. math::

    P(S) = \sum_{\text{the } k! \text{ orders } s_1, \dots, s_k \text{ of } S} \;
        \prod_{i=1}^k \frac{w_{s_i}}{W - w_{s_1} - \dots - w_{s_{i-1}}}.

For :math:`S` the current support this is the probability that the sampled chain stays put.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from icl.domain import Accuracy, Condition, Given, Real, declare
from icl.validation import design, same_dtype, tensor

MAX_SET_SIZE = 16
"""Largest set size k accepted by :func:`draw_set_probability` (its cost is 2^k k per set)."""
MAX_SET_WORK = 2 * 10**7
"""Largest number of sets times 2^k k (the size of the subset table, in float64 entries)."""
MAX_ENTRY = 1e60
"""Largest magnitude of an entry of X, y, w and of eta in :func:`step_weights`."""
MAX_STEP_LENGTH = 10**5
"""Largest n + d in :func:`step_weights` (the bound on its rounding error grows with n + d)."""


def _weights(name: str, value) -> torch.Tensor:
    tensor(name, value, min_ndim=1)
    if bool((value < 0).any()):
        raise ValueError(f"{name} must be non-negative (finite, with a positive sum)")
    return value


def _support(name: str, value) -> torch.Tensor:
    return tensor(name, value, min_ndim=1, kind="integer")


def _enough_positive(weights: torch.Tensor, support: torch.Tensor) -> bool:
    return bool(((weights > 0).sum(-1) >= support.shape[-1]).all())


def _sets(weights: torch.Tensor, support: torch.Tensor) -> int:
    return math.prod(support.shape[:-1])


@lru_cache(maxsize=MAX_SET_SIZE)
def _levels(k: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For each popcount 1..k: the subsets m of {0..k-1} (bit masks) of that size, and for each
    i the subset m without i (``pred``) and whether i is in m (``member``)."""
    masks = np.arange(2**k)
    sizes = np.array([bin(m).count("1") for m in masks])
    bits = 1 << np.arange(k)
    out = []
    for size in range(1, k + 1):
        level = masks[sizes == size]
        member = (level[:, None] & bits[None, :]) != 0
        pred = np.where(member, level[:, None] ^ bits[None, :], 0)
        out.append((level, pred, member))
    return out


def _log_set_probability(log_w: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """log P(S) from log weights ``(..., d)`` (float64, -inf for a zero weight): a dynamic
    programme over the subsets B of S, f(B) = log P(the first |B| draws give B),

        f(B) = logsumexp_{i in B} [f(B - i) + log w_i - log rest(B - i)],

    with rest(A) = (the weight outside S) + (the weight of S - A): sums of non-negative terms,
    taken in log space, so nothing cancels and nothing overflows or underflows."""
    k = support.shape[-1]
    log_c = log_w.gather(-1, support)  # (..., k)
    log_out = torch.logsumexp(log_w.scatter(-1, support, -math.inf), -1, keepdim=True)
    lead = log_c.shape[:-1]
    log_sum = torch.full((*lead, 2**k), -math.inf, dtype=log_w.dtype, device=log_w.device)
    for i in range(k):  # the log of the weight of each subset of S
        log_sum[..., 2**i : 2 ** (i + 1)] = torch.logaddexp(
            log_sum[..., : 2**i], log_c[..., i, None]
        )
    full = 2**k - 1
    complement = torch.as_tensor(full ^ np.arange(2**k), device=log_w.device)
    log_rest = torch.logaddexp(log_out, log_sum[..., complement])  # rest(A), A indexed by mask
    f = torch.full_like(log_sum, -math.inf)
    f[..., 0] = 0.0
    for level, pred, member in _levels(k):
        pred_t = torch.as_tensor(pred, device=log_w.device)
        terms = f[..., pred_t] + log_c[..., None, :] - log_rest[..., pred_t]
        terms = terms.masked_fill(~torch.as_tensor(member, device=log_w.device), -math.inf)
        f[..., torch.as_tensor(level, device=log_w.device)] = torch.logsumexp(terms, -1)
    return f[..., full]


@declare(
    Accuracy(
        relative=1e-11,
        absolute=1e-306,
        note="for float64 weights; sums of positive terms in log space, whose rounding is at most"
        " about k^2 2^-52 |log w|; float32 weights are computed the same way in float64 and the"
        " result is rounded to float32",
    ),
    weights=Given("a float tensor (..., d) of finite, non-negative weights", check=_weights),
    support=Given(
        f"an integer tensor (..., k) of 1 <= k <= min(d, {MAX_SET_SIZE}) distinct indices in"
        " [0, d), with the leading dimensions of weights",
        check=_support,
    ),
    where=[
        Condition(
            "every row of weights has at least k positive entries (so that k draws exist)",
            _enough_positive,
            {"weights": torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)},
        ),
        Condition(
            f"(number of sets) 2^k k <= {MAX_SET_WORK:.0e} (the subset table's size)",
            lambda weights, support: (
                _sets(weights, support) * 2 ** support.shape[-1] * support.shape[-1] <= MAX_SET_WORK
            ),
            {
                "weights": torch.ones(2000, 16, dtype=torch.float64),
                "support": torch.arange(16).expand(2000, 16),
            },
        ),
    ],
)
def draw_set_probability(weights: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    r"""Probability that :math:`k` weighted draws without replacement give the set ``support``.

    Each draw picks an index in proportion to the remaining ``weights``.

    Parameters
    ----------
    weights : torch.Tensor
        A float tensor ``(..., d)`` of finite, non-negative weights; they need not be normalised (no
        scale enters). Every row must have at least :math:`k` positive entries (so that :math:`k`
        draws exist).
    support : torch.Tensor
        An integer tensor ``(..., k)`` of :math:`1 \le k \le \min(d, 16)` (:data:`MAX_SET_SIZE`)
        distinct indices in :math:`[0, d)`, with the leading dimensions of ``weights``. The number
        of sets times :math:`2^k k` must be at most :math:`2 \cdot 10^7` (:data:`MAX_SET_WORK`, the
        subset table's size).

    Returns
    -------
    probability : torch.Tensor
        :math:`P(S)`, shape ``(...)``, in the dtype of ``weights``; a zero weight in the set gives
        0.

    Raises
    ------
    ValueError
        If the shapes disagree, :math:`k` is out of range, the indices are out of range or not
        distinct, or an argument lies outside its domain (see "Domain and accuracy" below).

    Notes
    -----
    The probability (module docstring) is computed from log weights, in float64, by a dynamic
    programme over the :math:`2^k` subsets of the set that sums each order's product without forming
    :math:`1 - p_{s_1} - \dots` by subtraction. Cost :math:`2^k k` per set (:math:`k \le 16`).
    """
    if support.shape[:-1] != weights.shape[:-1]:
        raise ValueError(
            "expected weights (..., d) and support (..., k), "
            f"got {tuple(weights.shape)} and {tuple(support.shape)}"
        )
    k, d = support.shape[-1], weights.shape[-1]
    if not 1 <= k <= min(d, MAX_SET_SIZE):
        raise ValueError(f"support must hold 1 <= k <= min(d, {MAX_SET_SIZE}) indices, got k = {k}")
    if bool(((support < 0) | (support >= d)).any()):
        raise ValueError(f"support must hold integer indices in [0, {d})")
    if bool((support.sort(-1).values.diff(dim=-1) == 0).any()):
        raise ValueError("support indices must be distinct")
    log_w = weights.to(torch.float64).log()
    return _log_set_probability(log_w, support.long()).exp().to(weights.dtype)


def _entries(limit: float):
    def check(name: str, value) -> torch.Tensor:
        tensor(name, value, min_ndim=1)
        if bool((value.abs() > limit).any()):
            raise ValueError(f"{name} must have entries of magnitude <= {limit:g}")
        return value

    return check


def _step_sizes_fit(X: torch.Tensor, w: torch.Tensor) -> bool:
    if X.ndim != 3 or w.ndim < 2:
        return True  # the shapes are refused by the function itself
    rows = math.prod(w.shape[:-1])
    return X.shape[1] + X.shape[2] <= MAX_STEP_LENGTH and rows * X.shape[1] <= 10**8


@declare(
    Accuracy(
        relative=1e-10,
        note="for float64 tensors, elementwise within 1e-10 of the scale |w| + eta |X|^T (|X| |w|"
        " + |y|) / n (the step is a difference of such terms, which can cancel): dot products of"
        " length n + d <= 10^5 in float64; float32 tensors are computed in float32",
    ),
    X=Given(
        f"a float tensor (B, n, d) with entries of magnitude <= {MAX_ENTRY:g}",
        check=_entries(MAX_ENTRY),
    ),
    y=Given(
        f"a float tensor (B, n) with entries of magnitude <= {MAX_ENTRY:g}",
        check=_entries(MAX_ENTRY),
    ),
    w=Given(
        f"a float tensor (B, ..., d) with entries of magnitude <= {MAX_ENTRY:g}",
        check=_entries(MAX_ENTRY),
    ),
    eta=Real(0.0, MAX_ENTRY, open_low=True),
    clip=Real(0.0, MAX_ENTRY, open_low=True),
    where=[
        Condition(
            f"n + d <= {MAX_STEP_LENGTH:.0e} and (rows of w) n <= 1e8 (the residuals' size)",
            _step_sizes_fit,
            {"X": torch.zeros(1, MAX_STEP_LENGTH + 1, 1, dtype=torch.float64)},
        )
    ],
)
def step_weights(
    X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, *, eta: float, clip: float = 1e-10
) -> torch.Tensor:
    r"""The sparse decoder's weights after one GD step from the support(s) ``w``.

    Parameters
    ----------
    X : torch.Tensor
        Designs, a float tensor ``(B, n, d)`` with entries of magnitude at most :math:`10^{60}`
        (:data:`MAX_ENTRY`).
    y : torch.Tensor
        Labels, a float tensor ``(B, n)``, entries of magnitude at most :math:`10^{60}`.
    w : torch.Tensor
        Supports, a float tensor ``(B, ..., d)`` of X's dtype, entries of magnitude at most
        :math:`10^{60}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{60}`.
    clip : float, optional
        Floor of the weights, :math:`0 < \mathrm{clip} \le 10^{60}`; default :math:`10^{-10}`.

    Returns
    -------
    weights : torch.Tensor
        :math:`\max(w - \eta X^\top (X w - y) / n, \mathrm{clip})`, of the shape of ``w``.

    Raises
    ------
    ValueError
        If the shapes disagree, :math:`n + d > 10^5` (:data:`MAX_STEP_LENGTH`) or (rows of ``w``)
        :math:`\times n > 10^8` (the residuals' size), the step overflows the dtype (scale ``X``,
        ``y`` or ``eta`` down), or an argument lies outside its range (see "Domain and accuracy"
        below).

    Notes
    -----
    .. math::

        \mathrm{weights} = \operatorname{clip}\big(w - \eta X^\top (X w - y) / n,\;
            \mathrm{clip}\big),

    clipped from below.
    """
    design(X, y)
    same_dtype(X=X, w=w)
    if X.ndim != 3 or w.ndim < 2 or w.shape[0] != X.shape[0] or w.shape[-1] != X.shape[2]:
        raise ValueError(
            f"expected X (B, n, d), y (B, n), w (B, ..., d); "
            f"got {tuple(X.shape)}, {tuple(y.shape)}, {tuple(w.shape)}"
        )
    n = X.shape[1]
    residual = torch.einsum("bnd,b...d->b...n", X, w) - y.reshape(
        y.shape[0], *([1] * (w.ndim - 2)), n
    )
    out = (w - eta * torch.einsum("bnd,b...n->b...d", X, residual) / n).clamp_min(clip)
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"the step overflows {X.dtype} at eta = {eta:g}: scale X, y or eta down")
    return out
