"""Chapter 9: hard and easy prompts, and where test-time compute should go.

Two worlds of prompts for Chapter 3's multiplicative-noise chains (``d = 5``, ``eta = 0.1``,
noise level ``0.5``): prompts that differ only through their Gaussian design (Chapter 8's ``n =
8``, ``sigma2 = 0.5``, ``psi2 = 1``), and a stated mixture of 27 kinds of prompt (``n``,
``sigma2`` and ``psi2`` each one of three values). For each prompt the exact terms
``b_t(X), v_t(X)`` (:func:`icl.theory.conditional_chain_terms`); from them the three ways of
spending a budget (one split for all, each prompt its own split, an adaptive allocation) and the
compute-efficiency ratio. The votes' section: Chen et al.'s mixture and Chapter 5's coordinate
vote.

The chapter: ``book/ch09_hard_and_easy_prompts.md``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from icl import runtime, theory, validation
from icl.decoders.gd_chains import sample_chains

Sampler = Callable[[int, torch.Generator], torch.Tensor]
D, ETA, LEVEL = 5, 0.1, 0.5
CHAPTER_8 = ((8, 0.5, 1.0),)
"""World (i): one kind of prompt, (n, sigma2, psi2) of Chapter 8."""
CHAPTER_8_PARAMS = dict(n=8, d=D, sigma2=0.5, eta=ETA, level=LEVEL)
"""World (i)'s setting, as a check records it."""
MIXTURE = tuple(itertools.product((4, 8, 32), (0.1, 0.5, 2.0), (0.25, 1.0, 4.0)))
"""World (ii): 27 equally likely kinds (n, sigma2, psi2)."""


@dataclass(frozen=True)
class PromptTerms:
    """The exact terms of every prompt of a sample, with the kind each prompt is of.

    Attributes
    ----------
    bias2, trace : numpy.ndarray
        ``b_t(X_i)`` and ``v_t(X_i)``, shape ``(M, T_max + 1)``.
    designs : list of numpy.ndarray
        The design of each prompt, ``(n_i, d)``.
    kinds : numpy.ndarray
        The index of each prompt's kind in the world's list, ``(M,)``.
    world : tuple
        The kinds ``(n, sigma2, psi2)``.
    """

    bias2: np.ndarray
    trace: np.ndarray
    designs: list
    kinds: np.ndarray
    world: tuple

    @property
    def index(self) -> np.ndarray:
        """The difficulty index of each prompt: its ridge limit ``b_inf(X)``, the risk of
        infinitely many infinitely long chains (``b_t`` at ``T_max``, converged)."""
        return self.bias2[:, -1]


def typical_designs(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` Gaussian designs ``(count, n, D)`` on which the chains converge, ``ETA (s_max +
    LEVEL^2) <= 2`` (Chapter 2's typical designs; the others are drawn again)."""
    kept = []
    while sum(len(k) for k in kept) < count:
        X = rng.standard_normal((count, n, D))
        s_max = np.linalg.eigvalsh(np.swapaxes(X, 1, 2) @ X / n)[:, -1]
        kept.append(X[ETA * (s_max + LEVEL**2) <= 2])
    return np.concatenate(kept)[:count]


def world_terms(world: tuple, prompts: int, t_max: int, seed: int) -> PromptTerms:
    """The terms of ``prompts`` prompts, an equal share of each kind of ``world``.

    Parameters
    ----------
    world : tuple of (n, sigma2, psi2)
        The kinds.
    prompts : int
        Prompts in all (a multiple of the number of kinds).
    t_max : int
        The longest chain of each prompt's menu.
    seed : int
        Seed of ``numpy.random.default_rng`` for the designs.

    Returns
    -------
    PromptTerms
        The terms, designs and kinds.
    """
    validation.integer("prompts", prompts)
    rng = np.random.default_rng(seed)
    per_kind = prompts // len(world)
    bias2, trace, designs, kinds = [], [], [], []
    for k, (n, sigma2, psi2) in enumerate(world):
        X = typical_designs(n, per_kind, rng)
        terms = theory.conditional_chain_terms(X, sigma2, ETA, LEVEL, t_max, psi2=psi2)
        bias2.append(terms.bias2)
        trace.append(terms.trace)
        designs += list(X)
        kinds.append(np.full(per_kind, k))
    return PromptTerms(
        np.concatenate(bias2), np.concatenate(trace), designs, np.concatenate(kinds), world
    )


# --------------------------------------------------------------------------------------------
# The risk of one prompt
# --------------------------------------------------------------------------------------------


def fixed_design_sampler(
    X: np.ndarray, sigma2: float, psi2: float, n_chains: int, steps: int
) -> Sampler:
    """A sampler of the error of ``n_chains`` averaged chains of ``steps`` steps on one fixed
    design: each draw takes ``w ~ N(0, psi2 I)`` and the label noise afresh.

    Parameters
    ----------
    X : numpy.ndarray
        The design ``(n, D)``.
    sigma2, psi2 : float
        Label-noise and prior variances.
    n_chains, steps : int
        Chains averaged, :math:`N`, and their length, :math:`T`.

    Returns
    -------
    Sampler
        ``(batch, generator) -> tensor (batch,)`` of :math:`\\lVert \\bar w_N - w \\rVert^2`.
    """
    design = torch.as_tensor(X, dtype=runtime.dtype(), device=runtime.device())

    def sample(batch, g):
        Xb = design.expand(batch, *design.shape)
        w = psi2**0.5 * runtime.standard_normal((batch, D), generator=g, dtype=Xb.dtype)
        noise = runtime.standard_normal((batch, len(X)), generator=g, dtype=Xb.dtype)
        y = (Xb @ w.unsqueeze(-1))[..., 0] + sigma2**0.5 * noise
        chains = sample_chains(
            Xb,
            y,
            eta=ETA,
            steps=steps,
            n_chains=n_chains,
            noise="multiplicative",
            level=LEVEL,
            generator=g,
        )
        return ((chains.mean(1) - w) ** 2).sum(1)

    return sample


# --------------------------------------------------------------------------------------------
# Where the compute should go
# --------------------------------------------------------------------------------------------


def uniform_risk(terms: PromptTerms, budget: int) -> float:
    """The mean risk of the best single split ``(N, T)`` for every prompt, ``N T <= budget``."""
    return theory.best_split(terms.bias2.mean(0), terms.trace.mean(0), budget)[2]


def own_split_risk(terms: PromptTerms, budget: int) -> float:
    """The mean risk when each prompt takes its own best split of ``budget``."""
    t = np.arange(1, min(budget, terms.bias2.shape[1] - 1) + 1)
    risk = terms.bias2[:, t] + terms.trace[:, t] / (budget // t)
    return float(risk.min(1).mean())


def matching_budget(terms: PromptTerms, target: float, ceiling: int = 10**9) -> float:
    """The least budget at which the best single split reaches mean risk ``target`` (its risk
    falls with the budget: bisection over the integers); inf if not by ``ceiling``."""
    if uniform_risk(terms, ceiling) > target:
        return float("inf")
    lo, hi = 0, 1
    while uniform_risk(terms, hi) > target:
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if uniform_risk(terms, mid) > target else (lo, mid)
    return float(hi)


@dataclass(frozen=True)
class BudgetRow:
    """The three strategies at one mean budget ``B`` per prompt.

    Attributes
    ----------
    budget : int
        ``B``.
    uniform, own_split, adaptive : float
        Mean risks: one split for all, each prompt its own split of ``B``, the allocation.
    lower_bound : float
        The allocation's dual bound.
    ratio, own_ratio : float
        The uniform budget that matches the adaptive (own-split) mean risk, divided by ``B``.
    allocation : theory.Allocation
        The adaptive choices.
    """

    budget: int
    uniform: float
    own_split: float
    adaptive: float
    lower_bound: float
    ratio: float
    own_ratio: float
    allocation: theory.Allocation


def budget_rows(terms: PromptTerms, budgets) -> list[BudgetRow]:
    """The three strategies and the efficiency ratios at each budget of ``budgets``."""
    rows = []
    for B in budgets:
        allocation = theory.allocate_budget(terms.bias2, terms.trace, B)
        own = own_split_risk(terms, B)
        rows.append(
            BudgetRow(
                int(B),
                uniform_risk(terms, B),
                own,
                allocation.risk,
                allocation.lower_bound,
                matching_budget(terms, allocation.risk) / B,
                matching_budget(terms, own) / B,
                allocation,
            )
        )
    return rows


def table(rows: list[BudgetRow]) -> str:
    """The rows as a text table."""
    lines = ["      B   one split   own split    adaptive   gap(dual)   ratio  own ratio"]
    for r in rows:
        lines.append(
            f"{r.budget:>7} {r.uniform:>11.6f} {r.own_split:>11.6f} {r.adaptive:>11.6f}"
            f" {max(r.adaptive - r.lower_bound, 0.0):>11.1e} {r.ratio:>7.2f} {r.own_ratio:>10.2f}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# When more votes hurt
# --------------------------------------------------------------------------------------------

CHEN_P, CHEN_WEIGHTS = np.array([0.85, 0.35]), np.array([0.6, 0.4])
"""Chen et al.'s (2024) example: 60 % easy queries (a vote right with probability 0.85), 40 %
hard ones (0.35)."""


VOTE_SETTINGS = [
    (n, d, s2, T)
    for n, d, s2, T in itertools.product((2, 20), (1, 10), (0.0, 4.0), (0.1, 10.0))
    if d > 1 or s2 > 0
]
"""Chapter 5's settings ``(n, d, sigma2, temperature)`` (eta = 1) at which the chapter draws the
prompt-averaged vote accuracy (d = 1 with sigma2 = 0 left out: the margin has no density)."""


def mixture_vote_sampler(p: np.ndarray, weights: np.ndarray, n_votes: int) -> Sampler:
    """A sampler of whether the majority of ``n_votes`` votes on a random prompt of the mixture
    is right (ties broken by a fair coin): 1 or 0 per draw."""

    def sample(batch, g):
        at = dict(device=g.device, dtype=torch.float64)
        kind = torch.multinomial(torch.as_tensor(weights, **at), batch, True, generator=g)
        right = torch.rand(batch, n_votes, generator=g, **at) < torch.as_tensor(p, **at)[kind, None]
        count = right.sum(1).double()
        coin = torch.rand(batch, generator=g, **at) < 0.5
        return torch.where(count == n_votes / 2, coin.double(), (count > n_votes / 2).double())

    return sample


def coordinate_vote_curves(settings, n_votes) -> np.ndarray:
    """Chapter 5's prompt-averaged vote accuracy ``theory.vote_sign_accuracy`` at each setting
    ``(n, d, sigma2, temperature)`` (eta = 1) and each odd ``N`` of ``n_votes``:
    ``(settings, len(n_votes))``."""
    return np.array(
        [
            [theory.vote_sign_accuracy(n, d, s2, 1.0, T, int(N)) for N in n_votes]
            for n, d, s2, T in settings
        ]
    )
