"""The explorers: each drawing function, driven with values other than its defaults, draws the
exact curves of icl.theory (checked at a few points), labels its axes, has a legend, redraws in
under a second of CPU time after any one slider moves, and rejects bad slider values; each panel
wires one slider per parameter and shows its default figure where widgets cannot."""

import time

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from icl import explorers, tasks, theory
from icl.domain import domain_of
from tests.accuracy.ref_explorers import chain_designs, expected_spread

ONE_STEP = {"n": 35, "d": 7, "sigma2": 1.5}
CHAINS = {"n": 16, "d": 6, "sigma2": 0.5, "eta": 0.05, "delta2": 0.2, "steps": 120, "n_chains": 7}
VOTES = {"n": 12, "d": 5, "sigma2": 0.5, "temperature": 0.7, "n_votes": 300}


def drawn(update, params, figsize=(11, 4)):
    """The figure ``update`` draws at ``params``."""
    fig = Figure(figsize=figsize)
    update(fig, **params)
    return fig


def line(ax, label):
    (match,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return np.asarray(match.get_xdata(), dtype=float), np.asarray(match.get_ydata(), dtype=float)


def labelled_with_legend(fig):
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        assert ax.get_legend() is not None and ax.get_legend().get_texts()


def test_one_step_draws_the_closed_forms():
    fig = drawn(explorers.one_step_update, ONE_STEP)
    n, d, s2 = ONE_STEP.values()
    ax_eta, ax_n = fig.axes
    labelled_with_legend(fig)
    etas, risks = line(ax_eta, r"$R(\eta I)$")
    for i in (0, 17, 60, 120):
        assert risks[i] == pytest.approx(theory.one_step_risk(n, d, s2, etas[i]), rel=1e-12)
    eta_star = theory.optimal_step(n, d, s2)
    x, y = line(ax_eta, rf"$\eta^* = {eta_star:.3f}$")
    assert x[0] == pytest.approx(eta_star) and y[0] == pytest.approx(risks.min(), rel=1e-6)
    # a wrong closed form: the step of the noiseless case, n / (n + d + 1)
    assert abs(risks.argmin() - np.argmin(np.abs(etas - n / (n + d + 1)))) > 1
    ms, optimal = line(ax_n, r"optimal step $\eta^*(m)$")
    for i in (0, 10, len(ms) - 1):
        assert optimal[i] == pytest.approx(theory.optimal_one_step_risk(int(ms[i]), d, s2))
    ms, fixed = line(ax_n, rf"step fixed at $\eta^*(n = {n})$")
    assert fixed[-1] == pytest.approx(theory.one_step_risk(int(ms[-1]), d, s2, eta_star))
    assert (fixed >= optimal - 1e-12).all()


def test_chains_draws_the_risks_averaged_over_w_and_the_noise_given_each_design():
    """Each curve is exact given the design, averaged over w and the label noise, and then over
    the fixed designs: the mean's and the greedy chain's risk by gd_risk_given_spectrum, the spread
    by prompt_averaged_chain_terms on the same designs (no design is left out here)."""
    fig = drawn(explorers.chains_update, CHAINS, (8, 4.6))
    n, d, s2, eta, delta2, steps, n_chains = CHAINS.values()
    (ax,) = fig.axes
    labelled_with_legend(fig)
    X = chain_designs(n, d)
    s = torch.linalg.eigvalsh(X.transpose(1, 2) @ X / n).clamp(min=0)
    assert bool((eta * (s[:, -1] + delta2) <= 2).all())
    assert f"0 of {explorers.CHAIN_PROMPTS} designs left out" in ax.get_title()
    terms = theory.prompt_averaged_chain_terms(
        n, d, s2, eta, delta2**0.5, steps, designs=explorers.CHAIN_PROMPTS, seed=0
    )
    risk = lambda lam, t: float(
        theory.gd_risk_given_spectrum(s, n, eta=eta, steps=t, sigma2=s2, lam=lam).mean()
    )
    t, averaged = line(ax, f"average of N = {n_chains}")
    _, limit = line(ax, r"$N \to \infty$ (ridge-GD iterate)")
    _, greedy = line(ax, "greedy chain")
    assert t[-1] == steps
    for step in (1, 40, steps):
        assert limit[step] == pytest.approx(risk(delta2, step), rel=1e-9)
        assert greedy[step] == pytest.approx(risk(0.0, step), rel=1e-9)
        exact = risk(delta2, step) + terms.trace[step] / n_chains
        assert averaged[step] == pytest.approx(exact, rel=1e-9)
    # a wrong formula: the variance without its 1/N
    assert averaged[steps] < (limit[steps] + terms.trace[steps]) * (1 - 1e-3)
    _, bayes = line(ax, r"Bayes: ridge at $\lambda^*$")
    exact = theory.gd_risk_given_spectrum(s, n, eta=eta, steps=None, sigma2=s2, lam=s2 / n)
    assert bayes[0] == pytest.approx(float(exact.mean()), rel=1e-9)


def test_no_chain_curve_lies_below_the_bayes_risk():
    """Like with like: every curve is averaged over w and the noise given the design, as the Bayes
    risk is, so none lies below it (at the defaults, with the risks of the realised w and noise
    over 512 prompts, the N -> infinity curve fell 1.3 % below)."""
    fig = drawn(explorers.chains_update, explorers.CHAINS_DEFAULTS, (8, 4.6))
    (ax,) = fig.axes
    _, bayes = line(ax, r"Bayes: ridge at $\lambda^*$")
    for label in ("greedy chain", "average of N = 1", r"$N \to \infty$ (ridge-GD iterate)"):
        assert (line(ax, label)[1] >= bayes[0]).all(), label


def test_chains_keeps_the_typical_designs_of_chapter_2():
    """The cut is Chapter 2's eta (s_max + delta2) <= 2, not the monotone-contraction cut <= 1:
    at this step the two cuts keep different designs."""
    params = {**CHAINS, "eta": 0.4}
    fig = drawn(explorers.chains_update, params, (8, 4.6))
    n, d, s2, eta, delta2, steps = (
        params[k] for k in ("n", "d", "sigma2", "eta", "delta2", "steps")
    )
    X = chain_designs(n, d)
    s = torch.linalg.eigvalsh(X.transpose(1, 2) @ X / n).clamp(min=0)
    scale = eta * (s[:, -1] + delta2)
    left_out = int((scale > 2).sum())
    assert left_out != int((scale > 1).sum())  # the two cuts differ here
    assert f"{left_out} of {explorers.CHAIN_PROMPTS} designs left out" in fig.axes[0].get_title()
    kept = scale <= 2
    bias = theory.gd_risk_given_spectrum(s[kept], n, eta=eta, steps=steps, sigma2=s2, lam=delta2)
    spread = expected_spread(X[kept], eta, delta2, steps, s2)
    _, one = line(fig.axes[0], "average of N = 1")
    assert one[-1] == pytest.approx(float((bias + spread).mean()), rel=1e-9)


def test_chains_draws_noiseless_labels_with_more_dimensions_than_examples():
    """sigma2 = 0 with d > n (inside the sliders): the Bayes risk is the limit lambda* -> 0 of the
    ridge risk, the d - n directions outside the row space of X."""
    params = {**CHAINS, "n": 5, "d": 12, "sigma2": 0.0}
    fig = drawn(explorers.chains_update, params, (8, 4.6))
    _, bayes = line(fig.axes[0], r"Bayes: ridge at $\lambda^*$")
    assert bayes[0] == pytest.approx(12 - 5, rel=1e-12)


def test_chains_says_when_every_design_is_left_out():
    fig = drawn(explorers.chains_update, {**CHAINS, "eta": 1.0, "d": 20})
    (ax,) = fig.axes
    assert not ax.get_lines() and "every design" in ax.texts[0].get_text()


def test_votes_draws_the_exact_accuracies():
    fig = drawn(explorers.votes_update, VOTES)
    n, d, s2, T, n_votes = VOTES.values()
    ax_one, ax_all = fig.axes
    labelled_with_legend(fig)
    grid, votes = line(ax_one, "majority vote of N")
    assert grid[0] == 1 and grid[-1] == n_votes
    for i in (0, 5, len(grid) - 1):
        exact = theory.vote_sign_accuracy(n, d, s2, explorers.VOTE_ETA, T, int(grid[i]))
        assert votes[i] == pytest.approx(exact, abs=1e-8)
    _, one = line(ax_one, "one sample")
    assert one[0] == pytest.approx(1 - theory.sampled_sign_error(n, d, s2, explorers.VOTE_ETA, T))
    _, greedy = line(ax_one, "greedy")
    assert greedy[0] == pytest.approx(1 - theory.greedy_sign_error(n, d, s2))
    p = tasks.sample_prompts(
        explorers.VOTE_PROMPTS,
        n,
        d,
        prior="rademacher",
        sigma2=s2,
        generator=torch.Generator().manual_seed(0),
        device="cpu",
        dtype=torch.float64,
    )
    u = p.w * torch.einsum("bnd,bn->bd", p.X, p.y)
    right = torch.sigmoid(2 * explorers.VOTE_ETA * u / (n * T)).numpy()
    q = right.prod(1)
    grid, passes = line(ax_all, "pass@N (perfect verifier)")
    k = int(grid[6])
    assert passes[6] == pytest.approx(float(np.mean(1 - (1 - q) ** k)), rel=1e-12)
    # a wrong formula: pass@N from the average success probability, 1 - (1 - E q)^N
    assert passes[6] < 1 - (1 - q.mean()) ** k - 0.01
    _, vote_all = line(ax_all, "coordinate-wise vote of N")
    exact = theory.majority_vote_accuracy(right, k).prod(1).mean()
    assert vote_all[6] == pytest.approx(float(exact), rel=1e-12)
    _, greedy_all = line(ax_all, "greedy")
    assert greedy_all[0] == pytest.approx(theory.greedy_exact_recovery(n, d, s2))


@pytest.mark.parametrize(
    "update, defaults, moves",
    [
        (explorers.one_step_update, explorers.ONE_STEP_DEFAULTS, ONE_STEP),
        (explorers.chains_update, explorers.CHAINS_DEFAULTS, CHAINS),
        (explorers.votes_update, explorers.VOTES_DEFAULTS, VOTES),
    ],
)
def test_every_slider_move_redraws_in_under_a_second(update, defaults, moves):
    """From the default figure, move one slider at a time (new prompts where n, d or sigma2
    move): each redraw takes under a second of CPU time. On this shared machine a process's CPU
    time for the same work varies (up to 5x was seen once for a 0.2 s redraw while both cores were
    busy), so a move gets up to two more tries, each from the default figure with the panels'
    caches cleared, and must take under a second in one of them."""
    caches = [f for f in vars(explorers).values() if hasattr(f, "cache_clear")]
    update(Figure(), **defaults)
    for name, value in moves.items():
        tries = []
        for attempt in range(3):
            if attempt:
                for cached in caches:
                    cached.cache_clear()
                update(Figure(), **defaults)
            fig = Figure(figsize=(11, 4))
            start = time.process_time()
            update(fig, **{**defaults, name: value})
            tries.append(time.process_time() - start)
            if tries[-1] < 1.0:
                break
        assert min(tries) < 1.0, (name, value, tries)


@pytest.mark.parametrize(
    "n, d, sigma2, temperature", [(1, 5, 0.5, 1.0), (3, 2, 0.0, 0.2), (100, 30, 0.0, 3.0)]
)
def test_the_vote_curve_is_the_closed_form_across_settings(n, d, sigma2, temperature):
    """The fixed panels against the adaptive quadrature of theory.vote_sign_accuracy, from n = 1
    (a log singularity at u = 0) to n = 100 (where the Bessel factor would overflow near 0)."""
    params = {"n": n, "d": d, "sigma2": sigma2, "temperature": temperature, "n_votes": 500}
    fig = drawn(explorers.votes_update, params)
    grid, votes = line(fig.axes[0], "majority vote of N")
    for i in (0, 7, len(grid) - 1):
        exact = theory.vote_sign_accuracy(
            n, d, sigma2, explorers.VOTE_ETA, temperature, int(grid[i])
        )
        assert votes[i] == pytest.approx(exact, abs=1e-8)


@pytest.mark.parametrize(
    "update, params, bad",
    [
        (explorers.one_step_update, ONE_STEP, {"n": 0}),
        (explorers.one_step_update, ONE_STEP, {"sigma2": -0.1}),
        (explorers.one_step_update, ONE_STEP, {"d": 2.5}),
        (explorers.chains_update, CHAINS, {"eta": 0.0}),
        (explorers.chains_update, CHAINS, {"delta2": float("nan")}),
        (explorers.chains_update, CHAINS, {"n_chains": 0}),
        (explorers.votes_update, VOTES, {"temperature": 0.0}),
        (explorers.votes_update, VOTES, {"d": 1}),
        (explorers.votes_update, VOTES, {"n_votes": True}),
    ],
)
def test_bad_slider_values_raise(update, params, bad):
    (name,) = bad
    with pytest.raises(ValueError, match=name):
        update(Figure(), **{**params, **bad})


@pytest.mark.parametrize(
    "panel, update, defaults",
    [
        (explorers.one_step_panel, explorers.one_step_update, explorers.ONE_STEP_DEFAULTS),
        (explorers.chains_panel, explorers.chains_update, explorers.CHAINS_DEFAULTS),
        (explorers.votes_panel, explorers.votes_update, explorers.VOTES_DEFAULTS),
    ],
)
def test_each_panel_has_a_slider_per_parameter_and_a_static_figure(panel, update, defaults):
    widget = panel()
    grid, output = widget.children
    assert [s.value for s in grid.children] == pytest.approx(list(defaults.values()))
    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["image/png"].startswith("iVBORw0KGgo")  # a base64 PNG: the default figure
    slider = grid.children[0]
    slider.value = slider.value + 1  # a redraw through the widgets
    with pytest.raises(ValueError, match="unknown parameters"):
        panel(width=3)
    with pytest.raises(ValueError, match=next(iter(defaults))):
        panel(**{next(iter(defaults)): 0})


EXPLORERS = [
    (explorers.one_step_update, explorers._ONE_STEP_SLIDERS, explorers.ONE_STEP_DEFAULTS),
    (explorers.chains_update, explorers._CHAINS_SLIDERS, explorers.CHAINS_DEFAULTS),
    (explorers.votes_update, explorers._VOTES_SLIDERS, explorers.VOTES_DEFAULTS),
]


def slider_ends(spec):
    """The values a slider shows at its two ends."""
    ends = (spec.low, spec.high)
    return tuple(10.0**e for e in ends) if spec.log else ends


@pytest.mark.parametrize("update, sliders, defaults", EXPLORERS)
def test_each_update_declares_a_domain_that_holds_its_sliders(update, sliders, defaults):
    domain = domain_of(update)
    assert domain is not None and "Domain and accuracy" in update.__doc__
    assert set(domain.parameters) == {"fig", *sliders}
    for name, spec in sliders.items():
        for end in slider_ends(spec):
            domain.validate({"fig": Figure(), **defaults, name: end})


@pytest.mark.parametrize(
    "update, sliders, defaults, name, end",
    [
        (update, sliders, defaults, name, end)
        for update, sliders, defaults in EXPLORERS
        for name, spec in sliders.items()
        for end in (0, 1)
    ],
)
def test_every_slider_end_draws(update, sliders, defaults, name, end):
    """Each slider at each of its ends, the others at their defaults, draws a labelled figure."""
    value = slider_ends(sliders[name])[end]
    fig = drawn(update, {**defaults, name: value})
    assert fig.axes and all(ax.get_title() for ax in fig.axes)


@pytest.mark.parametrize(
    "update, params, bad",
    [
        (explorers.one_step_update, ONE_STEP, {"n": 10**5 + 1}),
        (explorers.one_step_update, ONE_STEP, {"d": 10**12}),
        (explorers.chains_update, CHAINS, {"n": 101}),
        (explorers.chains_update, CHAINS, {"n": 10**7}),
        (explorers.chains_update, CHAINS, {"d": 51}),
        (explorers.chains_update, CHAINS, {"steps": 1001}),
        (explorers.chains_update, CHAINS, {"steps": 10**9}),
        (explorers.chains_update, CHAINS, {"eta": 2.5}),
        (explorers.votes_update, VOTES, {"n": 101}),
        (explorers.votes_update, VOTES, {"n": 10**7}),
        (explorers.votes_update, VOTES, {"d": 31}),
        (explorers.votes_update, VOTES, {"n_votes": 10**4 + 1}),
        (explorers.votes_update, VOTES, {"n_votes": 10**12}),
        (explorers.votes_update, VOTES, {"temperature": 1e-4}),
    ],
)
def test_values_beyond_the_declared_domain_raise(update, params, bad):
    """Beyond the ranges where a redraw takes well under a second (the sliders'), the update
    refuses at once instead of allocating what it cannot hold or running for minutes."""
    (name,) = bad
    start = time.process_time()
    with pytest.raises(ValueError, match=name):
        update(Figure(), **{**params, **bad})
    assert time.process_time() - start < 0.1
