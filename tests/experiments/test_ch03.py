"""Chapter 3's settings and experiments at tiny sizes: shapes, seeds, determinism, and one exact
identity each where there is one."""

import math

import numpy as np
import pytest
import torch

from icl import runtime, theory
from icl.experiments import ch03

SMALL = ch03.Prototype(d=6, n=4, k=2, sigma2=0.1, eta=0.03, steps=20)
TINY_REG = ch03.Regulariser(d=3, n=4, sigma2=1.0, eta=1 / 16, steps=12, grid=5)


@pytest.fixture(autouse=True)
def _cpu_float64(monkeypatch):
    monkeypatch.setenv("ICL_DEVICE", "cpu")
    monkeypatch.setenv("ICL_DTYPE", "float64")
    monkeypatch.setenv("ICL_SCALE", "smoke")


def gen(seed=0):
    return runtime.generator(seed, "cpu")


def test_settings_validate_their_fields():
    with pytest.raises(ValueError):
        ch03.OnePrompt(d=0)
    with pytest.raises(ValueError):
        ch03.Stationary(eta=-0.1)
    with pytest.raises(ValueError):
        ch03.Prototype(k=60)  # more nonzero coordinates than d
    with pytest.raises(ValueError):
        ch03.Regulariser(grid=1)


def test_prototype_setting_in_the_book_units():
    proto = ch03.Prototype()
    assert proto.levels2 == [0.25 / 30, 1 / 30, 4 / 30]
    assert proto.lam_ridge == 1 / 30 and math.isclose(proto.level**2, 1 / 30)
    assert proto.shift == 4 / 30 and proto.psi2 == 0.1
    assert proto.params(N=1) == dict(
        d=50, n=30, k=5, sigma2=0.1, eta=0.03, T=1000, delta2=1 / 30, N=1
    )
    reg = ch03.Regulariser()
    assert len(reg.factors) == 21 and math.isclose(reg.lam_star, 1 / 12)
    assert math.isclose(reg.shift, 10 / 12)


def test_prototype_sizes_follow_the_environment(monkeypatch):
    assert ch03.prototype_sizes()["single_prompts"] == 1024
    monkeypatch.setenv("ICL_CH3_PROTOTYPE", '{"single_prompts": 8}')
    assert ch03.prototype_sizes()["single_prompts"] == 8


def test_one_prompt_is_drawn_by_its_seed():
    one = ch03.OnePrompt()
    a, b = one.draw("cpu"), one.draw("cpu")
    assert a.X.shape == (1, 8, 5) and torch.equal(a.X, b.X) and torch.equal(a.w, b.w)


def test_design_log_records_the_largest_step_times_eigenvalue(draw_prompts):
    log = ch03.DesignLog()
    p = draw_prompts(3, 4, 6)  # n < d: the small Gram matrix has the same top eigenvalue
    log.track("s", p.X, 0.5, 0.1)
    log.track("s", p.X[:1], 0.5, 0.1)
    top = torch.linalg.eigvalsh(p.X.transpose(1, 2) @ p.X)[:, -1].max().item()
    assert log.seen["s"][0] == 4
    assert math.isclose(log.seen["s"][1], 0.5 * (top / 4 + 0.1), rel_tol=1e-12)


def test_one_prompt_samplers_are_deterministic_and_shaped():
    setting = ch03.OnePrompt()
    one = setting.draw("cpu")
    u = torch.ones(setting.d, dtype=torch.float64) / setting.d**0.5
    for sampler, shape in [
        (ch03.projected_chain(one, setting, "multiplicative", setting.delta, u), (7,)),
        (ch03.spread(one, setting.eta, setting.steps, "additive", setting.tau), (7,)),
        (ch03.averaged_error(one, setting, 3), (7,)),
        (ch03.pooled_spread(one, setting, one.w[0], pool=4, n_avg=(2, 3)), (7, 2)),
    ]:
        first, again = sampler(7, gen(3)), sampler(7, gen(3))
        assert first.shape == shape and torch.equal(first, again)


def test_the_recursion_with_the_true_noise_term_is_the_chain_covariance():
    setting = ch03.OnePrompt()
    one = setting.draw("cpu")
    kap, eye = setting.eta**2 * setting.delta**4, torch.eye(setting.d, dtype=torch.float64)
    trace = ch03.covariance_trace_by_recursion(
        one, setting, lambda P: kap * (P + P.trace() * eye), setting.delta**2
    )
    chain = dict(eta=setting.eta, steps=setting.steps, level=setting.delta)
    exact = theory.chain_covariance(one.X, one.y, noise="multiplicative", **chain)[0].trace()
    assert math.isclose(trace, float(exact), rel_tol=1e-10)


def test_fixed_point_is_reached_and_the_feedback_enlarges_it():
    fixed = ch03.fixed_point(ch03.OnePrompt().draw("cpu"), ch03.Stationary())
    assert 0 < fixed.feedback < 1
    assert math.isclose(fixed.trace_long, fixed.trace, rel_tol=1e-8)
    assert math.isclose(fixed.no_feedback / (1 - fixed.feedback), fixed.trace, rel_tol=1e-10)


def test_norm_remainder_vanishes_to_third_order():
    b = torch.tensor([[1.0, 2.0, -0.5]], dtype=torch.float64)
    e = torch.tensor([[0.3, -0.2, 0.1]], dtype=torch.float64)
    assert float(ch03.norm_remainder(b, 0 * e)) == 0.0
    ratio = float(ch03.norm_remainder(b, 1e-2 * e) / ch03.norm_remainder(b, 2e-2 * e))
    assert abs(ratio - 1 / 8) < 0.01  # g = O(|e|^3)


def test_prototype_curves_and_chains_to_beat_greedy():
    curves = ch03.prototype_curves(SMALL, ch03.DesignLog(), 5, gen(1))
    for bias2, trace in curves.terms.values():
        assert bias2.shape == trace.shape == (5, SMALL.steps + 1)
    # the greedy chain's path ends at the greedy risk
    torch.testing.assert_close(curves.greedy_path[:, -1], curves.gd_risk)
    beats = ch03.chains_to_beat_greedy(curves)
    assert list(beats) == SMALL.levels2 and all(isinstance(v[2], str) for v in beats.values())
    assert list(curves.against_n(SMALL)) == pytest.approx(list(SMALL.levels))


def test_one_chain_and_nested_samplers_and_the_legend_comparison():
    designs = ch03.DesignLog()
    single = ch03.one_chain_per_prompt(SMALL, designs, 16, seed=2, chunk_size=8)
    again = ch03.one_chain_per_prompt(SMALL, ch03.DesignLog(), 16, seed=2, chunk_size=8)
    assert single.mean == again.mean and designs.seen["prototype"][0] == 16
    # identity: the first-order value at N = 1 is ||b|| + c
    assert math.isclose(
        single.first_order[1][0], single.mean["ridge"] + single.mean["c"], rel_tol=1e-12
    )
    assert single.first_order_estimate(10).mean == single.first_order[10][0]
    nested = ch03.nested_sampler(SMALL, designs, [2, 4])(3, gen(4))
    assert nested.shape == (3, 2, len(ch03.NESTED_COLUMNS))
    comparison = ch03.compare_legend(single)
    assert set(comparison.agree) == set(ch03.LEGEND)
    assert len(comparison.z_scores()) == 2 * len(ch03.LEGEND) - 1
    table = ch03.legend_table(comparison, {1: (1.0, 0.1, 1.0, 0.0)})
    assert len(table) == len(ch03.LEGEND) + 2


def test_record_legend_measures_each_row(monkeypatch):
    single = ch03.one_chain_per_prompt(SMALL, ch03.DesignLog(), 8, seed=2, chunk_size=8)
    recorded = []
    monkeypatch.setattr(ch03.claims, "measure", lambda *args, **kw: recorded.append(args[0]))
    ch03.record_legend(ch03.compare_legend(single), prompts=8)
    assert recorded[:3] == [
        "ch3.prototype-legend.GD",
        "ch3.prototype-legend.GD-minus-ridge",
        "ch3.prototype-legend.ridge",
    ]
    assert len(recorded) == 2 * len(ch03.LEGEND) - 1


def test_expected_spread_after_two_steps():
    s = torch.tensor([[0.5, 1.5, 2.0]], dtype=torch.float64)
    setting = ch03.Regulariser(d=3, n=4, steps=2)
    level2 = 0.3
    a = 1 - setting.eta * (s + level2)
    kappa = setting.eta**2 * level2**2
    mu = (s**2 + setting.sigma2 * s / setting.n) / (s + level2) ** 2 * (1 - a) ** 2
    expected = kappa * (mu + mu.sum(-1, keepdim=True))  # c_1 = 0, c_2 from the mean alone
    torch.testing.assert_close(
        ch03.expected_spread(setting, s, level2), expected.sum(-1), rtol=1e-12, atol=0
    )


def test_regulariser_risks_never_beat_bayes():
    risks = ch03.regulariser_risks(TINY_REG, ch03.DesignLog(), 6, gen(5))
    assert risks.bias.shape == risks.trace.shape == (TINY_REG.grid, 6)
    assert bool((risks.bias >= risks.bayes * (1 - 1e-12)).all())
    assert set(risks.risk_N) == {1, 10, 100, np.inf}
    at, fewest, k = ch03.chains_needed(risks, 0.5, TINY_REG.grid // 2)
    assert fewest <= at and 0 <= k < TINY_REG.grid
    sample = ch03.regulariser_one_chain(TINY_REG, ch03.DesignLog(), 0.2)
    assert sample(5, gen(6)).shape == (5, 3)


def test_wrong_spreads_bracket_the_true_trace():
    setting = ch03.OnePrompt()
    one = setting.draw("cpu")
    chain = dict(eta=setting.eta, steps=setting.steps, level=setting.delta)
    exact = float(theory.chain_covariance(one.X, one.y, noise="multiplicative", **chain)[0].trace())
    wrong = ch03.wrong_spreads(one, setting)
    assert list(wrong) == ["without tr(M) I", "raw fourth moment, delta^4 (2P + tr(P) I)"]
    # kappa P <= kappa (P + tr(P) I) <= kappa (2P + tr(P) I): the traces are ordered the same way
    assert wrong["without tr(M) I"] < exact < wrong["raw fourth moment, delta^4 (2P + tr(P) I)"]


def test_design_census_sets_the_bound_beside_the_designs_drawn(draw_prompts):
    log = ch03.DesignLog()
    log.track("prototype", draw_prompts(3, SMALL.n, SMALL.d).X, SMALL.eta, SMALL.shift)
    census = ch03.design_census(log, "prototype", SMALL)
    where = (SMALL.n, SMALL.d, SMALL.eta, SMALL.shift)
    assert census.bound == theory.unstable_design_probability_bound(*where)
    assert (census.drawn, census.largest) == tuple(log.seen["prototype"])
    assert str(census).startswith("prototype (n = 4, d = 6, eta = 0.03, ")


def test_nested_averages_simulated_rows_and_the_squared_reading():
    designs = ch03.DesignLog()
    nested = ch03.nested_averages(SMALL, designs, [2, 4], 6, seed=5, chains=8)
    again = ch03.nested_averages(SMALL, ch03.DesignLog(), [2, 4], 6, seed=5, chains=8)
    assert nested.mean.shape == (2, len(ch03.NESTED_COLUMNS))
    assert np.array_equal(nested.mean, again.mean) and designs.seen["prototype"][0] == 6
    single = ch03.one_chain_per_prompt(SMALL, designs, 8, seed=2, chunk_size=8)

    class Check:  # the fields of a ClaimRecord that simulated_rows reads
        def __init__(self, claim_id, n_avg, z_score):
            self.claim_id, self.params, self.z_score = claim_id, {"N": n_avg}, z_score

    checks = [Check(f"ch3.prototype.norm.N{n}", n, 0.1 * n) for n in (1, 2, 4)]
    checks.append(Check("ch3.prototype.spread.N2", 2, 9.0))
    rows = ch03.simulated_rows(single, nested, [2, 4], checks)
    assert list(rows) == [1, 2, 4] and rows[4][3] == 0.4
    assert rows[1][:3] == (single.mean["error"], single.se["error"], single.first_order[1][0])
    reading = ch03.squared_reading(single, ch03.compare_legend(single))
    assert list(reading) == ["GD", 1] and reading[1][0] == single.mean["tr C"]
    assert reading["GD"][3] == ch03.LEGEND["GD"] - ch03.LEGEND["ridge"]
