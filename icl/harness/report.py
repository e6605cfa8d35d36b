"""The book's generated appendices: the table of every recorded check, and the run's environment.

The chapters write their checks with :mod:`icl.harness.claims` while the book builds;
the appendix pages call these functions to tabulate them. A chapter's records
are named after the start of its file name (``book/ch01_linear_attention.md``
records as ``ch01``).
"""

from __future__ import annotations

import html
import importlib.metadata
import math
import platform
import re
from collections import Counter
from pathlib import Path


def _file(name: str, path) -> Path:
    if not isinstance(path, str | Path):
        raise TypeError(f"{name} must be a path, got {path!r}")
    if not Path(path).is_file():
        raise ValueError(f"{name} must name an existing file, got {str(path)!r}")
    return Path(path)


def _records(name: str, records) -> list:
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise TypeError(f"{name} must be a list of record dicts, got {type(records).__name__}")
    return records


def _chapters(chapters) -> dict:
    if not isinstance(chapters, dict):
        raise TypeError(f"chapters must be a dict of name -> document, got {chapters!r}")
    return chapters


def _page_dir(page_dir) -> str:
    if not isinstance(page_dir, str):
        raise TypeError(f"page_dir must be a folder name, got {page_dir!r}")
    return page_dir


def toc_chapters(toc_path: str | Path) -> dict[str, str]:
    """Map each chapter's record name to its document.

    Parameters
    ----------
    toc_path : str or pathlib.Path
        The book's ``_toc.yml``, an existing file.

    Returns
    -------
    dict of str to str
        For the ``chNN_*`` files it lists, ``chNN`` to the document.

    Raises
    ------
    TypeError
        ``toc_path`` not a path.
    ValueError
        No such file.
    """
    _file("toc_path", toc_path)
    text = Path(toc_path).read_text()
    docs = re.findall(r"file:\s*(\S+)", text)
    return {
        Path(doc).name.split("_")[0]: doc for doc in docs if re.match(r"ch\d+_", Path(doc).name)
    }


def check_records(records: list[dict], chapters: dict[str, str]) -> None:
    """Check the book's records as a whole.

    Parameters
    ----------
    records : list of dict
        The records (:func:`icl.harness.claims.load_records`).
    chapters : dict of str to str
        The chapters that must have recorded (:func:`toc_chapters`).

    Raises
    ------
    AssertionError
        A claim id used twice, a check that failed, a check that names no wrong formula it rejects
        (a check without power) or does not state the biases it ignores, or a listed chapter that
        recorded nothing.
    TypeError
        Records that are not a list of dicts, chapters not a dict.
    """
    _records("records", records), _chapters(chapters)
    duplicates = [
        cid for cid, count in Counter(r["claim_id"] for r in records).items() if count > 1
    ]
    assert not duplicates, f"claim ids used more than once in the book: {duplicates}"
    failed = [r["claim_id"] for r in records if not r["passed"]]
    assert not failed, f"failed checks: {failed}"
    powerless = [r["claim_id"] for r in records if not r.get("rejects")]
    assert not powerless, f"checks that name no wrong formula they reject: {powerless}"
    unstated = [r["claim_id"] for r in records if r.get("ignores") is None]
    assert not unstated, f"checks that do not state the biases they ignore: {unstated}"
    silent = sorted(set(chapters) - {r["chapter"] for r in records})
    assert not silent, (
        f"chapters with no recorded checks (not executed before this page?): {silent}"
    )


def summary(records: list[dict]) -> dict:
    """Counts over the records.

    Parameters
    ----------
    records : list of dict
        The records.

    Returns
    -------
    dict
        Claims, passed, checks naming no wrong formula, total Monte Carlo samples, worst
        :math:`|z|` (NaN without records), chapters.

    Raises
    ------
    TypeError
        Records that are not a list of dicts.
    """
    _records("records", records)
    return {
        "claims": len(records),
        "passed": sum(r["passed"] for r in records),
        "without_rejects": sum(not r.get("rejects") for r in records),
        "samples": sum(r.get("samples") or 0 for r in records),
        "worst_abs_z": max((abs(r["z_score"]) for r in records), default=math.nan),
        "chapters": len({r["chapter"] for r in records}),
    }


def _number(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:.5g}"


def _ignored(record: dict) -> str:
    """The biases a check ignores, each with its bound, and their sum in standard errors."""
    ignores = record.get("ignores")
    if ignores is None:
        return "not stated"
    if not ignores:
        return "none (unbiased)"
    listed = "; ".join(f"{html.escape(k)} ≤ {v:.2g}" for k, v in ignores.items())
    return f"{listed} ({record['bias_bound'] / record['stderr']:.2g} SE)"


def claims_table_html(records: list[dict], chapters: dict[str, str], page_dir: str = "book") -> str:
    """An HTML table with one row per record, six columns in view.

    The columns: the check, its chapter, theory, estimate ± SE, z, and the wrong formulas it
    rejects; each check's statement, parameters, power, ignored biases, samples, device, dtype
    and time sit one click away, under its id.

    Parameters
    ----------
    records : list of dict
        The records.
    chapters : dict of str to str
        Each chapter's record name to its document: each id links to the chapter page that makes
        the claim.
    page_dir : str
        The folder of the chapter pages, relative to the table's page.

    Returns
    -------
    str
        The table.

    Raises
    ------
    TypeError
        Arguments of the wrong type.
    """
    _records("records", records), _chapters(chapters), _page_dir(page_dir)
    head = ["check", "chapter", "theory", "estimate ± SE", "z", "wrong formulas rejected"]
    rows = []
    for r in records:
        doc = chapters.get(r["chapter"])
        link = f"{Path(doc).relative_to(page_dir)}.html" if doc else None
        cid = html.escape(r["claim_id"])
        rejects = "; ".join(
            f"{html.escape(k)} ({abs(v['z_score']):.0f} SE)"
            for k, v in r.get("rejects", {}).items()
        )
        params = ", ".join(
            f"{html.escape(str(k))}={html.escape(str(v))}" for k, v in r.get("params", {}).items()
        )
        detects = (
            f"{r['detectable_relative']:.2%}"
            if r["detectable_relative"] is not None and math.isfinite(r["detectable_relative"])
            else "–"
        )
        details = {
            "statement": html.escape(r["statement"]),
            "parameters": params or "–",
            "detects": detects,
            "ignores": _ignored(r),
            "samples": f"{r['samples']:,}" if r.get("samples") else "–",
            "device": r.get("device") or "–",
            "dtype": r.get("dtype") or "–",
            "seconds": f"{r['seconds']:.2f}" if r.get("seconds") is not None else "–",
        }
        more = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in details.items())
        name = f'<a href="{link}"><code>{cid}</code></a>' if link else f"<code>{cid}</code>"
        cells = [
            f"{name}<details><summary>details</summary><dl>{more}</dl></details>",
            html.escape(r["chapter"]),
            _number(r["theory"]),
            f"{_number(r['estimate'])} ± {r['stderr']:.2g}",
            f"{r['z_score']:+.2f}" + ("" if r["passed"] else " FAIL"),
            rejects or "–",
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
    return (
        f'<div style="overflow-x:auto"><table class="table claims-table" style="font-size:0.85em">'
        f"<thead>{header}</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def measurements_table_html(
    items: list[dict], chapters: dict[str, str], page_dir: str = "book"
) -> str:
    """An HTML table of recorded measurements (:func:`icl.harness.claims.measure`): id, statement,
    parameters, estimate ± SE.

    Parameters
    ----------
    items : list of dict
        The measurements (:func:`icl.harness.claims.load_measurements`).
    chapters : dict of str to str
        Each chapter's record name to its document, for the ids' links.
    page_dir : str
        The folder of the chapter pages, relative to the table's page.

    Returns
    -------
    str
        The table.

    Raises
    ------
    TypeError
        Arguments of the wrong type.
    """
    _records("items", items), _chapters(chapters), _page_dir(page_dir)
    rows = []
    for m in items:
        doc = chapters.get(m["chapter"])
        mid = f"<code>{html.escape(m['measure_id'])}</code>"
        params = ", ".join(
            f"{html.escape(str(k))}={html.escape(str(v))}" for k, v in m.get("params", {}).items()
        )
        cells = [
            f'<a href="{Path(doc).relative_to(page_dir)}.html">{mid}</a>' if doc else mid,
            html.escape(m["statement"]),
            params,
            f"{_number(m['estimate'])} ± {m['stderr']:.2g}",
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "".join(
        f"<th>{h}</th>" for h in ("measurement", "statement", "parameters", "estimate ± SE")
    )
    return (
        '<div style="overflow-x:auto"><table class="table" style="font-size:0.8em">'
        f"<thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def package_versions(requirements: str | Path) -> dict[str, str]:
    """The installed version of Python and of every package named in a requirements file.

    Parameters
    ----------
    requirements : str or pathlib.Path
        The requirements file, an existing file.

    Returns
    -------
    dict of str to str
        ``"python"`` and each package to its version, ``"not installed"`` where it is missing.

    Raises
    ------
    TypeError
        ``requirements`` not a path.
    ValueError
        No such file.
    """
    _file("requirements", requirements)
    versions = {"python": platform.python_version()}
    for line in Path(requirements).read_text().splitlines():
        name = re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0]
        if name and not name.startswith("#"):
            try:
                versions[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                versions[name] = "not installed"
    return versions


GPU_RUN_COMMAND = "make gpu-check"
# What the chapter runner's summary holds (icl.harness.chapter_runner.run_book), and each chapter's
RUN_KEYS = ("device", "processor", "dtype", "scale", "python", "torch", "commit", "date")
RUN_KEYS += ("seconds", "passed", "chapters")
CHAPTER_KEYS = ("chapter", "status", "seconds", "budget", "checks", "failed_checks", "worst_z")


def _run_summary(summary, name: str = "summary") -> dict:
    """``summary`` if it is a run's summary as the chapter runner writes it, else an error."""
    if not isinstance(summary, dict):
        raise TypeError(f"{name} must be the chapter runner's summary dict, got {summary!r:.80}")
    missing = [key for key in RUN_KEYS if key not in summary]
    if missing:
        raise ValueError(f"{name} lacks the chapter runner's keys {missing}")
    if not isinstance(summary["chapters"], list) or not all(
        isinstance(c, dict) and all(key in c for key in CHAPTER_KEYS) for c in summary["chapters"]
    ):
        raise ValueError(f"{name}'s chapters must be a list of dicts with keys {CHAPTER_KEYS}")
    return summary


def full_run_markdown(
    summary: dict | None, chapters: dict[str, str] | None = None, *, command: str = GPU_RUN_COMMAND
) -> str:
    """The status page's account of a published full-scale run of the chapter runner.

    Parameters
    ----------
    summary : dict or None
        The run's summary (:mod:`icl.harness.chapter_runner`: ``book/data/gpu_run.json`` on a GPU,
        ``book/data/cpu_full_run.json`` on the CPU); ``None``: no run published yet.
    chapters : dict of str to str, optional
        Each chapter's record name to its document, for the rows' titles.
    command : str
        The command that runs it, given when no run is published.

    Returns
    -------
    str
        Markdown: device, memory, versions, commit, date, dtype and scale, then one row per chapter
        (status, seconds of its budget, checks, failed checks, worst :math:`|z|`, the largest
        ignored bias in standard errors, and the commit of the chapter's run where a published
        record joins several runs) and the checks that failed; for ``None``, a line that says
        so and gives ``command``.

    Raises
    ------
    TypeError
        ``command`` not a non-empty string, ``summary`` not a dict, ``chapters`` not a dict.
    ValueError
        A summary that lacks the chapter runner's keys.
    """
    if not isinstance(command, str) or not command:
        raise TypeError(f"command must be a non-empty string, got {command!r}")
    if summary is None:
        return (
            "**Not yet run.** Every number in this build is from the device and scale shown "
            f"above. The full-scale run is one command, `{command}` (README); it publishes its "
            "results here."
        )
    _run_summary(summary)
    chapters = {} if chapters is None else _chapters(chapters)
    memory = f", {summary['memory_gib']} GiB" if summary.get("memory_gib") else ""
    cuda = f", CUDA {summary['cuda']}" if summary.get("cuda") else ""
    worst = summary.get("worst_z")
    commits = {c.get("commit", summary["commit"]) for c in summary["chapters"]}
    per_chapter = len(commits) > 1
    commit = (
        "the commit of each chapter's run in its row"
        if per_chapter
        else f"commit `{summary['commit']}`"
    )
    lines = [
        f"- **device**: {summary['device']}, {summary['processor']}{memory}; "
        f"dtype {summary['dtype']}; `ICL_SCALE={summary['scale']}`",
        f"- **versions**: Python {summary['python']}, torch {summary['torch']}{cuda}",
        f"- **run**: {commit}, last run {summary['date']}, {summary['seconds']:.0f} s in all; "
        + ("every chapter passed" if summary["passed"] else "**not every chapter passed**")
        + ("" if worst is None else f"; worst $|z|$ over all checks {worst:.2f}"),
        "",
        "| chapter | status | seconds | budget (s) | checks | failed | worst \\|z\\| "
        "| largest ignored bias (SE) |" + (" commit |" if per_chapter else ""),
        "|---|---|---|---|---|---|---|---|" + ("---|" if per_chapter else ""),
    ]
    failed = []
    for c in summary["chapters"]:
        title = chapters.get(c["chapter"], c["chapter"])
        z = "–" if c["worst_z"] is None else f"{c['worst_z']:.2f}"
        status = c["status"] + (f" ({c['error']})" if c.get("error") else "")
        ratios = [
            r["bias_bound"] / r["stderr"]
            for r in c.get("claims", [])
            if r.get("bias_bound") is not None and r.get("stderr")
        ]
        bias = f"{max(ratios):.2g}" if ratios else "–"
        lines.append(
            f"| {title} | {status} | {c['seconds']:.1f} | {c['budget']:g} | {c['checks']} "
            f"| {c['failed_checks']} | {z} | {bias} |"
            + (f" `{c.get('commit', summary['commit'])[:12]}` |" if per_chapter else "")
        )
        failed += [r["claim_id"] for r in c.get("claims", []) if not r.get("passed", True)]
    if failed:
        lines += ["", "Failed checks: " + ", ".join(f"`{cid}`" for cid in failed) + "."]
    return "\n".join(lines)
