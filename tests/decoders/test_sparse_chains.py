import itertools
import math

import pytest
import torch

from icl import runtime, theory
from icl.decoders.sparse_chains import (
    decode_support,
    draw_without_replacement,
    sparse_binary_chains,
    support_codes,
)


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


def _sequential_probabilities(weights: list[float], k: int) -> dict[tuple, float]:
    """Exact probability of each ordered k-tuple under k sequential draws without replacement."""
    total, law = sum(weights), {}
    for order in itertools.permutations(range(len(weights)), k):
        p, left = 1.0, total
        for i in order:
            p, left = p * weights[i] / left, left - weights[i]
        law[order] = p
    return law


def _chi_square_p_value(counts: dict, law: dict, draws: int) -> float:
    from scipy import stats

    statistic = sum((counts.get(o, 0) - draws * p) ** 2 / (draws * p) for o, p in law.items())
    assert sum(counts.values()) == sum(counts.get(o, 0) for o in law), "an impossible tuple drawn"
    return stats.chi2.sf(statistic, len(law) - 1)


def test_exponential_clocks_draw_ordered_tuples_with_the_sequential_law():
    """Each ordered 3-tuple of 5 positive weights (and one zero weight, never drawn): empirical
    frequency against the exact sequential law, per tuple (|z| <= 4.5 over 60 tuples) and by a
    chi-square test; the same counts reject the plausible wrong law P ∝ prod w_i."""
    weights, k, draws = [0.35, 0.25, 0.2, 0.12, 0.08, 0.0], 3, 200_000
    table = torch.tensor(weights, dtype=torch.float64).expand(draws, -1)
    drawn = draw_without_replacement(table, k, generator=runtime.generator(5, "cpu"))
    assert drawn.shape == (draws, k) and not bool((drawn == 5).any())
    keys, counts = torch.unique(drawn, dim=0, return_counts=True)
    counts = {tuple(key.tolist()): int(c) for key, c in zip(keys, counts, strict=True)}
    law = _sequential_probabilities(weights[:5], k)
    for order, p in law.items():
        z = (counts.get(order, 0) / draws - p) / math.sqrt(p * (1 - p) / draws)
        assert abs(z) <= 4.5, (order, z)
    assert _chi_square_p_value(counts, law, draws) > 1e-4
    product = {o: math.prod(weights[i] for i in o) for o in law}
    wrong = {o: v / sum(product.values()) for o, v in product.items()}
    assert _chi_square_p_value(counts, wrong, draws) < 1e-12


def test_draw_without_replacement_agrees_with_torch_multinomial_on_sets():
    """Unordered 2-subsets of 4 weights: clocks against torch.multinomial(replacement=False), both
    against the exact set probability (a two-sample check of the same law)."""
    weights = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64).expand(40_000, -1)
    clocks = draw_without_replacement(weights, 2, generator=runtime.generator(6, "cpu"))
    multi = torch.multinomial(weights, 2, replacement=False, generator=runtime.generator(7, "cpu"))
    for pair in itertools.combinations(range(4), 2):
        a = torch.zeros(40_000, 4).scatter_(-1, clocks, 1.0)[:, list(pair)].sum(-1).eq(2)
        b = torch.zeros(40_000, 4).scatter_(-1, multi, 1.0)[:, list(pair)].sum(-1).eq(2)
        pa, pb = a.double().mean().item(), b.double().mean().item()
        se = math.sqrt((pa * (1 - pa) + pb * (1 - pb)) / 40_000)
        assert abs(pa - pb) <= 4 * se, pair


def test_draw_without_replacement_validates():
    with pytest.raises(ValueError, match="non-negative"):
        draw_without_replacement(torch.tensor([[0.5, -0.1, 0.6]]), 2)
    with pytest.raises(ValueError, match="k must be <= d"):
        draw_without_replacement(torch.ones(2, 3), 4)


def test_draw_without_replacement_requires_a_generator_and_k_positive_weights():
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        draw_without_replacement(torch.ones(2, 3), 2)
    with pytest.raises(ValueError, match="at least k = 2 positive"):
        draw_without_replacement(torch.tensor([[1.0, 0.0, 0.0]]), 2, generator=torch.Generator())
    with pytest.raises(ValueError, match="weights must have finite entries"):
        draw_without_replacement(
            torch.tensor([[1.0, math.nan, 1.0]]), 2, generator=torch.Generator()
        )


@pytest.mark.parametrize("scale", [1e-310, 5e-324 * 7, 1e-200, 1.0, 1e300])
def test_draws_follow_the_weights_at_any_positive_scale(scale):
    """Weights (3, 1, 1, 0, 0) * scale, one draw: index 0 with probability 3/5, a zero weight never,
    at subnormal scales too (where -E / w overflows to -inf for every weight)."""
    draws = 40_000
    weights = torch.tensor([3.0, 1.0, 1.0, 0.0, 0.0], dtype=torch.float64) * scale
    drawn = draw_without_replacement(
        weights.expand(draws, -1), 2, generator=runtime.generator(9, "cpu")
    )
    assert not bool((drawn >= 3).any())
    first = (drawn[:, 0] == 0).double().mean().item()
    assert abs(first - 0.6) <= 4.5 * math.sqrt(0.6 * 0.4 / draws), first
    support = decode_support(weights.expand(draws, -1), 3, generator=runtime.generator(9, "cpu"))
    assert bool((support[:, :3] == 1).all()) and not bool(support[:, 3:].any())


def test_a_weight_far_below_the_largest_is_drawn_before_a_zero_weight():
    """(0, 1e-320, 1, 0) with k = 2: the positive weight 1e-320 (whose key -E / w overflows to
    -inf, as a zero weight's does) must be the second index, never a zero weight."""
    weights = torch.tensor([0.0, 1e-320, 1.0, 0.0], dtype=torch.float64).expand(20_000, -1)
    drawn = draw_without_replacement(weights, 2, generator=runtime.generator(4, "cpu"))
    assert bool((drawn[:, 0] == 2).all()) and bool((drawn[:, 1] == 1).all())


def test_sparse_chains_beyond_the_bounds_are_refused(draw_prompts):
    """More than 2^27 entries of chains, or weights that could overflow the dtype, are refused
    with a ValueError that names them."""
    p = draw_prompts(2, 30, 12, prior="sparse-binary", k=3, sigma2=0.0001)
    gen = runtime.generator(0, "cpu")
    with pytest.raises(ValueError, match=r"B \* n_chains \* d = "):
        sparse_binary_chains(p.X, p.y, k=3, eta=1.0, steps=2, n_chains=2**62, generator=gen)
    with pytest.raises(ValueError, match="overflow"):
        sparse_binary_chains(p.X, p.y, k=3, eta=1e307, steps=2, generator=gen)
