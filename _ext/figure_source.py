"""Link each figure of a chapter to the source of the function that draws it.

A chapter draws a figure in a code cell that calls a function of a drawing module
(``figure_source_modules`` in the configuration, e.g. ``icl.figures``), bound in the chapter by an
import such as ``from icl.figures import ch01 as figures``. Below such a cell's output, when it
holds an image or an interactive explorer (an HTML output with an element of class
``icl-explorer``), this extension adds the line "Drawn by ``icl.figures.ch01.training``
(source)": the name links to the function's entry on the API page, "source" to its code on the
page :mod:`sphinx.ext.viewcode` writes for the module. The drawing function is the cell's call that
ends last (the outermost call of its last statement); a function that the API page does not
document gets no line.

Only builders for which viewcode writes source pages get the line (the HTML book, not the
single-page HTML the PDF is printed from). The cells are read from the page's doctree, so a cell
whose input is removed from the page (tag ``remove-input``) is not seen.
"""

from __future__ import annotations

import ast
import posixpath

from docutils import nodes

EXPLORER_CLASS = "icl-explorer"
SOURCE_PAGES = "_modules"  # where sphinx.ext.viewcode writes each module's highlighted source


def has_source_pages(builder) -> bool:
    """Whether viewcode writes source pages for ``builder``: as its documentation says, the HTML
    builders except the single-page one and (unless ``viewcode_enable_epub``) the epub one."""
    return (
        builder.format == "html"
        and builder.name != "singlehtml"
        and not (builder.name.startswith("epub") and not builder.config.viewcode_enable_epub)
    )


def bindings(source: str, modules: list[str]) -> dict[str, str]:
    """The names a cell's imports bind to drawing modules.

    Parameters
    ----------
    source : str
        The cell's Python source; a cell that does not parse binds nothing.
    modules : list of str
        The drawing modules: a module counts when it is one of them or inside one.

    Returns
    -------
    dict of str to str
        Each bound name and the module it stands for, e.g. ``{"figures": "icl.figures.ch01"}``.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            pairs = [(a.asname or a.name, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            pairs = [(a.asname, a.name) for a in node.names if a.asname]
        else:
            continue
        bound.update(
            (name, module)
            for name, module in pairs
            if any(module == m or module.startswith(f"{m}.") for m in modules)
        )
    return bound


def drawing_call(source: str, bound: dict[str, str]) -> str | None:
    """The function a cell draws with: its call of a bound module's function that ends last.

    Parameters
    ----------
    source : str
        The cell's Python source; a cell that does not parse draws with nothing.
    bound : dict of str to str
        The names bound to drawing modules (:func:`bindings`).

    Returns
    -------
    str or None
        The function's full name, e.g. ``"icl.figures.ch01.training"``; None where the cell calls
        no function of a bound module.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in bound
    ]
    if not calls:
        return None
    last = max(calls, key=lambda call: (call.end_lineno, call.end_col_offset))
    return f"{bound[last.func.value.id]}.{last.func.attr}"


def shows_figure(output: nodes.Element) -> bool:
    """Whether a cell's output holds an image or an explorer's HTML."""
    return next(output.findall(nodes.image), None) is not None or any(
        "html" in raw.get("format", "").split() and EXPLORER_CLASS in raw.astext()
        for raw in output.findall(nodes.raw)
    )


def _nb(element: str):
    """A condition for ``findall``: a MyST-NB container of the given ``nb_element``."""
    return lambda node: isinstance(node, nodes.container) and node.get("nb_element") == element


def _part(cell: nodes.Element, element: str) -> nodes.Element | None:
    return next(cell.findall(_nb(element)), None)


def link_figures(app, doctree, docname):
    """Add the "Drawn by" line below each figure of the page (Sphinx's ``doctree-resolved``)."""
    modules = app.config.figure_source_modules
    if not modules or not has_source_pages(app.builder):
        return
    documented = {
        name: (doc, anchor) for name, _, _, doc, anchor, _ in app.env.get_domain("py").get_objects()
    }
    bound = {}
    for cell in doctree.findall(_nb("cell_code")):
        source, output = _part(cell, "cell_code_source"), _part(cell, "cell_code_output")
        if source is None:
            continue
        bound.update(bindings(source.astext(), modules))
        function = drawing_call(source.astext(), bound)
        if output is None or function is None or function not in documented:
            continue
        if shows_figure(output):
            output += _drawn_by(app, docname, function, *documented[function])


def _drawn_by(app, docname: str, function: str, api_doc: str, anchor: str) -> nodes.paragraph:
    """The line "Drawn by <function> (source)" with its two links."""
    module, name = function.rsplit(".", 1)
    code_page = posixpath.join(SOURCE_PAGES, module.replace(".", "/"))
    uri = app.builder.get_relative_uri
    line = nodes.paragraph("", "Drawn by ", classes=["figure-source"])
    line += nodes.reference(
        "",
        "",
        nodes.literal(function, function),
        refuri=f"{uri(docname, api_doc)}#{anchor}",
        internal=True,
    )
    line += nodes.Text(" (")
    line += nodes.reference(
        "",
        "source",
        refuri=f"{uri(docname, code_page)}#{name}",
        internal=True,
        reftitle=f"The source of {function}",
        classes=["figure-source-link"],
    )
    line += nodes.Text(")")
    return line


def setup(app):
    app.setup_extension("sphinx.ext.viewcode")
    app.add_config_value("figure_source_modules", [], "html", list)
    app.connect("doctree-resolved", link_figures)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
