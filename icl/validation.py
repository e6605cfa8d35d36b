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
    r"""Check an integer argument.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : int
        The value to check.
    minimum : int
        The least value allowed.
    maximum : int or float, optional
        The largest value allowed: by default (``None``) :math:`2^{63} - 1`, the largest integer
        torch holds, so that a Python int that would overflow inside torch is refused here;
        ``math.inf`` for a caller that computes with Python ints of any size.

    Returns
    -------
    int
        ``value`` as an int.

    Raises
    ------
    ValueError
        Unless ``value`` is an integer (not a bool) with ``minimum`` :math:`\le` ``value``
        :math:`\le` ``maximum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    top = INT64_MAX if maximum is None else maximum
    if value > top:
        shown = "2^63 - 1" if top == INT64_MAX else top
        raise ValueError(f"{name} must be an integer <= {shown}, got {value!r}")
    return int(value)


def entries(what: str, count: int) -> int:
    r"""Check the entries of a tensor a call would allocate.

    Parameters
    ----------
    what : str
        The product the count stands for, named in the message (e.g. ``"B * n_chains * d"``).
    count : int
        The entries, :math:`\ge 0`.

    Returns
    -------
    int
        ``count``.

    Raises
    ------
    ValueError
        When ``count`` exceeds :data:`MAX_ENTRIES` (:math:`2^{27}`, 1 GiB of float64).
    """
    count = integer("count", count, minimum=0, maximum=math.inf)
    if count > MAX_ENTRIES:
        raise ValueError(
            f"{what} = {count} entries exceed 2^27 (1 GiB of float64) for one tensor: "
            "split the call into chunks"
        )
    return count


def work(what: str, count: int) -> int:
    r"""Check the multiply-adds a call would run.

    Parameters
    ----------
    what : str
        The product the count stands for, named in the message (e.g.
        ``"steps * B * n_chains * d^2"``).
    count : int
        The multiply-adds, :math:`\ge 0`.

    Returns
    -------
    int
        ``count``.

    Raises
    ------
    ValueError
        When ``count`` exceeds :data:`MAX_WORK` (:math:`2^{40}`, about :math:`10^{12}`).
    """
    count = integer("count", count, minimum=0, maximum=math.inf)
    if count > MAX_WORK:
        raise ValueError(
            f"{what} = {count:.3g} multiply-adds exceed 2^40 (about 10^12) for one call: "
            "split the call into chunks"
        )
    return count


def real(name: str, value, *, minimum: float | None = None, strict: bool = False) -> float:
    r"""Check a real argument.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : float
        The value to check.
    minimum : float, optional
        If given, ``value`` must be :math:`\ge` ``minimum``.
    strict : bool
        With ``minimum``, require ``value`` :math:`>` ``minimum`` instead.

    Returns
    -------
    float
        ``value`` as a finite float.

    Raises
    ------
    ValueError
        Unless ``value`` is a finite real number (not a bool) within the bound.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return float(value)


def positive(name: str, value) -> float:
    """Check a positive argument.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : float
        The value to check.

    Returns
    -------
    float
        ``value`` as a finite float :math:`> 0`.

    Raises
    ------
    ValueError
        Unless ``value`` is a finite number :math:`> 0`.
    """
    return real(name, value, minimum=0.0, strict=True)


def choice(name: str, value, options: tuple):
    """Check that an argument is one of a few options.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : object
        The value to check.
    options : tuple
        The values allowed (strings, dtypes, ...), all of one type.

    Returns
    -------
    object
        ``value``.

    Raises
    ------
    ValueError
        Unless ``value`` is one of ``options``; the message lists them.
    """
    if not isinstance(value, type(options[0])) or value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def flag(name: str, value) -> bool:
    """Check a boolean argument.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : bool
        The value to check (a NumPy bool is accepted).

    Returns
    -------
    bool
        ``value``.

    Raises
    ------
    TypeError
        Unless ``value`` is a bool.
    """
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def generator(name: str, value, *, required: bool = True, device=None) -> torch.Generator | None:
    """Check a source of randomness.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : torch.Generator or None
        The generator to check.
    required : bool
        If false, ``None`` is accepted.
    device : str or torch.device, optional
        If given, the generator must be on this device's type.

    Returns
    -------
    torch.Generator or None
        ``value``; ``None`` only when not ``required``.

    Raises
    ------
    TypeError
        When ``value`` is not a ``torch.Generator``.
    ValueError
        When it is on another device type than ``device``.
    """
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
    """Check a tensor argument.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : torch.Tensor
        The tensor to check.
    ndim : int, optional
        Its number of dimensions, if given.
    min_ndim : int
        The fewest dimensions it may have.
    shape : tuple, optional
        Its shape, if given; an entry ``None`` is a free dimension.
    kind : {"float", "integer", "real", "any"}
        Its dtype: ``"float"`` (float32 or float64), ``"integer"`` (an integer dtype), ``"real"``
        (either; booleans and complex numbers are refused) or ``"any"``.
    finite : bool
        Refuse NaN and infinities.
    nonempty : bool
        Refuse a dimension of size 0.

    Returns
    -------
    torch.Tensor
        ``value``.

    Raises
    ------
    TypeError
        Not a tensor, or a wrong dtype.
    ValueError
        A wrong shape, an empty dimension, a non-finite entry.
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
    """Check real numbers and return them as a float64 array.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : float, sequence, numpy.ndarray or torch.Tensor
        Real numbers. Integer input is converted to float64 here, so closed forms never compute in
        a narrower type.
    finite : bool
        Refuse NaN and infinities.
    minimum : float, optional
        If given, refuse entries below it.

    Returns
    -------
    numpy.ndarray
        ``value`` as a float64 array.

    Raises
    ------
    TypeError
        Strings, complex numbers, booleans, ``None``.
    ValueError
        Non-finite entries; with ``minimum``, entries below it.
    """
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
    """Check a device argument.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : str or torch.device
        A cpu, cuda or mps device.
    available : bool
        Require the device to exist here (a CUDA device only where CUDA is available).

    Returns
    -------
    torch.device
        ``value`` as a ``torch.device``.

    Raises
    ------
    TypeError
        Neither a string nor a ``torch.device``.
    ValueError
        No device of that name, not a cpu, cuda or mps device, or (if ``available``) CUDA asked for
        where none is available.
    """
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
    """Check a path argument.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : str or os.PathLike
        A non-empty ``str`` or a path-like object.
    exists : {"file", "folder", None}
        ``"file"`` or ``"folder"``: it must name an existing file or folder; ``None``: a path that
        may not exist yet (e.g. a folder to create).

    Returns
    -------
    pathlib.Path
        ``value`` as a ``Path``.

    Raises
    ------
    TypeError
        Not a ``str`` or a path-like object.
    ValueError
        An empty string, or no existing file or folder where ``exists`` asks for one.
    """
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
    """Check that an argument is an instance of a class.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : object
        The value to check.
    kind : type
        The class it must be an instance of.

    Returns
    -------
    object
        ``value``.

    Raises
    ------
    TypeError
        Unless ``value`` is an instance of ``kind``; the message names ``name``.
    """
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def function(name: str, value, *, optional: bool = False):
    """Check a function argument.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : callable or None
        The function to check (a class is refused).
    optional : bool
        Accept ``None``.

    Returns
    -------
    callable or None
        ``value``.

    Raises
    ------
    TypeError
        Unless ``value`` is callable (or ``None`` when ``optional``).
    """
    if value is None and optional:
        return None
    if not callable(value) or isinstance(value, type):
        raise TypeError(f"{name} must be a function, got {value!r}")
    return value


def same_dtype(**tensors: torch.Tensor) -> torch.dtype:
    """The common dtype of the named tensors.

    Parameters
    ----------
    **tensors : torch.Tensor
        The tensors, by the names the messages use (at least one).

    Returns
    -------
    torch.dtype
        Their common dtype.

    Raises
    ------
    TypeError
        A value that is not a tensor, or dtypes that differ (mixed float32/float64 is refused
        rather than promoted); the message names them.
    ValueError
        No tensor, or tensors on more than one device.
    """
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
    r"""How far from 1 a sum of probabilities may lie.

    Parameters
    ----------
    dtype : torch.dtype or numpy float dtype
        The probabilities' dtype.
    size : int
        The number of probabilities summed, :math:`\ge 1`.

    Returns
    -------
    float
        The tolerance.

    Raises
    ------
    ValueError
        A dtype that is not a float dtype, or a size below 1.

    Notes
    -----
    The tolerance is :math:`64\, \varepsilon \sqrt{\mathrm{size}}`, :math:`\varepsilon` the
    dtype's machine epsilon: float32, :math:`7.6 \cdot 10^{-6}` for 1 entry and
    :math:`2.4 \cdot 10^{-4}` for 1,024; float64, :math:`1.4 \cdot 10^{-14}` and
    :math:`4.5 \cdot 10^{-13}`.
    """
    numpy_float = isinstance(dtype, np.dtype) or (
        isinstance(dtype, type) and issubclass(dtype, np.floating)
    )
    if dtype not in FLOAT_DTYPES and not (numpy_float and np.dtype(dtype).kind == "f"):
        raise ValueError(f"dtype must be a float dtype, got {dtype!r}")
    size = integer("size", size)
    eps = torch.finfo(dtype).eps if isinstance(dtype, torch.dtype) else np.finfo(dtype).eps
    return 64 * eps * math.sqrt(size)


def probabilities(name: str, value, *, dim: int = -1, normalised: bool = True):
    """Check probabilities.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : torch.Tensor or numpy.ndarray
        Entries in :math:`[0, 1]`, no NaN, not empty.
    dim : int
        The dimension along which they sum to 1.
    normalised : bool
        Require the sums along ``dim`` to be 1 within :func:`sum_tolerance`.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        ``value``.

    Raises
    ------
    TypeError
        Entries that are not real numbers (or, for a tensor, not float).
    ValueError
        Empty, entries outside :math:`[0, 1]` or NaN, or (if ``normalised``) sums off 1.
    """
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
    r"""Check log-probabilities.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : torch.Tensor
        A float tensor with no NaN or :math:`+\infty` (:math:`-\infty` is a zero probability).
    dim : int
        The dimension along which they are normalised.

    Returns
    -------
    torch.Tensor
        ``value``.

    Raises
    ------
    TypeError
        Not a float tensor.
    ValueError
        NaN or :math:`+\infty`, or ``logsumexp`` along ``dim`` not 0 within
        :func:`sum_tolerance`.
    """
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
    r"""Check a tensor of signs.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : torch.Tensor
        A float tensor of :math:`-1` and :math:`+1` only.
    **kw
        Further checks, passed to :func:`tensor`.

    Returns
    -------
    torch.Tensor
        ``value``.

    Raises
    ------
    TypeError
        Not a float tensor.
    ValueError
        An entry other than :math:`\pm 1`, or a failed check of :func:`tensor`.
    """
    tensor(name, value, **kw)
    if not bool(((value == 1) | (value == -1)).all()):
        raise ValueError(f"{name} must hold only -1 and +1")
    return value


def binary(name: str, value: torch.Tensor, **kw) -> torch.Tensor:
    """Check a tensor of zeros and ones.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : torch.Tensor
        A tensor of 0 and 1 only: float, integer or bool.
    **kw
        Further checks, passed to :func:`tensor`.

    Returns
    -------
    torch.Tensor
        ``value`` (a bool tensor as uint8).

    Raises
    ------
    TypeError
        Not a tensor of real numbers.
    ValueError
        An entry other than 0 or 1, or a failed check of :func:`tensor`.
    """
    if isinstance(value, torch.Tensor) and value.dtype == torch.bool:
        value = value.to(torch.uint8)
    tensor(name, value, kind="real", **kw)
    if not bool(((value == 0) | (value == 1)).all()):
        raise ValueError(f"{name} must hold only 0s and 1s")
    return value


def design(X, y) -> tuple[int, int]:
    r"""Check a design and its labels.

    Parameters
    ----------
    X : torch.Tensor
        The design, ``(..., n, d)``: float, finite, :math:`n \ge 1` examples, :math:`d \ge 1`, no
        empty batch.
    y : torch.Tensor
        The labels, ``(..., n)``, of ``X``'s dtype.

    Returns
    -------
    tuple of int
        ``(n, d)``.

    Raises
    ------
    TypeError
        Not float tensors of one dtype.
    ValueError
        Shapes that do not match (the message names both), empty or non-finite entries.
    """
    tensor("X", X, min_ndim=2)
    tensor("y", y, min_ndim=1, nonempty=False)
    if y.shape != X.shape[:-1]:
        raise ValueError(
            f"expected X (..., n, d) and y (..., n), got {tuple(X.shape)} and {tuple(y.shape)}"
        )
    same_dtype(X=X, y=y)
    return tuple(X.shape[-2:])


def prompt_batch(X, y) -> tuple[int, int, int]:
    r"""Check a batch of prompts.

    Parameters
    ----------
    X : torch.Tensor
        The inputs, ``(B, n, d)``: float, finite, :math:`B \ge 1` prompts of :math:`n \ge 1`
        examples in :math:`d \ge 1` dimensions.
    y : torch.Tensor
        The labels, ``(B, n)``, of ``X``'s dtype.

    Returns
    -------
    tuple of int
        ``(B, n, d)``.

    Raises
    ------
    TypeError
        Not float tensors of one dtype.
    ValueError
        Shapes that do not match (the message names both), empty or non-finite entries.
    """
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
