"""The book's reading budget for its chapters: code lines at most equal to prose lines, no code cell
over 25 lines, no chapter code line over 88 characters.

Counted in the jupytext MyST sources: a code line is a non-blank line of a ``{code-cell}`` (its
metadata lines not counted), a prose line a non-blank line outside the code cells and the front
matter. ``python scripts/chapter_lint.py [chapter.md ...]`` prints one line per chapter and exits 1
if any chapter is over budget.
"""

import re
import sys
from dataclasses import dataclass
from pathlib import Path

MAX_CELL_LINES = 25
MAX_LINE_CHARS = 88
MAX_CODE_TO_PROSE = 1.0

CELL_START = re.compile(r"^```\{code-cell\}")
FENCE = re.compile(r"^```\s*$")


@dataclass(frozen=True)
class ChapterCounts:
    """Line counts of one chapter source."""

    code: int
    prose: int
    largest_cell: int
    longest_code_line: int
    long_cells: tuple[int, ...]
    long_lines: tuple[int, ...]

    def problems(self) -> list[str]:
        """What breaks the budget, one phrase each (empty when within it)."""
        found = []
        if self.code > MAX_CODE_TO_PROSE * self.prose:
            found.append(f"{self.code} code lines against {self.prose} prose lines")
        if self.long_cells:
            found.append(f"cells over {MAX_CELL_LINES} lines at lines {list(self.long_cells)}")
        if self.long_lines:
            found.append(f"code over {MAX_LINE_CHARS} characters at lines {list(self.long_lines)}")
        return found


def count(text: str) -> ChapterCounts:
    """Code and prose lines of a MyST notebook's text, with its largest cell and longest line."""
    lines = text.splitlines()
    start = 0
    if lines and lines[0].strip() == "---":
        start = next(i for i in range(1, len(lines)) if lines[i].strip() == "---") + 1
    code = prose = 0
    cells: list[tuple[int, int]] = []  # (first line number, code lines)
    long_lines: list[int] = []
    longest = 0
    i = start
    while i < len(lines):
        line = lines[i]
        if CELL_START.match(line):
            first, size, i = i + 1, 0, i + 1
            if i < len(lines) and lines[i].strip() == "---":  # a metadata block
                i = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "---") + 1
            while i < len(lines) and lines[i].startswith(":") and not FENCE.match(lines[i]):
                i += 1  # ':tags: [...]' metadata lines
            while i < len(lines) and not FENCE.match(lines[i]):
                if lines[i].strip():
                    size += 1
                    longest = max(longest, len(lines[i]))
                    if len(lines[i]) > MAX_LINE_CHARS:
                        long_lines.append(i + 1)
                i += 1
            cells.append((first, size))
            code += size
        elif line.strip():
            prose += 1
        i += 1
    return ChapterCounts(
        code=code,
        prose=prose,
        largest_cell=max((size for _, size in cells), default=0),
        longest_code_line=longest,
        long_cells=tuple(first for first, size in cells if size > MAX_CELL_LINES),
        long_lines=tuple(long_lines),
    )


def chapters(root: Path) -> list[Path]:
    """The book's chapters: its MyST sources with a kernel."""
    return sorted(p for p in (root / "book").glob("*.md") if "\nkernelspec:" in p.read_text())


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or chapters(Path(__file__).resolve().parents[1])
    failed = False
    for path in paths:
        counts = count(path.read_text())
        problems = counts.problems()
        failed |= bool(problems)
        print(
            f"{path.name}: code {counts.code} / prose {counts.prose}, largest cell "
            f"{counts.largest_cell} lines, longest code line {counts.longest_code_line} chars"
            + ("" if not problems else " -- OVER BUDGET: " + "; ".join(problems))
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
