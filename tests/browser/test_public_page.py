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


def test_public_page_in_chinese_on_a_phone_styled_like_the_console(browser, console_node, screenshot):
    browser.set_window_size(375, 800)
    browser.get(f"{console_node.http}/{HANDLE}?noredirect&lang=zh")
    wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "main table")))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    # on a phone the column heads are visually hidden (still read by screen readers) and each value is a card
    heads = [th.get_attribute("textContent") for th in browser.find_elements(By.CSS_SELECTOR, "thead th")]
    assert heads[:3] == ["索引", "类型", "数据"]
    first = browser.find_element(By.CSS_SELECTOR, "tbody tr")
    assert first.value_of_css_property("display") == "block"
    assert [td.get_attribute("data-label") for td in first.find_elements(By.TAG_NAME, "td")][:3] == heads[:3]
    data = first.find_element(By.CSS_SELECTOR, "td.data")
    assert data.size["width"] > 150  # the data cell has room, not a squeezed column
    sign_in = browser.find_element(By.LINK_TEXT, "登录控制台")
    assert sign_in.get_attribute("href").endswith("/console/signin")
    # the console's style sheet applies (the CSP allows only style sheets from the node): the skip link is
    # moved off screen, the header is a flex row; nothing is wider than the phone's screen
    skip = browser.find_element(By.CSS_SELECTOR, "a.skip")
    assert skip.value_of_css_property("position") == "absolute"
    assert browser.find_element(By.CSS_SELECTOR, "header.top").value_of_css_property("display") == "flex"
    overflow = browser.execute_script(
        "const w = document.documentElement.clientWidth;"
        "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 0.5)"
        ".map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));"
    )
    assert overflow == [], overflow  # nothing wider than the phone
    screenshot("phone-zh")
    # the language switch keeps ?noredirect: English, same record, no redirect to the product URL
    browser.find_element(By.LINK_TEXT, "English").click()
    wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "html[lang='en']")), message="the English page")
    assert browser.find_element(By.CSS_SELECTOR, "tbody td").get_attribute("data-label") == "Index"
    assert browser.current_url.endswith(f"/{HANDLE}?noredirect&lang=en")
    # keyboard: the first Tab reaches the skip link, which becomes visible
    browser.find_element(By.TAG_NAME, "body").send_keys("\ue004")  # Tab
    assert browser.switch_to.active_element == browser.find_element(By.CSS_SELECTOR, "a.skip")
