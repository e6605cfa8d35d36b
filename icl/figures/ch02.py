"""The figures of Chapter 2, chain of thought as gradient descent.

The chapter: ``book/ch02_chain_of_thought.md``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from icl import theory
from icl.experiments.ch02 import Chain, EmittedErrors, Parting, RiskCurve, TrainedThoughts
from icl.harness.montecarlo import Estimate


def training(trained: TrainedThoughts, errors: EmittedErrors) -> Figure:
    """The thought transformer's training loss and the relative error of its free rollout.

    Parameters
    ----------
    trained : TrainedThoughts
        The trained layer and its history.
    errors : EmittedErrors
        Its rollout errors (:func:`icl.experiments.ch02.emitted_errors`).

    Returns
    -------
    Figure
        Left: the minibatch teacher-forcing loss per step (log scale). Right: the largest and
        the median relative error :math:`\\|\\hat w_t - w_t\\| / \\|w_t\\|` over the prompts
        against t, with the training chain's length marked.
    """
    loss = trained.history.loss
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax.plot(np.arange(1, len(loss) + 1), loss, color="C0", label="minibatch teacher-forcing loss")
    ax.set(xlabel="training step", ylabel=r"mean $\|\hat w_{t+1} - w_{t+1}\|^2$", yscale="log")
    ax.legend(fontsize=8)
    t_axis = np.arange(1, errors.length + 1)
    rel = errors.rollout
    label = f"max over {rel.shape[0]} prompts"
    ax2.plot(t_axis, rel.max(0).values.cpu().numpy(), color="C1", label=label)
    ax2.plot(t_axis, rel.median(0).values.cpu().numpy(), color="C2", label="median")
    ax2.axvline(trained.setting.thoughts, color="grey", ls=":", label="training chain length")
    ax2.set(
        xlabel="thought $t$",
        ylabel=r"$\|\hat w_t - w_t\| / \|w_t\|$ (free rollout)",
        yscale="log",
    )
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def risk_parts(panels: list[tuple[str, Parting, int, int]]) -> Figure:
    """The typical part :math:`L_T` and the divergent part :math:`D_T` of the average risk
    against the number of thoughts, one panel per setting.

    Parameters
    ----------
    panels : list of (name, setting, T_max, T_parting)
        Each panel's title, setting, last T shown and parting step :math:`T_\\times`.

    Returns
    -------
    Figure
        Exact :math:`\\log_{10} L_T` and :math:`\\log_{10} D_T`
        (:func:`icl.theory.gd_risk_parts`) as lines, Laplace's :math:`D_T`
        (:func:`icl.theory.gd_divergent_part_laplace`) dashed beyond :math:`T = n/(2\\eta)`,
        and :math:`T_\\times` marked.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (name, setting, T_max, T_part) in zip(axes[0], panels):
        c = setting.kwargs()
        T_axis = np.unique(np.linspace(1, T_max, 80).astype(int))
        parts = [theory.gd_risk_parts(T=int(T_), **c) for T_ in T_axis]
        typical = [np.log10(q.typical) for q in parts]
        ax.plot(T_axis, typical, color="C0", label=r"typical $L_T$ (exact)")
        divergent = [q.log10_divergent_part for q in parts]
        ax.plot(T_axis, divergent, color="C3", label=r"divergent designs $D_T$ (exact)")
        laplace = T_axis[T_axis > setting.n / (2 * setting.eta)]
        laplace_part = [theory.gd_divergent_part_laplace(T=int(T_), **c) for T_ in laplace]
        ax.plot(laplace, laplace_part, color="k", ls="--", label=r"$D_T$, Laplace")
        ax.axvline(T_part, color="grey", ls=":", label=rf"$T_\times = {T_part}$")
        ax.set(
            xlabel="number of thoughts $T$",
            ylabel=r"$\log_{10}$ of the part",
            ylim=(-20, 40) if T_max < 500 else (-400, 300),
            title=f"{name}: d = {setting.d}, n = {setting.n}, $\\eta$ = {setting.eta}",
        )
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _points(ax, T, estimates: list[Estimate], z: float, **style) -> None:
    means = [float(np.asarray(e.mean).flat[0]) for e in estimates]
    errors = [z * float(np.asarray(e.stderr).flat[0]) for e in estimates]
    ax.errorbar(T, means, yerr=errors, zorder=3, **style)


def risk_against_thoughts(
    chain: Chain,
    curve: RiskCurve,
    chains: dict[int, Estimate],
    designs: dict[int, Estimate],
    *,
    z: float = 4.0,
) -> Figure:
    """The risk of the GD chain against the number of thoughts, with ridge, Bayes and least
    squares.

    Parameters
    ----------
    chain : Chain
        The setting.
    curve : RiskCurve
        The exact curves (:func:`icl.experiments.ch02.risk_curve`).
    chains : dict
        T -> the simulated chain's error (first component of a paired estimate).
    designs : dict
        T -> the average of :math:`R_T(X)` over drawn designs.
    z : float
        Error bars of ``z`` standard errors.

    Returns
    -------
    Figure
        Lines: GD's plain average and typical-design risk :math:`L_T`, ridge at
        :math:`\\lambda = 1/(\\eta T)`, the Bayes risk and least squares
        :math:`\\sigma^2 d/(n - d - 1)`; points: the two simulations; :math:`T^*` marked.
    """
    T = curve.T_grid
    fig, ax = plt.subplots(figsize=(6.6, 4.2))
    plain = np.power(10.0, np.minimum(curve.log10_plain, 300))
    label = r"GD, plain average $L_T + D_T$ (exact)"
    ax.plot(T, plain, color="C3", lw=0.8, zorder=1, label=label)
    label = r"GD, prompt-averaged risk $L_T$ (exact)"
    ax.plot(T, curve.risk, color="C0", lw=2, zorder=2, label=label)
    label = f"GD chain, simulated (±{z:g} SE)"
    _points(ax, list(chains), list(chains.values()), z, fmt="o", color="C0", label=label)
    label = rf"$R_T(X)$ over drawn $X$ (±{z:g} SE)"
    style = dict(fmt="s", mfc="none", color="k", label=label)
    _points(ax, list(designs), list(designs.values()), z, **style)
    label = r"ridge with $\lambda = 1/(\eta T)$ (exact)"
    ax.plot(T, curve.ridge, color="C1", ls="--", label=label)
    label = r"Bayes: ridge at $\lambda^* = \sigma^2/(n\psi^2)$"
    ax.axhline(curve.bayes, color="k", ls=":", label=label)
    least_squares = theory.least_squares_risk(chain.n, chain.d, chain.sigma2)
    label = r"least squares $\sigma^2 d/(n-d-1)$"
    ax.axhline(least_squares, color="grey", ls="-.", label=label)
    ax.axvline(curve.T_star, color="C0", ls=":", lw=0.8)
    ax.set(
        xscale="log",
        xlabel="number of thoughts $T$",
        ylabel=r"parameter risk $\mathbb{E}\|w_T - w\|^2$",
        title=f"d = {chain.d}, n = {chain.n}, $\\sigma^2$ = {chain.sigma2}, "
        f"$\\eta$ = {chain.eta}; $T^*$ = {curve.T_star}",
        ylim=(0, 1.15 * chain.d),
    )
    ax.legend(fontsize=8)
    return fig
