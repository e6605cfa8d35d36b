"""Argument checks shared by the package: each raises ``ValueError`` naming the argument."""

from __future__ import annotations

import math
import numbers


def integer(name: str, value, minimum: int = 1) -> int:
    """``value`` as an int, or ``ValueError`` unless it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def real(name: str, value, *, minimum: float | None = None, strict: bool = False) -> float:
    """``value`` as a finite float, or ``ValueError``; with ``minimum``, also ``value >= minimum`` (``>`` if ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return float(value)
