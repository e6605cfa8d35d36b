"""Chapter 1's figures drawn from small synthetic inputs: labels, legends, lines, error bars."""

import matplotlib.pyplot as plt
import numpy as np
import torch

from icl.experiments import ch01
from icl.figures import ch01 as figures
from icl.harness.montecarlo import Estimate
from icl.models.linear_attention import LinearSelfAttention
from icl.models.training import TrainingHistory


def _estimate(mean: float) -> Estimate:
    return Estimate(mean, 0.01 * mean, 100, 0.0, "cpu", "float64", 0)


def test_risk_against_n_draws_theory_points_and_prior():
    setting = ch01.AgainstN(d=4, sigma2=0.5, n_grid=(2, 8))
    result = ch01.AgainstNResult(
        setting, (_estimate(3.0), _estimate(1.5)), (_estimate(2.5), _estimate(0.8))
    )
    fig = figures.risk_against_n(result)
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "n" in ax.get_xlabel() and "risk" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 4 and any("exact" in t for t in labels)
    assert len(ax.containers) == 2  # two sets of points with error bars
    assert len(ax.lines[0].get_xdata()) == 100
    plt.close(fig)


def test_training_draws_loss_risk_and_the_learned_gamma():
    setting = ch01.Training(d=2, n=4, steps=40, batch=8)
    snapshots = np.stack([np.eye(2) * t for t in (0.1, 0.3, 0.5)])
    history = TrainingHistory(
        loss=np.linspace(2.0, 1.0, 40),
        seconds=0.1,
        recorded_steps=np.array([10, 20, 40]),
        snapshots=snapshots,
    )
    model = LinearSelfAttention(2, dtype=torch.float64)
    trained = ch01.TrainedLayer(setting, model, history, torch.eye(2, dtype=torch.float64))
    fig = figures.training(trained, window=10)
    ax, ax2 = fig.axes[:2]
    assert ax.get_xlabel() == "training step" and ax.get_yscale() == "log"
    assert len(ax.get_legend().get_texts()) == 3
    assert len(ax.containers) == 1 and len(ax.containers[0][0].get_xdata()) == 4
    assert "Gamma" in ax2.get_title() and len(ax2.images) == 1
    plt.close(fig)
