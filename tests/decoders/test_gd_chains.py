import pytest
import torch

from icl import runtime
from icl.decoders import gd_chains


def test_greedy_chain_is_the_gd_recursion(draw_prompts):
    p = draw_prompts(5, 12, 4, sigma2=0.2)
    eta, lam, steps = 0.2, 0.3, 7
    w = torch.zeros_like(p.w)
    for _ in range(steps):
        grad = (
            torch.einsum("bnd,bn->bd", p.X, torch.einsum("bnd,bd->bn", p.X, w) - p.y) / 12 + lam * w
        )
        w = w - eta * grad
    chains = gd_chains.sample_chains(p.X, p.y, eta=eta, steps=steps, n_chains=3, lam=lam)
    assert chains.shape == (5, 3, 4)
    assert torch.allclose(chains, w.unsqueeze(1).expand(-1, 3, -1), atol=1e-12)


def test_path_starts_at_zero_and_ends_at_final(draw_prompts):
    p = draw_prompts(5, 12, 4, sigma2=0.2)
    path = gd_chains.sample_chains(p.X, p.y, eta=0.1, steps=4, n_chains=2, return_path=True)
    assert path.shape == (5, 2, 5, 4) and torch.all(path[:, :, 0] == 0)
    assert torch.allclose(
        path[:, :, -1], gd_chains.sample_chains(p.X, p.y, eta=0.1, steps=4, n_chains=2)
    )


def test_multiplicative_noise_mean_is_ridge_and_additive_mean_is_greedy(draw_prompts):
    p = draw_prompts(2, 12, 4, sigma2=0.2)
    gen = runtime.generator(1, "cpu")
    ridge = gd_chains.sample_chains(p.X, p.y, eta=0.1, steps=10, lam=0.25)[:, 0]
    greedy = gd_chains.sample_chains(p.X, p.y, eta=0.1, steps=10)[:, 0]
    for noise, target in (("multiplicative", ridge), ("additive", greedy)):
        chains = gd_chains.sample_chains(
            p.X, p.y, eta=0.1, steps=10, n_chains=40000, noise=noise, level=0.5, generator=gen
        )
        se = chains.std(1) / 40000**0.5
        assert torch.all((chains.mean(1) - target).abs() < 4.5 * se)


def test_seeded_noise_repeats(draw_prompts):
    p = draw_prompts(5, 12, 4, sigma2=0.2)
    run = lambda: gd_chains.sample_chains(
        p.X,
        p.y,
        eta=0.1,
        steps=3,
        n_chains=2,
        noise="additive",
        level=0.1,
        generator=runtime.generator(4, "cpu"),
    )
    assert torch.equal(run(), run())


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(eta=0.1, steps=-1), "steps"),
        (dict(eta=0.1, steps=2, n_chains=0), "n_chains"),
        (dict(eta=0.1, steps=2, lam=-1.0), "lam"),
        (dict(eta=0.1, steps=2, noise="gumbel", level=1.0), "noise must"),
        (dict(eta=0.1, steps=2, noise="additive"), "level > 0"),
        (dict(eta=float("inf"), steps=2), "eta"),
    ],
)
def test_bad_input(kwargs, match, draw_prompts):
    p = draw_prompts(5, 12, 4, sigma2=0.2)
    with pytest.raises(ValueError, match=match):
        gd_chains.sample_chains(p.X, p.y, **kwargs)


def test_bad_shapes(draw_prompts):
    p = draw_prompts(5, 12, 4, sigma2=0.2)
    with pytest.raises(ValueError, match="expected X"):
        gd_chains.sample_chains(p.X, p.y[:, 1:], eta=0.1, steps=1)


def test_sizes_and_work_beyond_the_bounds_are_refused_naming_them(draw_prompts):
    """Chains of more than 2^27 entries or more than 2^40 multiply-adds are refused before any
    allocation, naming the size."""
    p = draw_prompts(2, 6, 3, sigma2=0.2)
    with pytest.raises(ValueError, match=r"B \* n_chains \* d = "):
        gd_chains.sample_chains(p.X, p.y, eta=0.1, steps=1, n_chains=2**62)
    with pytest.raises(ValueError, match=r"B \* n_chains \* \(steps \+ 1\) \* d"):
        gd_chains.sample_chains(p.X, p.y, eta=0.1, steps=10**6, n_chains=100, return_path=True)
    with pytest.raises(ValueError, match=r"steps \* B \* n_chains \* d\^2"):
        gd_chains.sample_chains(p.X, p.y, eta=0.1, steps=10**6, n_chains=10**6)


def test_diverging_chains_are_refused_not_returned_as_inf_or_nan(draw_prompts):
    """At eta = 10 (far past 2 / s_max) the iterates grow by about 10^1 a step and overflow
    float64 within 400 steps: a ValueError, never a NaN."""
    p = draw_prompts(2, 6, 3, sigma2=0.2)
    assert bool(gd_chains.sample_chains(p.X, p.y, eta=10.0, steps=20).isfinite().all())
    with pytest.raises(ValueError, match="diverge"):
        gd_chains.sample_chains(p.X, p.y, eta=10.0, steps=400)
