"""Run the book's chapters without Jupyter, each in its own process under a time budget.

The GPU machine the book is checked on has Python, torch, numpy, scipy, sympy,
matplotlib and pytest, but no Jupyter kernel (``make gpu-check`` installs jupytext and
IPython there from wheels carried with the sources: ``make wheelhouse``). This runner
reads each chapter with ``jupytext.read`` and executes its code cells in order in one
namespace, with matplotlib's non-interactive ``Agg`` backend (what a cell shows with
``IPython.display.display`` is printed as IPython prints it without a kernel, as the object's
``repr``; the checks go to the claims records). A cell tagged ``skip-execution``
is skipped, and so is one tagged ``jupyter-only`` (the chapters' live explorers, which
need ipywidgets and check nothing; the book's build and nbval run them); a cell tagged
``raises-exception`` may raise.

Each chapter runs in a child process with the chapter's folder as working
directory and a timeout equal to its budget (:data:`BUDGETS`, seconds at
``ICL_SCALE=full`` on one H100-class GPU; ten times more at ``smoke``); a
chapter that does not finish in time is stopped and reported ``over budget``.
Everything goes into one results folder::

    <out>/claims/<chapter>.json         the chapter's recorded checks
    <out>/measurements/<chapter>.json   its recorded measurements
    <out>/logs/<chapter>.log            what it printed
    <out>/summary.json                  device, versions, commit, date, dtype, scale, and per
                                        chapter: status, seconds, checks, worst |z|

    python -m icl.harness.chapter_runner                     # every chapter, ICL_SCALE as set
    python -m icl.harness.chapter_runner --chapters ch01 ch06 --out /tmp/run
    python -m icl.harness.chapter_runner --publish           # also book/data/gpu_run.json
                                                             # (cpu_full_run.json on a CPU)

``make gpu-check`` runs it at ``ICL_SCALE=full`` with ``--publish``. The exit
status is 0 when every chapter passed, else 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import linecache
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jupytext

from icl import validation
from icl.runtime import SCALES

# Seconds each chapter may take at ICL_SCALE=full on one H100-class GPU (about 6 minutes in all),
# from the flop and memory-traffic counts of its largest simulations (README, "Full scale on a
# GPU"). A chapter not listed gets DEFAULT_BUDGET.
BUDGETS = {
    "ch01": 30,
    "ch02": 30,
    "ch03": 55,
    "ch04": 55,
    "ch05": 30,
    "ch06": 40,
    "ch07": 90,  # trains its full-scale model (20000 steps) when book/data/ch07_full.pt is missing
    "ch08": 30,
    "ch09": 60,  # its per-prompt terms, allocations and fits: about 60 s of one CPU thread here
}
DEFAULT_BUDGET = 40
# Cells the runner does not execute: skipped everywhere, or needing Jupyter (ipywidgets panels).
SKIPPED_TAGS = {"skip-execution", "jupyter-only"}
SMOKE_FACTOR = 10  # the budget at ICL_SCALE=smoke, on two CPU cores, is this many times larger

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])  # the folder that holds icl/


@dataclass
class ChapterResult:
    """How one chapter's run went.

    ``status`` is ``passed``, ``failed`` (``error`` says how) or ``over budget``
    (stopped after ``budget`` seconds). ``checks``, ``failed_checks`` and
    ``worst_z`` (the largest ``|estimate - theory| / SE`` over its checks) come
    from its claims records.
    """

    chapter: str
    path: str
    status: str
    seconds: float
    budget: float
    checks: int = 0
    failed_checks: int = 0
    worst_z: float | None = None
    measurements: int = 0
    error: str | None = None
    claims: list[dict] = field(default_factory=list)


# --- reading a chapter ---


def is_chapter(path: Path) -> bool:
    """Whether a page of the book is a chapter.

    A chapter declares a kernel in its jupytext front matter (plain pages do not) and its name
    starts with ``ch``.

    Parameters
    ----------
    path : pathlib.Path
        The page (a ``str`` or path-like object naming an existing file).

    Returns
    -------
    bool
        Whether the file's name starts with ``ch`` and its first 2000 characters open with
        ``---`` and hold ``kernelspec:``.

    Raises
    ------
    TypeError
        ``path`` not a ``str`` or a path-like object.
    ValueError
        ``path`` an empty string or no existing file.
    """
    path = validation.path("path", path)
    head = path.read_text(encoding="utf-8")[:2000]
    return path.name.startswith("ch") and head.startswith("---") and "kernelspec:" in head


def execute(path: Path) -> None:
    """Execute the code cells of a chapter in one namespace, in its folder.

    The chapter is read with ``jupytext.read``; cells tagged with one of :data:`SKIPPED_TAGS`
    are skipped. Each cell's wall time is printed, so that a chapter's log shows where its time
    went.

    Parameters
    ----------
    path : pathlib.Path
        The chapter's file (a ``str`` or path-like object naming an existing file).

    Raises
    ------
    Exception
        What a cell not tagged ``raises-exception`` raises (its traceback names the chapter and
        the cell, numbered from 0 among the code cells as nbval numbers them).
    TypeError
        ``path`` not a ``str`` or a path-like object.
    ValueError
        ``path`` an empty string or no existing file.
    """
    path = validation.path("path", path).resolve()
    notebook = jupytext.read(path)
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.chdir(path.parent)
    namespace: dict = {"__name__": "__main__", "__file__": str(path)}
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for number, cell in enumerate(cells):
        tags = set(cell.metadata.get("tags", []))
        if SKIPPED_TAGS & tags:
            continue
        name = f"{path.name}, cell {number}"
        linecache.cache[name] = (len(cell.source), None, cell.source.splitlines(True), name)
        start = time.perf_counter()
        try:
            exec(compile(cell.source, name, "exec"), namespace)
        except Exception:
            if "raises-exception" not in tags:
                raise
        _close_figures()
        print(f"[chapter_runner] cell {number}: {time.perf_counter() - start:.2f} s")


def _close_figures() -> None:
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


# --- running chapters under budgets ---


def budget(chapter: str, scale: str) -> float:
    """The chapter's time budget in seconds.

    Parameters
    ----------
    chapter : str
        The chapter's name (``ch01`` ...); a chapter not listed in :data:`BUDGETS` gets
        :data:`DEFAULT_BUDGET`.
    scale : str
        ``"smoke"`` or ``"full"``.

    Returns
    -------
    float
        The budget at ``ICL_SCALE=full``, times :data:`SMOKE_FACTOR` at ``"smoke"``.

    Raises
    ------
    TypeError
        ``chapter`` not a ``str``.
    ValueError
        ``scale`` not one of the scales.
    """
    if not isinstance(chapter, str):
        raise TypeError(f"chapter must be a chapter's name (ch01 ...), got {chapter!r}")
    scale = validation.choice("scale", scale, SCALES)
    seconds = BUDGETS.get(chapter, DEFAULT_BUDGET)
    return seconds if scale == "full" else seconds * SMOKE_FACTOR


def _records(folder: Path, chapter: str) -> list[dict]:
    path = folder / f"{chapter}.json"
    return json.loads(path.read_text()) if path.is_file() else []


def run_chapter(path: Path, out: Path, seconds: float, env: dict[str, str]) -> ChapterResult:
    """Run one chapter in a child process with a timeout.

    The child is ``python -m icl.harness.chapter_runner --execute``; the chapter's checks go to
    ``out/claims``, its output to ``out/logs``.

    Parameters
    ----------
    path : pathlib.Path
        The chapter's file (it must exist); its name up to the first ``_`` names the chapter.
    out : pathlib.Path
        The results folder (it may not exist yet).
    seconds : float
        The timeout, > 0; a chapter still running then is stopped and reported ``over budget``.
    env : dict of str to str
        The child's environment.

    Returns
    -------
    ChapterResult
        The chapter's status, wall time and budget, and what its claims and measurements records
        hold.

    Raises
    ------
    TypeError
        ``path`` or ``out`` not a path, or ``env`` not a dict of ``str`` -> ``str``.
    ValueError
        ``path`` naming no existing file, an empty path, or ``seconds`` not a finite number
        > 0.
    """
    path = validation.path("path", path)
    out = validation.path("out", out, exists=None)
    seconds = validation.positive("seconds", seconds)
    _environment(env)
    chapter = path.stem.split("_")[0]
    log = out / "logs" / f"{chapter}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "icl.harness.chapter_runner", "--execute", str(path)]
    start = time.perf_counter()
    with log.open("w") as stream:
        child = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, env=env)
        try:
            code = child.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            code = None
    elapsed = time.perf_counter() - start
    if code is None:
        status, error = "over budget", f"stopped after its budget of {seconds:g} s"
    elif code == 0:
        status, error = "passed", None
    else:
        status, error = "failed", _last_error(log.read_text())
    claims = _records(out / "claims", chapter)
    z_scores = [abs(c["z_score"]) for c in claims if c.get("z_score") is not None]
    return ChapterResult(
        chapter=chapter,
        path=str(path),
        status=status,
        seconds=round(elapsed, 2),
        budget=seconds,
        checks=len(claims),
        failed_checks=sum(not c["passed"] for c in claims),
        worst_z=round(max(z_scores), 3) if z_scores else None,
        measurements=len(_records(out / "measurements", chapter)),
        error=error,
        claims=[_claim_summary(c) for c in claims],
    )


def _environment(env) -> dict[str, str]:
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise TypeError(f"env must be a dict of str -> str (an environment), got {env!r:.80}")
    return env


def _names(name: str, names) -> list[str] | None:
    """``names`` (chapter names) as a list, or ``TypeError`` unless ``None`` or a list of str."""
    if names is None:
        return None
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"{name} must be a list of chapter names (ch01 ...), got {names!r}")
    return list(names)


def _budgets(budgets) -> float | dict[str, float] | None:
    """``budgets`` (seconds, > 0): ``None``, one number, or a dict of chapter name -> number."""
    if budgets is None:
        return None
    if isinstance(budgets, dict):
        if not all(isinstance(name, str) for name in budgets):
            raise TypeError(f"budgets must map chapter names to seconds, got {budgets!r}")
        return {name: validation.positive("budgets", s) for name, s in budgets.items()}
    return validation.positive("budgets", budgets)


def _claim_summary(record: dict) -> dict:
    keys = ("claim_id", "theory", "estimate", "stderr", "z", "z_score", "passed", "samples")
    keys += ("bias_bound",)
    return {key: record.get(key) for key in keys}


def _last_error(text: str) -> str:
    """The traceback's last line (the exception) from a chapter's log."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][-2000:] if lines else "no output"


def _git_commit(root: Path) -> str | None:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+modified" if dirty else "")


def machine_facts() -> dict:
    """Device name and memory, dtype, scale, versions (Python, torch, CUDA), for the summary.

    Returns
    -------
    dict
        ``device``, ``processor``, ``memory_gib``, ``dtype``, ``scale``, ``model_scale``,
        ``python``, ``torch``, ``cuda`` and ``cpu_threads``.
    """
    import torch

    from icl import runtime

    dev = runtime.device()
    facts = {
        "device": dev.type,
        "processor": runtime.processor_name(),
        "memory_gib": None,
        "dtype": str(runtime.dtype(dev)).removeprefix("torch."),
        "scale": runtime.scale(),
        "model_scale": runtime.model_scale(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu_threads": os.cpu_count(),
    }
    if dev.type == "cuda":
        facts["memory_gib"] = round(torch.cuda.get_device_properties(dev).total_memory / 2**30, 1)
    else:
        meminfo = Path("/proc/meminfo")
        if meminfo.is_file():
            match = re.search(r"MemTotal:\s*(\d+)", meminfo.read_text())
            facts["memory_gib"] = round(int(match.group(1)) / 2**20, 1) if match else None
    return facts


def chapter_paths(book: Path, names: list[str] | None) -> list[Path]:
    """The chapters under a book's folder, in order.

    Parameters
    ----------
    book : pathlib.Path
        The folder that holds the chapters (an existing folder).
    names : list of str or None
        Chapter names: a chapter is chosen when its file name up to the first ``_``, or its whole
        stem, is one of them; ``None`` (or empty): every chapter.

    Returns
    -------
    list of pathlib.Path
        The chapters (:func:`is_chapter`), sorted.

    Raises
    ------
    TypeError
        ``book`` not a path, or ``names`` neither ``None`` nor a list of ``str``.
    ValueError
        ``book`` naming no existing folder, or a name that names no chapter under ``book``.
    """
    book = validation.path("book", book, exists="folder")
    names = _names("names", names)
    paths = sorted(p for p in book.glob("*.md") if is_chapter(p))
    if names:
        chosen = [p for p in paths if any(p.stem.split("_")[0] == n or p.stem == n for n in names)]
        unknown = set(names) - {p.stem.split("_")[0] for p in chosen} - {p.stem for p in chosen}
        if unknown:
            raise ValueError(f"chapters must name chapters in {book}, unknown: {sorted(unknown)}")
        paths = chosen
    return paths


def run_book(
    root: Path,
    out: Path,
    chapters: list[str] | None = None,
    budgets: float | dict[str, float] | None = None,
    jobs: int = 1,
) -> dict:
    """Run the chosen chapters of a book and return the summary.

    Parameters
    ----------
    root : pathlib.Path
        The book's root folder (an existing folder with a ``book/`` folder).
    out : pathlib.Path
        The results folder (it may not exist yet); its ``claims``, ``measurements`` and ``logs``
        folders are emptied first.
    chapters : list of str or None
        The chapters to run (as :func:`chapter_paths` chooses them); ``None``: every chapter.
    budgets : float or dict of str to float or None
        Seconds (> 0): one number overrides every chapter's budget, a dict those of the chapters
        it names; ``None``: each chapter's :func:`budget`.
    jobs : int
        Chapters run at a time (each in its own process), 1 to 64.

    Returns
    -------
    dict
        The summary (also written to ``out/summary.json``): :func:`machine_facts`, the commit,
        date and command, and per chapter its :class:`ChapterResult`, reported in the book's
        order; ``seconds``, ``passed`` and ``worst_z`` over all of them.

    Raises
    ------
    TypeError
        ``root`` or ``out`` not a path, ``chapters`` neither ``None`` nor a list of ``str``, or
        ``budgets`` a dict with keys that are not ``str``.
    ValueError
        ``root`` not an existing folder with a ``book/`` folder, an unknown chapter, a budget not
        a finite number > 0, or ``jobs`` not an integer from 1 to 64.
    """
    from icl import runtime

    root = validation.path("root", root, exists="folder").resolve()
    if not (root / "book").is_dir():
        raise ValueError(f"root must be a book's root folder (with a book/ folder), got {root}")
    out = validation.path("out", out, exists=None).resolve()
    chapters, budgets = _names("chapters", chapters), _budgets(budgets)
    jobs = validation.integer("jobs", jobs, maximum=64)
    for sub in ("claims", "measurements", "logs"):
        folder = out / sub
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*"):
            old.unlink()
    env = dict(os.environ)
    env.update(
        ICL_CLAIMS_DIR=str(out / "claims"),
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(root), _PACKAGE_PARENT, env.get("PYTHONPATH")])
        ),
    )
    scale = runtime.scale()
    summary = {
        **machine_facts(),
        "commit": _git_commit(root) or os.environ.get("ICL_COMMIT"),  # a copy without .git
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python -m icl.harness.chapter_runner " + " ".join(sys.argv[1:]),
        "chapters": [],
    }
    start = time.perf_counter()

    def run(path: Path) -> ChapterResult:
        name = path.stem.split("_")[0]
        given = budgets.get(name) if isinstance(budgets, dict) else budgets
        seconds = given or budget(name, scale)
        result = run_chapter(path, out, seconds, env)
        worst = "-" if result.worst_z is None else f"{result.worst_z:.2f}"
        print(
            f"{result.chapter}: {result.status}, {result.seconds:.1f} s of {seconds:g}, "
            f"{result.checks} checks, worst |z| {worst}"
            + (f" -- {result.error}" if result.error else ""),
            flush=True,
        )
        return result

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for result in pool.map(run, chapter_paths(root / "book", chapters)):
            summary["chapters"].append(asdict(result))
    results = summary["chapters"]
    summary["seconds"] = round(time.perf_counter() - start, 2)
    summary["passed"] = all(r["status"] == "passed" for r in results)
    z_scores = [r["worst_z"] for r in results if r["worst_z"] is not None]
    summary["worst_z"] = max(z_scores) if z_scores else None
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


# What a run must share with a published one for their chapters to stand in one record.
_SAME_RUN = ("device", "processor", "dtype", "scale", "model_scale")


def published(summary: dict, previous: dict | None) -> dict:
    """The summary to publish, keeping the chapters of a published run that this one did not run.

    Parameters
    ----------
    summary : dict
        This run's summary (:func:`run_book`).
    previous : dict or None
        The summary published before, or ``None``.

    Returns
    -------
    dict
        ``summary`` with each chapter stamped with its run's ``commit`` and ``date``. Where
        ``previous`` ran on the same device, processor, dtype, scale and model scale, its chapters
        that ``summary`` did not run are added, each with the commit and date of the run that made
        it, in the book's order; ``seconds`` then adds up both runs and ``passed`` and
        ``worst_z`` cover every chapter. Otherwise ``previous`` is replaced.

    Raises
    ------
    TypeError
        ``summary`` or ``previous`` not a dict (``previous`` may be ``None``).
    ValueError
        A summary that lacks the keys :func:`run_book` writes.
    """
    from icl.harness.report import _run_summary

    _run_summary(summary)
    if previous is not None:
        _run_summary(previous, "previous")
    merged = dict(summary)
    merged["chapters"] = [
        {**c, "commit": c.get("commit", summary["commit"]), "date": c.get("date", summary["date"])}
        for c in summary["chapters"]
    ]
    if previous is None or any(previous.get(k) != summary.get(k) for k in _SAME_RUN):
        return merged
    ran = {c["chapter"] for c in merged["chapters"]}
    kept = [
        {
            **c,
            "commit": c.get("commit", previous["commit"]),
            "date": c.get("date", previous["date"]),
        }
        for c in previous["chapters"]
        if c["chapter"] not in ran
    ]
    if not kept:
        return merged
    results = sorted(merged["chapters"] + kept, key=lambda c: c["chapter"])
    z_scores = [c["worst_z"] for c in results if c["worst_z"] is not None]
    merged.update(
        chapters=results,
        seconds=round(summary["seconds"] + previous["seconds"], 2),
        passed=all(c["status"] == "passed" for c in results),
        worst_z=max(z_scores) if z_scores else None,
    )
    return merged


def main(argv: list[str] | None = None) -> int:
    """The command line: run the chapters, print one line per chapter and a summary.

    ``python -m icl.harness.chapter_runner [--chapters ...] [--out DIR] [--budget S]
    [--jobs J] [--publish]``.

    Parameters
    ----------
    argv : list of str or None
        The arguments; ``None``: ``sys.argv[1:]``.

    Returns
    -------
    int
        0 when every chapter passed, else 1 (with ``--execute``, the child's task: 0 when the
        chapter ran, else 1).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", nargs="*", help="chapter names (ch01 ...); default all")
    parser.add_argument("--out", type=Path, help="results folder (default _build/gpu_run)")
    parser.add_argument("--budget", type=float, help="seconds per chapter, overriding each budget")
    parser.add_argument("--jobs", type=int, default=1, help="chapters run at a time (default 1)")
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also write the summary to book/data/gpu_run.json (cpu_full_run.json on a CPU), "
        "keeping the published chapters this run did not run",
    )
    parser.add_argument("--execute", type=Path, help=argparse.SUPPRESS)  # the child's task
    args = parser.parse_args(argv)
    if args.execute:
        try:
            execute(args.execute)
        except Exception:
            traceback.print_exc()
            return 1
        return 0
    from icl.runtime import book_root

    root = book_root()
    out = args.out or root / "_build" / "gpu_run"
    summary = run_book(root, out, args.chapters, args.budget, args.jobs)
    worst = "-" if summary["worst_z"] is None else f"{summary['worst_z']:.2f}"
    print(
        f"{len(summary['chapters'])} chapters in {summary['seconds']:.1f} s on {summary['device']} "
        f"({summary['processor']}), {summary['dtype']}, ICL_SCALE={summary['scale']}: "
        f"{'all passed' if summary['passed'] else 'NOT all passed'}, worst |z| {worst}; "
        f"results in {out}"
    )
    if args.publish:
        name = "gpu_run.json" if summary["device"] == "cuda" else "cpu_full_run.json"
        target = root / "book" / "data" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        previous = json.loads(target.read_text()) if target.is_file() else None
        target.write_text(json.dumps(published(summary, previous), indent=1) + "\n")
        print(f"published {target}")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
