"""The shared training loop reproduces, bit for bit, the plain loops each trainer once had.

Each reference below is the straightforward loop (fresh batch, zero_grad, backward, step,
schedule step) written out; the trainers, built on :func:`icl.models.training.train`, must give
the same losses and the same weights to the last bit for the same seeds.
"""

import math

import numpy as np
import pytest
import torch

from icl import runtime, tasks
from icl.decoders.gd_chains import sample_chains
from icl.models import softmax_transformer as st
from icl.models.linear_attention import LinearSelfAttention, train_linear_attention
from icl.models.thought_transformer import ThoughtTransformer, train_thought_transformer
from icl.models.training import adam_with_cosine_decay, train


def _plain_loop(model, batch_loss, optimizer, schedule, steps, seed):
    gen = runtime.generator(seed, next(model.parameters()).device)
    losses = []
    for _ in range(steps):
        loss = batch_loss(gen)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return np.array(losses)


def _same_weights(a, b):
    return all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_linear_attention_trainer_is_the_plain_adam_loop():
    n, sigma2, steps, batch, lr = 6, 0.3, 40, 64, 2e-2
    trained = LinearSelfAttention(3, init_std=0.1, generator=runtime.generator(1, "cpu"))
    reference = LinearSelfAttention(3, init_std=0.1, generator=runtime.generator(1, "cpu"))
    history = train_linear_attention(
        trained, n=n, sigma2=sigma2, steps=steps, batch=batch, lr=lr, seed=2, record_every=15
    )

    def batch_loss(gen):
        p = tasks.sample_prompts(
            batch, n, 3, sigma2=sigma2, generator=gen, device="cpu", dtype=torch.float64
        )
        return ((reference.predict(p.X, p.y, p.x_query) - p.y_query) ** 2).mean()

    optimizer = torch.optim.Adam(reference.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    losses = _plain_loop(reference, batch_loss, optimizer, schedule, steps, seed=2)
    assert np.array_equal(history.loss, losses) and _same_weights(trained, reference)
    assert list(history.recorded_steps) == [15, 30, 40] and history.snapshots.shape == (3, 3, 3)
    assert np.array_equal(history.snapshots[-1], trained.effective_preconditioner().numpy())


def test_thought_transformer_trainer_is_the_plain_adam_loop():
    n, eta, thoughts, steps, batch, lr = 5, 0.2, 3, 30, 32, 1e-2
    trained = ThoughtTransformer(2, init_std=0.01, generator=runtime.generator(1, "cpu"))
    reference = ThoughtTransformer(2, init_std=0.01, generator=runtime.generator(1, "cpu"))
    history = train_thought_transformer(
        trained,
        n=n,
        eta=eta,
        thoughts=thoughts,
        steps=steps,
        batch=batch,
        lr=lr,
        seed=3,
        sigma2=0.1,
    )

    def batch_loss(gen):
        p = tasks.sample_prompts(
            batch, n, 2, sigma2=0.1, generator=gen, device="cpu", dtype=torch.float64
        )
        path = sample_chains(p.X, p.y, eta=eta, steps=thoughts, return_path=True)[:, 0]
        return ((reference.next_thoughts(p.X, p.y, path[:, :-1]) - path[:, 1:]) ** 2).sum(-1).mean()

    optimizer = torch.optim.Adam(reference.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    losses = _plain_loop(reference, batch_loss, optimizer, schedule, steps, seed=3)
    assert np.array_equal(history.loss, losses) and _same_weights(trained, reference)
    assert history.snapshots.size == 0


def test_softmax_trainer_is_the_plain_adamw_loop_with_warm_up():
    config = st.DecoderConfig(d=3, n=6, sigma2=1.0, width=16, layers=2, heads=2)
    training = st.TrainingConfig(steps=25, batch=16, lr=3e-3, warmup=5, weight_decay=0.01)
    trained, reference = (
        st.CoefficientDecoder(config, seed=3),
        st.CoefficientDecoder(config, seed=3),
    )
    history = st.train_coefficient_decoder(trained, training, seed=4)

    def batch_loss(gen):
        p = tasks.sample_prompts(
            training.batch,
            config.n,
            config.d,
            prior="rademacher",
            sigma2=config.sigma2,
            generator=gen,
            device="cpu",
            dtype=torch.float32,
        )
        return st.cross_entropy(reference, p)

    def rate(t):
        if t < training.warmup:
            return (t + 1) / training.warmup
        return 0.5 * (
            1 + math.cos(math.pi * (t - training.warmup) / (training.steps - training.warmup))
        )

    optimizer = torch.optim.AdamW(
        reference.parameters(), lr=training.lr, weight_decay=training.weight_decay
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    reference.train()
    losses = _plain_loop(reference, batch_loss, optimizer, schedule, training.steps, seed=4)
    assert np.array_equal(history.loss, losses) and _same_weights(trained, reference)
    assert not trained.training  # evaluation mode after training


def test_train_validates_and_draws_batches_from_its_seed():
    model = torch.nn.Linear(2, 1, dtype=torch.float64)
    optimizer, schedule = adam_with_cosine_decay(model, 0.1, 5)
    seen = []

    def batch_loss(gen):
        x = torch.randn(4, 2, generator=gen, dtype=torch.float64)
        seen.append(x)
        return model(x).pow(2).mean()

    history = train(model, batch_loss, optimizer, schedule, steps=5, seed=7)
    gen = runtime.generator(7, "cpu")
    assert all(torch.equal(x, torch.randn(4, 2, generator=gen, dtype=torch.float64)) for x in seen)
    assert history.loss.shape == (5,) and history.recorded_steps.size == 0 and history.seconds >= 0
    assert schedule.get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)  # the cosine reached 0
    with pytest.raises(ValueError, match="steps"):
        train(model, batch_loss, optimizer, schedule, steps=0, seed=0)
    with pytest.raises(ValueError, match="record_every"):
        train(model, batch_loss, optimizer, schedule, steps=1, seed=0, record_every=0)
