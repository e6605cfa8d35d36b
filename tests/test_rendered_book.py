"""The built book as a reader sees it: every page opened in headless Chromium.

Asserts that the math rendered (MathJax elements for every math node, no raw
TeX delimiters left in the text), that every image loaded, that every
internal link points to an existing page and anchor, that every citation of a
chapter's source became a link to its entry on the References page, that
every equation reference became a link to an existing equation, and that the API page shows each
function's docstring rendered: its parameter list, its formulas through MathJax, no literal
block. Needs the built book
(``make book``; ``make test`` builds it and then runs this module) and Chromium (Debian package
``chromium``); skipped with a message where Chromium is missing.
"""

from __future__ import annotations

import functools
import os
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


@functools.cache
def _dom(path: Path) -> str:
    """The page's DOM after Chromium loaded it and MathJax ran (one run per page and process)."""
    probe = path.with_name(f".probe-{os.getpid()}-{path.name}")  # one per test worker
    probe.write_text(
        path.read_text(encoding="utf-8").replace("</body>", PROBE, 1), encoding="utf-8"
    )
    try:
        with tempfile.TemporaryDirectory() as profile:
            return subprocess.run(
                [BROWSER, *FLAGS, f"--user-data-dir={profile}", probe.as_uri()],
                capture_output=True,
                text=True,
                timeout=300,  # a hang guard: the API page runs MathJax on a thousand formulas
                check=True,
            ).stdout
    finally:
        probe.unlink()


def _render(path: Path) -> _Page:
    return _parse(_dom(path))


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


class _Functions(HTMLParser):
    """The functions documented on an API page (autodoc's ``<dl class="py function">``), each with
    its signature's parameter names, the names its Parameters list documents, its math nodes,
    the MathJax elements in it, its literal blocks (``<pre>``), and whether it has a Notes
    section."""

    def __init__(self):
        super().__init__()
        self.functions: dict[str, dict] = {}
        self._dls: list[str | None] = []  # per open <dl>: the function it opens, else None
        self._current: dict | None = None
        self._in = {}  # the open elements that matter: signature parameter, field name, ...
        self._field = None

    def _record(self):
        names = [name for name in self._dls if name]
        return self.functions[names[-1]] if names else None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "dl":
            name = None
            if "py" in classes and "function" in classes:
                name = f"#{len(self.functions)}"
                self.functions[name] = {
                    "id": None,
                    "signature": [],
                    "documented": [],
                    "math": 0,
                    "mathjax": 0,
                    "pre": 0,
                    "notes": False,
                }
            self._dls.append(name)
        record = self._record()
        if record is None:
            return
        if tag == "dt" and "sig-object" in classes and record["id"] is None:
            record["id"] = attrs.get("id")
        if tag == "em" and "sig-param" in classes:
            self._in["param"] = ""
        if tag == "dt" and any(c.startswith("field-") for c in classes):
            self._in["field"] = ""
        if tag == "strong" and self._field == "Parameters":
            self._in["strong"] = ""
        if tag == "p" and "rubric" in classes:
            self._in["rubric"] = ""
        if "math" in classes:
            record["math"] += 1
        if tag == "mjx-container":
            record["mathjax"] += 1
        if tag == "pre":
            record["pre"] += 1

    def handle_data(self, data):
        for key in self._in:
            self._in[key] += data

    def handle_endtag(self, tag):
        record = self._record()
        if tag == "em" and "param" in self._in:
            name = self._in.pop("param").split(":")[0].split("=")[0].strip().lstrip("*")
            if name.isidentifier() and record is not None:
                record["signature"].append(name)
        if tag == "dt" and "field" in self._in:
            self._field = self._in.pop("field").strip().rstrip(":")
        if tag == "strong" and "strong" in self._in and record is not None:
            record["documented"].append(self._in.pop("strong").strip().lstrip("*"))
        if tag == "p" and "rubric" in self._in and record is not None:
            record["notes"] |= self._in.pop("rubric").strip() == "Notes"
        if tag == "dl" and self._dls:
            if self._dls.pop():
                self._field = None


def api_problems(dom: str) -> list[str]:
    """What a reader of the API page (its DOM after MathJax ran) would miss: a function whose
    parameters its Parameters list does not all name, math not rendered by MathJax, a docstring
    shown as a literal block; and a page without any function whose Notes hold a formula."""
    parser = _Functions()
    parser.feed(dom)
    functions = [f for f in parser.functions.values() if f["id"]]
    problems = []
    for f in functions:
        missing = [name for name in f["signature"] if name not in f["documented"]]
        if missing:
            problems.append(f"{f['id']}: parameters missing from its Parameters list: {missing}")
        if f["mathjax"] < f["math"]:
            problems.append(f"{f['id']}: MathJax rendered {f['mathjax']} of {f['math']} formulas")
        if f["pre"]:
            problems.append(f"{f['id']}: {f['pre']} literal blocks in its docstring")
    if not any(f["notes"] and f["mathjax"] for f in functions):
        problems.append("no function with a Notes formula rendered by MathJax")
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


@pytest.mark.skipif(not (HTML_ROOT / "book" / "api.html").is_file(), reason="no API page")
def test_the_api_page_renders_parameters_and_formulas():
    problems = api_problems(_dom(HTML_ROOT / "book" / "api.html"))
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def test_the_api_check_catches_a_docstring_shown_raw():
    """A function without its parameter list, with unrendered math and a literal block fails;
    one with its parameters and its Notes formula rendered passes."""
    good = (
        '<dl class="py function"><dt class="sig sig-object py" id="m.good">m.good(<em '
        'class="sig-param"><span class="n">x</span>: <span class="n">int</span></em>, <em '
        'class="sig-param">*</em>)</dt><dd><p>Summary.</p><dl class="field-list"><dt '
        'class="field-odd">Parameters<span class="colon">:</span></dt><dd><ul><li><p><strong>x'
        '</strong> (<em>int</em>) – A number.</p></li></ul></dd></dl><p class="rubric">Notes</p>'
        '<p><span class="math"><mjx-container>x</mjx-container></span></p></dd></dl>'
    )
    bad = (
        '<dl class="py function"><dt class="sig sig-object py" id="m.bad">m.bad(<em '
        'class="sig-param">y=1</em>)</dt><dd><p>Summary.</p><pre>||y||^2</pre><p><span '
        'class="math">\\(y\\)</span></p></dd></dl>'
    )
    assert api_problems(good) == []
    assert api_problems(bad) == [
        "m.bad: parameters missing from its Parameters list: ['y']",
        "m.bad: MathJax rendered 0 of 1 formulas",
        "m.bad: 1 literal blocks in its docstring",
        "no function with a Notes formula rendered by MathJax",
    ]
    assert api_problems(good + bad)[-1] == "m.bad: 1 literal blocks in its docstring"


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
