"""The public resolver page of a demo identifier (``GET /{handle}?noredirect``) in a real browser."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from tests.browser.support import wait

pytestmark = pytest.mark.node

HANDLE = "88.118.8/DEMO-000001"


def test_public_page_shows_the_public_values(browser, console_node, screenshot):
    browser.get(f"{console_node.http}/{HANDLE}?noredirect")
    wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "main table")), message="the values table")
    assert browser.title == HANDLE
    assert browser.find_element(By.TAG_NAME, "h1").text == HANDLE
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "main table thead th")]
    assert headers[:3] == ["Index", "Type", "Data"]
    cells = [row.find_elements(By.TAG_NAME, "td") for row in browser.find_elements(By.CSS_SELECTOR, "tbody tr")]
    rows = {row[1].text: row[2].text for row in cells}
    # The demo's public values; batchNo (readable by the prefix admin only) is not shown to a browser.
    assert rows["URL"] == "https://demo.idnode.example/products/DEMO-000001"
    assert rows["productName"] == "Demo centrifugal pump B"
    assert rows["model"] == "DP-200"
    assert "batchNo" not in rows
    link = browser.find_element(By.CSS_SELECTOR, "td.data a")
    assert link.get_attribute("href") == rows["URL"]
    assert screenshot("laptop").stat().st_size > 0


def test_public_page_unknown_handle(browser, console_node, screenshot):
    browser.get(f"{console_node.http}/88.118.8/NO-SUCH-ITEM?noredirect")
    wait(browser, ec.presence_of_element_located((By.TAG_NAME, "h1")))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert browser.title.startswith("404")
    screenshot("not-found")
