r"""Live explorers of the closed forms: sliders that redraw the exact curves of :mod:`icl.theory`.

Each explorer is a drawing function and a panel:

- ``*_update(fig, **params)`` validates the parameters against its declared domain
  (:mod:`icl.domain`: the ranges of its sliders, where every redraw takes well under a second;
  ``ValueError`` naming the parameter outside them), clears the matplotlib figure ``fig`` and
  draws the exact curves into it. It needs no widgets, so the tests drive it directly;
- ``*_panel(**params)`` wires one ``ipywidgets`` slider per parameter to the drawing function
  and returns the panel (sliders above, figure below), drawn first at the given values (the
  defaults, ``*_DEFAULTS``, for the rest). Outside a live kernel, e.g. in the static HTML book,
  the panel shows as the figure at those values.

The explorers are :func:`one_step_update` (Chapter 1: the risk of one GD step against the step
and against :math:`n`), :func:`chains_update` (Chapter 3: the risk of the average of :math:`N`
noisy chains along the chain) and :func:`votes_update` (Chapter 5: majority vote and pass@N
against :math:`N`). Chapter 3's explorer averages risks that are exact given the design (averaged
over :math:`w` and the label noise) over a fixed set of designs (seed 0), drawn once per
:math:`(n, d)`; Chapter 5's averages exact conditional values over a fixed set of prompts (seed 0),
drawn once per :math:`(n, d, \sigma^2)`. Both are kept between redraws.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import ipywidgets as widgets
import numpy as np
import torch
from IPython.display import Image, display
from matplotlib.figure import Figure
from scipy import special

from icl import tasks, theory
from icl.domain import Accuracy, Given, Integer, Real, declare

__all__ = [
    "CHAINS_DEFAULTS",
    "ONE_STEP_DEFAULTS",
    "VOTES_DEFAULTS",
    "chains_panel",
    "chains_update",
    "one_step_panel",
    "one_step_update",
    "votes_panel",
    "votes_update",
]

ONE_STEP_DEFAULTS = {"n": 20, "d": 10, "sigma2": 0.5}
CHAINS_DEFAULTS = {
    "n": 12,
    "d": 10,
    "sigma2": 1.0,
    "eta": 0.0625,
    "delta2": 1 / 12,
    "steps": 480,
    "n_chains": 10,
}
VOTES_DEFAULTS = {"n": 20, "d": 10, "sigma2": 0.25, "temperature": 1.0, "n_votes": 100}
CHAIN_PROMPTS = 512  # prompts the Chapter 3 explorer averages over
VOTE_PROMPTS = 2048  # prompts the Chapter 5 explorer averages over
VOTE_ETA = 1.0  # Chapter 5's step; the sampling probabilities depend on T / eta only


@dataclass(frozen=True)
class _Slider:
    """A slider: integer (``step`` 1) or float, on a linear scale or (``log``) a log10 scale."""

    label: str
    low: float
    high: float
    step: float
    log: bool = False


# ---------------------------------------------------------------- Chapter 1: one step of GD


def _figure(name: str, fig) -> Figure:
    """``fig`` if it is a matplotlib Figure, else ``TypeError``."""
    if not isinstance(fig, Figure):
        raise TypeError(f"{name} must be a matplotlib.figure.Figure, got {type(fig).__name__}")
    return fig


FIGURE = Given(
    "a matplotlib.figure.Figure (cleared and drawn into)",
    check=_figure,
    bad=(None, "figure"),
    draw=lambda rng: Figure(),
)


@declare(
    Accuracy(
        relative=1e-9,
        note="each drawn point is the closed form of icl.theory.one_step at that point, "
        "d [1 - 2 eta + eta^2 (m + d + 1 + sigma2) / m], whose terms of order d cancel down to "
        "a risk as small as 2 d / m (d = 1, sigma2 = 0, m up to 10^6)",
    ),
    fig=FIGURE,
    n=Integer(1, 10**5),
    d=Integer(1, 10**4),
    sigma2=Real(0.0, 1e4),
)
def one_step_update(fig: Figure, *, n: int, d: int, sigma2: float) -> None:
    r"""Draw Chapter 1's exact one-step risks into ``fig`` (cleared first; two axes).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to draw into.
    n : int
        Examples per prompt.
    d : int
        The dimension.
    sigma2 : float
        The label noise's variance :math:`\sigma^2`.

    Notes
    -----
    Left: with :math:`\psi^2 = 1`,

    .. math::

        R(\eta I) = d \left[1 - 2\eta + \eta^2 \frac{n + d + 1}{n} + \eta^2 \frac{\sigma^2}{n}
        \right]

    against the step :math:`\eta \in [0, 2\eta^*]`, with :math:`\eta^* = n / (n + d + 1 + \sigma^2)`
    marked and the prior's risk :math:`d` (:math:`\eta = 0`). Right: against the number of examples
    :math:`m = 1, \dots, 10 \max(n, d)`, the optimal risk
    :math:`R(\eta^*(m) I) = d (d + 1 + \sigma^2) / (m + d + 1 + \sigma^2)` and the risk of the step
    tuned for :math:`n`, :math:`R(\eta^*(n) I)` at :math:`m` examples; both from
    :mod:`icl.theory.one_step`.
    """
    fig.clear()
    ax_eta, ax_n = fig.subplots(1, 2)
    eta_star = theory.optimal_step(n, d, sigma2)
    etas = np.linspace(0.0, 2 * eta_star, 121)
    ax_eta.plot(etas, [theory.one_step_risk(n, d, sigma2, e) for e in etas], label=r"$R(\eta I)$")
    ax_eta.plot(
        [eta_star],
        [theory.optimal_one_step_risk(n, d, sigma2)],
        "o",
        color="C3",
        label=rf"$\eta^* = {eta_star:.3f}$",
    )
    ax_eta.axhline(d, color="k", ls=":", label=r"prior, $\eta = 0$: $d$")
    ax_eta.set(
        xlabel=r"step $\eta$",
        ylabel=r"risk $\mathbb{E}\|\hat w - w\|^2$",
        title=f"n = {n}, d = {d}, $\\sigma^2$ = {sigma2:g}",
    )
    ax_eta.legend(fontsize=8)
    ms = np.unique(np.geomspace(1, 10 * max(n, d), 80).astype(int))
    ax_n.plot(
        ms,
        [theory.optimal_one_step_risk(int(m), d, sigma2) for m in ms],
        label=r"optimal step $\eta^*(m)$",
    )
    ax_n.plot(
        ms,
        [theory.one_step_risk(int(m), d, sigma2, eta_star) for m in ms],
        ls="--",
        label=rf"step fixed at $\eta^*(n = {n})$",
    )
    ax_n.plot([n], [theory.optimal_one_step_risk(n, d, sigma2)], "o", color="C3", label=f"m = {n}")
    ax_n.set(
        xscale="log",
        yscale="log",
        xlabel="number of examples m",
        ylabel=r"risk $\mathbb{E}\|\hat w - w\|^2$",
        title="one step of GD against the prompt's length",
    )
    ax_n.legend(fontsize=8)
    fig.tight_layout()


_ONE_STEP_SLIDERS = {
    "n": _Slider("n (examples)", 1, 200, 1),
    "d": _Slider("d (dimension)", 1, 50, 1),
    "sigma2": _Slider("σ² (label noise)", 0.0, 4.0, 0.05),
}


def one_step_panel(**params):
    r"""Sliders for :math:`n`, :math:`d` and :math:`\sigma^2` wired to :func:`one_step_update`.

    Parameters
    ----------
    **params
        The values to draw first (:data:`ONE_STEP_DEFAULTS` for the others).

    Returns
    -------
    ipywidgets.VBox
        The panel: sliders above, figure below.

    Raises
    ------
    ValueError
        A parameter the panel has no slider for, or a value outside the drawing function's domain.
    """
    return _panel(one_step_update, _ONE_STEP_SLIDERS, ONE_STEP_DEFAULTS, params, (11, 4))


# ------------------------------------------------------ Chapter 3: averages of noisy chains


def _chain_designs(n: int, d: int) -> np.ndarray:
    """The fixed designs X, ``(CHAIN_PROMPTS, n, d)``, drawn by ``numpy.random.default_rng(0)`` (as
    :func:`icl.theory.prompt_averaged_chain_terms` draws its designs)."""
    return np.random.default_rng(0).standard_normal((CHAIN_PROMPTS, n, d))


@lru_cache(maxsize=8)
def _chain_spectra(n: int, d: int) -> np.ndarray:
    """The eigenvalues of S = X^T X / n of the fixed designs (:func:`_chain_designs`),
    ``(CHAIN_PROMPTS, d)`` in ascending order: the min(n, d) eigenvalues of the smaller Gram matrix
    (X^T X or X X^T, the same non-zero spectrum) after d - min(n, d) exact zeros."""
    X = _chain_designs(n, d)
    gram = X @ X.transpose(0, 2, 1) if n < d else X.transpose(0, 2, 1) @ X
    nonzero = np.linalg.eigvalsh(gram).clip(min=0.0) / n
    return np.concatenate([np.zeros((CHAIN_PROMPTS, d - nonzero.shape[1])), nonzero], 1)


def _expected_chain_curves(
    s: np.ndarray, n: int, sigma2: float, eta: float, delta2: float, steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For t = 0..T, the means over the designs (rows of ``s``) of E[||m_t - w||^2 | X] (the
    ridge-GD mean of the multiplicative chain, penalty delta2), E[tr C_t | X] and the greedy
    chain's E[||w_t - w||^2 | X], each averaged over w ~ N(0, I_d) and the label noise.

    In the eigenbasis, with a = 1 - eta (s + delta2), P = a^t, a0 = 1 - eta s, P0 = a0^t:
    E[||m_t - w||^2 | X] = sum_j [(delta2 + s P)^2 + (sigma2 / n) s (1 - P)^2] / (s + delta2)^2,
    greedy: sum_j P0^2 + (sigma2 / n) (1 - P0)^2 / s (1 where s = 0), and the recursion of
    :func:`icl.theory.chain_risk_terms`, c_{t+1} = a^2 c_t + kappa (c_t + q_t + sum_k (c_t + q_t)),
    kappa = eta^2 delta2^2, linear in the squared mean, with m_{t,j}^2 replaced by its average
    q_{t,j} = (s^2 + sigma2 s / n) (1 - P)^2 / (s + delta2)^2."""
    shifted2, noise = (s + delta2) ** 2, sigma2 / n * s
    a, a0 = 1 - eta * (s + delta2), 1 - eta * s
    # the two risks are quadratics in P and P0: c0 + c1 P + c2 P^2 summed over j
    ridge = [(delta2**2 + noise) / shifted2, (2 * delta2 * s - 2 * noise) / shifted2]
    ridge.append((s**2 + noise) / shifted2)
    inverse = np.where(s > 0, sigma2 / n / np.where(s > 0, s, 1.0), 0.0)  # s = 0: P0 = 1, term 1
    plain = [inverse.ravel(), -2 * inverse.ravel(), (1 + inverse).ravel()]
    ridge = [c.ravel() for c in ridge]
    mu2, kappa, count = (s**2 + noise) / shifted2, eta**2 * delta2**2, s.shape[0]
    c, power, power0 = np.zeros_like(s), np.ones_like(s), np.ones_like(s)
    bias, trace, greedy = (np.zeros(steps + 1) for _ in range(3))
    for t in range(steps + 1):
        p, p0 = power.ravel(), power0.ravel()
        bias[t] = (ridge[0].sum() + ridge[1] @ p + ridge[2] @ (p * p)) / count
        greedy[t] = (plain[0].sum() + plain[1] @ p0 + plain[2] @ (p0 * p0)) / count
        with np.errstate(over="ignore", invalid="ignore"):  # a spread beyond the floats: inf
            trace[t] = c.sum() / count if np.isfinite(trace[t - 1]) or t == 0 else np.inf
            if np.isfinite(trace[t]):
                second = c + mu2 * (1 - power) ** 2
                c = a**2 * c + kappa * (second + second.sum(1, keepdims=True))
        power, power0 = power * a, power0 * a0
    return bias, trace, greedy


def _bayes_risk(s: np.ndarray, lam: float) -> np.ndarray:
    """The ridge risk at the Bayes penalty lam = sigma2 / n (psi2 = 1) given the eigenvalues s:
    sum_j lam / (s_j + lam), where a zero eigenvalue counts 1 (also at lam = 0, the noiseless
    limit, where the risk is the number of zero eigenvalues)."""
    return np.where(s > 0, lam / np.where(s > 0, s + lam, 1.0), 1.0).sum(-1)


CHAINS_CUT = 2.0  # keep the designs with eta (s_max + delta2) <= 2 (Chapter 2's typical designs)


@declare(
    Accuracy(
        relative=1e-9,
        absolute=1e-12,
        note="each drawn point is exact given the design (averaged over w and the noise) and "
        "averaged over the kept designs; absolute where the risk tends to 0 (noiseless labels, "
        "m_t -> w), to round-off of the scale d",
    ),
    fig=FIGURE,
    n=Integer(1, 100),
    d=Integer(1, 50),
    sigma2=Real(0.0, 10.0),
    eta=Real(1e-4, 2.0),
    delta2=Real(1e-5, 2.0),
    steps=Integer(1, 1000),
    n_chains=Integer(1, 10**6),
)
def chains_update(
    fig: Figure,
    *,
    n: int,
    d: int,
    sigma2: float,
    eta: float,
    delta2: float,
    steps: int,
    n_chains: int,
) -> None:
    r"""Draw Chapter 3's exact risk of the average of :math:`N` multiplicative-noise chains along
    the chain into ``fig`` (cleared first; one axes).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to draw into.
    n : int
        Examples per prompt.
    d : int
        The dimension.
    sigma2 : float
        The label noise's variance :math:`\sigma^2`.
    eta : float
        The step size :math:`\eta`.
    delta2 : float
        The multiplicative noise's variance :math:`\delta^2`.
    steps : int
        The chain's length :math:`T`.
    n_chains : int
        The number of chains averaged, :math:`N`.

    Notes
    -----
    For :math:`t = 0, \dots, T`:
    :math:`E[\|m_t - w\|^2 \mid X] + E[\operatorname{tr} C_t \mid X] / N` for :math:`N = 1`,
    ``n_chains`` and :math:`\infty` (the ridge-GD iterate with penalty :math:`\delta^2`), and the
    greedy chain's :math:`E[\|w_t - w\|^2 \mid X]` (:func:`_expected_chain_curves`); the Bayes risk
    is the ridge risk at :math:`\lambda^* = \sigma^2 / n`,
    :math:`\sum_j \lambda^* / (s_j + \lambda^*)` (:func:`icl.theory.gd_risk_given_spectrum` with
    ``steps=None``; at :math:`\sigma^2 = 0` its limit, the number of zero eigenvalues of :math:`S`).
    Every curve is averaged over :math:`w \sim \mathcal{N}(0, I_d)` and the label noise given the
    design, exactly, as in Chapter 3's regulariser section (so that no curve can lie below the Bayes
    risk), and then over :data:`CHAIN_PROMPTS` fixed designs (seed 0), keeping the typical designs
    of Chapter 2, :math:`\eta (s_{\max}(X^\top X / n) + \delta^2) \le 2`, on which the mean chain
    does not diverge (the title says how many are left out).
    """
    s = _chain_spectra(n, d)
    kept = eta * (s[:, -1] + delta2) <= CHAINS_CUT
    fig.clear()
    ax = fig.subplots()
    ax.set(
        xlabel="thought t (GD steps)",
        ylabel=r"risk $\mathbb{E}\|\bar w_N - w\|^2$",
        title=f"n = {n}, d = {d}, $\\sigma^2$ = {sigma2:g}, $\\eta$ = {eta:g}, "
        f"$\\delta^2$ = {delta2:.3g}; {int((~kept).sum())} of {CHAIN_PROMPTS} designs "
        "left out",
    )
    if not bool(kept.any()):
        ax.text(0.5, 0.5, r"every design has $\eta(s_{\max} + \delta^2) > 2$", ha="center")
        return
    bias2, trace, greedy = _expected_chain_curves(s[kept], n, sigma2, eta, delta2, steps)
    t = np.arange(steps + 1)
    ax.plot(t, greedy, color="C0", label="greedy chain")
    for n_avg, style in ((1, "-"), (n_chains, "--")):
        ax.plot(t, bias2 + trace / n_avg, color="C3", ls=style, label=f"average of N = {n_avg}")
    ax.plot(t, bias2, color="C3", ls=":", label=r"$N \to \infty$ (ridge-GD iterate)")
    ax.axhline(
        float(_bayes_risk(s[kept], sigma2 / n).mean()),
        color="k",
        ls="-.",
        lw=0.8,
        label=r"Bayes: ridge at $\lambda^*$",
    )
    # the axis shows the bounded curves and the averages up to 3 times their largest value: a
    # noisy chain whose spread grows without bound (eta^2 delta2^2 large) leaves the picture
    bounded = max(greedy.max(), bias2.max())
    one_chain = (bias2 + trace)[np.isfinite(trace)]
    ax.set_ylim(0, 1.05 * min(max(bounded, one_chain.max()), 3 * bounded))
    ax.legend(fontsize=8)
    fig.tight_layout()


_CHAINS_SLIDERS = {
    "n": _Slider("n (examples)", 2, 100, 1),
    "d": _Slider("d (dimension)", 1, 50, 1),
    "sigma2": _Slider("σ² (label noise)", 0.0, 4.0, 0.05),
    "eta": _Slider("η (step)", -3.0, 0.0, 0.05, log=True),
    "delta2": _Slider("δ² (noise level)", -4.0, 0.0, 0.05, log=True),
    "steps": _Slider("T (thoughts)", 1, 1000, 1),
    "n_chains": _Slider("N (chains)", 1, 1000, 1),
}


def chains_panel(**params):
    r"""Sliders for :math:`n`, :math:`d`, :math:`\sigma^2`, :math:`\eta`, :math:`\delta^2`,
    :math:`T` and :math:`N` wired to :func:`chains_update`.

    Parameters
    ----------
    **params
        The values to draw first (:data:`CHAINS_DEFAULTS` for the others).

    Returns
    -------
    ipywidgets.VBox
        The panel: sliders above, figure below.

    Raises
    ------
    ValueError
        A parameter the panel has no slider for, or a value outside the drawing function's domain.
    """
    return _panel(chains_update, _CHAINS_SLIDERS, CHAINS_DEFAULTS, params, (8, 4.6))


# ------------------------------------------------- Chapter 5: majority vote and pass@N


@lru_cache(maxsize=8)
def _vote_margins(n: int, d: int, sigma2: float) -> torch.Tensor:
    """Margins u = w_j x_{.j}^T y of fixed rademacher prompts (seed 0), ``(VOTE_PROMPTS, d)``."""
    gen = torch.Generator().manual_seed(0)
    p = tasks.sample_prompts(
        VOTE_PROMPTS,
        n,
        d,
        prior="rademacher",
        sigma2=sigma2,
        generator=gen,
        device="cpu",
        dtype=torch.float64,
    )
    return p.w * torch.einsum("bnd,bn->bd", p.X, p.y)


def _vote_grid(n_votes: int) -> np.ndarray:
    return np.unique(np.geomspace(1, n_votes, 16).round().astype(int))


@lru_cache(maxsize=8)
def _margin_rule(n: int, d: int, sigma2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes u > 0 and weights (w+, w-) with E[g(u)] = sum w+ g(u) + w- g(-u) under
    :func:`icl.theory.margin_density` f, by the reflection f(-u) = e^{-2u/s2} f(u)
    (s2 = d - 1 + sigma2): w- = w+ e^{-2u/s2}.

    Gauss-Legendre panels (20 nodes), geometric from a start u0 to far beyond the bulk, w+ = w f(u).
    u0 is 1e-10, or (large n) where the Bessel factor K_nu(alpha u) of f (nu = (n - 1)/2,
    alpha = sqrt(1 + s2) / s2) reaches 1e300 and would overflow below; [0, u0] is one node at
    u0 / 2 with weight u0 f(0) (f is finite and smooth at 0 for n >= 2; for n = 1, where f has a
    log singularity, the mass below 1e-10 is left out, about 1e-9).
    """
    s2 = d - 1 + sigma2
    nu, alpha = (n - 1) / 2, (1 + s2) ** 0.5 / s2
    start = 1e-10
    if nu > 0:  # K_nu(x) ~ Gamma(nu) 2^(nu - 1) x^-nu as x -> 0
        log10_x = (special.gammaln(nu) / np.log(10) + (nu - 1) * np.log10(2) - 300) / nu
        start = max(start, 10**log10_x / alpha)
    edges = np.geomspace(start, n + 60 * (n * (2 + s2)) ** 0.5, 160)
    nodes, weights = np.polynomial.legendre.leggauss(20)
    width = (edges[1:] - edges[:-1])[:, None]
    u = (width * (nodes + 1) / 2 + edges[:-1, None]).ravel()
    w_plus = (width * weights / 2).ravel() * theory.margin_density(u, n, d, sigma2)
    if n >= 2:
        u = np.append(start / 2, u)
        w_plus = np.append(start * theory.margin_density(0.0, n, d, sigma2), w_plus)
    return u, w_plus, w_plus * np.exp(-2 * u / s2)


@lru_cache(maxsize=8)
def _greedy_exact_recovery(n: int, d: int, sigma2: float) -> float:
    return theory.greedy_exact_recovery(n, d, sigma2)


def _vote_curves(n: int, d: int, sigma2: float, temperature: float, n_votes: int) -> dict:
    """The curves :func:`votes_update` draws (its Notes say what each is): ``N``, the grid of
    sample counts; ``vote_one`` and ``sample_one``, ``greedy_one`` (one coefficient); ``vote_all``,
    ``pass_all``, ``sample_all`` and ``greedy_all`` (the whole vector)."""
    grid = _vote_grid(n_votes)
    c = 2 * VOTE_ETA / (n * temperature)
    u, w_plus, w_minus = _margin_rule(n, d, sigma2)
    right = 1 / (1 + np.exp(-c * u))  # P(a sample is right) at margin u > 0
    p = torch.sigmoid(c * _vote_margins(n, d, sigma2)).numpy()
    q = p.prod(1)
    return {
        "N": grid,
        "vote_one": np.array(
            [
                w_plus @ (a := theory.majority_vote_accuracy(right, int(N))) + w_minus @ (1 - a)
                for N in grid
            ]
        ),
        "sample_one": float(w_plus @ right + w_minus @ (1 - right)),
        "greedy_one": 1 - theory.greedy_sign_error(n, d, sigma2),
        "vote_all": np.array(
            [theory.majority_vote_accuracy(p, int(N)).prod(1).mean() for N in grid]
        ),
        "pass_all": np.array([(1 - (1 - q) ** int(N)).mean() for N in grid]),
        "sample_all": float(q.mean()),
        "greedy_all": _greedy_exact_recovery(n, d, sigma2),
    }


@declare(
    Accuracy(
        absolute=1e-8,
        note="absolute, for probabilities drawn on a linear axis: the one-coefficient vote curve "
        "is a fixed 20-node Gauss-Legendre rule on 159 geometric panels, within 1e-8 of the "
        "adaptive quadrature of icl.theory.vote_sign_accuracy; the other curves are "
        "icl.theory's values, exact given the fixed prompts",
    ),
    fig=FIGURE,
    n=Integer(1, 100),
    d=Integer(2, 30),
    sigma2=Real(0.0, 10.0),
    temperature=Real(1e-3, 100.0),
    n_votes=Integer(1, 10**4),
)
def votes_update(
    fig: Figure, *, n: int, d: int, sigma2: float, temperature: float, n_votes: int
) -> None:
    r"""Draw Chapter 5's exact accuracies of :math:`N` samples at temperature :math:`T` into ``fig``
    (cleared first; two axes), against :math:`N = 1, \dots,` ``n_votes``, with
    :math:`\eta` = :data:`VOTE_ETA`.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to draw into.
    n : int
        Examples per prompt.
    d : int
        The dimension, :math:`d \ge 2` (a margin law with a density).
    sigma2 : float
        The label noise's variance :math:`\sigma^2`.
    temperature : float
        The sampling temperature :math:`T`.
    n_votes : int
        The largest number of samples :math:`N`.

    Notes
    -----
    Left, one coefficient (over the prompt distribution): the majority vote
    :math:`E[A_N(\operatorname{sigmoid}(2 \eta u / (n T)))]` (the integral of
    :func:`icl.theory.vote_sign_accuracy` against :func:`icl.theory.margin_density`, on fixed
    Gauss-Legendre panels so that every :math:`N` costs one dot product; the accuracy census holds
    it against a finer quadrature), one sample (the same integral at :math:`N = 1`,
    :math:`E[\operatorname{sigmoid}(2 \eta u / (n T))] = 1 -` :func:`icl.theory.sampled_sign_error`)
    and greedy (1 - the Student-t tail, :func:`icl.theory.greedy_sign_error`). Right, the whole
    vector: the coordinate-wise vote :math:`\prod_j A_N(p_j)` and pass@N with a perfect verifier
    :math:`1 - (1 - \prod_j p_j)^N`, exact given the prompt (:math:`p_j = \operatorname{sigmoid}(2
    \eta u_j / (n T))`) and averaged over :data:`VOTE_PROMPTS` fixed prompts (seed 0), and greedy
    exact recovery (:func:`icl.theory.greedy_exact_recovery`).
    """
    curves = _vote_curves(n, d, sigma2, temperature, n_votes)
    grid = curves["N"]
    fig.clear()
    ax_one, ax_all = fig.subplots(1, 2)
    ax_one.plot(grid, curves["vote_one"], "-o", ms=3, color="C1", label="majority vote of N")
    ax_one.axhline(curves["sample_one"], color="C0", ls="--", label="one sample")
    ax_one.axhline(curves["greedy_one"], color="k", ls=":", label="greedy")
    ax_one.set(
        xscale="log",
        xlabel="samples N",
        ylabel="P(coefficient right)",
        title=f"one coefficient: n = {n}, d = {d}, $\\sigma^2$ = {sigma2:g}, T = {temperature:.3g}",
    )
    ax_one.legend(fontsize=8)
    ax_all.plot(grid, curves["pass_all"], "-o", ms=3, color="C2", label="pass@N (perfect verifier)")
    ax_all.plot(grid, curves["vote_all"], "-o", ms=3, color="C1", label="coordinate-wise vote of N")
    ax_all.axhline(curves["sample_all"], color="C0", ls="--", label="one sample")
    ax_all.axhline(curves["greedy_all"], color="k", ls=":", label="greedy")
    ax_all.set(
        xscale="log",
        xlabel="samples N",
        ylabel="P(whole vector right)",
        title=f"the whole vector (mean over {VOTE_PROMPTS} prompts)",
    )
    ax_all.legend(fontsize=8)
    fig.tight_layout()


_VOTES_SLIDERS = {
    "n": _Slider("n (examples)", 1, 100, 1),
    "d": _Slider("d (dimension)", 2, 30, 1),
    "sigma2": _Slider("σ² (label noise)", 0.0, 4.0, 0.05),
    "temperature": _Slider("T (temperature)", -2.0, 1.0, 0.05, log=True),
    "n_votes": _Slider("N (samples, max)", 1, 1000, 1),
}


def votes_panel(**params):
    r"""Sliders for :math:`n`, :math:`d`, :math:`\sigma^2`, the temperature and :math:`N` wired to
    :func:`votes_update`.

    Parameters
    ----------
    **params
        The values to draw first (:data:`VOTES_DEFAULTS` for the others).

    Returns
    -------
    ipywidgets.VBox
        The panel: sliders above, figure below.

    Raises
    ------
    ValueError
        A parameter the panel has no slider for, or a value outside the drawing function's domain.
    """
    return _panel(votes_update, _VOTES_SLIDERS, VOTES_DEFAULTS, params, (11, 4))


# ------------------------------------------------------------------------- the panel


def _slider(spec: _Slider, value) -> widgets.ValueWidget:
    common = {
        "description": spec.label,
        "continuous_update": False,
        "style": {"description_width": "initial"},
    }
    if spec.log:
        return widgets.FloatLogSlider(
            value=value, base=10, min=spec.low, max=spec.high, step=spec.step, **common
        )
    if spec.step == 1 and float(spec.low).is_integer():
        return widgets.IntSlider(value=value, min=spec.low, max=spec.high, **common)
    return widgets.FloatSlider(value=value, min=spec.low, max=spec.high, step=spec.step, **common)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


class _Panel(widgets.VBox):
    """Sliders above the figure they redraw; shown as the figure at its first values where
    widgets cannot be (the static HTML book)."""

    def __init__(self, controls: list[widgets.ValueWidget], output: widgets.Output, png: bytes):
        layout = widgets.Layout(grid_template_columns="repeat(2, 50%)")
        super().__init__([widgets.GridBox(controls, layout=layout), output])
        self._static_png = base64.b64encode(png).decode("ascii")

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["image/png"] = self._static_png
        return bundle


def _panel(
    update: Callable[..., None],
    sliders: dict[str, _Slider],
    defaults: dict,
    params: dict,
    figsize: tuple[float, float],
) -> _Panel:
    unknown = set(params) - set(sliders)
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)}; expected some of {list(sliders)}")
    values = {**defaults, **params}
    first = Figure(figsize=figsize)
    update(first, **values)  # validates the starting values before any widget is made
    controls = {name: _slider(spec, values[name]) for name, spec in sliders.items()}
    output = widgets.Output()

    def redraw(**values):
        fig = Figure(figsize=figsize)
        update(fig, **values)
        with output:
            output.clear_output(wait=True)
            display(Image(data=_png(fig)))

    widgets.interactive_output(redraw, controls)
    return _Panel(list(controls.values()), output, _png(first))
