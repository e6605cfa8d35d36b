import pytest
import torch

from icl import runtime
from icl.decoders.gd_chains import sample_chains
from icl.models.thought_transformer import (
    ThoughtTransformer,
    embed_thoughts,
    train_thought_transformer,
)


def test_embedding_layout(draw_prompts):
    p = draw_prompts(2, 7, 3, sigma2=0.2)
    thoughts = torch.randn(2, 4, 3, dtype=torch.float64)
    Z = embed_thoughts(p.X, p.y, thoughts)
    assert Z.shape == (2, 8, 11)
    assert torch.equal(Z[:, :3, :7], p.X.transpose(1, 2)) and torch.equal(Z[:, 3, :7], p.y)
    assert torch.all(Z[:, 4:, :7] == 0) and torch.all(Z[:, :4, 7:] == 0)
    assert torch.equal(Z[:, 4:7, 7:], thoughts.transpose(1, 2)) and torch.all(Z[:, 7, 7:] == 1)
    with pytest.raises(ValueError, match="thoughts"):
        embed_thoughts(p.X, p.y, torch.zeros(2, 4, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="X"):
        embed_thoughts(p.X, p.y[:, :3], thoughts)


def test_gd_weights_emit_the_gd_step_and_the_next_token_exactly(draw_prompts):
    p = draw_prompts(6, 7, 3, sigma2=0.2)
    model = ThoughtTransformer.gd_weights(3, 0.2)
    path = sample_chains(p.X, p.y, eta=0.2, steps=6, return_path=True)[:, 0]
    assert torch.allclose(model.next_thoughts(p.X, p.y, path[:, :-1]), path[:, 1:], atol=1e-13)
    out = model(embed_thoughts(p.X, p.y, path[:, :-1]), 7)[:, :, 7:]
    assert torch.allclose(out, embed_thoughts(p.X, p.y, path[:, 1:])[:, :, 7:], atol=1e-13)


def test_rollout_is_autoregressive_gd(draw_prompts):
    p = draw_prompts(6, 7, 3, sigma2=0.2)
    model = ThoughtTransformer.gd_weights(3, 0.2)
    roll = model.rollout(p.X, p.y, 30)
    assert roll.shape == (6, 31, 3) and torch.all(roll[:, 0] == 0)
    assert torch.allclose(
        roll, sample_chains(p.X, p.y, eta=0.2, steps=30, return_path=True)[:, 0], atol=1e-12
    )


def test_masked_thought_attention_makes_thoughts_independent(draw_prompts):
    p = draw_prompts(2, 7, 3, sigma2=0.2)
    model = ThoughtTransformer(3, init_std=0.3, generator=runtime.generator(1, "cpu"))
    thoughts = torch.randn(2, 5, 3, dtype=torch.float64)
    both = model.next_thoughts(p.X, p.y, thoughts)
    alone = model.next_thoughts(p.X, p.y, thoughts[:, 2:3])
    assert torch.allclose(both[:, 2:3], alone)


def test_training_reduces_the_loss_and_is_seeded():
    runs = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is much faster on shared cores
    try:
        for _ in range(2):
            model = ThoughtTransformer(3, init_std=0.01, generator=runtime.generator(1, "cpu"))
            runs.append(
                train_thought_transformer(
                    model, n=7, eta=0.2, thoughts=4, steps=200, batch=64, lr=1e-2, seed=2
                )
            )
    finally:
        torch.set_num_threads(threads)
    assert runs[0].loss.shape == (200,) and (runs[0].loss == runs[1].loss).all()
    assert runs[0].loss[-1] < 1e-3 * runs[0].loss[0]


def test_errors(draw_prompts):
    p = draw_prompts(6, 7, 3, sigma2=0.2)
    with pytest.raises(ValueError, match="d"):
        ThoughtTransformer(0)
    with pytest.raises(ValueError, match="init_std"):
        ThoughtTransformer(3, init_std=-1.0)
    model = ThoughtTransformer(3)
    with pytest.raises(ValueError, match="Z"):
        model(torch.zeros(1, 5, 9, dtype=torch.float64), 7)
    with pytest.raises(ValueError, match="steps"):
        model.rollout(p.X, p.y, -1)
    with pytest.raises(ValueError, match="lr"):
        train_thought_transformer(model, n=7, eta=0.2, thoughts=4, steps=3, batch=4, lr=0.0, seed=0)
    with pytest.raises(ValueError, match="thoughts"):
        train_thought_transformer(model, n=7, eta=0.2, thoughts=0, steps=3, batch=4, lr=0.1, seed=0)
