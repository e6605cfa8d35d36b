"""``book/conftest.py`` hands a jupytext chapter's code cells to nbval: a cell that raises fails
(unless tagged ``raises-exception``), a cell's output without stored outputs does not, and a
Markdown page without a kernel is not collected."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbval")

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

```{code-cell} ipython3
print("shown, not compared")
x = 1
```

```{code-cell} ipython3
:tags: [raises-exception]

1 / 0
```

```{code-cell} ipython3
assert x == 2, "x is not 2"
```
"""


def test_chapter_cells_run_under_nbval(tmp_path):
    (tmp_path / "ch99_fake.md").write_text(CHAPTER)
    (tmp_path / "notes.md").write_text("# A page, not a notebook\n")
    shutil.copy(BOOK / "conftest.py", tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-q", "-rf"]
        + ["-p", "no:cacheprovider", "-p", "no:xdist", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "1 failed, 2 passed" in run.stdout, run.stdout + run.stderr
    assert "FAILED ch99_fake.md::Cell 2" in run.stdout
