import itertools
import math

import pytest
import torch

from icl import rewards, tasks
from icl.harness import runtime
from icl.decoding import sample_chains


def _setup(batch=5, n_chains=7, n=9, d=3, seed=0):
    gen = runtime.generator(seed, "cpu")
    p = tasks.sample_prompts(batch, n, d, sigma2=0.3, generator=gen, device="cpu", dtype=torch.float64)
    cand = sample_chains(p.X, p.y, eta=0.5, steps=1, n_chains=n_chains, noise="additive", level=0.4, generator=gen)
    return p, cand


def test_scores_against_direct_loops():
    p, cand = _setup()
    for b in range(cand.shape[0]):
        for k in range(cand.shape[1]):
            w = cand[b, k]
            assert torch.isclose(rewards.oracle_score(cand, p.w)[b, k], ((w - p.w[b]) ** 2).sum())
            assert torch.isclose(rewards.in_context_loss(cand, p.X, p.y)[b, k], ((p.X[b] @ w - p.y[b]) ** 2).mean())
            assert torch.isclose(rewards.norm_score(cand)[b, k], (w**2).sum())


def test_in_context_loss_is_the_S_metric_distance_to_least_squares():
    p, cand = _setup(n=12, d=4)
    n = p.X.shape[1]
    S = p.X.transpose(1, 2) @ p.X / n
    w_ls = torch.linalg.solve(p.X.transpose(1, 2) @ p.X, torch.einsum("bnd,bn->bd", p.X, p.y))
    diff = cand - w_ls.unsqueeze(1)
    floor = ((torch.einsum("bnd,bd->bn", p.X, w_ls) - p.y) ** 2).mean(1, keepdim=True)
    expected = torch.einsum("bkd,bde,bke->bk", diff, S, diff) + floor
    assert torch.allclose(rewards.in_context_loss(cand, p.X, p.y), expected, rtol=1e-10, atol=1e-12)


def test_in_context_loss_of_a_shared_candidate_set():
    """Chapter 7 scores one set of 2^d sign vectors for every prompt, passed as a free ``expand``."""
    p = tasks.sample_prompts(5, 6, 3, prior="rademacher", sigma2=1.0, generator=runtime.generator(0, "cpu"),
                             device="cpu", dtype=torch.float64)
    v = torch.tensor(list(itertools.product([1.0, -1.0], repeat=3)), dtype=torch.float64)  # all 2^d sign vectors
    loss = rewards.in_context_loss(v.expand(5, -1, -1), p.X, p.y)
    b, s = 2, 5
    expected = float(((p.X[b].numpy() @ v[s].numpy() - p.y[b].numpy()) ** 2).sum() / 6)
    assert loss.shape == (5, 8) and math.isclose(loss[b, s].item(), expected, rel_tol=1e-12)
    assert torch.allclose(rewards.in_context_loss(v.expand(5, -1, -1).clone(), p.X, p.y), loss)
    with pytest.raises(ValueError, match="X"):
        rewards.in_context_loss(torch.ones(5, 8, 4), p.X, p.y)
    with pytest.raises(ValueError, match="X"):
        rewards.in_context_loss(v.expand(5, -1, -1), p.X[0], p.y)


def test_select_best_returns_the_argmin_candidate():
    p, cand = _setup()
    scores = rewards.oracle_score(cand, p.w)
    selected, index = rewards.select_best(cand, scores)
    assert selected.shape == (cand.shape[0], cand.shape[2]) and index.shape == (cand.shape[0],)
    for b in range(cand.shape[0]):
        k = int(torch.argmin(scores[b]))
        assert index[b] == k and torch.equal(selected[b], cand[b, k])


def test_best_of_n_values_against_brute_force():
    gen = torch.Generator().manual_seed(3)
    scores, values = torch.randn(6, 20, generator=gen), torch.randn(6, 20, generator=gen)
    out = rewards.best_of_n_values(scores, values)
    assert out.shape == (6, 20)
    for b in range(6):
        for N in range(1, 21):
            assert out[b, N - 1] == values[b, int(torch.argmin(scores[b, :N]))]


def test_best_of_n_with_the_oracle_is_non_increasing_in_N():
    p, cand = _setup(n_chains=50)
    loss = rewards.oracle_score(cand, p.w)
    curve = rewards.best_of_n_values(loss, loss)
    assert torch.all(curve[:, 1:] <= curve[:, :-1])


def test_errors_name_the_argument():
    p, cand = _setup()
    with pytest.raises(ValueError, match="candidates"):
        rewards.norm_score(cand[0])
    with pytest.raises(ValueError, match="candidates"):
        rewards.norm_score([[1.0]])
    with pytest.raises(ValueError, match="w must"):
        rewards.oracle_score(cand, p.w[:, :2])
    with pytest.raises(ValueError, match="X"):
        rewards.in_context_loss(cand, p.X[:, :, :2], p.y)
    with pytest.raises(ValueError, match="y"):
        rewards.in_context_loss(cand, p.X, p.y[:, :3])
    with pytest.raises(ValueError, match="scores"):
        rewards.select_best(cand, torch.zeros(cand.shape[0], cand.shape[1] + 1))
    with pytest.raises(ValueError, match="scores"):
        rewards.best_of_n_values(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="values"):
        rewards.best_of_n_values(torch.zeros(3, 4), torch.zeros(3, 5))
