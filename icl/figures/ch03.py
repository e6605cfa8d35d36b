"""The figures of Chapter 3, noise injection and averaged chains.

The chapter: ``book/ch03_noise_injection.md``. Each function takes the chapter's results as plain
numbers and arrays and returns the figure: theory as lines, simulation as points with error bars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def legend_scaled_by_n(
    n_avg: Sequence[int],
    coefficient: tuple[float, float],
    upper_excess: Sequence[float],
    legend_excess: Sequence[float],
    legend_se: Sequence[float],
    title: str,
) -> Figure:
    """The prototype's legend minus its ridge row, scaled by N, against the first-order
    prediction and the exact upper bound.

    Parameters
    ----------
    n_avg : sequence of int
        The numbers of averaged chains N.
    coefficient : (float, float)
        :math:`\\mathbb{E}\\,c` and its SE, the first-order coefficient of :math:`1/N`.
    upper_excess : sequence of float
        Per N, the mean exact upper bound minus the ridge row's error.
    legend_excess, legend_se : sequence of float
        Per N, the legend minus its ridge row, and that difference's SE.
    title : str
        The axes' title.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Scaled by N, the first-order prediction :math:`\\|b\\| + c/N - \\|b\\|` is the constant
    :math:`\\mathbb{E}\\,c`.
    """
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    n_axis = np.asarray(n_avg, dtype=float)
    c, c_se = coefficient
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
    levels: Mapping[float, tuple[float, float]],
    excess: Mapping[int, tuple[float, float]],
    spread: Mapping[int, tuple[float, float]],
    ridge_gap: float,
    title: str,
) -> Figure:
    """The squared risk of the average of N chains, minus the greedy chain's, and its excess
    over the :math:`N \\to \\infty` limit, against N.

    Parameters
    ----------
    levels : mapping
        :math:`\\delta'^2 \\mapsto` (mean bias² minus the greedy risk, mean
        :math:`\\operatorname{tr} C_T`), exact.
    excess : mapping
        N :math:`\\mapsto` (simulated mean squared error minus the greedy one, its SE).
    spread : mapping
        N :math:`\\mapsto` (simulated :math:`\\|\\bar w_N - m_T\\|^2`, its SE).
    ridge_gap : float
        Ridge GD's risk minus greedy GD's (negative when ridge is better).
    title : str
        The left panel's title.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The lines are :math:`\\mathbb{E}\\,\\text{bias}^2 - R_{GD} + \\mathbb{E}\\operatorname{tr}
    C_T/N` (left) and :math:`\\mathbb{E}\\operatorname{tr} C_T/N` (right); points carry ±4 SE.
    """
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
    greedy: np.ndarray,
    bias: np.ndarray,
    trace: np.ndarray,
    excess: Mapping[int, tuple[float, float]],
    n_avg: Sequence[int] = (1, 10, 100),
) -> Figure:
    """The risks along the chain: greedy, one sampled chain and the :math:`N \\to \\infty` limit
    (left), and each average minus the greedy chain (right).

    Parameters
    ----------
    greedy, bias, trace : numpy.ndarray
        Prompt-averaged greedy risk, bias² and :math:`\\operatorname{tr} C_t` at
        :math:`t = 0, \\dots, T`.
    excess : mapping
        N :math:`\\mapsto` (simulated risk minus the greedy one at T, its SE).
    n_avg : sequence of int
        The averages drawn on the right.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The risk of the average of N chains at step t is :math:`\\text{bias}_t^2 +
    \\operatorname{tr} C_t / N`.
    """
    greedy, bias, trace = (np.asarray(v, dtype=float) for v in (greedy, bias, trace))
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
    for n, style in zip(n_avg, ["-", "--", "-.", ":"]):
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
    factors: np.ndarray,
    risk_n: Mapping[float, np.ndarray],
    points: Mapping[float, tuple[float, float]],
    greedy: float,
    bayes: float,
    title: str,
    steps: int,
) -> Figure:
    """The risk of the average of N chains against the noise level, with the greedy chain and
    the Bayes risk.

    Parameters
    ----------
    factors : numpy.ndarray
        The noise levels :math:`\\delta^2/\\lambda^*`.
    risk_n : mapping
        N (``numpy.inf`` for the limit) :math:`\\mapsto` the exact risk at each level.
    points : mapping
        Level factor :math:`\\mapsto` (one chain's simulated risk, its SE).
    greedy, bayes : float
        The greedy chain's risk after ``steps`` thoughts, and the Bayes risk.
    title : str
        The axes' title.
    steps : int
        The greedy chain's number of thoughts.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The Bayes risk is the ridge risk at :math:`\\lambda^* = \\sigma^2/(n\\psi^2)`.
    """
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
