"""The static explorers as a reader meets them: each chapter page with one, opened in headless
Chromium (WebDriver; see tests/browser.py), each slider moved with the keyboard.

Asserts that the page loads BokehJS from the book's own ``_static`` (no script from the network),
that the Jupyter note is gone, and, for every slider, that moving it changes the setting, the drawn
curves and the pixels of the figure, and that the drawn values at the new setting equal an
independent computation (tests/test_static_explorers.py's references, from icl.theory) to the
significant digits the explorer shows. Also that what an explorer adds to its page, its HTML and
BokehJS, stays under 2 MB. Needs the built book (``make book``).
"""

from __future__ import annotations

import time
from functools import cache
from pathlib import Path

import pytest
from selenium.webdriver.common.keys import Keys

from icl import static_explorers
from tests.browser import MISSING, chromium
from tests.test_static_explorers import REFERENCES, agree

pytestmark = pytest.mark.built_book

HTML_ROOT = Path(__file__).resolve().parents[1] / "_build" / "html"
PAGES = {
    "ch01_linear_attention": "one_step",
    "ch03_noise_injection": "chains",
    "ch05_binary_coefficients": "votes",
    "ch09_hard_and_easy_prompts": "hard_and_easy",
}
WEIGHT_BUDGET = 2_000_000  # bytes an explorer may add to its page

# The explorer's Bokeh document: each slider's value and categories, each curve's drawn data.
STATE = """
const doc = Bokeh.documents[0];
const sliders = arguments[0].map(name => doc.get_model_by_name(name));
const curves = {};
for (const name of arguments[1]) {
  const data = doc.get_model_by_name(name).data;
  curves[name] = {x: Array.from(data.x), y: Array.from(data.y, v => isNaN(v) ? null : v)};
}
return {values: sliders.map(s => s.value), categories: sliders.map(s => s.categories), curves};
"""
# The sliders' handles (noUiSlider's, inside Bokeh's shadow roots), in document order.
HANDLES = """
const found = [];
const walk = root => {
  for (const el of root.querySelectorAll('*')) {
    if (el.classList.contains('noUi-handle')) found.push(el);
    if (el.shadowRoot) walk(el.shadowRoot);
  }
};
walk(document);
return found;
"""


@cache
def explorer(name: str) -> static_explorers.Explorer:
    return getattr(static_explorers, name)()


def page_path(page: str) -> Path:
    path = HTML_ROOT / "book" / f"{page}.html"
    if not path.is_file():
        pytest.fail(f"{path} is missing: build the book first (make book)")
    return path


def wait_for(driver, script: str, seconds: float = 30.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def setting_of(exp: static_explorers.Explorer, state: dict) -> dict:
    """The setting the sliders show, as the controls' values."""
    return {
        c.name: c.values[categories.index(value)]
        for c, value, categories in zip(exp.controls, state["values"], state["categories"])
    }


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_slider_moves_the_figure_to_the_exact_curves(page):
    exp = explorer(PAGES[page])
    names, curves = [c.name for c in exp.controls], [c.name for c in exp.curves]
    with chromium() as driver:
        driver.get(page_path(page).as_uri())
        wait_for(driver, "return window.Bokeh && Bokeh.documents.length > 0")
        handles = wait_for(driver, HANDLES)
        assert len(handles) == len(names), f"{len(handles)} slider handles for {names}"
        scripts = driver.execute_script(
            "return [...document.scripts].map(s => s.getAttribute('src')).filter(s => s)"
        )
        assert not [s for s in scripts if "://" in s or s.startswith("//")], scripts
        assert any("_static/bokeh/bokeh-widgets" in s for s in scripts), scripts
        assert not driver.execute_script("return document.querySelector('.icl-explorer-note')")
        driver.execute_script("arguments[0].scrollIntoView()", handles[0])
        for k, handle in enumerate(handles):
            before = driver.execute_script(STATE, names, curves)
            pixels = driver.get_screenshot_as_png()
            categories = before["categories"][k]
            at_end = categories.index(before["values"][k]) == len(categories) - 1
            handle.send_keys(Keys.ARROW_LEFT if at_end else Keys.ARROW_RIGHT)
            after = driver.execute_script(STATE, names, curves)
            moved = [i for i in range(len(names)) if after["values"][i] != before["values"][i]]
            assert moved == [k], f"moving slider {names[k]} changed {moved}"
            assert after["curves"] != before["curves"], f"{names[k]}: the curves did not change"
            time.sleep(0.3)  # a frame for the canvas
            assert driver.get_screenshot_as_png() != pixels, f"{names[k]}: no pixel changed"
            setting = setting_of(exp, after)
            for curve in curves:
                drawn = after["curves"][curve]
                expected = REFERENCES[PAGES[page]](curve, drawn["x"], **setting)
                if expected is not None:
                    assert agree(drawn["y"], expected), (setting, curve, drawn["y"][:5])
                stored = exp.curve_at(curve, setting)
                assert (drawn["x"], drawn["y"]) == (list(stored[0]), list(stored[1]))


@pytest.mark.parametrize("page", sorted(PAGES))
def test_an_explorer_adds_under_2_mb_to_its_page(page):
    source = page_path(page).read_text(encoding="utf-8")
    start = source.index('<div class="icl-explorer"')
    end = source.index("</div>", source.index('class="icl-explorer-caption"', start)) + 6
    bokehjs = sum(f.stat().st_size for f in (HTML_ROOT / "_static" / "bokeh").glob("*.js"))
    added = len(source[start:end].encode()) + bokehjs
    print(f"{page}: explorer {end - start} bytes of HTML + BokehJS {bokehjs} bytes = {added}")
    assert added < WEIGHT_BUDGET
