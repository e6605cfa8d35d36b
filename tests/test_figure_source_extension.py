"""The book's ``figure_source`` extension: which cells draw a figure, and with which function."""

from docutils import nodes

from _ext.figure_source import bindings, drawing_call, shows_figure

MODULES = ["icl.figures", "icl.static_explorers"]
IMPORTS = """
import numpy as np
from icl import runtime, static_explorers
from icl.experiments import ch04 as experiments
from icl.figures import ch04 as figures
import icl.figures.ch05 as other
"""


def test_imports_bind_names_to_drawing_modules_only():
    assert bindings(IMPORTS, MODULES) == {
        "static_explorers": "icl.static_explorers",
        "figures": "icl.figures.ch04",
        "other": "icl.figures.ch05",
    }
    assert bindings("%matplotlib inline", MODULES) == {}


def test_the_drawing_function_is_the_call_that_ends_last():
    bound = bindings(IMPORTS, MODULES)
    cell = """
titles = figures.hurt_titles(low, high)
result = experiments.run(figures.scale(3))
fig = figures.more_samples_hurt(figures.limits(result), titles)
plt.show()
"""
    assert drawing_call(cell, bound) == "icl.figures.ch04.more_samples_hurt"
    assert drawing_call("static_explorers.votes()", bound) == "icl.static_explorers.votes"
    assert drawing_call("experiments.run(3)", bound) is None
    assert drawing_call("figures.training(", bound) is None


def test_a_figure_is_an_image_or_an_explorer():
    image, explorer, text = (nodes.container() for _ in range(3))
    image += nodes.image(uri="figure.png")
    explorer += nodes.raw("", '<div class="icl-explorer"></div>', format="html")
    text += nodes.literal_block("", "<div class='icl-explorer'>")
    assert shows_figure(image) and shows_figure(explorer)
    assert not shows_figure(text)
