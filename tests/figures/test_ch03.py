"""Chapter 3's figures, drawn from small synthetic records: labels, legends, lines and error
bars."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.container import ErrorbarContainer

from icl.experiments import ch03
from icl.figures import ch03 as figures
from icl.harness.montecarlo import Estimate

PROTO = ch03.Prototype(steps=8)
REG = ch03.Regulariser(grid=5)
NESTED = [10, 50]


def one_chain() -> ch03.OneChain:
    mean = {name: 0.01 * (i + 1) for i, name in enumerate(ch03.ONE_CHAIN)}
    se = {name: 0.001 for name in ch03.ONE_CHAIN}
    upper = {n: mean["ridge"] + 0.02 / n for n in ch03.ROWS_N}
    first = {n: (mean["ridge"] + mean["c"] / n, 0.001) for n in ch03.ROWS_N}
    return ch03.OneChain(None, {}, mean, se, se, first, upper)


def comparison() -> ch03.LegendComparison:
    agree = {row: dict(level=0.0, level_se=1.0, own_se=1e-4) for row in ch03.LEGEND}
    return ch03.LegendComparison({}, {}, agree)


def nested() -> Estimate:
    shape = (len(NESTED), len(ch03.NESTED_COLUMNS))
    mean, se = np.full(shape, 0.01), np.full(shape, 0.001)
    return Estimate(mean, se, 4, 0.0, "cpu", "float64", 0)


def curves() -> ch03.PrototypeCurves:
    g = torch.Generator().manual_seed(0)

    def path():
        return torch.rand(3, PROTO.steps + 1, generator=g, dtype=torch.float64) + 1

    terms = {lv: (path(), 0.01 * path()) for lv in PROTO.levels2}
    risk = torch.rand(3, generator=g, dtype=torch.float64) + 1
    return ch03.PrototypeCurves(None, terms, risk, risk - 0.01, path())


def errorbars(ax) -> list:
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_legend_scaled_by_n():
    fig = figures.legend_scaled_by_n(one_chain(), comparison(), PROTO)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "number of averaged chains $N$" and "N \\times" in ax.get_ylabel()
    assert "d=50" in ax.get_title()
    (bars,) = errorbars(ax)
    assert len(bars.lines[0].get_xdata()) == len(ch03.ROWS_N)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 4 and any("prototype's legend" in label for label in labels)
    upper = [line for line in ax.lines if line.get_linestyle() == ":"][0]
    np.testing.assert_allclose(upper.get_ydata(), 0.02)  # N (upper - ridge) for the fake record


def test_risk_against_n():
    fig = figures.risk_against_n(curves(), one_chain(), nested(), NESTED, PROTO)
    left, right = fig.axes
    assert left.get_xscale() == right.get_xscale() == "log" and right.get_yscale() == "log"
    assert [len(errorbars(ax)) for ax in (left, right)] == [1, 1]
    # one point per N: N = 1 from the single chains, then the nested averages
    assert list(errorbars(left)[0].lines[0].get_xdata()) == [1] + NESTED
    assert len(left.get_legend().get_texts()) == len(PROTO.levels) + 3
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in (left, right))


def test_risk_against_steps():
    fig = figures.risk_against_steps(curves(), one_chain(), nested(), NESTED, PROTO)
    left, right = fig.axes
    assert len(left.lines) == 3 and left.get_xlabel() == "number of thoughts $T$"
    (bars,) = errorbars(right)
    assert set(bars.lines[0].get_xdata()) == {PROTO.steps}  # at the final T
    assert len(right.get_legend().get_texts()) == 6


def test_risk_against_level():
    risk_n = {n: np.linspace(1, 2, REG.grid) for n in (1, 10, 100, np.inf)}
    bias = torch.ones(REG.grid, 4, dtype=torch.float64)
    risks = ch03.RegulariserRisks(
        torch.ones(4, 3), bias, bias, torch.full((4,), 0.9), torch.full((4,), 3.0), risk_n
    )
    fig = figures.risk_against_level(risks, {0.5: (1.5, 0.01), 1.0: (1.4, 0.01)}, REG)
    (ax,) = fig.axes
    (bars,) = errorbars(ax)
    assert list(bars.lines[0].get_xdata()) == [0.5, 1.0]
    assert ax.get_xscale() == "log" and "noise level" in ax.get_xlabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 7 and "greedy chain, T = 480" in labels
    assert any(line.get_ydata()[0] == pytest.approx(0.9) for line in ax.lines)  # the Bayes line
