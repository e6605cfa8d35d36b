"""The figures of Chapter 9, hard and easy prompts.

The chapter: ``book/ch09_hard_and_easy_prompts.md``. Theory as lines, simulations as points with
one-standard-error bars.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from icl.experiments.ch09 import BudgetRow, PromptTerms


def allocation_figure(
    worlds: dict[str, tuple[PromptTerms, list[BudgetRow]]], shown_budget: int
) -> Figure:
    """The compute-efficiency ratio of the adaptive allocation and of each prompt's own split
    against the budget, for each world (left); the chain-steps the allocation gives each prompt
    at ``shown_budget`` against its difficulty index, in the last world (right).

    Parameters
    ----------
    worlds : dict
        Per world's name, its terms and its rows (:func:`icl.experiments.ch09.budget_rows`).
    shown_budget : int
        The budget of the right panel (one of the rows' budgets).

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for (name, (_, rows)), color in zip(worlds.items(), ("C0", "C3"), strict=False):
        budgets = [r.budget for r in rows]
        ratio = np.array([r.ratio for r in rows])
        own = np.array([r.own_ratio for r in rows])
        finite = np.isfinite(ratio)
        left.plot(
            np.array(budgets)[finite], ratio[finite], "-o", color=color, label=f"{name}: adaptive"
        )
        left.plot(
            np.array(budgets)[np.isfinite(own)],
            own[np.isfinite(own)],
            "--s",
            color=color,
            label=f"{name}: own split",
        )
    left.axhline(1.0, color="k", lw=0.8)
    left.set(
        xscale="log",
        xlabel="budget B (chain-steps per prompt)",
        ylabel="uniform budget to match / B",
        title="compute-efficiency ratio (inf: not reached)",
    )
    left.legend(fontsize=8)
    terms, rows = list(worlds.values())[-1]
    (row,) = [r for r in rows if r.budget == shown_budget]
    spent = row.allocation.n_chains * row.allocation.steps
    for k in np.unique(terms.kinds)[:: max(1, len(terms.world) // 9)]:
        mine = terms.kinds == k
        n, sigma2, psi2 = terms.world[k]
        right.scatter(
            terms.index[mine], spent[mine], s=6, label=f"n={n}, σ²={sigma2:g}, ψ²={psi2:g}"
        )
    right.set(
        xscale="log",
        yscale="symlog",
        xlabel=r"difficulty index $b_\infty(X)$",
        ylabel="chain-steps N T given",
        title=f"adaptive allocation at B = {shown_budget}",
    )
    right.legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    return fig


def vote_figure(n_votes, chen_theory, chen_points, coordinate, labels) -> Figure:
    """Majority-vote accuracy against the number of votes: Chen et al.'s mixture (exact line,
    simulated points) and Chapter 5's coordinate vote at several settings (exact lines).

    Parameters
    ----------
    n_votes : numpy.ndarray
        The numbers of votes of the lines.
    chen_theory : numpy.ndarray
        :func:`icl.theory.mixture_vote_accuracy` at ``n_votes``.
    chen_points : list of (int, Estimate)
        Simulated accuracies at some numbers of votes.
    coordinate : numpy.ndarray
        Chapter 5's curves, ``(settings, len(n_votes))``.
    labels : list of str
        One per setting.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(n_votes, chen_theory, color="C0", label="exact (mixture_vote_accuracy)")
    left.errorbar(
        [N for N, _ in chen_points],
        [float(e.mean) for _, e in chen_points],
        yerr=[float(e.stderr) for _, e in chen_points],
        fmt="o",
        color="k",
        label="simulated votes",
    )
    left.set(
        xscale="log",
        xlabel="votes N",
        ylabel="accuracy",
        title="60 % easy (p = 0.85), 40 % hard (p = 0.35)",
    )
    left.legend(fontsize=8)
    for curve, label in zip(coordinate, labels, strict=True):
        right.plot(n_votes, curve, label=label)
    right.set(
        xscale="log",
        xlabel="votes N",
        ylabel="prompt-averaged accuracy",
        title="Chapter 5's coordinate vote: never falls",
    )
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig


def gsm8k_figure(record, fits) -> Figure:
    """The prototype's GSM8K vote accuracy against the number of votes (points, with the reading
    error and the test set's binomial standard error), each model's fit on ``N <= fit_max`` and
    its prediction beyond with the 95 % interval (lines and bands), and the single low-temperature
    samples (horizontal lines).

    Parameters
    ----------
    record : icl.experiments.ch09.Gsm8kRecord
        The record.
    fits : list of icl.experiments.ch09.VoteFit
        The fitted models.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    fig, ax = plt.subplots(figsize=(8, 4.5))
    N = record.n_votes
    for fit, color in zip(fits, ("C3", "C2"), strict=False):
        ax.plot(N, fit.predicted, "-", color=color, label=f"{fit.name} (fit on N ≤ {fit.fit_max})")
        ax.fill_between(N, fit.predicted - fit.interval, fit.predicted + fit.interval,
                        color=color, alpha=0.15)  # fmt: skip
    ax.errorbar(N, record.accuracy, yerr=record.se(record.accuracy), fmt="o", color="k",
                label="prototype, majority vote at T = 1")  # fmt: skip
    for (temperature, accuracy), style in zip(
        record.low_temperature.items(), (":", "--", "-.", ":", "--"), strict=False
    ):
        ax.axhline(
            accuracy, color="0.5", ls=style, lw=0.8, label=f"one sample at T = {temperature:g}"
        )
    ax.axvspan(0.8, fits[0].fit_max * 1.2, color="0.9", zorder=0)
    ax.set(
        xscale="log",
        xlabel="votes N",
        ylabel="GSM8K accuracy",
        ylim=(0.45, 1.02),
        title="the prototype's language model against two vote models (fitted: grey band)",
    )
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    return fig


def strategy_figure(terms, risks, bins: int = 8) -> Figure:
    """The risk of thinking longer, sampling more and selecting, each divided by the prompt's own
    best split of the same budget, in bins of the difficulty index: exact strategies as lines,
    selection (measured) as points with one-standard-error bars.

    Parameters
    ----------
    terms : icl.experiments.ch09.PromptTerms
        The prompts (their index).
    risks : icl.experiments.ch09.StrategyRisks
        The strategies' risks per prompt.
    bins : int
        Equal-count bins of the index.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    groups = np.array_split(np.argsort(terms.index), bins)
    x = np.array([terms.index[g].mean() for g in groups])
    own = np.array([risks.own_split[g].mean() for g in groups])
    fig, ax = plt.subplots(figsize=(7, 4))
    for values, label, color in (
        (risks.think_longer, f"think longer: N = 1, T = {risks.budget}", "C0"),
        (risks.sample_more, f"sample more: average of N = {risks.n_chains}, T = {risks.steps}",
         "C1"),
    ):  # fmt: skip
        ax.plot(x, [values[g].mean() for g in groups] / own, "-", color=color, label=label)
    select = np.array([risks.select[g].mean() for g in groups])
    se = np.array([np.sqrt((risks.select_se[g] ** 2).sum()) / len(g) for g in groups])
    ax.errorbar(
        x,
        select / own,
        yerr=se / own,
        fmt="o",
        color="C3",
        label=f"select: best of the N = {risks.n_chains} by in-context loss (measured)",
    )
    ax.axhline(1.0, color="k", lw=0.8, label="the prompt's own best split")
    ax.set(
        xscale="log",
        xlabel=r"difficulty index $b_\infty(X)$ (bin means)",
        ylabel="risk / own best split",
        title=f"one budget B = {risks.budget} per prompt",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def sweep_map_figure(rows: list[dict]) -> Figure:
    """A sweep of Chapter 5's vote accuracy: for each temperature, the exact accuracy against the
    number of votes (lines) and the sweep's estimates (points with one-standard-error bars).

    Parameters
    ----------
    rows : list of dict
        The sweep's table (:func:`icl.sweep.run_sweep`).

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    temperatures = sorted({r["temperature"] for r in rows})
    for k, T in enumerate(temperatures):
        mine = sorted((r for r in rows if r["temperature"] == T), key=lambda r: r["n_votes"])
        N = [r["n_votes"] for r in mine]
        ax.plot(N, [r["theory"] for r in mine], "-", color=f"C{k}", label=f"T = {T:.3g}")
        ax.errorbar(N, [r["estimate"] for r in mine], yerr=[r["se"] for r in mine], fmt="o",
                    color=f"C{k}", ms=4)  # fmt: skip
    ax.set(
        xscale="log",
        xlabel="votes N",
        ylabel="accuracy per coefficient",
        title="Chapter 5's vote, swept: exact (lines), icl.sweep estimates (points)",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
