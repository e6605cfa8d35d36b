"""Headless Chromium driven through WebDriver (Selenium), with the system's Chromium and its
driver (Debian packages ``chromium`` and ``chromium-driver``): nothing is downloaded.

:func:`chromium` is the context manager the browser tests open a page with; where the browser or
its driver is missing, :data:`MISSING` says which, and the tests skip with that message.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

BROWSER = next(
    (shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)),
    None,
)
DRIVER = shutil.which("chromedriver")
MISSING = (
    "Chromium is not installed (Debian package chromium)"
    if BROWSER is None
    else "ChromeDriver is not installed (Debian package chromium-driver)"
    if DRIVER is None
    else None
)


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 1600) -> Iterator[webdriver.Chrome]:
    """A headless Chromium session of the given window size, closed on exit."""
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    try:
        yield driver
    finally:
        driver.quit()
