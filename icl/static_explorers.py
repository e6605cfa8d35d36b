r"""Explorers that move in the static HTML book, with no kernel: the exact curves of
:mod:`icl.theory`, computed on a grid of slider settings when the chapter runs and drawn by
Bokeh in the reader's browser.

Each function builds one chapter's explorer, an :class:`Explorer`: every curve at every setting
of its sliders (the product of the controls' values), rounded to :data:`DIGITS` significant
digits, the precision its hover tool shows. Displayed in a notebook, it is a Bokeh figure with
one slider per control (``bokeh.embed.components``); a slider's callback picks the curves of the
chosen setting from the table the page carries, so moving it needs no server. The page loads
BokehJS from the book's own ``_static`` folder (the book's Sphinx extension ``static_explorers``
copies it there from the ``bokeh`` package), so the explorer works offline; in Jupyter, where
BokehJS is not loaded, the output says so, and :mod:`icl.explorers`' panels give the continuous
range.

The explorers are :func:`one_step` (Chapter 1), :func:`chains` (Chapter 3), :func:`votes`
(Chapter 5) and :func:`hard_and_easy` (Chapter 9).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from bokeh.embed import components
from bokeh.layouts import column, gridplot, row
from bokeh.models import CategoricalSlider, ColumnDataSource, CustomJS, HoverTool
from bokeh.plotting import figure

from icl import explorers, theory

__all__ = [
    "DIGITS",
    "Control",
    "Curve",
    "Explorer",
    "Panel",
    "chains",
    "hard_and_easy",
    "one_step",
    "votes",
]

DIGITS = 4  # significant digits of every stored value: the precision the hover tool shows


@dataclass(frozen=True)
class Control:
    """A slider: the parameter it sets, its label, and the values it steps through.

    Parameters
    ----------
    name : str
        The parameter's name, a keyword of the explorer's curve function.
    label : str
        The slider's title.
    values : tuple of float
        The settings, in slider order.
    default : float
        The setting shown first, one of ``values``.
    """

    name: str
    label: str
    values: tuple[float, ...]
    default: float


@dataclass(frozen=True)
class Panel:
    """One plot of an explorer.

    Parameters
    ----------
    title : str
        The plot's title.
    x_label : str
        The x axis's label.
    y_label : str
        The y axis's label.
    x_log : bool
        Whether the x axis is logarithmic.
    y_log : bool
        Whether the y axis is logarithmic.
    """

    title: str
    x_label: str
    y_label: str
    x_log: bool = False
    y_log: bool = False


@dataclass(frozen=True)
class Curve:
    """One drawn curve.

    Parameters
    ----------
    name : str
        The key of the curve in the curve function's result.
    label : str
        Its legend entry.
    panel : int
        The index of the :class:`Panel` it is drawn in.
    color : str
        Its colour.
    style : str
        ``"line"``, ``"dashed"``, ``"dotted"``, ``"points"`` (a line through markers) or
        ``"marker"`` (markers only).
    """

    name: str
    label: str
    panel: int
    color: str
    style: str = "line"


@dataclass(frozen=True)
class Explorer:
    """The exact curves of a chapter at every setting of its sliders, and their Bokeh figure.

    Parameters
    ----------
    title : str
        What the explorer shows.
    controls : tuple of Control
        The sliders; the settings are the product of their values, the first control varying
        slowest.
    panels : tuple of Panel
        The plots.
    curves : tuple of Curve
        The drawn curves.
    table : dict
        For each curve's name, ``{"x": xs, "y": ys}``: ``ys`` one list of values per setting
        (``None`` where the value is not finite), ``xs`` the same or, where every setting shares
        its abscissae, one list; every value rounded to :data:`DIGITS` significant digits.
    """

    title: str
    controls: tuple[Control, ...]
    panels: tuple[Panel, ...]
    curves: tuple[Curve, ...]
    table: dict

    @property
    def settings(self) -> int:
        """The number of settings: the product of the controls' numbers of values."""
        return int(np.prod([len(c.values) for c in self.controls]))

    def setting_index(self, setting: dict) -> int:
        """The row of ``setting`` (a value of each control, by name) in the table."""
        index = 0
        for control in self.controls:
            index = index * len(control.values) + control.values.index(setting[control.name])
        return index

    def curve_at(self, name: str, setting: dict) -> tuple[list, list]:
        """The stored ``(x, y)`` of curve ``name`` at ``setting``."""
        index, entry = self.setting_index(setting), self.table[name]
        xs = entry["x"][0] if len(entry["x"]) == 1 else entry["x"][index]
        return xs, entry["y"][index]

    def layout(self):
        """The Bokeh layout: the sliders, two to a row, above the panels side by side."""
        default = {c.name: c.default for c in self.controls}
        plots = [_plot(panel) for panel in self.panels]
        sources = {}
        for curve in self.curves:
            xs, ys = self.curve_at(curve.name, default)
            sources[curve.name] = ColumnDataSource({"x": xs, "y": _nan(ys)}, name=curve.name)
            _draw(plots[curve.panel], sources[curve.name], curve)
        for plot in plots:
            legend = plot.legend[0]
            legend.click_policy = "hide"
            legend.label_text_font_size = "8pt"
            legend.ncols = 2
            legend.location = "top_center"
            plot.add_layout(legend, "below")
        sliders = [
            CategoricalSlider(
                title=c.label,
                categories=[_label(v) for v in c.values],
                value=_label(c.default),
                name=c.name,
                sizing_mode="stretch_width",
            )
            for c in self.controls
        ]
        update = CustomJS(
            args={"sliders": sliders, "sources": sources, "table": self.table},
            code=_UPDATE,
        )
        for slider in sliders:
            slider.js_on_change("value", update)
        controls = gridplot(
            [sliders[i : i + 2] for i in range(0, len(sliders), 2)],
            sizing_mode="stretch_width",
            toolbar_location=None,
        )
        return column(
            controls, row(*plots, sizing_mode="stretch_width"), sizing_mode="stretch_width"
        )

    def html(self) -> str:
        """The explorer as HTML: a note for where BokehJS is missing, then the figure."""
        script, div = components(self.layout())
        return (
            f'<div class="icl-explorer" title="{self.title}" style="overflow: hidden">'
            '<p class="icl-explorer-note">This explorer draws in the HTML book, which loads '
            "BokehJS; in Jupyter, the panel below gives the same curves.</p>"
            "<script>if (window.Bokeh) "
            "document.currentScript.previousElementSibling.remove();</script>"
            f"{div}{script}"
            '<p class="icl-explorer-caption" style="font-size: 0.85em">Computed when the chapter '
            f"ran at each of the {self.settings} settings of the sliders, to {DIGITS} significant "
            "digits (hover over a curve to read them).</p></div>"
        )

    def _repr_html_(self) -> str:
        return self.html()


# In the page: the row of the chosen setting (the first control varying slowest), then each
# curve's stored values at that row.
_UPDATE = """
let index = 0;
for (const slider of sliders) {
  index = index * slider.categories.length + slider.categories.indexOf(slider.value);
}
for (const [name, source] of Object.entries(sources)) {
  const entry = table[name];
  const x = entry.x.length === 1 ? entry.x[0] : entry.x[index];
  source.data = {x: x, y: entry.y[index].map(v => v === null ? NaN : v)};
}
"""


def _label(value: float) -> str:
    return f"{value:.4g}"


def _nan(values: list) -> list:
    return [float("nan") if v is None else v for v in values]


def _round(values) -> list:
    """``values`` to :data:`DIGITS` significant digits, ``None`` where not finite."""
    return [float(f"{v:.{DIGITS}g}") if np.isfinite(v) else None for v in np.asarray(values, float)]


def _plot(panel: Panel):
    plot = figure(
        title=panel.title,
        x_axis_label=panel.x_label,
        y_axis_label=panel.y_label,
        x_axis_type="log" if panel.x_log else "linear",
        y_axis_type="log" if panel.y_log else "linear",
        height=360,
        sizing_mode="stretch_width",
        tools="pan,box_zoom,reset,save",
        toolbar_location="above",
    )
    plot.add_tools(
        HoverTool(
            tooltips=[("x", f"@x{{%.{DIGITS}g}}"), ("y", f"@y{{%.{DIGITS}g}}")],
            formatters={"@x": "printf", "@y": "printf"},
        )
    )
    return plot


def _draw(plot, source: ColumnDataSource, curve: Curve) -> None:
    common = {"source": source, "color": curve.color, "legend_label": curve.label}
    if curve.style in ("line", "dashed", "dotted", "points"):
        dash = {"line": "solid", "points": "solid"}.get(curve.style, curve.style)
        plot.line("x", "y", line_width=2, line_dash=dash, **common)
    if curve.style in ("points", "marker"):
        plot.scatter("x", "y", size=6 if curve.style == "points" else 9, **common)


def _explore(
    title: str,
    controls: tuple[Control, ...],
    panels: tuple[Panel, ...],
    curves: tuple[Curve, ...],
    compute: Callable[..., dict],
) -> Explorer:
    """Tabulate ``compute(**setting)`` (each curve's name to its exact ``(x, y)``) at every
    setting. The names of the controls and curves name the page's Bokeh models: they must differ.
    """
    names = [c.name for c in (*controls, *curves)]
    if len(set(names)) < len(names):
        raise ValueError(f"the controls and curves need distinct names, got {names}")
    xs = {c.name: [] for c in curves}
    ys = {c.name: [] for c in curves}
    for values in itertools.product(*(c.values for c in controls)):
        drawn = compute(**{c.name: v for c, v in zip(controls, values)})
        for curve in curves:
            x, y = drawn[curve.name]
            xs[curve.name].append(_round(x))
            ys[curve.name].append(_round(y))
    table = {
        name: {
            "x": xs[name][:1] if all(x == xs[name][0] for x in xs[name]) else xs[name],
            "y": ys[name],
        }
        for name in xs
    }
    return Explorer(title, controls, panels, curves, table)


def _level(x: np.ndarray, value: float) -> tuple[np.ndarray, np.ndarray]:
    """A horizontal line at ``value`` across the abscissae ``x``."""
    return np.array([x[0], x[-1]]), np.array([value, value])


# ---------------------------------------------------------------- Chapter 1: one step of GD

ONE_STEP_MS = tuple(int(m) for m in np.unique(np.geomspace(1, 2000, 25).round()))


def _one_step_curves(n: int, d: int, sigma2: float) -> dict:
    eta_star = theory.optimal_step(n, d, sigma2)
    etas = np.array(_round(np.linspace(0.0, 2 * eta_star, 21)))
    best = theory.optimal_one_step_risk(n, d, sigma2)
    ms = np.array(ONE_STEP_MS)
    return {
        "risk": (etas, [theory.one_step_risk(n, d, sigma2, e) for e in etas]),
        "optimum": ([eta_star], [best]),
        "prior": _level(etas, d),
        "optimal": (ms, [theory.optimal_one_step_risk(int(m), d, sigma2) for m in ms]),
        "fixed": (ms, [theory.one_step_risk(int(m), d, sigma2, eta_star) for m in ms]),
        "chosen": ([n], [best]),
    }


def one_step() -> Explorer:
    r"""Chapter 1's explorer: the exact risk of one GD step, against the step and against
    :math:`n`.

    Returns
    -------
    Explorer
        Sliders for :math:`n`, :math:`d` and :math:`\sigma^2` (:math:`\psi^2 = 1`); 240 settings.

    Notes
    -----
    Left: :math:`R(\eta I) = d [1 - 2\eta + \eta^2 (n + d + 1 + \sigma^2) / n]`
    (:func:`icl.theory.one_step_risk`) at 21 steps :math:`\eta \in [0, 2\eta^*]`, the optimum
    :math:`\eta^* = n / (n + d + 1 + \sigma^2)` (:func:`icl.theory.optimal_step`) and the prior's
    risk :math:`d`. Right, against :math:`m` = :data:`ONE_STEP_MS`: the optimal risk
    :math:`R(\eta^*(m) I) = d (d + 1 + \sigma^2) / (m + d + 1 + \sigma^2)`
    (:func:`icl.theory.optimal_one_step_risk`) and the risk of the step tuned for :math:`n`.
    """
    return _explore(
        "one step of GD: the risk against the step and against the prompt's length",
        (
            Control("n", "n (examples)", (1, 2, 5, 10, 20, 50, 100, 200), 20),
            Control("d", "d (dimension)", (1, 2, 5, 10, 20, 50), 10),
            Control("sigma2", "σ² (label noise)", (0.0, 0.5, 1.0, 2.0, 4.0), 0.5),
        ),
        (
            Panel("risk against the step", "step η", "risk E‖ŵ − w‖²"),
            Panel(
                "risk against the prompt's length",
                "number of examples m",
                "risk E‖ŵ − w‖²",
                x_log=True,
                y_log=True,
            ),
        ),
        (
            Curve("risk", "R(ηI)", 0, "#1f77b4"),
            Curve("optimum", "η*", 0, "#d62728", "marker"),
            Curve("prior", "prior, η = 0: d", 0, "black", "dotted"),
            Curve("optimal", "optimal step η*(m)", 1, "#1f77b4"),
            Curve("fixed", "step fixed at η*(n)", 1, "#ff7f0e", "dashed"),
            Curve("chosen", "m = n", 1, "#d62728", "marker"),
        ),
        _one_step_curves,
    )


# ------------------------------------------------------ Chapter 3: averages of noisy chains

CHAINS_SETTING = {"n": 12, "d": 10, "eta": 0.0625, "steps": 480}
CHAINS_TIMES = tuple(range(0, 481, 16))
CHAINS_DELTA2 = (0.001, 0.003, 0.01, 0.03, 1 / 12, 0.3, 1.0)  # the slider's noise levels


@lru_cache(maxsize=1)
def _chain_designs() -> tuple[np.ndarray, np.ndarray]:
    r"""The Jupyter panel's designs and their spectra (:func:`icl.explorers._chain_designs`), kept
    where :math:`\eta (s_{\max} + \delta^2) \le 2` at the largest :math:`\delta^2` of the
    sliders (:data:`CHAINS_DELTA2`), the typical-design cut."""
    n, d, eta = CHAINS_SETTING["n"], CHAINS_SETTING["d"], CHAINS_SETTING["eta"]
    s = explorers._chain_spectra(n, d)
    kept = eta * (s[:, -1] + max(CHAINS_DELTA2)) <= explorers.CHAINS_CUT
    return explorers._chain_designs(n, d)[kept], s[kept]


@lru_cache(maxsize=64)
def _chain_terms(sigma2: float, delta2: float) -> tuple[np.ndarray, np.ndarray]:
    X, _ = _chain_designs()
    terms = theory.conditional_chain_terms(
        X, sigma2, CHAINS_SETTING["eta"], delta2**0.5, CHAINS_SETTING["steps"]
    )
    times = list(CHAINS_TIMES)
    return terms.bias2[:, times].mean(0), terms.trace[:, times].mean(0)


@lru_cache(maxsize=8)
def _greedy_chain(sigma2: float) -> np.ndarray:
    _, s = _chain_designs()
    spectrum = torch.from_numpy(s)
    n, eta = CHAINS_SETTING["n"], CHAINS_SETTING["eta"]
    return np.array(
        [
            float(
                theory.gd_risk_given_spectrum(spectrum, n, eta=eta, steps=t, sigma2=sigma2).mean()
            )
            for t in CHAINS_TIMES
        ]
    )


def _bayes_chain_risk(sigma2: float) -> float:
    """The mean over the kept designs of the ridge risk at :math:`\\lambda^* = \\sigma^2 / n`:
    :func:`icl.theory.gd_risk_given_spectrum` with ``steps=None``; at :math:`\\sigma^2 = 0` (every
    eigenvalue positive, :math:`n > d`) its limit 0."""
    _, s = _chain_designs()
    if sigma2 == 0:
        return 0.0
    lam = sigma2 / CHAINS_SETTING["n"]
    risk = theory.gd_risk_given_spectrum(
        torch.from_numpy(s), CHAINS_SETTING["n"], eta=1.0, steps=None, sigma2=sigma2, lam=lam
    )
    return float(risk.mean())


def _chains_curves(sigma2: float, delta2: float, n_chains: int) -> dict:
    bias2, trace = _chain_terms(sigma2, delta2)
    t = np.array(CHAINS_TIMES)
    return {
        "greedy": (t, _greedy_chain(sigma2)),
        "one": (t, bias2 + trace),
        "average": (t, bias2 + trace / n_chains),
        "limit": (t, bias2),
        "bayes": _level(t, _bayes_chain_risk(sigma2)),
    }


def chains() -> Explorer:
    r"""Chapter 3's explorer: the exact risk of the average of :math:`N` multiplicative-noise
    chains along the chain.

    Returns
    -------
    Explorer
        Sliders for :math:`\sigma^2`, :math:`\delta^2` and :math:`N`, at :math:`n = 12`,
        :math:`d = 10`, :math:`\eta = 0.0625` (:data:`CHAINS_SETTING`); 140 settings.

    Notes
    -----
    At :math:`t` = :data:`CHAINS_TIMES`, averaged over the designs of
    :data:`icl.explorers.CHAIN_PROMPTS` drawn with seed 0 (those with
    :math:`\eta (s_{\max} + 1) \le 2`, all but a few): :math:`b_t(X) + v_t(X) / N` for
    :math:`N = 1` and the slider's :math:`N`, and :math:`b_t(X)` (:math:`N \to \infty`, the
    ridge-GD iterate), from :func:`icl.theory.conditional_chain_terms` (level
    :math:`\delta = \sqrt{\delta^2}`); the greedy chain's risk
    (:func:`icl.theory.gd_risk_given_spectrum`); and the Bayes risk, ridge at
    :math:`\lambda^* = \sigma^2 / n`.
    """
    return _explore(
        "averages of N noisy chains: the risk along the chain",
        (
            Control("sigma2", "σ² (label noise)", (0.0, 0.25, 1.0, 4.0), 1.0),
            Control("delta2", "δ² (noise level)", CHAINS_DELTA2, 1 / 12),
            Control("n_chains", "N (chains averaged)", (1, 3, 10, 100, 1000), 10),
        ),
        (Panel("n = 12, d = 10, η = 0.0625", "thought t (GD steps)", "risk E‖w̄_N − w‖²"),),
        (
            Curve("greedy", "greedy chain", 0, "#1f77b4"),
            Curve("one", "one noisy chain, N = 1", 0, "#d62728"),
            Curve("average", "average of N chains", 0, "#d62728", "dashed"),
            Curve("limit", "N → ∞ (ridge-GD iterate)", 0, "#d62728", "dotted"),
            Curve("bayes", "Bayes: ridge at λ* = σ²/n", 0, "black", "dashed"),
        ),
        _chains_curves,
    )


# ------------------------------------------------- Chapter 5: majority vote and pass@N

VOTES_SETTING = {"d": 10, "n_votes": 1000}


def _votes_curves(n: int, sigma2: float, temperature: float) -> dict:
    drawn = explorers._vote_curves(n, VOTES_SETTING["d"], sigma2, temperature, 1000)
    grid = drawn["N"]
    return {
        "vote_one": (grid, drawn["vote_one"]),
        "sample_one": _level(grid, drawn["sample_one"]),
        "greedy_one": _level(grid, drawn["greedy_one"]),
        "pass_all": (grid, drawn["pass_all"]),
        "vote_all": (grid, drawn["vote_all"]),
        "sample_all": _level(grid, drawn["sample_all"]),
        "greedy_all": _level(grid, drawn["greedy_all"]),
    }


def votes() -> Explorer:
    r"""Chapter 5's explorer: the exact accuracies of :math:`N` samples at temperature :math:`T`.

    Returns
    -------
    Explorer
        Sliders for :math:`n`, :math:`\sigma^2` and :math:`T`, at :math:`d = 10`, :math:`N` up to
        1000 (:data:`VOTES_SETTING`); 80 settings.

    Notes
    -----
    The curves of :func:`icl.explorers.votes_update` (its Notes say what each is), against
    :math:`N = 1, \dots, 1000`: one coefficient's majority vote, one sample and greedy decoding;
    the whole vector's coordinate-wise vote, pass@N with a perfect verifier, one sample and
    greedy decoding.
    """
    return _explore(
        "majority vote and pass@N of samples at a temperature",
        (
            Control("n", "n (examples)", (5, 10, 20, 50), 20),
            Control("sigma2", "σ² (label noise)", (0.0, 0.25, 1.0, 4.0), 0.25),
            Control("temperature", "T (temperature)", (0.03, 0.1, 0.3, 1.0, 3.0), 1.0),
        ),
        (
            Panel("one coefficient", "samples N", "P(coefficient right)", x_log=True),
            Panel("the whole vector (d = 10)", "samples N", "P(whole vector right)", x_log=True),
        ),
        (
            Curve("vote_one", "majority vote of N", 0, "#ff7f0e", "points"),
            Curve("sample_one", "one sample", 0, "#1f77b4", "dashed"),
            Curve("greedy_one", "greedy", 0, "black", "dotted"),
            Curve("pass_all", "pass@N (perfect verifier)", 1, "#2ca02c", "points"),
            Curve("vote_all", "coordinate-wise vote of N", 1, "#ff7f0e", "points"),
            Curve("sample_all", "one sample", 1, "#1f77b4", "dashed"),
            Curve("greedy_all", "greedy", 1, "black", "dotted"),
        ),
        _votes_curves,
    )


# ------------------------------------------------- Chapter 9: votes over easy and hard prompts

HARD_AND_EASY_N = (1, 3, 5, 7, 9, 11, 15, 21, 31, 51, 71, 101, 151, 201)


def _hard_and_easy_curves(easy: float, p_easy: float, p_hard: float) -> dict:
    N = np.array(HARD_AND_EASY_N)
    p, weights = np.array([p_easy, p_hard]), np.array([easy, 1 - easy])
    mixture = theory.mixture_vote_accuracy(p, weights, N)
    best = int(np.argmax(mixture))
    return {
        "mixture": (N, mixture),
        "easy_kind": (N, theory.mixture_vote_accuracy(p[:1], np.ones(1), N)),
        "hard_kind": (N, theory.mixture_vote_accuracy(p[1:], np.ones(1), N)),
        "one": _level(N, float(weights @ p)),
        "best": ([N[best]], [mixture[best]]),
    }


def hard_and_easy() -> Explorer:
    r"""Chapter 9's explorer: the majority vote of :math:`N` samples over a mixture of easy and
    hard prompts.

    Returns
    -------
    Explorer
        Sliders for the share of easy prompts and the probabilities :math:`p` that one vote is
        right on an easy and on a hard prompt; 275 settings.

    Notes
    -----
    Against odd :math:`N` = :data:`HARD_AND_EASY_N`: the mixture's accuracy
    :math:`A(N) = w A_N(p_{\text{easy}}) + (1 - w) A_N(p_{\text{hard}})`
    (:func:`icl.theory.mixture_vote_accuracy`), with its largest value on the grid marked; each
    kind's :math:`A_N(p)` (:func:`icl.theory.majority_vote_accuracy`); and one vote,
    :math:`w p_{\text{easy}} + (1 - w) p_{\text{hard}}`.
    """
    return _explore(
        "majority votes over easy and hard prompts",
        (
            Control(
                "easy", "share of easy prompts", tuple(np.round(np.linspace(0, 1, 11), 1)), 0.6
            ),
            Control("p_easy", "p, easy prompt", (0.55, 0.65, 0.75, 0.85, 0.95), 0.85),
            Control("p_hard", "p, hard prompt", (0.05, 0.15, 0.25, 0.35, 0.45), 0.35),
        ),
        (Panel("accuracy of the majority of N votes", "votes N", "P(majority right)", x_log=True),),
        (
            Curve("mixture", "the mixture", 0, "#ff7f0e", "points"),
            Curve("best", "best N on the grid", 0, "#d62728", "marker"),
            Curve("easy_kind", "easy prompts", 0, "#2ca02c", "dashed"),
            Curve("hard_kind", "hard prompts", 0, "#9467bd", "dashed"),
            Curve("one", "one vote", 0, "#1f77b4", "dotted"),
        ),
        _hard_and_easy_curves,
    )
