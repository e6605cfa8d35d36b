"""Chapter 4's figures, drawn from small synthetic inputs."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from icl.figures import ch04  # noqa: E402

GRID, TAUS = [1, 10, 100], [0.1, 0.2, 0.3, 0.4]


def test_oracle_heatmap():
    risk = np.arange(12.0).reshape(4, 3)
    fig = ch04.oracle_heatmap(GRID, TAUS, risk, [0.1, 0.2, 0.3], np.array([0, 1, 3]), "t")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "number of samples $N$" and "temperature" in ax.get_ylabel()
    assert len(ax.lines) == 2 and len(ax.get_legend().get_texts()) == 2
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.1, 0.2, 0.4])
    plt.close(fig)


def test_risk_against_n():
    shape = (4, 3, 3)
    line, se, sim, approx = (np.full(shape, v) for v in (20.0, 0.1, 21.0, 19.0))
    best = np.zeros((3, 3), dtype=int)
    fig = ch04.risk_against_n(GRID, TAUS, line, se, sim, approx, best, 2, 25.0, 12.0)
    left = fig.axes[0]
    assert "risk" in left.get_ylabel() and left.get_xscale() == "log"
    assert len(left.containers) == 3  # the three rewards' error bars
    assert len(left.lines) == 3 + 2 + 2 + 3  # lines, dotted, greedy and ridge, points
    assert len(fig.legends[0].get_texts()) == 3 + 2 + 3 + 2
    plt.close(fig)


def test_more_samples_hurt():
    n_exact = np.arange(1, 101)
    exact = {r: 1 + 1 / n_exact for r in ch04.REWARDS}
    limits = {r: 1.0 for r in ch04.REWARDS}
    curves, se = np.ones((3, 3, 3)), np.full((3, 3, 3), 0.01)
    best = {"in-context loss": 1, "norm": 0}
    fig = ch04.more_samples_hurt(
        n_exact, exact, limits, GRID, curves, se, curves, se, best, limits, ("a", "b")
    )
    for ax, title in zip(fig.axes, ("a", "b")):
        assert ax.get_title() == title and "risk" in ax.get_ylabel()
        assert len(ax.containers) == 3 and ax.get_legend() is not None
    plt.close(fig)


def test_hurt_titles():
    titles = ch04.hurt_titles(dict(d=1, n=6, sigma2=3.0), dict(d=6, n=2, sigma2=4.0), 0.3)
    assert titles[0].startswith("d = 1, n = 6") and "(exact)" in titles[0]
    assert "d = 6, n = 2" in titles[1] and "(measured)" in titles[1]
