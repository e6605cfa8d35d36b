"""Every figure of the built book is one click from the code that draws it.

Each chapter page is opened in headless Chromium: every image in a cell's output, and every
interactive explorer (an element of class ``icl-explorer``), has below it a "Drawn by" line whose
"source" link (``_ext/figure_source.py``) names a function the cell calls; following the link
lands on the function's source, whose targeted element holds its ``def``. The page has one link
per figure cell of its source: per code cell that calls a drawing module (``figures.``,
``explorers.`` or ``static_explorers.``) and keeps its output, so a figure without its link
fails. Needs the built book (``make book``; ``make test`` builds it and then runs this module)
and Chromium with its driver; skipped with a message where either is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest
from selenium.webdriver.common.by import By

from tests.browser import MISSING, chromium

BOOK_ROOT = Path(__file__).resolve().parents[1]
HTML_ROOT = BOOK_ROOT / "_build" / "html"
CHAPTERS = sorted(HTML_ROOT.glob("book/ch*.html")) if HTML_ROOT.is_dir() else []
DRAWING_CALL = re.compile(r"\b(?:figures|explorers|static_explorers)\.\w+\(")
REMOVED_OUTPUT = {"remove-output", "remove-cell"}

# For each figure of the page (an image in a cell's output, an explorer): the function named by
# the source link below it (null where it has none) and the code of the cell that drew it.
FIGURES = """
return [...document.querySelectorAll('.cell_output img, .icl-explorer')].map(figure => {
  const output = figure.closest('.cell_output');
  const link = output && output.querySelector('.figure-source a.figure-source-link');
  return {
    function: link && link.closest('.figure-source').querySelector('code').textContent,
    code: figure.closest('.cell')?.querySelector('.cell_input pre')?.textContent ?? '',
  };
});
"""
# The page's source links: the function each names and its address.
LINKS = """
return [...document.querySelectorAll('a.figure-source-link')].map(link => [
  link.closest('.figure-source').querySelector('code').textContent, link.href,
]);
"""
# On the landing page: the text of the element the URL's fragment targets (null where none).
TARGET = """
const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
return target && target.textContent;
"""

pytestmark = [
    pytest.mark.built_book,
    pytest.mark.skipif(MISSING is not None, reason=str(MISSING)),
]


def figure_cells(source: Path) -> int:
    """The number of code cells of a chapter's MyST source that call a drawing module and whose
    output the page keeps (not tagged ``remove-output`` or ``remove-cell``)."""
    notebook = jupytext.read(source, fmt="md:myst")
    return sum(
        1
        for cell in notebook.cells
        if cell.cell_type == "code"
        and DRAWING_CALL.search(cell.source)
        and not REMOVED_OUTPUT & set(cell.metadata.get("tags", []))
    )


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium session per test worker, with MathJax blocked: typesetting is most of
    a chapter page's load time, and the links do not depend on it."""
    with chromium() as driver:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/mathjax/*"]})
        yield driver


def test_the_book_is_built():
    assert CHAPTERS, f"no built chapters under {HTML_ROOT}/book: run `make book` first"


@pytest.mark.parametrize("page", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_figure_links_to_its_source(browser, page):
    browser.get(page.as_uri())
    figures = browser.execute_script(FIGURES)
    assert figures, "no figures on the page"
    unlinked = [f["code"].strip() for f in figures if f["function"] is None]
    assert not unlinked, f"figures without a source link, drawn by: {unlinked}"
    for figure in figures:
        name = figure["function"].rsplit(".", 1)[-1]
        assert f"{name}(" in figure["code"], f"{figure['function']} is not called by its cell"

    links = browser.execute_script(LINKS)
    cells = figure_cells(BOOK_ROOT / "book" / f"{page.stem}.md")
    assert len(links) == cells, f"{len(links)} source links for {cells} figure cells"
    # the first link is clicked, the others followed by their address
    browser.find_element(By.CSS_SELECTOR, "a.figure-source-link").click()
    for index, (function, href) in enumerate(links):
        if index:
            browser.get(href)
        module, name = function.rsplit(".", 1)
        code_page = (HTML_ROOT / "_modules" / f"{module.replace('.', '/')}.html").as_uri()
        assert browser.current_url.startswith(f"{code_page}#"), f"{function}: {href}"
        target = browser.execute_script(TARGET)
        assert target is not None, f"{browser.current_url} targets no element"
        assert f"def {name}(" in target, f"{browser.current_url} does not show def {name}"
