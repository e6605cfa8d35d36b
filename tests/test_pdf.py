"""The printed book, ``_build/pdf/book.pdf`` (``make pdf``), read back with pypdf.

Every document of the table of contents has a bookmark, in order, at a page that shows its title
(the first ``# `` heading of its source); a chapter's pages run from there to the next one's.
Each chapter shows at least as many equation numbers, "(n)", as its source labels equations (the
single page numbers them on through the book), and a figure; no page shows TeX left unrendered
outside code (set in a monospace font, whose text is left out). Skipped with a message where
Chromium or its driver is missing (``make test`` then prints no PDF); where they are installed, a
missing PDF fails.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader

from tests.browser import MISSING

ROOT = Path(__file__).resolve().parents[1]
PDF = ROOT / "_build" / "pdf" / "book.pdf"
# A labelled equation: MyST's `$$ ... $$ (label)` or a {math} directive's `:label:` option.
LABELLED = re.compile(r"^\$\$\s*\([^)]+\)\s*$|^:label:\s*\S", re.MULTILINE)
NUMBER = re.compile(r"\((\d+)\)")
RAW_TEX = re.compile(r"\$\$|\\[()\[\]]|\\[A-Za-z]{2,}")

pytestmark = pytest.mark.built_book


def toc_documents() -> list[str]:
    """The documents of ``_toc.yml`` in order (``book/intro``, ``book/ch01_...``, ...)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


DOCUMENTS = toc_documents()
CHAPTERS = [d for d in DOCUMENTS if Path(d).name.startswith("ch")]


def title_of(document: str) -> str:
    """The first ``# `` heading of the document's source, outside fenced code."""
    fenced = False
    for line in (ROOT / f"{document}.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("# "):
            return line[2:].strip()
    raise AssertionError(f"{document}.md has no `# ` heading")


def squeezed(text: str) -> str:
    """``text`` compared as printed: ligatures unfolded (NFKC), whitespace dropped (a line break
    inside a title loses its space in the PDF's text and bookmarks)."""
    return "".join(unicodedata.normalize("NFKC", text).split())


@functools.cache
def reader() -> PdfReader:
    """The PDF, read once per test process."""
    if not PDF.is_file():
        if MISSING:
            pytest.skip(f"{MISSING}: the book is not printed")
        pytest.fail(f"{PDF} is missing: run `make pdf`")
    return PdfReader(PDF)


@functools.cache
def prose(page: int) -> str:
    """The text of a page outside code (whatever is set in a monospace font)."""
    parts = []

    def keep(text, cm, tm, font, size):
        if font is None or "Mono" not in str(font.get("/BaseFont", "")):
            parts.append(text)

    reader().pages[page].extract_text(visitor_text=keep)
    return "".join(parts)


@functools.cache
def start_pages() -> dict[str, int]:
    """Each document's first page: that of the bookmark bearing its title."""
    pdf = reader()
    bookmarks = {}

    def walk(outline):
        for item in outline:
            if isinstance(item, list):
                walk(item)
            else:
                bookmarks.setdefault(squeezed(item.title), pdf.get_destination_page_number(item))

    walk(pdf.outline)
    missing = [d for d in DOCUMENTS if squeezed(title_of(d)) not in bookmarks]
    assert not missing, f"no bookmark for {missing}"
    return {d: bookmarks[squeezed(title_of(d))] for d in DOCUMENTS}


def pages_of(document: str) -> range:
    """The pages from the document's first to the next document's first (or the last page)."""
    starts = start_pages()
    later = [p for d, p in starts.items() if p > starts[document]]
    return range(starts[document], min(later, default=len(reader().pages)))


def images_on(resources) -> int:
    """Image XObjects in a page's resources, in its forms included."""
    count = 0
    for xobject in (resources or {}).get("/XObject", {}).values():
        xobject = xobject.get_object()
        if xobject.get("/Subtype") == "/Image":
            count += 1
        elif xobject.get("/Subtype") == "/Form":
            count += images_on(xobject.get("/Resources"))
    return count


def test_every_document_opens_at_its_title_in_order():
    starts = start_pages()
    assert list(starts.values()) == sorted(starts.values()), starts
    untitled = [d for d, p in starts.items() if squeezed(title_of(d)) not in squeezed(prose(p))]
    assert not untitled, f"pages that do not show their title: {untitled}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[Path(c).name for c in CHAPTERS])
def test_numbered_equations_show_their_numbers(chapter):
    labelled = len(LABELLED.findall((ROOT / f"{chapter}.md").read_text(encoding="utf-8")))
    numbers = {n for page in pages_of(chapter) for n in NUMBER.findall(prose(page))}
    assert len(numbers) >= labelled, f"{labelled} numbered equations, numbers shown: {numbers}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=[Path(d).name for d in DOCUMENTS])
def test_no_tex_left_outside_code(document):
    raw = {page: found for page in pages_of(document) if (found := RAW_TEX.findall(prose(page)))}
    assert not raw, f"unrendered TeX (page: matches): {raw}"


def test_every_chapter_shows_a_figure():
    pdf = reader()
    bare = [
        chapter
        for chapter in CHAPTERS
        if not any(images_on(pdf.pages[p].get("/Resources")) for p in pages_of(chapter))
    ]
    assert not bare, f"chapters without an image: {bare}"
