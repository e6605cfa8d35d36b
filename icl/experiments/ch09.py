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
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import optimize, special, stats

from icl import runtime, techniques, theory, validation
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
    LEVEL^2) <= 2`` (Chapter 2's typical designs; the others are drawn again).

    Parameters
    ----------
    n : int
        Examples per prompt.
    count : int
        Designs to return.
    rng : numpy.random.Generator
        The generator the designs are drawn from.

    Returns
    -------
    numpy.ndarray
        The designs, ``(count, n, D)``.
    """
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
    """The mean risk of the best single split ``(N, T)`` for every prompt, ``N T <= budget``.

    Parameters
    ----------
    terms : PromptTerms
        The prompts' terms.
    budget : int
        The budget B per prompt.

    Returns
    -------
    float
        The mean risk.
    """
    return theory.best_split(terms.bias2.mean(0), terms.trace.mean(0), budget)[2]


def own_split_risk(terms: PromptTerms, budget: int) -> float:
    """The mean risk when each prompt takes its own best split of ``budget``.

    Parameters
    ----------
    terms : PromptTerms
        The prompts' terms.
    budget : int
        The budget B of each prompt.

    Returns
    -------
    float
        The mean risk.
    """
    return float(_own_splits(terms, budget).mean())


def _own_splits(terms: PromptTerms, budget: int) -> np.ndarray:
    """Each prompt's risk at its own best split of ``budget``: min over T of b_T + v_T /
    floor(B / T), (M,)."""
    t = np.arange(1, min(budget, terms.bias2.shape[1] - 1) + 1)
    return (terms.bias2[:, t] + terms.trace[:, t] / (budget // t)).min(1)


def matching_budget(terms: PromptTerms, target: float, ceiling: int = 10**9) -> float:
    """The least budget at which the best single split reaches mean risk ``target`` (its risk
    falls with the budget: bisection over the integers); inf if not by ``ceiling``.

    Parameters
    ----------
    terms : PromptTerms
        The prompts' terms.
    target : float
        The mean risk to reach.
    ceiling : int
        The largest budget tried.

    Returns
    -------
    float
        The least such budget, or ``inf``.
    """
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
    """The three strategies and the efficiency ratios at each budget of ``budgets``.

    Parameters
    ----------
    terms : PromptTerms
        The prompts' terms.
    budgets : sequence of int
        The budgets B.

    Returns
    -------
    list of BudgetRow
        One row per budget.
    """
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
    """The rows as a text table.

    Parameters
    ----------
    rows : list of BudgetRow
        The rows (:func:`budget_rows`).

    Returns
    -------
    str
        The table.
    """
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
    is right (ties broken by a fair coin): 1 or 0 per draw.

    Parameters
    ----------
    p : numpy.ndarray
        Each kind's probability of a right vote.
    weights : numpy.ndarray
        The kinds' weights, summing to 1.
    n_votes : int
        Votes per prompt.

    Returns
    -------
    callable
        ``(batch, generator) -> tensor (batch,)`` of 1 (right) or 0.
    """

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
    ``(settings, len(n_votes))``.

    Parameters
    ----------
    settings : sequence of tuple
        ``(n, d, sigma2, temperature)`` for each curve.
    n_votes : sequence of int
        The odd numbers of votes.

    Returns
    -------
    numpy.ndarray
        ``(len(settings), len(n_votes))``.
    """
    return np.array(
        [
            [theory.vote_sign_accuracy(n, d, s2, 1.0, T, int(N)) for N in n_votes]
            for n, d, s2, T in settings
        ]
    )


# --------------------------------------------------------------------------------------------
# The prototype's language-model experiment
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gsm8kRecord:
    """The prototype's GSM8K record (``book/data/gsm8k_prototype.json``, with its provenance).

    Attributes
    ----------
    n_votes, accuracy : numpy.ndarray
        Votes per question and the accuracy of their majority.
    questions : int
        Test questions.
    reading_error : float
        The error of the values read from the prototype's figure.
    low_temperature : dict
        Single-sample accuracy at each low temperature.
    """

    n_votes: np.ndarray
    accuracy: np.ndarray
    questions: int
    reading_error: float
    low_temperature: dict

    def se(self, accuracy) -> np.ndarray:
        """Binomial standard error of an accuracy over the test set, with the reading error."""
        a = np.asarray(accuracy, dtype=float)
        return np.sqrt(a * (1 - a) / self.questions + self.reading_error**2)


def gsm8k_record() -> Gsm8kRecord:
    """The record in ``book/data/gsm8k_prototype.json``."""
    data = json.loads((runtime.book_root() / "book/data/gsm8k_prototype.json").read_text())
    return Gsm8kRecord(
        np.array(data["n_votes"]),
        np.array(data["accuracy"]),
        data["questions"],
        data["reading_error"],
        {float(k): v for k, v in data["low_temperature"].items()},
    )


def plurality_accuracy(n_votes: int, a: float, b: float, q: float) -> float:
    r"""Accuracy of a plurality vote of ``n_votes`` whole answers, ties broken uniformly.

    Per question a sample is right with probability ``p ~ Beta(a, b)``; a wrong sample is the
    question's one recurring wrong answer with probability ``q``, else an answer of its own
    (seen once), as Chapter 6's scattered wrong answers. Given ``C`` right samples the
    ``W ~ Bin(N - C, q)`` recurring ones decide: the right answer wins if ``W < C`` (``C >= 2``),
    with probability 1/2 if ``W = C``, and with probability ``1/N`` if ``C = 1`` and ``W <= 1``
    (a tie with every other answer, each seen once). ``C`` is beta-binomial, so

    .. math::

        A(N) = \sum_{C} \mathrm{BetaBin}(C; N, a, b)\, g_N(C), \qquad
        g_N(C) = P(W < C) + \tfrac12 P(W = C) \ (C \ge 2), \quad
        g_N(1) = P(W \le 1) / N,

    exactly, with scipy's beta-binomial and binomial laws.

    Parameters
    ----------
    n_votes : int
        Votes, at least 1.
    a : float
        The first parameter of the Beta law of p.
    b : float
        Its second.
    q : float
        The probability that a wrong sample is the recurring wrong answer.

    Returns
    -------
    float
        The accuracy.
    """
    N = int(n_votes)
    C = np.arange(N + 1)
    rest = N - C
    win = stats.binom.cdf(C - 1, rest, q) + 0.5 * stats.binom.pmf(C, rest, q)
    win = np.where(C >= 2, win, 0.0)
    win[1] = stats.binom.cdf(1, N - 1, q) / N
    return float(stats.betabinom.pmf(C, N, a, b) @ win)


def binary_accuracy(n_votes: int, a: float, b: float) -> float:
    """The difficulty-mixture baseline: a binary majority (right against the pooled wrong
    answers, ties broken uniformly) with the per-question ``p ~ Beta(a, b)``: the beta-binomial
    probability of ``C > N/2`` right samples, plus half that of ``C = N/2``.

    Parameters
    ----------
    n_votes : int
        Votes, at least 1.
    a : float
        The first parameter of the Beta law of p.
    b : float
        Its second.

    Returns
    -------
    float
        The accuracy.
    """
    N = int(n_votes)
    C = np.arange(N + 1)
    win = np.where(2 * C > N, 1.0, np.where(2 * C == N, 0.5, 0.0))
    return float(stats.betabinom.pmf(C, N, a, b) @ win)


@dataclass(frozen=True)
class VoteFit:
    """A vote model fitted to the record at ``N <= fit_max``, and its predictions.

    Attributes
    ----------
    name : str
        The model.
    params : numpy.ndarray
        Its fitted parameters (``a, b`` and, for the plurality model, ``q``).
    n_votes, predicted, interval : numpy.ndarray
        Every ``N`` of the record, the predicted accuracy, and the half-width of its 95 %
        interval (the fit's uncertainty by the delta method, the test set's binomial standard
        error and the reading error, in quadrature).
    fit_max : int
        The largest ``N`` fitted.
    """

    name: str
    params: np.ndarray
    n_votes: np.ndarray
    predicted: np.ndarray
    interval: np.ndarray
    fit_max: int

    def describe(self, record: Gsm8kRecord) -> str:
        """A table of the record against the prediction, with the z of each held-out point."""
        lines = [f"{self.name}: parameters {np.round(self.params, 4).tolist()}"]
        for N, got, pred, half in zip(
            self.n_votes, record.accuracy, self.predicted, self.interval, strict=True
        ):
            role = "fitted " if N <= self.fit_max else "predict"
            z = (got - pred) / (half / 1.96)
            lines.append(
                f"  {role} N = {N:>3}: recorded {got:.4f}, model {pred:.4f} ± {half:.4f}"
                f" (z = {z:+.1f})"
            )
        return "\n".join(lines)


def _model(name: str):
    if name == "plurality over whole answers":
        return 3, lambda N, t: plurality_accuracy(
            N, np.exp(t[0]), np.exp(t[1]), special.expit(t[2])
        )
    return 2, lambda N, t: binary_accuracy(N, np.exp(t[0]), np.exp(t[1]))


def _fit(model, size, Ns, y, se, start):
    def residual(t):
        return np.array([(model(N, t) - v) / s for N, v, s in zip(Ns, y, se, strict=True)])

    return optimize.least_squares(residual, start, bounds=(-6.0, 6.0), method="trf").x


def fit_vote_model(
    record: Gsm8kRecord, name: str, replicates: int, fit_max: int = 8, seed: int = 0
) -> VoteFit:
    """Fit ``name`` ("plurality over whole answers" or "Beta difficulty mixture") by weighted
    least squares to the record at ``N <= fit_max`` (N = 2 left out: it equals N = 1 under any
    model with uniform ties; parameters on a log or logit scale, within [-6, 6]) and predict
    every ``N``. The 95 % interval: the 2.5 and 97.5 % points of the predictions of
    ``replicates`` refits to the fitted values perturbed by their standard errors (a parametric
    bootstrap, seeded), in quadrature with 1.96 times the test set's binomial standard error and
    the reading error at the prediction.

    Parameters
    ----------
    record : Gsm8kRecord
        The record.
    name : str
        ``"plurality over whole answers"`` or ``"Beta difficulty mixture"``.
    replicates : int
        Refits of the bootstrap.
    fit_max : int
        The largest ``N`` fitted.
    seed : int
        Seed of the bootstrap's perturbations.

    Returns
    -------
    VoteFit
        The fit and its predictions.
    """
    size, model = _model(name)
    fitted = (record.n_votes <= fit_max) & (record.n_votes != 2)
    Ns, y = record.n_votes[fitted], record.accuracy[fitted]
    se = record.se(y)
    theta = _fit(model, size, Ns, y, se, np.zeros(size))
    predicted = np.array([model(int(N), theta) for N in record.n_votes])
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(replicates):
        again = _fit(model, size, Ns, y + se * rng.standard_normal(len(y)), se, theta)
        boot.append([model(int(N), again) for N in record.n_votes])
    low, high = np.percentile(np.array(boot), [2.5, 97.5], axis=0)
    interval = np.sqrt(((high - low) / 2) ** 2 + (1.96 * record.se(predicted)) ** 2)
    params = np.exp(theta) if size == 2 else np.r_[np.exp(theta[:2]), special.expit(theta[2])]
    return VoteFit(name, params, record.n_votes, predicted, interval, fit_max)


def gsm8k_summary(record: Gsm8kRecord, fits: list[VoteFit]) -> str:
    """What the two fits say about the held-out points, as a Markdown paragraph (numbers from the
    fits: ``fits`` is the plurality model, then the difficulty mixture).

    Parameters
    ----------
    record : Gsm8kRecord
        The record.
    fits : list of VoteFit
        The plurality model's fit, then the difficulty mixture's.

    Returns
    -------
    str
        The paragraph.
    """
    plural, beta = fits
    held = record.n_votes > plural.fit_max
    gap = (record.accuracy - plural.predicted)[held]
    z_plural = np.abs(gap / (plural.interval[held] / 1.96))
    z_beta = np.abs((record.accuracy - beta.predicted) / (beta.interval / 1.96))
    inside = "all" if z_plural.max() <= 1.96 else f"{int((z_plural <= 1.96).sum())} of"
    side = "above" if np.all(gap > 0) else "below" if np.all(gap < 0) else "on either side of"
    at_bound = beta.params.max() >= 0.999 * np.exp(6.0)
    return (
        f"The plurality model predicts {inside} the held-out points within its 95 % interval "
        f"(largest $|z|$ {z_plural.max():.1f}); they lie {side} its prediction, by "
        f"{np.abs(gap).min():.3f} to {np.abs(gap).max():.3f}, and its intervals are wide "
        f"($\\pm${plural.interval[held].min():.3f} to $\\pm${plural.interval[held].max():.3f}): "
        "the accuracies at $N \\le 8$ (three, $N = 2$ adding none) do not pin down the tail of "
        "the law of $p$. The difficulty mixture "
        + ("fails" if z_beta[held].max() > 4 else "holds")
        + f": its best fit has $a = {beta.params[0]:.0f}$, $b = {beta.params[1]:.0f}$"
        + (" (a point mass: the bound of the fit)" if at_bound else "")
        + f", misses $N = 1$ by {z_beta[0]:.1f} standard errors and predicts "
        f"{beta.predicted[-1]:.3f} at $N = 256$ ($|z|$ = {z_beta[-1]:.0f})."
    )


@dataclass(frozen=True)
class TransformerVotes:
    """Chapter 7's trained transformer: exact vote accuracies per prompt, given its answer
    distributions on a sample of prompts.

    Attributes
    ----------
    temperatures, n_votes : numpy.ndarray
        The grid.
    coordinate : numpy.ndarray
        ``(prompts, temperatures, n_votes)``: the per-coefficient majority over ``N`` whole
        samples, averaged over the prompt's coefficients (exact given each coefficient's right
        marginal ``q``: ``theory.majority_vote_accuracy``).
    whole : numpy.ndarray
        Of the same shape: the plurality over ``N`` whole answers
        (``theory.plurality_vote_accuracy``, ties uniform).
    wrong_share : numpy.ndarray
        ``(temperatures,)``: the share of (prompt, coefficient) pairs with ``q < 1/2``.
    """

    temperatures: np.ndarray
    n_votes: np.ndarray
    coordinate: np.ndarray
    whole: np.ndarray
    wrong_share: np.ndarray

    def curves(self, vote: str) -> tuple[np.ndarray, np.ndarray]:
        """The prompt average of ``vote`` ("coordinate" or "whole") and its standard error over
        the prompts, each ``(temperatures, n_votes)``."""
        values = getattr(self, vote)
        return values.mean(0), values.std(0, ddof=1) / np.sqrt(len(values))

    def fall(self, vote: str) -> tuple[np.ndarray, np.ndarray]:
        """Per temperature, the largest accuracy over ``N`` minus the accuracy at the largest
        ``N``, and the standard error of that paired difference over the prompts."""
        values = getattr(self, vote)
        best = values.mean(0).argmax(1)
        diff = np.stack([values[:, k, best[k]] - values[:, k, -1] for k in range(len(best))], 1)
        return diff.mean(0), diff.std(0, ddof=1) / np.sqrt(len(diff))


def transformer_votes(temperatures, n_votes, prompts: int, seed: int) -> TransformerVotes:
    """The vote accuracies of Chapter 7's trained model (the run's model scale) on ``prompts``
    fresh prompts of Chapter 7's setting, drawn with ``seed``.

    Parameters
    ----------
    temperatures : sequence of float
        Decoding temperatures.
    n_votes : numpy.ndarray
        Votes per prompt, odd.
    prompts : int
        Prompts of the sample.
    seed : int
        Seed of the prompts.

    Returns
    -------
    TransformerVotes
        The exact accuracies per prompt.
    """
    from icl.decoders import answer_distribution as ad
    from icl.experiments import ch07

    model, _ = ch07.load_model(runtime.model_scale(), runtime.device())
    ev = ch07.evaluate(model, ch07.SETTING, prompts, seed)
    right = ad.index_of(ev.w).cpu().numpy()
    coordinate, whole, wrong = [], [], []
    for T in temperatures:
        lp = ev.model_lp(float(T))
        q = ev.right_marginals(lp).cpu().double().numpy()
        coordinate.append([theory.majority_vote_accuracy(q, int(N)).mean(1) for N in n_votes])
        probs = lp.exp().cpu().double().numpy()
        probs = probs / probs.sum(1, keepdims=True)
        whole.append(
            [
                [
                    theory.plurality_vote_accuracy(probs[b], int(N), correct=int(right[b]))
                    for b in range(prompts)
                ]
                for N in n_votes
            ]
        )
        wrong.append(float((q < 0.5).mean()))
    return TransformerVotes(
        np.asarray(temperatures, float),
        np.asarray(n_votes),
        np.array(coordinate).transpose(2, 0, 1),
        np.array(whole).transpose(2, 0, 1),
        np.array(wrong),
    )


def votes_table(votes: TransformerVotes) -> str:
    """The transformer's prompt-averaged vote curves as a text table, with the fall from the best
    ``N`` to the largest and its standard error.

    Parameters
    ----------
    votes : TransformerVotes
        The accuracies.

    Returns
    -------
    str
        The table.
    """
    head = " ".join(f"N={N:<5}" for N in votes.n_votes)
    lines = [f"   T  vote            {head}  fall from the best N"]
    for vote, name in (("coordinate", "per coefficient"), ("whole", "whole answer")):
        mean, _ = votes.curves(vote)
        drop, se = votes.fall(vote)
        for k, T in enumerate(votes.temperatures):
            values = " ".join(f"{v:.4f} " for v in mean[k])
            lines.append(f"{T:>4g}  {name:<15} {values} {drop[k]:.4f} ± {se[k]:.4f}")
    return "\n".join(lines)


def votes_summary(votes: TransformerVotes, z: float = 4.0) -> str:
    """Where the transformer's votes fall by more than ``z`` standard errors, as Markdown.

    Parameters
    ----------
    votes : TransformerVotes
        The accuracies.
    z : float
        Standard errors a fall must exceed to be reported.

    Returns
    -------
    str
        The paragraph.
    """
    found = []
    for vote, name in (
        ("coordinate", "per-coefficient majority"),
        ("whole", "whole-answer plurality"),
    ):
        drop, se = votes.fall(vote)
        found += [
            f"the {name} at $T = {T:g}$ ({d:.4f} ± {s:.4f})"
            for T, d, s in zip(votes.temperatures, drop, se, strict=True)
            if d > z * s
        ]
    prompts = len(votes.coordinate)
    if found:
        verdict = "More votes hurt, beyond " + f"{z:g} standard errors, for " + "; ".join(found)
    else:
        verdict = f"No fall from the best $N$ to the largest exceeds {z:g} standard errors"
    return (
        f"{verdict} (exact given the answer distributions; the standard errors are over the "
        f"{prompts} prompts). The coefficients whose votes lean wrong ($q < 1/2$: "
        f"{votes.wrong_share.min():.1%} to {votes.wrong_share.max():.1%} of them, by temperature) "
        "lose as $N$ grows, their majority converging to the wrong sign; "
        + (
            "the gains of the others outweigh them on this sample."
            if not found
            else "there they outweigh the gains of the others."
        )
    )


def sparse_vote_steps(stored: dict, rule: str = "uniform") -> tuple[str, np.ndarray]:
    """Chapter 6's recorded whole-answer vote (``book/data/ch06_largest_run.json``, the book's
    protocol) along its grid of ``N``: a text table, and each step's rise in units of the larger
    of the two standard errors.

    Parameters
    ----------
    stored : dict
        The record (:func:`icl.experiments.ch06.read_largest_run`).
    rule : str
        The tie rule of the votes read.

    Returns
    -------
    tuple of (str, numpy.ndarray)
        The table and each step's rise in standard errors.
    """
    votes = stored["protocols"]["book"]["votes"][rule]
    Ns = sorted(votes, key=int)
    lines = [f"N = {N:>4}: accuracy {votes[N]['mean']:.4f} ± {votes[N]['se']:.4f}" for N in Ns]
    rises = []
    for a, b in zip(Ns, Ns[1:], strict=False):
        rise = votes[b]["mean"] - votes[a]["mean"]
        rises.append(rise / max(votes[a]["se"], votes[b]["se"]))
        lines.append(f"N = {a:>4} -> {b:>4}: rises by {rise:+.4f} ({rises[-1]:+.1f} SE)")
    return "\n".join(lines), np.array(rises)


@dataclass(frozen=True)
class StrategyRisks:
    """Per prompt, the risk of three ways of spending one budget ``B = N T``.

    Attributes
    ----------
    budget, n_chains, steps : int
        ``B``, and the ``N`` chains of ``T`` steps that averaging and selection use.
    think_longer : numpy.ndarray
        One chain of ``B`` steps, exact: ``b_B + v_B``.
    sample_more : numpy.ndarray
        The average of ``N`` chains of ``T`` steps, exact: ``b_T + v_T / N``.
    own_split : numpy.ndarray
        The prompt's best split of ``B``, exact.
    select, select_se : numpy.ndarray
        Best-of-``N`` among the ``N`` chains' endpoints by the in-context loss (Chapter 4's
        verifier), measured: the mean over ``replicates`` draws of ``w``, the noise and the chains,
        and its standard error.
    """

    budget: int
    n_chains: int
    steps: int
    think_longer: np.ndarray
    sample_more: np.ndarray
    own_split: np.ndarray
    select: np.ndarray
    select_se: np.ndarray


def strategy_risks(
    terms: PromptTerms, budget: int, n_chains: int, replicates: int, seed: int
) -> StrategyRisks:
    """The three strategies on every prompt of ``terms`` at ``budget = n_chains * steps``.

    Parameters
    ----------
    terms : PromptTerms
        The prompts (their designs, kinds and terms).
    budget : int
        The budget B per prompt.
    n_chains : int
        N of averaging and selection (``T = budget // n_chains``).
    replicates : int
        Draws of ``w``, the noise and the chains per prompt for the selection.
    seed : int
        Seed of those draws.

    Returns
    -------
    StrategyRisks
        The risks per prompt.
    """
    steps = budget // n_chains
    own = _own_splits(terms, budget)
    longer = terms.bias2[:, budget] + terms.trace[:, budget]
    more = terms.bias2[:, steps] + terms.trace[:, steps] / n_chains
    mean, se = np.empty(len(terms.kinds)), np.empty(len(terms.kinds))
    g = runtime.generator(seed, runtime.device())
    at = dict(dtype=runtime.dtype(), device=runtime.device())
    for k, (_, sigma2, psi2) in enumerate(terms.world):
        rows = np.flatnonzero(terms.kinds == k)
        X = torch.as_tensor(np.stack([terms.designs[i] for i in rows]), **at)
        X = X.repeat_interleave(replicates, 0)
        w = psi2**0.5 * runtime.standard_normal((len(X), D), generator=g, **at)
        noise = runtime.standard_normal(X.shape[:2], generator=g, **at)
        y = (X @ w.unsqueeze(-1))[..., 0] + sigma2**0.5 * noise
        ends = sample_chains(
            X, y, eta=ETA, steps=steps, n_chains=n_chains, noise="multiplicative",
            level=LEVEL, generator=g,
        )  # fmt: skip
        chosen = techniques.best_of_n(ends, techniques.in_context_loss(ends, X, y)).selected
        error = ((chosen - w) ** 2).sum(1).reshape(len(rows), replicates).double().cpu().numpy()
        mean[rows] = error.mean(1)
        se[rows] = error.std(1, ddof=1) / np.sqrt(replicates)
    return StrategyRisks(budget, n_chains, steps, longer, more, own, mean, se)


def _winner(means: dict, se: float) -> str:
    """The strategy of least mean risk, or two where the selection's standard error leaves the
    order of the best two unresolved (within 2 standard errors)."""
    first, second = sorted(means, key=means.get)[:2]
    if "select" in (first, second) and means[second] - means[first] < 2 * se:
        return f"{first} or {second} (not resolved)"
    return first


def strategy_table(terms: PromptTerms, risks: StrategyRisks, bins: int = 6) -> str:
    """Mean risks of the strategies in equal-count bins of the difficulty index, with which of
    the three wins in each bin (the selection's standard error beside it).

    Parameters
    ----------
    terms : PromptTerms
        The prompts.
    risks : StrategyRisks
        Their strategies' risks.
    bins : int
        Equal-count bins of the index.

    Returns
    -------
    str
        The table.
    """
    groups = np.array_split(np.argsort(terms.index), bins)
    lines = ["  index  think longer  sample more        select   own split  winner"]
    for g in groups:
        means = {
            "think longer": risks.think_longer[g].mean(),
            "sample more": risks.sample_more[g].mean(),
            "select": risks.select[g].mean(),
        }
        se = np.sqrt((risks.select_se[g] ** 2).sum()) / len(g)
        lines.append(
            f"{terms.index[g].mean():>7.3f} {means['think longer']:>13.4f}"
            f" {means['sample more']:>12.4f} {means['select']:>8.4f} ± {se:.4f}"
            f" {risks.own_split[g].mean():>10.4f}  {_winner(means, se)}"
        )
    return "\n".join(lines)
