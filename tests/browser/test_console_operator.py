"""The operator pages in a real browser: the node admin adds and approves an enterprise, the dashboard draws its
charts from traffic over HTTP, DNS and gRPC, and an auditor sees no write control."""

from __future__ import annotations

import time
import urllib.request

import dns.message
import dns.query
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from idnode.proto import registry_pb2, resolver_pb2
from idnode.resolver.dns import names
from tests.browser.support import wait
from tests.node.conftest import auth, credit_code

pytestmark = pytest.mark.node

OPS = "operator/"
DEMO = [f"88.118.8/DEMO-{n:06d}" for n in range(1, 7)]
PREFIX = "88.118.60"  # the prefix this module's enterprise gets (the demo's 88.118.8 is left as it is)


def sign_in(browser, console_url: str, credential: str) -> None:
    browser.get(console_url + "signin")
    browser.find_element(By.ID, "credential").send_keys(credential)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(browser, ec.presence_of_element_located((By.ID, "role")), message="the home page after signing in")


def traffic(node) -> None:
    """Resolve a few demo handles over each front end (and one unknown handle over HTTP, an error)."""
    for handle in DEMO[:3]:
        with urllib.request.urlopen(f"{node.http}/api/handles/{handle}", timeout=10) as reply:
            assert reply.status == 200
    try:
        urllib.request.urlopen(f"{node.http}/api/handles/88.118.8/NO-SUCH-ITEM", timeout=10)
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    for handle in DEMO[:4]:
        answer = dns.query.udp(
            dns.message.make_query(names.handle_to_name(handle), "NAPTR"), "127.0.0.1", port=node.dns_port, timeout=5
        )
        assert answer.answer
    stub = node.resolver()
    for handle in DEMO[:5]:
        assert stub.Resolve(resolver_pb2.ResolveRequest(handle=handle), timeout=10).handle.lower() == handle.lower()


def bbox(browser, element) -> dict[str, float]:
    """The SVG element's drawn box (getBBox: user units, independent of the window size)."""
    return browser.execute_script("const b = arguments[0].getBBox(); return {w: b.width, h: b.height};", element)


def test_admin_adds_and_approves_a_pending_enterprise(browser, console_url, admin_credential, screenshot):
    sign_in(browser, console_url, admin_credential)
    browser.get(console_url + OPS + "enterprises")
    code = credit_code("91440300MA5FB0001")
    bad = code[:-1] + ("0" if code[-1] != "0" else "1")
    # a wrong check character passes the browser's pattern and is refused by the server, next to the field
    browser.find_element(By.ID, "credit_code").send_keys(bad)
    browser.find_element(By.ID, "name").send_keys("Browser Pump Co.")
    browser.find_element(By.ID, "contact").send_keys("ops@pump.example")
    browser.find_element(By.CSS_SELECTOR, "#add-enterprise button[type=submit]").click()
    error = wait(browser, ec.visibility_of_element_located((By.ID, "credit_code-error")), message="the field error")
    assert f"Check character should be {code[-1]}, got {bad[-1]}" in error.text
    assert browser.find_element(By.ID, "credit_code").get_attribute("aria-invalid") == "true"
    screenshot("invalid-credit-code")
    field = browser.find_element(By.ID, "credit_code")
    field.clear()
    field.send_keys(code)
    browser.find_element(By.CSS_SELECTOR, "#add-enterprise button[type=submit]").click()
    row = wait(
        browser,
        ec.presence_of_element_located((By.CSS_SELECTOR, f'#pending tr[data-code="{code}"]')),
        message="the new enterprise awaiting review",
    )
    assert "Check character valid" in row.text and "Browser Pump Co." in row.text
    screenshot("enterprises-pending")
    row.find_element(By.CSS_SELECTOR, "button.approve").click()
    wait(browser, ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".flash"), f"Enterprise {code} is now approved"))
    assert not browser.find_elements(By.CSS_SELECTOR, f'#pending tr[data-code="{code}"]')
    status = browser.find_element(By.CSS_SELECTOR, f'#enterprises tr[data-code="{code}"] td.status-approved')
    assert status.text == "approved"
    screenshot("enterprises-approved")

    # allocate it a prefix of its own and see it in the list
    browser.get(console_url + OPS + f"prefixes?credit_code={code}")
    browser.find_element(By.ID, "alloc-prefix").send_keys(PREFIX)
    browser.find_element(By.CSS_SELECTOR, "#allocate button[type=submit]").click()
    flash = wait(browser, ec.visibility_of_element_located((By.CSS_SELECTOR, ".flash")), message="the allocation")
    assert f"Prefix {PREFIX} allocated to {code} (approved)" in flash.text
    screenshot("prefixes")
    # a template version for that prefix through the form, then its page (not for the demo's prefix: the
    # other browser tests share this node and register under the demo template, the latest version)
    browser.get(console_url + OPS + f"templates?prefix={PREFIX}")
    wait(browser, ec.presence_of_element_located((By.ID, "no-versions")), message="no template yet")
    browser.find_element(By.ID, "tpl-version").send_keys("browser-1")
    browser.find_element(By.ID, "item-0-name").send_keys("colour")
    browser.find_element(By.ID, "item-0-required").click()
    browser.find_element(By.ID, "item-0-max").clear()
    browser.find_element(By.ID, "item-0-max").send_keys("20")
    browser.find_element(By.CSS_SELECTOR, "#new-template button[type=submit]").click()
    wait(browser, ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".flash"), f"browser-1 of {PREFIX} stored"))
    screenshot("templates")
    browser.find_element(By.CSS_SELECTOR, '#versions tr[data-version="browser-1"] a').click()
    cells = wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "#items tbody tr")), message="the items")
    assert cells.text.split() == ["colour", "string", "yes", "0", "string", "0", "20"]
    screenshot("template-view")


def test_dashboard_draws_charts_from_the_node_s_traffic(
    browser, console_node, console_url, admin_credential, screenshot
):
    traffic(console_node)
    sign_in(browser, console_url, admin_credential)
    deadline = time.monotonic() + 30  # workers hand their counts to the writer about once a second
    while True:
        browser.get(console_url + OPS + "dashboard?days=7")
        table = browser.find_elements(By.CSS_SELECTOR, "#chart-resolutions table tbody tr")
        if table:
            today = table[-1].find_elements(By.TAG_NAME, "td")  # grpc, dns, http of the last day
            if all(int(cell.get_attribute("textContent").replace(",", "")) > 0 for cell in today):
                break
        assert time.monotonic() < deadline, "resolutions over every front end did not reach the dashboard"
        time.sleep(1)
    for chart in ("resolutions", "registrations", "prefixes", "errors", "error-ratio", "lmdb"):
        svg = browser.find_element(By.CSS_SELECTOR, f"#chart-{chart} svg")
        assert svg.size["width"] > 100 and svg.size["height"] > 30, chart  # laid out, not collapsed
        assert svg.get_attribute("aria-label"), chart
    lines = browser.find_elements(By.CSS_SELECTOR, "#chart-resolutions polyline.line")
    assert len(lines) >= 3  # one per front end
    assert all(bbox(browser, line)["w"] > 0 for line in lines)
    bars = browser.find_elements(By.CSS_SELECTOR, "#chart-prefixes rect.bar")
    assert bars and all(bbox(browser, bar)["w"] > 0 and bbox(browser, bar)["h"] > 0 for bar in bars)
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-registrations polyline.line")  # the demo's registrations
    ratio = browser.find_element(By.CSS_SELECTOR, "#chart-error-ratio rect.gauge-fill")
    assert bbox(browser, ratio)["w"] > 0  # the unknown handle over HTTP is an error
    assert bbox(browser, browser.find_element(By.CSS_SELECTOR, "#chart-lmdb rect.gauge-fill"))["w"] > 0
    assert "no data yet" not in browser.find_element(By.ID, "chart-resolutions").text
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(height + 120, 4000))  # the whole page in one screenshot
    screenshot("dashboard-laptop")
    # the range selector and the prefix filter
    browser.find_element(By.CSS_SELECTOR, '#days option[value="90"]').click()
    browser.find_element(By.CSS_SELECTOR, '#dash-prefix option[value="88.118.8"]').click()
    browser.find_element(By.CSS_SELECTOR, "#dashboard-filters button[type=submit]").click()
    wait(browser, ec.url_contains("days=90"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart-resolutions table tbody tr")) == 90
    browser.set_window_size(375, 800)  # a phone: the charts shrink to the width, nothing overflows the page
    browser.get(console_url + OPS + "dashboard?days=7")
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 400, f"the dashboard is {width} px wide on a 375 px screen"
    assert browser.find_element(By.CSS_SELECTOR, "#chart-resolutions svg").size["width"] <= 375
    screenshot("dashboard-phone")
    browser.set_window_size(1280, 900)
    browser.get(console_url + OPS + "dashboard?days=7&lang=zh")  # in Chinese: the charts' texts too
    assert browser.find_element(By.TAG_NAME, "h1").text == "节点仪表盘"
    assert browser.find_element(By.CSS_SELECTOR, "#chart-resolutions figcaption").text == "每日解析量"
    screenshot("dashboard-zh")


def test_auditor_sees_no_write_controls(browser, console_node, console_url, screenshot):
    stub = console_node.registry()
    admin = auth(console_node.admin_token)
    token = stub.CreateToken(registry_pb2.CreateTokenRequest(role="auditor", label="browser"), metadata=admin).token
    code = credit_code("91440300MA5FB0002")
    stub.AddEnterprise(registry_pb2.Enterprise(credit_code=code, name="Pending Co.", contact="x@y.z"), metadata=admin)
    sign_in(browser, console_url, token)
    browser.get(console_url + OPS + "enterprises")
    row = wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, f'#pending tr[data-code="{code}"]')))
    assert browser.find_element(By.ID, "read-only").is_displayed()
    assert not row.find_elements(By.TAG_NAME, "button")
    assert not browser.find_elements(By.CSS_SELECTOR, "button.approve, #add-enterprise")
    assert not browser.find_elements(By.CSS_SELECTOR, 'main form[method="post"]')
    screenshot("auditor-enterprises")
    for page in (OPS + "prefixes", OPS + "templates?prefix=88.118.8", OPS + "dashboard", "tokens"):
        browser.get(console_url + page)
        wait(browser, ec.presence_of_element_located((By.TAG_NAME, "h1")))
        assert not browser.find_elements(By.CSS_SELECTOR, 'main form[method="post"]'), page
    assert browser.find_elements(By.CSS_SELECTOR, "#tokens tbody tr")  # the token list, read-only


def test_admin_issues_an_auditor_token_that_signs_in(browser, console_url, admin_credential, screenshot):
    sign_in(browser, console_url, admin_credential)
    browser.get(console_url + "tokens")
    Select(wait(browser, ec.presence_of_element_located((By.ID, "role")))).select_by_value("auditor")
    browser.find_element(By.ID, "label").send_keys("browser auditor")
    browser.find_element(By.ID, "create-token").click()
    token = wait(browser, ec.presence_of_element_located((By.ID, "new-token"))).text
    assert token.startswith("idn1.")
    screenshot("admin-tokens")
    browser.delete_all_cookies()  # a new visitor with the issued token
    sign_in(browser, console_url, token)
    assert browser.find_element(By.ID, "role").text.strip().lower().startswith("auditor")
