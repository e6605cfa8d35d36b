"""The training loop shared by the book's three models: a fresh batch of prompts at every step.

:func:`train` runs ``steps`` optimisation steps. At each step ``batch_loss(generator)`` draws a
new batch of prompts with ``generator`` (seeded by ``seed``, on the model's device) and returns
the loss of the model on it, so the training loss is an unbiased estimate of the risk of the
current weights; then the gradient step and the learning-rate schedule follow, and the loss
is recorded. Optionally ``snapshot(model)`` is recorded every ``record_every`` steps and after
the last. The model is in training mode during the loop and in evaluation mode after it.

The trainers of :mod:`icl.models.linear_attention`, :mod:`icl.models.thought_transformer` and
:mod:`icl.models.softmax_transformer` only say what a batch and its loss are, and which
optimiser and schedule they use: Adam with a cosine decay to 0 (:func:`adam_with_cosine_decay`)
for the first two, AdamW with a linear warm-up for the third.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from icl import tasks
from icl.runtime import Timer, generator
from icl.validation import function, integer, module, positive, tensor
from icl.validation import generator as _generator


@dataclass(frozen=True)
class TrainingHistory:
    """What a training run recorded.

    Attributes
    ----------
    loss : numpy.ndarray
        ``loss[t]``: the loss on the batch of step :math:`t`.
    seconds : float
        The wall time.
    recorded_steps : numpy.ndarray
        The steps after which a snapshot was taken.
    snapshots : numpy.ndarray
        ``snapshots[j]``: what ``snapshot(model)`` returned after step ``recorded_steps[j]`` (empty
        without a snapshot).
    """

    loss: np.ndarray
    seconds: float
    recorded_steps: np.ndarray
    snapshots: np.ndarray


def fresh_prompts(
    weight: torch.Tensor,
    batch: int,
    n: int,
    d: int,
    generator: torch.Generator,
    *,
    prior: str = "gaussian",
    sigma2: float = 0.0,
) -> tasks.Prompts:
    r"""A batch of prompts, what a trainer's ``batch_loss`` draws at every step.

    Parameters
    ----------
    weight : torch.Tensor
        One of the model's parameters: the prompts are drawn on its device and in its dtype.
    batch : int
        Prompts.
    n : int
        Examples per prompt.
    d : int
        The dimension.
    generator : torch.Generator
        The source of the draws, on ``weight``'s device.
    prior : str
        The tasks' prior (:func:`icl.tasks.sample_prompts`).
    sigma2 : float
        The label noise's variance :math:`\sigma^2`.

    Returns
    -------
    icl.tasks.Prompts
        The prompts.
    """
    tensor("weight", weight, nonempty=False, finite=False)
    _generator("generator", generator, device=weight.device)
    return tasks.sample_prompts(
        batch,
        n,
        d,
        prior=prior,
        sigma2=sigma2,
        generator=generator,
        device=weight.device,
        dtype=weight.dtype,
    )


def adam_with_cosine_decay(
    model: nn.Module, lr: float, steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Adam at a learning rate decayed as a cosine to 0.

    Parameters
    ----------
    model : torch.nn.Module
        The model whose parameters Adam updates.
    lr : float
        The initial learning rate, :math:`> 0`.
    steps : int
        The steps over which it decays to 0.

    Returns
    -------
    optimizer : torch.optim.Optimizer
        Adam.
    schedule : torch.optim.lr_scheduler.LRScheduler
        The cosine decay.
    """
    module("model", model, nn.Module)
    lr, steps = positive("lr", lr), integer("steps", steps)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)


def train(
    model: nn.Module,
    batch_loss: Callable[[torch.Generator], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    *,
    steps: int,
    seed: int,
    snapshot: Callable[[nn.Module], np.ndarray] | None = None,
    record_every: int = 10,
) -> TrainingHistory:
    """Run optimisation steps on a fresh batch each step (module docstring).

    Parameters
    ----------
    model : torch.nn.Module
        The model, trained in place; in training mode during the loop and in evaluation mode after
        it.
    batch_loss : callable
        ``batch_loss(generator)`` draws its batch with ``generator`` only and returns the model's
        loss on it, so a seed fixes the whole run on one device.
    optimizer : torch.optim.Optimizer
        The optimiser.
    schedule : torch.optim.lr_scheduler.LRScheduler
        The learning-rate schedule, stepped after each optimiser step.
    steps : int
        Steps.
    seed : int
        Seeds the generator, on the model's device.
    snapshot : callable, optional
        ``snapshot(model)`` is recorded every ``record_every`` steps and after the last.
    record_every : int
        Steps between snapshots.

    Returns
    -------
    TrainingHistory
        The losses, the snapshots and the wall time.
    """
    module("model", model, nn.Module)
    function("batch_loss", batch_loss)
    module("optimizer", optimizer, torch.optim.Optimizer)
    module("schedule", schedule, torch.optim.lr_scheduler.LRScheduler)
    function("snapshot", snapshot, optional=True)
    steps, record_every = integer("steps", steps), integer("record_every", record_every)
    gen = generator(seed, next(model.parameters()).device)
    losses, recorded, snapshots = np.empty(steps), [], []
    timer = Timer()
    model.train()
    for step in range(steps):
        loss = batch_loss(gen)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses[step] = loss.item()
        if snapshot is not None and ((step + 1) % record_every == 0 or step + 1 == steps):
            recorded.append(step + 1)
            snapshots.append(snapshot(model))
    model.eval()
    return TrainingHistory(
        losses, timer.seconds(), np.array(recorded, dtype=int), np.array(snapshots)
    )
