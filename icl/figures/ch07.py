"""The figures of Chapter 7, the softmax transformer.

The chapter: ``book/ch07_softmax_transformer.md``. Each function takes results computed by
:mod:`icl.experiments.ch07` and returns the matplotlib Figure: exact curves as lines with bands of
four standard errors over prompts, simulations as points with error bars of four standard errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from icl.experiments.ch05 import Setting
from icl.harness.montecarlo import Estimate

__all__ = ["training", "against_samples", "against_temperature", "vote_collapse", "calibration"]

DECODERS = (("trained model", "C0"), ("linear", "C1"))
CROSS_ENTROPIES = (
    "trained model, fresh prompts",
    "Bayes posterior (the minimum)",
    r"linear decoder $\sigma(2\hat w_j)$, $T=1$",
    r"linear decoder $\sigma(2\hat w_j/T_{cal})$, calibrated",
)


def _band(ax: Axes, x, per_prompt, color: str, label: str, ls: str = "-") -> None:
    curve = Estimate.from_values(per_prompt)  # mean over prompts, and its SE
    ax.plot(x, curve.mean, color=color, ls=ls, label=label)
    low, high = curve.mean - 4 * curve.stderr, curve.mean + 4 * curve.stderr
    ax.fill_between(x, low, high, color=color, alpha=0.2)


def training(
    loss: np.ndarray,
    ce: Estimate,
    setting: Setting,
    labels: Sequence[str] | None = None,
    window: int = 50,
) -> Figure:
    """The training loss against the step, with the cross-entropies of fresh prompts.

    Parameters
    ----------
    loss : numpy.ndarray
        The minibatch loss of every training step.
    ce : Estimate
        The cross-entropies (the first ``len(labels)`` components are drawn as bands).
    setting : Setting
        The prompts, named in the title.
    labels : sequence of str, optional
        The names of the cross-entropies: the model, Bayes, the linear decoder at ``T = 1`` and
        calibrated (default :data:`CROSS_ENTROPIES`).
    window : int
        Steps per point: the points are block means with ±4 SE error bars.

    Returns
    -------
    matplotlib.figure.Figure
    """
    blocks = loss[: len(loss) // window * window].reshape(-1, window)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.errorbar(
        np.arange(len(blocks)) * window + window / 2,
        blocks.mean(1),
        yerr=4 * blocks.std(1, ddof=1) / np.sqrt(window),
        fmt=".",
        color="C0",
        label=f"training minibatch loss, mean of {window} steps (±4 SE)",
    )
    labels = CROSS_ENTROPIES if labels is None else labels
    for i, (label, color) in enumerate(zip(labels, ["C0", "k", "C1", "C2"])):
        mean, se = ce.mean[i], ce.stderr[i]
        ax.axhspan(mean - 4 * se, mean + 4 * se, color=color, alpha=0.3)
        ax.axhline(mean, color=color, ls="--", lw=1, label=label + " (±4 SE band)")
    s = setting
    ax.set(
        xlabel="training step",
        ylabel="cross-entropy (nats per coefficient)",
        yscale="log",
        title=f"d = {s.d}, n = {s.n}, $\\sigma^2$ = {s.sigma2:g}, rademacher prior",
    )
    ax.legend(fontsize=8)
    return fig


def against_samples(
    grid: Sequence[int],
    curves: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    vote_n: Sequence[int],
    vector_votes: Mapping[str, torch.Tensor],
    decoders: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
) -> Figure:
    """The votes and best-of-N of both decoders against the number of samples.

    Parameters
    ----------
    grid : sequence of int
        The ``N`` of the exact curves.
    curves : mapping
        ``"trained model"`` and ``"linear"``: per prompt, the exact vote's coefficient accuracy
        and best-of-N's exact recovery, ``(B, len(grid))`` each.
    vote_n : sequence of int
        The ``N`` of the simulated whole-vector votes.
    vector_votes : mapping
        The same keys: the simulated whole-vector vote per prompt, ``(b, len(vote_n))``.
    decoders : mapping
        Three greedy decoders: per prompt, coefficient accuracy and exact recovery.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: per coefficient and the whole vector; the decoders as dotted lines.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, color in DECODERS:
        vote, bon = curves[name]
        _band(ax1, grid, vote, color, f"{name}: vote of N, exact $V_N(q_j)$")
        _band(ax2, grid, bon, color, f"{name}: best-of-N (in-context loss), exact", ls="--")
        sim = Estimate.from_values(vector_votes[name])
        ax2.errorbar(
            vote_n,
            sim.mean,
            yerr=4 * sim.stderr,
            fmt="o",
            color=color,
            label=f"{name}: whole-vector vote, simulated (±4 SE)",
        )
    for (name, (coef, vec)), color in zip(decoders.items(), ["C0", "C1", "k"]):
        ax1.axhline(coef.mean().item(), color=color, ls=":", label=name)
        ax2.axhline(vec.mean().item(), color=color, ls=":", label=name)
    xlabel = "number of samples $N$ ($T = 1$)"
    ax1.set(
        xscale="log", xlabel=xlabel, ylabel="coefficient accuracy", title="per-coefficient vote"
    )
    ax2.set(xscale="log", xlabel=xlabel, ylabel="exact-recovery accuracy", title="whole vector")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def against_temperature(
    temps: np.ndarray,
    ks: Sequence[int],
    passes: Mapping[str, torch.Tensor],
    best_t: Mapping[str, np.ndarray],
    budget: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    n: int,
) -> Figure:
    """pass@k, and a fixed budget's vote and best-of-N, against the temperature.

    Parameters
    ----------
    temps : numpy.ndarray
        The temperatures.
    ks : sequence of int
        The ``k`` of pass@k.
    passes : mapping
        ``"trained model"`` and ``"linear"``: pass@k per prompt, ``(len(ks), B, len(temps))``.
    best_t : mapping
        The same keys: the best temperature of each ``k``, marked on its curve.
    budget : mapping
        The same keys: per prompt, the vote's coefficient accuracy and best-of-N's exact
        recovery, ``(B, len(temps))`` each.
    n : int
        The budget, named in the labels.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels; the trained model as full lines, the linear decoder dashed.
    """
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    for name, ls in [("trained model", "-"), ("linear", "--")]:
        vote, bon = budget[name]
        _band(ax2, temps, vote, "C0", f"{name}: vote of {n}, coefficient accuracy", ls=ls)
        _band(ax2, temps, bon, "C3", f"{name}: best-of-{n}, exact recovery", ls=ls)
    ax2.set(
        xscale="log",
        xlabel="temperature $T$",
        ylabel="accuracy",
        title=f"fixed budget N = {n} (exact, ±4 SE bands)",
    )
    ax2.legend(fontsize=7)
    for i, k in enumerate(ks):
        for name, ls, marker in [("trained model", "-", "o"), ("linear", "--", "s")]:
            curve = passes[name][i].cpu()
            _band(ax, temps, curve, f"C{i}", f"{name}, pass@{k}", ls=ls)
            mfc = None if marker == "o" else "none"
            ax.plot(best_t[name][i], curve.mean(0).max().item(), marker, color=f"C{i}", mfc=mfc)
    ax.set(
        xscale="log",
        xlabel="temperature $T$",
        ylabel="pass@k (exact recovery)",
        ylim=(0, 1.02),
        title="exact per prompt, mean over prompts (±4 SE bands); markers: best $T$",
    )
    ax.legend(fontsize=7, ncol=2)
    return fig


def vote_collapse(
    collapse: Mapping[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    q_plus: Mapping[str, torch.Tensor],
    grid: Sequence[int],
) -> Figure:
    """The vote's agreement with its limit against :math:`2\\Delta\\sqrt N`, and the margins.

    Parameters
    ----------
    collapse : mapping
        ``"trained model"`` and ``"linear"``: :math:`x = 2\\Delta\\sqrt N`, the simulated
        agreement and the exact one (:func:`icl.experiments.ch07.agreement`).
    q_plus : mapping
        The same keys: :math:`P_{T=1}(v_j = +1)` per prompt and coefficient.
    grid : sequence of int
        The ``N`` of the votes, named in the legend.

    Returns
    -------
    matplotlib.figure.Figure
        Left: the agreements binned in ``x`` (points, ±4 SE) and :math:`\\Phi(x)`; right: the
        histograms of the margins :math:`\\Delta_j`.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    edges = np.linspace(0, 3, 13)
    for (name, color), (x, hit, _) in zip(DECODERS, (collapse[n] for n, _ in DECODERS)):
        xb, hb = x.flatten().cpu().numpy(), hit.flatten().cpu().numpy()
        which = np.digitize(xb, edges) - 1
        keep = [b for b in range(len(edges) - 1) if (which == b).sum() > 20]
        mean = np.array([hb[which == b].mean() for b in keep])
        err = np.array([hb[which == b].std(ddof=1) / np.sqrt((which == b).sum()) for b in keep])
        ax1.errorbar(
            (edges[:-1] + edges[1:])[keep] / 2,
            mean,
            yerr=4 * err,
            fmt="o",
            color=color,
            ms=4,
            label=f"{name}: simulated votes, N in {grid[0]}..{grid[-1]} (±4 SE)",
        )
    line = torch.linspace(0, 3, 200, dtype=torch.float64)
    ax1.plot(line, torch.special.ndtr(line), "k-", label=r"$\Phi(2\Delta\sqrt{N})$")
    ax1.set(
        xlabel=r"$2\Delta\sqrt{N}$",
        ylabel="P(vote = its limit)",
        title="the votes needed scale as $1/\\Delta^2$",
    )
    ax1.legend(fontsize=7)
    for name, color in DECODERS:
        ax2.hist(
            (q_plus[name] - 0.5).abs().flatten().cpu().numpy(),
            bins=np.linspace(0, 0.5, 26),
            histtype="step",
            color=color,
            density=True,
            label=name,
        )
    ax2.set(
        xlabel=r"margin $\Delta_j = |P_{T=1}(v_j=+1) - 1/2|$",
        ylabel="density",
        yscale="log",
        title="how many coefficients are hard to vote on",
    )
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def calibration(
    probabilities: Mapping[str, torch.Tensor],
    truth: torch.Tensor,
    calibrated_linear: torch.Tensor,
    marginals: Mapping[str, torch.Tensor],
) -> Figure:
    """The reliability diagram of three predictors, and the marginal log-odds per coefficient.

    Parameters
    ----------
    probabilities : mapping
        Three predictors of :math:`P(w_j = +1)` by name, ``(B, d)`` each.
    truth : torch.Tensor
        ``(B, d)``: whether :math:`w_j = +1`, as 0 or 1.
    calibrated_linear : torch.Tensor
        ``(B, d)``: :math:`\\sigma(2\\hat w_j / T_{cal})`, the right panel's horizontal axis.
    marginals : mapping
        Marginals :math:`P(v_j = +1)` by label, ``(B, d)`` each, drawn against it.

    Returns
    -------
    matplotlib.figure.Figure
        Left: observed frequency against the predicted probability in ten bins (points, ±4 SE)
        and the diagonal; right: marginal logits against the calibrated linear logit.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.3))
    edges = np.linspace(0, 1, 11)
    tb = truth.flatten().cpu().numpy()
    for (name, p), color, marker in zip(probabilities.items(), ["C0", "C1", "k"], ["o", "s", "^"]):
        pb = p.flatten().cpu().numpy()
        which = np.clip(np.digitize(pb, edges) - 1, 0, 9)
        keep = [b for b in range(10) if (which == b).sum() > 10]
        freq = np.array([tb[which == b].mean() for b in keep])
        counts = [(which == b).sum() for b in keep]
        err = np.array([np.sqrt(max(f * (1 - f), 1e-4) / c) for f, c in zip(freq, counts)])
        ax1.errorbar(
            [pb[which == b].mean() for b in keep],
            freq,
            yerr=4 * err,
            fmt=marker,
            color=color,
            ms=4,
            label=f"{name} (±4 SE)",
        )
    ax1.plot([0, 1], [0, 1], color="grey", lw=1, label="perfect calibration")
    ax1.set(
        xlabel="predicted $P(w_j = +1)$",
        ylabel="observed frequency of $w_j = +1$",
        title="reliability",
    )
    ax1.legend(fontsize=7)
    linear_logit = torch.logit(calibrated_linear.flatten(), eps=1e-9).cpu()
    for (label, marginal), color in zip(marginals.items(), ["k", "C0"]):
        logit = torch.logit(marginal.flatten(), eps=1e-9).cpu()
        ax2.plot(linear_logit, logit, ".", ms=1, alpha=0.3, color=color, label=label)
    line = np.linspace(-12, 12, 3)
    label = r"the calibrated linear decoder ($m_j = 2\hat w_j / T_{cal}$)"
    ax2.plot(line, line, color="C1", label=label)
    ax2.set(
        xlim=(-12, 12),
        ylim=(-20, 20),
        xlabel=r"calibrated linear logit $2\hat w_j / T_{cal}$ ($\eta = 1$)",
        ylabel="marginal logit",
        title="per-coefficient log-odds",
    )
    ax2.legend(fontsize=7, markerscale=8)
    fig.tight_layout()
    return fig
