"""Print an HTML page to PDF with headless Chromium once MathJax has typeset it, its fonts have
loaded and its images have decoded; print the page count and seconds.

    python scripts/print_pdf.py _build/singlehtml/index.html _build/pdf/book.pdf [--paper letter]

The page is printed by Chromium's own command, ``Page.printToPDF`` through DevTools, rather than
WebDriver's print command (``driver.print_page``): ChromeDriver allows that one ten seconds,
and the whole book takes minutes. The PDF has bookmarks from the page's headings.
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from pathlib import Path

from pypdf import PdfReader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import MISSING, chromium  # noqa: E402

CM_PER_INCH = 2.54
CSS_PX_PER_INCH = 96
PAPER_CM = {"a4": (21.0, 29.7), "letter": (21.59, 27.94)}
MARGIN_CM = {"Top": 1.5, "Bottom": 1.5, "Left": 1.8, "Right": 1.8}
# Resolves once MathJax 3 (the book's, from sphinx-mathjax-offline) has typeset the page, the
# page's fonts (MathJax's among them) have loaded and every image has decoded: with null, or with
# the error's text.
READY = """
const done = arguments[arguments.length - 1];
const typeset = window.MathJax && MathJax.startup ? MathJax.startup.promise : Promise.resolve();
typeset
  .then(() => document.fonts.ready)
  .then(() => Promise.all([...document.images].map(img => img.decode().catch(() => null))))
  .then(() => done(null), error => done(String(error)));
"""
# Scales down each displayed equation wider than its column (MathJax 3 does not break lines; the
# print would cut it off); returns how many. Run with the page laid out as printed.
FIT_EQUATIONS = """
let fitted = 0;
for (const math of document.querySelectorAll('mjx-container[display="true"]')) {
  const ratio = math.clientWidth / math.querySelector("mjx-math").getBoundingClientRect().width;
  if (ratio < 1) {
    math.style.fontSize = `${0.98 * ratio * parseFloat(getComputedStyle(math).fontSize)}px`;
    fitted += 1;
  }
}
return fitted;
"""


def print_parameters(paper: str) -> dict:
    """The parameters of ``Page.printToPDF``: portrait pages of ``paper`` with the book's margins,
    backgrounds printed, bookmarks from the headings.

    Parameters
    ----------
    paper : str
        ``"a4"`` or ``"letter"``.

    Returns
    -------
    dict
        The command's parameters (sizes in inches).
    """
    width, height = PAPER_CM[paper]
    margins = {f"margin{side}": cm / CM_PER_INCH for side, cm in MARGIN_CM.items()}
    return {
        "paperWidth": width / CM_PER_INCH,
        "paperHeight": height / CM_PER_INCH,
        **margins,
        "printBackground": True,
        "generateDocumentOutline": True,
    }


def fit_equations(driver, parameters: dict) -> int:
    """Scale down the displayed equations wider than the printed column.

    The page is laid out as it will be printed (print media, the paper's width less its margins)
    while the equations are measured and scaled, then shown as before.

    Parameters
    ----------
    driver : selenium.webdriver.Chrome
        The browser, with the page typeset.
    parameters : dict
        The parameters of ``Page.printToPDF`` it will be printed with.

    Returns
    -------
    int
        How many equations were scaled.
    """
    inches = parameters["paperWidth"] - parameters["marginLeft"] - parameters["marginRight"]
    width = round(inches * CSS_PX_PER_INCH)
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
    )
    fitted = driver.execute_script(FIT_EQUATIONS)
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    return fitted


def print_pdf(html: Path, pdf: Path, paper: str = "a4", timeout: float = 600.0) -> int:
    """Print ``html`` to ``pdf`` in headless Chromium once the page is typeset.

    Parameters
    ----------
    html : Path
        The page to print (a file).
    pdf : Path
        Where to write the PDF; its folder is created.
    paper : str
        ``"a4"`` or ``"letter"``.
    timeout : float
        Seconds allowed for loading and typesetting the page, and for printing it.

    Returns
    -------
    int
        The number of pages printed.

    Raises
    ------
    RuntimeError
        Where Chromium or its driver is missing, or MathJax failed to typeset the page.
    """
    if MISSING:
        raise RuntimeError(MISSING)
    with chromium() as driver:
        driver.command_executor.client_config.timeout = timeout
        driver.set_page_load_timeout(timeout)
        driver.set_script_timeout(timeout)
        driver.get(html.resolve().as_uri())
        error = driver.execute_async_script(READY)
        if error:
            raise RuntimeError(f"MathJax did not typeset {html}: {error}")
        parameters = print_parameters(paper)
        fit_equations(driver, parameters)
        printed = driver.execute_cdp_cmd("Page.printToPDF", parameters)
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.write_bytes(base64.b64decode(printed["data"]))
    return len(PdfReader(pdf).pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the HTML page to print")
    parser.add_argument("pdf", type=Path, help="the PDF to write")
    parser.add_argument("--paper", choices=sorted(PAPER_CM), default="a4")
    args = parser.parse_args()
    start = time.perf_counter()
    pages = print_pdf(args.html, args.pdf, args.paper)
    print(f"{args.pdf}: {pages} pages in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
