"""Largest CPU run of the prototype's case-2 experiment (Chapter 6).

    python scripts/ch06_largest_run.py PROMPTS SAMPLES GREEDY_PROMPTS

Greedy exact recovery on GREEDY_PROMPTS prompts; then SAMPLES sampled chains on
each of PROMPTS prompts, the single-sample accuracy and the accuracy of the
majority vote (uniform tie-breaking) of the first N chains, each ± one standard
error over prompts. Settings are the prototype's: d = 50, n = 30, k = 5,
label-noise standard deviation 0.01, eta = 1/n on the undivided gradient
(``eta = 1`` here), 50 steps.
"""

import argparse
import time

import torch

from icl import montecarlo, tasks
from icl.binary_chains import majority_vote, sparse_binary_chains, support_codes

D, N_EXAMPLES, K, STEPS, SIGMA2 = 50, 30, 5, 50, 1e-4
CHUNK = 16  # prompts per call, to bound memory at SAMPLES chains each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prompts", type=int)
    parser.add_argument("samples", type=int)
    parser.add_argument("greedy_prompts", type=int)
    args = parser.parse_args()
    torch.set_num_threads(2)
    start = time.time()
    gen = montecarlo.generator(2026, "cpu")
    draw = lambda batch: tasks.sample_prompts(batch, N_EXAMPLES, D, prior="sparse-binary", k=K, sigma2=SIGMA2,
                                              generator=gen, device="cpu")
    pg = draw(args.greedy_prompts)
    greedy = (sparse_binary_chains(pg.X, pg.y, k=K, eta=1.0, steps=STEPS, greedy=True)[:, 0] == pg.w).all(-1).double()
    print(f"greedy exact recovery on {args.greedy_prompts} prompts: "
          f"{greedy.mean():.4f} ± {greedy.std() / args.greedy_prompts**0.5:.4f}", flush=True)
    p = draw(args.prompts)
    truth = support_codes(p.w)
    codes = torch.cat([support_codes(sparse_binary_chains(p.X[i:i + CHUNK], p.y[i:i + CHUNK], k=K, eta=1.0, steps=STEPS,
                                                          n_chains=args.samples, generator=gen))
                       for i in range(0, args.prompts, CHUNK)])
    same = (sparse_binary_chains(p.X, p.y, k=K, eta=1.0, steps=STEPS, greedy=True)[:, 0] == p.w).all(-1).double()
    print(f"sampled chains: {args.prompts} prompts x {args.samples} samples in {time.time() - start:.0f} s; "
          f"greedy on these prompts {same.mean():.4f}", flush=True)
    right = (codes == truth[:, None]).double()
    print(f"single sample: {right.mean():.4f} ± {right.mean(1).std() / args.prompts**0.5:.4f}")
    for n_votes in [n for n in (1, 10, 50, 100, 200, 500, 1000) if n <= args.samples]:
        vote = (majority_vote(codes[:, :n_votes], gen) == truth).double()
        print(f"vote N={n_votes:5d}: {vote.mean():.4f} ± {vote.std() / args.prompts**0.5:.4f}")
    print(f"total {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
