"""The figures of Chapter 3, noise injection and averaged chains.

The chapter: ``book/ch03_noise_injection.md``. Each function takes the chapter's results (the
records and settings of :mod:`icl.experiments.ch03`) and returns the figure: theory as lines,
simulation as points with error bars.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from icl.experiments import ch03
from icl.harness.montecarlo import Estimate


def legend_scaled_by_n(
    single: ch03.OneChain, comparison: ch03.LegendComparison, setting: ch03.Prototype
) -> Figure:
    """The prototype's legend minus its ridge row, scaled by N, against the first-order
    prediction and the exact upper bound.

    Parameters
    ----------
    single : icl.experiments.ch03.OneChain
        The exact quantities per prompt: :math:`\\mathbb{E}\\,c` and its SE, the ridge row's
        mean error and the mean exact upper bound at each N of the legend.
    comparison : icl.experiments.ch03.LegendComparison
        The prototype's own SE of each row's difference from the ridge row.
    setting : icl.experiments.ch03.Prototype
        The setting, for the title.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Scaled by N, the first-order prediction :math:`\\|b\\| + c/N - \\|b\\|` is the constant
    :math:`\\mathbb{E}\\,c`; the legend's points carry ±1 SE.
    """
    n_avg, legend = ch03.ROWS_N, ch03.LEGEND
    upper_excess = [single.upper[n] - single.mean["ridge"] for n in n_avg]
    legend_excess = [legend[n] - legend["ridge"] for n in n_avg]
    legend_se = [comparison.agree[n]["own_se"] for n in n_avg]
    title = f"the prototype's legend: {setting.describe()}, $\\delta'^2$ = 1"
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    n_axis = np.asarray(n_avg, dtype=float)
    c, c_se = single.mean["c"], single.se["c"]
    label = r"book: $\mathbb{E}\,c$, first order in $1/N$ (exact per prompt; band ±1 SE)"
    ax.axhline(c, color="C3", label=label)
    ax.fill_between([0.7, 1500], c - c_se, c + c_se, color="C3", alpha=0.2)
    ax.plot(
        n_axis,
        n_axis * np.asarray(upper_excess),
        color="C3",
        ls=":",
        label=r"book: exact upper bound $N\,\mathbb{E}[(\|b\|^2 + \mathrm{tr}\,C_T/N)^{1/2}"
        r" - \|b\|]$",
    )
    ax.errorbar(
        n_axis,
        n_axis * np.asarray(legend_excess),
        yerr=n_axis * np.asarray(legend_se),
        fmt="s",
        color="k",
        capsize=3,
        label="prototype's legend (±1 SE: its 4096 prompts and its rounding)",
    )
    ax.axhline(0.0, color="C1", ls="--", label=r"ridge GD ($N \to \infty$)")
    ax.set(
        xscale="log",
        xlim=(0.7, 1500),
        xlabel="number of averaged chains $N$",
        ylabel=r"$N \times$ (mean error of the average $-$ that of ridge GD)",
        title=title,
    )
    ax.legend(fontsize=7)
    return fig


def risk_against_n(
    curves: ch03.PrototypeCurves,
    single: ch03.OneChain,
    nested: Estimate,
    n_avg: list[int],
    setting: ch03.Prototype,
) -> Figure:
    """The squared risk of the average of N chains, minus the greedy chain's, and its excess
    over the :math:`N \\to \\infty` limit, against N.

    Parameters
    ----------
    curves : icl.experiments.ch03.PrototypeCurves
        The exact risk terms at each level, with greedy and ridge GD's risks.
    single, nested, n_avg
        The simulations (one chain per prompt; nested averages at the N of ``n_avg``), drawn
        as points by :func:`icl.experiments.ch03.simulated_points`.
    setting : icl.experiments.ch03.Prototype
        The setting.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The lines are :math:`\\mathbb{E}\\,\\text{bias}^2 - R_{GD} + \\mathbb{E}\\operatorname{tr}
    C_T/N` (left) and :math:`\\mathbb{E}\\operatorname{tr} C_T/N` (right); points carry ±4 SE.
    """
    levels = curves.against_n(setting)
    excess, spread = ch03.simulated_points(single, nested, n_avg)
    ridge_gap = (curves.ridge_risk - curves.gd_risk).mean().item()
    title = f"prototype's setting ({setting.describe()})"
    n_line = np.logspace(0, 3, 100)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (level, (bias_gap, trace)) in enumerate(levels.items()):
        color = f"C{i + 2}"
        label = f"average of N chains, $\\delta'^2$ = {level:g} (exact)"
        ax.plot(n_line, bias_gap + trace / n_line, color=color, label=label)
        label = f"$\\delta'^2$ = {level:g}: $\\mathrm{{tr}}\\, C_T / N$"
        ax2.plot(n_line, trace / n_line, color=color, label=label)
    _points(ax, excess, r"simulated, $\delta'^2 = 1$ (±4 SE, paired)")
    ax.axhline(0.0, color="C0", ls="--", label="greedy GD ($\\lambda$ = 0)")
    ax.axhline(ridge_gap, color="C1", ls="--", label="ridge GD ($\\lambda' = 1$)")
    ax.set(
        xscale="log",
        xlabel="number of averaged chains $N$",
        ylabel="risk minus the greedy chain's risk (same prompts)",
        title=title,
    )
    ax.legend(fontsize=7)
    _points(ax2, spread, r"simulated $\|\bar w_N - m_T\|^2$, $\delta'^2 = 1$ (±4 SE)")
    ax2.axhline(-ridge_gap, color="C0", ls="--", label="greedy GD $-$ ridge GD")
    ax2.set(
        xscale="log",
        yscale="log",
        xlabel="number of averaged chains $N$",
        ylabel=r"excess risk over the $N\to\infty$ limit",
    )
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _points(ax, points: Mapping, label: str, at: float | None = None) -> None:
    """Simulated means with ±4 SE bars, at their keys (or all at ``at``)."""
    x = list(points) if at is None else [at] * len(points)
    mean = [v[0] for v in points.values()]
    yerr = [4 * v[1] for v in points.values()]
    ax.errorbar(x, mean, yerr=yerr, fmt="o", color="C3", label=label)


def risk_against_steps(
    curves: ch03.PrototypeCurves,
    single: ch03.OneChain,
    nested: Estimate,
    n_avg: list[int],
    setting: ch03.Prototype,
    shown: tuple[int, ...] = (1, 10, 100),
) -> Figure:
    """The risks along the chain at :math:`\\delta'^2 = 1`: greedy, one sampled chain and the
    :math:`N \\to \\infty` limit (left), and each average minus the greedy chain (right).

    Parameters
    ----------
    curves : icl.experiments.ch03.PrototypeCurves
        The exact risk terms at every step.
    single, nested, n_avg
        The simulations, drawn at the final step (:func:`icl.experiments.ch03.simulated_points`).
    setting : icl.experiments.ch03.Prototype
        The setting.
    shown : tuple of int
        The averages drawn on the right.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The risk of the average of N chains at step t is :math:`\\text{bias}_t^2 +
    \\operatorname{tr} C_t / N`, averaged over the prompts.
    """
    bias, trace = curves.terms[1 / setting.n]
    greedy, bias, trace = (v.mean(0).cpu().numpy() for v in (curves.greedy_path, bias, trace))
    excess, _ = ch03.simulated_points(single, nested, n_avg)
    t_axis = np.arange(len(greedy))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.0))
    ax.plot(t_axis, greedy, color="C0", label="greedy chain")
    ax.plot(t_axis, bias + trace, color="C3", label="one sampled chain")
    limit = r"$N \to \infty$: ridge-GD iterate, $\lambda = \delta^2$"
    ax.plot(t_axis, bias, color="C1", label=limit)
    ax.set(
        yscale="log",
        xlabel="number of thoughts $T$",
        ylabel=r"parameter risk $\mathbb{E}\|\bar w_N - w\|^2$",
        title=r"$\delta'^2 = 1$",
    )
    ax.legend(fontsize=8)
    for n, style in zip(shown, ["-", "--", "-.", ":"]):
        label = f"average of N = {n} sampled chains (exact)"
        ax2.plot(t_axis[1:], (bias + trace / n - greedy)[1:], color="C3", ls=style, label=label)
    ax2.plot(t_axis[1:], (bias - greedy)[1:], color="C1", label=r"$N \to \infty$ (exact)")
    ax2.axhline(0.0, color="C0", ls="--", label="greedy chain")
    _points(ax2, excess, "simulated at the final $T$ (±4 SE, paired)", at=t_axis[-1])
    ax2.set(
        xscale="log",
        xlabel="number of thoughts $T$",
        ylabel="risk minus the greedy chain's risk (same prompts)",
    )
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def risk_against_level(
    risks: ch03.RegulariserRisks,
    points: Mapping[float, tuple[float, float]],
    setting: ch03.Regulariser,
) -> Figure:
    """The risk of the average of N chains against the noise level, with the greedy chain and
    the Bayes risk.

    Parameters
    ----------
    risks : icl.experiments.ch03.RegulariserRisks
        The exact design-averaged risks at each level of the grid.
    points : mapping
        Level factor :math:`\\delta^2/\\lambda^*` :math:`\\mapsto` (one chain's simulated risk,
        its SE).
    setting : icl.experiments.ch03.Regulariser
        The setting: its grid of levels, and the title.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The Bayes risk is the ridge risk at :math:`\\lambda^* = \\sigma^2/(n\\psi^2)`.
    """
    factors, risk_n, steps = setting.factors, risks.risk_N, setting.steps
    greedy, bayes = risks.greedy_risk, risks.bayes_risk
    title = (
        f"d = {setting.d}, n = {setting.n}, $\\sigma^2$ = {setting.sigma2}, $\\eta$ = {setting.eta}"
    )
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    for (n, curve), style in zip(risk_n.items(), ["-", "--", "-.", ":"]):
        label = (
            r"$N \to \infty$ (ridge-GD iterate)" if n == np.inf else f"average of N = {n} chains"
        )
        ax.plot(factors, curve, color="C3", ls=style, label=label + " (exact)")
    _points(ax, points, "one chain, simulated (±4 SE)")
    ax.axhline(greedy, color="C0", ls="--", label=f"greedy chain, T = {steps}")
    ax.axhline(bayes, color="k", ls=":", label=r"Bayes: ridge at $\lambda^*$")
    ax.axvline(1.0, color="grey", lw=0.8)
    ax.set(
        xscale="log",
        xlabel=r"noise level $\delta^2 / \lambda^*$,  $\lambda^* = \sigma^2/(n\psi^2)$",
        ylabel=r"parameter risk $\mathbb{E}\|\bar w_N - w\|^2$",
        title=title,
    )
    ax.legend(fontsize=8)
    return fig
