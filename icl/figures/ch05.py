"""The figures of Chapter 5, binary coefficients: votes and pass@k.

The chapter: ``book/ch05_binary_coefficients.md``. Each function takes results computed by
:mod:`icl.experiments.ch05` and returns the matplotlib Figure: theory as lines, simulations as
points with error bars of four standard errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from scipy import special

from icl.experiments.ch05 import Reliability, Setting
from icl.harness.montecarlo import Estimate


def reliability(result: Reliability, t_cal: float, setting: Setting) -> Figure:
    """The reliability diagram of the linear decoder.

    Parameters
    ----------
    result : Reliability
        Simulated frequencies of ``w_j = +1`` per bin of ``w_hat_j``.
    t_cal : float
        The calibration temperature.
    setting : Setting
        The prompts, named in the title.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Lines :math:`\\operatorname{sigmoid}(2h/T_{cal})` and :math:`\\operatorname{sigmoid}(2h)`
    (the decoder at :math:`T = 1`).
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    h_line = np.linspace(-1.5, 1.5, 200)
    ax.errorbar(
        result.h,
        result.frequency,
        yerr=4 * result.stderr,
        fmt="o",
        ms=3,
        color="k",
        label="simulated frequency of $w_j = +1$ (±4 SE)",
    )
    ax.plot(
        h_line,
        special.expit(2 * h_line / t_cal),
        color="C0",
        label=f"sigmoid$(2h/T_{{cal}})$, $T_{{cal}}$ = {t_cal:g}",
    )
    ax.plot(h_line, special.expit(2 * h_line), color="C3", ls="--", label="sigmoid$(2h/T)$, T = 1")
    s = setting
    ax.set(
        xlabel=r"$\hat w_j$",
        ylabel=r"$P(w_j = +1 \mid \hat w_j)$",
        title=f"n={s.n}, d={s.d}, $\\sigma^2$={s.sigma2}, $\\eta$={s.eta}",
    )
    ax.legend(fontsize=8)
    return fig


def errors_and_votes(
    curves: Mapping,
    sampled: Mapping[float, Estimate],
    votes: Mapping[tuple[float, int], Estimate],
    setting: Setting,
) -> Figure:
    """One sample's error against the temperature, and the vote's accuracy against ``N``.

    Parameters
    ----------
    curves : mapping
        The exact curves of :func:`icl.experiments.ch05.vote_curves`.
    sampled : mapping
        Temperature -> the simulated one-sample error.
    votes : mapping
        ``(T, N)`` -> the simulated vote accuracy (``T`` among the keys of ``curves["vote"]``).
    setting : Setting
        The prompts, named in the title.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels.

    Notes
    -----
    The left panel adds the limits :math:`\\varepsilon_{greedy}` (:math:`T \\to 0`) and
    :math:`1/2 - \\eta/(2T)` (:math:`T \\to \\infty`); the right one the greedy accuracy, the
    limit :math:`N \\to \\infty`.
    """
    s = setting
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    T_line = curves["T"]
    ax.plot(T_line, curves["error"], color="C0", label="one sample, exact")
    temperatures = list(sampled)
    ax.errorbar(
        temperatures,
        [sampled[T].mean for T in temperatures],
        yerr=[4 * sampled[T].stderr for T in temperatures],
        fmt="o",
        color="C0",
        label="one sample, simulated (±4 SE)",
    )
    ax.axhline(curves["greedy_error"], color="k", ls="--", label=r"greedy: $t_n$ tail ($T\to 0$)")
    big = T_line[T_line > 2]
    ax.plot(
        big, 0.5 - s.eta / (2 * big), color="C3", ls=":", label=r"$1/2 - \eta/(2T)$ ($T\to\infty$)"
    )
    ax.set(
        xscale="log",
        xlabel="temperature $T$",
        ylabel="per-coefficient error",
        title=f"n={s.n}, d={s.d}, $\\sigma^2$={s.sigma2}, $\\eta$={s.eta}",
    )
    ax.legend(fontsize=8)
    for (T, line), color in zip(curves["vote"].items(), ("C0", "C1", "C2")):
        ax2.plot(curves["N"], line, color=color, label=f"T = {T}, exact")
        Ns = sorted(N for t, N in votes if t == T)
        ax2.errorbar(
            Ns,
            [votes[T, N].mean for N in Ns],
            yerr=[4 * votes[T, N].stderr for N in Ns],
            fmt="o",
            color=color,
            ms=4,
        )
    ax2.axhline(curves["greedy"], color="k", ls="--", label="greedy (the $N\\to\\infty$ limit)")
    ax2.set(
        xscale="log",
        xlabel="number of votes $N$",
        ylabel="per-coefficient accuracy of the vote",
        title="majority vote (points: simulated, ±4 SE)",
    )
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pass_at_k(
    temperatures: np.ndarray,
    curves: Mapping[int, np.ndarray],
    greedy: float,
    d: int,
) -> Figure:
    """pass@k against the temperature, with the best temperature of each ``k`` marked.

    Parameters
    ----------
    temperatures : numpy.ndarray
        The grid.
    curves : mapping
        ``k`` -> exact pass@k (mean over prompts) at each temperature.
    greedy : float
        Greedy exact recovery, drawn as a dashed line.
    d : int
        The dimension, named in the title.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    :math:`\\text{pass@}k = E[1 - (1 - q)^k]`, :math:`q = \\prod_j p_j`.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colors: Sequence[str] = [f"C{i}" for i in range(len(curves))]
    for (k, line), color in zip(curves.items(), colors):
        ax.plot(temperatures, line, color=color, label=f"pass@{k}")
        ax.plot(temperatures[np.argmax(line)], line.max(), "v", color=color)
    ax.axhline(greedy, color="k", ls="--", label="greedy exact recovery (exact)")
    ax.set(
        xscale="log",
        xlabel="temperature $T$",
        ylabel="pass@k (exact given the prompt, mean over prompts)",
        title=f"d = {d}: the best temperature on the grid (triangles) grows with k",
    )
    ax.legend(fontsize=8)
    return fig
