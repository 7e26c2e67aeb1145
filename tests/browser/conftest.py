"""Browser-test fixtures: headless Chromium (Debian's chromium + chromium-driver) driven by Selenium against a
real demo node on loopback, one browser and one node per test session (tests/README.md, "Browser tests")."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import debian_tool
from tests.node.conftest import Node

PAGE_TIMEOUT = 30.0  # seconds for one page load or one script; a wedged page fails the test instead of hanging it
WINDOW = (1280, 900)  # a laptop; tests that check the phone layout call browser.set_window_size(375, 800)
# Headless, no sandbox (CI runs as root in a container), and no traffic beyond loopback.
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-default-browser-check",
    "--password-store=basic",
)
_SCREENSHOTS: list[Path] = []


@pytest.fixture(scope="session")
def chromium_paths() -> tuple[str, str]:
    """``(chromium, chromedriver)``: installed with apt-get when missing and root; under ``CI=true`` a missing
    browser fails the test, elsewhere it skips with the command to run (as ``promtool`` does)."""
    chromium = debian_tool("chromium", "chromium")
    chromedriver = debian_tool("chromedriver", "chromium-driver")
    _chinese_font()
    return chromium, chromedriver


def _chinese_font() -> None:
    """Best effort: a small Chinese font (Debian ``fonts-wqy-microhei``, 1.6 MB) so screenshots of Chinese pages
    show text, not boxes. The tests read text from the DOM, so they pass without it."""
    fc_list = shutil.which("fc-list")
    if fc_list is None or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    if subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True).stdout.strip():
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends"]
    subprocess.run([*install, "fonts-wqy-microhei"], env=env, capture_output=True)


@pytest.fixture(scope="session")
def browser_session(chromium_paths, tmp_path_factory) -> Iterator[object]:
    """The one headless Chromium of the session (a fresh profile in a temporary folder)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = chromium_paths
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.add_argument("--lang=en-US")
    # Explicit binaries: Selenium Manager (which could download a driver) never runs.
    service = Service(executable_path=chromedriver, log_output=str(tmp_path_factory.mktemp("chromedriver") / "log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    driver.set_script_timeout(PAGE_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(browser_session):
    """The session's browser, signed out of everything: cookies cleared and the laptop window size restored,
    so each test starts as a new visitor."""
    browser_session.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser_session.set_window_size(*WINDOW)
    return browser_session


@pytest.fixture(scope="session")
def console_node(tmp_path_factory) -> Iterator[Node]:
    """One ``idnode serve --demo`` on loopback for the whole browser session (prefork workers + writer, as in
    production): the demo enterprise owns ``88.118.8`` with its template and 10,000 identifiers. Tests that
    change data use their own handles (or enterprises) so they do not depend on each other's order."""
    node = Node(tmp_path_factory.mktemp("console-node") / "data", "--demo", "--map-size", "64MiB")
    node.start(timeout=300)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def console_url(console_node) -> str:
    """``http://127.0.0.1:<port>/console/``."""
    return f"{console_node.http}/console/"


@pytest.fixture(scope="session")
def demo_token(console_node) -> str:
    """The demo enterprise's token (``idn1....``), as ``idnode serve --demo`` prints it."""
    return (console_node.data_dir / "demo.token").read_text().strip()


@pytest.fixture(scope="session")
def admin_credential(console_node) -> str:
    """The node-admin credential written at first start."""
    return console_node.admin_token


def artifacts_dir(config: pytest.Config) -> Path:
    """``$IDNODE_ARTIFACTS``, else ``test-artifacts/browser/`` in the checkout (gitignored)."""
    folder = Path(os.environ.get("IDNODE_ARTIFACTS") or config.rootpath / "test-artifacts" / "browser")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def screenshot(browser, request) -> Callable[[str], Path]:
    """``screenshot(name)`` saves the page as ``<artifacts>/<test>-<name>.png``, prints the path and returns it
    (the paths are listed again at the end of the run)."""

    def take(name: str) -> Path:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{request.node.name}-{name}")
        path = artifacts_dir(request.config) / f"{stem}.png"
        path.write_bytes(full_page_png(browser))
        _SCREENSHOTS.append(path)
        print(f"screenshot: {path}")
        return path

    return take


def full_page_png(browser) -> bytes:
    """The whole page as PNG, not only the window's part (Chrome DevTools ``Page.captureScreenshot``)."""
    size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    # The capture lays the page out without a vertical scroll bar, so as wide as the window, not the content.
    width = max(size["width"], browser.execute_script("return window.innerWidth"))
    clip = {"x": 0, "y": 0, "width": width, "height": size["height"], "scale": 1}
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    return base64.b64decode(shot["data"])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing browser test leaves a screenshot of what the browser showed (``<test>-failure.png``)."""
    report = yield
    driver = item.funcargs.get("browser") if hasattr(item, "funcargs") else None
    if report.failed and call.when == "call" and driver is not None:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{item.name}-failure")
        path = artifacts_dir(item.config) / f"{stem}.png"
        try:
            path.write_bytes(full_page_png(driver))
            _SCREENSHOTS.append(path)
            report.sections.append(("browser", f"screenshot of the failure: {path}\npage: {driver.current_url}"))
        except Exception as exc:  # a crashed browser: the failure itself says more than this
            report.sections.append(("browser", f"no failure screenshot: {exc}"))
    return report


def pytest_terminal_summary(terminalreporter) -> None:
    if _SCREENSHOTS:
        terminalreporter.section("browser screenshots")
        for path in _SCREENSHOTS:
            terminalreporter.write_line(str(path))
