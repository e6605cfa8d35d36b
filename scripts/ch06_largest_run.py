"""The authors' prototype's case-2 experiment (Chapter 6) at a chosen scale, under two protocols.

    python scripts/ch06_largest_run.py [--protocol book prototype] [--prompts P] [--samples S]
                                       [--seed SEED] [--threads T] [--out FILE]

Settings are the prototype's: d = 50, n = 30, k = 5, label-noise standard deviation 0.01,
eta = 1/n on the undivided gradient (``eta = 1`` in :mod:`icl.decoders.sparse_chains`), 50 steps.
The experiment is :func:`icl.sparse_vote.run_sparse_vote`, the one Chapter 6 runs at a small scale.
Each protocol draws P prompts, runs greedy decoding and S sampled chains on each, and
reports greedy exact recovery, the single-sample accuracy and the majority vote of the
first N chains for N in 1, 10, 50, 100, 200, 500, 1000 (N <= S), each ± one standard
error over prompts:

- ``prototype``: the prototype's protocol as it was: the same support in every prompt
  (coordinates 0, 10, 20, 30, 40), answers coded sum_j w_j 2^j, and the vote
  ``scipy.stats.mode`` of the codes, which breaks ties towards the smallest code;
- ``book``: a uniformly random support per prompt and ties broken uniformly at random.

Each protocol's votes are also counted under the other tie rule, and the exact
accuracy of a vote of N answers drawn without replacement from each prompt's S stored
answers (:func:`icl.theory.subsample_vote_accuracy`, an unbiased estimate of the
expected vote accuracy) is averaged over prompts for N in ``--exact-N``, under three
tie rules (uniform, smallest code, ties lost).

Sizes default to ``ICL_SCALE``: ``full`` (the default on a GPU) is the prototype's
4096 prompts x 1000 chains; ``smoke`` is 64 prompts x 200 chains. The results go to
``--out`` as JSON, with the command, the device and the seconds taken.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
from pathlib import Path

import torch

from icl import runtime, sparse_vote
from icl.harness.montecarlo import Estimate

SETTINGS = (
    sparse_vote.SparseVoteSettings()
)  # the prototype's: d = 50, n = 30, k = 5, 50 steps, noise 0.01
VOTE_N = (1, 10, 50, 100, 200, 500, 1000)


def mean_and_se(values) -> dict:
    """Mean over prompts and its standard error (sample standard deviation / sqrt(prompts))."""
    estimate = Estimate.from_values(values)
    return {"mean": estimate.mean, "se": estimate.stderr}


def run_protocol(
    protocol: str, prompts: int, samples: int, exact_n: list[int], seed: int, chunk: int
) -> dict:
    timer = runtime.Timer()
    run = sparse_vote.run_sparse_vote(
        protocol, prompts, samples, seed, settings=SETTINGS, chunk=chunk
    )
    codes, truth = run.codes, run.truth
    print(
        f"[{protocol}] {prompts} prompts: greedy and {samples} sampled chains each "
        f"in {run.seconds:.0f} s",
        flush=True,
    )
    result = {
        "protocol": protocol,
        "tie_rule": sparse_vote.PROTOCOLS[protocol],
        "prompts": prompts,
        "samples": samples,
        "seed": seed,
        "greedy": mean_and_se(run.greedy_right()),
        "single_sample": mean_and_se(run.single_sample_right()),
        "votes": {},
        "exact_subset_votes": {ties: {} for ties in ("uniform", "smallest", "lose")},
        "chain_seconds": run.seconds,
    }
    n_votes = [N for N in VOTE_N if N <= samples]
    for ties in ("uniform", "smallest"):  # only the uniform rule draws from the generator
        won = sparse_vote.vote_wins(codes, truth, n_votes, ties, run.generator)
        result["votes"][ties] = {str(N): mean_and_se(won[N]) for N in n_votes}
    for N in n_votes:
        print(
            f"[{protocol}] vote N={N:5d}: "
            + "  ".join(
                f"{ties} {result['votes'][ties][str(N)]['mean']:.5f} "
                f"± {result['votes'][ties][str(N)]['se']:.5f}"
                for ties in ("uniform", "smallest")
            ),
            flush=True,
        )
    codes_cpu, truth_cpu = codes.cpu(), truth.cpu()
    for N in exact_n:
        for ties in ("uniform", "smallest", "lose"):
            result["exact_subset_votes"][ties][str(N)] = mean_and_se(
                sparse_vote.exact_subset_votes(codes_cpu, truth_cpu, N, ties)
            )
        print(
            f"[{protocol}] exact vote of N={N} stored answers: "
            + "  ".join(
                f"{ties} {v[str(N)]['mean']:.5f} ± {v[str(N)]['se']:.5f}"
                for ties, v in result["exact_subset_votes"].items()
            ),
            flush=True,
        )
    is_wrong, is_larger = codes_cpu != truth_cpu[:, None], codes_cpu > truth_cpu[:, None]
    result["wrong_answers_with_a_larger_code"] = {
        "pooled": float(is_larger.sum() / is_wrong.sum()),
        "per_prompt": mean_and_se((is_larger.sum(1) / is_wrong.sum(1).clamp_min(1)).double()),
    }
    result["seconds"] = timer.seconds()
    print(
        f"[{protocol}] greedy {result['greedy']['mean']:.5f} ± {result['greedy']['se']:.5f}, "
        f"single sample {result['single_sample']['mean']:.5f} "
        f"± {result['single_sample']['se']:.5f}; {result['seconds']:.0f} s",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--protocol", nargs="+", choices=("book", "prototype"), default=["book", "prototype"]
    )
    parser.add_argument("--prompts", type=int, default=runtime.by_scale(smoke=64, full=4096))
    parser.add_argument("--samples", type=int, default=runtime.by_scale(smoke=200, full=1000))
    parser.add_argument(
        "--exact-N", type=int, nargs="*", default=[2, 10], help="N of the exact subset votes"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    args = parser.parse_args()
    for name in ("prompts", "samples", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if any(N < 1 or N > args.samples for N in args.exact_N):
        parser.error(f"--exact-N values must lie in [1, --samples = {args.samples}]")
    torch.set_num_threads(args.threads)
    print(runtime.describe_run(), flush=True)
    chunk = 512 if runtime.device().type == "cuda" else 16
    timer = runtime.Timer()
    results = {
        protocol: run_protocol(
            protocol, args.prompts, args.samples, args.exact_N, args.seed + i, chunk
        )
        for i, protocol in enumerate(args.protocol)
    }
    record = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "run": runtime.describe_run(),
        "python": platform.python_version(),
        "settings": {
            "d": SETTINGS.d,
            "n": SETTINGS.n,
            "k": SETTINGS.k,
            "steps": SETTINGS.steps,
            "noise_sd": SETTINGS.noise_sd,
            "eta": SETTINGS.eta,
        },
        "seconds": timer.seconds(),
        "protocols": results,
    }
    print(f"total {record['seconds']:.0f} s", flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
