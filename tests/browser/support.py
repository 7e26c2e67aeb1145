"""Helpers for browser tests (import them; the fixtures are in conftest.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

WAIT_TIMEOUT = 10.0  # default for :func:`wait` (an element appearing, a progress bar finishing)


def wait(browser, condition, timeout: float = WAIT_TIMEOUT, message: str = ""):
    """``WebDriverWait(browser, timeout).until(condition)``: the condition's value, or a failure naming the
    page's URL and ``message`` when it does not hold in time."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(browser, timeout).until(condition)
    except TimeoutException:
        pytest.fail(f"after {timeout} s on {browser.current_url}: {message or condition}")


def download(browser, link, folder: Path, name: str, timeout: float = WAIT_TIMEOUT) -> Path:
    """Click ``link`` (an ``<a download>``) with downloads going to ``folder``; the saved file once complete."""
    folder.mkdir(parents=True, exist_ok=True)
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})
    link.click()
    path = folder / name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and not list(folder.glob("*.crdownload")):
            return path
        time.sleep(0.05)
    pytest.fail(f"{name} was not downloaded to {folder} within {timeout} s: {sorted(p.name for p in folder.iterdir())}")
