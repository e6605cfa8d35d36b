"""Benchmark of the heavy kernels against the straightforward loop the authors' prototype uses,
and against the machine's measured limit for the same work (a roofline).

For each kernel, one fixed workload is run twice in the same process: by the
``icl`` implementation (all N samples of all prompts advance together) and by
a loop over the N samples, one chain at a time (vectorised over prompts only,
as in the prototype). Both must agree in distribution: the per-prompt metric's
means are compared within their standard errors (``|difference| <= 4 SE`` of the
difference).

The roofline: each kernel's batched implementation does a known amount of primitive work
(:class:`Work`): batched matrix products of given shapes, a count of random variates (normal
or exponential) and, on a GPU, a count of bytes through memory. The same run measures the
machine's rate for each primitive at those same shapes and counts (a batched product of the
same shape repeated, variates drawn in tensors of the same shape, and on a GPU a large
device-to-device copy for the memory bandwidth). The *limit* is the time the slowest of
these needs for the kernel's work, and the *fraction of the limit* is that time over the
kernel's own: 100 % means the kernel runs as fast as its slowest primitive alone allows.
Reported: seconds, speed-up over the loop, throughput in chain-steps per second, GFLOP/s,
the limit and the fraction of it. Commands::

    python -m icl.bench                   # the prototype's d, n, N and steps on 8 prompts
    python -m icl.bench --size prototype-wide   # the same on 64 prompts per call
    python -m icl.bench --size tiny       # a seconds-long run (CI)
    python -m icl.bench --size full       # the paper's 4096 prompts (a GPU)
    python -m icl.bench --json out.json   # also write the results
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

import torch

from icl import runtime, sparse_vote, tasks, techniques
from icl.decoders import gd_chains, sparse_chains
from icl.validation import choice, device, integer, module

LAWS = ("normal", "exponential")


@dataclass(frozen=True)
class Work:
    r"""The primitive work of one batched run of a kernel.

    Parameters
    ----------
    gemms : dict of tuple to int
        A batched product's shape ``(batch, rows, inner, cols)`` (a ``(batch, rows, inner) @
        (batch, inner, cols)`` product, :math:`2 \cdot \mathrm{batch} \cdot \mathrm{rows} \cdot
        \mathrm{inner} \cdot \mathrm{cols}` flops) to how many such products the run does.
    variates : int
        Random variates drawn.
    variate_shape : tuple of int
        The shape of the tensors they are drawn in.
    law : {"normal", "exponential"}
        Their law.
    passes : int
        Tensors of the chain state's size that go through memory per draw (the GPU's
        memory-traffic count).

    Raises
    ------
    ValueError
        Sizes or counts that are not positive integers, an unknown law.
    TypeError
        A ``variate_shape`` that is not a non-empty tuple.
    """

    gemms: dict[tuple[int, int, int, int], int]
    variates: int
    variate_shape: tuple[int, ...]
    law: str
    passes: int

    def __post_init__(self) -> None:
        if not isinstance(self.gemms, dict):
            raise TypeError(
                f"gemms must be a dict of (batch, rows, inner, cols) -> count, got {self.gemms!r}"
            )
        for shape, count in self.gemms.items():
            if not isinstance(shape, tuple) or len(shape) != 4:
                raise ValueError(f"gemms' keys must be (batch, rows, inner, cols), got {shape!r}")
            for size in shape:
                integer("gemms' sizes", size)
            integer("gemms' counts", count)
        integer("variates", self.variates)
        if not isinstance(self.variate_shape, tuple) or not self.variate_shape:
            raise TypeError(f"variate_shape must be a tuple of sizes, got {self.variate_shape!r}")
        for size in self.variate_shape:
            integer("variate_shape's sizes", size)
        choice("law", self.law, LAWS)
        integer("passes", self.passes)

    def flops(self) -> float:
        r"""Flops of the matrix products.

        Returns
        -------
        float
            :math:`\sum 2 \cdot \mathrm{batch} \cdot \mathrm{rows} \cdot \mathrm{inner} \cdot
            \mathrm{cols} \cdot \mathrm{count}` over ``gemms``.
        """
        return float(sum(2 * math.prod(shape) * count for shape, count in self.gemms.items()))


@dataclass(frozen=True)
class Kernel:
    """A benchmarked kernel.

    Parameters
    ----------
    name : str
        Its name, as ``--kernel`` takes it.
    description : str
        What it computes, printed under the table.
    prior : str
        The tasks' prior of its prompts.
    sizes : dict of str to dict
        Each size's workload ``p`` (``"batch"`` prompts, ``"N"`` samples, ``"steps"``, ...).
    batched, looped : callable
        Map (workload, prompts, generator) to a per-prompt metric: the ``icl`` implementation and
        the loop over the :math:`N` samples.
    work : callable
        A workload's primitive :class:`Work`.
    """

    name: str
    description: str
    prior: str
    sizes: dict[str, dict]
    batched: Callable[[dict, tasks.Prompts, torch.Generator], torch.Tensor]
    looped: Callable[[dict, tasks.Prompts, torch.Generator], torch.Tensor]
    work: Callable[[dict], Work]

    def sample_prompts(self, p: dict, gen: torch.Generator) -> tasks.Prompts:
        """The prompts of a workload, from the kernel's prior, on the generator's device.

        Parameters
        ----------
        p : dict
            The workload; ``p["batch"]`` prompts.
        gen : torch.Generator
            The source of the draws.

        Returns
        -------
        icl.tasks.Prompts
            The prompts.
        """
        k = p["k"] if self.prior.startswith("sparse") else None
        return tasks.sample_prompts(
            p["batch"],
            p["n"],
            p["d"],
            prior=self.prior,
            k=k,
            sigma2=p["sigma2"],
            generator=gen,
            device=gen.device,
            dtype=runtime.dtype(gen.device),
        )


@dataclass(frozen=True)
class Result:
    r"""One kernel's benchmark at one size (:func:`run`).

    Attributes
    ----------
    kernel : str
        The kernel's name.
    size : str
        The size.
    params : dict
        The workload.
    device : str
        The device type and the processor's name.
    seconds_batched : float
        The seconds of the ``icl`` implementation.
    seconds_looped : float
        The seconds of the loop.
    speedup : float
        ``seconds_looped / seconds_batched``.
    chain_steps_per_second : float
        :math:`B N T` over ``seconds_batched``.
    gflops_per_second : float
        The batched run's GFLOP/s.
    limit_seconds : float
        The limit: the seconds the slowest primitive needs for the kernel's work.
    bound : str
        That primitive: ``"gemm"``, ``"variates"`` or ``"memory"``.
    fraction_of_limit : float
        ``limit_seconds / seconds_batched``.
    limits : dict
        :func:`measured_limits`' seconds and rates.
    mean_batched : float
        The per-prompt metric's mean, ``icl`` implementation.
    mean_looped : float
        The per-prompt metric's mean, loop.
    z_difference : float
        The mean paired difference over its standard error.
    agree : bool
        :math:`|z| \le 4`.
    """

    kernel: str
    size: str
    params: dict
    device: str
    seconds_batched: float
    seconds_looped: float
    speedup: float
    chain_steps_per_second: float
    gflops_per_second: float
    limit_seconds: float
    bound: str
    fraction_of_limit: float
    limits: dict
    mean_batched: float
    mean_looped: float
    z_difference: float
    agree: bool


# --- noisy chains (Chapter 3): N multiplicative-noise GD chains per prompt, risk of their mean ---


def _chains_batched(p: dict, prompts: tasks.Prompts, gen: torch.Generator) -> torch.Tensor:
    chains = gd_chains.sample_chains(
        prompts.X,
        prompts.y,
        eta=p["eta"],
        steps=p["steps"],
        n_chains=p["N"],
        noise="multiplicative",
        level=p["level"],
        generator=gen,
    )
    return ((chains.mean(1) - prompts.w) ** 2).sum(-1)


def _chains_looped(p: dict, prompts: tasks.Prompts, gen: torch.Generator) -> torch.Tensor:
    """The prototype's way: one chain at a time, a Python loop over the N samples and over the
    steps."""
    X, y = prompts.X, prompts.y
    n = X.shape[1]
    total = torch.zeros_like(prompts.w)
    for _ in range(p["N"]):
        w = torch.zeros_like(prompts.w)
        for _ in range(p["steps"]):
            grad = torch.einsum("bnd,bn->bd", X, torch.einsum("bnd,bd->bn", X, w) - y) / n
            xi = p["level"] * runtime.standard_normal(w.shape, generator=gen, dtype=w.dtype)
            w = w - p["eta"] * (grad + (xi * w).sum(-1, keepdim=True) * xi)
        total += w
    return ((total / p["N"] - prompts.w) ** 2).sum(-1)


NOISY_CHAINS = Kernel(
    name="noisy-chains",
    prior="sparse-gaussian",
    description="average of N multiplicative-noise GD chains (Chapter 3); metric: its risk",
    sizes={
        "tiny": dict(batch=64, N=16, steps=20, d=10, n=12, k=3, sigma2=0.1, eta=0.1, level=0.7),
        "prototype": dict(
            batch=8, N=1000, steps=200, d=50, n=30, k=5, sigma2=0.1, eta=0.03, level=0.3
        ),
        "prototype-wide": dict(
            batch=64, N=1000, steps=20, d=50, n=30, k=5, sigma2=0.1, eta=0.03, level=0.3
        ),
        "full": dict(
            batch=4096, N=1000, steps=1000, d=50, n=30, k=5, sigma2=0.1, eta=0.03, level=0.3
        ),
    },
    batched=_chains_batched,
    looped=_chains_looped,
    # a step: w_next = shift + w @ step, z ~ N(0, I), w_next -= c (z . w) z; memory: w read twice,
    # z written and read twice, w_next written and updated
    work=lambda p: Work(
        gemms={(p["batch"], p["N"], p["d"], p["d"]): p["steps"]},
        variates=p["batch"] * p["N"] * p["d"] * p["steps"],
        variate_shape=(p["batch"], p["N"], p["d"]),
        law="normal",
        passes=7,
    ),
)

# --- best-of-N (Chapter 4): N noisy candidates per prompt, the in-context loss as reward ---


def _best_of_n_batched(p: dict, prompts: tasks.Prompts, gen: torch.Generator) -> torch.Tensor:
    candidates = gd_chains.sample_chains(
        prompts.X,
        prompts.y,
        eta=p["eta"],
        steps=p["steps"],
        n_chains=p["N"],
        noise="additive",
        level=p["tau"],
        generator=gen,
    )
    selected = techniques.best_of_n(
        candidates, techniques.in_context_loss(candidates, prompts.X, prompts.y)
    ).selected
    return ((selected - prompts.w) ** 2).sum(-1)


def _best_of_n_looped(p: dict, prompts: tasks.Prompts, gen: torch.Generator) -> torch.Tensor:
    """The prototype's way: draw the N candidates one at a time and keep the best so far."""
    X, y = prompts.X, prompts.y
    n = X.shape[1]
    best, best_score = torch.zeros_like(prompts.w), torch.full_like(prompts.w[:, 0], math.inf)
    for _ in range(p["N"]):
        w = torch.zeros_like(prompts.w)
        for _ in range(p["steps"]):
            w = (
                w
                - p["eta"] * torch.einsum("bnd,bn->bd", X, torch.einsum("bnd,bd->bn", X, w) - y) / n
            )
            w = w + p["tau"] * runtime.standard_normal(w.shape, generator=gen, dtype=w.dtype)
        score = ((torch.einsum("bnd,bd->bn", X, w) - y) ** 2).mean(-1)
        better = score < best_score
        best = torch.where(better.unsqueeze(-1), w, best)
        best_score = torch.where(better, score, best_score)
    return ((best - prompts.w) ** 2).sum(-1)


BEST_OF_N = Kernel(
    name="best-of-n",
    prior="gaussian",
    description="best of N additive-noise candidates by in-context loss (Chapter 4); metric: risk",
    sizes={
        "tiny": dict(batch=128, N=32, steps=1, d=4, n=12, sigma2=0.5, eta=0.7, tau=0.5),
        "prototype": dict(batch=8, N=1000, steps=10, d=50, n=40, sigma2=0.5, eta=0.2, tau=0.05),
        "prototype-wide": dict(
            batch=64, N=1000, steps=10, d=50, n=40, sigma2=0.5, eta=0.2, tau=0.05
        ),
        "full": dict(batch=4096, N=1000, steps=10, d=50, n=40, sigma2=0.5, eta=0.2, tau=0.05),
    },
    batched=_best_of_n_batched,
    looped=_best_of_n_looped,
    # a step: w_next = shift + w @ step, w_next += tau z; then the in-context loss X w - y
    work=lambda p: Work(
        gemms={
            (p["batch"], p["N"], p["d"], p["d"]): p["steps"],
            (p["batch"], p["N"], p["d"], p["n"]): 1,
        },
        variates=p["batch"] * p["N"] * p["d"] * p["steps"],
        variate_shape=(p["batch"], p["N"], p["d"]),
        law="normal",
        passes=5,
    ),
)

# --- sparse binary chains with a majority vote (Chapter 6) ---


def _vote_overlap(
    p: dict, prompts: tasks.Prompts, codes: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """|vote's support ∩ true support| / k for each prompt (1 exactly when the vote recovers w)."""
    vote = techniques.plurality_vote(codes, generator=gen)
    bits = (vote.unsqueeze(-1) >> torch.arange(p["d"], device=vote.device)) & 1
    return (bits * prompts.w).sum(-1).double() / p["k"]


def _sparse_vote_batched(p: dict, prompts: tasks.Prompts, gen: torch.Generator) -> torch.Tensor:
    codes = sparse_vote.sampled_answer_codes(
        prompts.X,
        prompts.y,
        k=p["k"],
        eta=p["eta"],
        steps=p["steps"],
        samples=p["N"],
        generator=gen,
    )
    return _vote_overlap(p, prompts, codes, gen)


def _sparse_vote_looped(p: dict, prompts: tasks.Prompts, gen: torch.Generator) -> torch.Tensor:
    """The prototype's way: one chain at a time (vectorised over prompts), each step a GD step,
    clipped, normalised and decoded by ``torch.multinomial`` without replacement; then the
    vote."""
    X, y = prompts.X, prompts.y
    n = X.shape[1]
    finals = []
    for _ in range(p["N"]):
        w = torch.zeros_like(prompts.w)
        for _ in range(p["steps"]):
            grad = torch.einsum("bnd,bn->bd", X, torch.einsum("bnd,bd->bn", X, w) - y) / n
            v = (w - p["eta"] * grad).clamp_min(1e-10)
            drawn = torch.multinomial(v / v.sum(-1, keepdim=True), p["k"], generator=gen)
            w = torch.zeros_like(w).scatter_(-1, drawn, 1.0)
        finals.append(w)
    return _vote_overlap(p, prompts, sparse_chains.support_codes(torch.stack(finals, 1)), gen)


SPARSE_VOTE = Kernel(
    name="sparse-binary-vote",
    prior="sparse-binary",
    description=(
        "plurality vote of N sampled sparse binary chains (Chapter 6's experiment); "
        "metric: overlap of the vote with the truth"
    ),
    sizes={
        "tiny": dict(batch=256, N=16, steps=10, d=10, n=12, k=2, sigma2=0.01, eta=1.0),
        "prototype": dict(batch=8, N=1000, steps=50, d=50, n=30, k=5, sigma2=0.01, eta=1.0),
        "prototype-wide": dict(batch=64, N=1000, steps=50, d=50, n=30, k=5, sigma2=0.01, eta=1.0),
        "full": dict(batch=4096, N=1000, steps=50, d=50, n=30, k=5, sigma2=0.01, eta=1.0),
    },
    batched=_sparse_vote_batched,
    looped=_sparse_vote_looped,
    # a step: v = w - eta (w @ gram - xty), clipped; E ~ Exp(1); the k smallest E / v; scatter
    work=lambda p: Work(
        gemms={(p["batch"], p["N"], p["d"], p["d"]): p["steps"]},
        variates=p["batch"] * p["N"] * p["d"] * p["steps"],
        variate_shape=(p["batch"], p["N"], p["d"]),
        law="exponential",
        passes=9,
    ),
)

KERNELS = {k.name: k for k in (NOISY_CHAINS, BEST_OF_N, SPARSE_VOTE)}


def _seconds_per_call(call: Callable[[], object], calls: int, budget: float = 0.3) -> float:
    """The machine's best seconds per call of ``call``: one warm-up call, then up to ``calls``
    timed calls (stopping once ``budget`` seconds have passed), the fastest of them."""
    call()
    best, spent = math.inf, 0.0
    for _ in range(calls):
        timer = runtime.Timer()
        call()
        seconds = timer.seconds()
        best, spent = min(best, seconds), spent + seconds
        if spent > budget:
            break
    return best


def measured_limits(work: Work, dev: torch.device, dtype: torch.dtype, seed: int = 0) -> dict:
    """The seconds the machine needs for a run's primitives, each measured here at the same shapes
    and counts.

    Parameters
    ----------
    work : Work
        The primitive work.
    dev : torch.device
        The device.
    dtype : torch.dtype
        The dtype.
    seed : int
        Seeds the measurements' draws.

    Returns
    -------
    dict
        ``gemm`` (the batched products, run as ``baddbmm``), ``variates`` (drawn in tensors of
        ``work.variate_shape``) and, on a GPU, ``memory`` (``work.passes`` passes over the variates'
        size at the bandwidth of a 256 MiB device-to-device copy); with the rates measured
        (``gemm_gflops``, ``variates_per_second``, ``memory_gb_per_second``).
    """
    module("work", work, Work)
    dev = device("dev", dev)
    dtype = choice("dtype", dtype, (torch.float32, torch.float64))
    seed = integer("seed", seed, minimum=0)
    gen = runtime.generator(seed, dev)
    limits: dict[str, float] = {"gemm": 0.0}
    for (batch, rows, inner, cols), count in work.gemms.items():
        a = torch.randn(batch, rows, inner, generator=gen, device=dev, dtype=dtype)
        b = torch.randn(batch, inner, cols, generator=gen, device=dev, dtype=dtype)
        c = torch.randn(batch, 1, cols, generator=gen, device=dev, dtype=dtype)
        limits["gemm"] += count * _seconds_per_call(partial(torch.baddbmm, c, a, b), count)
    out = torch.empty(work.variate_shape, device=dev, dtype=dtype)
    if work.law == "normal":  # as the kernels draw them
        draw = partial(runtime.standard_normal, work.variate_shape, generator=gen, dtype=dtype)
    else:  # by inversion, -log U: the fastest way torch draws exponentials on a CPU

        def draw():
            return out.uniform_(generator=gen).log_()

    draws = max(1, work.variates // out.numel())
    limits["variates"] = draws * _seconds_per_call(draw, draws)
    if work.flops():
        limits["gemm_gflops"] = work.flops() / limits["gemm"] / 1e9
    limits["variates_per_second"] = work.variates / limits["variates"]
    if dev.type == "cuda":
        source = torch.empty(2**28 // torch.finfo(dtype).bits * 8, device=dev, dtype=dtype)
        target = torch.empty_like(source)
        copy = _seconds_per_call(lambda: target.copy_(source), 20)
        rate = 2 * source.numel() * source.element_size() / copy
        traffic = work.passes * work.variates * torch.finfo(dtype).bits / 8
        limits["memory"] = traffic / rate
        limits["memory_gb_per_second"] = rate / 1e9
    return limits


def run(kernel: Kernel, size: str, seed: int = 0) -> Result:
    r"""Time a kernel at a size both ways on the same prompts and compare their metrics.

    Parameters
    ----------
    kernel : Kernel
        The kernel.
    size : str
        One of ``kernel.sizes``.
    seed : int
        Seeds the prompts (``seed``) and the two runs' draws (``seed + 1``, ``seed + 2``).

    Returns
    -------
    Result
        Seconds, speed-up, throughput, GFLOP/s, the limit and the fraction of it, and the
        comparison.

    Raises
    ------
    ValueError
        An unknown size.

    Notes
    -----
    Both implementations run once untimed first (allocations and kernel selection). With the paired
    per-prompt differences :math:`\Delta_b` of the metric, :math:`z = \bar\Delta / (s_\Delta /
    \sqrt{B})`; the two agree when :math:`|z| \le 4`.
    """
    if size not in kernel.sizes:
        raise ValueError(f"size must be one of {sorted(kernel.sizes)}, got {size!r}")
    p, dev = kernel.sizes[size], runtime.device()
    prompts = kernel.sample_prompts(p, runtime.generator(seed, dev))
    # first calls pay for allocations and kernel selection: not part of the timing
    warm_up = dict(p, N=2)
    for implementation in (kernel.batched, kernel.looped):
        implementation(warm_up, prompts, runtime.generator(seed, dev))
    timer = runtime.Timer()
    batched = kernel.batched(p, prompts, runtime.generator(seed + 1, dev)).double()
    seconds_batched = timer.seconds()
    timer = runtime.Timer()
    looped = kernel.looped(p, prompts, runtime.generator(seed + 2, dev)).double()
    seconds_looped = timer.seconds()
    # Same prompts, independent noise: compare the paired per-prompt differences.
    diff = batched - looped
    se = diff.std().item() / math.sqrt(len(diff)) if len(diff) > 1 else math.inf
    z = diff.mean().item() / se if se > 0 else 0.0
    work = kernel.work(p)
    limits = measured_limits(work, dev, runtime.dtype(dev), seed)
    bound = max(("gemm", "variates", "memory"), key=lambda key: limits.get(key, 0.0))
    return Result(
        kernel.name,
        size,
        p,
        f"{dev.type} ({runtime.processor_name()})",
        seconds_batched,
        seconds_looped,
        seconds_looped / seconds_batched,
        p["batch"] * p["N"] * p["steps"] / seconds_batched,
        work.flops() / seconds_batched / 1e9,
        limits[bound],
        bound,
        limits[bound] / seconds_batched,
        limits,
        batched.mean().item(),
        looped.mean().item(),
        z,
        abs(z) <= 4,
    )


def main(argv: list[str] | None = None) -> list[Result]:
    """The command line: ``python -m icl.bench [--size S] [--kernel K ...] [--seed N] [--json
    FILE]``.

    Runs the kernels and prints a table.

    Parameters
    ----------
    argv : list of str, optional
        The arguments; by default the command line's.

    Returns
    -------
    list of Result
        The kernels' results.
    """
    parser = argparse.ArgumentParser(
        prog="python -m icl.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--size", default="prototype", help="tiny | prototype | prototype-wide | full (for a GPU)"
    )
    parser.add_argument("--kernel", action="append", choices=sorted(KERNELS), help="default: all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    results = [run(KERNELS[name], args.size, args.seed) for name in (args.kernel or KERNELS)]
    print(
        f"{'kernel':<20} {'icl s':>8} {'loop s':>8} {'speed-up':>9} {'chain-steps/s':>14} "
        f"{'GFLOP/s':>8} {'limit s':>8} {'bound':>9} {'of limit':>9} "
        f"{'metric icl':>11} {'metric loop':>11} {'z':>6}"
    )
    for r in results:
        print(
            f"{r.kernel:<20} {r.seconds_batched:8.3f} {r.seconds_looped:8.3f} {r.speedup:8.1f}x "
            f"{r.chain_steps_per_second:14.3g} {r.gflops_per_second:8.2f} "
            f"{r.limit_seconds:8.3f} {r.bound:>9} {r.fraction_of_limit:9.1%} "
            f"{r.mean_batched:11.4g} {r.mean_looped:11.4g} {r.z_difference:+6.2f}"
        )
    for r in results:
        rates = ", ".join(f"{key} {value:.3g}" for key, value in r.limits.items() if "_" in key)
        print(f"  {r.kernel}: measured here for its work: {rates}")
    for name in args.kernel or KERNELS:
        print(f"  {name}: {KERNELS[name].description}")
    print(
        f"size {args.size!r} on {results[0].device}; "
        "the two implementations agree in distribution: "
        f"{all(r.agree for r in results)}"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([asdict(r) for r in results], fh, indent=1)
    return results


if __name__ == "__main__":
    main()
