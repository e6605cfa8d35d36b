"""Chapter 2's settings and experiments at tiny sizes: shapes, seeds, determinism, one identity
each."""

import numpy as np
import pytest
import torch

from icl import runtime, theory
from icl.experiments import ch02


@pytest.mark.parametrize(
    "make",
    [
        lambda: ch02.Rollout(d=0, n=3, steps=2, batch=2),
        lambda: ch02.Training(d=2, n=3, steps=2, batch=2, eta=0.0),
        lambda: ch02.Chain(sigma2=-1.0),
        lambda: ch02.Parting(n=5, d=3, sigma2=0.5, eta=0.1, lam=-1.0),
        lambda: ch02.Sizes(1, 10, ch02.Rollout(2, 3, 2, 2), ch02.Training(2, 3, 2, 2)),
    ],
)
def test_settings_refuse_bad_fields(make):
    with pytest.raises(ValueError):
        make()


def test_sizes_follow_the_scale(monkeypatch):
    monkeypatch.setenv("ICL_SCALE", "smoke")
    assert ch02.sizes().training == ch02.Training(d=5, n=10, steps=400, batch=256)


def test_the_hand_built_layer_rolls_out_gd():
    rel = ch02.gd_rollout_error(ch02.Rollout(d=2, n=4, steps=5, batch=3), runtime.generator(0))
    assert rel.shape == (3, 5) and rel.max().item() < 1e-10


def test_train_and_emitted_errors_at_tiny_size():
    trained = ch02.train(ch02.Training(d=2, n=4, steps=2, batch=4, thoughts=3))
    assert len(trained.history.loss) == 2
    errors = ch02.emitted_errors(trained, prompts=5, lengthen=2, seed=0)
    assert errors.length == 6 and errors.rollout.shape == (5, 6) and errors.teacher > 0


def test_wrong_risks_list_the_covariance_slip_from_thirty_steps():
    chain = ch02.Chain()
    X, s = chain.fixed_design()
    assert X.shape == (1, 12, 10) and s.shape == (10,)
    assert torch.equal(X, chain.fixed_design()[0])
    assert len(chain.wrong_risks(s, 5)) == 1 and len(chain.wrong_risks(s, 30)) == 2
    assert chain.params(T=3) == dict(n=12, d=10, sigma2=1.0, eta=0.2, T=3)


def test_risk_given_design_is_seeded_and_near_the_exact_risk():
    chain = ch02.Chain(n=6, d=3)
    X, s = chain.fixed_design()
    first = ch02.risk_given_design(chain, X, 4, 3000, seed=1)
    assert first.mean == ch02.risk_given_design(chain, X, 4, 3000, seed=1).mean
    exact = theory.gd_risk_given_spectrum(s, 6, eta=0.2, steps=4, sigma2=1.0).item()
    assert abs(first.mean - exact) < 5 * first.stderr


def test_wishart_trace_moments_match_chi_square_at_one_row():
    # n = 1: tr W = |x|^2 ~ chi^2_d, whose moments are d (d + 2) ... (d + 2k - 2)
    d = 7
    assert [ch02.wishart_trace_moment(1, d, k) for k in range(1, 5)] == [
        d,
        d * (d + 2),
        d * (d + 2) * (d + 4),
        d * (d + 2) * (d + 4) * (d + 6),
    ]
    assert ch02.density_moment_error([(4, 3)]) < 1e-10


def test_design_estimates_have_their_shapes():
    chain = ch02.Chain(n=6, d=3)
    assert ch02.trace_s4(6, 3, 50, seed=0).n_samples == 50
    typical = ch02.risk_over_designs(chain, 6, 2, 50, seed=0, typical=True)
    plain = ch02.risk_over_designs(chain, 6, 2, 50, seed=0)
    assert typical.mean <= plain.mean
    paired = ch02.paired_risk(chain, 30, 40, seed=0)
    assert paired.mean.shape == (4,) and paired.values.shape == (40, 4)


def test_parting_kwargs_and_laplace_step():
    setting = ch02.Parting(n=12, d=10, sigma2=1.0, eta=0.2)
    assert "psi2" not in setting.kwargs()
    assert ch02.Parting(30, 50, 0.1, 0.03, psi2=0.1).kwargs()["psi2"] == 0.1
    assert ch02.laplace_parting_step(setting) >= 1


def test_risk_curve_and_expected_risk_terms():
    chain = ch02.Chain()
    curve = ch02.risk_curve(chain, np.array([1, 10, 100]))
    assert curve.risk.shape == curve.ridge.shape == (3,)
    assert curve.bayes < curve.R_star <= curve.risk.min()
    exact, wrong, ignored = ch02.expected_risk_terms(chain, 10, T_star=curve.T_star)
    assert exact == theory.expected_gd_risk(12, 10, 1.0, 0.2, 10)
    assert len(wrong) == 2 and len(ignored) == 2
