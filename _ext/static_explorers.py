"""Serve BokehJS from the book's own ``_static`` folder to the pages that hold an explorer.

The chapters' static explorers (:mod:`icl.static_explorers`) are Bokeh figures embedded in the
executed notebooks' HTML output. This extension copies the BokehJS scripts they need from the
installed ``bokeh`` package into ``_static/bokeh/`` and adds them to the pages whose output holds
an explorer (an element of class ``icl-explorer``), and to no other page: the book works offline
and pages without an explorer load nothing more.
"""

from pathlib import Path
from shutil import copy2

import bokeh
from bokeh.resources import Resources
from docutils import nodes

COMPONENTS = ["bokeh", "bokeh-widgets"]


def _scripts() -> list[Path]:
    return [Path(f) for f in Resources(mode="absolute", components=COMPONENTS).js_files]


def _static_name(script: Path) -> str:
    """``bokeh/<name>-<version>.min.js``: a new Bokeh gets new names, so no stale cache."""
    stem = script.name.removesuffix(".min.js")
    return f"bokeh/{stem}-{bokeh.__version__}.min.js"


def add_scripts(app, pagename, templatename, context, doctree):
    if doctree is None:
        return
    if any("icl-explorer" in node.astext() for node in doctree.findall(nodes.raw)):
        for script in _scripts():
            app.add_js_file(_static_name(script))


def copy_scripts(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for script in _scripts():
        target = Path(app.outdir) / "_static" / _static_name(script)
        target.parent.mkdir(parents=True, exist_ok=True)
        copy2(script, target)


def setup(app):
    app.connect("html-page-context", add_scripts)
    app.connect("build-finished", copy_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
