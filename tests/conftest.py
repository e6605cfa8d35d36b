"""Fixtures shared by the unit tests."""

import pytest
import torch

from icl import runtime, tasks


def _draw_prompts(
    batch,
    n,
    d,
    *,
    sigma2=0.0,
    prior="gaussian",
    k=None,
    seed=0,
    generator=None,
    dtype=torch.float64,
):
    """``batch`` prompts on the CPU, drawn with ``generator`` or else a generator seeded by
    ``seed``."""
    gen = runtime.generator(seed, "cpu") if generator is None else generator
    return tasks.sample_prompts(
        batch, n, d, prior=prior, k=k, sigma2=sigma2, generator=gen, device="cpu", dtype=dtype
    )


def _random_log_probs(batch, d, seed=0):
    """A random answer distribution over {-1, +1}^d per prompt: log-probabilities ``(batch,
    2^d)``."""
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(torch.randn(batch, 2**d, generator=g, dtype=torch.float64), dim=1)


@pytest.fixture
def draw_prompts():
    """The factory ``draw_prompts(batch, n, d, *, sigma2, prior, k, seed, generator, dtype)``."""
    return _draw_prompts


@pytest.fixture
def random_log_probs():
    """The factory ``random_log_probs(batch, d, seed)`` of random answer distributions."""
    return _random_log_probs
