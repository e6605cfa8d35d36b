"""scripts/chapter_lint.py counts a chapter's code and prose lines as the reading budget says."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "chapter_lint.py"
spec = importlib.util.spec_from_file_location("chapter_lint", SCRIPT)
chapter_lint = importlib.util.module_from_spec(spec)
spec.loader.exec_module(chapter_lint)

CHAPTER = """---
kernelspec:
  name: python3
---

# A chapter

One line of prose.
Another.

```{code-cell} ipython3
:tags: [hide-input]

x = 1

y = 2
```

```{code-cell} ipython3
---
tags: [remove-input]
---
z = 3
```
"""


def test_counts_code_and_prose_without_metadata_or_front_matter():
    counts = chapter_lint.count(CHAPTER)
    assert (counts.code, counts.prose, counts.largest_cell) == (3, 3, 2)
    assert counts.problems() == []


def test_reports_each_excess():
    long_cell = "```{code-cell} ipython3\n" + "x = 1\n" * 26 + "```\n"
    wide = "```{code-cell} ipython3\n" + "x = '" + "a" * 90 + "'\n```\n"
    counts = chapter_lint.count("prose\n" + long_cell + wide)
    problems = counts.problems()
    assert len(problems) == 3 and counts.long_cells == (2,) and counts.long_lines == (31,)
