"""Show the plain-text docstrings of ``icl`` safely in the API reference.

The docstrings are plain text with ASCII formulas (``||w||^2``, ``x*y``, ``|z|``), which reST would
misread (``|w|`` is a substitution reference, ``*x*`` emphasis) and the book builds with ``-W``. For
every object of ``icl`` documented by autodoc this extension keeps the docstring's first paragraph
as text, with reST's special characters escaped outside ````literals```` and ``:roles:`...```, and
puts the rest in a literal block, so the formulas show as written.
"""

import re
from pathlib import Path

_KEEP = re.compile(r"(``.+?``|:[a-z]+:`[^`]+`)")
_SPECIAL = re.compile(r"([\\*|_`])")


def escape(text: str) -> str:
    """``text`` with reST's inline markup characters escaped outside literals and roles."""
    parts = _KEEP.split(text)
    return "".join(part if i % 2 else _SPECIAL.sub(r"\\\1", part) for i, part in enumerate(parts))


def as_summary_and_literal(lines: list[str]) -> list[str]:
    """The first paragraph as one escaped line, then the rest of the docstring, literally."""
    end = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    summary = " ".join(line.strip() for line in lines[:end])
    rest = lines[end:]
    while rest and not rest[0].strip():
        rest.pop(0)
    while rest and not rest[-1].strip():
        rest.pop()
    out = [escape(summary)] if summary else []
    if rest:
        out += ["", "::", ""] + [f"    {line}" if line.strip() else "" for line in rest]
    return out


def literal_docstring(app, what, name, obj, options, lines):
    if name == "icl" or name.startswith("icl."):
        lines[:] = as_summary_and_literal(lines)


def add_static_folder(app, config):
    config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app):
    app.connect("autodoc-process-docstring", literal_docstring)
    app.connect("config-inited", add_static_folder)
    app.add_css_file("api.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
