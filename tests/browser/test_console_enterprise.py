"""The issue's "done when" in a real browser: the demo enterprise signs in with its printed token, registers an
identifier through the demo template's form (meeting the browser's own field check, then the server's), sees the
new identifier's page, and signs out; plus the form on a 375 px phone screen."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from tests.browser.support import wait

pytestmark = pytest.mark.node

NAME = "Pump <script>alert(1)</script>"  # user text: shown as text, never run


def _sign_in(browser, console_url: str, credential: str) -> None:
    browser.get(console_url)  # anonymous: the console sends the browser to its sign-in page
    wait(browser, ec.presence_of_element_located((By.ID, "credential")), message="the sign-in form")
    assert "/console/signin" in browser.current_url
    browser.find_element(By.ID, "credential").send_keys(credential)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait(browser, ec.presence_of_element_located((By.ID, "role")), message="the home page after signing in")


def _fill(browser, **fields: str) -> None:
    for field_id, value in fields.items():
        element = browser.find_element(By.ID, field_id)
        element.clear()
        element.send_keys(value)


def _error_of(browser, field_id: str) -> str:
    found = browser.find_elements(By.ID, f"{field_id}-error")
    return found[0].text if found else ""


def test_register_an_identifier_through_the_template_form(browser, console_url, demo_token, screenshot):
    _sign_in(browser, console_url, demo_token)
    assert browser.find_element(By.ID, "role").text == "enterprise"
    assert "88.118.8" in browser.find_element(By.ID, "prefixes").text
    screenshot("home")
    browser.find_element(By.LINK_TEXT, "Identifiers").click()
    wait(browser, ec.presence_of_element_located((By.ID, "identifiers")), message="the identifier list")
    browser.find_element(By.ID, "register-link").click()
    wait(browser, ec.presence_of_element_located((By.ID, "identifier-form")), message="the registration form")
    form_url = browser.current_url

    # 1. the browser's own check: not a URL -> no request, the message next to the field
    _fill(browser, suffix="BRW-CORE-1", **{"item-0": "not a url", "item-1": NAME, "item-2": "BP-100"})
    browser.find_element(By.ID, "save").click()
    url_field = browser.find_element(By.ID, "item-0")
    assert browser.execute_script("return arguments[0].validity.valid", url_field) is False
    assert _error_of(browser, "item-0"), "no message next to the URL field"
    assert url_field.get_attribute("aria-invalid") == "true"
    assert browser.current_url == form_url  # nothing was sent
    screenshot("browser-field-error")

    # 2. the server's check: a GTIN with a wrong check digit passes the browser's pattern, not the registry
    _fill(browser, **{"item-0": "https://demo.idnode.example/products/BRW-CORE-1", "item-4": "6950000000018"})
    browser.find_element(By.ID, "save").click()
    wait(browser, ec.presence_of_element_located((By.ID, "item-4-error")), message="the server's field error")
    assert _error_of(browser, "item-4") == "Enter a GTIN: 8, 12, 13 or 14 digits with a valid check digit."
    assert browser.find_element(By.ID, "item-4").get_attribute("aria-invalid") == "true"
    assert browser.find_element(By.ID, "item-1").get_attribute("value") == NAME  # what was typed is kept
    assert browser.find_element(By.ID, "suffix").get_attribute("value") == "BRW-CORE-1"
    screenshot("server-field-error")

    # 3. corrected: registered, and its page shows the values (the name as text)
    _fill(browser, **{"item-4": "6950000000019"})
    browser.find_element(By.ID, "save").click()
    wait(browser, ec.text_to_be_present_in_element((By.ID, "handle"), "88.118.8/BRW-CORE-1"), message="its page")
    assert "Registered 88.118.8/BRW-CORE-1." in browser.find_element(By.CSS_SELECTOR, ".flash").text
    cells = {
        row.find_element(By.TAG_NAME, "th").text: row.find_elements(By.TAG_NAME, "td")[1].text
        for row in browser.find_elements(By.CSS_SELECTOR, "#values tbody tr")
    }
    assert cells["productName"] == NAME and cells["GTIN"] == "6950000000019" and cells["model"] == "BP-100"
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - the script in the name never ran
    screenshot("identifier")

    # 4. sign out: back to the sign-in page, and the console is closed again
    browser.find_element(By.CSS_SELECTOR, "form[action='/console/signout'] button").click()
    wait(browser, ec.presence_of_element_located((By.ID, "credential")), message="the sign-in page")
    assert "You are signed out." in browser.find_element(By.CSS_SELECTOR, ".flash").text
    browser.get(console_url + "identifiers")
    wait(browser, ec.presence_of_element_located((By.ID, "credential")), message="signed out for good")


def test_the_form_on_a_phone_in_chinese(browser, console_url, demo_token, screenshot):
    _sign_in(browser, console_url, demo_token)
    browser.set_window_size(375, 800)
    browser.get(console_url + "identifier/new?prefix=88.118.8&lang=zh")
    wait(browser, ec.presence_of_element_located((By.ID, "identifier-form")), message="the registration form")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    assert browser.find_element(By.TAG_NAME, "h1").text == "注册标识"
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 375, f"the form is {width} px wide on a 375 px screen"
    # keyboard: the skip link is the first stop and leads into main
    browser.find_element(By.TAG_NAME, "body").send_keys("\t")
    focused = browser.switch_to.active_element
    assert focused.get_attribute("class") == "skip" and focused.text == "跳到正文"
    screenshot("phone-zh")
