"""The settings and experiments of Chapter 6, sparse binary chains.

The chapter: ``book/ch06_sparse_binary_chains.md``. The task is a support of ``k`` ones in ``d``
coordinates, decoded by a chain of gradient steps whose every step draws (or takes greedily) the
next support; :mod:`icl.sparse_vote` runs the chains under the book's and the prototype's
protocols. This module holds the rest: the chapter's sizes, the prototype's reported numbers, the
empirical answer distributions and their exact vote sums, the votes resampled from stored answers,
the tie rules, the greedy map's cycles, and the reading of the largest stored run. Every function
returns arrays, :class:`~icl.sparse_vote.SparseVoteRun` objects or small result dataclasses that
the chapter checks against the exact sums of :mod:`icl.theory`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from icl import runtime, sparse_vote, theory, validation
from icl.decoders.sparse_chains import decode_support
from icl.harness.montecarlo import Estimate
from icl.techniques import plurality_vote

SETTINGS = sparse_vote.SparseVoteSettings()  # the prototype's: d=50, n=30, k=5, 50 steps
# The prototype's figure legend, unrounded: exact recovery over its 4096 prompts (1: one sampled
# chain; 10, 50, ...: the vote of that many chains).
PROTOTYPE = {
    "greedy": 0.27051,
    1: 0.00464,
    10: 0.00293,
    50: 0.04810,
    100: 0.11035,
    200: 0.23242,
    500: 0.43164,
    1000: 0.60181,
}
PROTOTYPE_PROMPTS = 4096
LARGEST_RUN = "book/data/ch06_largest_run.json"  # relative to the book's root
TIE_RULES = ("uniform", "smallest", "lose")


@dataclass(frozen=True)
class Sizes:
    """The chapter's sizes at one scale.

    ``greedy_prompts``: prompts decoded greedily per protocol; ``prompts``: prompts of the sampling
    experiment per protocol; ``samples``: sampled chains per prompt; ``chunk``: prompts per call of
    the sampler; ``n_grid``: the vote sizes N; ``theory_prompts``: prompts on which the exact vote
    sums are evaluated; ``move_draws``: sampled steps per prompt in the checks of greedy's move.
    """

    greedy_prompts: int
    prompts: int
    samples: int
    chunk: int
    n_grid: tuple[int, ...]
    theory_prompts: int
    move_draws: int

    def __post_init__(self) -> None:
        for name in ("greedy_prompts", "prompts", "samples", "chunk", "theory_prompts"):
            validation.integer(name, getattr(self, name))
        validation.integer("move_draws", self.move_draws, minimum=2)
        for N in self.n_grid:
            validation.integer("n_grid entry", N, maximum=self.samples)

    @property
    def repeats(self) -> dict[int, int]:
        """Votes per prompt in the resampling checks: 1600 up to ``N = 20``, where the wrong
        formulas lie closest, 400 above."""
        return {N: 1600 if N <= 20 else 400 for N in self.n_grid}


def sizes() -> Sizes:
    """The chapter's sizes at the run's scale (:func:`icl.runtime.by_scale`).

    Returns
    -------
    Sizes
        ``smoke``: 32 prompts of 500 chains per protocol, votes up to ``N = 500``; ``full``: the
        prototype's 4096 prompts of 1000 chains, votes up to ``N = 1000``.
    """
    return runtime.by_scale(
        smoke=Sizes(2048, 32, 500, 8, (1, 2, 5, 10, 20, 50, 100, 200, 500), 24, 400),
        full=Sizes(4096, 4096, 1000, 256, (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), 256, 4000),
    )


# --- the comparison with the prototype ---


def mean_se(values) -> tuple[float, float]:
    """The mean over prompts and its standard error.

    Parameters
    ----------
    values : array_like
        One value per prompt.

    Returns
    -------
    tuple of float
        ``(mean, standard error)`` of :meth:`~icl.harness.montecarlo.Estimate.from_values`.
    """
    estimate = Estimate.from_values(values)
    return estimate.mean, estimate.stderr


def z_against_prototype(key, value: float, se: float) -> float:
    """The distance of a result from the prototype's, in combined standard errors.

    Parameters
    ----------
    key : str or int
        ``"greedy"`` or a vote size N among the keys of :data:`PROTOTYPE`.
    value, se : float
        The result and its standard error.

    Returns
    -------
    float

    Notes
    -----
    :math:`z = (\\hat p - p)/\\sqrt{\\mathrm{SE}^2 + p(1-p)/4096}`, with the prototype's binomial
    standard error over its 4096 prompts.
    """
    proto = PROTOTYPE[key]
    return (value - proto) / math.sqrt(se**2 + proto * (1 - proto) / PROTOTYPE_PROMPTS)


def comparison_table(results: Mapping[str, Mapping]) -> str:
    """The results beside the prototype's legend, one column per run.

    Parameters
    ----------
    results : mapping
        Column name -> ``{key: (value, se)}``, keys as in :data:`PROTOTYPE`.

    Returns
    -------
    str
        One line per key of :data:`PROTOTYPE` present in every column, with the :math:`z` of
        :func:`z_against_prototype`; none where a column's standard error is 0 (no prompt, or
        every prompt, right: not estimable).
    """
    keys = [key for key in PROTOTYPE if all(key in r for r in results.values())]
    lines = [f"{'':9s}{'prototype (4096 prompts)':>24s}" + "".join(f"   {c:>31s}" for c in results)]
    for key in keys:
        proto = PROTOTYPE[key]
        label = "greedy" if key == "greedy" else f"N = {key}"
        line = (
            f"{label:9s}{proto:>13.5f} ± {math.sqrt(proto * (1 - proto) / PROTOTYPE_PROMPTS):.5f}"
        )
        for value, se in (r[key] for r in results.values()):
            z = (
                f"z = {z_against_prototype(key, value, se):+6.2f}"
                if se > 0
                else f"{'z: no SE':>10s}"
            )
            line += f"   {value:8.5f} ± {se:.5f}  {z}"
        lines.append(line)
    return "\n".join(lines)


# --- the runs ---


def run_protocols(
    sizes: Sizes, settings: sparse_vote.SparseVoteSettings = SETTINGS
) -> dict[str, sparse_vote.SparseVoteRun]:
    """Both protocols' runs (:func:`icl.sparse_vote.run_sparse_vote`), seeds 60 and 61.

    Parameters
    ----------
    sizes : Sizes
        Prompts, chains per prompt, greedy prompts and chunk.
    settings : icl.sparse_vote.SparseVoteSettings
        The task and the chains.

    Returns
    -------
    dict
        Protocol name (``"book"``, ``"prototype"``) -> its run.
    """
    return {
        protocol: sparse_vote.run_sparse_vote(
            protocol,
            sizes.prompts,
            sizes.samples,
            seed,
            settings=settings,
            greedy_prompts=sizes.greedy_prompts,
            chunk=sizes.chunk,
        )
        for seed, protocol in enumerate(sparse_vote.PROTOCOLS, start=60)
    }


def accuracies(
    runs: Mapping[str, sparse_vote.SparseVoteRun], n_grid: Sequence[int]
) -> dict[str, dict]:
    """Greedy decoding, a single sample and the votes of fresh chains, per protocol.

    Parameters
    ----------
    runs : mapping
        Protocol name -> its run (:func:`run_protocols`).
    n_grid : sequence of int
        The vote sizes; the votes of the first N chains of each prompt break ties by the
        protocol's rule, uniform ties drawn from the run's generator.

    Returns
    -------
    dict
        ``"<protocol> protocol"`` -> ``{"greedy": (mean, se), 1: ..., N: ...}``, means and standard
        errors over prompts; 1 is the mean over all of a prompt's chains.
    """
    votes = {
        protocol: sparse_vote.vote_wins(
            r.codes, r.truth, list(n_grid), sparse_vote.PROTOCOLS[protocol], r.generator
        )
        for protocol, r in runs.items()
    }
    return {
        f"{name} protocol": {
            "greedy": mean_se(r.greedy_right()),
            1: mean_se(r.single_sample_right()),
            **{N: mean_se(votes[name][N]) for N in n_grid if N > 1},
        }
        for name, r in runs.items()
    }


# --- the answer distributions and the exact votes ---


@dataclass(frozen=True)
class Answers:
    """The empirical distribution of each prompt's stored answers.

    ``probabilities[b]``, ``codes[b]``: the distinct answers' frequencies and codes, in increasing
    order of code; ``correct[b]``: the truth's index among them, ``None`` where no answer is right;
    ``p_truth``, ``p_rival``: the truth's frequency and the largest wrong answer's; ``distinct``:
    the number of distinct answers; ``unique_mode``: whether the truth is the unique mode.
    """

    probabilities: list[np.ndarray]
    correct: list[int | None]
    codes: list[np.ndarray]
    p_truth: np.ndarray
    p_rival: np.ndarray
    distinct: np.ndarray
    unique_mode: np.ndarray


def answers(codes: torch.Tensor, truth: torch.Tensor) -> Answers:
    """The empirical answer distributions of the prompts' stored answers.

    Parameters
    ----------
    codes : torch.Tensor
        The answers' codes, integer ``(B, S)``.
    truth : torch.Tensor
        The true codes, integer ``(B,)``.

    Returns
    -------
    Answers
    """
    dists = []
    for row, true_code in zip(codes, truth, strict=True):
        values, counts, correct = sparse_vote.answer_counts(row, true_code)
        dists.append((counts / len(row), correct, values))
    p_truth = np.array([pr[i] if i is not None else 0.0 for pr, i, _ in dists])
    p_rival = np.array(
        [np.delete(pr, i).max() if i is not None else pr.max() for pr, i, _ in dists]
    )
    return Answers(
        [d[0] for d in dists],
        [d[1] for d in dists],
        [d[2] for d in dists],
        p_truth,
        p_rival,
        np.array([len(pr) for pr, _, _ in dists]),
        p_truth > p_rival,
    )


@dataclass(frozen=True)
class VoteSums:
    """The exact vote sums on the prompts whose stored answers hold the truth.

    ``prompts``: those prompts' indices; ``with_replacement[N]``, ``without_replacement[N]``: per
    prompt, the exact accuracy of a vote of N answers drawn with replacement from the stored ones
    (the multinomial sum at the empirical distribution) and without (the hypergeometric sum);
    ``limit``: the mean of the limit ``N -> infinity``, 1 where the truth is the unique mode;
    ``single``: the mean of the truth's frequency; ``samples``: the answers stored per prompt;
    ``considered``: the number of first prompts considered (those missing the truth among them
    count 0 in a mean over all of them).
    """

    prompts: list[int]
    answers: Answers
    with_replacement: dict[int, np.ndarray]
    without_replacement: dict[int, np.ndarray]
    limit: float
    single: float
    samples: int
    considered: int

    def mean(self, formula) -> float:
        """The mean over :attr:`prompts` of ``formula(b)``."""
        return np.mean([formula(b) for b in self.prompts])

    def exact(self, N: int, with_replacement: bool) -> tuple[np.ndarray, Callable]:
        """The exact sums of the vote of N per prompt, and the function of :mod:`icl.theory` that
        gives them.

        Parameters
        ----------
        N : int
            The vote size.
        with_replacement : bool
            Draws with replacement (the multinomial sum) or without (the hypergeometric sum).

        Returns
        -------
        tuple
            ``(values, function)``.
        """
        if with_replacement:
            return self.with_replacement[N], theory.plurality_vote_accuracy
        return self.without_replacement[N], theory.subsample_vote_accuracy

    def wrong_formulas(self, N: int, with_replacement: bool) -> dict[str, float]:
        """The plausible wrong formulas that a check of the vote of N must reject.

        Parameters
        ----------
        N : int
            The vote size.
        with_replacement : bool
            Whether the check's votes draw with replacement (else without).

        Returns
        -------
        dict
            Name -> value: the limit ``N -> infinity`` at every N; ties counted as losses for
            ``2 <= N <= 10``; the single-sample probability from ``N = 20``; from ``N = S/10``
            the sum of the other drawing scheme.
        """
        a = self.answers
        vote = (
            theory.plurality_vote_accuracy if with_replacement else theory.subsample_vote_accuracy
        )

        def data(b):
            if with_replacement:
                return a.probabilities[b]
            return (a.probabilities[b] * self.samples).round().astype(np.int64)

        wrong = {"N -> infinity limit 1{truth is the unique mode}": self.limit}
        if 2 <= N <= 10:
            wrong["ties count as losses"] = self.mean(
                lambda b: vote(data(b), N, correct=a.correct[b], ties="lose")
            )
        if N >= 20:
            wrong["single-sample probability pi_hat(truth)"] = self.single
        if N >= self.samples / 10:
            if with_replacement:
                wrong["without replacement (hypergeometric sum)"] = self.without_replacement[
                    N
                ].mean()
            else:
                wrong["plug-in multinomial at pi_hat (with replacement)"] = self.with_replacement[
                    N
                ].mean()
        return wrong


def vote_sums(
    answers: Answers, codes: torch.Tensor, truth: torch.Tensor, n_grid: Sequence[int], prompts: int
) -> VoteSums:
    """The exact vote sums on the first ``prompts`` prompts whose stored answers hold the truth.

    Parameters
    ----------
    answers : Answers
        The prompts' answer distributions (:func:`answers`).
    codes, truth : torch.Tensor
        The stored answers' codes ``(B, S)`` and the true codes ``(B,)``.
    n_grid : sequence of int
        The vote sizes.
    prompts : int
        How many of the first prompts to consider.

    Returns
    -------
    VoteSums

    Notes
    -----
    With replacement: :func:`icl.theory.plurality_vote_accuracy` at the empirical distribution;
    without: :func:`icl.sparse_vote.exact_subset_votes`, ties uniform in both.
    """
    a = answers
    considered = min(prompts, len(a.correct))
    chosen = [b for b in range(considered) if a.correct[b] is not None]
    with_replacement = {
        N: np.array(
            [
                theory.plurality_vote_accuracy(a.probabilities[b], N, correct=a.correct[b])
                for b in chosen
            ]
        )
        for N in n_grid
    }
    without = {
        N: sparse_vote.exact_subset_votes(codes[chosen], truth[chosen], N, "uniform")
        for N in n_grid
    }
    limit = np.mean([float(a.unique_mode[b]) for b in chosen])
    single = np.mean([a.p_truth[b] for b in chosen])
    return VoteSums(chosen, a, with_replacement, without, limit, single, codes.shape[1], considered)


# --- votes resampled from the stored answers ---


def draws_with_replacement(
    stored: torch.Tensor, N: int, repeats: int, gen: torch.Generator
) -> torch.Tensor:
    """``repeats`` draws of N answers with replacement from each row of ``stored``.

    Parameters
    ----------
    stored : torch.Tensor
        Codes ``(B, S)``.
    N, repeats : int
        Answers per vote, votes per row.
    gen : torch.Generator
        The draws' generator, on ``stored``'s device.

    Returns
    -------
    torch.Tensor
        ``(B * repeats, N)``, row by row.
    """
    B, S = stored.shape
    pick = torch.randint(0, S, (B, repeats, N), generator=gen, device=stored.device)
    return stored.gather(1, pick.reshape(B, -1)).reshape(-1, N)


def random_subsets(
    stored: torch.Tensor, N: int, repeats: int, gen: torch.Generator
) -> torch.Tensor:
    """``repeats`` random N-subsets (without replacement) of each row of ``stored``.

    Parameters
    ----------
    stored : torch.Tensor
        Codes ``(B, S)``.
    N, repeats : int
        Answers per subset, subsets per row.
    gen : torch.Generator
        The draws' generator, on ``stored``'s device.

    Returns
    -------
    torch.Tensor
        ``(B * repeats, N)``, row by row.

    Notes
    -----
    The N largest of S i.i.d. uniform keys sit at a uniformly random N-subset of positions.
    """
    keys = torch.rand(
        stored.shape[0], repeats, stored.shape[1], generator=gen, device=stored.device
    )
    return stored.gather(1, keys.topk(N, dim=-1).indices.reshape(stored.shape[0], -1)).reshape(
        -1, N
    )


def resampled_votes(
    stored: torch.Tensor,
    N: int,
    repeats: int,
    gen: torch.Generator,
    *,
    with_replacement: bool,
    ties: str = "uniform",
) -> torch.Tensor:
    """The plurality votes of ``repeats`` resamples of N answers per row.

    Parameters
    ----------
    stored : torch.Tensor
        Codes ``(B, S)``.
    N, repeats : int
        Answers per vote, votes per row.
    gen : torch.Generator
        The generator of the draws, then of the tie-breaks.
    with_replacement : bool
        :func:`draws_with_replacement` or :func:`random_subsets`.
    ties : {"uniform", "smallest"}
        The vote's tie rule (:func:`icl.techniques.plurality_vote`); ``"smallest"`` draws nothing.

    Returns
    -------
    torch.Tensor
        The winning codes, ``(B * repeats,)``.
    """
    draw = draws_with_replacement if with_replacement else random_subsets
    return plurality_vote(draw(stored, N, repeats, gen), gen, ties=ties)


def win_rate(votes: torch.Tensor, truth: torch.Tensor, repeats: int) -> tuple[float, float]:
    """The fraction of votes that recover the truth, and its standard error given the prompts.

    Parameters
    ----------
    votes : torch.Tensor
        Winning codes ``(B * repeats,)``, ``repeats`` per prompt, prompt by prompt.
    truth : torch.Tensor
        The true codes ``(B,)``.
    repeats : int
        Votes per prompt.

    Returns
    -------
    tuple of float
        ``(mean, standard error)``.

    Notes
    -----
    With :math:`f_b` the frequency of prompt :math:`b` over :math:`R` votes, the standard error
    is :math:`\\sqrt{\\sum_b f_b(1-f_b)/(R-1)}/B`: only the resampling is random.
    """
    won = (votes.reshape(len(truth), repeats) == truth[:, None]).to(torch.float64)
    freq = won.mean(1).cpu().numpy()
    return freq.mean(), math.sqrt((freq * (1 - freq)).sum() / (repeats - 1)) / len(freq)


# --- tie rules ---


@dataclass(frozen=True)
class TieSums:
    """The exact vote of N stored answers (without replacement) under the three tie rules.

    ``answers``: the considered prompts' distributions; ``prompts``: those holding the truth;
    ``exact[rule][N]``: per such prompt; ``smaller_code``: per such prompt, the fraction of its
    distinct wrong answers whose code is smaller than the truth's.
    """

    answers: Answers
    prompts: list[int]
    exact: dict[str, dict[int, np.ndarray]]
    smaller_code: np.ndarray

    def mean(self, rule: str, N: int) -> float:
        """The mean over all considered prompts, those missing the truth counting 0."""
        return self.exact[rule][N].sum() / len(self.answers.correct)

    def stderr(self, rule: str, N: int) -> float:
        """The standard error of :meth:`mean` over the considered prompts."""
        missing = len(self.answers.correct) - len(self.prompts)
        values = np.r_[self.exact[rule][N], np.zeros(missing)]
        return values.std(ddof=1) / math.sqrt(len(self.answers.correct))


def tie_sums(run: sparse_vote.SparseVoteRun, n_votes: Sequence[int], prompts: int) -> TieSums:
    """The exact votes of a run's first ``prompts`` prompts under every tie rule.

    Parameters
    ----------
    run : icl.sparse_vote.SparseVoteRun
        The run (the prototype protocol's, in the chapter).
    n_votes : sequence of int
        The vote sizes.
    prompts : int
        How many of the first prompts to consider.

    Returns
    -------
    TieSums
    """
    a = answers(run.codes[:prompts], run.truth[:prompts])
    held = [b for b, i in enumerate(a.correct) if i is not None]
    exact = {
        rule: {
            N: sparse_vote.exact_subset_votes(run.codes[held], run.truth[held], N, rule)
            for N in n_votes
        }
        for rule in TIE_RULES
    }
    smaller = np.array(
        [np.mean(np.delete(c, i) < c[i]) for c, i in zip(a.codes, a.correct) if i is not None]
    )
    return TieSums(a, held, exact, smaller)


def tie_table(ties: TieSums) -> str:
    """The mean exact votes of :func:`tie_sums` under the three rules, beside the prototype's.

    Parameters
    ----------
    ties : TieSums

    Returns
    -------
    str
    """
    n_votes = list(ties.exact["uniform"])
    lines = [
        f"{'N':>4s}{'ties uniform':>15s}{'smallest code':>15s}{'ties lose':>12s}{'prototype':>12s}"
    ]
    for N in n_votes:
        lines.append(
            f"{N:4d}{ties.mean('uniform', N):15.5f}{ties.mean('smallest', N):15.5f}"
            f"{ties.mean('lose', N):12.5f}" + (f"{PROTOTYPE[N]:12.5f}" if N in PROTOTYPE else "")
        )
    return "\n".join(lines)


# --- greedy decoding's cycles and the sampled step ---


def greedy_map(
    X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, settings: sparse_vote.SparseVoteSettings
) -> torch.Tensor:
    """The greedy map :math:`F`: the top k of the step from the support ``w``.

    Parameters
    ----------
    X, y : torch.Tensor
        The prompts ``(B, n, d)``, ``(B, n)``.
    w : torch.Tensor
        Supports ``(B, d)``.
    settings : icl.sparse_vote.SparseVoteSettings
        ``k`` and ``eta``.

    Returns
    -------
    torch.Tensor
        The next supports ``(B, d)``.
    """
    step = theory.step_weights(X, y, w, eta=settings.eta)
    return decode_support(step, settings.k, greedy=True)


@dataclass(frozen=True)
class GreedyCycles:
    """Where greedy chains end: per greedy prompt, the successor of the final support and whether
    the final support is a fixed point of the greedy map or on a cycle of period two;
    ``truth_fixed``: the fraction of prompts whose truth is a fixed point."""

    successor: torch.Tensor
    fixed: torch.Tensor
    two_cycle: torch.Tensor
    truth_fixed: float


def greedy_cycles(
    run: sparse_vote.SparseVoteRun, settings: sparse_vote.SparseVoteSettings = SETTINGS
) -> GreedyCycles:
    """Classify the ends of a run's greedy chains by the greedy map (:func:`greedy_map`).

    Parameters
    ----------
    run : icl.sparse_vote.SparseVoteRun
        The run whose greedy prompts and final supports are classified.
    settings : icl.sparse_vote.SparseVoteSettings
        ``k`` and ``eta``.

    Returns
    -------
    GreedyCycles
    """
    pg, final = run.greedy_prompts, run.greedy_final
    successor = greedy_map(pg.X, pg.y, final, settings)
    fixed = (successor == final).all(-1)
    two_cycle = ~fixed & (greedy_map(pg.X, pg.y, successor, settings) == final).all(-1)
    truth_fixed = (greedy_map(pg.X, pg.y, pg.w, settings) == pg.w).all(-1)
    return GreedyCycles(successor, fixed, two_cycle, truth_fixed.to(torch.float64).mean().item())


@dataclass(frozen=True)
class Moves:
    """One sampled step from a support, per prompt: the exact probability of greedy's move (the
    Plackett-Luce set probability), its frequency over the draws, and the slip of independent
    draws :math:`(\\sum_{i \\in S'} p_i)^k`."""

    exact: np.ndarray
    frequency: np.ndarray
    independent: np.ndarray


def greedy_moves(
    run: sparse_vote.SparseVoteRun,
    cycles: GreedyCycles,
    prompts: int,
    draws: int,
    gen: torch.Generator,
    settings: sparse_vote.SparseVoteSettings = SETTINGS,
) -> dict[str, Moves]:
    """Sampled steps from the truth and from greedy's wrong 2-cycle, on the first ``prompts``
    prompts whose greedy chain ends on a 2-cycle.

    Parameters
    ----------
    run : icl.sparse_vote.SparseVoteRun
        The run whose greedy prompts are used.
    cycles : GreedyCycles
        The run's greedy cycles (:func:`greedy_cycles`).
    prompts : int
        The most prompts used.
    draws : int
        Sampled steps per prompt and start.
    gen : torch.Generator
        The draws' generator (from the truth first, then from the cycle).
    settings : icl.sparse_vote.SparseVoteSettings
        ``k`` and ``eta``.

    Returns
    -------
    dict
        ``"truth"`` (from the truth to itself) and ``"wrong-2-cycle"`` (from the final support to
        its successor) -> :class:`Moves`.

    Notes
    -----
    The exact probability is :func:`icl.theory.draw_set_probability` of the normalised step
    weights.
    """
    pg, k = run.greedy_prompts, settings.k
    wrong = cycles.two_cycle.nonzero()[:prompts, 0]
    X_s, y_s = pg.X[wrong], pg.y[wrong]
    out = {}
    for label, w_from, w_to in (
        ("truth", pg.w[wrong], pg.w[wrong]),
        ("wrong-2-cycle", run.greedy_final[wrong], cycles.successor[wrong]),
    ):
        weights = theory.step_weights(X_s, y_s, w_from, eta=settings.eta)
        target = w_to.topk(k, dim=-1).indices
        exact = theory.draw_set_probability(weights, target).cpu().numpy()
        drawn = decode_support(weights[:, None].expand(-1, draws, -1), k, generator=gen)
        freq = (drawn == w_to[:, None]).all(-1).to(torch.float64).mean(1).cpu().numpy()
        p = weights / weights.sum(-1, keepdim=True)
        independent = (p.gather(-1, target).sum(-1) ** k).cpu().numpy()
        out[label] = Moves(exact, freq, independent)
    return out


# --- the largest stored run ---


def read_largest_run() -> dict:
    """The stored results of ``scripts/ch06_largest_run.py`` (:data:`LARGEST_RUN`).

    Returns
    -------
    dict
        The JSON file's content.
    """
    return json.loads((runtime.book_root() / LARGEST_RUN).read_text())


def _column(r: dict, rule: str, extra: bool) -> dict:
    votes = {int(N): (v["mean"], v["se"]) for N, v in r["votes"][rule].items() if int(N) > 1}
    if not extra:
        return votes
    return {
        "greedy": (r["greedy"]["mean"], r["greedy"]["se"]),
        1: (r["single_sample"]["mean"], r["single_sample"]["se"]),
        **votes,
    }


@dataclass(frozen=True)
class LargestRun:
    """The largest stored run, read against the prototype's legend.

    ``results``: ``"<protocol> protocol"`` -> ``{key: (mean, se)}`` with the protocol's own tie
    rule; ``other_ties``: the votes of the same chains with the other rule; ``uniform``: both
    protocols' votes with uniform ties; ``z``: per protocol, each key's
    :func:`z_against_prototype`; ``exact_z``: ``(protocol, rule, N)`` -> the same for the exact
    subset votes (``None`` where the prototype has no N); ``between``: per N, the uniform-tie votes'
    difference between the protocols in combined standard errors.
    """

    stored: dict
    results: dict
    other_ties: dict
    uniform: dict
    z: dict
    exact_z: dict
    between: dict

    @property
    def outliers(self) -> dict[str, list]:
        """Per protocol, the keys with :math:`|z| > 2`."""
        return {name: [k for k, z in zs.items() if abs(z) > 2] for name, zs in self.z.items()}

    @property
    def within(self) -> dict[str, float]:
        """Per protocol, the largest :math:`|z| \\le 2`."""
        return {
            name: max(abs(z) for z in zs.values() if abs(z) <= 2) for name, zs in self.z.items()
        }

    def subset_votes(self, protocol: str, N: int) -> dict[str, tuple[float, float]]:
        """The exact subset votes of N stored answers: tie rule -> ``(mean, se)``."""
        exact = self.stored["protocols"][protocol]["exact_subset_votes"]
        return {rule: (v[str(N)]["mean"], v[str(N)]["se"]) for rule, v in exact.items()}


def largest_run(stored: dict) -> LargestRun:
    """Read the largest stored run (:func:`read_largest_run`).

    Parameters
    ----------
    stored : dict
        The stored results.

    Returns
    -------
    LargestRun
    """
    protocols = stored["protocols"]
    results = {f"{name} protocol": _column(r, r["tie_rule"], True) for name, r in protocols.items()}
    other = {}
    for name, r in protocols.items():
        rule = "smallest" if r["tie_rule"] == "uniform" else "uniform"
        other[f"{name} protocol, ties {rule}"] = _column(r, rule, False)
    uniform = {name: _column(r, "uniform", False) for name, r in protocols.items()}
    z = {
        name: {key: z_against_prototype(key, *v) for key, v in results[f"{name} protocol"].items()}
        for name in ("prototype", "book")
    }
    exact_z = {}
    for name, r in protocols.items():
        for rule, v in r["exact_subset_votes"].items():
            for N, e in v.items():
                exact_z[name, rule, int(N)] = (
                    z_against_prototype(int(N), e["mean"], e["se"]) if int(N) in PROTOTYPE else None
                )
    between = {
        N: (uniform["prototype"][N][0] - uniform["book"][N][0])
        / math.hypot(uniform["prototype"][N][1], uniform["book"][N][1])
        for N in uniform["book"]
    }
    return LargestRun(stored, results, other, uniform, z, exact_z, between)


def describe_largest_run(stored: dict) -> str:
    """The stored run's command, machine, wall time and per-protocol sizes.

    Parameters
    ----------
    stored : dict
        The stored results.

    Returns
    -------
    str
    """
    lines = [
        f"command: {stored['command']}\nrun: {stored['run']}\nwall time: {stored['seconds']:.0f} s"
    ]
    for name, r in stored["protocols"].items():
        lines.append(
            f"{name} protocol: {r['prompts']} prompts x {r['samples']} chains, vote ties "
            f"'{r['tie_rule']}', {r['seconds']:.0f} s"
        )
    return "\n".join(lines)


def exact_subset_report(run: LargestRun) -> str:
    """The stored exact subset votes under each tie rule, with their :math:`z` against the
    prototype where it reports the same N.

    Parameters
    ----------
    run : LargestRun

    Returns
    -------
    str
    """
    lines = []
    for name, r in run.stored["protocols"].items():
        lines.append(
            f"\n{name} protocol: exact vote of N of the {r['samples']} stored answers (without "
            "replacement), mean over prompts:"
        )
        for N in r["exact_subset_votes"]["uniform"]:
            line = f"N = {N:>3s}:"
            for rule, v in r["exact_subset_votes"].items():
                z = run.exact_z[name, rule, int(N)]
                line += f"   ties {rule} {v[N]['mean']:.5f} ± {v[N]['se']:.5f}" + (
                    f" (z = {z:+.2f})" if z is not None else ""
                )
            lines.append(line)
    larger = run.stored["protocols"]["prototype"]["wrong_answers_with_a_larger_code"]["pooled"]
    lines.append(
        f"fraction of the fixed truth's wrong answers with a smaller code: {1 - larger:.3f}"
    )
    return "\n".join(lines)
