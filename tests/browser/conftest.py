"""Chromium, driven by Selenium, for the web UI's end-to-end tests.

The browser is Debian's ``chromium`` with its ``chromedriver`` (``scripts/install-browser.sh``,
which ``make test`` runs first; the fixture runs it too when they are missing), so nothing is
downloaded from outside the Debian registry. Screenshots go to ``tests/browser/.artifacts/``
(git-ignored; ``CNAI_TEST_ARTIFACTS`` overrides it), and the path is printed at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install-browser.sh"


def _ensure_chromium() -> tuple[str, str]:
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        subprocess.run(["sh", str(INSTALL)], check=True, timeout=900)
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not browser or not driver:
        pytest.fail("chromium and chromedriver are missing and scripts/install-browser.sh could not install them")
    return browser, driver


@pytest.fixture(scope="session")
def shots(request: pytest.FixtureRequest) -> Path:
    """Where screenshots go; printed in the terminal summary so a reader can open them."""
    folder = Path(os.environ.get("CNAI_TEST_ARTIFACTS", ROOT / "tests" / "browser" / ".artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        request.config.add_cleanup(lambda: reporter.write_line(f"browser screenshots: {folder}"))
    return folder


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = _ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
