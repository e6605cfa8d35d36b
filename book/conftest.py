"""Collect the jupytext MyST chapters (``book/*.md``) as nbval notebooks.

``pytest --nbval book/`` then runs every code cell of every chapter in a fresh
kernel; a chapter's asserts (and its recorded checks) are its tests. The
chapters store no outputs, so only exceptions fail.
"""

from collections import defaultdict

import jupytext
from nbval.plugin import IPyNbCell, IPyNbFile, find_comment_markers, find_metadata_tags


class JupytextNotebook(IPyNbFile):
    """An nbval notebook read from a jupytext ``.md`` file instead of an ``.ipynb``."""

    def collect(self):
        self.nb = jupytext.read(str(self.fspath))
        code_cells = (cell for cell in self.nb.cells if cell.cell_type == "code")
        for number, cell in enumerate(code_cells):
            options = defaultdict(bool, find_metadata_tags(cell.metadata))
            options.update(dict(find_comment_markers(cell.source)))
            options.setdefault("check", self.compare_outputs)
            yield IPyNbCell.from_parent(
                self, name=f"Cell {number}", cell_num=number, cell=cell, options=options
            )


def pytest_collect_file(file_path, parent):
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and file_path.suffix == ".md" and _is_notebook(file_path):
        return JupytextNotebook.from_parent(parent, path=file_path)
    return None


def _is_notebook(path) -> bool:
    """A chapter declares a kernel in its jupytext front matter; plain pages do not."""
    head = path.read_text(encoding="utf-8")[:2000]
    return head.startswith("---") and "kernelspec:" in head
