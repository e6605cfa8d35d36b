import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from icl import tasks, theory
from icl.harness import runtime
from icl.binary_chains import decode_support, majority_vote, prototype_support, sparse_binary_chains, support_codes


def small_prompts(batch=64, seed=0, n=30, d=12, k=3):
    gen = runtime.generator(seed, "cpu")
    return tasks.sample_prompts(batch, n, d, prior="sparse-binary", k=k, sigma2=1e-4, generator=gen, device="cpu"), gen


def test_chains_are_supports_of_size_k_and_seeded():
    p, _ = small_prompts()
    a = sparse_binary_chains(p.X, p.y, k=3, eta=1.0, steps=5, n_chains=4, generator=runtime.generator(1, "cpu"))
    b = sparse_binary_chains(p.X, p.y, k=3, eta=1.0, steps=5, n_chains=4, generator=runtime.generator(1, "cpu"))
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


def test_majority_vote_returns_the_mode_and_breaks_ties_uniformly():
    gen = runtime.generator(3, "cpu")
    answers = torch.tensor([[3, 1, 3, 2], [7, 7, 7, 7], [9, 1, 1, 9]])
    assert majority_vote(answers[:2], gen).tolist() == [3, 7]
    ties = majority_vote(torch.tensor([[9, 1, 1, 9, 4, 4]]).expand(30000, -1), gen)
    for value in (1, 4, 9):
        assert abs((ties == value).double().mean().item() - 1 / 3) < 4 * math.sqrt(2 / 9 / 30000)
    assert set(majority_vote(torch.tensor([[5, 2]]).expand(1000, -1), gen).tolist()) == {2, 5}


def test_uniform_ties_are_uniform_whatever_the_codes():
    """A 5-way tie (plus a losing answer) among codes of very different sizes: each tied code wins 1/5 of the time."""
    gen = runtime.generator(8, "cpu")
    row = torch.tensor([2**40, 3, 3, 2**40, 17, 17, 1, 1, 2**62 - 1, 2**62 - 1, 5])
    winners = majority_vote(row[torch.randperm(len(row), generator=gen)].expand(50000, -1), gen).tolist()
    tied = [1, 3, 17, 2**40, 2**62 - 1]
    assert set(winners) == set(tied)
    observed = [winners.count(code) for code in tied]
    assert stats.chisquare(observed).pvalue > 1e-3
    smallest_first = majority_vote(row[None], ties="smallest").item()
    assert smallest_first == 1 and observed[0] < 0.25 * len(winners)  # the uniform rule is not the smallest-code rule


@pytest.mark.parametrize("alphabet,N", [(3, 4), (5, 6), (10, 10), (40, 12), (200, 30)])
def test_smallest_tie_rule_is_scipy_mode(alphabet, N):
    """On random code arrays with frequent ties, ties="smallest" picks what scipy.stats.mode picks."""
    gen = runtime.generator(alphabet, "cpu")
    labels = torch.randint(0, alphabet, (4000, N), generator=gen)
    codes = torch.randint(0, 2**62, (alphabet,), generator=gen)[labels]  # large, unordered codes
    counts = torch.zeros(len(codes), alphabet).scatter_add_(1, labels, torch.ones(labels.shape))
    assert ((counts == counts.max(1, keepdim=True).values).sum(1) > 1).double().mean() > 0.2  # many ties
    expected = stats.mode(codes.numpy(), axis=1, keepdims=False).mode
    assert np.array_equal(majority_vote(codes, ties="smallest").numpy(), expected)
    assert not np.array_equal(majority_vote(codes, gen).numpy(), expected)


def brute_vote(counts_of, weight_of, n_answers, N, correct, ties, codes):
    """Sum over every tally of N answers of weight_of(tally) times the vote's chance of picking ``correct``."""
    total = 0.0
    for tally in itertools.product(range(N + 1), repeat=n_answers):
        if sum(tally) != N or not counts_of(tally):
            continue
        top = max(tally)
        tied = [a for a in range(n_answers) if tally[a] == top]
        if correct not in tied:
            continue
        if ties == "uniform":
            win = 1 / len(tied)
        elif ties == "lose":
            win = float(len(tied) == 1)
        else:
            win = float(min(tied, key=lambda a: codes[a]) == correct)
        total += weight_of(tally) * win
    return total


@pytest.mark.parametrize("probs,codes,N", [([0.3, 0.3, 0.2, 0.2], [8, 2, 5, 11], 6), ([0.1, 0.3, 0.3, 0.3], [4, 1, 9, 2], 7),
                                           ([0.25] * 4, [3, 0, 2, 1], 4), ([0.5, 0.25, 0.25], [9, 8, 10], 5)])
def test_smallest_tie_rule_exact_vote_against_brute_force(probs, codes, N):
    def multinomial(tally):
        return math.factorial(N) * np.prod([p**c / math.factorial(c) for p, c in zip(probs, tally)])

    for correct in range(len(probs)):
        exact = {ties: theory.plurality_vote_accuracy(probs, N, correct=correct, ties=ties,
                                                      codes=np.array(codes) if ties == "smallest" else None)
                 for ties in ("uniform", "lose", "smallest")}
        for ties, value in exact.items():
            assert value == pytest.approx(brute_vote(lambda t: True, multinomial, len(probs), N, correct, ties, codes), abs=1e-10)
        assert exact["lose"] <= exact["smallest"] + 1e-12
        if codes[correct] == min(codes):
            assert exact["smallest"] > exact["uniform"]
        if codes[correct] == max(codes):
            assert exact["smallest"] < exact["uniform"]


@pytest.mark.parametrize("counts,codes,N", [([3, 2, 2, 1], [7, 1, 9, 4], 4), ([2, 1, 1, 1, 1], [3, 2, 5, 1, 4], 5), ([4, 4, 1], [2, 1, 0], 6)])
def test_smallest_tie_rule_exact_subset_vote_against_brute_force(counts, codes, N):
    S = sum(counts)

    def hypergeometric(tally):
        return np.prod([math.comb(c, t) for c, t in zip(counts, tally)]) / math.comb(S, N)

    for correct in range(len(counts)):
        exact = theory.subsample_vote_accuracy(np.array(counts), N, correct=correct, ties="smallest", codes=np.array(codes))
        assert exact == pytest.approx(brute_vote(lambda t: all(a <= c for a, c in zip(t, counts)), hypergeometric,
                                                 len(counts), N, correct, "smallest", codes), abs=1e-10)


def test_smallest_tie_rule_exact_vote_against_simulated_votes():
    """Many rare answers, as in Chapter 6: simulated votes with ties="smallest" match the exact sum, not the uniform one."""
    probs = np.r_[0.03, np.full(97, 0.01)]
    codes = np.r_[40, np.arange(97) + (np.arange(97) >= 40)]  # the correct answer has 40 smaller rivals and 57 larger ones
    N, reps = 10, 40000
    gen = runtime.generator(9, "cpu")
    draws = torch.multinomial(torch.tensor(probs), reps * N, replacement=True, generator=gen).reshape(reps, N)
    won = (majority_vote(torch.tensor(codes)[draws], ties="smallest") == 40).double().mean().item()
    exact = theory.plurality_vote_accuracy(probs, N, ties="smallest", codes=codes)
    se = math.sqrt(exact * (1 - exact) / reps)
    assert abs(won - exact) < 4 * se
    assert abs(won - theory.plurality_vote_accuracy(probs, N)) > 8 * se


def test_prototype_support_is_every_tenth_coordinate():
    w = prototype_support(50, 5)
    assert w.nonzero()[:, 0].tolist() == [0, 10, 20, 30, 40]
    assert support_codes(w).item() == 1 + 2**10 + 2**20 + 2**30 + 2**40
    assert prototype_support(12, 5).nonzero()[:, 0].tolist() == [0, 2, 4, 6, 8]


def test_chains_commute_with_permutations_of_the_coordinates():
    """Permuting the coordinates of a prompt permutes its greedy answer, so a fixed support is a random one relabelled."""
    p, _ = small_prompts(batch=32)
    perm = torch.randperm(12, generator=runtime.generator(11, "cpu"))
    plain = sparse_binary_chains(p.X, p.y, k=3, eta=1.0, steps=20, greedy=True)[:, 0]
    permuted = sparse_binary_chains(p.X[..., perm], p.y, k=3, eta=1.0, steps=20, greedy=True)[:, 0]
    assert torch.equal(permuted, plain[:, perm])
    weights = theory.step_weights(p.X, p.y, plain, eta=1.0)
    assert torch.allclose(theory.step_weights(p.X[..., perm], p.y, plain[:, perm], eta=1.0), weights[:, perm])


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
    (lambda p: majority_vote(torch.zeros(3, 2, dtype=torch.int64), ties="lose"), "ties must"),
    (lambda p: prototype_support(4, 5), "k must be <= d"),
    (lambda p: prototype_support(0, 1), "d must"),
    (lambda p: theory.plurality_vote_accuracy([0.5, 0.5], 3, ties="smallest"), "codes must be given"),
    (lambda p: theory.plurality_vote_accuracy([0.5, 0.5], 3, codes=np.array([1, 2])), "codes must be given"),
    (lambda p: theory.plurality_vote_accuracy([0.5, 0.5], 3, ties="smallest", codes=np.array([1, 1])), "distinct integers"),
    (lambda p: theory.plurality_vote_accuracy([0.5, 0.5], 3, ties="smallest", codes=np.array([1.0, 2.0])), "distinct integers"),
    (lambda p: theory.subsample_vote_accuracy(np.array([2, 1]), 2, ties="smallest", codes=np.array([1, 2, 3])), "distinct integers"),
    (lambda p: theory.subsample_vote_accuracy(np.array([2, 1]), 2, ties="first"), "ties must"),
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
