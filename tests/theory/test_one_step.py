import numpy as np
import pytest
import sympy as sp
import torch

from icl import tasks, theory
from icl.harness import montecarlo

n, d, s2, p2, eta = sp.symbols("n d sigma2 psi2 eta", positive=True)
RISK = d * (p2 * (1 - 2 * eta + eta**2 * (n + d + 1) / n) + eta**2 * s2 / n)
POINTS = [(20, 10, 0.5, 1.0), (3, 17, 0.0, 2.5), (1, 1, 4.0, 0.3)]


@pytest.mark.parametrize("nn,dd,ss,pp", POINTS)
def test_closed_forms_against_sympy(nn, dd, ss, pp):
    subs = {n: nn, d: dd, s2: ss, p2: pp}
    eta_star = sp.solve(sp.diff(RISK, eta), eta)[0]
    assert np.isclose(theory.optimal_step(nn, dd, ss, psi2=pp), float(eta_star.subs(subs)))
    assert np.isclose(
        theory.optimal_one_step_risk(nn, dd, ss, psi2=pp),
        float(RISK.subs(eta, eta_star).subs(subs)),
    )
    assert np.isclose(
        theory.one_step_risk(nn, dd, ss, 0.37, psi2=pp), float(RISK.subs(subs).subs(eta, 0.37))
    )


@pytest.mark.parametrize("nn,dd,ss,pp", POINTS)
def test_general_gamma_reduces_to_scalar_and_is_minimised_at_gamma_star(nn, dd, ss, pp):
    e = 0.4
    assert np.isclose(
        theory.preconditioned_risk(e * np.eye(dd), nn, ss, psi2=pp),
        theory.one_step_risk(nn, dd, ss, e, psi2=pp),
    )
    best = theory.preconditioned_risk(
        theory.optimal_preconditioner(nn, dd, ss, psi2=pp), nn, ss, psi2=pp
    )
    assert np.isclose(best, theory.optimal_one_step_risk(nn, dd, ss, psi2=pp))
    rng = np.random.default_rng(0)
    for _ in range(20):
        other = theory.optimal_preconditioner(nn, dd, ss, psi2=pp) + 0.1 * rng.standard_normal(
            (dd, dd)
        )
        assert theory.preconditioned_risk(other, nn, ss, psi2=pp) > best


def test_one_step_risk_against_small_monte_carlo():
    nn, dd, ss = 6, 3, 0.5
    e = theory.optimal_step(nn, dd, ss)

    def sample(batch, gen):
        p = tasks.sample_prompts(batch, nn, dd, sigma2=ss, generator=gen, device="cpu")
        return ((e * torch.einsum("bnd,bn->bd", p.X, p.y) / nn - p.w) ** 2).sum(1)

    est = montecarlo.estimate_mean(sample, 40000, seed=11, dev="cpu")
    assert abs(est.mean - theory.one_step_risk(nn, dd, ss, e)) < 4 * est.stderr


def test_accepts_tensor_gamma():
    assert np.isclose(
        theory.preconditioned_risk(torch.eye(2) * 0.5, 4, 0.0), theory.one_step_risk(4, 2, 0.0, 0.5)
    )


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: theory.one_step_risk(0, 2, 0.1, 0.5), "n must"),
        (lambda: theory.one_step_risk(2, 0, 0.1, 0.5), "d must"),
        (lambda: theory.one_step_risk(2, 2, -0.1, 0.5), "sigma2"),
        (lambda: theory.one_step_risk(2, 2, 0.1, float("nan")), "eta"),
        (lambda: theory.optimal_step(2.5, 2, 0.1), "n must"),
        (lambda: theory.optimal_step(2, 2, 0.1, psi2=0.0), "psi2"),
        (lambda: theory.optimal_one_step_risk(2, True, 0.1), "d must"),
        (lambda: theory.preconditioned_risk(np.ones((2, 3)), 4, 0.1), "square"),
        (lambda: theory.preconditioned_risk(np.array([[np.inf]]), 4, 0.1), "finite"),
        (lambda: theory.preconditioned_risk(np.eye(2), 0, 0.1), "n must"),
    ],
)
def test_impossible_inputs_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
