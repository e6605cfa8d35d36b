"""The figures of Chapter 5, drawn from small synthetic inputs."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from icl.experiments.ch05 import Reliability, Setting  # noqa: E402
from icl.figures import ch05 as figures  # noqa: E402
from icl.harness.montecarlo import Estimate  # noqa: E402


def _estimate(mean: float) -> Estimate:
    return Estimate.from_values(np.array([mean - 0.01, mean + 0.01]))


def test_reliability_draws_points_and_two_sigmoids():
    rel = Reliability(np.array([-1.0, 0.0, 1.0]), np.array([0.1, 0.5, 0.9]), np.full(3, 0.01))
    fig = figures.reliability(rel, 0.5, Setting())
    ax = fig.axes[0]
    assert ax.get_xlabel() == r"$\hat w_j$" and "P(w_j = +1" in ax.get_ylabel()
    assert len(ax.containers) == 1 and len(ax.get_legend().get_texts()) == 3
    plt.close(fig)


def test_errors_and_votes_has_two_panels_with_theory_and_points():
    curves = {
        "T": np.array([0.1, 1.0, 10.0]),
        "error": np.array([0.1, 0.2, 0.45]),
        "greedy_error": 0.08,
        "N": np.array([1, 3]),
        "vote": {0.5: np.array([0.8, 0.85]), 1.0: np.array([0.7, 0.8])},
        "greedy": 0.92,
    }
    sampled = {0.1: _estimate(0.1), 1.0: _estimate(0.2)}
    votes = {(T, N): _estimate(0.8) for T in (0.5, 1.0) for N in (1, 3)}
    fig = figures.errors_and_votes(curves, sampled, votes, Setting())
    left, right = fig.axes
    assert left.get_xlabel() == "temperature $T$" and right.get_xlabel() == "number of votes $N$"
    assert len(left.containers) == 1 and len(right.containers) == 2
    assert len(right.get_legend().get_texts()) == 3
    assert left.get_xscale() == right.get_xscale() == "log"
    plt.close(fig)


def test_pass_at_k_marks_each_best_temperature():
    T = np.array([0.1, 0.5, 1.0])
    fig = figures.pass_at_k(
        T, {1: np.array([0.4, 0.3, 0.2]), 4: np.array([0.5, 0.7, 0.6])}, 0.4, 10
    )
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 5  # two curves, two markers, the greedy line
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["pass@1", "pass@4"]
    assert "d = 10" in ax.get_title()
    plt.close(fig)
