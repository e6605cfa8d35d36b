import math

import mpmath
import pytest
import torch

from icl import runtime, theory
from icl.decoders.gd_chains import sample_chains


@pytest.mark.parametrize("lam", [0.0, 0.4])
def test_ridge_gd_iterate_is_the_divided_by_n_recursion(lam, draw_prompts):
    p = draw_prompts(4, 9, 5, sigma2=0.3)
    w = torch.zeros_like(p.w)
    for _ in range(13):
        w = w - 0.15 * (
            torch.einsum("bnd,bn->bd", p.X, torch.einsum("bnd,bd->bn", p.X, w) - p.y) / 9 + lam * w
        )
    assert torch.allclose(theory.ridge_gd_iterate(p.X, p.y, 0.15, lam, 13), w, atol=1e-12)
    assert torch.allclose(sample_chains(p.X, p.y, eta=0.15, steps=13, lam=lam)[:, 0], w, atol=1e-12)


def test_ridge_gd_iterate_batches_over_leading_dims_and_starts_at_zero(draw_prompts):
    p = draw_prompts(6, 9, 5, sigma2=0.3)
    X, y = p.X.reshape(2, 3, 9, 5), p.y.reshape(2, 3, 9)
    out = theory.ridge_gd_iterate(X, y, 0.1, 0.2, 5)
    assert out.shape == (2, 3, 5)
    assert torch.allclose(out.reshape(6, 5), theory.ridge_gd_iterate(p.X, p.y, 0.1, 0.2, 5))
    assert torch.all(theory.ridge_gd_iterate(p.X, p.y, 0.1, 0.2, 0) == 0)


def test_ridge_gd_iterate_converges_to_ridge_even_when_n_below_d(draw_prompts):
    p = draw_prompts(4, 3, 6, sigma2=0.3)
    ridge = torch.linalg.solve(
        p.X.transpose(1, 2) @ p.X / 3 + 0.5 * torch.eye(6, dtype=p.X.dtype),
        torch.einsum("bnd,bn->bd", p.X, p.y) / 3,
    )
    assert torch.allclose(theory.ridge_gd_iterate(p.X, p.y, 0.1, 0.5, 5000), ridge, atol=1e-10)


def test_ridge_gd_iterate_rejects_bad_input(draw_prompts):
    p = draw_prompts(4, 9, 5, sigma2=0.3)
    with pytest.raises(ValueError, match="X"):
        theory.ridge_gd_iterate(p.X, p.y[:, :3], 0.1, 0.0, 3)
    with pytest.raises(ValueError, match="T"):
        theory.ridge_gd_iterate(p.X, p.y, 0.1, 0.0, -1)
    with pytest.raises(ValueError, match="lam"):
        theory.ridge_gd_iterate(p.X, p.y, 0.1, -0.1, 3)
    with pytest.raises(ValueError, match="eta"):
        theory.ridge_gd_iterate(p.X, p.y, float("nan"), 0.0, 3)


def test_gd_filter_limits_and_errors():
    s = torch.tensor([0.0, 0.5, 2.0], dtype=torch.float64)
    g = theory.gd_filter(s, eta=0.1, steps=7)
    assert math.isclose(g[0].item(), 0.7) and math.isclose(g[1].item(), (1 - 0.95**7) / 0.5)
    assert torch.allclose(theory.gd_filter(s, eta=0.1, steps=None, lam=0.3), 1 / (s + 0.3))
    with pytest.raises(ValueError, match="s \\+ lam"):
        theory.gd_filter(s, eta=0.1, steps=None)
    with pytest.raises(TypeError, match="s must"):
        theory.gd_filter([0.5], eta=0.1, steps=2)
    with pytest.raises(ValueError, match="steps"):
        theory.gd_filter(s, eta=0.1, steps=1.5)


def test_conditional_risk_matches_a_direct_expectation(draw_prompts):
    """E over w and eps of ||w_T - w||^2 = psi2 ||(I - G S)||_F^2 + sigma2/n tr(G S G), G the filter
    matrix."""
    p = draw_prompts(2, 7, 4, sigma2=0.3)
    eta, T, s2, p2, lam = 0.2, 6, 0.4, 1.7, 0.1
    S = p.X.transpose(1, 2) @ p.X / 7
    s, V = torch.linalg.eigh(S)
    G = V @ torch.diag_embed(theory.gd_filter(s, eta=eta, steps=T, lam=lam)) @ V.transpose(1, 2)
    eye = torch.eye(4, dtype=S.dtype)
    direct = p2 * ((eye - G @ S) ** 2).sum((1, 2)) + s2 / 7 * (G @ S @ G).diagonal(
        dim1=1, dim2=2
    ).sum(1)
    risk = theory.gd_risk_given_X(p.X, eta=eta, steps=T, sigma2=s2, psi2=p2, lam=lam)
    assert torch.allclose(risk, direct, atol=1e-12)
    assert torch.allclose(
        theory.gd_risk_given_spectrum(s, 7, eta=eta, steps=T, sigma2=s2, psi2=p2, lam=lam), direct
    )


def test_conditional_risk_small_monte_carlo(draw_prompts):
    p = draw_prompts(1, 8, 3, sigma2=0.3)
    X = p.X.expand(200000, -1, -1)
    gen = runtime.generator(3, "cpu")
    w = torch.randn(200000, 3, generator=gen, dtype=X.dtype)
    y = torch.einsum("bnd,bd->bn", X, w) + 0.7 * torch.randn(
        200000, 8, generator=gen, dtype=X.dtype
    )
    err = ((theory.ridge_gd_iterate(X, y, 0.2, 0.0, 9) - w) ** 2).sum(1)
    theory_value = theory.gd_risk_given_X(p.X, eta=0.2, steps=9, sigma2=0.49)[0]
    assert abs(err.mean() - theory_value) < 4 * err.std() / 200000**0.5


def test_risk_errors():
    s = torch.ones(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="psi2"):
        theory.gd_risk_given_spectrum(s, 5, eta=0.1, steps=2, sigma2=0.1, psi2=0.0)
    with pytest.raises(ValueError, match="sigma2"):
        theory.gd_risk_given_spectrum(s, 5, eta=0.1, steps=2, sigma2=-1.0)
    with pytest.raises(ValueError, match="n"):
        theory.gd_risk_given_spectrum(s, 0, eta=0.1, steps=2, sigma2=0.1)
    with pytest.raises(ValueError, match="X"):
        theory.gd_risk_given_X(torch.ones(3), eta=0.1, steps=2, sigma2=0.1)


def test_bayes_penalty_and_least_squares_risk():
    assert theory.bayes_ridge_penalty(30, 0.1, psi2=0.1) == pytest.approx(1 / 30)
    assert theory.least_squares_risk(20, 5, 2.0) == pytest.approx(10 / 14)
    assert theory.least_squares_risk(6, 5, 1.0) == math.inf
    with pytest.raises(ValueError, match="n >= d"):
        theory.least_squares_risk(4, 5, 1.0)
    with pytest.raises(ValueError, match="psi2"):
        theory.bayes_ridge_penalty(3, 0.1, psi2=-1.0)


def _exact_filter(s, eta, steps, lam=0.0):
    """(1 - (1 - eta (s + lam))^T) / (s + lam) in 700-digit arithmetic (exact products of the float
    inputs), for the float inputs as given."""
    with mpmath.workdps(700):
        shifted = mpmath.mpf(s) + mpmath.mpf(lam)
        if shifted == 0:
            return float(mpmath.mpf(eta) * steps)
        a = 1 - mpmath.mpf(eta) * shifted  # exact: dps covers the float inputs' digits
        if a == 0:
            return float(1 / shifted)
        power = mpmath.sign(a) ** steps * mpmath.exp(steps * mpmath.log(abs(a)))
        if a > 0:
            return float(-mpmath.expm1(steps * mpmath.log1p(-mpmath.mpf(eta) * shifted)) / shifted)
        return float((1 - power) / shifted)


def test_gd_filter_keeps_small_eigenvalues_in_float32():
    """1 - (1 - eta s)^T cancelled in float32: at s = 1e-6 the filter was 1.19, not 1.0."""
    g = theory.gd_filter(torch.tensor([1e-6], dtype=torch.float32), eta=0.1, steps=10)
    assert g.dtype == torch.float32
    assert abs(g.item() / _exact_filter(1e-6, 0.1, 10) - 1) < 2e-7


@pytest.mark.parametrize(
    "s,eta,steps,lam",
    [
        (1e-6, 0.1, 10, 0.0),
        (1e-13, 1e-3, 10**12, 0.0),  # the small-s limit eta T is not reached: tiny s is not 0
        (2.0 - 2.0**-40, 1.0, 10**9, 0.0),  # eta s near 2: a^T near 1, 1 - a^T tiny
        (1.5, 1.0, 10**9 + 1, 0.5),  # a = -1 exactly, T odd: 2 / (s + lam)
        (0.3, 0.7, 3_000_001, 1e-9),
        (5.0, 1.0, 300, 0.0),  # divergent: |a| = 4, a^T near the float range
        (1e-300, 1e-8, 10**15, 0.0),
        (0.0, 0.25, 7, 0.0),
    ],
)
def test_gd_filter_against_exact_arithmetic(s, eta, steps, lam):
    g = theory.gd_filter(torch.tensor([s], dtype=torch.float64), eta=eta, steps=steps, lam=lam)
    exact = _exact_filter(s, eta, steps, lam)
    assert abs(g.item() - exact) <= 1e-12 * abs(exact), (g.item(), exact)


def test_converged_risk_keeps_its_relative_accuracy():
    """1 - g s computed as 1 - g s cancelled to 0 once (1 - eta s)^T < 1e-16."""
    s = torch.tensor([1.0, 0.5], dtype=torch.float64)
    risk = theory.gd_risk_given_spectrum(s, 10, eta=0.5, steps=100, sigma2=0.0)
    exact = 0.5**200 + 0.75**200
    assert abs(risk.item() / exact - 1) < 1e-12
