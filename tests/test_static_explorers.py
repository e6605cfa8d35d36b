"""The static explorers' tables: every stored curve against an independent computation of the
same quantity, at the precision the explorer states (DIGITS significant digits), at settings drawn
from each grid; the table's layout (the row of a setting is the one the page's callback reads); and
the HTML's size and parts.

Independent means another path to the number: Chapter 1's risks written out from their formula;
Chapter 3's from the Jupyter panel's own recursion (icl.explorers), not from
icl.theory.conditional_chain_terms; Chapter 5's one-coefficient vote from icl.theory's adaptive
quadrature, not the panel's fixed rule, and the whole vector's from the panel's fixed prompts;
Chapter 9's from binomial sums of scipy.stats.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
from scipy import special, stats

from icl import explorers, static_explorers, theory

EXPLORERS = {
    "one_step": static_explorers.one_step,
    "chains": static_explorers.chains,
    "votes": static_explorers.votes,
    "hard_and_easy": static_explorers.hard_and_easy,
}
SETTINGS_CHECKED = 6  # settings per explorer, drawn with a seeded generator, the default first


@pytest.fixture(scope="module", params=sorted(EXPLORERS))
def explorer(request):
    return request.param, EXPLORERS[request.param]()


def agree(stored, exact) -> bool:
    """``stored`` equals ``exact`` to DIGITS significant digits: within one unit of the last
    digit kept (a value within round-off of a rounding boundary may round either way)."""
    stored, exact = np.asarray(stored, float), np.asarray(exact, float)
    scale = 10.0 ** (
        np.floor(np.log10(np.maximum(np.abs(exact), 1e-300))) - (static_explorers.DIGITS - 1)
    )
    return bool(np.all(np.abs(stored - exact) <= scale))


def sample_settings(explorer: static_explorers.Explorer) -> list[dict]:
    rng = np.random.default_rng(0)
    default = {c.name: c.default for c in explorer.controls}
    drawn = [
        {c.name: c.values[rng.integers(len(c.values))] for c in explorer.controls}
        for _ in range(SETTINGS_CHECKED - 1)
    ]
    return [default, *drawn]


def ch1_reference(name, x, n, d, sigma2):
    risk = lambda m, eta: d * (1 - 2 * eta + eta**2 * (m + d + 1 + sigma2) / m)
    eta_star = n / (n + d + 1 + sigma2)
    best = d * (d + 1 + sigma2) / (n + d + 1 + sigma2)
    curves = {
        "risk": lambda: [risk(n, e) for e in x],
        "optimum": lambda: [best],
        "prior": lambda: [d, d],
        "optimal": lambda: [d * (d + 1 + sigma2) / (m + d + 1 + sigma2) for m in x],
        "fixed": lambda: [risk(m, eta_star) for m in x],
        "chosen": lambda: [best],
    }
    return curves[name]()


@functools.cache
def ch3_panel_curves(sigma2, delta2):
    """The Jupyter panel's bias², spread and greedy curves and Bayes risk over the same designs."""
    setting = static_explorers.CHAINS_SETTING
    s = explorers._chain_spectra(setting["n"], setting["d"])
    s = s[setting["eta"] * (s[:, -1] + max(static_explorers.CHAINS_DELTA2)) <= explorers.CHAINS_CUT]
    curves = explorers._expected_chain_curves(
        s, setting["n"], sigma2, setting["eta"], delta2, setting["steps"]
    )
    return *curves, float(explorers._bayes_risk(s, sigma2 / setting["n"]).mean())


def ch3_reference(name, x, sigma2, delta2, n_chains):
    bias2, trace, greedy, bayes = ch3_panel_curves(sigma2, delta2)
    t = np.asarray(x, int)
    return {
        "greedy": greedy[t],
        "one": (bias2 + trace)[t],
        "average": (bias2 + trace / n_chains)[t],
        "limit": bias2[t],
        "bayes": [bayes, bayes],
    }[name]


def ch5_reference(name, x, n, sigma2, temperature):
    d = static_explorers.VOTES_SETTING["d"]
    if name == "vote_one":
        return [
            theory.vote_sign_accuracy(n, d, sigma2, explorers.VOTE_ETA, temperature, int(N))
            for N in x
        ]
    if name == "sample_one":
        value = 1 - theory.sampled_sign_error(n, d, sigma2, explorers.VOTE_ETA, temperature)
        return [value, value]
    if name == "greedy_one":
        return [1 - theory.greedy_sign_error(n, d, sigma2)] * 2
    if name == "greedy_all":
        return [theory.greedy_exact_recovery(n, d, sigma2)] * 2
    # the whole vector, exact given each of the panel's fixed prompts and averaged over them
    margins = explorers._vote_margins(n, d, sigma2).numpy()
    p = special.expit(2 * explorers.VOTE_ETA * margins / (n * temperature))
    q = p.prod(1)
    if name == "sample_all":
        return [q.mean()] * 2
    if name == "pass_all":
        return [(1 - (1 - q) ** int(N)).mean() for N in x]
    return [theory.majority_vote_accuracy(p, int(N)).prod(1).mean() for N in x]


def ch9_reference(name, x, easy, p_easy, p_hard):
    def vote(p, N):  # P(Bin(N, p) > N / 2) for odd N
        return stats.binom.sf((N - 1) // 2, N, p)

    mixture = [easy * vote(p_easy, N) + (1 - easy) * vote(p_hard, N) for N in x]
    return {
        "mixture": mixture,
        "easy_kind": [vote(p_easy, N) for N in x],
        "hard_kind": [vote(p_hard, N) for N in x],
        "one": [easy * p_easy + (1 - easy) * p_hard] * 2,
        "best": None,
    }[name]


REFERENCES = {
    "one_step": ch1_reference,
    "chains": ch3_reference,
    "votes": ch5_reference,
    "hard_and_easy": ch9_reference,
}


def test_stored_curves_equal_an_independent_computation(explorer):
    name, exp = explorer
    checked = 0
    for setting in sample_settings(exp):
        for curve in exp.curves:
            x, y = exp.curve_at(curve.name, setting)
            expected = REFERENCES[name](curve.name, x, **setting)
            if expected is None:
                continue
            assert agree(y, expected), (curve.name, setting, y[:5], list(expected)[:5])
            checked += 1
    assert checked >= SETTINGS_CHECKED


def test_the_best_n_marker_is_at_the_largest_exact_value_of_the_mixture():
    exp = static_explorers.hard_and_easy()
    for setting in sample_settings(exp):
        (N,), (best,) = exp.curve_at("best", setting)
        xs, _ = exp.curve_at("mixture", setting)
        exact = ch9_reference("mixture", xs, **setting)
        assert N == xs[int(np.argmax(exact))] and agree([best], [max(exact)])


def test_values_are_stored_to_the_stated_digits(explorer):
    _, exp = explorer
    for entry in exp.table.values():
        for values in itertools.chain(entry["x"], entry["y"]):
            for v in values:
                assert v is None or float(f"{v:.{static_explorers.DIGITS}g}") == v


def test_the_table_has_one_row_per_setting_in_the_pages_order(explorer):
    _, exp = explorer
    settings = list(itertools.product(*(c.values for c in exp.controls)))
    assert exp.settings == len(settings) == math.prod(len(c.values) for c in exp.controls)
    for entry in exp.table.values():
        assert len(entry["y"]) == exp.settings and len(entry["x"]) in (1, exp.settings)
    for row, values in enumerate(settings):
        assert exp.setting_index(dict(zip((c.name for c in exp.controls), values))) == row
    for c in exp.controls:
        assert c.default in c.values


def test_the_html_carries_the_explorer_under_its_weight_budget(explorer):
    _, exp = explorer
    html = exp.html()
    assert 'class="icl-explorer"' in html and "icl-explorer-note" in html
    assert f"{exp.settings} settings" in html
    assert len(html.encode()) < 300_000  # with BokehJS's 1.65 MB, under 2 MB a page
