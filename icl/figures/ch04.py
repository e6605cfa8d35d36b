"""The figures of Chapter 4, best-of-N.

The chapter: ``book/ch04_best_of_n.md``. Each function draws one figure from the chapter's
results and returns it:

- :func:`oracle_heatmap`: the exact oracle risk over (N, tau), the closed-form best
  temperature and the grid's best;
- :func:`risk_against_n`: each reward's risk against N in d = 50, at the best and at a fixed
  temperature;
- :func:`more_samples_hurt`: the exact and simulated curves in d = 1 and the simulated ones for
  n < d, with each reward's best N and its limit (titled by :func:`hurt_titles`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

REWARDS = ("oracle", "in-context loss", "norm")
RISK = r"risk $\mathbb{E}\|w_{\rm sel} - w^*\|^2$"


def oracle_heatmap(
    n_grid, taus, risk: np.ndarray, tau_closed, best: np.ndarray, title: str
) -> Figure:
    """The exact oracle risk over the (N, tau) grid, with the best temperature.

    Parameters
    ----------
    n_grid : sequence of int
        The N of the grid (columns, evenly spaced on the axis).
    taus : sequence of float
        The temperatures of the grid (rows, evenly spaced).
    risk : numpy.ndarray
        The exact risk, shape (tau, N).
    tau_closed : sequence of float
        The closed-form :math:`\\tau^*(N)` of the Gaussian approximation, one per N.
    best : numpy.ndarray
        Per N, the index of the grid's best temperature.
    title : str
        The axes' title.

    Returns
    -------
    matplotlib.figure.Figure
        The heat map with the closed form as a line and the grid's best as points.
    """
    taus, cols = np.asarray(taus), np.arange(len(n_grid))
    step = taus[1] - taus[0]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    edges = np.append(taus, taus[-1] + step) - step / 2
    image = ax.pcolormesh(
        np.arange(len(n_grid) + 1) - 0.5, edges, risk, cmap="viridis", shading="flat"
    )
    fig.colorbar(image, ax=ax, label=r"oracle risk $\mathbb{E}\|w_{\rm sel} - w^*\|^2$ (exact)")
    closed = r"$\tau^*(N)$, Gaussian approximation (closed form)"
    ax.plot(cols, tau_closed, color="w", lw=2, label=closed)
    ax.plot(cols, taus[best], "o", color="r", label=r"best $\tau$ on the grid (exact)")
    ax.set(xticks=cols, xticklabels=list(n_grid), xlabel="number of samples $N$")
    ax.set(ylabel=r"temperature $\tau$", title=title)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def risk_against_n(
    n_grid,
    taus,
    line: np.ndarray,
    line_se: np.ndarray,
    sim: np.ndarray,
    approx: np.ndarray,
    best: np.ndarray,
    fixed: int,
    greedy: float,
    ridge: float,
    exact_rewards=(0, 2),
) -> Figure:
    """Each reward's risk against N, at the grid's best temperature (left) and a fixed one.

    Parameters
    ----------
    n_grid : sequence of int
        The N of the grid.
    taus : sequence of float
        The temperatures of the grid.
    line, line_se : numpy.ndarray
        Each reward's reference curve (exact or the Gaussian approximation) and the SE of
        simulated minus reference, shape (tau, reward, N).
    sim, approx : numpy.ndarray
        The simulated risk and the Gaussian approximation, shape (tau, reward, N).
    best : numpy.ndarray
        (reward, N): the index of the best temperature.
    fixed : int
        The index of the right panel's temperature.
    greedy, ridge : float
        The greedy answer's and ridge's risks (horizontal lines).
    exact_rewards : sequence of int
        The rewards whose reference curve is exact (their approximation is drawn dotted).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels; points with bars of ±4 SE of simulated minus reference.
    """
    n_grid, cols = np.asarray(n_grid), np.arange(len(n_grid))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    titles = ("best temperature on the grid", f"fixed temperature $\\tau$ = {taus[fixed]}")
    for ax, title in zip(axes, titles):
        for j, reward in enumerate(REWARDS):
            rows = best[j] if ax is axes[0] else np.full(len(n_grid), fixed)
            kind = "exact" if j in exact_rewards else "Gaussian approximation"
            ax.plot(n_grid, line[rows, j, cols], color=f"C{j}", label=f"{reward}, {kind}")
            if j in exact_rewards:
                label = f"{reward}, Gaussian approximation"
                ax.plot(n_grid, approx[rows, j, cols], ":", color=f"C{j}", label=label)
            label = f"{reward}, simulated (±4 SE of sim. − line)"
            yerr = 4 * line_se[rows, j, cols]
            ax.errorbar(
                n_grid, sim[rows, j, cols], yerr=yerr, fmt="o", ms=4, color=f"C{j}", label=label
            )
        ax.axhline(greedy, color="grey", ls=":", label=r"greedy $B(\eta^*)$ (exact)")
        ax.axhline(ridge, color="k", ls="--", label="ridge, Bayes (simulated)")
        ax.set(xscale="log", yscale="log", xlabel="number of samples $N$", title=title)
    axes[0].set_ylabel(RISK)
    axes[0].set_ylim(10, 35)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=4)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig


def hurt_titles(one_dim: dict, low: dict, tau: float) -> tuple[str, str]:
    """The titles of the two panels of :func:`more_samples_hurt`.

    Parameters
    ----------
    one_dim, low : dict
        The two settings (``n``, ``d``, ``sigma2``): d = 1, and n < d.
    tau : float
        The temperature.

    Returns
    -------
    (str, str)
        Each panel's setting, and how its best N was found (exact, or measured on the grid).
    """
    setting = "d = {d}, n = {n}, $\\sigma^2$ = {sigma2}, $\\tau$ = " + f"{tau}; ★ "
    return (
        setting.format(**one_dim) + "best N (exact)",
        setting.format(**low) + "best N of the grid (measured)",
    )


def more_samples_hurt(
    n_exact,
    exact: dict,
    limits_1d: dict,
    n_grid,
    one_d: np.ndarray,
    one_d_se: np.ndarray,
    low: np.ndarray,
    low_se: np.ndarray,
    best_low: dict,
    limits_low: dict,
    titles: tuple[str, str],
) -> Figure:
    """Risk against N: exact and simulated in d = 1 (left), simulated for n < d (right).

    Parameters
    ----------
    n_exact : sequence of int
        The N of the exact curves.
    exact : dict
        Per reward, the exact d = 1 curve over ``n_exact``.
    limits_1d, limits_low : dict
        Per reward, the exact :math:`N \\to \\infty` limit (the oracle's is not drawn).
    n_grid : sequence of int
        The N of the simulated curves.
    one_d, one_d_se, low, low_se : numpy.ndarray
        Simulated means and SEs, shape (reward, k, N), the loss at k = 0.
    best_low : dict
        Per reward but the oracle, the index in ``n_grid`` of the simulated best N for n < d.
    titles : (str, str)
        The panels' titles.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels; each reward's best N starred, its limit dashed.
    """
    n_exact, n_grid = np.asarray(n_exact), np.asarray(n_grid)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for j, r in enumerate(REWARDS):
        simulated = f"{r}, simulated (±4 SE)"
        axes[0].plot(n_exact, exact[r], color=f"C{j}", label=f"{r}, exact")
        axes[0].errorbar(
            n_grid,
            one_d[j, 0],
            yerr=4 * one_d_se[j, 0],
            fmt="o",
            ms=3,
            color=f"C{j}",
            label=simulated,
        )
        axes[1].errorbar(
            n_grid, low[j, 0], yerr=4 * low_se[j, 0], fmt="o-", ms=3, color=f"C{j}", label=simulated
        )
        if r == "oracle":
            continue
        star = dict(ms=15, color=f"C{j}", mec="k")
        axes[0].plot(n_exact[np.argmin(exact[r])], np.min(exact[r]), "*", **star)
        axes[1].plot(n_grid[best_low[r]], low[j, 0, best_low[r]], "*", **star)
        limit = f"{r}, exact $N \\to \\infty$ limit"
        axes[0].axhline(limits_1d[r], color=f"C{j}", ls="--", label=limit)
        axes[1].axhline(limits_low[r], color=f"C{j}", ls="--", label=limit)
    for ax, title in zip(axes, titles):
        ax.set(xscale="log", yscale="log", xlabel="number of samples $N$", ylabel=RISK)
        ax.set(title=title)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig
