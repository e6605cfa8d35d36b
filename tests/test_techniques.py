import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from icl import runtime, techniques
from icl.decoders import answer_distribution as ad
from icl.decoders import gd_chains
from icl.techniques import plurality_vote


@pytest.fixture
def candidates(draw_prompts):
    """A factory of prompts and N noisy one-step candidates each, from one generator."""

    def draw(batch=5, n_chains=7, n=9, d=3, seed=0):
        gen = runtime.generator(seed, "cpu")
        p = draw_prompts(batch, n, d, sigma2=0.3, generator=gen)
        cand = gd_chains.sample_chains(
            p.X,
            p.y,
            eta=0.5,
            steps=1,
            n_chains=n_chains,
            noise="additive",
            level=0.4,
            generator=gen,
        )
        return p, cand

    return draw


def test_scores_against_direct_loops(candidates):
    p, cand = candidates()
    for b in range(cand.shape[0]):
        for k in range(cand.shape[1]):
            w = cand[b, k]
            assert torch.isclose(
                techniques.oracle_score(cand, p.w)[b, k], ((w - p.w[b]) ** 2).sum()
            )
            assert torch.isclose(
                techniques.in_context_loss(cand, p.X, p.y)[b, k],
                ((p.X[b] @ w - p.y[b]) ** 2).mean(),
            )
            assert torch.isclose(techniques.norm_score(cand)[b, k], (w**2).sum())


def test_in_context_loss_is_the_S_metric_distance_to_least_squares(candidates):
    p, cand = candidates(n=12, d=4)
    n = p.X.shape[1]
    S = p.X.transpose(1, 2) @ p.X / n
    w_ls = torch.linalg.solve(p.X.transpose(1, 2) @ p.X, torch.einsum("bnd,bn->bd", p.X, p.y))
    diff = cand - w_ls.unsqueeze(1)
    floor = ((torch.einsum("bnd,bd->bn", p.X, w_ls) - p.y) ** 2).mean(1, keepdim=True)
    expected = torch.einsum("bkd,bde,bke->bk", diff, S, diff) + floor
    assert torch.allclose(
        techniques.in_context_loss(cand, p.X, p.y), expected, rtol=1e-10, atol=1e-12
    )


def test_in_context_loss_of_a_shared_candidate_set(draw_prompts):
    """Chapter 7 scores one set of 2^d sign vectors for every prompt, passed as a free
    ``expand``."""
    p = draw_prompts(5, 6, 3, sigma2=1.0, prior="rademacher")
    v = torch.tensor(
        list(itertools.product([1.0, -1.0], repeat=3)), dtype=torch.float64
    )  # all 2^d sign vectors
    loss = techniques.in_context_loss(v.expand(5, -1, -1), p.X, p.y)
    b, s = 2, 5
    expected = float(((p.X[b].numpy() @ v[s].numpy() - p.y[b].numpy()) ** 2).sum() / 6)
    assert loss.shape == (5, 8) and math.isclose(loss[b, s].item(), expected, rel_tol=1e-12)
    assert torch.allclose(techniques.in_context_loss(v.expand(5, -1, -1).clone(), p.X, p.y), loss)
    with pytest.raises(ValueError, match="X"):
        techniques.in_context_loss(torch.ones(5, 8, 4), p.X, p.y)
    with pytest.raises(ValueError, match="X"):
        techniques.in_context_loss(v.expand(5, -1, -1), p.X[0], p.y)


def test_best_of_n_returns_the_argmin_candidate(candidates):
    p, cand = candidates()
    scores = techniques.oracle_score(cand, p.w)
    selected, index = techniques.best_of_n(cand, scores)
    assert selected.shape == (cand.shape[0], cand.shape[2]) and index.shape == (cand.shape[0],)
    for b in range(cand.shape[0]):
        k = int(torch.argmin(scores[b]))
        assert index[b] == k and torch.equal(selected[b], cand[b, k])


def test_best_of_n_values_against_brute_force():
    gen = torch.Generator().manual_seed(3)
    scores, values = torch.randn(6, 20, generator=gen), torch.randn(6, 20, generator=gen)
    out = techniques.best_of_n_values(scores, values)
    assert out.shape == (6, 20)
    for b in range(6):
        for N in range(1, 21):
            assert out[b, N - 1] == values[b, int(torch.argmin(scores[b, :N]))]


def test_best_of_n_with_the_oracle_is_non_increasing_in_N(candidates):
    p, cand = candidates(n_chains=50)
    loss = techniques.oracle_score(cand, p.w)
    curve = techniques.best_of_n_values(loss, loss)
    assert torch.all(curve[:, 1:] <= curve[:, :-1])


def test_errors_name_the_argument(candidates):
    p, cand = candidates()
    with pytest.raises(ValueError, match="candidates"):
        techniques.norm_score(cand[0])
    with pytest.raises(TypeError, match="candidates"):
        techniques.norm_score([[1.0]])
    with pytest.raises(ValueError, match="w must"):
        techniques.oracle_score(cand, p.w[:, :2])
    with pytest.raises(ValueError, match="X"):
        techniques.in_context_loss(cand, p.X[:, :, :2], p.y)
    with pytest.raises(ValueError, match="y"):
        techniques.in_context_loss(cand, p.X, p.y[:, :3])
    with pytest.raises(ValueError, match="scores"):
        techniques.best_of_n(cand, torch.zeros(cand.shape[0], cand.shape[1] + 1))
    with pytest.raises(ValueError, match="scores"):
        techniques.best_of_n_values(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="values"):
        techniques.best_of_n_values(torch.zeros(3, 4), torch.zeros(3, 5))


def test_plurality_vote_returns_the_mode_and_breaks_ties_uniformly():
    gen = runtime.generator(3, "cpu")
    answers = torch.tensor([[3, 1, 3, 2], [7, 7, 7, 7], [9, 1, 1, 9]])
    assert plurality_vote(answers[:2], gen).tolist() == [3, 7]
    ties = plurality_vote(torch.tensor([[9, 1, 1, 9, 4, 4]]).expand(30000, -1), gen)
    for value in (1, 4, 9):
        assert abs((ties == value).double().mean().item() - 1 / 3) < 4 * math.sqrt(2 / 9 / 30000)
    assert set(plurality_vote(torch.tensor([[5, 2]]).expand(1000, -1), gen).tolist()) == {2, 5}


def test_uniform_ties_are_uniform_whatever_the_codes():
    """A 5-way tie (plus a losing answer) among codes of very different sizes: each tied code wins
    1/5 of the time."""
    gen = runtime.generator(8, "cpu")
    row = torch.tensor([2**40, 3, 3, 2**40, 17, 17, 1, 1, 2**62 - 1, 2**62 - 1, 5])
    winners = plurality_vote(
        row[torch.randperm(len(row), generator=gen)].expand(50000, -1), gen
    ).tolist()
    tied = [1, 3, 17, 2**40, 2**62 - 1]
    assert set(winners) == set(tied)
    observed = [winners.count(code) for code in tied]
    assert stats.chisquare(observed).pvalue > 1e-3
    smallest_first = plurality_vote(row[None], ties="smallest").item()
    assert smallest_first == 1 and observed[0] < 0.25 * len(
        winners
    )  # the uniform rule is not the smallest-code rule


@pytest.mark.parametrize("alphabet,N", [(3, 4), (5, 6), (10, 10), (40, 12), (200, 30)])
def test_smallest_tie_rule_is_scipy_mode(alphabet, N):
    """On random code arrays with frequent ties, ties="smallest" picks what scipy.stats.mode
    picks."""
    gen = runtime.generator(alphabet, "cpu")
    labels = torch.randint(0, alphabet, (4000, N), generator=gen)
    codes = torch.randint(0, 2**62, (alphabet,), generator=gen)[labels]  # large, unordered codes
    counts = torch.zeros(len(codes), alphabet).scatter_add_(1, labels, torch.ones(labels.shape))
    assert (
        (counts == counts.max(1, keepdim=True).values).sum(1) > 1
    ).double().mean() > 0.2  # many ties
    expected = stats.mode(codes.numpy(), axis=1, keepdims=False).mode
    assert np.array_equal(plurality_vote(codes, ties="smallest").numpy(), expected)
    assert not np.array_equal(plurality_vote(codes, gen).numpy(), expected)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: techniques.plurality_vote(torch.zeros(3, dtype=torch.int64)), "dimensions"),
        (
            lambda: techniques.plurality_vote(torch.zeros(3, 2)),
            "answers must have an integer dtype",
        ),
        (
            lambda: techniques.plurality_vote(torch.zeros(3, 2, dtype=torch.int64), ties="lose"),
            "ties must",
        ),
    ],
)
def test_plurality_vote_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_sign_vote_and_fair_ties():
    samples = torch.tensor([[[1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]]])
    assert torch.equal(
        techniques.sign_vote(samples, torch.Generator().manual_seed(0)), torch.tensor([[1.0, -1.0]])
    )
    tie = torch.tensor([[[1.0], [-1.0]]]).expand(4000, -1, -1)
    outcome = techniques.sign_vote(tie, torch.Generator().manual_seed(0))
    assert abs(outcome.mean().item()) < 4 / 4000**0.5
    with pytest.raises(ValueError, match="samples"):
        techniques.sign_vote(samples[0], torch.Generator())


def test_vector_vote_mode_and_uniform_ties():
    a, b, c = [1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]
    samples = torch.tensor([[a, b, b, c, a, b]])
    assert torch.equal(
        techniques.vector_vote(samples, torch.Generator().manual_seed(0)), torch.tensor([b])
    )
    tie = torch.tensor([[a, b, c, b, a, c]]).expand(6000, -1, -1)  # three answers, twice each
    winners = ad.index_of(techniques.vector_vote(tie, torch.Generator().manual_seed(1)))
    frequencies = torch.bincount(winners, minlength=4).double() / 6000
    se = (1 / 3 * 2 / 3 / 6000) ** 0.5
    for answer in (a, b, c):
        assert abs(frequencies[ad.index_of(torch.tensor(answer))] - 1 / 3) < 4 * se
    with pytest.raises(ValueError, match="samples"):
        techniques.vector_vote(samples[0], torch.Generator())


def test_best_of_n_keeps_the_smallest_score():
    samples = torch.tensor([[[1.0], [-1.0], [1.0]], [[-1.0], [1.0], [1.0]]])
    scores = -torch.tensor([[0.1, 0.5, 0.2], [0.9, 0.0, 0.3]])
    assert torch.equal(
        techniques.best_of_n(samples, scores).selected, torch.tensor([[-1.0], [-1.0]])
    )
    assert techniques.best_of_n(samples, scores).index.tolist() == [1, 0]
    with pytest.raises(ValueError, match="scores"):
        techniques.best_of_n(samples, scores[:, :2])


def test_pass_at_k():
    p = torch.tensor([0.0, 0.1, 0.5, 1.0], dtype=torch.float64)
    assert torch.allclose(techniques.pass_at_k(p, 1), p)
    assert torch.allclose(techniques.pass_at_k(p, 3), 1 - (1 - p) ** 3)
    with pytest.raises(ValueError, match="k"):
        techniques.pass_at_k(p, 0)
    with pytest.raises(ValueError, match="p"):
        techniques.pass_at_k(torch.tensor([-0.1]), 2)


def test_best_of_n_accuracy_brute_force(random_log_probs):
    d, n_samples = 2, 3
    lp = random_log_probs(3, d, seed=1)
    scores = torch.randn(3, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    target = ad.sign_vectors(d, dtype=torch.float64)[torch.tensor([1, 3, 0])]
    probs = lp.exp().numpy()
    for b in range(3):
        t = int(ad.index_of(target[b]))
        total = sum(
            np.prod(probs[b][list(draw)])
            for draw in itertools.product(range(4), repeat=n_samples)
            if min(draw, key=lambda s: scores[b, s].item()) == t
        )
        assert math.isclose(
            techniques.best_of_n_accuracy(lp, scores, target, n_samples)[b].item(),
            total,
            rel_tol=1e-10,
        )
    assert torch.allclose(
        techniques.best_of_n_accuracy(lp, scores, target, 1), ad.probability_of(lp, target)
    )
    with pytest.raises(ValueError, match="scores"):
        techniques.best_of_n_accuracy(lp, scores[:, :2], target, 2)
    with pytest.raises(ValueError, match="target"):
        techniques.best_of_n_accuracy(lp, scores, target[:, :1], 2)
    with pytest.raises(ValueError, match="n_samples"):
        techniques.best_of_n_accuracy(lp, scores, target, 0)


def test_best_of_n_with_a_loss_uses_its_survival_functions(random_log_probs, draw_prompts):
    """Keeping the smallest loss L returns w w.p. P(L >= L(w))^N - P(L > L(w))^N, not F(L(w))^N -
    F^-(L(w))^N."""
    d, n_samples = 3, 4
    p = draw_prompts(6, 5, d, sigma2=1.0, prior="rademacher", seed=3)
    lp = random_log_probs(6, d, seed=4)
    loss = techniques.in_context_loss(ad.sign_vectors(d).expand(6, -1, -1), p.X, p.y)
    probs, at_w = lp.exp(), loss.gather(1, ad.index_of(p.w).unsqueeze(1))
    survival, strictly_above = (probs * (loss >= at_w)).sum(1), (probs * (loss > at_w)).sum(1)
    kept = techniques.best_of_n_accuracy(lp, loss, p.w, n_samples)
    assert torch.allclose(kept, survival**n_samples - strictly_above**n_samples, atol=1e-14)
    cdf, strictly_below = (probs * (loss <= at_w)).sum(1), (probs * (loss < at_w)).sum(1)
    assert not torch.allclose(
        kept, cdf**n_samples - strictly_below**n_samples, atol=1e-3
    )  # the loss maximised


def test_vector_vote_accuracy_3_brute_force(random_log_probs):
    d = 2
    lp = random_log_probs(3, d, seed=5)
    target = ad.sign_vectors(d, dtype=torch.float64)[torch.tensor([0, 2, 3])]
    probs = lp.exp().numpy()
    for b in range(3):
        t = int(ad.index_of(target[b]))
        total = 0.0
        for draw in itertools.product(range(4), repeat=3):
            counts = {s: draw.count(s) for s in draw}
            top = max(counts.values())
            winners = [s for s, c in counts.items() if c == top]
            total += np.prod(probs[b][list(draw)]) * (t in winners) / len(winners)
        assert math.isclose(
            techniques.vector_vote_accuracy_3(lp, target)[b].item(), total, rel_tol=1e-10
        )
    with pytest.raises(ValueError, match="target"):
        techniques.vector_vote_accuracy_3(lp, target[:, :1])


def test_nested_averages_are_running_means_of_one_sequence_of_chains(draw_prompts):
    p = draw_prompts(3, 12, 4, sigma2=0.2)
    kw = dict(eta=0.1, steps=6, noise="multiplicative", level=0.4)
    chains = gd_chains.sample_chains(
        p.X, p.y, n_chains=10, generator=runtime.generator(7, "cpu"), **kw
    )
    avgs = techniques.nested_averages(chains, [1, 3, 10])
    assert avgs.shape == (3, 3, 4)
    assert torch.allclose(avgs[:, 0], chains[:, 0])  # N = 1: the first chain
    assert torch.allclose(
        avgs[:, 1], chains[:, :3].mean(1)
    )  # N = 3: the first three, not three new ones
    assert torch.allclose(avgs[:, 2], chains.mean(1))
    assert not torch.allclose(avgs[:, 1], chains[:, 3:6].mean(1))
    for bad in ([], [0, 2], 5, [11]):
        with pytest.raises(ValueError, match="n_avg"):
            techniques.nested_averages(chains, bad)


def test_best_of_n_accuracy_of_a_rare_best_answer_has_relative_accuracy():
    """The target has the smallest score and probability 1e-20: best-of-N returns it with
    probability 1 - (1 - 1e-20)^N = N 1e-20 (to 1e-19 relative), where a^N - b^N with a = 1 and
    b = 1 - 1e-20 (= 1 in float64) cancels to 0."""
    probs = torch.tensor([[1e-20, 0.5, 0.25, 0.25 - 1e-20]], dtype=torch.float64)
    log_probs = probs.log()
    scores = torch.tensor([[0.0, 1.0, 2.0, 3.0]], dtype=torch.float64)
    target = torch.tensor([[1.0, 1.0]], dtype=torch.float64)  # row 0 of sign_vectors(2)
    for N in (1, 10, 10**6):
        value = techniques.best_of_n_accuracy(log_probs, scores, target, N).item()
        assert math.isclose(value, -math.expm1(N * math.log1p(-1e-20)), rel_tol=1e-12), (N, value)


def test_vector_vote_accuracy_3_without_cancellation():
    """p = 1e-20 and the rest nearly all on one vector: the tie term p c, c = 2 sum of products of
    distinct non-target probabilities (about 4e-12), dominates 3 p^2; the form (1 - p)^2 - (S2 -
    p^2) loses c to cancellation. Against exact fractions of the same float probabilities."""
    from fractions import Fraction

    probs = torch.tensor([[1e-20, 1.0 - 2e-12, 1e-12, 1e-12]], dtype=torch.float64)
    log_probs = probs.log()
    target = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    q = [Fraction(float(v)) for v in log_probs.exp()[0]]
    c = sum(q[i] * q[j] for i in range(1, 4) for j in range(1, 4) if i != j)
    exact = 3 * q[0] ** 2 - 2 * q[0] ** 3 + q[0] * c
    value = techniques.vector_vote_accuracy_3(log_probs, target).item()
    assert math.isclose(value, float(exact), rel_tol=1e-12), (value, float(exact))


def test_best_of_n_values_keeps_the_first_of_equal_scores_as_best_of_n():
    """Tied scores: both best-of-N functions keep the first candidate (cummin alone keeps the
    last)."""
    scores = torch.tensor([[1.0, 0.0, 0.0, 0.0, -1.0, -1.0]], dtype=torch.float64)
    values = torch.arange(6.0, dtype=torch.float64).unsqueeze(0)
    assert techniques.best_of_n_values(scores, values).tolist() == [[0.0, 1.0, 1.0, 1.0, 4.0, 4.0]]
    for N in range(1, 7):
        chosen = techniques.best_of_n(values[:, :N, None], scores[:, :N]).index.item()
        assert techniques.best_of_n_values(scores, values)[0, N - 1].item() == chosen


def test_scores_that_overflow_are_refused():
    """||w||^2 of entries of 1e200 overflows float64: a ValueError, not inf."""
    big = torch.full((1, 2, 3), 1e200, dtype=torch.float64)
    with pytest.raises(ValueError, match="overflows"):
        techniques.norm_score(big)
    with pytest.raises(ValueError, match="overflows"):
        techniques.oracle_score(big, -big[:, 0])
    with pytest.raises(ValueError, match="overflows"):
        techniques.nested_averages(big[:, :1].expand(1, 4, 3) * 1e108, [4])
