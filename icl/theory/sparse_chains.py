"""Chapter 6: one step of the sparse binary chain (:mod:`icl.decoders.sparse_chains`) in closed
form.

Sampling k indices without replacement, each draw in proportion to the remaining
weights p (normalised to sum 1), returns the set S (|S| = k) with probability

    P(S) = sum over the k! orders s_1..s_k of S of  prod_i p_{s_i} / (1 - p_{s_1} - ... -
    p_{s_{i-1}}).

For S the current support this is the probability that the sampled chain stays put.
"""

from __future__ import annotations

import itertools

import torch

from icl.validation import design, real, same_dtype, tensor

MAX_SET_SIZE = 8


def draw_set_probability(weights: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """P(k draws without replacement, proportional to ``weights (..., d)``, give the index set
    ``support (..., k)``).

    ``weights`` need not be normalised (they are divided by their sum); the
    indices of ``support`` must be distinct. Returns shape ``(...)``. Cost k! k per set (k <= 8).
    """
    tensor("weights", weights, min_ndim=1)
    tensor("support", support, min_ndim=1, kind="integer")
    if support.shape[:-1] != weights.shape[:-1]:
        raise ValueError(
            "expected weights (..., d) and support (..., k), "
            f"got {tuple(weights.shape)} and {tuple(support.shape)}"
        )
    k, d = support.shape[-1], weights.shape[-1]
    if not 1 <= k <= min(d, MAX_SET_SIZE):
        raise ValueError(f"support must hold 1 <= k <= min(d, {MAX_SET_SIZE}) indices, got k = {k}")
    if support.dtype.is_floating_point or bool(((support < 0) | (support >= d)).any()):
        raise ValueError(f"support must hold integer indices in [0, {d})")
    if bool((support.sort(-1).values.diff(dim=-1) == 0).any()):
        raise ValueError("support indices must be distinct")
    if (
        bool((weights < 0).any())
        or not bool(torch.isfinite(weights).all())
        or bool((weights.sum(-1) <= 0).any())
    ):
        raise ValueError("weights must be finite, non-negative, with a positive sum")
    p = weights / weights.sum(-1, keepdim=True)
    chosen = p.gather(-1, support)  # (..., k)
    orders = torch.tensor(list(itertools.permutations(range(k))), device=p.device)  # (k!, k)
    ordered = chosen[..., orders]  # (..., k!, k)
    before = ordered.cumsum(-1) - ordered
    return (ordered / (1 - before)).prod(-1).sum(-1)


def step_weights(
    X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, *, eta: float, clip: float = 1e-10
) -> torch.Tensor:
    """The decoder's weights from support(s) ``w (B, ..., d)``: clip(w - eta X^T (X w - y) / n,
    clip), shape of ``w``."""
    eta, clip = (
        real("eta", eta, minimum=0.0, strict=True),
        real("clip", clip, minimum=0.0, strict=True),
    )
    design(X, y)
    tensor("w", w, min_ndim=2)
    same_dtype(X=X, w=w)
    if X.ndim != 3 or w.shape[0] != X.shape[0] or w.shape[-1] != X.shape[2]:
        raise ValueError(
            f"expected X (B, n, d), y (B, n), w (B, ..., d); "
            f"got {tuple(X.shape)}, {tuple(y.shape)}, {tuple(w.shape)}"
        )
    n = X.shape[1]
    residual = torch.einsum("bnd,b...d->b...n", X, w) - y.reshape(
        y.shape[0], *([1] * (w.ndim - 2)), n
    )
    return (w - eta * torch.einsum("bnd,b...n->b...d", X, residual) / n).clamp_min(clip)
