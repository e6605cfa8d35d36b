"""Collect the jupytext MyST chapters (``book/*.md``) for nbval.

nbval collects ``.ipynb`` files only. Here a chapter is read with ``jupytext.read`` and each of
its code cells is handed to nbval's own cell item (``nbval.plugin.IPyNbCell``), with the options
nbval reads from the cell's tags and comments, as nbval's ``IPyNbFile.collect`` does for a
notebook file. ``pytest --nbval book/`` then runs every chapter in a fresh kernel; the chapters
store no outputs, so a cell fails only when it raises, and the chapters' asserts are the test.
"""

from collections import defaultdict

import jupytext
from nbval.plugin import IPyNbCell, IPyNbFile, find_comment_markers, find_metadata_tags


class MystChapter(IPyNbFile):
    """nbval's notebook collector, reading the notebook from a jupytext ``.md`` file."""

    def collect(self):
        self.nb = jupytext.read(self.path)
        code = (cell for cell in self.nb.cells if cell.cell_type == "code")
        for number, cell in enumerate(code):
            options = defaultdict(bool, find_metadata_tags(cell.metadata))
            options.update(find_comment_markers(cell.source))
            options.setdefault("check", self.compare_outputs)
            yield IPyNbCell.from_parent(
                self, name=f"Cell {number}", cell_num=number, cell=cell, options=options
            )


def pytest_collect_file(file_path, parent):
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and file_path.suffix == ".md" and _is_notebook(file_path):
        return MystChapter.from_parent(parent, path=file_path)
    return None


def _is_notebook(path) -> bool:
    """A chapter declares a kernel in its jupytext front matter; plain pages do not."""
    head = path.read_text(encoding="utf-8")[:2000]
    return head.startswith("---") and "kernelspec:" in head
