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
    """The device simulations run on: ``$ICL_DEVICE`` if set, else CUDA when present, else the
    CPU."""
    name = os.environ.get("ICL_DEVICE", "").strip().lower()
    if name:
        if name not in ("cpu", "cuda"):
            raise ValueError(f"ICL_DEVICE must be 'cpu' or 'cuda', got {name!r}")
        if name == "cuda" and not torch.cuda.is_available():
            raise ValueError("ICL_DEVICE='cuda' but torch sees no CUDA device")
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def dtype(dev: torch.device | None = None) -> torch.dtype:
    """``$ICL_DTYPE`` if set, else float64 on the CPU (checks at round-off) and float32 on a GPU
    (speed)."""
    name = os.environ.get("ICL_DTYPE", "").strip().lower()
    if name:
        if name not in DTYPES:
            raise ValueError(f"ICL_DTYPE must be one of {tuple(DTYPES)}, got {name!r}")
        return DTYPES[name]
    dev = device() if dev is None else _device("dev", dev, available=False)
    return torch.float64 if dev.type == "cpu" else torch.float32


_run_device, _run_dtype = device, dtype  # for functions whose arguments take these names


def scale() -> str:
    """``$ICL_SCALE`` if set, else ``'full'`` on a GPU and ``'smoke'`` on the CPU."""
    value = os.environ.get("ICL_SCALE", "").strip().lower()
    if not value:
        return "full" if device().type == "cuda" else "smoke"
    if value not in SCALES:
        raise ValueError(f"ICL_SCALE must be one of {SCALES}, got {value!r}")
    return value


def model_scale() -> str:
    """``$ICL_MODEL_SCALE`` if set, else :func:`scale`: the size of the trained models."""
    value = os.environ.get("ICL_MODEL_SCALE", "").strip().lower()
    if not value:
        return scale()
    if value not in SCALES:
        raise ValueError(f"ICL_MODEL_SCALE must be one of {SCALES}, got {value!r}")
    return value


def settings() -> dict[str, str]:
    """The settings a chapter's numbers depend on, resolved as the chapter would resolve them:
    ``{"ICL_SCALE": scale(), "ICL_MODEL_SCALE": model_scale(), "ICL_DTYPE": "float64" or
    "float32", "ICL_DEVICE": "cpu" or "cuda"}``. Two runs with equal settings, seeds and code
    compute the same numbers up to round-off."""
    dev = device()
    return {
        "ICL_SCALE": scale(),
        "ICL_MODEL_SCALE": model_scale(),
        "ICL_DTYPE": str(dtype(dev)).removeprefix("torch."),
        "ICL_DEVICE": dev.type,
    }


def by_scale(smoke, full):
    """Return ``smoke`` or ``full`` according to :func:`scale`."""
    return full if scale() == "full" else smoke


def one_thread_on_cpu() -> None:
    """On the CPU, run torch on one thread: for many tiny matrix products one thread beats several
    competing for shared cores. Does nothing on a GPU."""
    if device().type == "cpu":
        torch.set_num_threads(1)


def generator(seed: int, dev: torch.device | None = None) -> torch.Generator:
    """A ``torch.Generator`` on ``dev`` seeded with ``seed`` (same seed, same draws on one
    device)."""
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
    """Independent N(0, 1) draws, a tensor of ``shape`` on ``device`` (default: the generator's)
    in ``dtype`` (default: :func:`dtype` for that device), from ``generator``.

    ``torch.randn``, except in float64 on the CPU: there numpy's ziggurat sampler, seeded with one
    63-bit draw from ``generator``, draws them (about twice torch's float64 rate on one core, whose
    Box–Muller transform calls log, sin and cos per pair). Either way the draws are a function of
    the generator's state, which they advance: one seed gives one sequence of draws per device and
    dtype. ``generator=None`` draws from torch's global generator with ``torch.randn``.
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
    """The GPU's name when simulations run on CUDA, else the CPU model (from /proc/cpuinfo where
    present)."""
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
    """One line naming the device, dtype, scale and versions, printed at the top of each chapter."""
    dev = device()
    name = processor_name()
    return (
        f"device: {dev.type} ({name}), dtype: {str(dtype(dev)).removeprefix('torch.')}, "
        f"ICL_SCALE: {scale()}, torch {torch.__version__}, threads: {torch.get_num_threads()}"
    )


def book_root() -> Path:
    """The nearest folder at or above the working directory that holds ``_config.yml`` (the book's
    root), else the working directory."""
    here = Path.cwd().resolve()
    return next(
        (folder for folder in (here, *here.parents) if (folder / "_config.yml").is_file()), here
    )


class Timer:
    """Wall-clock seconds since creation, synchronising CUDA first so GPU work is counted."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def seconds(self) -> float:
        """Seconds elapsed since the timer was created."""
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter() - self._start
