"""Samplers of in-context linear-regression prompts.

A prompt holds n examples (x_i, y_i) and a query x_q of one task w:

    x_i, x_q ~ N(0, I_d) i.i.d.,   y_i = <w, x_i> + sigma * eps_i,   eps_i ~ N(0, 1),

with ``sigma2 = sigma**2``. Shapes are batched over prompts: ``X`` is
``(batch, n, d)``, ``y`` is ``(batch, n)``, ``w`` is ``(batch, d)``. Every draw
uses the ``torch.Generator`` passed in, so a seed fixes the draw on a device
(``generator=None`` draws from torch's global generator: not repeatable unless seeded globally).

Priors on w (``prior=``):

- ``"gaussian"``: N(0, psi^2 I_d);
- ``"rademacher"``: uniform on {-1, +1}^d;
- ``"sparse-binary"``: a uniform k-subset of coordinates set to 1, the rest 0;
- ``"sparse-gaussian"``: a uniform k-subset with N(0, 1) entries, the rest 0.

A fixed task for every prompt (:func:`sample_prompts_for_tasks` with ``w.expand(B, -1)``) serves
the authors' prototype's sparse experiment, whose task is :func:`prototype_support`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from icl.harness import runtime
from icl.validation import choice, integer, real, tensor
from icl.validation import device as _device
from icl.validation import generator as _generator

PRIORS = ("gaussian", "rademacher", "sparse-binary", "sparse-gaussian")


@dataclass(frozen=True)
class Prompts:
    """A batch of prompts: ``X (B, n, d)``, ``y (B, n)``, ``w (B, d)``, ``x_query (B, d)``,
    ``y_query (B,)``."""

    X: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor
    x_query: torch.Tensor
    y_query: torch.Tensor


def _resolve(device, dtype, generator):
    _generator("generator", generator, required=False)
    if device is not None:
        _device("device", device)
    if dtype is not None:
        choice("dtype", dtype, (torch.float32, torch.float64))
    dev = (
        torch.device(device)
        if device is not None
        else (generator.device if generator is not None else runtime.device())
    )
    dt = dtype if dtype is not None else runtime.dtype(dev)
    if dt not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dt}")
    if generator is not None and generator.device.type != dev.type:
        raise ValueError(f"generator is on {generator.device} but device is {dev}")
    return dev, dt


def sample_weights(
    batch: int,
    d: int,
    prior: str = "gaussian",
    *,
    psi: float | None = None,
    k: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Draw ``batch`` task vectors w of dimension ``d`` from ``prior``; shape ``(batch, d)``.

    ``psi`` is the standard deviation of the ``gaussian`` prior (default 1; refused for the
    other priors, where it does not apply); ``k`` the
    number of non-zero coordinates of the sparse priors (1 <= k <= d).
    """
    batch, d = integer("batch", batch), integer("d", d)
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    if prior == "gaussian":
        psi = 1.0 if psi is None else real("psi", psi, minimum=0.0, strict=True)
    elif psi is not None:
        raise ValueError(f"psi is only used by the gaussian prior, not by {prior!r}")
    if prior.startswith("sparse"):
        if k is None:
            raise ValueError(f"prior {prior!r} needs k, the number of non-zero coordinates")
        k = integer("k", k)
        if k > d:
            raise ValueError(f"k must be <= d = {d}, got {k}")
    elif k is not None:
        raise ValueError(f"k is only used by the sparse priors, not by {prior!r}")
    dev, dt = _resolve(device, dtype, generator)
    if prior == "gaussian":
        return psi * runtime.standard_normal((batch, d), generator=generator, device=dev, dtype=dt)
    if prior == "rademacher":
        bits = torch.randint(0, 2, (batch, d), generator=generator, device=dev)
        return (2 * bits - 1).to(dt)
    support = torch.rand(batch, d, generator=generator, device=dev).topk(k, dim=1).indices
    values = torch.ones(batch, k, device=dev, dtype=dt)
    if prior == "sparse-gaussian":
        values = runtime.standard_normal((batch, k), generator=generator, device=dev, dtype=dt)
    return torch.zeros(batch, d, device=dev, dtype=dt).scatter_(1, support, values)


def sample_prompts(
    batch: int,
    n: int,
    d: int,
    *,
    prior: str = "gaussian",
    sigma2: float = 0.0,
    psi: float | None = None,
    k: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Prompts:
    """Draw ``batch`` prompts of ``n`` examples in dimension ``d`` with label-noise variance
    ``sigma2``.

    Returns :class:`Prompts`; ``y = X w + sqrt(sigma2) eps`` and likewise for the query.
    """
    n = integer("n", n)
    real("sigma2", sigma2, minimum=0.0)
    w = sample_weights(
        batch, d, prior, psi=psi, k=k, generator=generator, device=device, dtype=dtype
    )
    return sample_prompts_for_tasks(w, n, sigma2=sigma2, generator=generator)


def sample_prompts_for_tasks(
    w: torch.Tensor, n: int, *, sigma2: float = 0.0, generator: torch.Generator | None = None
) -> Prompts:
    """Draw one prompt of ``n`` examples for each given task ``w (B, d)`` (on its device and dtype),
    label-noise variance ``sigma2``.

    ``sample_prompts`` is ``sample_weights`` followed by this; a fixed task (the same ``w`` in every
    row, as the authors' prototype's sparse experiment uses) is ``w.expand(B, -1)``.
    """
    n = integer("n", n)
    sigma2 = real("sigma2", sigma2, minimum=0.0)
    if (
        not isinstance(w, torch.Tensor)
        or w.ndim != 2
        or w.dtype not in (torch.float32, torch.float64)
    ):
        raise ValueError(
            f"w must be a float32 or float64 tensor of shape (B, d), got {getattr(w, 'shape', w)}"
        )
    tensor("w", w, ndim=2)
    _generator("generator", generator, required=False)
    if generator is not None and generator.device.type != w.device.type:
        raise ValueError(f"generator is on {generator.device} but w is on {w.device}")
    (batch, d), dev, dt = w.shape, w.device, w.dtype
    X = runtime.standard_normal((batch, n + 1, d), generator=generator, device=dev, dtype=dt)
    eps = runtime.standard_normal((batch, n + 1), generator=generator, device=dev, dtype=dt)
    y = torch.einsum("bnd,bd->bn", X, w) + math.sqrt(sigma2) * eps
    return Prompts(X=X[:, :n], y=y[:, :n], w=w, x_query=X[:, n], y_query=y[:, n])


def prototype_support(d: int, k: int) -> torch.Tensor:
    """The authors' prototype's fixed task: ones at coordinates 0, s, 2s, ..., (k-1)s with s = d //
    k; shape ``(d,)``.

    For d = 50, k = 5 these are 0, 10, 20, 30, 40 (the prototype's ``w[:, ::10] = 1``), code
    2^0 + 2^10 + 2^20 + 2^30 + 2^40 under :func:`icl.decoders.sparse_chains.support_codes`.
    float64, on the CPU.
    """
    d, k = integer("d", d), integer("k", k)
    if k > d:
        raise ValueError(f"k must be <= d = {d}, got {k}")
    w = torch.zeros(d, dtype=torch.float64)
    w[torch.arange(k) * (d // k)] = 1.0
    return w
