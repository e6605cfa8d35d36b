import numpy as np
import pytest

from icl import theory
from icl.harness import runtime
from icl.training import train_linear_attention
from icl.transformer import LinearSelfAttention


def _train(seed=0, steps=200):
    model = LinearSelfAttention(3, init_std=0.1, generator=runtime.generator(seed, "cpu"), device="cpu")
    history = train_linear_attention(model, n=8, sigma2=0.2, steps=steps, batch=256, lr=3e-2, seed=seed, record_every=50)
    return model, history


def test_training_approaches_the_optimal_preconditioner():
    model, history = _train()
    assert history.loss.shape == (200,) and list(history.recorded_steps) == [50, 100, 150, 200]
    assert history.gammas.shape == (4, 3, 3)
    risk = theory.preconditioned_risk(model.effective_preconditioner(), 8, 0.2)
    assert risk < 1.05 * theory.optimal_one_step_risk(8, 3, 0.2)
    assert history.loss[-30:].mean() < history.loss[:10].mean()


def test_training_is_repeatable():
    (_, a), (_, b) = _train(seed=4, steps=20), _train(seed=4, steps=20)
    assert np.array_equal(a.loss, b.loss) and np.array_equal(a.gammas, b.gammas)


def test_bad_arguments():
    model = LinearSelfAttention(2, device="cpu")
    with pytest.raises(ValueError, match="steps"):
        train_linear_attention(model, n=4, sigma2=0.1, steps=0, batch=8, lr=0.01, seed=0)
    with pytest.raises(ValueError, match="lr"):
        train_linear_attention(model, n=4, sigma2=0.1, steps=1, batch=8, lr=0.0, seed=0)
