import itertools
import math
from fractions import Fraction

import pytest
import torch
from scipy import stats

from icl import runtime, tasks, theory
from icl.decoders.gd_chains import sample_chains


def full_recursion(X, y, *, eta, steps, noise, level, lam=0.0):
    """(m_T, C_T) by the O(T d^3) recursion of the module docstring in the original basis, in
    float64: the independent reference for the eigenbasis closed forms."""
    X, y = X.double(), y.double()
    n = X.shape[-2]
    S = X.transpose(-1, -2) @ X / n
    b = (X.transpose(-1, -2) @ y.unsqueeze(-1)).squeeze(-1) / n
    eye = torch.eye(S.shape[-1], dtype=S.dtype)
    shift = lam + (level**2 if noise == "multiplicative" else 0.0)
    A = eye - eta * (S + shift * eye)
    m, C = torch.zeros_like(b), torch.zeros_like(S)
    for _ in range(steps):
        if noise == "multiplicative":
            P = C + m.unsqueeze(-1) * m.unsqueeze(-2)
            trace = P.diagonal(dim1=-2, dim2=-1).sum(-1)[..., None, None]
            C = A @ C @ A + (eta * level**2) ** 2 * (P + trace * eye)
        else:
            C = A @ C @ A + level**2 * eye
        m = (A @ m.unsqueeze(-1)).squeeze(-1) + eta * b
    return m, C


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


def test_gaussian_fourth_moment_where_the_trace_cancels():
    """tr M = 1e16 + 1 - 1e16 = 1: summed in order it rounds to 0 (entry (1, 1) = 2 M_11 + tr M
    came out 2, exact 3); 2 M_00 + tr M = 2^-50 exactly from terms of size 3."""
    M = torch.diag(torch.tensor([1e16, 1.0, -1e16], dtype=torch.float64))
    assert theory.gaussian_fourth_moment(M, 1.0)[1, 1].item() == 3.0
    M = torch.tensor([[1.0, 0.0], [0.0, -3.0 + 2**-50]], dtype=torch.float64)
    out = theory.gaussian_fourth_moment(M, 1.0)
    exact = Fraction(-8) + 3 * Fraction(2) ** -50  # 2 (-3 + 2^-50) + 1 + (-3 + 2^-50)
    assert out[0, 0].item() == 2**-50 and out[1, 1].item() == float(exact)


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
    mean, full = full_recursion(p.X, p.y, steps=25, **kw)
    assert torch.allclose(theory.chain_covariance(p.X, p.y, steps=25, **kw), full, atol=1e-14)
    assert torch.allclose(theory.chain_mean(p.X, p.y, steps=25, **kw), mean, atol=1e-14)
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
    late = full_recursion(p.X, p.y, steps=4000, **kw)[1]
    assert torch.allclose(late, theory.stationary_chain_covariance(p.X, p.y, **kw), atol=1e-10)
    assert torch.allclose(late, theory.chain_covariance(p.X, p.y, steps=4000, **kw), atol=1e-12)


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
        m, C = full_recursion(p.X, p.y, **kw)
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
    m, C = full_recursion(p.X, p.y, **kw)
    b = m - p.w
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
        assert torch.allclose(_geometric_sum(r, q, steps)[0], direct, rtol=1e-12, atol=1e-300)
    # far past convergence: r^(T-1) underflows while the series factor would overflow
    r, q = torch.tensor([0.96], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)
    assert torch.allclose(_geometric_sum(r, q, 4000)[0], (1 - r**4000) / (1 - r), rtol=1e-12)


def test_slowly_mixing_chain_moments_do_not_cancel():
    """eta = 1e-6, T = 10 (eta s T ~ 1e-5): the four geometric sums of the off-diagonal entries
    cancel to 1e-10 of their size; the moments still agree with the full recursion to 1e-12
    (they were 9e-7 off)."""
    X = torch.tensor([[[1.0, 0.5, -0.2], [0.3, -2.0, 1.0], [0.1, 0.1, 0.4]]], dtype=torch.float64)
    y = torch.tensor([[1.0, -1.0, 0.5]], dtype=torch.float64)
    w = torch.tensor([[0.2, -0.1, 0.3]], dtype=torch.float64)
    for eta, steps in ((1e-6, 10), (1e-4, 30), (1e-9, 100000)):
        kw = dict(eta=eta, steps=steps, noise="multiplicative", level=0.5)
        m, C = full_recursion(X, y, **kw) if steps < 1000 else (None, None)
        if m is None:  # the pair sums by composition against the closed form at a slow rate
            from icl.theory.noisy_chains import _pair_sums

            x = torch.tensor([1e-9, 3e-9], dtype=torch.float64)
            a, t = 1 - x, torch.arange(steps, dtype=torch.float64)
            r = a[0] * a[1] + 1e-20
            units = -torch.expm1(t[:, None] * torch.log1p(-x)) / x  # [t]_a, no cancellation
            direct = (r ** (steps - 1 - t) * units[:, 0] * units[:, 1]).sum()
            assert torch.allclose(_pair_sums(a[0], a[1], r, steps), direct, rtol=1e-10)
            continue
        b = m - w
        _, trace, quadratic = theory.chain_error_moments(X, y, w, **kw)
        exact = (b.unsqueeze(-2) @ C @ b.unsqueeze(-1)).squeeze((-1, -2))
        assert torch.allclose(quadratic, exact, rtol=1e-12, atol=0)
        assert torch.allclose(theory.chain_covariance(X, y, **kw), C, rtol=1e-12, atol=1e-300)


def test_gaussian_norm_mean_against_closed_forms():
    """E||b + g|| for g ~ N(0, C): E|b + g| in d = 1 (the folded normal) and E||g|| for isotropic
    g in d = 2 (Rayleigh), including the extremes b = 0 and C = 0."""
    from icl.theory.noisy_chains import _gaussian_norm_mean

    for b, var in ((0.0, 2.0), (1.5, 0.3), (1e-8, 1e6), (3.0, 0.0), (1e-200, 1e-200)):
        sd = math.sqrt(var)
        folded = (
            b
            if var == 0
            else sd * math.sqrt(2 / math.pi) * math.exp(-(b**2) / (2 * var))
            + b * (1 - 2 * stats.norm.cdf(-b / sd))
        )
        got = _gaussian_norm_mean(
            torch.tensor([[b]], dtype=torch.float64), torch.tensor([[[var]]], dtype=torch.float64)
        )
        assert got.item() == pytest.approx(folded, rel=1e-13, abs=0)
    got = _gaussian_norm_mean(
        torch.zeros(1, 2, dtype=torch.float64), 0.7 * torch.eye(2, dtype=torch.float64)[None]
    )
    assert got.item() == pytest.approx(math.sqrt(math.pi * 0.7 / 2), rel=1e-13)


def test_averaged_chain_error_norm_is_the_gaussian_value_within_the_exact_bounds(draw_prompts):
    p = draw_prompts(1, 6, 3, sigma2=0.3, seed=1)
    kw = dict(eta=0.2, steps=15, level=1.0)
    bias2, trace, quadratic = theory.chain_error_moments(p.X, p.y, p.w, **kw)
    norm = bias2.sqrt()
    for n_avg in (1, 4, 100, 10**6):
        value = theory.averaged_chain_error_norm(p.X, p.y, p.w, n_chains=n_avg, **kw)
        assert torch.all(norm <= value) and torch.all(value <= (bias2 + trace / n_avg).sqrt())
        first = norm + (trace - quadratic / bias2) / (2 * n_avg * norm)
        # the first-order expansion, to O(N^-2)
        assert abs(value - first).item() <= 0.2 * ((trace / norm) ** 2).item() / n_avg**2
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
    value = float(theory.averaged_chain_error_norm(p.X, p.y, p.w, n_chains=n_avg, **kw)[0])
    assert abs(float(err.mean()) - value) < 4 * se
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


def test_averaged_chain_error_norm_where_the_bias_is_small(draw_prompts):
    """||b||^2 <~ tr C_T / N: the first-order expansion left its own exact bounds (0.665 above an
    upper bound of 0.320 at ||b|| = 0.05, N = 1; 2e14 at b = 0); the value stays inside them and,
    at b = 0, is the central-limit value sqrt(N)^-1 E||g_1||, near the chains' own mean norm."""
    p = draw_prompts(1, 6, 3, sigma2=0.3, seed=1)
    kw = dict(eta=0.2, steps=15, level=1.0)
    m = theory.chain_mean(p.X, p.y, noise="multiplicative", **kw)
    trace = theory.chain_error_moments(p.X, p.y, m, **kw)[1]
    for n_avg in (1, 4, 16):
        for offset in (0.0, 0.05, 0.15, 0.3):
            w = m + offset * torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
            value = theory.averaged_chain_error_norm(p.X, p.y, w, n_chains=n_avg, **kw)
            assert offset <= value.item() <= math.sqrt(offset**2 + trace.item() / n_avg)
    one = theory.averaged_chain_error_norm(p.X, p.y, m, n_chains=1, **kw)
    many = theory.averaged_chain_error_norm(p.X, p.y, m, n_chains=10**4, **kw)
    assert many.item() == pytest.approx(one.item() / 100, rel=1e-12)
    groups, n_avg = 20000, 16
    chains = sample_chains(
        p.X,
        p.y,
        n_chains=n_avg * groups,
        noise="multiplicative",
        generator=runtime.generator(9, "cpu"),
        **kw,
    )
    err = (chains.reshape(groups, n_avg, 3).mean(1) - m[0]).norm(dim=-1)
    value = theory.averaged_chain_error_norm(p.X, p.y, m, n_chains=n_avg, **kw).item()
    # the central limit: within 2 % at N = 16 (the law of one chain is not Gaussian)
    assert abs(err.mean().item() / value - 1) < 0.02


def test_every_step_must_be_a_flag(draw_prompts):
    p = draw_prompts(2, 8, 3, sigma2=0.3)
    with pytest.raises((TypeError, ValueError), match="every_step"):
        theory.chain_risk_terms(p.X, p.y, p.w, eta=0.1, steps=2, level=0.1, every_step="no")


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
