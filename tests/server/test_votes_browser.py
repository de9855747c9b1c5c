"""Endorse/oppose buttons in a real headless Chromium against a live uvicorn server.

The browser signs each vote with WebCrypto Ed25519 (its local key) and the
server verifies it; the tally on the page and in the vote log must agree.
Needs Debian's ``chromium`` and ``chromium-driver`` (see ``test_browser.py``).
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from charter.ledger.entry import public_key_b64
from charter.ledger.votelog import VoteLog
from charter.ledger.votes import Tally, sign_vote

pytestmark = pytest.mark.server

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[2]
WAIT_S = 30


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        setup = subprocess.run([str(REPO / ".ci" / "browser.sh")], capture_output=True, text=True)
        if setup.returncode != 0:
            pytest.fail(f".ci/browser.sh could not provide Chromium: {setup.stderr.strip()}")
    options = Options()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-votes")
    for flag in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        f"--user-data-dir={profile}",
    ]:
        options.add_argument(flag)  # fmt: skip
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def ready_box(driver, entry_id: str):
    selector = f'.votes[data-entry-id="{entry_id}"]'
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element(By.CSS_SELECTOR, selector).get_attribute("data-ready") == "true"
    )
    return driver.find_element(By.CSS_SELECTOR, selector)


def click(driver, box, which: str) -> str:
    """Click endorse/oppose; wait for the outcome; return the status text."""
    status = box.find_element(By.CSS_SELECTOR, ".vote-status")
    driver.execute_script("arguments[0].dataset.state = 'idle'", status)
    box.find_element(By.CSS_SELECTOR, f"button.{which}").click()
    WebDriverWait(driver, WAIT_S).until(
        lambda d: status.get_attribute("data-state") in ("done", "failed")
    )
    assert status.get_attribute("data-state") == "done", status.text
    return status.text


def counts(box) -> tuple[int, int]:
    get = lambda name: int(box.find_element(By.CSS_SELECTOR, f"[data-count={name}]").text)  # noqa: E731
    return get("endorse"), get("oppose")


def pressed(box) -> list[str]:
    buttons = box.find_elements(By.CSS_SELECTOR, "button.vote[aria-pressed=true]")
    return [b.get_attribute("data-value") for b in buttons]


def test_vote_buttons_sign_in_the_browser(chromium, live_server, ledger, funded):
    entry = funded().sign("A traveller asks which street market is safest at night.")
    ledger.append([entry])
    votes = VoteLog.for_ledger(ledger)

    chromium.get(f"{live_server}/wishes/{entry.id}")
    box = ready_box(chromium, entry.id)
    assert counts(box) == (0, 0) and pressed(box) == []
    assert click(chromium, box, "endorse").startswith("Endorsed (vote 0")
    assert counts(box) == (1, 0) and pressed(box) == ["1"]
    assert votes.tally(entry.id) == Tally(1, 0)

    (_, stored), = votes.votes_on(entry.id)  # fmt: skip
    seed = chromium.execute_script("return JSON.parse(localStorage.getItem('charter.key')).d")
    browser_key = public_key_b64(base64.urlsafe_b64decode(seed + "=" * (-len(seed) % 4)))
    assert stored.voter_key == browser_key  # signed with the page's own local key

    click(chromium, box, "oppose")  # replaces the endorsement
    assert counts(box) == (0, 1) and pressed(box) == ["-1"]
    assert click(chromium, box, "oppose").startswith("Vote withdrawn")  # clicking again
    assert counts(box) == (0, 0) and pressed(box) == []
    assert votes.tally(entry.id) == Tally(0, 0) and votes.size == 3

    # Someone else's vote shows in the list page's tally; ours adds to it there.
    other = sign_vote(entry.id, 1, bytes([9]) * 32, ledger.origin)
    votes.append([other])
    chromium.get(f"{live_server}/wishes")
    box = ready_box(chromium, entry.id)
    assert counts(box) == (1, 0)
    click(chromium, box, "endorse")
    assert counts(box) == (2, 0) and votes.tally(entry.id) == Tally(2, 0)

    # A reload of the wish's page shows this browser's vote in force.
    chromium.get(f"{live_server}/wishes/{entry.id}")
    box = ready_box(chromium, entry.id)
    WebDriverWait(chromium, WAIT_S).until(lambda d: pressed(box) == ["1"])


def test_browser_vote_bytes_match_python(chromium, live_server, ledger, funded):
    entry = funded().sign("A wish to vote on.")
    ledger.append([entry])
    chromium.get(f"{live_server}/wishes/{entry.id}")
    ready_box(chromium, entry.id)
    vote = sign_vote(entry.id, -1, bytes([5]) * 32, ledger.origin)
    data = json.dumps(vote.model_dump(), ensure_ascii=False)
    got = chromium.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"const vote = {data};"
        "CharterVotes.verifyVoteSignature(vote)"
        ".then(() => done(Array.from(CharterVotes.signingBytes(vote))), (e) => done(e.message));"
    )
    assert bytes(got) == vote.signing_bytes()
    tampered = json.dumps(vote.model_dump() | {"value": 1})
    message = chromium.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"CharterVotes.verifyVoteSignature({tampered})"
        ".then(() => done('ok'), (e) => done(e.message));"
    )
    assert message == "the voter's signature on this vote does not verify"
