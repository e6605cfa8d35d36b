"""The figures of Chapter 8, the test-time budget.

The chapter: ``book/ch08_test_time_budget.md``. Theory as lines, simulations as points with
one-standard-error bars.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from icl.experiments.ch08 import CoverageFit, SelectionCurves, SplitLaw, SplitsOverBudgets


def budget_figure(split: SplitsOverBudgets, law: SplitLaw, sample_more_steps=(30, 100)) -> Figure:
    """The risk of the optimal split, of one chain and of a fixed chain length against the budget
    (left), and the optimal ``T*`` and ``N*`` with the law (ch8-tstar) (right).

    Parameters
    ----------
    split : SplitsOverBudgets
        The computed optimum.
    law : SplitLaw
        Its asymptotic law.
    sample_more_steps : tuple of int
        The chain lengths of the "sample more" curves.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels.
    """
    budgets = split.budgets
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.loglog(budgets, split.r_star - split.b_inf, "k-", label="optimal split (computed)")
    ax1.loglog(budgets, law.excess_law, "k:", label="law (ch8-tstar)")
    longer = [split.think_longer(B) - split.b_inf for B in budgets]
    ax1.loglog(budgets, longer, label="think longer (N = 1)")
    for T in sample_more_steps:
        more = [split.sample_more(B, T) - split.b_inf for B in budgets]
        ax1.loglog(budgets, more, label=f"sample more (T = {T})")
    ax1.set(
        xlabel="budget B (chain-steps)",
        ylabel="risk minus ridge limit",
        title="risk against budget",
    )
    ax1.legend(fontsize=8)
    ax2.semilogx(budgets, split.t_star, "k.", label="T* (computed)")
    ax2.semilogx(budgets, law.t_law, "k:", label="law (ch8-tstar)")
    ax2.semilogx(budgets, law.t_guess, "r--", label="log B / (2 eta delta^2)")
    ax2.semilogx(budgets, split.n_star, "b.", label="N* (computed)")
    ax2.set(
        xlabel="budget B (chain-steps)", ylabel="steps or chains", ylim=(0, 500), title="the split"
    )
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def coverage_figure(
    fits: dict[int, CoverageFit], ks: np.ndarray, curves: dict[str, np.ndarray], n: int
) -> Figure:
    """The miss probability at :math:`T_{\\rm cal}` with its asymptotic law (left), and at
    :math:`T_{\\rm cal}` and the best temperature against blind guessing (right).

    Parameters
    ----------
    fits : dict
        ``n`` -> the exact curve at :math:`T_{\\rm cal}` and its exponents.
    ks : numpy.ndarray
        The numbers of samples of the right panel.
    curves : dict
        Label -> the miss probability at each of ``ks``.
    n : int
        The examples per prompt of the right panel's setting.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for n_ex, fit in fits.items():
        k, miss = fit.k_grid, fit.miss
        line = ax1.loglog(k, miss, label=f"n = {n_ex}, exact at T_cal")[0]
        ref = miss[-1] * (k / k[-1]) ** -fit.a * (np.log(k) / np.log(k[-1])) ** fit.b
        ax1.loglog(k[k >= 100], ref[k >= 100], ":", color=line.get_color())
    ax1.set(
        xlabel="samples k", ylabel="1 - pass@k", title="fixed temperature: k^-a (log k)^b (dotted)"
    )
    ax1.legend(fontsize=8)
    for label, values in curves.items():
        ax2.semilogy(ks, values, label=label)
    ax2.semilogy(ks, 2.0 ** -np.asarray(ks), "k:", label="2^-k (guessing)")
    ax2.set(xlabel="samples k", ylabel="1 - pass@k", title=f"Chapter 5's setting (n = {n})")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def selection_figure(
    curves: SelectionCurves,
    sim_n: np.ndarray,
    hard_sim,
    sim_soft_kl: dict,
    soft_sim: dict,
    count: int = 2048,
) -> Figure:
    """Oracle risk against KL from the base sampler, one panel per reward: best-of-N and soft
    selection exact (lines), simulated (points), and soft selection among ``count`` candidates
    exact by (ch8-finite-n) (crosses); dotted verticals at each curve's optimum.

    Parameters
    ----------
    curves : SelectionCurves
        The exact curves.
    sim_n : numpy.ndarray
        The simulated numbers of candidates of best-of-N.
    hard_sim : Estimate
        Best-of-N's simulated risks, ``len(sim_n)`` per reward in the order of the rewards.
    sim_soft_kl : dict
        Reward -> the KL of each simulated temperature.
    soft_sim : dict
        Reward -> one Estimate per temperature (column 0: simulated, column 1: exact at finite N).
    count : int
        The candidates of the simulated soft selection.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels sharing the risk axis.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    ns = len(sim_n)
    kl_n = curves.hard_kl[np.asarray(sim_n) - 1]
    for k, (ax, r) in enumerate(zip(axes, curves.hard)):
        hard, soft = curves.hard[r], curves.soft[r]
        ax.plot(curves.hard_kl, hard, "C0-", label="best-of-N (exact)")
        ax.plot(soft[:, 1], soft[:, 0], "C1-", label="soft selection, N -> inf (exact)")
        sim = hard_sim[k * ns : (k + 1) * ns]
        ax.errorbar(kl_n, sim.mean, yerr=sim.stderr, fmt="C0o", ms=4, label="best-of-N (sim.)")
        ests = soft_sim[r]
        ax.errorbar(
            sim_soft_kl[r],
            [e.mean[0] for e in ests],
            yerr=[e.stderr[0] for e in ests],
            fmt="C1s",
            ms=4,
            label=f"soft selection (sim., {count} cand., at the tilt's KL)",
        )
        exact = [e.mean[1] for e in ests]
        label = f"soft selection, {count} cand., exact (ch8-finite-n)"
        ax.plot(sim_soft_kl[r], exact, "kx", label=label)
        ax.axvline(curves.hard_kl[int(hard.argmin())], color="C0", ls=":", lw=1)
        ax.axvline(soft[int(soft[:, 0].argmin()), 1], color="C1", ls=":", lw=1)
        ax.axhline(hard[0], color="grey", lw=0.5)
        ax.set(xscale="symlog", xlabel="KL from the base sampler (nats)", title=f"reward: {r}")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("oracle risk E(w_sel - w*)^2")
    fig.tight_layout()
    return fig


SUMMARY_AXES = (
    ("budget B (chain-steps)", "risk E||w_hat - w||^2", "Chapter 3's chains"),
    ("samples k", "P(coefficient wrong / missed)", "Chapter 5, one coefficient"),
    ("samples N", "risk E(w_hat - w*)^2", "Chapter 4, d = 1, one step"),
)


def summary_figure(panels, points) -> Figure:
    """Every technique against compute, one panel per model: the exact curves, the best of them
    at each budget as a thick grey envelope, and simulated points.

    Parameters
    ----------
    panels : sequence of (dict, numpy.ndarray)
        Per panel, label -> exact curve, and the grid of compute.
    points : sequence of sequence of (numpy.ndarray, Estimate, str)
        Per panel, the simulated points: where, the estimate, and the matplotlib colour.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels.
    """
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, (panel, grid), (xlabel, ylabel, title), pts in zip(axes, panels, SUMMARY_AXES, points):
        best = np.min(np.stack(list(panel.values())), 0)
        ax.plot(grid, best, color="0.8", lw=6, label="best")
        for k, (label, values) in enumerate(panel.items()):
            ax.plot(grid, values, f"C{k}-", label=label)
        for where, est, colour in pts:
            ax.errorbar(where, est.mean, est.stderr, fmt=f"{colour}o", ms=4)
        ax.set(xscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
        ax.legend(fontsize=7)
    axes[0].set_ylim(0.6, 2.2)
    axes[1].set(yscale="log", ylim=(1e-8, 1))
    fig.tight_layout()
    return fig
