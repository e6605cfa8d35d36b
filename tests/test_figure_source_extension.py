"""The book's ``figure_source`` extension: which cells draw a figure, with which function, and
the links a small book built with it gets."""

import re
from pathlib import Path

import nbformat
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import docutils_namespace

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


PNG = (  # one pixel
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5Er"
    "kJggg=="
)
DRAWING = '''
def plot():
    """A figure."""


def explorer():
    """An explorer."""
'''


def _notebook() -> nbformat.NotebookNode:
    """A notebook whose cells draw an image, an explorer and a text output with the drawing
    module's functions, and an image with a function of another module."""
    cell = nbformat.v4.new_code_cell
    image = nbformat.v4.new_output("display_data", {"image/png": PNG, "text/plain": "<Figure>"})
    html = nbformat.v4.new_output("display_data", {"text/html": '<div class="icl-explorer"></div>'})
    text = nbformat.v4.new_output("execute_result", {"text/plain": "1"}, execution_count=1)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3"}
    notebook.metadata.language_info = {"name": "python"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Chapter"),
        cell("import numpy as np\nfrom demo_figures import drawing as figures"),
        cell("fig = figures.plot()", outputs=[image]),
        cell("figures.explorer()", outputs=[html]),
        cell("figures.plot()", outputs=[text]),
        cell("np.zeros(1)", outputs=[image]),
    ]
    return notebook


def _build(tmp_path, builder: str) -> Path:
    """Build a small book with the extension, warnings as errors: the notebook above and an API
    page documenting the drawing module (importable from ``tmp_path``). Returns the output
    folder."""
    package, source = tmp_path / "demo_figures", tmp_path / "book"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "drawing.py").write_text(DRAWING)
    source.mkdir(exist_ok=True)
    (source / "conf.py").write_text(
        'extensions = ["myst_nb", "sphinx.ext.autodoc", "_ext.figure_source"]\n'
        'nb_execution_mode = "off"\n'
        'figure_source_modules = ["demo_figures"]\n'
    )
    (source / "index.rst").write_text(".. toctree::\n\n   chapter\n   api\n")
    (source / "api.rst").write_text(
        "API\n===\n\n.. automodule:: demo_figures.drawing\n   :members:\n"
    )
    nbformat.write(_notebook(), source / "chapter.ipynb")
    out = tmp_path / "out" / builder
    with docutils_namespace():
        app = Sphinx(
            source,
            source,
            out,
            tmp_path / "out" / "doctrees",
            builder,
            status=None,
            warningiserror=True,
        )
        app.build()
    return out


def test_a_book_links_its_figures_and_explorers_to_their_source(tmp_path, monkeypatch):
    """The image and the explorer get their line, with links to the API entry and the source page;
    the text output and the image drawn by another module get none; the single page gets none."""
    monkeypatch.syspath_prepend(str(tmp_path))
    out = _build(tmp_path, "html")
    page = (out / "chapter.html").read_text()
    links = re.findall(r'<p class="figure-source">.*?</p>', page, re.S)
    assert len(links) == 2
    for link, name in zip(links, ["plot", "explorer"]):
        assert f'href="api.html#demo_figures.drawing.{name}"' in link
        assert f'href="_modules/demo_figures/drawing.html#{name}"' in link
        assert f"demo_figures.drawing.{name}</span></code>" in link
    code = (out / "_modules" / "demo_figures" / "drawing.html").read_text()
    assert '<div class="viewcode-block" id="explorer">' in code
    single = (_build(tmp_path, "singlehtml") / "index.html").read_text()
    assert 'class="icl-explorer"' in single and "figure-source" not in single
