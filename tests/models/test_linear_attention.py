import numpy as np
import pytest
import torch

from icl import runtime, theory
from icl.models.linear_attention import LinearSelfAttention, embed_prompts, train_linear_attention


def test_embedding_layout(draw_prompts):
    p = draw_prompts(16, 9, 4, sigma2=0.3)
    Z = embed_prompts(p.X, p.y, p.x_query)
    assert Z.shape == (16, 5, 10)
    assert torch.equal(Z[:, :4, :9], p.X.transpose(1, 2)) and torch.equal(Z[:, 4, :9], p.y)
    assert torch.equal(Z[:, :4, 9], p.x_query) and torch.all(Z[:, 4, 9] == 0)


def test_constructed_weights_give_the_preconditioned_gd_prediction(draw_prompts):
    p = draw_prompts(16, 9, 4, sigma2=0.3)
    gamma = torch.randn(4, 4, generator=runtime.generator(1, "cpu"), dtype=torch.float64)
    model = LinearSelfAttention.from_preconditioner(gamma)
    expected = torch.einsum("bd,de,bne,bn->b", p.x_query, gamma, p.X, p.y) / 9
    full = model(embed_prompts(p.X, p.y, p.x_query))[:, 4, 9]
    assert torch.allclose(full, expected, rtol=1e-12, atol=1e-12)
    assert torch.allclose(model.predict(p.X, p.y, p.x_query), expected, rtol=1e-12, atol=1e-12)
    assert torch.allclose(model.effective_preconditioner(), gamma)


def test_predict_equals_forward_for_random_weights(draw_prompts):
    p = draw_prompts(16, 9, 4, sigma2=0.3)
    model = LinearSelfAttention(4, init_std=0.5, generator=runtime.generator(2, "cpu"))
    full = model(embed_prompts(p.X, p.y, p.x_query))[:, 4, 9]
    assert torch.allclose(model.predict(p.X, p.y, p.x_query), full, rtol=1e-12, atol=1e-12)


def test_bad_shapes_raise_value_error(draw_prompts):
    p = draw_prompts(16, 9, 4, sigma2=0.3)
    model = LinearSelfAttention(4)
    with pytest.raises(ValueError, match="Z must have shape"):
        model(torch.zeros(2, 3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="expected X"):
        embed_prompts(p.X, p.y[:, :3], p.x_query)
    with pytest.raises(ValueError, match="gamma must be a square"):
        LinearSelfAttention.from_preconditioner(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="d must"):
        LinearSelfAttention(0)
    with pytest.raises(ValueError, match="init_std"):
        LinearSelfAttention(3, init_std=-1.0)


def _train(seed=0, steps=200):
    model = LinearSelfAttention(
        3, init_std=0.1, generator=runtime.generator(seed, "cpu"), device="cpu"
    )
    history = train_linear_attention(
        model, n=8, sigma2=0.2, steps=steps, batch=256, lr=3e-2, seed=seed, record_every=50
    )
    return model, history


def test_training_approaches_the_optimal_preconditioner():
    model, history = _train()
    assert history.loss.shape == (200,) and list(history.recorded_steps) == [50, 100, 150, 200]
    assert history.snapshots.shape == (4, 3, 3)
    risk = theory.preconditioned_risk(model.effective_preconditioner(), 8, 0.2)
    assert risk < 1.05 * theory.optimal_one_step_risk(8, 3, 0.2)
    assert history.loss[-30:].mean() < history.loss[:10].mean()


def test_training_is_repeatable():
    (_, a), (_, b) = _train(seed=4, steps=20), _train(seed=4, steps=20)
    assert np.array_equal(a.loss, b.loss) and np.array_equal(a.snapshots, b.snapshots)


def test_bad_arguments():
    model = LinearSelfAttention(2, device="cpu")
    with pytest.raises(ValueError, match="steps"):
        train_linear_attention(model, n=4, sigma2=0.1, steps=0, batch=8, lr=0.01, seed=0)
    with pytest.raises(ValueError, match="lr"):
        train_linear_attention(model, n=4, sigma2=0.1, steps=1, batch=8, lr=0.0, seed=0)
