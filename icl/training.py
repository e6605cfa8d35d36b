"""Pretraining of the linear-attention transformer on freshly sampled prompts.

Each step draws a new batch of prompts, so the training loss is an unbiased
estimate of the prediction risk E (y_hat - y_q)^2 of the current weights; the
minimiser of the parameter risk is the minimiser of the prediction risk
(they differ by sigma2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from icl import tasks
from icl.harness import runtime
from icl.transformer import LinearSelfAttention
from icl.validation import integer, real


@dataclass(frozen=True)
class TrainingHistory:
    """``loss[t]``: the minibatch mean squared prediction error at step t; ``gammas[j]``: the
    effective preconditioner after step ``recorded_steps[j]``, shape ``(len(recorded_steps), d, d)``."""

    loss: np.ndarray
    recorded_steps: np.ndarray
    gammas: np.ndarray
    seconds: float


def train_linear_attention(
    model: LinearSelfAttention,
    *,
    n: int,
    sigma2: float,
    steps: int,
    batch: int,
    lr: float,
    seed: int,
    prior: str = "gaussian",
    record_every: int = 10,
) -> TrainingHistory:
    """Train ``model`` with Adam on fresh prompts of ``n`` examples; the learning rate decays as a cosine to 0.

    Prompts are drawn on the model's device and dtype with a generator seeded
    by ``seed``; the loss is the mean of (y_hat - y_q)^2 over the batch.
    """
    steps, batch = integer("steps", steps), integer("batch", batch)
    lr, record_every = real("lr", lr, minimum=0.0, strict=True), integer("record_every", record_every)
    param = model.W_pv
    gen = runtime.generator(seed, param.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    losses, recorded, gammas = np.empty(steps), [], []
    timer = runtime.Timer()
    for step in range(steps):
        p = tasks.sample_prompts(batch, n, model.d, prior=prior, sigma2=sigma2, generator=gen,
                                 device=param.device, dtype=param.dtype)
        loss = ((model.predict(p.X, p.y, p.x_query) - p.y_query) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses[step] = loss.item()
        if (step + 1) % record_every == 0 or step + 1 == steps:
            recorded.append(step + 1)
            gammas.append(model.effective_preconditioner().cpu().numpy())
    return TrainingHistory(losses, np.array(recorded), np.stack(gammas), timer.seconds())
