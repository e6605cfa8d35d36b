"""Chapter 1's settings and experiments at tiny sizes: shapes, seeds, determinism, one identity
each."""

import math

import pytest
import torch

from icl import runtime, theory
from icl.experiments import ch01


def test_one_step_case_defaults_to_the_optimal_step_and_lists_its_slips():
    case = ch01.OneStep(20, 10, 0.5)
    assert case.step == theory.optimal_step(20, 10, 0.5)
    assert list(case.wrong_risks()) == ["n+d in place of n+d+1", "no noise term"]
    assert list(ch01.OneStep(5, 5, 0.0).wrong_risks()) == ["n+d in place of n+d+1"]
    assert case.params() == dict(n=20, d=10, sigma2=0.5, eta=round(case.step, 6))
    # the n + d slip differs from the truth by d eta^2 / n
    slip = case.wrong_risks()["n+d in place of n+d+1"]
    exact = theory.one_step_risk(20, 10, 0.5, case.step)
    assert math.isclose(exact - slip, 10 * case.step**2 / 20, rel_tol=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ch01.OneStep(0, 3, 0.5),
        lambda: ch01.OneStep(3, 3, -1.0),
        lambda: ch01.OneStep(3, 3, 0.5, eta=0.0),
        lambda: ch01.Preconditioned(spread=-0.1),
        lambda: ch01.AgainstN(n_grid=(2, 0)),
        lambda: ch01.Training(d=5, n=10, steps=0, batch=8),
        lambda: ch01.Sizes(1, 10, 10, ch01.Training(d=2, n=3, steps=2, batch=4)),
    ],
)
def test_settings_refuse_bad_fields(make):
    with pytest.raises(ValueError):
        make()


def test_sizes_follow_the_scale(monkeypatch):
    monkeypatch.setenv("ICL_SCALE", "smoke")
    assert ch01.sizes().training == ch01.Training(d=5, n=10, steps=400, batch=512)


def test_one_step_risk_is_seeded_and_matches_the_closed_form_roughly():
    case = ch01.OneStep(8, 3, 0.5)
    first = ch01.one_step_risk(case, 4000, seed=3, device="cpu", dtype=torch.float64)
    again = ch01.one_step_risk(case, 4000, seed=3, device="cpu", dtype=torch.float64)
    assert (first.mean, first.stderr) == (again.mean, again.stderr)
    exact = theory.one_step_risk(8, 3, 0.5, case.step)
    assert abs(first.mean - exact) < 5 * first.stderr


def test_preconditioned_gamma_is_seeded_and_its_slips_are_exact_identities():
    case = ch01.Preconditioned(n=12, d=4, sigma2=0.5)
    gamma = case.gamma("cpu", torch.float64)
    assert gamma.shape == (4, 4) and torch.equal(gamma, case.gamma("cpu", torch.float64))
    risk = theory.preconditioned_risk(gamma, 12, 0.5)
    wrong = case.wrong_risks(gamma)
    assert math.isclose(risk - wrong["n+d in place of n+d+1"], float((gamma**2).sum()) / 12)
    assert case.params()["gamma"] == "eta* I + 0.15 N(0,1), seed 7"
    # at a multiple of the identity the trace slip is no slip
    eye = ch01.OneStep(12, 4, 0.5).step * torch.eye(4, dtype=torch.float64)
    trace_slip = case.wrong_risks(eye)["tr(Gamma)^2/d in place of ||Gamma||_F^2"]
    assert math.isclose(trace_slip, theory.preconditioned_risk(eye, 12, 0.5), rel_tol=1e-12)
    estimate = ch01.preconditioned_risk(case, gamma, 2000, seed=1)
    assert abs(estimate.mean - risk) < 5 * estimate.stderr


def test_risk_against_n_gives_one_estimate_per_prompt_length():
    setting = ch01.AgainstN(d=3, sigma2=0.5, n_grid=(2, 6))
    result = ch01.risk_against_n(setting, points=500, ridge=300)
    assert len(result.one_step) == len(result.ridge) == 2
    assert [e.n_samples for e in result.ridge] == [300, 300]
    assert result.one_step[0].seed == 202 and result.ridge[1].seed == 306


def test_train_and_network_errors_at_tiny_size():
    trained = ch01.train(ch01.Training(d=2, n=4, steps=3, batch=8))
    assert trained.gamma.shape == (2, 2) and len(trained.history.loss) == 3
    errors = ch01.network_errors(trained, 50, seed=0)
    assert errors.mean.shape == (2,)
    again = ch01.network_errors(trained, 50, seed=0)
    assert (errors.mean == again.mean).all()
    assert trained.setting.params() == dict(n=4, d=2, sigma2=0.5, steps=3, batch=8)
    assert runtime.device().type == trained.gamma.device.type
