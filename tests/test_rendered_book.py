"""The built book as a reader sees it: every page opened in headless Chromium.

Asserts that the math rendered (MathJax elements for every math node, no raw
TeX delimiters left in the text), that every image loaded, that every
internal link points to an existing page and anchor, that every citation of a
chapter's source became a link to its entry on the References page, and that
every equation reference became a link to an existing equation. Needs the built book
(``make book``; ``make test`` builds it and then runs this module) and Chromium (Debian package
``chromium``); skipped with a message where Chromium is missing.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

BOOK_ROOT = Path(__file__).resolve().parents[1]
HTML_ROOT = BOOK_ROOT / "_build" / "html"
BROWSER = next(
    (shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)),
    None,
)
PAGES = sorted(HTML_ROOT.glob("book/*.html")) if HTML_ROOT.is_dir() else []
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=30000",
    "--dump-dom",
]
# Runs in the page after load: records how many MathJax elements exist and which images failed to
# load.
PROBE = """<script>
window.addEventListener('load', () => setTimeout(() => {
  const broken = [...document.images]
    .filter(i => !(i.complete && i.naturalWidth > 0))
    .map(i => i.getAttribute('src'));
  document.body.setAttribute('data-probe-broken', JSON.stringify(broken));
  document.body.setAttribute('data-probe-done', '1');
}, 5000));
</script></body>"""


class _Page(HTMLParser):
    """Collects ids, links, math nodes, MathJax output, and the visible text outside code and
    math."""

    SKIP = {"script", "style", "pre", "code", "mjx-container", "textarea"}

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.text = set(), [], []
        self.references = []  # the links that are not headerlinks (an element's own permalink)
        self.math_nodes = self.mathjax = 0
        self.body_attrs = {}
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
            if "headerlink" not in (attrs.get("class") or "").split():
                self.references.append(attrs["href"])
        if tag == "body":
            self.body_attrs = attrs
        if "math" in (attrs.get("class") or "").split():
            self.math_nodes += 1
        if tag == "mjx-container":
            self.mathjax += 1
        if tag in self.SKIP:
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@functools.cache
def _ids(path: Path) -> frozenset[str]:
    """The element ids of a built page, parsed once per page (the API page alone links to its
    own anchors hundreds of times)."""
    return frozenset(_parse(path.read_text(encoding="utf-8")).ids)


def _render(path: Path) -> _Page:
    probe = path.with_name(f".probe-{path.name}")
    probe.write_text(
        path.read_text(encoding="utf-8").replace("</body>", PROBE, 1), encoding="utf-8"
    )
    try:
        with tempfile.TemporaryDirectory() as profile:
            dom = subprocess.run(
                [BROWSER, *FLAGS, f"--user-data-dir={profile}", probe.as_uri()],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            ).stdout
    finally:
        probe.unlink()
    return _parse(dom)


def rendering_problems(path: Path) -> list[str]:
    """What a reader would see wrong on the page: unrendered math, raw TeX, images that did not
    load."""
    page = _render(path)
    if page.body_attrs.get("data-probe-done") != "1":
        return ["the page did not finish loading in Chromium"]
    problems = []
    if page.body_attrs.get("data-probe-broken") != "[]":
        problems.append(f"images that failed to load: {page.body_attrs.get('data-probe-broken')}")
    source = _parse(path.read_text(encoding="utf-8"))
    if page.mathjax < source.math_nodes:
        problems.append(f"MathJax rendered {page.mathjax} of {source.math_nodes} math nodes")
    raw = re.findall(r"\\\(|\\\)|\\\[|\\\]|\$\$|\$[^$\s][^$\n]{0,80}\$", " ".join(page.text))
    if raw:
        problems.append(f"raw TeX left in the rendered text: {raw[:5]}")
    return problems


# A MyST citation role ({cite}, {cite:p}, {cite:t}, ...) with the keys it cites; an equation
# reference.
CITE_ROLE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")
EQ_ROLE = re.compile(r"\{eq\}`([^`]+)`")
# What an unresolved role leaves in the page's text: the role itself, or sphinxcontrib-bibtex's
# "??".
UNRESOLVED = re.compile(r"\{(?:cite(?::\w+)?|eq)\}|\?\?")


def _source_of(path: Path) -> str:
    """The MyST source of a built page (``book/<stem>.md``), or "" where there is none."""
    source = BOOK_ROOT / "book" / f"{path.stem}.md"
    return source.read_text(encoding="utf-8") if source.exists() else ""


def _internal_targets(path: Path, hrefs: list[str]):
    """(href, target file, fragment) of the links among hrefs that point into the built book."""
    for href in hrefs:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            continue
        target = (path.parent / unquote(parts.path)).resolve() if parts.path else path.resolve()
        yield href, target, parts.fragment


def citation_problems(path: Path, source: str | None = None) -> list[str]:
    """Citations that did not resolve: fewer links into the References page than the source cites
    keys, a citation link whose entry is missing there, or unresolved citation text on the page."""
    source = _source_of(path) if source is None else source
    cited = [key.strip() for keys in CITE_ROLE.findall(source) for key in keys.split(",")]
    page = _parse(path.read_text(encoding="utf-8"))
    references = path.with_name("references.html").resolve()
    entries = _parse(references.read_text(encoding="utf-8")).ids if references.exists() else set()
    links = [(h, f) for h, t, f in _internal_targets(path, page.links) if t == references and f]
    problems = []
    if len(links) < len(cited):
        problems.append(f"{len(cited)} citations in the source, {len(links)} links to References")
    problems += [
        f"citation {h} has no entry on the References page" for h, f in links if f not in entries
    ]
    text = " ".join(page.text)
    if UNRESOLVED.search(text):
        problems.append(f"unresolved citation or reference text: {UNRESOLVED.findall(text)[:5]}")
    return problems


def equation_reference_problems(path: Path, source: str | None = None) -> list[str]:
    """Equation references that did not resolve: fewer links to equations than the source has
    {eq} roles, a link to an equation anchor that does not exist, or an unresolved role's text."""
    source = _source_of(path) if source is None else source
    referenced = EQ_ROLE.findall(source)
    page = _parse(path.read_text(encoding="utf-8"))
    links = [
        (h, t, f)
        for h, t, f in _internal_targets(path, page.references)
        if f.startswith("equation-")
    ]
    problems = []
    if len(links) < len(referenced):
        problems.append(f"{len(referenced)} equation references in the source, {len(links)} links")
    for href, target, fragment in links:
        ids = _ids(target) if target.exists() else set()
        if fragment not in ids:
            problems.append(f"equation reference {href} points to no equation")
    if re.search(r"\{eq\}", " ".join(page.text)):
        problems.append("unresolved {eq} text on the page")
    return problems


def broken_links(path: Path) -> list[str]:
    """Relative links of the page whose file or anchor does not exist."""
    page = _parse(path.read_text(encoding="utf-8"))
    broken = []
    for href in page.links:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            continue
        target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if not target.exists():
            broken.append(href)
        elif parts.fragment and target.suffix == ".html" and parts.fragment not in _ids(target):
            broken.append(href)
    return broken


pytestmark = [
    pytest.mark.built_book,
    pytest.mark.skipif(
        BROWSER is None,
        reason="Chromium is not installed (Debian: apt-get install chromium); "
        "the rendered-book test needs it",
    ),
]


def test_the_book_is_built():
    assert PAGES, f"no built pages under {HTML_ROOT}/book: run `make book` first"


@pytest.mark.parametrize("path", PAGES, ids=[p.stem for p in PAGES])
def test_page_renders_math_and_images(path):
    assert rendering_problems(path) == []


@pytest.mark.parametrize("path", PAGES, ids=[p.stem for p in PAGES])
def test_internal_links_resolve(path):
    assert broken_links(path) == []


@pytest.mark.parametrize("path", PAGES, ids=[p.stem for p in PAGES])
def test_citations_resolve(path):
    assert citation_problems(path) == []


@pytest.mark.parametrize("path", PAGES, ids=[p.stem for p in PAGES])
def test_equation_references_resolve(path):
    assert equation_reference_problems(path) == []


def test_every_chapter_cites_and_references_equations():
    """The chapters' sources do use citations and equation references (so the two tests above
    check something on every chapter page)."""
    chapters = [p for p in PAGES if p.stem.startswith("ch")]
    assert chapters
    for page in chapters:
        source = _source_of(page)
        assert CITE_ROLE.search(source) and EQ_ROLE.search(source), page.stem


def test_the_citation_and_equation_checks_catch_broken_references(tmp_path):
    """A page citing three keys with two links, a link to a missing entry, leftover role text,
    equation links to a missing anchor, and a page whose only second "reference" is an equation's
    own permalink fail; a page whose links all resolve passes."""
    (tmp_path / "references.html").write_text('<html><body><p id="ref-a">A</p></body></html>')
    (tmp_path / "other.html").write_text(
        '<html><body><div class="math" id="equation-x">x</div></body></html>'
    )
    source = "{cite:p}`a,b` and {cite:t}`c`, see {eq}`x` and {eq}`y`"
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><a href="references.html#ref-a">A</a><a href="references.html#ref-z">Z</a>'
        '<p>as shown by ?? and {cite:p}</p><a href="other.html#equation-x">(1)</a>'
        '<a href="#equation-y">(2)</a><p>{eq}</p><a class="headerlink" href="#equation-z">#</a>'
        "</body></html>"
    )
    problems = " | ".join(citation_problems(bad, source))
    assert "3 citations in the source, 2 links" in problems
    assert "references.html#ref-z has no entry" in problems and "unresolved" in problems
    problems = " | ".join(equation_reference_problems(bad, source))
    assert "#equation-y points to no equation" in problems and "unresolved {eq}" in problems
    assert "equation-z" not in problems  # an equation's own permalink is not a reference
    one_ref = tmp_path / "one_ref.html"
    one_ref.write_text(
        '<html><body><div class="math" id="equation-x">x<a class="headerlink" href="#equation-x">'
        '#</a></div><a href="#equation-x">(1)</a></body></html>'
    )
    assert equation_reference_problems(one_ref, source) == [
        "2 equation references in the source, 1 links"
    ]
    good = tmp_path / "good.html"
    good.write_text(
        '<html><body><a href="references.html#ref-a">A</a><a href="references.html#ref-a">A</a>'
        '<a href="references.html#ref-a">A</a><a href="other.html#equation-x">(1)</a>'
        '<a href="other.html#equation-x">(1)</a></body></html>'
    )
    assert citation_problems(good, source) == []
    assert equation_reference_problems(good, source) == []


def test_the_checks_catch_a_broken_page(tmp_path):
    """A page with raw TeX, an unrendered math node, a missing image and a dead link fails every
    check."""
    (tmp_path / "other.html").write_text('<html><body><p id="here">x</p></body></html>')
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><body><p>worst $|z|$ and \\(x\\)</p><span class="math">\\(a\\)</span>'
        '<img src="missing.png"><a href="other.html#nowhere">a</a><a href="gone.html">b</a>'
        '<a href="other.html#here">ok</a></body></html>'
    )
    problems = " | ".join(rendering_problems(page))
    assert "images that failed to load" in problems and "missing.png" in problems
    assert "MathJax rendered 0 of 1" in problems and "raw TeX" in problems and "$|z|$" in problems
    assert broken_links(page) == ["other.html#nowhere", "gone.html"]
