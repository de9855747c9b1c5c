"""The report in headless Chromium: every stage's section, no console errors, a screenshot."""

from __future__ import annotations

import base64
import io

import pytest
from selenium.webdriver.common.by import By

from charter.report import write_report

pytestmark = pytest.mark.server

# One section per stage kind the synthetic run holds, and the collective's own sections.
SECTION_IDS = {
    "overview",
    "provenance",
    "frontier",
    "rates",
    "tables",
    "judges",
    "training",
    "revisions",
    "labels",
    "mixes",
    "ablation",
    "collective",
    "collective-provenance",
    "collective-concentration",
    "collective-humanity",
    "collective-group-map",
    "collective-consensus",
    "collective-coverage",
    "collective-draft",
    "ledger",
    "examples",
}


def test_report_renders_in_chromium(browser, synthetic_run, tmp_path):
    page = write_report(synthetic_run)
    browser.get_log("browser")  # drop anything logged before this page
    browser.get(page.as_uri())
    assert browser.title.startswith("Charter report")
    ids = {e.get_attribute("id") for e in browser.find_elements(By.TAG_NAME, "section")}
    assert ids >= SECTION_IDS, SECTION_IDS - ids
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
    assert len(browser.find_elements(By.CSS_SELECTOR, "#frontier svg")) == 1
    assert browser.find_elements(By.CSS_SELECTOR, "#training svg")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#collective svg")) >= 4
    assert browser.find_elements(By.CSS_SELECTOR, "table.result-table")
    assert browser.find_elements(By.CSS_SELECTOR, "#collective tr.citation-row")
    inconclusive = browser.find_elements(By.CSS_SELECTOR, ".verdict.inconclusive")
    assert any("inconclusive at n=" in e.text for e in inconclusive if e.is_displayed())

    # The example filter (inline JS) hides what does not match.
    examples = browser.find_elements(By.CSS_SELECTOR, "details.example")
    assert len(examples) >= 2
    box = browser.find_element(By.ID, "example-filter")
    box.send_keys("evasive-prompt")
    visible = [e for e in examples if e.is_displayed()]
    assert 1 <= len(visible) < len(examples)

    browser.set_window_size(1280, 2400)
    png = base64.b64decode(browser.get_screenshot_as_base64())
    shot = tmp_path / "report.png"
    shot.write_bytes(png)
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    low, high = image.getextrema()
    assert shot.stat().st_size > 20_000
    assert image.size[0] > 400 and high - low > 100  # not a blank page
    assert len(set(image.getdata())) > 20


def test_collective_page_renders_in_chromium(browser, synthetic_run, tmp_path):
    from charter.collective.report import write_report as write_collective
    from charter.collective.results import CollectiveResults

    folder = synthetic_run / "collective"
    page = write_collective(CollectiveResults.load(folder / "results.json"), folder / "page.html")
    browser.get_log("browser")
    browser.get(page.as_uri())
    ids = {e.get_attribute("id") for e in browser.find_elements(By.TAG_NAME, "section")}
    assert {"provenance", "concentration", "humanity", "group-map", "draft"} <= ids
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    shot = tmp_path / "collective.png"
    shot.write_bytes(base64.b64decode(browser.get_screenshot_as_base64()))
    assert shot.stat().st_size > 10_000
