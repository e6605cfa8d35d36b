import math

import numpy as np
import pytest
import torch

from icl import runtime, sparse_vote, tasks, theory
from icl.decoders.sparse_chains import sparse_binary_chains, support_codes
from icl.techniques import plurality_vote

SMALL = sparse_vote.SparseVoteSettings(d=10, n=12, k=2, steps=6, noise_sd=0.01, eta=1.0)


@pytest.fixture(autouse=True)
def on_the_cpu(monkeypatch):
    monkeypatch.setenv("ICL_DEVICE", "cpu")


def test_run_is_the_composition_it_describes():
    run = sparse_vote.run_sparse_vote("book", 6, 20, seed=3, settings=SMALL, greedy_prompts=9)
    gen = runtime.generator(3, "cpu")
    pg = tasks.sample_prompts(
        9, 12, 10, prior="sparse-binary", k=2, sigma2=1e-4, generator=gen, device="cpu"
    )
    p = tasks.sample_prompts(
        6, 12, 10, prior="sparse-binary", k=2, sigma2=1e-4, generator=gen, device="cpu"
    )
    codes = support_codes(
        sparse_binary_chains(p.X, p.y, k=2, eta=1.0, steps=6, n_chains=20, generator=gen)
    )
    greedy = sparse_binary_chains(pg.X, pg.y, k=2, eta=1.0, steps=6, greedy=True)[:, 0]
    assert torch.equal(run.codes, codes) and torch.equal(run.truth, support_codes(p.w))
    assert torch.equal(run.greedy_prompts.X, pg.X) and torch.equal(run.greedy_final, greedy)
    assert torch.equal(run.greedy_right(), (greedy == pg.w).all(-1).double())
    assert torch.equal(run.single_sample_right(), (codes == run.truth[:, None]).double().mean(1))
    assert torch.equal(
        torch.rand(3, generator=run.generator), torch.rand(3, generator=gen)
    )  # the same state after


def test_chunks_are_consecutive_calls_and_greedy_defaults_to_the_sampled_prompts():
    whole = sparse_vote.run_sparse_vote("prototype", 7, 15, seed=1, settings=SMALL)
    chunked = sparse_vote.run_sparse_vote("prototype", 7, 15, seed=1, settings=SMALL, chunk=3)
    gen = runtime.generator(1, "cpu")
    p = sparse_vote.draw_sparse_prompts("prototype", 7, gen, SMALL)
    calls = [
        support_codes(
            sparse_binary_chains(
                p.X[i : i + 3], p.y[i : i + 3], k=2, eta=1.0, steps=6, n_chains=15, generator=gen
            )
        )
        for i in (0, 3, 6)
    ]
    assert torch.equal(chunked.codes, torch.cat(calls)) and whole.codes.shape == (7, 15)
    assert whole.greedy_prompts is whole.prompts
    fixed = tasks.prototype_support(10, 2)
    assert torch.equal(whole.prompts.w, fixed.expand(7, -1)) and whole.prompts.w.sum(-1).eq(2).all()


def test_vote_wins_and_the_smallest_rule_draws_nothing():
    run = sparse_vote.run_sparse_vote("book", 8, 30, seed=2, settings=SMALL)
    gen, again = runtime.generator(5, "cpu"), runtime.generator(5, "cpu")
    wins = sparse_vote.vote_wins(run.codes, run.truth, [1, 5, 30], "uniform", gen)
    for N in (1, 5, 30):
        assert torch.equal(wins[N], (plurality_vote(run.codes[:, :N], again) == run.truth).double())
    state = gen.get_state()
    sparse_vote.vote_wins(run.codes, run.truth, [5, 30], "smallest", gen)
    assert torch.equal(gen.get_state(), state)


def test_exact_subset_votes_are_the_hypergeometric_sums_per_prompt():
    codes = torch.tensor([[3, 3, 7, 1, 7, 3], [2, 2, 5, 5, 5, 9]])
    truth = torch.tensor([3, 4])
    values, counts, correct = sparse_vote.answer_counts(codes[0], truth[0])
    assert values.tolist() == [1, 3, 7] and counts.tolist() == [1, 3, 2] and correct == 1
    assert sparse_vote.answer_counts(codes[1], truth[1])[2] is None
    for ties in ("uniform", "smallest", "lose"):
        exact = sparse_vote.exact_subset_votes(codes, truth, 3, ties)
        direct = theory.subsample_vote_accuracy(
            counts, 3, correct=1, ties=ties, codes=values if ties == "smallest" else None
        )
        assert exact[0] == direct and exact[1] == 0.0
    # a vote of 2 of the six answers wins outright when both are 3 (3 of the 15 pairs), and ties
    # otherwise when one is a 3: against the 1 (3 pairs) or a 7 (6 pairs)
    assert sparse_vote.exact_subset_votes(codes, truth, 2, "lose")[0] == pytest.approx(3 / 15)
    assert sparse_vote.exact_subset_votes(codes, truth, 2, "uniform")[0] == pytest.approx(
        (3 + 9 / 2) / 15
    )
    assert sparse_vote.exact_subset_votes(codes, truth, 2, "smallest")[0] == pytest.approx(
        (3 + 6) / 15
    )


def test_exact_subset_vote_against_simulated_subsets():
    run = sparse_vote.run_sparse_vote("book", 4, 40, seed=4, settings=SMALL)
    exact = sparse_vote.exact_subset_votes(run.codes, run.truth, 5, "uniform")
    gen = runtime.generator(9, "cpu")
    reps = 4000
    keys = torch.rand(4, reps, 40, generator=gen)
    subsets = run.codes.gather(1, keys.topk(5, dim=-1).indices.reshape(4, -1)).reshape(-1, 5)
    won = (
        (plurality_vote(subsets, gen) == run.truth.repeat_interleave(reps))
        .double()
        .reshape(4, reps)
        .mean(1)
    )
    se = np.sqrt(exact * (1 - exact) / reps) + 1e-12
    assert np.all(np.abs(won.numpy() - exact) < 4 * se + 1e-12)
    assert math.isclose(exact.mean(), exact.sum() / 4)


def test_bad_input():
    gen = runtime.generator(0, "cpu")
    with pytest.raises(ValueError, match="protocol"):
        sparse_vote.draw_sparse_prompts("other", 2, gen, SMALL)
    with pytest.raises(ValueError, match="prompts"):
        sparse_vote.run_sparse_vote("book", 0, 2, seed=0, settings=SMALL)
    with pytest.raises(ValueError, match="chunk"):
        sparse_vote.sampled_answer_codes(
            torch.zeros(2, 3, 4),
            torch.zeros(2, 3),
            k=1,
            eta=1.0,
            steps=1,
            samples=1,
            generator=gen,
            chunk=0,
        )


def test_runs_beyond_the_bounds_are_refused_naming_the_size():
    """More prompts than fit, or more chains' work than 2^40 multiply-adds, are refused before
    anything is drawn."""
    gen = runtime.generator(0, "cpu")
    with pytest.raises(ValueError, match=r"batch \* \(n \+ 1\) \* d"):
        sparse_vote.draw_sparse_prompts("book", 2**27, gen, SMALL)
    p = sparse_vote.draw_sparse_prompts("book", 4, gen, SMALL)
    with pytest.raises(ValueError, match=r"chunk \* samples \* d"):
        sparse_vote.sampled_answer_codes(
            p.X, p.y, k=2, eta=1.0, steps=2, samples=2**40, generator=gen
        )
    with pytest.raises(ValueError, match=r"steps \* B \* samples \* d\^2"):
        sparse_vote.sampled_answer_codes(
            p.X, p.y, k=2, eta=1.0, steps=10**6, samples=10**5, generator=gen, chunk=1
        )
