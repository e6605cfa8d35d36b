"""Rewards for best-of-N decoding, and the best-of-N selector, on batches of candidates.

A reward is written as a *score* to minimise (reward = -score). Candidates come
as ``(B, N, d)``: N candidate answers w for each of B prompts; every score is
``(B, N)``.

- :func:`oracle_score`: ||w - w*||^2, the true parameter error (an ideal verifier);
- :func:`in_context_loss`: ||X w - y||^2 / n, the mean squared error on the prompt's own
  examples (self-verification, no access to w*);
- :func:`norm_score`: ||w||^2, the authors' prototype's reward (misspecified).

:func:`select_best` returns each prompt's candidate of smallest score;
:func:`best_of_n_values` does so for every N <= N_max at once (the first N
candidates), by a running minimum over the candidate axis.
"""

from __future__ import annotations

import torch


def _candidates(candidates: torch.Tensor) -> torch.Tensor:
    if not isinstance(candidates, torch.Tensor) or candidates.ndim != 3:
        shape = tuple(candidates.shape) if isinstance(candidates, torch.Tensor) else type(candidates).__name__
        raise ValueError(f"candidates must be a tensor of shape (B, N, d), got {shape}")
    return candidates


def oracle_score(candidates: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """||w_k - w*||^2 for candidates ``(B, N, d)`` and true parameters ``w (B, d)``; returns ``(B, N)``."""
    candidates = _candidates(candidates)
    if w.shape != (candidates.shape[0], candidates.shape[2]):
        raise ValueError(f"w must have shape {(candidates.shape[0], candidates.shape[2])}, got {tuple(w.shape)}")
    return ((candidates - w.unsqueeze(1)) ** 2).sum(-1)


def in_context_loss(candidates: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||X w_k - y||^2 / n for candidates ``(B, N, d)``, ``X (B, n, d)``, ``y (B, n)``; returns ``(B, N)``.

    Equals (w_k - w_LS)^T S (w_k - w_LS) + min_w ||X w - y||^2 / n with S = X^T X / n.
    """
    candidates = _candidates(candidates)
    batch, _, d = candidates.shape
    if X.ndim != 3 or X.shape[0] != batch or X.shape[2] != d or y.shape != X.shape[:2]:
        raise ValueError(f"expected X (B={batch}, n, d={d}) and y (B, n), got {tuple(X.shape)} and {tuple(y.shape)}")
    residual = candidates @ X.transpose(1, 2) - y.unsqueeze(1)
    return (residual**2).mean(-1)


def norm_score(candidates: torch.Tensor) -> torch.Tensor:
    """||w_k||^2 for candidates ``(B, N, d)``; returns ``(B, N)``."""
    return (_candidates(candidates) ** 2).sum(-1)


def _scores(candidates: torch.Tensor, scores: torch.Tensor) -> None:
    if not isinstance(scores, torch.Tensor) or scores.shape != candidates.shape[:2]:
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"scores must have shape {tuple(candidates.shape[:2])}, got {shape}")


def select_best(candidates: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Best-of-N: each prompt's candidate of smallest score.

    ``candidates (B, N, d)``, ``scores (B, N)`` -> (selected ``(B, d)``, index ``(B,)``).
    """
    candidates = _candidates(candidates)
    _scores(candidates, scores)
    index = scores.argmin(1)
    return candidates[torch.arange(candidates.shape[0], device=candidates.device), index], index


def best_of_n_values(scores: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``values`` of the best-of-N candidate for every N = 1..N_max, from one draw of N_max candidates.

    ``scores`` and ``values`` are ``(B, N_max)`` (e.g. score and true risk of each candidate);
    entry ``[b, N - 1]`` of the result is ``values[b, argmin_{k < N} scores[b, k]]``, ``(B, N_max)``.
    """
    if not isinstance(scores, torch.Tensor) or scores.ndim != 2:
        raise ValueError("scores must be a tensor of shape (B, N_max)")
    if not isinstance(values, torch.Tensor) or values.shape != scores.shape:
        raise ValueError(f"values must have the shape of scores {tuple(scores.shape)}")
    index = torch.cummin(scores, dim=1).indices
    return values.gather(1, index)
