"""What nbval keeps of a chapter (``book/conftest.py`` with ``$ICL_NBVAL_NOTEBOOKS``) is the
notebook that the build's own execution makes (nbclient, as in jupyter-cache): the same outputs,
printed, displayed, returned, written to stderr or sent to an output widget and cleared there,
the same language metadata, and the chapter's records with the run's settings; a chapter with a
failing cell is not kept."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from icl import runtime

pytest.importorskip("nbval")
pytest.importorskip("ipywidgets")

BOOK = Path(__file__).resolve().parents[1] / "book"
# the first cell records a measurement where icl.harness.claims.measure would (without importing
# torch), its keys in an order that sorting would change
MEASURED = '[{"measure_id": "ch99.m", "params": {"n": 2, "d": 1}}]'
CELLS = [
    "import os, pathlib\n\nfolder = pathlib.Path(os.environ['ICL_CLAIMS_DIR']).parent\n"
    "(folder / 'measurements').mkdir(parents=True)\n"
    f"(folder / 'measurements' / 'ch99.json').write_text({MEASURED!r})",
    "import sys\n\nprint('to stdout')\nprint('to stderr', file=sys.stderr)",
    "from IPython.display import Math, display\n\ndisplay(Math(r'x^2'))\n6 * 7",
    "import ipywidgets as widgets\nfrom IPython.display import clear_output\n\n"
    "panel = widgets.Output()\nwith panel:\n    print('cleared')\n    clear_output()\n"
    "    print('kept in the widget')\npanel",
]


def _chapter(folder: Path, name: str, cells: list[str]) -> Path:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python"}
    notebook.metadata["kernelspec"]["name"] = "python3"
    path = folder / f"{name}.md"
    jupytext.write(notebook, path, fmt="md:myst")
    return path


def _outputs(notebook) -> list:
    """Each code cell's execution count and outputs, the widgets' random model ids left out."""
    cells = []
    for cell in notebook.cells:
        outputs = json.loads(json.dumps(cell.outputs))
        for output in outputs:
            output.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
        cells.append((cell.execution_count, outputs))
    return cells


# The build's execution of a page, in a process of its own as in the build's pool (inside a
# long-lived test worker it once waited for its 300 s timeout on a kernel message).
BUILD = """import sys, jupytext, nbformat
from jupyter_cache.executors.utils import single_nb_execution
notebook = jupytext.read(sys.argv[1])
result = single_nb_execution(notebook, cwd=sys.argv[2], timeout=120, allow_errors=False)
assert result.err is None, result.exc_string
nbformat.write(notebook, sys.argv[3])
"""


def test_the_kept_notebook_is_the_one_the_build_makes(tmp_path):
    page = _chapter(tmp_path, "ch99_kept", CELLS)
    _chapter(tmp_path, "ch98_failing", ["print('runs')", "1 / 0"])
    shutil.copy(BOOK / "conftest.py", tmp_path)
    stage, records = tmp_path / "stage", tmp_path / "claims"
    env = {**os.environ, "ICL_NBVAL_NOTEBOOKS": str(stage), "ICL_CLAIMS_DIR": str(records)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-q"]
        + ["-p", "no:cacheprovider", "-p", "no:xdist", "ch99_kept.md", "ch98_failing.md"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "1 failed, 5 passed" in run.stdout, run.stdout + run.stderr
    assert sorted(p.name for p in stage.glob("*.ipynb")) == ["ch99_kept.ipynb"]

    kept = nbformat.read(stage / "ch99_kept.ipynb", as_version=4)
    meta = kept.metadata.pop("icl_nbval")
    executed = tmp_path / "built.ipynb"
    run = subprocess.run(
        [sys.executable, "-c", BUILD, str(page), str(tmp_path), str(executed)],
        env={**os.environ, "ICL_CLAIMS_DIR": str(tmp_path / "built" / "claims")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    built = nbformat.read(executed, as_version=4)
    assert _outputs(kept) == _outputs(built)
    assert kept.metadata["language_info"] == built.metadata["language_info"]
    state = "application/vnd.jupyter.widget-state+json"
    assert len(kept.metadata["widgets"][state]["state"]) == len(
        built.metadata["widgets"][state]["state"]
    )
    widget_texts = [
        output["text"]
        for model in kept.metadata["widgets"][state]["state"].values()
        for output in model["state"].get("outputs", [])
    ]
    assert widget_texts == ["kept in the widget\n"]
    assert meta["chapter"] == "ch99" and meta["settings"] == runtime.settings()
    assert meta["seconds"] > 0
    assert (stage / "measurements" / "ch99.json").read_text() == MEASURED  # as written
    assert not (stage / "claims").exists()  # the chapter wrote none
