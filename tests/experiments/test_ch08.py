"""Chapter 8's settings and experiments, at tiny sizes."""

import math

import numpy as np
import pytest
import torch

from icl import theory
from icl.experiments import ch08


def test_settings_hold_the_chapter_values_and_refuse_bad_ones():
    assert ch08.ChainSetting().params == dict(n=8, d=5, sigma2=0.5, eta=0.1, level=0.5)
    assert ch08.ChainSetting().delta2 == 0.25
    assert ch08.CoinSetting().params == dict(n=20, d=10, sigma2=0.25, eta=1.0)
    assert ch08.LineSetting().eta == theory.optimal_step(6, 1, 3.0)
    with pytest.raises(ValueError):
        ch08.ChainSetting(n=0)
    with pytest.raises(ValueError):
        ch08.LineSetting(tau=-1.0)


def test_budget_split_finds_the_best_n_for_each_t():
    split = ch08.budget_split(ch08.ChainSetting(), t_max=300)
    i = split.index(100)
    n, t = split.n_star[i], split.t_star[i]
    assert n * t <= 100
    assert split.r_star[i] == pytest.approx(split.sample_more(100, int(t)))
    assert split.r_star[i] <= split.think_longer(100) + 1e-15
    assert np.isnan(split.sample_more(10, 30))


def test_samplers_are_seeded_and_shaped():
    chains = ch08.ChainSetting()
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    spread = ch08.average_spread_sampler(chains, 3, 5)
    a, b = spread(4, g()), spread(4, g())
    assert a.shape == (4, 4) and torch.equal(a, b)
    assert torch.allclose(a[:, 2], 3 * a[:, 1])  # tr C_T and tr C_T / N
    coin = ch08.panel_coin_sampler(ch08.CoinSetting(), np.array([1, 3]), np.array([1, 2]))
    assert coin(5, g()).shape == (5, 4)


def test_best_of_n_kl_identity():
    # E log(1 - U) = -1/N for U ~ Beta(1, N): the mean of the sampler is log N - (N - 1)/N
    values = ch08.best_of_n_kl_sampler(ch08.LineSetting(), 4)(
        20_000, torch.Generator().manual_seed(1)
    )
    se = values.std().item() / math.sqrt(len(values))
    assert abs(values.mean().item() - theory.best_of_n_kl(4)) < 5 * se


def test_gl_panels_integrate_a_polynomial_exactly():
    x, w = ch08.gl_panels(np.array([0.0, 0.5, 2.0]), 4)
    assert w @ x**5 == pytest.approx(2.0**6 / 6, rel=1e-13)


def test_norm_tilt_closed_form_matches_the_quadrature():
    line = ch08.LineSetting()
    assert ch08.norm_tilt_closed_form(line, 0.1) == pytest.approx(
        line.soft("norm", 0.1)[0], rel=1e-9
    )


def test_winners_names_each_change():
    panel = {"a": np.array([1.0, 1.0, 3.0]), "b": np.array([2.0, 0.5, 4.0])}
    assert ch08.winners(panel, np.array([1, 2, 3])) == "from 1: a; from 2: b; from 3: a"
