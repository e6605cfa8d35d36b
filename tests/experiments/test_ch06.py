"""The experiments of Chapter 6 at tiny sizes: shapes, seeds, and one identity each."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from icl import runtime, sparse_vote
from icl.experiments import ch06 as ex

SETTINGS = sparse_vote.SparseVoteSettings(d=8, n=6, k=2, steps=5)
SIZES = ex.Sizes(16, 6, 40, 3, (1, 2, 5, 10), 6, 20)


@pytest.fixture(scope="module")
def runs():
    return ex.run_protocols(SIZES, SETTINGS)


def test_sizes_validate_and_give_the_repeats():
    with pytest.raises(ValueError):
        ex.Sizes(16, 6, 40, 3, (1, 50), 6, 20)  # a vote of more answers than stored
    with pytest.raises(ValueError):
        ex.Sizes(16, 0, 40, 3, (1,), 6, 20)
    assert SIZES.repeats == {1: 1600, 2: 1600, 5: 1600, 10: 1600}
    assert isinstance(ex.sizes(), ex.Sizes)


def test_z_against_the_prototype_and_the_table():
    assert ex.z_against_prototype(10, ex.PROTOTYPE[10], 0.01) == 0.0
    p = ex.PROTOTYPE["greedy"]
    z = ex.z_against_prototype("greedy", p + 0.01, 0.0)
    assert z == pytest.approx(0.01 / math.sqrt(p * (1 - p) / 4096))
    table = ex.comparison_table({"a": {"greedy": (0.3, 0.01), 10: (0.0, 0.0)}})
    lines = table.splitlines()
    assert len(lines) == 3 and lines[1].startswith("greedy") and "z: no SE" in lines[2]


def test_runs_are_repeatable_and_shaped(runs):
    assert list(runs) == ["book", "prototype"]
    book = runs["book"]
    assert book.codes.shape == (SIZES.prompts, SIZES.samples)
    assert book.greedy_final.shape == (SIZES.greedy_prompts, SETTINGS.d)
    again = ex.run_protocols(SIZES, SETTINGS)
    assert torch.equal(again["book"].codes, book.codes)
    results = ex.accuracies(runs, SIZES.n_grid)
    assert list(results["book protocol"]) == ["greedy", 1, 2, 5, 10]
    assert all(0 <= mean <= 1 for mean, _ in results["prototype protocol"].values())


def test_answers_and_the_exact_vote_of_one(runs):
    book = runs["book"]
    answers = ex.answers(book.codes, book.truth)
    assert np.allclose(answers.p_truth, book.single_sample_right().numpy())
    assert all(abs(p.sum() - 1) < 1e-12 for p in answers.probabilities)
    assert np.array_equal(answers.unique_mode, answers.p_truth > answers.p_rival)
    sums = ex.vote_sums(answers, book.codes, book.truth, SIZES.n_grid, SIZES.theory_prompts)
    assert sums.considered == SIZES.prompts and sums.samples == SIZES.samples
    # a vote of one answer is right with the truth's frequency, with or without replacement
    truth_freq = answers.p_truth[sums.prompts]
    assert np.allclose(sums.with_replacement[1], truth_freq)
    assert np.allclose(sums.exact(1, False)[0], truth_freq)
    assert list(sums.wrong_formulas(1, True)) == ["N -> infinity limit 1{truth is the unique mode}"]
    assert "ties count as losses" in sums.wrong_formulas(5, False)
    assert "without replacement (hypergeometric sum)" in sums.wrong_formulas(10, True)


def test_resampling_draws_subsets_and_counts_wins():
    stored = torch.arange(12).reshape(2, 6)
    subsets = ex.random_subsets(stored, 4, 3, runtime.generator(0))
    assert subsets.shape == (6, 4)
    for row, sub in zip(stored.repeat_interleave(3, 0), subsets, strict=True):
        assert len(set(sub.tolist())) == 4 and set(sub.tolist()) <= set(row.tolist())
    drawn = ex.draws_with_replacement(stored, 5, 3, runtime.generator(0))
    assert drawn.shape == (6, 5) and bool((drawn[:3] < 6).all())
    votes = ex.resampled_votes(stored, 1, 3, runtime.generator(1), with_replacement=True)
    assert torch.equal(
        votes, ex.resampled_votes(stored, 1, 3, runtime.generator(1), with_replacement=True)
    )
    truth = torch.tensor([0, 6])
    assert ex.win_rate(truth.repeat_interleave(3), truth, 3) == (1.0, 0.0)


def test_tie_rules_agree_on_a_vote_of_one():
    codes = torch.tensor([[1, 1, 2, 3], [4, 5, 5, 6], [7, 8, 9, 9]])
    run = SimpleNamespace(codes=codes, truth=torch.tensor([1, 5, 0]))
    ties = ex.tie_sums(run, [1, 2], 3)
    assert ties.prompts == [0, 1]
    assert ties.mean("uniform", 1) == ties.mean("smallest", 1) == ties.mean("lose", 1)
    assert ties.mean("uniform", 1) == pytest.approx(1 / 3)  # (1/2 + 1/2 + 0) / 3
    assert np.allclose(ties.smaller_code, [0.0, 0.5])  # 2, 3 above 1; 4 below 5, 6 above
    assert ties.stderr("lose", 2) >= 0
    assert len(ex.tie_table(ties).splitlines()) == 3


def test_greedy_cycles_and_moves(runs):
    book = runs["book"]
    cycles = ex.greedy_cycles(book, SETTINGS)
    assert not bool((cycles.fixed & cycles.two_cycle).any())
    pg = book.greedy_prompts
    assert torch.equal(cycles.successor, ex.greedy_map(pg.X, pg.y, book.greedy_final, SETTINGS))
    assert 0 <= cycles.truth_fixed <= 1
    moves = ex.greedy_moves(book, cycles, 4, 10, runtime.generator(2), SETTINGS)
    again = ex.greedy_moves(book, cycles, 4, 10, runtime.generator(2), SETTINGS)
    for label in ("truth", "wrong-2-cycle"):
        m = moves[label]
        assert m.exact.shape == m.frequency.shape == m.independent.shape
        assert ((0 <= m.exact) & (m.exact <= 1)).all()
        assert np.array_equal(m.frequency, again[label].frequency)


def test_the_largest_stored_run_reads_as_the_chapter_quotes():
    stored = ex.read_largest_run()
    largest = ex.largest_run(stored)
    assert list(largest.results) == ["book protocol", "prototype protocol"]
    assert largest.outliers == {"prototype": [500], "book": [10]}
    assert set(largest.subset_votes("prototype", 10)) == set(ex.TIE_RULES)
    assert ex.describe_largest_run(stored).startswith(f"command: {stored['command']}")
    report = ex.exact_subset_report(largest)
    assert report.splitlines()[-1].startswith("fraction of the fixed truth's wrong answers")
