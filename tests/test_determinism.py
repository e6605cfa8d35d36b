"""Repeatability: same seed, same bits; another seed, other draws; what the chunk size and the
CPU thread count change and what they do not."""

import numpy as np
import pytest
import torch

from icl import runtime, tasks, techniques
from icl.decoders.gd_chains import sample_chains
from icl.decoders.sparse_chains import sparse_binary_chains
from icl.harness.montecarlo import Estimate, estimate_mean
from icl.models.softmax_transformer import (
    CoefficientDecoder,
    DecoderConfig,
    TrainingConfig,
    train_coefficient_decoder,
)


def _noisy_risk(batch, gen):
    p = tasks.sample_prompts(batch, 8, 3, sigma2=0.25, generator=gen, device="cpu")
    w = sample_chains(p.X, p.y, eta=0.2, steps=5, noise="additive", level=0.1, generator=gen)
    return ((w[:, 0] - p.w) ** 2).sum(-1)


def test_same_seed_same_bits_and_other_seeds_differ():
    a = estimate_mean(_noisy_risk, 300, seed=3, chunk_size=64, dev="cpu", keep_values=True)
    b = estimate_mean(_noisy_risk, 300, seed=3, chunk_size=64, dev="cpu", keep_values=True)
    c = estimate_mean(_noisy_risk, 300, seed=4, chunk_size=64, dev="cpu", keep_values=True)
    assert np.array_equal(a.values, b.values) and a.mean == b.mean and a.stderr == b.stderr
    assert not np.array_equal(a.values, c.values)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 299, 300, 10_000])
def test_chunks_combine_exactly_whatever_their_size(chunk_size):
    est = estimate_mean(
        _noisy_risk, 300, seed=5, chunk_size=chunk_size, dev="cpu", keep_values=True
    )
    one_pass = Estimate.from_values(est.values)
    assert est.mean == pytest.approx(one_pass.mean, rel=1e-12)
    assert est.stderr == pytest.approx(one_pass.stderr, rel=1e-10)


def test_the_chunk_size_changes_the_draws_not_their_distribution():
    whole = estimate_mean(_noisy_risk, 4000, seed=6, chunk_size=4000, dev="cpu")
    same = estimate_mean(_noisy_risk, 4000, seed=6, chunk_size=10**6, dev="cpu")
    cut = estimate_mean(_noisy_risk, 4000, seed=6, chunk_size=100, dev="cpu")
    assert whole.mean == same.mean  # chunk_size >= n_samples: one call
    assert cut.mean != whole.mean
    assert abs(cut.mean - whole.mean) <= 4 * np.hypot(cut.stderr, whole.stderr)


def test_samplers_repeat_with_their_generator():
    def draw(seed):
        gen = runtime.generator(seed, "cpu")
        p = tasks.sample_prompts(4, 6, 5, prior="sparse-binary", k=2, generator=gen, device="cpu")
        chains = sparse_binary_chains(p.X, p.y, k=2, eta=1.0, steps=3, n_chains=5, generator=gen)
        votes = techniques.plurality_vote(chains.sum(-1).long(), gen)
        return chains, votes

    first, again, other = draw(1), draw(1), draw(2)
    assert all(torch.equal(x, y) for x, y in zip(first, again, strict=True))
    assert not torch.equal(first[0], other[0])


def _trained(threads):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = CoefficientDecoder(
            DecoderConfig(d=8, n=16, sigma2=4.0, width=48, layers=3, heads=4), seed=0
        )
        history = train_coefficient_decoder(
            model, TrainingConfig(steps=3, batch=256, warmup=1), seed=0
        )
    finally:
        torch.set_num_threads(previous)
    return history.loss, torch.cat([p.detach().flatten() for p in model.parameters()])


def test_training_repeats_per_thread_count_and_differs_across_by_round_off():
    loss_1, params_1 = _trained(1)
    loss_1b, params_1b = _trained(1)
    loss_2, params_2 = _trained(2)
    assert np.array_equal(loss_1, loss_1b) and torch.equal(params_1, params_1b)
    # the tolerance stated in train_coefficient_decoder's docstring (float32 round-off)
    assert np.allclose(loss_1, loss_2, rtol=1e-5, atol=0)
    assert (params_1 - params_2).abs().max() < 2e-4
