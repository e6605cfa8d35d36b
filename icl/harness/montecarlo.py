r"""Monte Carlo means with standard errors.

Every simulation in the book goes through :func:`estimate_mean`: it draws ``n_samples``
independent values in chunks of at most ``chunk_size`` (each chunk one vectorised call, so memory
stays bounded), and combines the chunks' means and sums of squared deviations exactly (Chan et
al.'s pairwise update) in float64. The result, an :class:`Estimate`, carries its standard error
:math:`\sqrt{\mathrm{var} / n}` (:math:`\mathrm{var}` with :math:`n - 1` degrees of freedom,
:math:`n` the ``n_samples``). Values already in hand (one per prompt, say) become an
:class:`Estimate` with :meth:`Estimate.from_values`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from icl.domain import Accuracy, Flag, Given, Integer, Real, declare
from icl.runtime import Timer, device, generator
from icl.validation import MAX_ENTRIES
from icl.validation import device as _device

FROM_VALUES_ACCURACY = Accuracy(
    relative=1e-12,
    note="given the values: the mean within 1e-12 m1 and the standard error within "
    "1e-12 (SE + m1 / sqrt(n - 1)), m1 the mean of |values|, the scale at which float64 sums "
    "round; the deviations are summed as a norm (scaled by the largest), so tiny or huge values "
    "neither underflow nor overflow",
)


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo mean with its standard error.

    Attributes
    ----------
    mean : float or numpy.ndarray
        The mean: a float for scalar samples, an array of the sample shape otherwise.
    stderr : float or numpy.ndarray
        Its standard error, likewise.
    n_samples : int
        The number of independent draws that went into it.
    seconds : float
        Wall-clock seconds: in :func:`estimate_mean`, of its loop over the chunks (the calls of
        ``sample`` and the accumulation of their mean and variance, CUDA synchronised first); in
        :meth:`from_values`, the ``seconds`` given (default 0).
    device : str
        The device type (``"cpu"``, ``"cuda"``): in :func:`estimate_mean`, that of the generator
        the draws were made with; in :meth:`from_values`, that of the values (``"cpu"`` for a
        NumPy array).
    dtype : str
        The dtype the draws came in (``"float32"``, ``"float64"``), before they are accumulated
        in float64.
    seed : int or None
        The seed of the draws.
    values : numpy.ndarray or None
        The draws themselves, shape ``(n_samples, *sample shape)`` in float64, when they were
        kept (``estimate_mean(..., keep_values=True)`` or :meth:`from_values`), else ``None``.
    """

    mean: float | np.ndarray
    stderr: float | np.ndarray
    n_samples: int
    seconds: float
    device: str
    dtype: str
    seed: int | None
    values: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    @declare(
        FROM_VALUES_ACCURACY,
        values=Real(array=True),
        seed=Given("None or an integer in [0, 2^63 - 1]"),
        seconds=Real(0.0),
    )
    def from_values(cls, values, *, seed: int | None = None, seconds: float = 0.0) -> Estimate:
        r"""An estimate from values in hand: the mean over their first axis and its standard error.

        Parameters
        ----------
        values : torch.Tensor or numpy.ndarray
            Finite numbers ``(n, *shape)``, :math:`n \ge 2`; kept in the estimate.
        seed : int, optional
            The seed they were drawn with, recorded.
        seconds : float
            The time they took, recorded.

        Returns
        -------
        Estimate
            With the device and dtype of ``values``.

        Notes
        -----
        Computed in float64: :math:`\bar v = \frac1n \sum_i v_i` and the standard error
        :math:`\mathrm{std}_{\mathrm{ddof}=1}(v) / \sqrt n`.
        """
        if torch.is_tensor(values):
            dev, dt = values.device.type, str(values.dtype).removeprefix("torch.")
            array = values.detach().cpu().double().numpy()
        else:
            array = np.asarray(values)
            dev, dt = "cpu", str(array.dtype)
            array = array.astype(np.float64)
        if seed is not None:
            seed = Integer(0).validate("seed", seed)
        if array.ndim < 1 or array.shape[0] < 2:
            raise ValueError(
                f"values must have a first axis of at least 2 draws, got shape {array.shape}"
            )
        n = array.shape[0]
        mean = _mean(array)
        stderr = _norm(array - mean) / np.sqrt(n) / np.sqrt(n - 1)
        if array.ndim == 1:
            mean, stderr = float(mean), float(stderr)
        return cls(mean, stderr, n, seconds, dev, dt, seed, array)

    def __getitem__(self, index) -> Estimate:
        """The estimate of some components of a vector- or array-valued mean (with their values).

        Parameters
        ----------
        index : int, slice or tuple
            The components, as numpy indexes the mean.

        Returns
        -------
        Estimate
            Their means, standard errors and (when kept) values.
        """
        mean, stderr = np.asarray(self.mean)[index], np.asarray(self.stderr)[index]
        if np.ndim(mean) == 0:
            mean, stderr = float(mean), float(stderr)
        index = index if isinstance(index, tuple) else (index,)
        values = None if self.values is None else self.values[(slice(None), *index)]
        return Estimate(
            mean, stderr, self.n_samples, self.seconds, self.device, self.dtype, self.seed, values
        )

    def __str__(self) -> str:
        if np.ndim(self.mean) == 0:
            return f"{self.mean:.6g} ± {self.stderr:.2g}"
        return f"{np.asarray(self.mean)} ± {np.asarray(self.stderr)}"


def _mean(array: np.ndarray) -> np.ndarray:
    """The mean over the first axis, scaled by the largest |entry| of each column so that the
    sum cannot overflow."""
    scale = np.abs(array).max(0)
    scale = np.where(scale > 0, scale, 1.0)
    return (array / scale).mean(0) * scale


def _norm(deviations: np.ndarray) -> np.ndarray:
    """sqrt(sum of squares) over the first axis, scaled by the largest |entry| of each column, so
    that no square underflows or overflows."""
    scale = np.abs(deviations).max(0)
    return np.sqrt(((deviations / np.where(scale > 0, scale, 1.0)) ** 2).sum(0)) * scale


def _tensor_norm(deviations: torch.Tensor) -> torch.Tensor:
    """:func:`_norm` of a tensor."""
    scale = deviations.abs().amax(0)
    return ((deviations / torch.where(scale > 0, scale, 1.0)) ** 2).sum(0).sqrt() * scale


def _sampler(name: str, value):
    if not callable(value):
        raise TypeError(f"{name} must be a function (batch, generator) -> tensor, got {value!r}")
    return value


@declare(
    Accuracy(
        exact=False,
        note="given the draws made, the mean and standard error of one exact pass over them "
        "(as Estimate.from_values: within 1e-12 m1 and 1e-12 (SE + m1 / sqrt(n - 1))); "
        "the chunks combine by Chan et al.'s update, each chunk's squared deviations summed as "
        "a norm, so tiny or huge draws neither underflow nor overflow",
    ),
    sample=Given(
        "a function (batch, generator) -> tensor (batch, *shape) of finite real draws",
        check=_sampler,
        bad=("x", 3),
    ),
    n_samples=Integer(2),
    seed=Integer(0),
    chunk_size=Integer(1),
    dev=Given("None (the run's device) or a device", bad=("no-such-device",)),
    keep_values=Flag(),
)
def estimate_mean(
    sample: Callable[[int, torch.Generator], torch.Tensor],
    n_samples: int,
    *,
    seed: int,
    chunk_size: int = 65536,
    dev: torch.device | None = None,
    keep_values: bool = False,
) -> Estimate:
    r"""Monte Carlo estimate of :math:`\mathbb E[f]` with its standard error.

    Parameters
    ----------
    sample : callable
        ``sample(batch, generator)`` must return a tensor of shape ``(batch, *shape)`` holding
        ``batch`` independent draws of :math:`f` (each row one draw), using only ``generator``
        for randomness. It is called with ``batch <= chunk_size`` until ``n_samples`` draws are
        made.
    n_samples : int
        The number of draws :math:`n`.
    seed : int
        Seeds the generator.
    chunk_size : int
        The largest ``batch`` of one call.
    dev : torch.device, optional
        The device of the generator (``None``: the run's device).
    keep_values : bool
        Keep the draws in the estimate (``Estimate.values``, float64, on the CPU), for example
        to pair its columns in :func:`icl.harness.claims.check_paired`.

    Returns
    -------
    Estimate
        The mean and its standard error :math:`\sqrt{s^2 / n}`, :math:`s^2` with
        :math:`n - 1` degrees of freedom.

    Notes
    -----
    Mean and variance are accumulated in float64 whatever the sample dtype; chunks of
    :math:`n_a` and :math:`n_b` draws combine by Chan et al.'s pairwise update,

    .. math::

        \bar x = \bar x_a + \delta \frac{n_b}{n_a + n_b}, \qquad
        M = M_a + M_b + \delta^2 \frac{n_a n_b}{n_a + n_b}, \qquad \delta = \bar x_b - \bar x_a,

    :math:`M` the sum of squared deviations.

    Repeatability: one ``seed``, ``chunk_size``, ``n_samples`` and device give the same bits.
    ``chunk_size`` decides how the generator's stream is cut into calls of ``sample`` (a stream
    cut differently gives other, equally distributed draws), so another chunk size gives another
    estimate of the same mean, within its standard error; with ``chunk_size >= n_samples`` the
    run is one call. Given the draws, the chunks combine exactly: the mean and standard error
    equal those of one pass over the kept values (:meth:`Estimate.from_values`) to round-off,
    whatever the chunk size.
    """
    dev = device() if dev is None else _device("dev", dev)
    gen = generator(seed, dev)
    timer = Timer()
    count, mean, root, sample_dtype, kept = 0, None, None, None, []
    while count < n_samples:
        batch = min(chunk_size, n_samples - count)
        values = sample(batch, gen)
        if not isinstance(values, torch.Tensor) or values.ndim < 1 or values.shape[0] != batch:
            raise ValueError(
                f"sample(batch, generator) must return a tensor with first dimension {batch}"
            )
        if values.dtype.is_complex or not bool(torch.isfinite(values.double()).all()):
            raise ValueError("sample(batch, generator) must return finite real values")
        if keep_values and n_samples * values[0].numel() > MAX_ENTRIES:
            raise ValueError(
                f"keep_values would keep n_samples * {values[0].numel()} = "
                f"{n_samples * values[0].numel()} draws, more than {MAX_ENTRIES} (1 GiB of "
                "float64): keep fewer samples or keep_values=False"
            )
        sample_dtype = values.dtype
        values = values.detach().to(torch.float64)
        if keep_values:
            kept.append(values.cpu())
        chunk_mean = values.mean(0)
        if not bool(torch.isfinite(chunk_mean).all()):  # the sum overflowed: scale it
            scale = values.abs().amax(0)
            chunk_mean = (values / torch.where(scale > 0, scale, 1.0)).mean(0) * scale
        chunk_root = _tensor_norm(values - chunk_mean)  # sqrt of the sum of squared deviations
        if mean is None:
            mean, root = chunk_mean, chunk_root
        else:
            delta = chunk_mean - mean
            total = count + batch
            mean = mean + delta * batch / total
            between = delta.abs() * math.sqrt(count * batch / total)
            root = torch.hypot(torch.hypot(root, chunk_root), between)
        count += batch
    seconds = timer.seconds()
    stderr = root / math.sqrt(count) / math.sqrt(count - 1)
    mean_np, se_np = mean.cpu().numpy(), stderr.cpu().numpy()
    if mean_np.ndim == 0:
        mean_np, se_np = float(mean_np), float(se_np)
    return Estimate(
        mean_np,
        se_np,
        count,
        seconds,
        dev.type,
        str(sample_dtype).removeprefix("torch."),
        int(seed),
        torch.cat(kept).numpy() if keep_values else None,
    )
