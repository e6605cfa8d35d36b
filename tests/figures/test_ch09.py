"""Chapter 9's figures, drawn from small inputs."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from icl.experiments import ch09  # noqa: E402
from icl.figures import ch09 as figures  # noqa: E402
from icl.harness.montecarlo import Estimate  # noqa: E402


def test_allocation_figure():
    terms = ch09.world_terms(ch09.MIXTURE[:3], 6, 60, seed=0)
    rows = ch09.budget_rows(terms, [10, 20])
    fig = figures.allocation_figure({"a": (terms, rows), "b": (terms, rows)}, shown_budget=20)
    left, right = fig.axes
    assert left.get_xlabel() and left.get_legend() and right.get_legend()
    plt.close(fig)


def test_vote_figure():
    n_votes = np.array([1, 3, 5])
    point = Estimate(0.6, 0.01, 10, 0.0, "cpu", "float64", 0)
    fig = figures.vote_figure(n_votes, np.array([0.6, 0.62, 0.63]), [(3, point)],
                              np.ones((2, 3)), ["x", "y"])  # fmt: skip
    left, right = fig.axes
    assert left.get_legend() and len(right.get_lines()) == 2
    plt.close(fig)


def test_gsm8k_figure():
    record = ch09.gsm8k_record()
    fit = ch09.fit_vote_model(record, "Beta difficulty mixture", replicates=2)
    fig = figures.gsm8k_figure(record, [fit])
    (ax,) = fig.axes
    assert ax.get_xlabel() and ax.get_legend()
    plt.close(fig)


def test_strategy_figure():
    terms = ch09.world_terms(ch09.MIXTURE[:3], 6, 60, seed=2)
    risks = ch09.strategy_risks(terms, 40, 4, replicates=3, seed=0)
    fig = figures.strategy_figure(terms, risks, bins=2)
    (ax,) = fig.axes
    assert ax.get_legend() and ax.get_ylabel()
    plt.close(fig)


def test_sweep_map_figure():
    rows = [
        dict(temperature=T, n_votes=N, theory=0.8, estimate=0.79, se=0.01)
        for T in (0.5, 2.0)
        for N in (1, 3)
    ]
    fig = figures.sweep_map_figure(rows)
    (ax,) = fig.axes
    assert ax.get_legend() and len(ax.get_lines()) >= 2
    plt.close(fig)
