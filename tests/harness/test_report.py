import math

import pytest

from icl.harness import report


def _record(cid, chapter="ch01", passed=True, z=1.0, samples=10):
    return dict(
        claim_id=cid,
        chapter=chapter,
        statement="a < b",
        params={"n": 2},
        theory=1.0,
        estimate=1.1,
        stderr=0.1,
        z=4.0,
        z_score=z,
        detectable_relative=0.4,
        passed=passed,
        rejects={"wrong": {"z_score": 9.0}},
        ignores={},
        bias_bound=0.0,
        samples=samples,
        device="cpu",
        dtype="float64",
        seed=0,
        seconds=0.1,
    )


def test_toc_chapters(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text(
        "root: book/intro\nchapters:\n  - file: book/ch01_one\n  - file: book/notation\n"
        "  - file: book/ch12_two\n"
    )
    assert report.toc_chapters(toc) == {"ch01": "book/ch01_one", "ch12": "book/ch12_two"}


def test_check_records_rejects_duplicates_failures_and_silent_chapters():
    chapters = {"ch01": "book/ch01_x", "ch02": "book/ch02_y"}
    good = [_record("a"), _record("b", chapter="ch02")]
    report.check_records(good, chapters)
    with pytest.raises(AssertionError, match="more than once"):
        report.check_records(good + [_record("a", chapter="ch02")], chapters)
    with pytest.raises(AssertionError, match="failed checks"):
        report.check_records(good + [_record("c", passed=False)], chapters)
    powerless = _record("c")
    powerless["rejects"] = {}
    with pytest.raises(AssertionError, match="name no wrong formula"):
        report.check_records(good + [powerless], chapters)
    unstated = _record("c")
    unstated["ignores"] = None
    with pytest.raises(AssertionError, match="do not state the biases"):
        report.check_records(good + [unstated], chapters)
    with pytest.raises(AssertionError, match="no recorded checks"):
        report.check_records([_record("a")], chapters)


def test_summary_and_table():
    records = [_record("a", z=-2.5, samples=100), _record("b", z=1.0, samples=None)]
    s = report.summary(records)
    assert s == {
        "claims": 2,
        "passed": 2,
        "without_rejects": 0,
        "samples": 100,
        "worst_abs_z": 2.5,
        "chapters": 1,
    }
    table = report.claims_table_html(records, {"ch01": "book/ch01_x"})
    assert table.count("<tr>") == 3 and 'href="ch01_x.html"' in table and "wrong (9 SE)" in table
    assert table.count("<th>") == 6 and table.count("<details>") == 2
    assert "none (unbiased)" in table
    biased = dict(records[0], ignores={"finite N": 0.02}, bias_bound=0.02)
    assert "finite N ≤ 0.02 (0.2 SE)" in report.claims_table_html([biased], {})
    assert math.isnan(report.summary([])["worst_abs_z"])


def test_measurements_table():
    items = [
        dict(
            measure_id="m<1>",
            chapter="ch07",
            statement="gap",
            params={"T": 1},
            estimate=0.1,
            stderr=0.01,
        )
    ]
    table = report.measurements_table_html(items, {"ch07": "book/ch07_z"})
    assert "m&lt;1&gt;" in table and 'href="ch07_z.html"' in table and "0.1 ± 0.01" in table


def test_package_versions(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\nnumpy==1.0\nnot-a-real-package-xyz>=2\n")
    versions = report.package_versions(req)
    assert (
        versions["numpy"] != "not installed"
        and versions["not-a-real-package-xyz"] == "not installed"
    )
    assert "python" in versions


def run_summary(chapters, *, commit="c", seconds=1.0, passed=True) -> dict:
    """A published run's summary around ``chapters``."""
    return dict(
        device="cpu",
        processor="x",
        dtype="float64",
        scale="full",
        python="3.11",
        torch="2",
        commit=commit,
        date="2026",
        seconds=seconds,
        passed=passed,
        worst_z=1.0,
        chapters=chapters,
    )


def test_full_run_markdown():
    assert "make gpu-check" in report.full_run_markdown(None)
    assert "make cpu-full-check" in report.full_run_markdown(None, command="make cpu-full-check")
    summary = {
        "device": "cuda",
        "processor": "NVIDIA H100 80GB HBM3",
        "memory_gib": 79.2,
        "dtype": "float32",
        "scale": "full",
        "python": "3.12.3",
        "torch": "2.11.0",
        "cuda": "13.0",
        "commit": "abc123",
        "date": "2026-11-28T02:00:00+00:00",
        "seconds": 301.5,
        "passed": False,
        "worst_z": 2.5,
        "chapters": [
            dict(
                chapter="ch01",
                status="passed",
                error=None,
                seconds=20.04,
                budget=40,
                checks=13,
                failed_checks=0,
                worst_z=2.5,
            ),
            dict(
                chapter="ch02",
                status="over budget",
                error="stopped after its budget of 40 s",
                seconds=40.0,
                budget=40,
                checks=3,
                failed_checks=0,
                worst_z=None,
            ),
        ],
    }
    text = report.full_run_markdown(summary, {"ch01": "1. One"})
    assert "NVIDIA H100 80GB HBM3, 79.2 GiB" in text and "CUDA 13.0" in text
    assert "| 1. One | passed | 20.0 | 40 | 13 | 0 | 2.50 | – |" in text
    assert "| ch02 | over budget (stopped after its budget of 40 s) | 40.0 |" in text
    assert "**not every chapter passed**" in text and "worst $|z|$ over all checks 2.50" in text


def test_full_run_markdown_shows_the_largest_ignored_bias_and_the_failed_checks():
    claim = dict(claim_id="ch01.a", stderr=0.01, bias_bound=0.002, passed=True)
    chapter = dict(
        chapter="ch01",
        status="failed",
        error="AssertionError",
        seconds=5.0,
        budget=40,
        checks=2,
        failed_checks=1,
        worst_z=1.0,
        claims=[claim, dict(claim, claim_id="ch01.b", bias_bound=0.004, passed=False)],
    )
    summary = run_summary([chapter], commit="abc", seconds=5.0, passed=False)
    text = report.full_run_markdown(summary)
    assert text.splitlines()[-3].endswith("| 1.00 | 0.4 |")
    assert text.endswith("Failed checks: `ch01.b`.")


def test_full_run_markdown_names_each_chapters_commit_when_runs_were_joined():
    row = dict(status="passed", seconds=1.0, budget=40, checks=1, failed_checks=0, worst_z=1.0)
    summary = run_summary(
        [dict(row, chapter="ch01", commit="old"), dict(row, chapter="ch02", commit="new")],
        commit="new",
        seconds=2.0,
    )
    text = report.full_run_markdown(summary)
    assert "the commit of each chapter's run in its row" in text
    assert text.splitlines()[-2].endswith("| – | `old` |") and text.endswith("| – | `new` |")
    summary["chapters"][0]["commit"] = "new"
    assert "commit `new`" in report.full_run_markdown(summary)


def test_full_run_markdown_is_a_table_to_a_markdown_parser():
    from markdown_it import MarkdownIt

    row = dict(status="passed", seconds=1.0, budget=40, checks=1, failed_checks=0, worst_z=1.0)
    summary = run_summary([dict(row, chapter="ch01"), dict(row, chapter="ch02")])
    rendered = MarkdownIt("commonmark").enable("table").render(report.full_run_markdown(summary))
    assert rendered.count("<tr>") == 3 and "<th>worst |z|</th>" in rendered
