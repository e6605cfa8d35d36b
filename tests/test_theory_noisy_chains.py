import itertools

import pytest
import torch

from icl import montecarlo, tasks, theory
from icl.decoding import sample_chains


def _prompts(seed=0, batch=3, n=8, d=4, sigma2=0.3):
    return tasks.sample_prompts(batch, n, d, sigma2=sigma2, generator=montecarlo.generator(seed, "cpu"), device="cpu")


def test_gaussian_fourth_moment_brute_force():
    """Exact expectation by enumerating Isserlis pairings entry by entry, for a non-symmetric M."""
    d, delta2 = 3, 0.7
    M = torch.arange(9, dtype=torch.float64).reshape(3, 3) - 2.0
    cov = delta2 * torch.eye(d, dtype=torch.float64)
    brute = torch.zeros(d, d, dtype=torch.float64)
    for a, b, c, e in itertools.product(range(d), repeat=4):
        moment = cov[a, c] * cov[e, b] + cov[a, e] * cov[c, b] + cov[a, b] * cov[c, e]
        brute[a, b] += M[c, e] * moment
    assert torch.allclose(theory.gaussian_fourth_moment(M, delta2), brute)
    assert theory.gaussian_fourth_moment(M.expand(2, 5, 3, 3), delta2).shape == (2, 5, 3, 3)
    with pytest.raises(ValueError, match="M"):
        theory.gaussian_fourth_moment(torch.ones(2, 3), 1.0)
    with pytest.raises(ValueError, match="delta2"):
        theory.gaussian_fourth_moment(M, -1.0)


@pytest.mark.parametrize("noise", ["multiplicative", "additive"])
def test_mean_and_covariance_small_monte_carlo(noise):
    p = _prompts(batch=1)
    gen = montecarlo.generator(5, "cpu")
    kw = dict(eta=0.15, steps=12, noise=noise, level=0.5, lam=0.05)
    chains = sample_chains(p.X, p.y, n_chains=100000, generator=gen, **kw)[0]
    mean, cov = theory.chain_mean(p.X, p.y, **kw)[0], theory.chain_covariance(p.X, p.y, **kw)[0]
    se = chains.std(0) / 100000**0.5
    assert torch.all((chains.mean(0) - mean).abs() < 4.5 * se)
    sq = ((chains - mean) ** 2).sum(1)
    assert abs(sq.mean() - cov.trace()) < 4.5 * sq.std() / 100000**0.5


def test_multiplicative_mean_is_ridge_iterate_at_lam_plus_delta2():
    p = _prompts()
    m = theory.chain_mean(p.X, p.y, eta=0.1, steps=9, noise="multiplicative", level=0.6, lam=0.1)
    assert torch.allclose(m, theory.ridge_gd_iterate(p.X, p.y, 0.1, 0.1 + 0.36, 9))
    a = theory.chain_mean(p.X, p.y, eta=0.1, steps=9, noise="additive", level=0.6)
    assert torch.allclose(a, sample_chains(p.X, p.y, eta=0.1, steps=9)[:, 0])


@pytest.mark.parametrize("noise", ["multiplicative", "additive"])
def test_diagonal_recursion_matches_full_recursion_and_fixed_point(noise):
    p = _prompts(batch=2, n=10, d=4)
    kw = dict(eta=0.1, noise=noise, level=0.4, lam=0.02)
    bias2, trace = theory.chain_risk_terms(p.X, p.y, p.w, steps=25, **kw)
    full = theory.chain_covariance(p.X, p.y, steps=25, **kw)
    mean = theory.chain_mean(p.X, p.y, steps=25, **kw)
    assert torch.allclose(trace, full.diagonal(dim1=-2, dim2=-1).sum(-1))
    assert torch.allclose(bias2, ((mean - p.w) ** 2).sum(-1))
    path_bias2, path_trace = theory.chain_risk_terms(p.X, p.y, p.w, steps=25, every_step=True, **kw)
    assert path_bias2.shape == (2, 26) and torch.allclose(path_bias2[:, -1], bias2) and torch.allclose(path_trace[:, -1], trace)
    assert torch.all(path_trace[:, 0] == 0) and torch.allclose(path_bias2[:, 0], (p.w**2).sum(-1))
    mid = theory.chain_risk_terms(p.X, p.y, p.w, steps=7, **kw)
    assert torch.allclose(path_bias2[:, 7], mid[0]) and torch.allclose(path_trace[:, 7], mid[1])
    late = theory.chain_covariance(p.X, p.y, steps=4000, **kw)
    assert torch.allclose(late, theory.stationary_chain_covariance(p.X, p.y, **kw), atol=1e-10)


def test_averaged_chain_risk_is_bias_plus_trace_over_n_and_matches_simulation():
    p = _prompts(batch=1, n=6, d=5)
    kw = dict(eta=0.2, steps=15, level=0.7)
    bias2, trace = theory.chain_risk_terms(p.X, p.y, p.w, **kw)
    assert torch.allclose(theory.averaged_chain_risk(p.X, p.y, p.w, n_chains=8, **kw), bias2 + trace / 8)
    gen = montecarlo.generator(9, "cpu")
    chains = sample_chains(p.X, p.y, n_chains=8 * 20000, noise="multiplicative", generator=gen, **kw)
    err = ((chains.reshape(20000, 8, 5).mean(1) - p.w) ** 2).sum(1)
    theory_value = theory.averaged_chain_risk(p.X, p.y, p.w, n_chains=8, **kw)[0]
    assert abs(err.mean() - theory_value) < 4 * err.std() / 20000**0.5


def test_errors():
    p = _prompts()
    with pytest.raises(ValueError, match="noise"):
        theory.chain_mean(p.X, p.y, eta=0.1, steps=3, noise="none", level=0.1)
    with pytest.raises(ValueError, match="level"):
        theory.chain_covariance(p.X, p.y, eta=0.1, steps=3, noise="additive", level=0.0)
    with pytest.raises(ValueError, match="eta"):
        theory.chain_covariance(p.X, p.y, eta=0.0, steps=3, noise="additive", level=0.1)
    with pytest.raises(ValueError, match="X"):
        theory.chain_risk_terms(p.X, p.y[:, :2], p.w, eta=0.1, steps=3, level=0.1)
    with pytest.raises(ValueError, match="w must"):
        theory.chain_risk_terms(p.X, p.y, p.w[:, :2], eta=0.1, steps=3, level=0.1)
    with pytest.raises(ValueError, match="n_chains"):
        theory.averaged_chain_risk(p.X, p.y, p.w, eta=0.1, steps=3, level=0.1, n_chains=0)
    with pytest.raises(ValueError, match="steps"):
        theory.chain_risk_terms(p.X, p.y, p.w, eta=0.1, steps=-2, level=0.1)
    singular = _prompts(n=2, d=4)
    with pytest.raises(ValueError, match="no stationary covariance"):
        theory.stationary_chain_covariance(singular.X, singular.y, eta=0.1, noise="additive", level=0.1)
    with pytest.raises(ValueError, match="no stationary covariance"):
        theory.stationary_chain_covariance(p.X, p.y, eta=0.1, noise="multiplicative", level=30.0)
