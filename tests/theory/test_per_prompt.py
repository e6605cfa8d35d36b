"""Chapter 9's closed forms: the terms given the design, the allocation and the mixture vote."""

import itertools

import numpy as np
import pytest
import torch

from icl import theory

SETTING = dict(sigma2=0.5, eta=0.1, level=0.5)


def designs(count=64, n=8, d=5, seed=0):
    return np.random.default_rng(seed).standard_normal((count, n, d))


def test_terms_average_to_the_prompt_averaged_spread_on_the_same_designs():
    X = designs(4096, seed=1)  # the draws of prompt_averaged_chain_terms(seed=1)
    s_max = np.linalg.eigvalsh(np.swapaxes(X, 1, 2) @ X / 8)[:, -1]
    kept = X[0.1 * (s_max + 0.25) <= 2]
    assert len(kept) == 4096  # every design of this sample is typical
    terms = theory.conditional_chain_terms(kept, **SETTING, steps=60)
    averaged = theory.prompt_averaged_chain_terms(8, 5, **SETTING, steps=60, designs=4096, seed=1)
    assert np.allclose(terms.trace.mean(0), averaged.trace, rtol=1e-12)
    gap = np.abs(terms.bias2.mean(0) - averaged.bias2)  # a sample mean against the exact mean
    assert np.all(gap <= 5 * terms.bias2.std(0) / np.sqrt(4096) + 1e-12)


def test_terms_start_at_the_prior_and_tend_to_ridge():
    X = designs(3)
    terms = theory.conditional_chain_terms(X, **SETTING, steps=3000, psi2=2.0)
    assert np.allclose(terms.bias2[:, 0], 2.0 * 5) and np.all(terms.trace[:, 0] == 0)
    s = np.linalg.eigvalsh(np.swapaxes(X, 1, 2) @ X / 8)
    ridge = ((2.0 * 0.25**2 + 0.5 * s / 8) / (s + 0.25) ** 2).sum(1)
    assert np.allclose(terms.bias2[:, -1], ridge, rtol=1e-12)


def test_terms_accept_a_tensor_and_a_single_design():
    X = designs(1)[0]
    a = theory.conditional_chain_terms(X, **SETTING, steps=5)
    b = theory.conditional_chain_terms(torch.as_tensor(X), **SETTING, steps=5)
    assert a.bias2.shape == (6,) and np.array_equal(a.bias2, b.bias2)


def test_a_diverging_chain_is_refused():
    with pytest.raises(ValueError, match="overflow"):
        theory.conditional_chain_terms(designs(2), sigma2=0.5, eta=3.0, level=0.5, steps=2000)


def brute_force(bias2, trace, budget):
    """The exact optimum over every integer choice, for tiny menus."""
    M, width = bias2.shape
    menus = []
    for i in range(M):
        menu = [(0, 0, bias2[i, 0])]
        menu += [
            (N * T, N, bias2[i, T] + trace[i, T] / N)
            for T in range(1, width)
            for N in range(1, int(M * budget) // T + 1)
        ]
        menus.append(menu)
    best = np.inf
    for pick in itertools.product(*menus):
        if sum(c for c, _, _ in pick) <= M * budget:
            best = min(best, sum(r for *_, r in pick) / M)
    return best


def test_allocation_is_exact_within_its_gap_and_within_budget():
    rng = np.random.default_rng(3)
    for _ in range(5):
        bias2 = np.sort(rng.uniform(0.5, 3, (3, 4)), axis=1)[:, ::-1]
        trace = np.cumsum(rng.uniform(0, 0.5, (3, 4)), axis=1) * (np.arange(4) > 0)
        budget = float(rng.integers(1, 5))
        got = theory.allocate_budget(bias2, trace, budget)
        exact = brute_force(bias2, trace, budget)
        assert got.spent <= budget + 1e-12
        assert got.lower_bound <= exact + 1e-12 <= got.risk + 1e-12
        chosen = np.where(
            got.steps > 0,
            bias2[np.arange(3), got.steps]
            + trace[np.arange(3), got.steps] / np.maximum(got.n_chains, 1),
            bias2[:, 0],
        )
        assert got.risk == pytest.approx(chosen.mean(), rel=1e-14)


def test_mixture_vote_reproduces_chen_et_al():
    p, weights = np.array([0.85, 0.35]), np.array([0.6, 0.4])
    values = theory.mixture_vote_accuracy(p, weights, np.array([1, 3, 5, 9, 31]))
    assert np.allclose(np.round(values, 3), [0.650, 0.676, 0.678, 0.665, 0.617])
    assert theory.mixture_vote_accuracy(p, weights, 4) == pytest.approx(values[1], rel=1e-14)


def test_mixture_vote_refuses_weights_that_do_not_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        theory.mixture_vote_accuracy([0.5, 0.6], [0.5, 0.6], 3)
    with pytest.raises(ValueError, match="one length"):
        theory.mixture_vote_accuracy([0.5, 0.6], [1.0], 3)
