"""Chapter 8's figures, drawn from small synthetic inputs."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from icl.experiments import ch08  # noqa: E402
from icl.figures import ch08 as figures  # noqa: E402
from icl.harness.montecarlo import Estimate  # noqa: E402


def estimate(mean):
    mean = np.asarray(mean, dtype=float)
    return Estimate(mean, 0.01 + 0 * mean, 10, 0.0, "cpu", "float64", 0)


def test_budget_figure():
    budgets = np.array([10, 100, 1000])
    terms = SimpleNamespace(bias2=np.linspace(2, 1, 11), trace=np.full(11, 0.1))
    split = ch08.SplitsOverBudgets(
        ch08.ChainSetting(), terms, 1.0, 0.1, 0.0, budgets,
        np.array([1, 10, 100]), np.array([10, 10, 10]), np.array([1.2, 1.1, 1.01]), 10,
    )  # fmt: skip
    law = SimpleNamespace(
        excess_law=np.array([0.2, 0.1, 0.01]), t_law=np.ones(3), t_guess=np.ones(3)
    )
    fig = figures.budget_figure(split, law, sample_more_steps=(5,))
    left, right = fig.axes
    assert len(left.get_lines()) == 4 and len(right.get_lines()) == 4
    assert left.get_xlabel() == "budget B (chain-steps)" and left.get_legend() is not None
    plt.close(fig)


def test_coverage_figure():
    k = np.array([1, 10, 100, 1000])
    fit = SimpleNamespace(k_grid=k, miss=1.0 / k, a=1.0, b=0.0)
    ks = np.arange(1, 5)
    curves = {"T = T_cal": 0.5**ks, "best": 0.4**ks}
    fig = figures.coverage_figure({2: fit}, ks, curves, 20)
    left, right = fig.axes
    assert len(left.get_lines()) == 2 and len(right.get_lines()) == 3
    assert right.get_ylabel() == "1 - pass@k" and right.get_legend() is not None
    plt.close(fig)


def test_selection_figure_has_lines_and_error_bars():
    n = np.arange(1, 6)
    curves = SimpleNamespace(
        hard_kl=np.log(n) - (n - 1) / n,
        hard={r: 1.0 / n for r in ch08.REWARDS},
        soft={r: np.stack([np.linspace(1, 0.5, 4), np.linspace(0, 2, 4)], 1) for r in ch08.REWARDS},
    )
    sim_n = np.array([1, 2])
    hard_sim = estimate(np.ones(8))
    soft_sim = {r: [estimate([0.5, 0.5])] for r in ch08.REWARDS}
    kl = {r: [0.1] for r in ch08.REWARDS}
    fig = figures.selection_figure(curves, sim_n, hard_sim, kl, soft_sim)
    for ax in fig.axes:
        assert len(ax.containers) == 2  # two sets of error bars
        assert ax.get_legend() is not None and "KL" in ax.get_xlabel()
    plt.close(fig)


def test_summary_figure_draws_the_envelope_and_points():
    grid = np.array([1, 10, 100])
    panel = {"x": np.array([1.0, 0.5, 0.2]), "y": np.array([0.8, 0.6, 0.1])}
    points = [[(grid, estimate([0.9, 0.5, 0.2]), "C0")]] * 3
    fig = figures.summary_figure([(panel, grid)] * 3, points)
    for ax in fig.axes:
        assert len(ax.get_lines()) >= 3 and len(ax.containers) == 1
        assert ax.get_legend() is not None and ax.get_ylabel()
    plt.close(fig)
