"""The report in a real headless Chromium: it renders, is not blank, and its sections exist."""

from __future__ import annotations

import base64
import io

import pytest
from selenium.webdriver.common.by import By

from charter.report import write_report

pytestmark = pytest.mark.server


def test_report_renders_in_chromium(browser, synthetic_run, tmp_path):
    page = write_report(synthetic_run)
    browser.get(page.as_uri())
    assert browser.title.startswith("Charter report")
    ids = {e.get_attribute("id") for e in browser.find_elements(By.TAG_NAME, "section")}
    assert {"overview", "provenance", "frontier", "rates", "tables", "examples"} <= ids
    assert {"revisions", "labels"} <= ids
    assert len(browser.find_elements(By.CSS_SELECTOR, "#frontier svg")) == 1
    assert browser.find_elements(By.CSS_SELECTOR, "table.result-table")

    # The example filter (inline JS) hides what does not match.
    examples = browser.find_elements(By.CSS_SELECTOR, "details.example")
    assert len(examples) >= 2
    box = browser.find_element(By.ID, "example-filter")
    box.send_keys("evasive-prompt")
    visible = [e for e in examples if e.is_displayed()]
    assert 1 <= len(visible) < len(examples)

    png = base64.b64decode(browser.get_screenshot_as_base64())
    (tmp_path / "report.png").write_bytes(png)
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    low, high = image.getextrema()
    assert image.size[0] > 400 and high - low > 100  # not a blank page
    assert len(set(image.getdata())) > 20
