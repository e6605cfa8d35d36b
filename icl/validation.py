"""Argument checks shared by the package: each raises ``ValueError`` (a value out of range, a
wrong shape, a non-finite entry) or ``TypeError`` (not a tensor, not a generator, a tensor of the
wrong dtype), and its message names the public argument and what was expected.

Conventions the checks enforce:

- tensors of real numbers are float32 or float64; integer, boolean and complex tensors are
  refused (convert explicitly, ``x.double()``), and the tensors of one call share one dtype
  (:func:`same_dtype`): mixing float32 and float64 is refused rather than silently promoted;
- entries are finite and no dimension is empty (a batch of 0 prompts, a prompt of n = 0
  examples);
- probability vectors sum to one within a tolerance suited to their dtype
  (:func:`sum_tolerance`), so that a float32 ``torch.softmax`` output passes;
  log-probabilities ``logsumexp`` to 0 within the same tolerance;
- randomness comes from a ``torch.Generator`` passed in (:func:`generator`): a function that
  samples requires one, so that a seed fixes its draw.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np
import torch

FLOAT_DTYPES = (torch.float32, torch.float64)
INT64_MAX = 2**63 - 1  # the largest integer torch holds
# The most entries of one tensor that a function allocates for its caller: 1 GiB of float64.
MAX_ENTRIES = 2**27
# The most multiply-adds one call may ask for (a loop of steps over a batch): about 10^12, minutes
# on a CPU core, seconds on a GPU.
MAX_WORK = 2**40


def integer(name: str, value, minimum: int = 1, maximum: float | None = None) -> int:
    """``value`` as an int, or ``ValueError`` unless it is an integer >= ``minimum`` and <=
    ``maximum``: by default (``None``) 2^63 - 1, the largest integer torch holds, so that a
    Python int that would overflow inside torch is refused here; ``math.inf`` for a caller that
    computes with Python ints of any size."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    top = INT64_MAX if maximum is None else maximum
    if value > top:
        shown = "2^63 - 1" if top == INT64_MAX else top
        raise ValueError(f"{name} must be an integer <= {shown}, got {value!r}")
    return int(value)


def entries(what: str, count: int) -> int:
    """``count``, the entries of a tensor a call would allocate, or ``ValueError`` naming
    ``what`` (e.g. ``"B * n_chains * d"``) when it exceeds :data:`MAX_ENTRIES`."""
    count = integer("count", count, minimum=0, maximum=math.inf)
    if count > MAX_ENTRIES:
        raise ValueError(
            f"{what} = {count} entries exceed 2^27 (1 GiB of float64) for one tensor: "
            "split the call into chunks"
        )
    return count


def work(what: str, count: int) -> int:
    """``count``, the multiply-adds a call would run, or ``ValueError`` naming ``what`` (e.g.
    ``"steps * B * n_chains * d^2"``) when it exceeds :data:`MAX_WORK`."""
    count = integer("count", count, minimum=0, maximum=math.inf)
    if count > MAX_WORK:
        raise ValueError(
            f"{what} = {count:.3g} multiply-adds exceed 2^40 (about 10^12) for one call: "
            "split the call into chunks"
        )
    return count


def real(name: str, value, *, minimum: float | None = None, strict: bool = False) -> float:
    """``value`` as a finite float, or ``ValueError``; with ``minimum``, also ``value >= minimum``
    (``>`` if ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return float(value)


def positive(name: str, value) -> float:
    """``value`` as a finite float > 0, or ``ValueError``."""
    return real(name, value, minimum=0.0, strict=True)


def choice(name: str, value, options: tuple):
    """``value`` if it is one of ``options`` (strings, dtypes, ...), else ``ValueError`` listing
    them."""
    if not isinstance(value, type(options[0])) or value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def flag(name: str, value) -> bool:
    """``value`` if it is a bool, else ``TypeError``."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def generator(name: str, value, *, required: bool = True, device=None) -> torch.Generator | None:
    """``value`` if it is a ``torch.Generator`` (on ``device``'s type, if given); ``None`` only
    when not ``required``; else ``TypeError``/``ValueError``."""
    if value is None and not flag("required", required):
        return None
    if not isinstance(value, torch.Generator):
        raise TypeError(
            f"{name} must be a torch.Generator (a seeded source of randomness), "
            f"got {type(value).__name__}"
        )
    if device is not None and value.device.type != globals()["device"]("device", device).type:
        raise ValueError(f"{name} is on {value.device} but the tensors are on {device}")
    return value


def tensor(
    name: str,
    value,
    *,
    ndim: int | None = None,
    min_ndim: int = 0,
    shape: tuple | None = None,
    kind: str = "float",
    finite: bool = True,
    nonempty: bool = True,
) -> torch.Tensor:
    """``value`` if it is a tensor as described, else ``TypeError`` (not a tensor, wrong dtype) or
    ``ValueError`` (shape, empty, non-finite).

    ``kind``: ``"float"`` (float32 or float64), ``"integer"`` (an integer dtype), ``"real"``
    (either; booleans and complex numbers are refused) or ``"any"``. ``shape`` may hold ``None``
    for a free dimension. ``nonempty`` refuses a dimension of size 0; ``finite`` refuses NaN and
    infinities.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    is_int = not value.dtype.is_floating_point and not value.dtype.is_complex
    is_int = is_int and value.dtype != torch.bool
    wanted = {
        "float": value.dtype in FLOAT_DTYPES,
        "integer": is_int,
        "real": value.dtype in FLOAT_DTYPES or is_int,
        "any": True,
    }[kind]
    if not wanted:
        expected = {"float": "a float32 or float64", "integer": "an integer"}.get(kind, "a real")
        raise TypeError(f"{name} must have {expected} dtype, got {value.dtype}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(value.shape)}")
    if value.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions, got shape {tuple(value.shape)}"
        )
    if shape is not None and (
        value.ndim != len(shape)
        or any(s is not None and s != v for s, v in zip(shape, value.shape, strict=True))
    ):
        expected = tuple("*" if s is None else s for s in shape)
        raise ValueError(f"{name} must have shape {expected}, got {tuple(value.shape)}")
    if nonempty and value.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(value.shape)}")
    if finite and value.dtype.is_floating_point and not _all_finite(value):
        raise ValueError(f"{name} must have finite entries (no NaN or infinity)")
    return value


def _all_finite(value: torch.Tensor) -> bool:
    """No NaN or infinity in a floating tensor: its minimum and maximum (which propagate NaN) are
    finite; one pass without a boolean copy, about six times faster than isfinite().all()."""
    if value.numel() == 0:
        return True
    low, high = torch.aminmax(value.detach())
    return bool(torch.isfinite(low) & torch.isfinite(high))


def array(name: str, value, *, finite: bool = True, minimum: float | None = None) -> np.ndarray:
    """``value`` (a number, a sequence, an array or a tensor of real numbers) as a float64 array,
    or ``TypeError`` (strings, complex numbers, ``None``) / ``ValueError`` (non-finite entries;
    with ``minimum``, entries below it). Integer input is converted to float64 here, so closed
    forms never compute in a narrower type."""
    if torch.is_tensor(value):
        value = value.detach().cpu()
        if value.dtype.is_complex or value.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
        value = value.double().numpy()
    if value is None or isinstance(value, str | bytes | bool | np.bool_):
        raise TypeError(f"{name} must be a real number or an array of them, got {value!r}")
    entries = np.asarray(value)
    if entries.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {entries.dtype}")
    entries = entries.astype(np.float64)
    if finite and not np.all(np.isfinite(entries)):
        raise ValueError(f"{name} must have finite entries (no NaN or infinity)")
    if minimum is not None and np.any(entries < minimum):
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return entries


def device(name: str, value, *, available: bool = True) -> torch.device:
    """``value`` as a ``torch.device`` (that exists here, if ``available``), or
    ``ValueError``/``TypeError``."""
    if not isinstance(value, str | torch.device):
        raise TypeError(f"{name} must be a device name or a torch.device, got {value!r}")
    try:
        dev = torch.device(value)
    except RuntimeError as error:
        raise ValueError(f"{name} must name a device, got {value!r}") from error
    if available and dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name} is {value!r} but no CUDA device is available")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{name} must be a cpu, cuda or mps device, got {value!r}")
    return dev


def path(name: str, value, *, exists: str | None = "file") -> Path:
    """``value`` (a non-empty ``str`` or a path-like object) as a ``Path``, else ``TypeError``;
    with ``exists`` ``"file"`` or ``"folder"``, also ``ValueError`` unless it names an existing
    file or folder (``None``: a path that may not exist yet, e.g. a folder to create)."""
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"{name} must be a path (a str or a pathlib.Path), got {value!r}")
    if not str(value):
        raise ValueError(f"{name} must be a path, got an empty string")
    result = Path(value)
    if exists == "file" and not result.is_file():
        raise ValueError(f"{name} must name an existing file, got {str(value)!r}")
    if exists == "folder" and not result.is_dir():
        raise ValueError(f"{name} must name an existing folder, got {str(value)!r}")
    return result


def module(name: str, value, kind: type):
    """``value`` if it is an instance of ``kind``, else ``TypeError`` naming ``name``."""
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def function(name: str, value, *, optional: bool = False):
    """``value`` if it is callable (or ``None`` when ``optional``), else ``TypeError``."""
    if value is None and optional:
        return None
    if not callable(value) or isinstance(value, type):
        raise TypeError(f"{name} must be a function, got {value!r}")
    return value


def same_dtype(**tensors: torch.Tensor) -> torch.dtype:
    """The common dtype of the named tensors, or ``TypeError`` naming them when they differ (mixed
    float32/float64 is refused rather than promoted)."""
    for name, value in tensors.items():
        tensor(name, value, nonempty=False, finite=False, kind="any")
    if not tensors:
        raise ValueError("same_dtype needs at least one tensor")
    dtypes = {name: t.dtype for name, t in tensors.items()}
    if len(set(dtypes.values())) > 1:
        raise TypeError(f"the tensors must share one dtype, got {dtypes}")
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        raise ValueError(f"the tensors must be on one device, got {devices}")
    return next(iter(dtypes.values()))


def sum_tolerance(dtype, size: int) -> float:
    """How far from 1 a sum of ``size`` probabilities of ``dtype`` may lie: ``64 eps sqrt(size)``
    (float32: 7.6e-6 for 1 entry, 2.4e-4 for 1,024; float64: 1.4e-14 and 4.5e-13)."""
    numpy_float = isinstance(dtype, np.dtype) or (
        isinstance(dtype, type) and issubclass(dtype, np.floating)
    )
    if dtype not in FLOAT_DTYPES and not (numpy_float and np.dtype(dtype).kind == "f"):
        raise ValueError(f"dtype must be a float dtype, got {dtype!r}")
    size = integer("size", size)
    eps = torch.finfo(dtype).eps if isinstance(dtype, torch.dtype) else np.finfo(dtype).eps
    return 64 * eps * math.sqrt(size)


def probabilities(name: str, value, *, dim: int = -1, normalised: bool = True):
    """``value`` (a tensor or an array) if its entries lie in [0, 1] (no NaN) and, if
    ``normalised``, sum to 1 along ``dim`` within :func:`sum_tolerance`; else ``ValueError``."""
    if torch.is_tensor(value):
        tensor(name, value, nonempty=True)
        entries, dtype = value.detach().double().cpu().numpy(), value.dtype
    else:
        entries = np.asarray(value)
        if entries.dtype.kind not in "fiu":
            raise TypeError(f"{name} must hold real numbers, got dtype {entries.dtype}")
        dtype = entries.dtype if entries.dtype.kind == "f" else np.float64
        entries = entries.astype(np.float64)
        if entries.size == 0:
            raise ValueError(f"{name} must not be empty")
    if not np.isfinite(entries).all() or entries.min() < 0 or entries.max() > 1:
        raise ValueError(f"{name} must hold probabilities in [0, 1] (no NaN)")
    if normalised:
        size = entries.shape[dim] if entries.ndim else 1
        gap = np.abs(entries.sum(axis=dim) - 1).max() if entries.ndim else abs(entries - 1)
        if gap > sum_tolerance(dtype, size):
            raise ValueError(
                f"{name} must sum to 1 along dimension {dim} (within "
                f"{sum_tolerance(dtype, size):.1e} for {dtype}), off by {gap:.2e}"
            )
    return value


def log_probabilities(name: str, value: torch.Tensor, *, dim: int = -1) -> torch.Tensor:
    """``value`` if it is a float tensor of log-probabilities: no NaN or +inf (-inf is a zero
    probability) and ``logsumexp`` along ``dim`` equal to 0 within :func:`sum_tolerance`; else
    ``ValueError``/``TypeError``."""
    tensor(name, value, finite=False)
    if bool(torch.isnan(value).any()) or bool((value == math.inf).any()):
        raise ValueError(f"{name} must be log-probabilities: no NaN or +inf")
    total = torch.logsumexp(value.double(), dim=dim)
    tol = sum_tolerance(value.dtype, value.shape[dim])
    if not bool(torch.isfinite(total).all()) or float((total.abs()).max()) > tol:
        raise ValueError(
            f"{name} must be normalised log-probabilities: logsumexp along dimension {dim} must "
            f"be 0 (within {tol:.1e}), got {float(total.abs().max()):.3g} away"
        )
    return value


def signs(name: str, value: torch.Tensor, **kw) -> torch.Tensor:
    """``value`` if it is a float tensor of -1 and +1 only, else ``ValueError``/``TypeError``."""
    tensor(name, value, **kw)
    if not bool(((value == 1) | (value == -1)).all()):
        raise ValueError(f"{name} must hold only -1 and +1")
    return value


def binary(name: str, value: torch.Tensor, **kw) -> torch.Tensor:
    """``value`` if it is a tensor of 0 and 1 only (float, integer or bool), else
    ``ValueError``/``TypeError``."""
    if isinstance(value, torch.Tensor) and value.dtype == torch.bool:
        value = value.to(torch.uint8)
    tensor(name, value, kind="real", **kw)
    if not bool(((value == 0) | (value == 1)).all()):
        raise ValueError(f"{name} must hold only 0s and 1s")
    return value


def design(X, y) -> tuple[int, int]:
    """``(n, d)`` of a design ``X (..., n, d)`` with labels ``y (..., n)``: float tensors of one
    dtype, finite, n >= 1 examples, d >= 1, no empty batch; else ``ValueError``/``TypeError``
    naming both shapes."""
    tensor("X", X, min_ndim=2)
    tensor("y", y, min_ndim=1, nonempty=False)
    if y.shape != X.shape[:-1]:
        raise ValueError(
            f"expected X (..., n, d) and y (..., n), got {tuple(X.shape)} and {tuple(y.shape)}"
        )
    same_dtype(X=X, y=y)
    return tuple(X.shape[-2:])


def prompt_batch(X, y) -> tuple[int, int, int]:
    """``(B, n, d)`` of a prompt batch ``X (B, n, d)``, ``y (B, n)``: float tensors of one dtype,
    finite, with B >= 1 prompts of n >= 1 examples in d >= 1 dimensions; else
    ``ValueError``/``TypeError`` naming both shapes."""
    if isinstance(X, torch.Tensor) and isinstance(y, torch.Tensor):
        if X.ndim != 3 or tuple(y.shape) != tuple(X.shape[:2]):
            raise ValueError(
                f"expected X (B, n, d) and y (B, n), got {tuple(X.shape)} and {tuple(y.shape)}"
            )
        if 0 in X.shape:
            raise ValueError(
                "expected X (B, n, d) with B >= 1 prompts of n >= 1 examples and d >= 1, "
                f"got {tuple(X.shape)}"
            )
    design(X, y)
    return tuple(X.shape)
