"""The build's parallel execution (``_ext/parallel_execution.py``): the notebooks it stores are
the ones MyST-NB then finds in the cache, a failing notebook is left to MyST-NB, pages in another
execution mode are not touched, and a chapter that nbval executed with the same code and settings
is taken from that run with its records, not executed again."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from icl import runtime
from icl.harness import claims

pytest.importorskip("myst_nb")
from jupyter_cache import get_cache  # noqa: E402
from myst_nb.core.config import NbParserConfig  # noqa: E402
from myst_nb.core.read import create_nb_reader  # noqa: E402
from myst_parser.config.main import MdParserConfig  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "_ext"))
import parallel_execution  # noqa: E402

FRONT = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
{extra}---

# A page
"""


def _page(folder: Path, name: str, code: str, extra: str = "") -> Path:
    path = folder / f"{name}.md"
    path.write_text(FRONT.format(extra=extra) + f"\n```{{code-cell}} ipython3\n{code}\n```\n")
    return path


def _environment(folder: Path, cache: Path):
    md_config = MdParserConfig()
    nb_config = NbParserConfig(execution_mode="cache", execution_cache_path=str(cache))
    env = SimpleNamespace(
        myst_config=md_config,
        mystnb_config=nb_config,
        doc2path=lambda docname: str(folder / f"{docname}.md"),
    )
    app = SimpleNamespace(config=SimpleNamespace(nb_execution_jobs=2))
    return app, env, md_config, nb_config


def _as_myst_nb_reads(path: Path, md_config, nb_config):
    text = path.read_text()
    return create_nb_reader(str(path), md_config, nb_config, text).read(text)


def test_executed_notebooks_are_found_by_myst_nb_and_failures_are_left_to_it(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "4")  # the pool's kernels run on one thread whatever this
    cache_dir = tmp_path / "_build" / ".jupyter_cache"
    pages = {
        "one": _page(tmp_path, "one", "import os\nprint('one', os.environ['OMP_NUM_THREADS'])"),
        "two": _page(tmp_path, "two", "print(6 * 7)"),
        "bad": _page(tmp_path, "bad", "raise ZeroDivisionError('bad cell')"),
        "forced": _page(
            tmp_path, "forced", "print('forced')", "mystnb:\n  execution_mode: force\n"
        ),
    }
    app, env, md_config, nb_config = _environment(tmp_path, cache_dir)
    parallel_execution.execute_stale_notebooks(app, env, list(pages))
    cache = get_cache(str(cache_dir))
    found = {}
    for name in ("one", "two"):
        record = cache.match_cache_notebook(_as_myst_nb_reads(pages[name], md_config, nb_config))
        found[name] = cache.get_cache_bundle(record.pk).nb.cells  # the cache keeps code cells
        assert record.data["execution_seconds"] > 0
    outputs = {name: cells[0].outputs[0]["text"] for name, cells in found.items()}
    assert outputs == {"one": "one 1\n", "two": "42\n"}  # each kernel on one thread
    for name in ("bad", "forced"):
        with pytest.raises(KeyError):
            cache.match_cache_notebook(_as_myst_nb_reads(pages[name], md_config, nb_config))
    times = (cache_dir.parent / parallel_execution.TIMES_FILE).read_text()
    assert str(pages["one"]) in times and str(pages["bad"]) not in times


def test_nothing_runs_outside_cache_mode_or_on_one_job(tmp_path, monkeypatch):
    pages = [_page(tmp_path, name, "print(1)").stem for name in ("one", "two")]
    app, env, *_ = _environment(tmp_path, tmp_path / "cache")
    monkeypatch.delenv(parallel_execution.STAGE_ENV, raising=False)
    monkeypatch.setattr(
        parallel_execution, "_execute_in_pool", lambda *a: pytest.fail("executed in a pool")
    )
    app.config.nb_execution_jobs = 1
    parallel_execution.execute_stale_notebooks(app, env, pages)
    monkeypatch.setattr(
        parallel_execution, "_stale_notebooks", lambda *a: pytest.fail("looked for notebooks")
    )
    app.config.nb_execution_jobs = 2
    env.mystnb_config = env.mystnb_config.copy(execution_mode="force")
    parallel_execution.execute_stale_notebooks(app, env, pages)


def _as_run_by_nbval(
    page: Path, folder: Path, settings: dict, chapter: str, name: str = ""
) -> None:
    """What book/conftest.py keeps of a chapter that passed (as ``name``, else the page's name):
    the notebook with its output (here the line "from nbval") and, in its metadata, the run's
    settings and time; beside it the chapter's records."""
    notebook = _as_myst_nb_reads(page, MdParserConfig(), NbParserConfig())
    notebook.cells[-1].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="from nbval\n")
    ]
    notebook.metadata["icl_nbval"] = {"chapter": chapter, "settings": settings, "seconds": 2.5}
    for kind, text in (("claims", RECORDS), ("measurements", "[]\n")):
        (folder / kind).mkdir(parents=True, exist_ok=True)
        (folder / kind / f"{chapter}.json").write_text(text)
    nbformat.write(notebook, folder / f"{name or page.stem}.ipynb")


RECORDS = '[\n {\n  "claim_id": "kept",\n  "params": {"n": 20, "d": 10}\n }\n]\n'  # key order kept


def test_a_chapter_that_nbval_ran_is_taken_with_its_records(tmp_path, monkeypatch):
    stage, records = tmp_path / "stage", tmp_path / "claims"
    monkeypatch.setenv(parallel_execution.STAGE_ENV, str(stage))
    monkeypatch.setenv("ICL_CLAIMS_DIR", str(records))
    monkeypatch.setenv("ICL_DEVICE", "cpu")
    monkeypatch.delenv("ICL_DTYPE", raising=False)
    monkeypatch.setenv("ICL_SCALE", "smoke")
    pages = {name: _page(tmp_path, name, f"print('{name}')") for name in ("ch97_a", "ch98_b")}
    pages["ch99_c"] = _page(tmp_path, "ch99_c", "print('other code')")
    settings = runtime.settings()
    _as_run_by_nbval(pages["ch97_a"], stage, settings, "ch97")
    _as_run_by_nbval(pages["ch98_b"], stage, {**settings, "ICL_SCALE": "full"}, "ch98")
    _as_run_by_nbval(pages["ch97_a"], stage, settings, "ch99", name="ch99_c")  # of other code
    monkeypatch.setattr(
        parallel_execution, "_execute_in_pool", lambda *a: None
    )  # not executed here
    app, env, md_config, nb_config = _environment(tmp_path, tmp_path / "_build" / "cache")
    parallel_execution.execute_stale_notebooks(app, env, list(pages))

    cache = get_cache(nb_config.execution_cache_path)
    record = cache.match_cache_notebook(_as_myst_nb_reads(pages["ch97_a"], md_config, nb_config))
    assert cache.get_cache_bundle(record.pk).nb.cells[0].outputs[0]["text"] == "from nbval\n"
    assert record.data["execution_seconds"] == 2.5
    assert (records / "ch97.json").read_text() == RECORDS  # as the chapter wrote them
    assert claims.load_measurements("ch97") == []
    for name in ("ch98_b", "ch99_c"):  # other settings, other code: left to execute
        with pytest.raises(KeyError):
            cache.match_cache_notebook(_as_myst_nb_reads(pages[name], md_config, nb_config))
    assert not (records / "ch98.json").exists() and not (records / "ch99.json").exists()
    times_path = Path(nb_config.execution_cache_path).parent / parallel_execution.TIMES_FILE
    assert json.loads(times_path.read_text()) == {str(pages["ch97_a"]): 2.5}
