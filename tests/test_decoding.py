import pytest
import torch

from icl import decoding, tasks
from icl.harness import runtime


def _prompts(seed=0, batch=5, n=12, d=4):
    return tasks.sample_prompts(batch, n, d, sigma2=0.2, generator=runtime.generator(seed, "cpu"), device="cpu")


def test_greedy_chain_is_the_gd_recursion():
    p = _prompts()
    eta, lam, steps = 0.2, 0.3, 7
    w = torch.zeros_like(p.w)
    for _ in range(steps):
        grad = torch.einsum("bnd,bn->bd", p.X, torch.einsum("bnd,bd->bn", p.X, w) - p.y) / 12 + lam * w
        w = w - eta * grad
    chains = decoding.sample_chains(p.X, p.y, eta=eta, steps=steps, n_chains=3, lam=lam)
    assert chains.shape == (5, 3, 4)
    assert torch.allclose(chains, w.unsqueeze(1).expand(-1, 3, -1), atol=1e-12)


def test_path_starts_at_zero_and_ends_at_final():
    p = _prompts()
    path = decoding.sample_chains(p.X, p.y, eta=0.1, steps=4, n_chains=2, return_path=True)
    assert path.shape == (5, 2, 5, 4) and torch.all(path[:, :, 0] == 0)
    assert torch.allclose(path[:, :, -1], decoding.sample_chains(p.X, p.y, eta=0.1, steps=4, n_chains=2))


def test_multiplicative_noise_mean_is_ridge_and_additive_mean_is_greedy():
    p = _prompts(batch=2)
    gen = runtime.generator(1, "cpu")
    ridge = decoding.sample_chains(p.X, p.y, eta=0.1, steps=10, lam=0.25)[:, 0]
    greedy = decoding.sample_chains(p.X, p.y, eta=0.1, steps=10)[:, 0]
    for noise, target in (("multiplicative", ridge), ("additive", greedy)):
        chains = decoding.sample_chains(p.X, p.y, eta=0.1, steps=10, n_chains=40000, noise=noise, level=0.5, generator=gen)
        se = chains.std(1) / 40000**0.5
        assert torch.all((chains.mean(1) - target).abs() < 4.5 * se)


def test_seeded_noise_repeats():
    p = _prompts()
    run = lambda: decoding.sample_chains(p.X, p.y, eta=0.1, steps=3, n_chains=2, noise="additive", level=0.1,
                                         generator=runtime.generator(4, "cpu"))
    assert torch.equal(run(), run())


@pytest.mark.parametrize("kwargs,match", [
    (dict(eta=0.1, steps=-1), "steps"),
    (dict(eta=0.1, steps=2, n_chains=0), "n_chains"),
    (dict(eta=0.1, steps=2, lam=-1.0), "lam"),
    (dict(eta=0.1, steps=2, noise="gumbel", level=1.0), "noise must"),
    (dict(eta=0.1, steps=2, noise="additive"), "level > 0"),
    (dict(eta=float("inf"), steps=2), "eta"),
])
def test_bad_input(kwargs, match):
    p = _prompts()
    with pytest.raises(ValueError, match=match):
        decoding.sample_chains(p.X, p.y, **kwargs)


def test_bad_shapes():
    p = _prompts()
    with pytest.raises(ValueError, match="expected X"):
        decoding.sample_chains(p.X, p.y[:, 1:], eta=0.1, steps=1)


def test_running_chain_averages_are_nested_running_means():
    p = _prompts(batch=3)
    kw = dict(eta=0.1, steps=6, noise="multiplicative", level=0.4)
    avgs = decoding.running_chain_averages(p.X, p.y, n_avg=[1, 3, 10], generator=runtime.generator(7, "cpu"), **kw)
    chains = decoding.sample_chains(p.X, p.y, n_chains=10, generator=runtime.generator(7, "cpu"), **kw)
    assert avgs.shape == (3, 3, 4)
    assert torch.allclose(avgs[:, 0], chains[:, 0])                      # N = 1: the first chain
    assert torch.allclose(avgs[:, 1], chains[:, :3].mean(1))             # N = 3: the first three, not three new ones
    assert torch.allclose(avgs[:, 2], chains.mean(1))
    assert not torch.allclose(avgs[:, 1], chains[:, 3:6].mean(1))
    for bad in ([], [0, 2], 5):
        with pytest.raises(ValueError, match="n_avg"):
            decoding.running_chain_averages(p.X, p.y, n_avg=bad, **kw)
