"""The run environment: device, dtype, scale, seeded generators, a timer, and the book's root
folder.

Environment variables:

``ICL_SCALE``
    ``smoke`` (default without a GPU: every chapter in well under a minute on
    two CPU cores) or ``full`` (default with a GPU: the paper's sizes).
``ICL_DEVICE``
    ``cpu`` or ``cuda`` to override the automatic choice (CUDA when present).
``ICL_DTYPE``
    ``float32`` or ``float64`` to override the automatic choice (float64 on the
    CPU, float32 on a GPU); ``ICL_DTYPE=float32`` on the CPU runs the GPU's
    precision where no GPU is at hand.
``ICL_MODEL_SCALE``
    ``smoke`` or ``full``: the size of the trained models the chapters load or train (Chapter 7),
    by default ``ICL_SCALE``. The full-scale CPU run sets it to ``smoke``: training the full
    model takes tens of hours on two CPU cores, while the full-scale Monte Carlo around a
    smaller model is what checks the checks.
"""

from __future__ import annotations

import os
import platform
import re
import time
from pathlib import Path

import numpy as np
import torch

from icl.validation import choice, integer
from icl.validation import device as _device
from icl.validation import generator as _generator

SCALES = ("smoke", "full")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def device() -> torch.device:
    """The device simulations run on.

    Returns
    -------
    torch.device
        ``$ICL_DEVICE`` if set, else CUDA when present, else the CPU.

    Raises
    ------
    ValueError
        ``$ICL_DEVICE`` other than ``cpu`` or ``cuda``, or ``cuda`` where torch sees no CUDA
        device.
    """
    name = os.environ.get("ICL_DEVICE", "").strip().lower()
    if name:
        if name not in ("cpu", "cuda"):
            raise ValueError(f"ICL_DEVICE must be 'cpu' or 'cuda', got {name!r}")
        if name == "cuda" and not torch.cuda.is_available():
            raise ValueError("ICL_DEVICE='cuda' but torch sees no CUDA device")
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def dtype(dev: torch.device | None = None) -> torch.dtype:
    """The dtype simulations compute in.

    Parameters
    ----------
    dev : torch.device, optional
        The device; by default :func:`device`.

    Returns
    -------
    torch.dtype
        ``$ICL_DTYPE`` if set, else float64 on the CPU (checks at round-off) and float32 on a GPU
        (speed).

    Raises
    ------
    ValueError
        ``$ICL_DTYPE`` other than ``float32`` or ``float64``, or ``dev`` not a device.
    """
    name = os.environ.get("ICL_DTYPE", "").strip().lower()
    if name:
        if name not in DTYPES:
            raise ValueError(f"ICL_DTYPE must be one of {tuple(DTYPES)}, got {name!r}")
        return DTYPES[name]
    dev = device() if dev is None else _device("dev", dev, available=False)
    return torch.float64 if dev.type == "cpu" else torch.float32


_run_device, _run_dtype = device, dtype  # for functions whose arguments take these names


def scale() -> str:
    """The scale of the chapters' runs.

    Returns
    -------
    str
        ``$ICL_SCALE`` if set, else ``'full'`` on a GPU and ``'smoke'`` on the CPU.

    Raises
    ------
    ValueError
        ``$ICL_SCALE`` other than ``smoke`` or ``full``.
    """
    value = os.environ.get("ICL_SCALE", "").strip().lower()
    if not value:
        return "full" if device().type == "cuda" else "smoke"
    if value not in SCALES:
        raise ValueError(f"ICL_SCALE must be one of {SCALES}, got {value!r}")
    return value


def model_scale() -> str:
    """The size of the trained models.

    Returns
    -------
    str
        ``$ICL_MODEL_SCALE`` if set, else :func:`scale`.

    Raises
    ------
    ValueError
        ``$ICL_MODEL_SCALE`` other than ``smoke`` or ``full``.
    """
    value = os.environ.get("ICL_MODEL_SCALE", "").strip().lower()
    if not value:
        return scale()
    if value not in SCALES:
        raise ValueError(f"ICL_MODEL_SCALE must be one of {SCALES}, got {value!r}")
    return value


def settings() -> dict[str, str]:
    """The settings a chapter's numbers depend on, resolved as the chapter would resolve them.

    Returns
    -------
    dict of str to str
        ``{"ICL_SCALE": scale(), "ICL_MODEL_SCALE": model_scale(), "ICL_DTYPE": "float64" or
        "float32", "ICL_DEVICE": "cpu" or "cuda"}``.

    Notes
    -----
    Two runs with equal settings, seeds and code compute the same numbers up to round-off.
    """
    dev = device()
    return {
        "ICL_SCALE": scale(),
        "ICL_MODEL_SCALE": model_scale(),
        "ICL_DTYPE": str(dtype(dev)).removeprefix("torch."),
        "ICL_DEVICE": dev.type,
    }


def by_scale(smoke, full):
    """Choose a value by the run's scale.

    Parameters
    ----------
    smoke : object
        The value at the smoke scale.
    full : object
        The value at the full scale.

    Returns
    -------
    object
        ``smoke`` or ``full`` according to :func:`scale`.
    """
    return full if scale() == "full" else smoke


def one_thread_on_cpu() -> None:
    """On the CPU, run torch on one thread; on a GPU, do nothing.

    Notes
    -----
    For many tiny matrix products one thread beats several competing for shared cores.
    """
    if device().type == "cpu":
        torch.set_num_threads(1)


def generator(seed: int, dev: torch.device | None = None) -> torch.Generator:
    r"""A seeded ``torch.Generator``.

    Parameters
    ----------
    seed : int
        The seed, :math:`\ge 0`.
    dev : torch.device, optional
        Its device; by default :func:`device`.

    Returns
    -------
    torch.Generator
        A generator on ``dev`` seeded with ``seed``: same seed, same draws on one device.

    Raises
    ------
    ValueError
        A negative or non-integer seed, or a device that is not available.
    """
    seed = integer("seed", seed, minimum=0)
    dev = device() if dev is None else _device("dev", dev)
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(seed))
    return gen


def standard_normal(
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    r"""Independent :math:`\mathcal{N}(0, 1)` draws.

    Parameters
    ----------
    shape : tuple of int
        The shape, sizes :math:`\ge 0`.
    generator : torch.Generator or None
        The source of the draws; ``None`` draws from torch's global generator with
        ``torch.randn``.
    device : torch.device or str, optional
        Their device; by default the generator's.
    dtype : torch.dtype, optional
        float32 or float64; by default :func:`dtype` for that device.

    Returns
    -------
    torch.Tensor
        The draws, a tensor of ``shape``.

    Raises
    ------
    ValueError
        A shape that is not a tuple of integers :math:`\ge 0`, a generator on another device, a
        dtype other than float32 or float64.
    TypeError
        A generator that is not a ``torch.Generator``.

    Notes
    -----
    ``torch.randn``, except in float64 on the CPU: there numpy's ziggurat sampler, seeded with one
    63-bit draw from ``generator``, draws them (about twice torch's float64 rate on one core, whose
    Box–Muller transform calls log, sin and cos per pair). Either way the draws are a function of
    the generator's state, which they advance: one seed gives one sequence of draws per device and
    dtype.
    """
    if not isinstance(shape, tuple):
        raise ValueError(f"shape must be a tuple of integers >= 0, got {shape!r}")
    shape = tuple(integer("shape", size, minimum=0) for size in shape)
    _generator("generator", generator, required=False)
    if device is not None:
        dev = _device("device", device)
    else:
        dev = generator.device if generator is not None else _run_device()
    if generator is not None and generator.device.type != dev.type:
        raise ValueError(f"generator is on {generator.device} but device is {dev}")
    dt = _run_dtype(dev) if dtype is None else choice("dtype", dtype, tuple(DTYPES.values()))
    if generator is not None and dev.type == "cpu" and dt == torch.float64:
        seed = int(torch.randint(0, 2**63 - 1, (), generator=generator))
        return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape))
    return torch.randn(shape, generator=generator, device=dev, dtype=dt)


def processor_name() -> str:
    """The processor the simulations run on.

    Returns
    -------
    str
        The GPU's name when simulations run on CUDA, else the CPU model (from /proc/cpuinfo where
        present).
    """
    dev = device()
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        match = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        if match:
            return match.group(1).strip()
    return platform.processor() or platform.machine()


def describe_run() -> str:
    """One line naming the device, dtype, scale and versions, printed at the top of each chapter.

    Returns
    -------
    str
        The line.
    """
    dev = device()
    name = processor_name()
    return (
        f"device: {dev.type} ({name}), dtype: {str(dtype(dev)).removeprefix('torch.')}, "
        f"ICL_SCALE: {scale()}, torch {torch.__version__}, threads: {torch.get_num_threads()}"
    )


def book_root() -> Path:
    """The book's root folder.

    Returns
    -------
    pathlib.Path
        The nearest folder at or above the working directory that holds ``_config.yml``, else the
        working directory.
    """
    here = Path.cwd().resolve()
    return next(
        (folder for folder in (here, *here.parents) if (folder / "_config.yml").is_file()), here
    )


class Timer:
    """Wall-clock seconds since creation, synchronising CUDA first so GPU work is counted."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def seconds(self) -> float:
        """Seconds elapsed since the timer was created.

        Returns
        -------
        float
            The seconds, after CUDA's queued work (where CUDA is available) has finished.
        """
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter() - self._start
