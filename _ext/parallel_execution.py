"""Execute the chapters the build must run several at a time, into MyST-NB's cache, or take
them from the test run that has just executed them.

MyST-NB (``execute_notebooks: cache``) executes the notebooks it reads one after another. Before
Sphinx reads the documents (``env-before-read-docs``), this extension finds each notebook about
to be read whose code is not in the jupyter-cache, executes those notebooks in a pool of
``nb_execution_jobs`` processes (longest first by their last recorded time, else by their number
of cells), each kernel on one CPU thread (``OMP_NUM_THREADS=1``: two kernels on two cores each
asking for two threads run about three times slower), and stores them in the cache exactly as
MyST-NB would (same reader, same cache key, the execution time in the record). MyST-NB then finds
every one in the cache. A notebook that fails is not stored: MyST-NB executes it again itself
and reports the error as it always does (the pool adds no warning of its own, which ``-W`` would
turn into a second error). Pages whose metadata asks for another execution mode (``force``) are
left to MyST-NB.

Where ``$ICL_NBVAL_NOTEBOOKS`` names a folder, a notebook that nbval executed there (see
``book/conftest.py``: each chapter whose every cell passed, its outputs made as nbclient makes
them) is stored instead of executing the chapter again, when its code cells and kernel are the
page's and it ran with the build's settings (``icl.runtime.settings``); the chapter's
claims records and measurements, kept beside it, are copied where the chapter writes them
(``icl.harness.claims``). ``make test`` runs nbval first and the build after it, so
a chapter is executed once. The Makefile removes that folder whenever it clears the cache
(``icl/`` or the settings changed).
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution
from myst_nb.core.config import NbParserConfig
from myst_nb.core.read import create_nb_reader
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
TIMES_FILE = ".execution_times.json"  # beside the cache, which the Makefile may clear
STAGE_ENV = "ICL_NBVAL_NOTEBOOKS"


def _execute(path: str, notebook, timeout: int, allow_errors: bool):
    """Execute ``notebook`` in place in its own folder on one thread; return it, the seconds it
    took and the traceback text (None on success). Runs in a worker process."""
    os.environ["OMP_NUM_THREADS"] = "1"  # the kernel inherits it
    result = single_nb_execution(
        notebook,
        cwd=str(Path(path).parent),
        timeout=timeout,
        allow_errors=allow_errors,
        meta_override=True,
    )
    return result.nb, result.time, result.exc_string


def _stale_notebooks(env, docnames):
    """(path, notebook, read format) of each document to be read that MyST-NB would execute in
    cache mode and whose code is not in the cache."""
    config = env.mystnb_config
    cache = get_cache(config.execution_cache_path)
    stale = []
    for docname in sorted(docnames):
        path = Path(env.doc2path(docname))
        text = path.read_text(encoding="utf-8")
        reader = create_nb_reader(str(path), env.myst_config, config, text)
        if reader is None:
            continue
        notebook = reader.read(text)
        overrides = notebook.metadata.get(config.metadata_key, {})
        mode = overrides.get("execution_mode", config.execution_mode)
        if mode != "cache" or not any(c.cell_type == "code" for c in notebook.cells):
            continue
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            stale.append((str(path), notebook, reader.read_fmt))
    return cache, stale


def _code(notebook) -> list[str]:
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def _executed_by_tests(folder: Path, path: str, notebook):
    """nbval's executed copy of the page at ``path`` in ``folder`` and its ``icl_nbval`` metadata,
    or None where there is none or it ran other code, another kernel or other settings."""
    staged_path = folder / f"{Path(path).stem}.ipynb"
    if not staged_path.is_file():
        return None
    from icl import runtime

    staged = nbformat.read(staged_path, as_version=4)
    meta = staged.metadata.pop("icl_nbval", {})
    kernel = notebook.metadata.get("kernelspec", {}).get("name")
    if (
        _code(staged) != _code(notebook)
        or staged.metadata.get("kernelspec", {}).get("name") != kernel
        or meta.get("settings") != runtime.settings()
    ):
        LOGGER.info(f"{path}: nbval's executed copy is of other code or settings; not taken")
        return None
    return staged, meta


def _copy_records(folder: Path, chapter: str) -> None:
    """Copy the chapter's records that the test run kept in ``folder`` to where the chapter writes
    them."""
    from icl.harness import claims

    for kind, target in claims.record_files(chapter).items():
        source = folder / kind / target.name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


def _store(cache, path: str, read_fmt, notebook, seconds: float) -> None:
    record = cache.add_nb_to_project(path, read_data=read_fmt)
    cache.cache_notebook_bundle(
        CacheBundleIn(notebook, record.uri, data={"execution_seconds": seconds}),
        check_validity=False,
        overwrite=True,
    )


def execute_stale_notebooks(app, env, docnames) -> None:
    config: NbParserConfig = env.mystnb_config
    jobs = app.config.nb_execution_jobs or os.cpu_count() or 1
    if config.execution_mode != "cache":
        return
    cache, stale = _stale_notebooks(env, docnames)
    times_path = Path(config.execution_cache_path).parent / TIMES_FILE
    times = json.loads(times_path.read_text()) if times_path.is_file() else {}
    kept = os.environ.get(STAGE_ENV)
    to_execute = []
    for path, notebook, read_fmt in stale:
        taken = _executed_by_tests(Path(kept), path, notebook) if kept else None
        if taken is None:
            to_execute.append((path, notebook, read_fmt))
            continue
        executed, meta = taken
        _store(cache, path, read_fmt, executed, meta["seconds"])
        _copy_records(Path(kept), meta["chapter"])
        times[path] = meta["seconds"]
        LOGGER.info(f"{path}: taken from the test run (executed there in {meta['seconds']:.1f} s)")
    if jobs >= 2 and len(to_execute) >= 2:
        _execute_in_pool(cache, to_execute, times, jobs, config)
    if stale:
        times_path.parent.mkdir(parents=True, exist_ok=True)
        times_path.write_text(json.dumps(times, indent=1))


def _execute_in_pool(cache, stale, times: dict, jobs: int, config: NbParserConfig) -> None:
    stale.sort(key=lambda item: (times.get(item[0], 0.0), len(item[1].cells)), reverse=True)
    LOGGER.info(f"executing {len(stale)} notebooks, {min(jobs, len(stale))} at a time")
    with ProcessPoolExecutor(max_workers=min(jobs, len(stale))) as pool:
        futures = [
            (
                path,
                read_fmt,
                pool.submit(
                    _execute, path, nb, config.execution_timeout, config.execution_allow_errors
                ),
            )
            for path, nb, read_fmt in stale
        ]
        for path, read_fmt, future in futures:
            try:
                notebook, seconds, error = future.result()
            except Exception as exc:  # e.g. a kernel that died: MyST-NB runs it and reports
                error = repr(exc)
            if error is not None:
                LOGGER.info(f"{path}: failed in the pool; the build executes it itself")
                continue
            _store(cache, path, read_fmt, notebook, seconds)
            times[path] = seconds
            LOGGER.info(f"{path}: executed in {seconds:.1f} s and cached")


def setup(app):
    # 0: as many notebooks at a time as the machine has cores
    app.add_config_value("nb_execution_jobs", 0, "env")
    app.connect("env-before-read-docs", execute_stale_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
