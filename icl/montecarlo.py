"""Device, dtype and scale choice, and chunked Monte Carlo means with standard errors.

Every simulation in the book goes through :func:`estimate_mean`: it draws
``n_samples`` independent values in chunks of at most ``chunk_size`` (each chunk
one vectorised call, so memory stays bounded), and combines the chunks' means
and sums of squared deviations exactly (Chan et al.'s pairwise update) in
float64. The result carries its standard error ``sqrt(var / n_samples)``.

Environment variables:

``ICL_SCALE``
    ``smoke`` (default without a GPU: every chapter in well under a minute on
    two CPU cores) or ``full`` (default with a GPU: the paper's sizes).
``ICL_DEVICE``
    ``cpu`` or ``cuda`` to override the automatic choice (CUDA when present).
"""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from icl.validation import integer

SCALES = ("smoke", "full")


def device() -> torch.device:
    """The device simulations run on: ``$ICL_DEVICE`` if set, else CUDA when present, else the CPU."""
    name = os.environ.get("ICL_DEVICE", "").strip().lower()
    if name:
        if name not in ("cpu", "cuda"):
            raise ValueError(f"ICL_DEVICE must be 'cpu' or 'cuda', got {name!r}")
        if name == "cuda" and not torch.cuda.is_available():
            raise ValueError("ICL_DEVICE='cuda' but torch sees no CUDA device")
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def dtype(dev: torch.device | None = None) -> torch.dtype:
    """float64 on the CPU (checks at round-off), float32 on a GPU (speed)."""
    dev = device() if dev is None else torch.device(dev)
    return torch.float64 if dev.type == "cpu" else torch.float32


def scale() -> str:
    """``$ICL_SCALE`` if set, else ``'full'`` on a GPU and ``'smoke'`` on the CPU."""
    value = os.environ.get("ICL_SCALE", "").strip().lower()
    if not value:
        return "full" if device().type == "cuda" else "smoke"
    if value not in SCALES:
        raise ValueError(f"ICL_SCALE must be one of {SCALES}, got {value!r}")
    return value


def by_scale(smoke, full):
    """Return ``smoke`` or ``full`` according to :func:`scale`."""
    return full if scale() == "full" else smoke


def generator(seed: int, dev: torch.device | None = None) -> torch.Generator:
    """A ``torch.Generator`` on ``dev`` seeded with ``seed`` (same seed, same draws on one device)."""
    seed = integer("seed", seed, minimum=0)
    dev = device() if dev is None else torch.device(dev)
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(seed))
    return gen


def processor_name() -> str:
    """The GPU's name when simulations run on CUDA, else the CPU model (from /proc/cpuinfo where present)."""
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


class Timer:
    """Wall-clock seconds since creation, synchronising CUDA first so GPU work is counted."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def seconds(self) -> float:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter() - self._start


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo mean with its standard error.

    ``mean`` and ``stderr`` are floats for scalar samples and arrays of the
    sample shape otherwise; ``n_samples`` independent draws went into it.
    """

    mean: float | np.ndarray
    stderr: float | np.ndarray
    n_samples: int
    seconds: float
    device: str
    dtype: str
    seed: int

    def __getitem__(self, index) -> Estimate:
        """The estimate of one component of a vector-valued mean."""
        return Estimate(float(np.asarray(self.mean)[index]), float(np.asarray(self.stderr)[index]),
                        self.n_samples, self.seconds, self.device, self.dtype, self.seed)

    def __str__(self) -> str:
        if np.ndim(self.mean) == 0:
            return f"{self.mean:.6g} ± {self.stderr:.2g}"
        return f"{np.asarray(self.mean)} ± {np.asarray(self.stderr)}"


def estimate_mean(
    sample: Callable[[int, torch.Generator], torch.Tensor],
    n_samples: int,
    *,
    seed: int,
    chunk_size: int = 65536,
    dev: torch.device | None = None,
) -> Estimate:
    """Monte Carlo estimate of E[f] with its standard error.

    ``sample(batch, generator)`` must return a tensor of shape ``(batch, *shape)``
    holding ``batch`` independent draws of f (each row one draw), using only
    ``generator`` for randomness. It is called with ``batch <= chunk_size``
    until ``n_samples`` draws are made. Mean and variance are accumulated in
    float64 whatever the sample dtype.
    """
    n_samples = integer("n_samples", n_samples)
    chunk_size = integer("chunk_size", chunk_size)
    dev = device() if dev is None else torch.device(dev)
    gen = generator(seed, dev)
    timer = Timer()
    count, mean, m2, sample_dtype = 0, None, None, None
    while count < n_samples:
        batch = min(chunk_size, n_samples - count)
        values = sample(batch, gen)
        if not isinstance(values, torch.Tensor) or values.ndim < 1 or values.shape[0] != batch:
            raise ValueError(f"sample(batch, generator) must return a tensor with first dimension {batch}")
        sample_dtype = values.dtype
        values = values.detach().to(torch.float64)
        chunk_mean = values.mean(0)
        chunk_m2 = ((values - chunk_mean) ** 2).sum(0)
        if mean is None:
            mean, m2 = chunk_mean, chunk_m2
        else:
            delta = chunk_mean - mean
            total = count + batch
            mean = mean + delta * batch / total
            m2 = m2 + chunk_m2 + delta**2 * count * batch / total
        count += batch
    seconds = timer.seconds()
    var = m2 / max(count - 1, 1)
    mean_np, se_np = mean.cpu().numpy(), torch.sqrt(var / count).cpu().numpy()
    if mean_np.ndim == 0:
        mean_np, se_np = float(mean_np), float(se_np)
    return Estimate(mean_np, se_np, count, seconds, dev.type, str(sample_dtype).removeprefix("torch."), int(seed))
