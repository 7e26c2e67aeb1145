"""Helpers for browser tests (import them; the fixtures are in conftest.py)."""

from __future__ import annotations

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
