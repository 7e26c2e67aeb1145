"""Bulk upload in a real browser: the demo enterprise uploads a small CSV with one bad row, watches the progress
finish and reads the rejection report (the table and the downloadable CSV)."""

from __future__ import annotations

import csv
import io

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from tests.browser.support import download, wait

pytestmark = pytest.mark.node

CSV = (
    "suffix,URL,productName,model,productionDate,GTIN\n"
    "BRW-1,https://demo.idnode.example/products/BRW-1,Browser pump 1,BP-1,2026-03-01,\n"
    "BRW-2,https://demo.idnode.example/products/BRW-2,Browser pump 2,BP-2,2026-03-02,6950000000019\n"
    "BRW-3,https://demo.idnode.example/products/BRW-3,Browser pump 3,BP-3,2026-03-03,6950000000018\n"
    "BRW-4,https://demo.idnode.example/products/BRW-4,Browser pump 4,BP-4,2026-03-04,\n"
)


def sign_in(browser, console_url: str, credential: str) -> None:
    browser.get(console_url + "signin")
    browser.find_element(By.ID, "credential").send_keys(credential)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait(
        browser,
        ec.presence_of_element_located((By.CSS_SELECTOR, "form[action='/console/signout']")),
        message="signed in",
    )


def test_upload_csv_with_one_bad_row(browser, console_url, demo_token, screenshot, tmp_path):
    upload = tmp_path / "pumps.csv"
    upload.write_text(CSV, encoding="utf-8")
    sign_in(browser, console_url, demo_token)
    browser.find_element(By.LINK_TEXT, "Bulk upload").click()
    wait(browser, ec.presence_of_element_located((By.ID, "upload-form")))
    assert browser.find_element(By.ID, "upload-prefix").get_attribute("value") == "88.118.8"
    browser.find_element(By.ID, "upload-file").send_keys(str(upload))
    screenshot("form")
    browser.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
    wait(browser, ec.visibility_of_element_located((By.ID, "upload-result")), message="the result after the upload")
    # the progress finished: every row processed (the page stayed; the script read the streamed progress)
    bar = browser.find_element(By.ID, "upload-bar")
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("4", "4")
    assert browser.find_element(By.ID, "upload-count").text == "4 of 4 rows"
    assert browser.current_url == console_url + "upload"
    counts = {
        name: browser.find_element(By.CSS_SELECTOR, f'#upload-result [data-count="{name}"]').text
        for name in ("total", "created", "repeats", "rejected")
    }
    assert counts == {"total": "4", "created": "3", "repeats": "0", "rejected": "1"}
    # the rejection report: its row and reason (GTIN 6950000000018 has a wrong check digit)
    rows = [
        [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in browser.find_elements(By.CSS_SELECTOR, "#upload-rows tr")
    ]
    assert len(rows) == 1
    row, handle, code, reason = rows[0]
    assert (row, handle, code) == ("4", "88.118.8/BRW-3", "202")
    assert "GTIN" in reason and "6950000000018" in reason
    screenshot("result")
    # the download holds the same rows: click the link, read the file the browser saved
    link = browser.find_element(By.ID, "upload-report")
    assert link.get_attribute("download") == "rejected-rows.csv"
    saved = download(browser, link, tmp_path / "downloads", "rejected-rows.csv")
    assert list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig")))) == [
        ["row", "handle", "code", "message"],
        ["4", "88.118.8/BRW-3", "202", reason],
    ]
    # the accepted rows resolve on the public page
    browser.get(console_url.replace("/console/", "/88.118.8/BRW-2?noredirect"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "88.118.8/BRW-2"


def test_upload_without_javascript_shows_the_result_page(browser, console_url, demo_token, screenshot, tmp_path):
    upload = tmp_path / "pumps.csv"
    upload.write_text(CSV.replace("BRW-", "NOJS-"), encoding="utf-8")
    sign_in(browser, console_url, demo_token)
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        browser.get(console_url + "upload")
        browser.find_element(By.ID, "upload-file").send_keys(str(upload))
        browser.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
        wait(browser, ec.presence_of_element_located((By.ID, "upload-result")), message="the result page")
        assert browser.find_element(By.CSS_SELECTOR, "ol.upload-log li:last-child").text == "4 of 4 rows"
        assert browser.find_element(By.CSS_SELECTOR, '[data-count="rejected"]').text == "1"
        cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#upload-rows td")]
        assert cells[:3] == ["4", "88.118.8/NOJS-3", "202"]
        screenshot("no-js-result")
        link = browser.find_element(By.ID, "upload-report")
        assert link.get_attribute("href").startswith("data:text/csv;charset=utf-8;base64,")
        saved = download(browser, link, tmp_path / "downloads", "rejected-rows.csv")
        assert saved.read_text(encoding="utf-8-sig").splitlines()[1].startswith("4,88.118.8/NOJS-3,202,")
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


def test_a_refused_file_shows_the_reason_on_the_form(browser, console_url, demo_token, tmp_path):
    upload = tmp_path / "colours.csv"
    upload.write_text("suffix,colour\nC-1,red\n", encoding="utf-8")
    sign_in(browser, console_url, demo_token)
    browser.get(console_url + "upload?lang=zh")
    browser.find_element(By.ID, "upload-file").send_keys(str(upload))
    browser.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
    error = wait(browser, ec.visibility_of_element_located((By.ID, "upload-error")), message="the refusal")
    assert error.text.startswith("未知的列：colour。")  # the page's language, from the script's 400 JSON answer
    assert not browser.find_element(By.ID, "upload-result").is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").is_enabled()
