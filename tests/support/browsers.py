"""Headless Chromium for the status page's browser tests (Debian's `chromium`, `chromium-driver`).

Without a browser the tests are skipped with a message saying what to install, except under
CI (`CI` set, as `.ci/run` does), where a missing browser is a failure, never a silent skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

INSTALL = "apt-get install -y chromium chromium-driver (Debian) and pip install selenium"


def _missing(what: str) -> None:
    message = f"the status page's browser test needs {what}: {INSTALL}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set: a browser test never skips in CI)")
    pytest.skip(message)


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """A headless Chromium driven through chromedriver; quit on exit."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium")
    browser = _find("chromium", "chromium-browser")
    driver_path = _find("chromedriver")
    if browser is None:
        _missing("chromium")
    if driver_path is None:
        _missing("chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(browser)
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--window-size=1600,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(driver_path)))
    try:
        driver.set_page_load_timeout(20)
        yield driver
    finally:
        driver.quit()
