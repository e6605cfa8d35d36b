"""The figures of Chapter 6, sparse binary chains.

The chapter: ``book/ch06_sparse_binary_chains.md``. Each function takes results computed by
:mod:`icl.experiments.ch06` and returns the matplotlib Figure: exact sums as lines, simulations as
points with error bars, the prototype's reported numbers as crosses.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from icl.experiments.ch06 import PROTOTYPE, TieSums, VoteSums
from icl.sparse_vote import SparseVoteSettings


def votes_and_ties(
    sums: VoteSums,
    boot: Mapping[int, tuple[float, float]],
    subsets: Mapping[int, tuple[float, float]],
    results: Mapping[str, Mapping],
    ties: TieSums,
    settings: SparseVoteSettings,
    baselines: tuple[float, float],
) -> Figure:
    """The vote's accuracy against ``N``, the tie rules, and each prompt's two largest answers.

    Parameters
    ----------
    sums : VoteSums
        The exact vote sums on the book protocol's stored answers.
    boot, subsets : mapping
        ``N`` -> ``(mean, se)`` of the simulated votes of draws with replacement and of subsets,
        over the prompts of ``sums``.
    results : mapping
        ``"<protocol> protocol"`` -> ``{N: (mean, se)}``, the votes of fresh chains.
    ties : TieSums
        The exact subset votes of the prototype protocol's answers under each tie rule.
    settings : SparseVoteSettings
        The task, named in the title.
    baselines : tuple of float
        The accuracy of greedy decoding and of a single sample.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels.

    Notes
    -----
    The accuracies of the left panel are means over all the considered prompts, those whose
    stored answers miss the truth counting 0; error bars are four standard errors there, one in
    the middle panel. The right panel colours each prompt by its exact vote accuracy at the
    second largest ``N``, at its :math:`(p_1, p_2)`: the frequencies of the truth and of the
    largest wrong answer.
    """
    greedy_acc, single = baselines
    n_grid = list(sums.with_replacement)
    considered = sums.considered
    fig, (ax, ax_ties, ax2) = plt.subplots(1, 3, figsize=(16, 4.4))
    Ns = np.array(n_grid)
    scale_to_all = len(sums.prompts) / considered

    def mean_of(exact):
        return [exact[N].sum() / considered for N in n_grid]

    def simulated(votes, shift, colour, label):
        ax.errorbar(
            Ns * shift,
            [votes[N][0] * scale_to_all for N in n_grid],
            yerr=[4 * votes[N][1] * scale_to_all for N in n_grid],
            fmt="o",
            ms=4,
            color=colour,
            label=label,
        )

    ax.plot(
        Ns,
        mean_of(sums.without_replacement),
        color="C0",
        label="exact vote of N-subsets (unbiased for fresh chains)",
    )
    simulated(subsets, 1.04, "C0", "simulated votes of N-subsets (±4 SE)")
    ax.plot(
        Ns,
        mean_of(sums.with_replacement),
        color="C2",
        ls="--",
        label=r"plug-in: exact vote of N draws from $\hat\pi$",
    )
    simulated(boot, 0.96, "C2", r"simulated votes of draws from $\hat\pi$ (±4 SE)")
    shown = [N for N in n_grid if N > 1]
    for name, colour, marker in (("book", "C1", "s"), ("prototype", "C4", "D")):
        fresh = results[f"{name} protocol"]
        ax.errorbar(
            np.array(shown) * (1.08 if name == "prototype" else 1),
            [fresh[N][0] for N in shown],
            yerr=[4 * fresh[N][1] for N in shown],
            fmt=marker,
            ms=4,
            color=colour,
            label=f"vote of fresh chains, {name} protocol (±4 SE over prompts)",
        )
    reported = [N for N in PROTOTYPE if N != "greedy"]
    ax.plot(reported, [PROTOTYPE[N] for N in reported], "x", color="k", label="authors' prototype")
    ax.axhline(greedy_acc, color="C3", ls="--", label=f"greedy ({greedy_acc:.2f})")
    ax.axhline(single, color="grey", ls=":", label=f"single sample ({single:.3f})")
    s = settings
    ax.set(
        xscale="log",
        xlabel="number of votes $N$",
        ylabel="exact-recovery accuracy",
        title=f"d={s.d}, n={s.n}, k={s.k}, {s.steps} steps",
    )
    ax.legend(fontsize=6.5)
    _tie_panel(ax_ties, ties)
    _prompt_panel(fig, ax2, sums, n_grid[-2])
    plt.tight_layout()
    return fig


def _tie_panel(ax, ties: TieSums) -> None:
    n_votes = list(ties.exact["uniform"])
    for rule, colour in (("uniform", "C0"), ("smallest", "C4"), ("lose", "C7")):
        ax.errorbar(
            n_votes,
            [ties.mean(rule, N) for N in n_votes],
            yerr=[ties.stderr(rule, N) for N in n_votes],
            marker="o",
            ms=3,
            capsize=2,
            color=colour,
            label="exact vote of N-subsets, ties "
            f"{'to the smallest code' if rule == 'smallest' else rule} (±1 SE)",
        )
    reported = [N for N in PROTOTYPE if N != "greedy" and N <= max(n_votes)]
    ax.plot(
        reported,
        [PROTOTYPE[N] for N in reported],
        "x",
        color="k",
        ms=8,
        label="authors' prototype",
    )
    ax.set(
        xscale="log",
        xlabel="number of votes $N$",
        ylabel="exact-recovery accuracy",
        title=f"tie rules, prototype protocol ({len(ties.answers.correct)} prompts)",
    )
    ax.legend(fontsize=7)


def _prompt_panel(fig: Figure, ax, sums: VoteSums, N: int) -> None:
    a = sums.answers
    points = ax.scatter(
        a.p_truth[sums.prompts],
        a.p_rival[sums.prompts],
        c=sums.without_replacement[N],
        cmap="viridis",
        vmin=0,
        vmax=1,
        s=25,
    )
    top = max(a.p_truth.max(), a.p_rival.max()) * 1.1
    ax.plot([0, top], [0, top], color="grey", ls=":", label="runner-up = truth")
    ax.set(
        xlabel=r"$\hat\pi(\mathrm{truth}) = p_1$",
        ylabel=r"largest wrong answer $p_2$",
        title=f"each prompt, coloured by its exact vote accuracy at N = {N}",
    )
    ax.legend(fontsize=8)
    fig.colorbar(points, ax=ax, label="P(vote right)")
