"""Benchmark of the heavy kernels against the straightforward loop the authors' prototype uses.

For each kernel, one fixed workload is run twice in the same process: by the
``icl`` implementation (all N samples of all prompts advance together) and by
a loop over the N samples, one chain at a time (vectorised over prompts only,
as in the prototype). Both must agree in distribution: the per-prompt metric's
means are compared within their standard errors (|difference| <= 4 SE of the
difference). Reported: seconds, speed-up, throughput in chain-steps per second
and, on a GPU, the achieved FLOP rate against the device's peak when known.

    python -m icl.harness.bench                   # the prototype's d, n, N and steps on 8 prompts
    (a CPU) python -m icl.harness.bench --size prototype-wide   # the same on 64 prompts per call
    python -m icl.harness.bench --size tiny       # a seconds-long run (CI) python -m
    icl.harness.bench --json out.json   # also write the results
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from icl import experiments, tasks, techniques
from icl.decoders import gd_chains, sparse_chains
from icl.harness import runtime

# Peak dense FP32 (non-tensor-core) FLOP/s of common data-centre GPUs (SXM parts), from the vendors'
# data sheets.
PEAK_FP32_FLOPS = {"H100": 67e12, "H200": 67e12, "A100": 19.5e12}


@dataclass(frozen=True)
class Kernel:
    """A benchmarked kernel: ``batched`` and ``looped`` map (prompts, generator) to a per-prompt
    metric."""

    name: str
    description: str
    prior: str
    sizes: dict[str, dict]
    batched: Callable[[dict, tasks.Prompts, torch.Generator], torch.Tensor]
    looped: Callable[[dict, tasks.Prompts, torch.Generator], torch.Tensor]
    flops: Callable[[dict], float]

    def sample_prompts(self, p: dict, gen: torch.Generator) -> tasks.Prompts:
        """``p["batch"]`` prompts of the workload ``p`` from the kernel's prior, on the generator's
        device."""
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
    kernel: str
    size: str
    params: dict
    device: str
    seconds_batched: float
    seconds_looped: float
    speedup: float
    chain_steps_per_second: float
    gflops_per_second: float
    fraction_of_peak: float | None
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
            xi = p["level"] * torch.randn(w.shape, generator=gen, device=w.device, dtype=w.dtype)
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
    flops=lambda p: p["batch"] * p["N"] * p["steps"] * (2 * p["d"] ** 2 + 6 * p["d"]),
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
            w = w + p["tau"] * torch.randn(w.shape, generator=gen, device=w.device, dtype=w.dtype)
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
    flops=lambda p: p["batch"] * p["N"] * (p["steps"] * 2 * p["d"] ** 2 + 2 * p["n"] * p["d"]),
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
    codes = experiments.sampled_answer_codes(
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
    """The prototype's way: one chain at a time (vectorised over prompts), then the vote."""
    finals = torch.stack(
        [
            sparse_chains.sparse_binary_chains(
                prompts.X, prompts.y, k=p["k"], eta=p["eta"], steps=p["steps"], generator=gen
            )[:, 0]
            for _ in range(p["N"])
        ],
        dim=1,
    )
    return _vote_overlap(p, prompts, sparse_chains.support_codes(finals), gen)


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
    flops=lambda p: p["batch"] * p["N"] * p["steps"] * 2 * p["d"] ** 2,
)

KERNELS = {k.name: k for k in (NOISY_CHAINS, BEST_OF_N, SPARSE_VOTE)}


def _peak(dev: torch.device) -> float | None:
    if dev.type != "cuda":
        return None
    name = torch.cuda.get_device_name(dev)
    return next((peak for key, peak in PEAK_FP32_FLOPS.items() if key in name), None)


def run(kernel: Kernel, size: str, seed: int = 0) -> Result:
    """Time ``kernel`` at ``size`` both ways on the same prompts and compare their metrics."""
    if size not in kernel.sizes:
        raise ValueError(f"size must be one of {sorted(kernel.sizes)}, got {size!r}")
    p, dev = kernel.sizes[size], runtime.device()
    prompts = kernel.sample_prompts(p, runtime.generator(seed, dev))
    warm_up = dict(
        p, N=2
    )  # first calls pay for allocations and kernel selection: not part of the timing
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
    rate = kernel.flops(p) / seconds_batched
    peak = _peak(dev)
    return Result(
        kernel.name,
        size,
        p,
        f"{dev.type} ({runtime.processor_name()})",
        seconds_batched,
        seconds_looped,
        seconds_looped / seconds_batched,
        p["batch"] * p["N"] * p["steps"] / seconds_batched,
        rate / 1e9,
        rate / peak if peak else None,
        batched.mean().item(),
        looped.mean().item(),
        z,
        abs(z) <= 4,
    )


def main(argv: list[str] | None = None) -> list[Result]:
    """``python -m icl.harness.bench [--size S] [--kernel K ...] [--seed N] [--json FILE]``: run the
    kernels, print a table, and return their results."""
    parser = argparse.ArgumentParser(
        prog="python -m icl.harness.bench", description=__doc__.split("\n\n")[0]
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
        f"{'GFLOP/s':>8} "
        f"{'of peak':>8} {'metric icl':>11} {'metric loop':>11} {'z':>6}"
    )
    for r in results:
        peak = f"{r.fraction_of_peak:.1%}" if r.fraction_of_peak is not None else "–"
        print(
            f"{r.kernel:<20} {r.seconds_batched:8.3f} {r.seconds_looped:8.3f} {r.speedup:8.1f}x "
            f"{r.chain_steps_per_second:14.3g} {r.gflops_per_second:8.2f} {peak:>8} "
            f"{r.mean_batched:11.4g} {r.mean_looped:11.4g} {r.z_difference:+6.2f}"
        )
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
