import json

import pytest

from icl.harness import chapter_runner

FRONT = """---
jupytext:
  text_representation:
    extension: .md
kernelspec:
  display_name: Python 3
  name: python3
---

# A fake chapter
"""

PASSING = (
    FRONT
    + """
```{code-cell} ipython3
from IPython.display import Markdown, Math, display

from icl.harness import claims

claims.start_chapter("ch90")
x = 2
```

Prose with a fence that is not a cell:

```python
raise RuntimeError("never run")
```

```{code-cell} ipython3
:tags: [skip-execution]

raise RuntimeError("skipped")
```

```{code-cell} ipython3
:tags: [jupyter-only]

import a_widget_library_absent_here
```

````{code-cell} ipython3
---
tags:
  - raises-exception
---
x += 1
raise KeyError("allowed")
````

```{code-cell} ipython3
import matplotlib.pyplot as plt

plt.plot([0, 1], [0, x])
display(Math(r"x = 3"), Markdown("**bold**"))
claims.check("ch90-mean", "a mean", theory=1.0, estimate=1.0 + 0.5 * (x - 3), stderr=0.1,
             rejects={"two": 2.0})
```
"""
)


TAGGED = (
    FRONT
    + """
```{code-cell} ipython3
x = 1
```

```{code-cell} ipython3
:tags: [skip-execution]

raise RuntimeError("skipped")
```

````{code-cell} ipython3
---
tags: [jupyter-only]
---
import a_widget_library_absent_here
````

```{code-cell} ipython3
:tags: [raises-exception]

raise KeyError("allowed")
```

```{code-cell} ipython3
x += 1
raise ZeroDivisionError(f"bad cell {x}")
```
"""
)


def test_execute_skips_tagged_cells_and_names_the_failing_cell(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # execute() moves into the chapter's folder
    chapter = tmp_path / "ch90_fake.md"
    chapter.write_text(TAGGED)
    with pytest.raises(ZeroDivisionError, match="bad cell 2") as error:
        chapter_runner.execute(chapter)
    log = capsys.readouterr().out
    assert [f"cell {n}:" in log for n in range(5)] == [True, False, False, True, False]
    frame = error.traceback[-1]
    assert str(frame.path) == "ch90_fake.md, cell 4" and "ZeroDivisionError" in str(frame.statement)


def _book(tmp_path, chapters: dict[str, str]):
    (tmp_path / "_config.yml").write_text("title: fake\n")
    (tmp_path / "book").mkdir()
    for name, text in chapters.items():
        (tmp_path / "book" / f"{name}.md").write_text(text)
    (tmp_path / "book" / "notes.md").write_text("# not a chapter\n")
    return tmp_path


def test_run_book_records_status_checks_and_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("ICL_DEVICE", "cpu")
    failing = FRONT + '\n```{code-cell} ipython3\nraise ZeroDivisionError("bad cell")\n```\n'
    slow = FRONT + "\n```{code-cell} ipython3\nimport time\n\ntime.sleep(30)\n```\n"
    root = _book(tmp_path, {"ch90_fake": PASSING, "ch91_bad": failing, "ch92_slow": slow})
    out = tmp_path / "results"
    budgets = {"ch90": 300, "ch91": 300, "ch92": 4}
    summary = chapter_runner.run_book(root, out, budgets=budgets, jobs=2)
    by_name = {c["chapter"]: c for c in summary["chapters"]}
    assert list(by_name) == ["ch90", "ch91", "ch92"]
    assert by_name["ch90"]["status"] == "passed", (out / "logs" / "ch90.log").read_text()
    assert by_name["ch90"]["checks"] == 1 and by_name["ch90"]["worst_z"] == 0.0
    assert by_name["ch91"]["status"] == "failed" and "ZeroDivisionError" in by_name["ch91"]["error"]
    assert by_name["ch92"]["status"] == "over budget" and by_name["ch92"]["seconds"] < 25
    assert not summary["passed"] and summary["device"] == "cpu"
    written = json.loads((out / "summary.json").read_text())
    assert written["chapters"][0]["claims"][0]["claim_id"] == "ch90-mean"
    assert (out / "claims" / "ch90.json").is_file()
    assert "[chapter_runner] cell 4:" in (out / "logs" / "ch90.log").read_text()


def test_chapter_paths_rejects_unknown_names(tmp_path):
    root = _book(tmp_path, {"ch90_fake": PASSING})
    assert [p.name for p in chapter_runner.chapter_paths(root / "book", None)] == ["ch90_fake.md"]
    assert chapter_runner.chapter_paths(root / "book", ["ch90"])[0].name == "ch90_fake.md"
    with pytest.raises(ValueError, match="unknown"):
        chapter_runner.chapter_paths(root / "book", ["ch99"])


def test_runner_refuses_bad_arguments_before_running(tmp_path):
    root = _book(tmp_path, {"ch90_fake": PASSING})
    with pytest.raises(ValueError, match="path must name an existing file"):
        chapter_runner.execute(tmp_path / "missing.md")
    with pytest.raises(ValueError, match="scale must be one of"):
        chapter_runner.budget("ch01", "fast")
    with pytest.raises(ValueError, match="root must be a book's root folder"):
        chapter_runner.run_book(root / "book", tmp_path / "out")
    with pytest.raises(ValueError, match="budgets must be > 0"):
        chapter_runner.run_book(root, tmp_path / "out", budgets={"ch90": 0})
    with pytest.raises(TypeError, match="chapters must be a list"):
        chapter_runner.run_book(root, tmp_path / "out", chapters="ch90")
    with pytest.raises(ValueError, match="jobs must be an integer >= 1"):
        chapter_runner.run_book(root, tmp_path / "out", jobs=0)
    assert not (tmp_path / "out").exists()  # refused before the results folder is made


def test_every_chapter_has_a_budget_and_they_fit_seven_minutes():
    from pathlib import Path

    book = Path(chapter_runner.__file__).resolve().parents[2] / "book"
    chapters = {p.stem.split("_")[0] for p in chapter_runner.chapter_paths(book, None)}
    assert chapters and chapters <= set(chapter_runner.BUDGETS), chapters - set(
        chapter_runner.BUDGETS
    )
    assert sum(chapter_runner.BUDGETS[c] for c in chapters) <= 420


def _run(commit, chapters):
    rows = [
        dict(chapter=name, status=status, seconds=10.0, worst_z=z) for name, status, z in chapters
    ]
    facts = dict(device="cpu", processor="x", dtype="float64", scale="full", model_scale="smoke")
    rows = [dict(r, budget=40, checks=1, failed_checks=0) for r in rows]
    run = dict(facts, python="3.11", torch="2", commit=commit, date=commit + "-date")
    return dict(run, seconds=10.0, passed=True, chapters=rows)


def test_publishing_a_subset_keeps_the_published_chapters_it_did_not_run():
    before = _run(
        "old", [("ch01", "passed", 1.0), ("ch04", "failed", 2.7), ("ch05", "passed", 1.1)]
    )
    before.update(passed=False, worst_z=2.7)
    now = _run("new", [("ch04", "passed", 3.1)])
    now.update(passed=True, worst_z=3.1)
    merged = chapter_runner.published(now, before)
    assert [(c["chapter"], c["commit"]) for c in merged["chapters"]] == [
        ("ch01", "old"),
        ("ch04", "new"),
        ("ch05", "old"),
    ]
    assert merged["passed"] and merged["worst_z"] == 3.1 and merged["seconds"] == 20.0
    elsewhere = dict(before, dtype="float32")
    assert [c["chapter"] for c in chapter_runner.published(now, elsewhere)["chapters"]] == ["ch04"]
    assert chapter_runner.published(now, None)["chapters"][0]["date"] == "new-date"
