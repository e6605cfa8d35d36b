"""Largest CPU run of the prototype's case-2 experiment (Chapter 6): python scripts/ch06_largest_run.py PROMPTS SAMPLES GREEDY_PROMPTS."""
import sys
import time

import torch

from icl import tasks, montecarlo
from icl.binary_chains import sparse_binary_chains, support_codes, majority_vote
B, S, GB = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
d, n, k, steps = 50, 30, 5, 50
torch.set_num_threads(2)
t0 = time.time()
g = montecarlo.generator(2026, 'cpu')
pg = tasks.sample_prompts(GB, n, d, prior='sparse-binary', k=k, sigma2=1e-4, generator=g, device='cpu')
greedy = sparse_binary_chains(pg.X, pg.y, k=k, eta=1.0, steps=steps, greedy=True)[:, 0]
gacc = (greedy == pg.w).all(-1).double()
print(f"greedy exact recovery on {GB} prompts: {gacc.mean():.4f} ± {gacc.std()/GB**.5:.4f}", flush=True)
p = tasks.sample_prompts(B, n, d, prior='sparse-binary', k=k, sigma2=1e-4, generator=g, device='cpu')
truth = support_codes(p.w)
codes = []
for i in range(0, B, 16):
    w = sparse_binary_chains(p.X[i:i+16], p.y[i:i+16], k=k, eta=1.0, steps=steps, n_chains=S, generator=g)
    codes.append(support_codes(w))
codes = torch.cat(codes)
gr = sparse_binary_chains(p.X, p.y, k=k, eta=1.0, steps=steps, greedy=True)[:, 0]
gsame = (gr == p.w).all(-1).double()
print(f"sampled chains: {B} prompts x {S} samples in {time.time()-t0:.0f} s; greedy on these prompts {gsame.mean():.4f}", flush=True)
right = (codes == truth[:, None]).double()
print(f"single sample: {right.mean():.4f} ± {right.mean(1).std()/B**.5:.4f}")
for N in [1, 10, 50, 100, 200, 500, 1000]:
    if N > S: break
    v = (majority_vote(codes[:, :N], g) == truth).double()
    print(f"vote N={N:5d}: {v.mean():.4f} ± {v.std()/B**.5:.4f}")
print(f"total {time.time()-t0:.0f} s")
