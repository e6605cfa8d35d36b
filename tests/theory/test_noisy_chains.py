import itertools
import math

import pytest
import torch

from icl import tasks, theory
from icl.decoders.gd_chains import sample_chains
from icl.harness import runtime


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
def test_mean_and_covariance_small_monte_carlo(noise, draw_prompts):
    p = draw_prompts(1, 8, 4, sigma2=0.3)
    gen = runtime.generator(5, "cpu")
    kw = dict(eta=0.15, steps=12, noise=noise, level=0.5, lam=0.05)
    chains = sample_chains(p.X, p.y, n_chains=100000, generator=gen, **kw)[0]
    mean, cov = theory.chain_mean(p.X, p.y, **kw)[0], theory.chain_covariance(p.X, p.y, **kw)[0]
    se = chains.std(0) / 100000**0.5
    assert torch.all((chains.mean(0) - mean).abs() < 4.5 * se)
    sq = ((chains - mean) ** 2).sum(1)
    assert abs(sq.mean() - cov.trace()) < 4.5 * sq.std() / 100000**0.5


def test_multiplicative_mean_is_ridge_iterate_at_lam_plus_delta2(draw_prompts):
    p = draw_prompts(3, 8, 4, sigma2=0.3)
    m = theory.chain_mean(p.X, p.y, eta=0.1, steps=9, noise="multiplicative", level=0.6, lam=0.1)
    assert torch.allclose(m, theory.ridge_gd_iterate(p.X, p.y, 0.1, 0.1 + 0.36, 9))
    a = theory.chain_mean(p.X, p.y, eta=0.1, steps=9, noise="additive", level=0.6)
    assert torch.allclose(a, sample_chains(p.X, p.y, eta=0.1, steps=9)[:, 0])


@pytest.mark.parametrize("noise", ["multiplicative", "additive"])
def test_diagonal_recursion_matches_full_recursion_and_fixed_point(noise, draw_prompts):
    p = draw_prompts(2, 10, 4, sigma2=0.3)
    kw = dict(eta=0.1, noise=noise, level=0.4, lam=0.02)
    bias2, trace = theory.chain_risk_terms(p.X, p.y, p.w, steps=25, **kw)
    full = theory.chain_covariance(p.X, p.y, steps=25, **kw)
    mean = theory.chain_mean(p.X, p.y, steps=25, **kw)
    assert torch.allclose(trace, full.diagonal(dim1=-2, dim2=-1).sum(-1))
    assert torch.allclose(bias2, ((mean - p.w) ** 2).sum(-1))
    path_bias2, path_trace = theory.chain_risk_terms(p.X, p.y, p.w, steps=25, every_step=True, **kw)
    assert (
        path_bias2.shape == (2, 26)
        and torch.allclose(path_bias2[:, -1], bias2)
        and torch.allclose(path_trace[:, -1], trace)
    )
    assert torch.all(path_trace[:, 0] == 0) and torch.allclose(path_bias2[:, 0], (p.w**2).sum(-1))
    mid = theory.chain_risk_terms(p.X, p.y, p.w, steps=7, **kw)
    assert torch.allclose(path_bias2[:, 7], mid[0]) and torch.allclose(path_trace[:, 7], mid[1])
    late = theory.chain_covariance(p.X, p.y, steps=4000, **kw)
    assert torch.allclose(late, theory.stationary_chain_covariance(p.X, p.y, **kw), atol=1e-10)


def test_averaged_chain_risk_is_bias_plus_trace_over_n_and_matches_simulation(draw_prompts):
    p = draw_prompts(1, 6, 5, sigma2=0.3)
    kw = dict(eta=0.2, steps=15, level=0.7)
    bias2, trace = theory.chain_risk_terms(p.X, p.y, p.w, **kw)
    assert torch.allclose(
        theory.averaged_chain_risk(p.X, p.y, p.w, n_chains=8, **kw), bias2 + trace / 8
    )
    gen = runtime.generator(9, "cpu")
    chains = sample_chains(
        p.X, p.y, n_chains=8 * 20000, noise="multiplicative", generator=gen, **kw
    )
    err = ((chains.reshape(20000, 8, 5).mean(1) - p.w) ** 2).sum(1)
    theory_value = theory.averaged_chain_risk(p.X, p.y, p.w, n_chains=8, **kw)[0]
    assert abs(err.mean() - theory_value) < 4 * err.std() / 20000**0.5


def test_errors(draw_prompts):
    p = draw_prompts(3, 8, 4, sigma2=0.3)
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
    singular = draw_prompts(3, 2, 4, sigma2=0.3)
    with pytest.raises(ValueError, match="no stationary covariance"):
        theory.stationary_chain_covariance(
            singular.X, singular.y, eta=0.1, noise="additive", level=0.1
        )
    with pytest.raises(ValueError, match="no stationary covariance"):
        theory.stationary_chain_covariance(p.X, p.y, eta=0.1, noise="multiplicative", level=30.0)


@pytest.mark.parametrize("noise", ["multiplicative", "additive"])
@pytest.mark.parametrize("n, d", [(8, 5), (4, 7)])
def test_chain_error_moments_match_the_full_covariance_recursion(noise, n, d, draw_prompts):
    """b^T C_T b with the closed-form off-diagonal entries equals the O(T d^3) recursion, for n > d
    and n < d."""
    p = draw_prompts(3, n, d, sigma2=0.3)
    for steps in (1, 2, 7, 40):
        kw = dict(eta=0.15, steps=steps, noise=noise, level=0.5, lam=0.05)
        bias2, trace, quadratic = theory.chain_error_moments(p.X, p.y, p.w, **kw)
        C, m = theory.chain_covariance(p.X, p.y, **kw), theory.chain_mean(p.X, p.y, **kw)
        b = m - p.w
        assert torch.allclose(bias2, (b**2).sum(-1))
        assert torch.allclose(trace, C.diagonal(dim1=-2, dim2=-1).sum(-1), atol=1e-14)
        assert torch.allclose(
            quadratic,
            (b.unsqueeze(-2) @ C @ b.unsqueeze(-1)).squeeze((-1, -2)),
            rtol=1e-10,
            atol=1e-15,
        )
    # the trace alone (C = tr(C) I / d) is the plausible shortcut this must differ from
    assert not torch.allclose(quadratic, trace * bias2 / d, rtol=1e-2)


def test_chain_error_moments_at_the_prototype_scale():
    """T = 1000 with kappa = 1e-6, where r^T - q^T nearly cancels: still 1e-10 relative to the
    recursion."""
    p = tasks.sample_prompts(
        2, 30, 50, prior="sparse-gaussian", k=5, sigma2=0.1, generator=runtime.generator(3, "cpu")
    )
    kw = dict(eta=0.03, steps=1000, noise="multiplicative", level=(1 / 30) ** 0.5)
    bias2, trace, quadratic = theory.chain_error_moments(p.X, p.y, p.w, **kw)
    C, b = theory.chain_covariance(p.X, p.y, **kw), theory.chain_mean(p.X, p.y, **kw) - p.w
    assert torch.allclose(
        quadratic, (b.unsqueeze(-2) @ C @ b.unsqueeze(-1)).squeeze((-1, -2)), rtol=1e-10
    )
    assert torch.allclose(trace, C.diagonal(dim1=-2, dim2=-1).sum(-1), rtol=1e-10)
    # float32 input (a GPU run): computed in float64 inside, returned in float32, as accurate as the
    # data allow
    single = theory.chain_error_moments(p.X.float(), p.y.float(), p.w.float(), **kw)
    assert all(v.dtype == torch.float32 for v in single)
    assert torch.allclose(single[2].double(), quadratic, rtol=1e-4) and torch.allclose(
        single[1].double(), trace, rtol=1e-4
    )


def test_geometric_sum_against_the_direct_sum():
    from icl.theory.noisy_chains import _geometric_sum

    r = torch.tensor([0.9, 0.9, 0.9, 0.5, -0.4, 0.3], dtype=torch.float64)
    q = torch.tensor([0.9, 0.9 - 1e-9, 0.95, 1.0, 0.2, 0.0], dtype=torch.float64)
    for steps in (1, 2, 13, 300):
        direct = sum(r ** (steps - 1 - t) * q**t for t in range(steps))
        assert torch.allclose(_geometric_sum(r, q, steps), direct, rtol=1e-12, atol=1e-300)


def test_averaged_chain_error_norm_first_order_and_bounds(draw_prompts):
    p = draw_prompts(1, 6, 3, sigma2=0.3, seed=1)
    kw = dict(eta=0.2, steps=15, level=1.0)
    bias2, trace, quadratic = theory.chain_error_moments(p.X, p.y, p.w, **kw)
    norm = bias2.sqrt()
    for n_avg in (1, 4, 100):
        first = theory.averaged_chain_error_norm(p.X, p.y, p.w, n_chains=n_avg, **kw)
        assert torch.allclose(first, norm + (trace - quadratic / bias2) / (2 * n_avg * norm))
        assert torch.all(norm <= first) and torch.all(first <= (bias2 + trace / n_avg).sqrt())
    n_avg, groups = 4, 40000
    chains = sample_chains(
        p.X,
        p.y,
        n_chains=n_avg * groups,
        noise="multiplicative",
        generator=runtime.generator(9, "cpu"),
        **kw,
    )
    err = (chains.reshape(groups, n_avg, 3).mean(1) - p.w[0]).norm(dim=-1)
    se = float(err.std()) / groups**0.5
    first = float(theory.averaged_chain_error_norm(p.X, p.y, p.w, n_chains=n_avg, **kw)[0])
    assert abs(float(err.mean()) - first) < 4 * se
    for wrong in (
        float((bias2 + trace / n_avg).sqrt()[0]),  # root of the mean squared error
        float((norm + trace / (2 * n_avg * norm))[0]),  # without the b^T C b term
        float(norm[0]),
    ):  # no 1/N term
        assert abs(float(err.mean()) - wrong) > 8 * se
    with pytest.raises(ValueError, match="n_chains"):
        theory.averaged_chain_error_norm(p.X, p.y, p.w, n_chains=0, **kw)
    with pytest.raises(ValueError, match="w must"):
        theory.chain_error_moments(p.X, p.y, p.w[:, :2], **kw)


def test_unstable_design_probability_bound():
    # n = 8, d = 2, eta = 1/9: t = 3 - 1 - 1/2 = 3/2 and the bound is exp(-8 (9/4) / 2) = exp(-9)
    assert theory.unstable_design_probability_bound(8, 2, 1 / 9) == pytest.approx(
        math.exp(-9), rel=1e-12
    )
    assert theory.unstable_design_probability_bound(8, 2, 1 / 9) != pytest.approx(
        math.exp(-9 / 8), rel=1e-3
    )  # without n
    # the shift lowers the threshold: 1/eta - shift = 9 - 2.75 = 6.25, t = 2.5 - 1.5 = 1
    assert theory.unstable_design_probability_bound(8, 2, 1 / 9, 2.75) == pytest.approx(
        math.exp(-4), rel=1e-12
    )
    assert theory.unstable_design_probability_bound(12, 10, 0.5) == 1.0
    assert theory.unstable_design_probability_bound(12, 10, 0.1, 10.0) == 1.0
    # it bounds the frequency of unstable designs (eta = 0.15, n = 12, d = 10: bound 0.07)
    X = torch.randn(20000, 12, 10, generator=runtime.generator(4, "cpu"), dtype=torch.float64)
    s_max = torch.linalg.eigvalsh(X.transpose(1, 2) @ X / 12)[:, -1]
    bound = theory.unstable_design_probability_bound(12, 10, 0.15)
    assert 0 < bound < 0.1 and float((0.15 * s_max > 1).double().mean()) <= bound
    for kwargs, match in [
        (dict(n=0, d=2, eta=0.1), "n must"),
        (dict(n=3, d=2, eta=0.0), "eta must"),
        (dict(n=3, d=2, eta=0.1, shift=-1.0), "shift must"),
    ]:
        with pytest.raises(ValueError, match=match):
            theory.unstable_design_probability_bound(**kwargs)
