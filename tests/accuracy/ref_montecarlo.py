"""References for :mod:`icl.harness.montecarlo`: the mean and standard error of the same values at
40 digits (mpmath), and for :func:`estimate_mean` the draws regenerated from the seed and chunk
size (the documented stream) plus a z-test of the mean against the sampler's exact mean."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import torch

from icl import runtime
from tests.accuracy import Reference, register

DIGITS = 40


def exact_mean_and_stderr(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of ``values (n, ...)``: the mean and std(ddof=1) / sqrt(n) at 40 digits."""
    n = values.shape[0]
    columns = values.reshape(n, -1).T
    means, errors = [], []
    with mpmath.workdps(DIGITS):
        for column in columns:
            entries = [mpmath.mpf(float(v)) for v in column]
            mean = mpmath.fsum(entries) / n
            m2 = mpmath.fsum((v - mean) ** 2 for v in entries)
            means.append(float(mean))
            errors.append(float(mpmath.sqrt(m2 / (n * (n - 1)))))
    shape = values.shape[1:]
    return np.array(means).reshape(shape), np.array(errors).reshape(shape)


def error_in_units(values: np.ndarray, mean, stderr) -> float:
    """The error of (mean, stderr) against the exact ones in units of the declared accuracy:
    1e-12 m1 for the mean, 1e-12 (SE + m1 / sqrt(n - 1)) for the standard error."""
    n = values.shape[0]
    exact_mean, exact_se = exact_mean_and_stderr(values)
    top = np.abs(values).max(0)
    m1 = (np.abs(values) / np.where(top > 0, top, 1.0)).mean(0) * top  # no overflow
    worst = 0.0
    for value, exact, allowed in (
        (mean, exact_mean, 1e-12 * m1),
        (stderr, exact_se, 1e-12 * (exact_se + m1 / math.sqrt(n - 1))),
    ):
        value, exact, allowed = np.broadcast_arrays(np.asarray(value, float), exact, allowed)
        gap = np.abs(value - exact)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(gap == 0, 0.0, gap / allowed)
        worst = max(worst, float(np.nan_to_num(ratio, nan=math.inf).max()))
    return worst


def _values(rng: np.random.Generator) -> np.ndarray:
    """n values (n from 2 to 20,000, log-uniform), one column or a few: centre c and spread s at
    independent scales 10^-300 .. 10^300 (a spread far below the centre included), or all equal."""
    n = int(np.exp(rng.uniform(math.log(2), math.log(20_000))))
    shape = (n,) if rng.random() < 0.6 else (n, int(rng.integers(1, 4)))
    centre = rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-300, 300)
    spread = 10.0 ** rng.uniform(-300, 300) if rng.random() < 0.9 else 0.0
    if rng.random() < 0.3:
        centre = 0.0
    return centre + spread * rng.standard_normal(shape)


def _from_values_inputs(rng: np.random.Generator) -> dict:
    values = _values(rng)
    if rng.random() < 0.3:  # a tensor, float32 where it fits
        fits = np.abs(values).max() < 1e37 and np.abs(values).max() > 1e-30
        values = torch.from_numpy(values).to(torch.float32 if fits else torch.float64)
    return {"values": values}


def _compare_from_values(kwargs: dict, value) -> float:
    values = kwargs["values"]
    values = values.double().numpy() if torch.is_tensor(values) else np.asarray(values, float)
    return error_in_units(values, value.mean, value.stderr)


register(
    Reference(
        "icl.harness.montecarlo.Estimate.from_values",
        "mean and standard error of the same values at 40 digits (mpmath)",
        compare=_compare_from_values,
        draw=_from_values_inputs,
        cases=(
            {"values": np.array([1e-200, 3e-200, 2e-200])},  # squares underflow float64
            {"values": np.array([1e300, -1e300, 1.7e308])},  # the sum overflows float64
            {"values": np.array([1e12 + 1e-4, 1e12, 1e12 - 1e-4, 1e12])},  # spread << centre
            {"values": np.full((5, 2), 0.1)},  # all equal: SE 0
        ),
    )
)


class Normal:
    """A sampler of ``loc + scale * z`` draws, shape ``(batch, *shape)`` (z ~ N(0, 1) in
    ``dtype``), whose exact mean is ``loc``; its repr is its parameters."""

    def __init__(self, loc: float, scale: float, shape: tuple, dtype: torch.dtype):
        self.loc, self.scale, self.shape, self.dtype = loc, scale, shape, dtype

    def __call__(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn((batch, *self.shape), generator=generator, dtype=torch.float64)
        return (self.loc + self.scale * z).to(self.dtype)

    def __repr__(self) -> str:
        return f"Normal(loc={self.loc:g}, scale={self.scale:g}, shape={self.shape}, {self.dtype})"


def _estimate_inputs(rng: np.random.Generator) -> dict:
    n = int(np.exp(rng.uniform(math.log(2), math.log(20_000))))
    chunk = int(np.exp(rng.uniform(math.log(max(1, n // 2000)), math.log(2 * n))))
    scale = 10.0 ** rng.uniform(-250, 250)
    loc = 0.0 if rng.random() < 0.3 else scale * 10.0 ** rng.uniform(-3, 6)
    fits = 1e-30 < scale < 1e30 and abs(loc) < 1e30
    dtype = torch.float32 if fits and rng.random() < 0.3 else torch.float64
    shape = () if rng.random() < 0.6 else (int(rng.integers(1, 4)),)
    return {
        "sample": Normal(loc, scale, shape, dtype),
        "n_samples": n,
        "seed": int(rng.integers(0, 2**63 - 1)),
        "chunk_size": chunk,
        "dev": "cpu",
        "keep_values": bool(rng.integers(2)),
    }


def _compare_estimate(kwargs: dict, value) -> float:
    """The estimate against one exact pass over the same draws (regenerated: one seed and chunk
    size give the same stream of calls), and its mean against the sampler's exact mean, |z| / 5
    with the exact standard error scale / sqrt(n) (for a float32 sampler, loc rounded to
    float32)."""
    sample, n, chunk = kwargs["sample"], kwargs["n_samples"], kwargs["chunk_size"]
    gen = runtime.generator(kwargs["seed"], "cpu")
    draws, made = [], 0
    while made < n:
        batch = min(chunk, n - made)
        draws.append(sample(batch, gen).double())
        made += batch
    values = torch.cat(draws).numpy()
    if kwargs["keep_values"] and not np.array_equal(value.values, values):
        return math.inf
    exact = error_in_units(values, value.mean, value.stderr)
    loc = float(torch.tensor(sample.loc, dtype=sample.dtype))
    sd = sample.scale / math.sqrt(n)  # the exact standard error of the mean of n draws
    z = np.abs(np.asarray(value.mean, float) - loc) / sd
    return max(exact, float(np.max(z)) / 5)


register(
    Reference(
        "icl.harness.montecarlo.estimate_mean",
        "the same draws regenerated, mean and SE at 40 digits; mean against the exact mean (z/5)",
        compare=_compare_estimate,
        draw=_estimate_inputs,
        cases=(
            {  # draws of 1e-200: their squares underflow float64
                "sample": Normal(0.0, 1e-200, (), torch.float64),
                "n_samples": 1000,
                "seed": 1,
                "chunk_size": 77,
                "dev": "cpu",
                "keep_values": False,
            },
            {  # draws of 1e306: chunk sums and squares overflow float64
                "sample": Normal(1e306, 1e306, (2,), torch.float64),
                "n_samples": 500,
                "seed": 2,
                "chunk_size": 200,
                "dev": "cpu",
                "keep_values": True,
            },
            {  # two draws, one chunk each
                "sample": Normal(3.0, 2.0, (), torch.float32),
                "n_samples": 2,
                "seed": 3,
                "chunk_size": 1,
                "dev": "cpu",
                "keep_values": False,
            },
        ),
    )
)
