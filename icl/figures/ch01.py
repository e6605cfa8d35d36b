"""The figures of Chapter 1, in-context regression by linear attention.

The chapter: ``book/ch01_linear_attention.md``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from icl import theory
from icl.experiments.ch01 import AgainstNResult, TrainedLayer
from icl.harness.montecarlo import Estimate


def risk_against_n(result: AgainstNResult, *, z: float = 4.0) -> Figure:
    """The risk of one GD step at :math:`\\eta^*` and of ridge against the number of examples.

    Parameters
    ----------
    result : AgainstNResult
        The simulated points (:func:`icl.experiments.ch01.risk_against_n`).
    z : float
        Error bars of ``z`` standard errors.

    Returns
    -------
    Figure
        Log-log axes: the exact optimal one-step risk
        :math:`d(d + 1 + \\sigma^2)/(n + d + 1 + \\sigma^2)` as a line for n = 1..100, the two
        simulations as points with error bars, and the prior's risk :math:`\\psi^2 d`.
    """
    d, s2, n_grid = result.setting.d, result.setting.sigma2, result.setting.n_grid
    n_line = np.arange(1, 101)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    exact = [theory.optimal_one_step_risk(int(m), d, s2) for m in n_line]
    ax.plot(n_line, exact, color="C0", label=r"one GD step at $\eta^*$, exact")
    for estimates, fmt, color, label in [
        (result.one_step, "o", "C0", f"one GD step, simulated (±{z:g} SE)"),
        (result.ridge, "s", "C1", r"ridge $\lambda=\sigma^2$ (Bayes), simulated"),
    ]:
        ax.errorbar(
            n_grid,
            [e.mean for e in estimates],
            yerr=[z * e.stderr for e in estimates],
            fmt=fmt,
            color=color,
            label=label,
        )
    ax.axhline(d, color="grey", ls=":", label=r"prior risk $\psi^2 d$")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="number of examples $n$",
        ylabel=r"parameter risk $\mathbb{E}\|\hat w - w\|^2$",
        title=f"d = {d}, $\\sigma^2$ = {s2}",
    )
    ax.legend(fontsize=8)
    return fig


def training(trained: TrainedLayer, *, window: int = 20, z: float = 4.0) -> Figure:
    """The training run of the linear-attention layer and the preconditioner it learned.

    Parameters
    ----------
    trained : TrainedLayer
        The trained layer (:func:`icl.experiments.ch01.train`).
    window : int
        Steps per block of the minibatch loss shown as one point.
    z : float
        Error bars of ``z`` standard errors of a block's mean.

    Returns
    -------
    Figure
        Left: the minibatch loss by blocks of ``window`` steps (points with error bars), the
        exact risk :math:`R(\\Gamma_t) + \\sigma^2` of the recorded preconditioners (a line)
        and the minimum :math:`R(\\Gamma^*) + \\sigma^2`. Right: the learned :math:`\\Gamma`.
    """
    s, history = trained.setting, trained.history
    loss = np.asarray(history.loss)
    blocks = Estimate.from_values(loss[: len(loss) // window * window].reshape(-1, window).T)
    centres = (np.arange(len(loss)) + 1)[window // 2 :: window][: len(blocks.mean)]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1.6, 1]})
    ax.errorbar(
        centres,
        blocks.mean,
        yerr=z * blocks.stderr,
        fmt=".",
        color="C0",
        label=f"minibatch loss, mean of {window} steps (±{z:g} SE)",
    )
    ax.plot(
        history.recorded_steps,
        [theory.preconditioned_risk(g, s.n, s.sigma2) + s.sigma2 for g in history.snapshots],
        color="C1",
        label=r"exact risk of the learned $\Gamma$, $R(\Gamma_t) + \sigma^2$",
    )
    best = theory.optimal_one_step_risk(s.n, s.d, s.sigma2) + s.sigma2
    ax.axhline(best, color="k", ls="--", label=r"minimum $R(\Gamma^*) + \sigma^2$")
    ax.set(
        xlabel="training step",
        ylabel=r"prediction risk $\mathbb{E}(\hat y_q - y_q)^2$",
        yscale="log",
    )
    ax.legend(fontsize=8)
    image = ax2.imshow(trained.gamma.cpu().numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    eta_star = theory.optimal_step(s.n, s.d, s.sigma2)
    ax2.set(
        title=r"learned $\Gamma = v W_{11}^\top$" + f"\n($\\eta^* = {eta_star:.3f}$)",
        xlabel="column",
        ylabel="row",
    )
    fig.colorbar(image, ax=ax2, label="entry")
    fig.tight_layout()
    return fig
