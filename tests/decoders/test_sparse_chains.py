import itertools
import math

import pytest
import torch

from icl import theory
from icl.decoders.sparse_chains import decode_support, sparse_binary_chains, support_codes
from icl.harness import runtime


def test_chains_are_supports_of_size_k_and_seeded(draw_prompts):
    p = draw_prompts(64, 30, 12, prior="sparse-binary", k=3, sigma2=0.0001)
    a = sparse_binary_chains(
        p.X, p.y, k=3, eta=1.0, steps=5, n_chains=4, generator=runtime.generator(1, "cpu")
    )
    b = sparse_binary_chains(
        p.X, p.y, k=3, eta=1.0, steps=5, n_chains=4, generator=runtime.generator(1, "cpu")
    )
    assert a.shape == (64, 4, 12) and torch.equal(a, b)
    assert bool(((a == 0) | (a == 1)).all()) and bool((a.sum(-1) == 3).all())


def test_greedy_chain_matches_an_explicit_loop(draw_prompts):
    p = draw_prompts(8, 30, 12, prior="sparse-binary", k=3, sigma2=0.0001)
    fast = sparse_binary_chains(p.X, p.y, k=3, eta=1.0, steps=7, greedy=True)[:, 0]
    for b in range(8):
        X, y, w = p.X[b], p.y[b], torch.zeros(12, dtype=p.X.dtype)
        for _ in range(7):
            v = (w - X.T @ (X @ w - y) / 30).clamp_min(1e-10)
            w = torch.zeros_like(w)
            w[v.topk(3).indices] = 1.0
        assert torch.equal(fast[b], w)


def test_noiseless_truth_is_a_greedy_fixed_point(draw_prompts):
    p = draw_prompts(64, 30, 12, prior="sparse-binary", k=3, sigma2=0.0001)
    w = decode_support(theory.step_weights(p.X, p.y, p.w, eta=1.0), 3, greedy=True)
    assert torch.equal(w, p.w)


def test_sampled_decoding_matches_the_set_probability():
    gen = runtime.generator(2, "cpu")
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


def test_chains_commute_with_permutations_of_the_coordinates(draw_prompts):
    """Permuting the coordinates of a prompt permutes its greedy answer, so a fixed support is a
    random one relabelled."""
    p = draw_prompts(32, 30, 12, prior="sparse-binary", k=3, sigma2=0.0001)
    perm = torch.randperm(12, generator=runtime.generator(11, "cpu"))
    plain = sparse_binary_chains(p.X, p.y, k=3, eta=1.0, steps=20, greedy=True)[:, 0]
    permuted = sparse_binary_chains(p.X[..., perm], p.y, k=3, eta=1.0, steps=20, greedy=True)[:, 0]
    assert torch.equal(permuted, plain[:, perm])
    weights = theory.step_weights(p.X, p.y, plain, eta=1.0)
    assert torch.allclose(
        theory.step_weights(p.X[..., perm], p.y, plain[:, perm], eta=1.0), weights[:, perm]
    )


@pytest.mark.parametrize(
    "call,match",
    [
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
    ],
)
def test_bad_input_raises_value_error(call, match, draw_prompts):
    p = draw_prompts(2, 30, 12, prior="sparse-binary", k=3, sigma2=0.0001)
    with pytest.raises(ValueError, match=match):
        call(p)
