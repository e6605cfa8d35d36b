"""Collect the jupytext MyST chapters (``book/*.md``) as nbval notebooks.

``pytest --nbval book/`` then runs every code cell of every chapter in a fresh
kernel; a chapter's asserts (and its recorded checks) are its tests. The
chapters store no outputs, so only exceptions fail.

Where ``$ICL_NBVAL_NOTEBOOKS`` names a folder, each chapter whose every cell
passed is also written there as an executed notebook, ``<name>.ipynb``, so that
the book's build can take it instead of executing the chapter again
(``_ext/parallel_execution.py``). Its outputs are made from the kernel's
messages by the same code that makes them when the build executes a chapter
(``nbclient``: widgets' outputs, cleared outputs and display updates included);
its metadata ``icl_nbval`` holds the chapter's name (``ch04`` for
``ch04_best_of_n.md``), the settings it ran with (``icl.runtime.settings``)
and its execution seconds; the chapter's records, as it wrote them
(``icl.harness.claims``), go beside it: ``claims/<name>.json`` and
``measurements/<name>.json``.
"""

import copy
import os
import shutil
import time
from collections import defaultdict
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete
from nbval.plugin import IPyNbCell, IPyNbFile, find_comment_markers, find_metadata_tags

STAGE_ENV = "ICL_NBVAL_NOTEBOOKS"


class JupytextNotebook(IPyNbFile):
    """An nbval notebook read from a jupytext ``.md`` file instead of an ``.ipynb``; with
    ``$ICL_NBVAL_NOTEBOOKS`` set, it also keeps the executed notebook."""

    stage = None  # the folder it keeps the executed notebook in, if any (set up with the kernel)

    def collect(self):
        self.nb = jupytext.read(str(self.fspath))
        code_cells = (cell for cell in self.nb.cells if cell.cell_type == "code")
        for number, cell in enumerate(code_cells):
            options = defaultdict(bool, find_metadata_tags(cell.metadata))
            options.update(dict(find_comment_markers(cell.source)))
            options.setdefault("check", self.compare_outputs)
            yield RecordedCell.from_parent(
                self, name=f"Cell {number}", cell_num=number, cell=cell, options=options
            )

    def setup(self):
        super().setup()
        self.stage = os.environ.get(STAGE_ENV)
        if not self.stage:
            return
        self.messages, self.passed, self.seconds = [], set(), 0.0
        self.executed = copy.deepcopy(self.nb)
        self.code_cells = [
            (i, c) for i, c in enumerate(self.executed.cells) if c.cell_type == "code"
        ]
        for _, cell in self.code_cells:
            cell.outputs, cell.execution_count = [], None
        info = self.kernel.kc.kernel_info(reply=True, timeout=60)["content"]
        if "language_info" in info:
            self.executed.metadata["language_info"] = info["language_info"]
        self.client = NotebookClient(self.executed, km=self.kernel.km, record_timing=False)
        self.client.kc = self.kernel.kc  # an output widget's state is synced as nbclient does

    def get_kernel_message(self, timeout=None, stream="iopub"):
        message = super().get_kernel_message(timeout=timeout, stream=stream)
        if self.stage and stream == "iopub":
            self.messages.append(message)
        return message

    def record(self, cell_num: int, seconds: float) -> None:
        """Turn the messages of code cell ``cell_num``'s execution into its outputs, as nbclient
        does, numbering the executions 1, 2, ... as a notebook's kernel does."""
        index, cell = self.code_cells[cell_num]
        messages, self.messages = self.messages, []
        parent = next(
            m["parent_header"]["msg_id"] for m in messages if m["msg_type"] == "execute_input"
        )
        cell.outputs, self.client.clear_before_next_output = [], False  # as nbclient, per cell
        for message in messages:
            if message["parent_header"].get("msg_id") != parent:
                continue
            try:
                self.client.process_message(message, cell, index)
            except CellExecutionComplete:
                break
        cell.execution_count = len(self.passed) + 1
        for output in cell.outputs:
            if output.output_type == "execute_result":
                output.execution_count = cell.execution_count
        self.passed.add(cell_num)
        self.seconds += seconds

    def teardown(self):
        if self.stage and len(self.passed) == len(self.code_cells):
            self._write()
        super().teardown()

    def _write(self) -> None:
        from icl import runtime
        from icl.harness import claims

        self.client.set_widgets_metadata()
        chapter = Path(self.fspath).stem.split("_")[0]
        folder = Path(self.stage)
        for kind, source in claims.record_files(chapter).items():
            if source.is_file():
                (folder / kind).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, folder / kind / source.name)
        self.executed.metadata["icl_nbval"] = {
            "chapter": chapter,
            "settings": runtime.settings(),
            "seconds": self.seconds,
        }
        target = folder / f"{Path(self.fspath).stem}.ipynb"
        partial = target.with_suffix(".partial")
        nbformat.write(self.executed, partial)
        partial.replace(target)


class RecordedCell(IPyNbCell):
    """An nbval cell whose outputs its notebook keeps when it passes."""

    def runtest(self):
        start = time.perf_counter()
        super().runtest()
        if self.parent.stage:
            self.parent.record(self.cell_num, time.perf_counter() - start)


def pytest_collect_file(file_path, parent):
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and file_path.suffix == ".md" and _is_notebook(file_path):
        return JupytextNotebook.from_parent(parent, path=file_path)
    return None


def _is_notebook(path) -> bool:
    """A chapter declares a kernel in its jupytext front matter; plain pages do not."""
    head = path.read_text(encoding="utf-8")[:2000]
    return head.startswith("---") and "kernelspec:" in head
