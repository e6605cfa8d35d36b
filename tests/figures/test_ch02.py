"""Chapter 2's figures drawn from small synthetic inputs: labels, legends, lines, error bars."""

import matplotlib.pyplot as plt
import numpy as np
import torch

from icl.experiments import ch02
from icl.figures import ch02 as figures
from icl.harness.montecarlo import Estimate
from icl.models.thought_transformer import ThoughtTransformer
from icl.models.training import TrainingHistory


def _estimate(mean: float) -> Estimate:
    return Estimate(mean, 0.01 * mean, 100, 0.0, "cpu", "float64", 0)


def test_training_draws_the_loss_and_the_rollout_errors():
    history = TrainingHistory(np.linspace(1.0, 0.1, 20), 0.1, np.array([]), np.array([]))
    setting = ch02.Training(d=2, n=3, steps=20, batch=4, thoughts=3)
    trained = ch02.TrainedThoughts(setting, ThoughtTransformer(2, dtype=torch.float64), history)
    errors = ch02.EmittedErrors(1e-4, torch.rand(5, 30, dtype=torch.float64) * 1e-5, 30)
    fig = figures.training(trained, errors)
    ax, ax2 = fig.axes
    assert ax.get_yscale() == ax2.get_yscale() == "log"
    assert ax.get_xlabel() == "training step" and "thought" in ax2.get_xlabel()
    assert len(ax2.get_legend().get_texts()) == 3 and len(ax2.lines[0].get_xdata()) == 30
    plt.close(fig)


def test_risk_parts_draws_one_panel_per_setting():
    setting = ch02.Parting(n=12, d=10, sigma2=1.0, eta=0.2)
    fig = figures.risk_parts([("this chapter", setting, 120, 37)])
    (ax,) = fig.axes
    assert len(ax.get_legend().get_texts()) == 4 and "this chapter" in ax.get_title()
    assert ax.get_ylim() == (-20, 40)
    plt.close(fig)


def test_risk_against_thoughts_draws_curves_and_points():
    chain = ch02.Chain()
    grid = np.array([1, 10, 100])
    risk, ridge = np.array([8.0, 6.0, 9.0]), np.array([7.0, 5.0, 8.0])
    curve = ch02.RiskCurve(grid, risk, 10, 6.0, ridge, 0.08, 4.0, [0.9, 0.8, 1.0])
    chains = {3: _estimate(7.0), 30: _estimate(6.0)}
    designs = {10: _estimate(6.0)}
    fig = figures.risk_against_thoughts(chain, curve, chains, designs)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and "risk" in ax.get_ylabel()
    assert len(ax.containers) == 2 and len(ax.get_legend().get_texts()) == 7
    plt.close(fig)
