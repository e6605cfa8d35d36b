"""Argument checks shared by the package: each raises ``ValueError`` naming the argument."""

from __future__ import annotations

import math
import numbers

import torch


def integer(name: str, value, minimum: int = 1) -> int:
    """``value`` as an int, or ``ValueError`` unless it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def real(name: str, value, *, minimum: float | None = None, strict: bool = False) -> float:
    """``value`` as a finite float, or ``ValueError``; with ``minimum``, also ``value >= minimum``
    (``>`` if ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return float(value)


def design(X, y) -> tuple[int, int]:
    """``(n, d)`` of a design ``X (..., n, d)`` with labels ``y (..., n)`` (tensors), or
    ``ValueError`` naming both shapes."""
    if (
        not isinstance(X, torch.Tensor)
        or not isinstance(y, torch.Tensor)
        or X.ndim < 2
        or y.shape != X.shape[:-1]
    ):
        raise ValueError(
            "expected X (..., n, d) and y (..., n), "
            f"got {getattr(X, 'shape', X)} and {getattr(y, 'shape', y)}"
        )
    return tuple(X.shape[-2:])


def prompt_batch(X, y) -> tuple[int, int, int]:
    """``(B, n, d)`` of a prompt batch ``X (B, n, d)``, ``y (B, n)``, or ``ValueError`` naming both
    shapes."""
    if (
        not hasattr(X, "ndim")
        or X.ndim != 3
        or not hasattr(y, "shape")
        or tuple(y.shape) != tuple(X.shape[:2])
    ):
        raise ValueError(
            "expected X (B, n, d) and y (B, n), "
            f"got {getattr(X, 'shape', X)} and {getattr(y, 'shape', y)}"
        )
    return tuple(X.shape)
