"""The figures of Chapter 7, drawn from small synthetic inputs."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from icl.experiments.ch07 import SETTING  # noqa: E402
from icl.figures import ch07 as figures  # noqa: E402
from icl.harness.montecarlo import Estimate  # noqa: E402

GEN = torch.Generator().manual_seed(0)


def _per_prompt(*shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=GEN, dtype=torch.float64)


def test_training_draws_the_loss_and_four_bands():
    ce = Estimate.from_values(np.random.default_rng(0).random((10, 5)))
    fig = figures.training(np.linspace(1.0, 0.2, 200), ce, SETTING)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "training step" and ax.get_yscale() == "log"
    assert len(ax.containers) == 1 and len(ax.get_legend().get_texts()) == 5
    assert "d = 8, n = 16" in ax.get_title()
    plt.close(fig)


def test_against_samples_has_curves_points_and_decoders():
    grid, vote_n = [1, 3, 9], [1, 4]
    curves = {k: (_per_prompt(5, 3), _per_prompt(5, 3)) for k in ("trained model", "linear")}
    sims = {k: _per_prompt(5, 2) for k in curves}
    decoders = {k: (_per_prompt(5), _per_prompt(5)) for k in ("a", "b", "c")}
    fig = figures.against_samples(grid, curves, vote_n, sims, decoders)
    left, right = fig.axes
    assert left.get_ylabel() == "coefficient accuracy" and right.get_xscale() == "log"
    assert len(left.containers) == 0 and len(right.containers) == 2
    assert len(left.get_legend().get_texts()) == 5 and len(right.get_legend().get_texts()) == 7
    plt.close(fig)


def test_against_temperature_marks_each_best_temperature():
    temps, ks = np.array([0.5, 1.0, 2.0]), [1, 4]
    passes = {k: _per_prompt(2, 5, 3) for k in ("trained model", "linear")}
    best = {k: np.array([0.5, 1.0]) for k in passes}
    budget = {k: (_per_prompt(5, 3), _per_prompt(5, 3)) for k in passes}
    fig = figures.against_temperature(temps, ks, passes, best, budget, 16)
    left, right = fig.axes
    assert left.get_xlabel() == right.get_xlabel() == "temperature $T$"
    assert len(left.get_lines()) == 8  # four curves, four best-T markers
    assert len(left.get_legend().get_texts()) == 4 and len(right.get_legend().get_texts()) == 4
    plt.close(fig)


def test_vote_collapse_has_points_the_normal_curve_and_histograms():
    x = torch.linspace(0, 2.9, 300, dtype=torch.float64).reshape(10, 30)
    hit = torch.special.ndtr(x)
    collapse = {k: (x, hit, hit) for k in ("trained model", "linear")}
    q_plus = {k: _per_prompt(10, 8) for k in collapse}
    fig = figures.vote_collapse(collapse, q_plus, [1, 63])
    left, right = fig.axes
    assert left.get_xlabel() == r"$2\Delta\sqrt{N}$" and len(left.containers) == 2
    assert len(left.get_legend().get_texts()) == 3 and right.get_yscale() == "log"
    plt.close(fig)


def test_calibration_has_three_predictors_and_the_diagonal():
    p = _per_prompt(50, 8)
    truth = (_per_prompt(50, 8) < p).double()
    probabilities = {k: p for k in ("model", "linear", "Bayes")}
    fig = figures.calibration(probabilities, truth, p, {"Bayes": p, "model": p})
    left, right = fig.axes
    assert len(left.containers) == 3 and len(left.get_legend().get_texts()) == 4
    assert right.get_ylabel() == "marginal logit" and len(right.get_legend().get_texts()) == 3
    plt.close(fig)
