import itertools
import math

import pytest
import torch

from icl import montecarlo, tasks, theory
from icl.binary_chains import decode_support, majority_vote, sparse_binary_chains, support_codes


def small_prompts(batch=64, seed=0, n=30, d=12, k=3):
    gen = montecarlo.generator(seed, "cpu")
    return tasks.sample_prompts(batch, n, d, prior="sparse-binary", k=k, sigma2=1e-4, generator=gen, device="cpu"), gen


def test_chains_are_supports_of_size_k_and_seeded():
    p, _ = small_prompts()
    a = sparse_binary_chains(p.X, p.y, k=3, eta=1.0, steps=5, n_chains=4, generator=montecarlo.generator(1, "cpu"))
    b = sparse_binary_chains(p.X, p.y, k=3, eta=1.0, steps=5, n_chains=4, generator=montecarlo.generator(1, "cpu"))
    assert a.shape == (64, 4, 12) and torch.equal(a, b)
    assert bool(((a == 0) | (a == 1)).all()) and bool((a.sum(-1) == 3).all())


def test_greedy_chain_matches_an_explicit_loop():
    p, _ = small_prompts(batch=8)
    fast = sparse_binary_chains(p.X, p.y, k=3, eta=1.0, steps=7, greedy=True)[:, 0]
    for b in range(8):
        X, y, w = p.X[b], p.y[b], torch.zeros(12, dtype=p.X.dtype)
        for _ in range(7):
            v = (w - X.T @ (X @ w - y) / 30).clamp_min(1e-10)
            w = torch.zeros_like(w)
            w[v.topk(3).indices] = 1.0
        assert torch.equal(fast[b], w)


def test_noiseless_truth_is_a_greedy_fixed_point():
    p, _ = small_prompts()
    w = decode_support(theory.step_weights(p.X, p.y, p.w, eta=1.0), 3, greedy=True)
    assert torch.equal(w, p.w)


def test_sampled_decoding_matches_the_set_probability():
    gen = montecarlo.generator(2, "cpu")
    weights = torch.tensor([[0.4, 0.3, 0.2, 0.1]], dtype=torch.float64).expand(20000, -1)
    drawn = decode_support(weights, 2, generator=gen)
    for pair in itertools.combinations(range(4), 2):
        exact = theory.draw_set_probability(weights[:1], torch.tensor([list(pair)]))[0].item()
        freq = drawn[:, list(pair)].sum(-1).eq(2).double().mean().item()
        assert abs(freq - exact) < 4 * math.sqrt(exact * (1 - exact) / 20000)


def test_support_codes_are_unique_per_support():
    supports = torch.tensor([[1, 0, 1, 0], [0, 1, 1, 0], [1, 0, 1, 0]], dtype=torch.float64)
    codes = support_codes(supports)
    assert codes.tolist() == [5, 6, 5]


def test_majority_vote_returns_the_mode_and_breaks_ties_uniformly():
    gen = montecarlo.generator(3, "cpu")
    answers = torch.tensor([[3, 1, 3, 2], [7, 7, 7, 7], [9, 1, 1, 9]])
    assert majority_vote(answers[:2], gen).tolist() == [3, 7]
    ties = majority_vote(torch.tensor([[9, 1, 1, 9, 4, 4]]).expand(30000, -1), gen)
    for value in (1, 4, 9):
        assert abs((ties == value).double().mean().item() - 1 / 3) < 4 * math.sqrt(2 / 9 / 30000)
    assert set(majority_vote(torch.tensor([[5, 2]]).expand(1000, -1), gen).tolist()) == {2, 5}


def test_draw_set_probability_sums_to_one_over_all_sets():
    weights = torch.tensor([0.1, 0.5, 0.2, 0.15, 0.05], dtype=torch.float64)
    sets = torch.tensor(list(itertools.combinations(range(5), 3)))
    total = theory.draw_set_probability(weights.expand(len(sets), -1), sets).sum().item()
    assert total == pytest.approx(1.0)
    # order of the support does not matter
    assert theory.draw_set_probability(weights[None], torch.tensor([[0, 2, 4]])).item() == pytest.approx(
        theory.draw_set_probability(weights[None], torch.tensor([[4, 0, 2]])).item())


def test_step_weights_shapes_and_formula():
    p, _ = small_prompts(batch=4)
    w = p.w[:, None].expand(-1, 3, -1)
    out = theory.step_weights(p.X, p.y, w, eta=0.5)
    assert out.shape == (4, 3, 12)
    direct = (p.w - 0.5 * torch.einsum("bnd,bn->bd", p.X, torch.einsum("bnd,bd->bn", p.X, p.w) - p.y) / 30).clamp_min(1e-10)
    assert torch.allclose(out[:, 1], direct)


@pytest.mark.parametrize("call,match", [
    (lambda p: sparse_binary_chains(p.X, p.y, k=0, eta=1.0, steps=2), "k must"),
    (lambda p: sparse_binary_chains(p.X, p.y, k=13, eta=1.0, steps=2), "k must be <= d"),
    (lambda p: sparse_binary_chains(p.X, p.y, k=2, eta=0.0, steps=2), "eta"),
    (lambda p: sparse_binary_chains(p.X, p.y, k=2, eta=1.0, steps=0), "steps"),
    (lambda p: sparse_binary_chains(p.X, p.y, k=2, eta=1.0, steps=2, n_chains=0), "n_chains"),
    (lambda p: sparse_binary_chains(p.X, p.y, k=2, eta=1.0, steps=2, clip=0.0), "clip"),
    (lambda p: sparse_binary_chains(p.X[0], p.y, k=2, eta=1.0, steps=2), "expected X"),
    (lambda p: decode_support(torch.ones(2, 3), 4), "k must be <= d"),
    (lambda p: support_codes(torch.zeros(2, 63)), "d <= 62"),
    (lambda p: support_codes(torch.full((2, 3), 0.5)), "0s and 1s"),
    (lambda p: majority_vote(torch.zeros(3, dtype=torch.int64)), "shape"),
    (lambda p: majority_vote(torch.zeros(3, 2)), "integer codes"),
    (lambda p: theory.draw_set_probability(torch.ones(2, 4), torch.tensor([[0, 0], [1, 2]])), "distinct"),
    (lambda p: theory.draw_set_probability(torch.ones(2, 4), torch.tensor([[0, 4], [1, 2]])), "indices in"),
    (lambda p: theory.draw_set_probability(torch.ones(2, 4), torch.tensor([[0, 1]])), "expected weights"),
    (lambda p: theory.draw_set_probability(-torch.ones(1, 4), torch.tensor([[0, 1]])), "non-negative"),
    (lambda p: theory.draw_set_probability(torch.ones(1, 12), torch.arange(9)[None]), "k <="),
    (lambda p: theory.step_weights(p.X, p.y, p.w, eta=-1.0), "eta"),
    (lambda p: theory.step_weights(p.X, p.y, p.w[:, :5], eta=1.0), "expected X"),
])
def test_bad_input_raises_value_error(call, match):
    p, _ = small_prompts(batch=2)
    with pytest.raises(ValueError, match=match):
        call(p)
