"""Endorse/oppose buttons in a real headless Chromium against a live uvicorn server.

The browser signs each vote with WebCrypto Ed25519 (its local key) and the
server verifies it; the tally on the page and in the vote log must agree.
Needs Debian's ``chromium`` and ``chromium-driver`` (see ``test_browser.py``).
"""

from __future__ import annotations

import base64
import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from charter.ledger.entry import public_key_b64
from charter.ledger.votelog import VoteLog
from charter.ledger.votes import Tally, sign_vote

pytestmark = pytest.mark.server

WAIT_S = 30


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


def test_vote_buttons_sign_in_the_browser(browser, live_server, ledger, funded):
    entry = funded().sign("A traveller asks which street market is safest at night.")
    ledger.append([entry])
    votes = VoteLog.for_ledger(ledger)

    browser.get(f"{live_server}/wishes/{entry.id}")
    box = ready_box(browser, entry.id)
    assert counts(box) == (0, 0) and pressed(box) == []
    assert click(browser, box, "endorse").startswith("Endorsed (vote 0")
    assert counts(box) == (1, 0) and pressed(box) == ["1"]
    assert votes.tally(entry.id) == Tally(1, 0)

    (_, stored), = votes.votes_on(entry.id)  # fmt: skip
    seed = browser.execute_script("return JSON.parse(localStorage.getItem('charter.key')).d")
    browser_key = public_key_b64(base64.urlsafe_b64decode(seed + "=" * (-len(seed) % 4)))
    assert stored.voter_key == browser_key  # signed with the page's own local key

    click(browser, box, "oppose")  # replaces the endorsement
    assert counts(box) == (0, 1) and pressed(box) == ["-1"]
    assert click(browser, box, "oppose").startswith("Vote withdrawn")  # clicking again
    assert counts(box) == (0, 0) and pressed(box) == []
    assert votes.tally(entry.id) == Tally(0, 0) and votes.size == 3

    # Someone else's vote shows in the list page's tally; ours adds to it there.
    other = sign_vote(entry.id, 1, bytes([9]) * 32, ledger.origin)
    votes.append([other])
    browser.get(f"{live_server}/wishes")
    box = ready_box(browser, entry.id)
    assert counts(box) == (1, 0)
    click(browser, box, "endorse")
    assert counts(box) == (2, 0) and votes.tally(entry.id) == Tally(2, 0)

    # A reload of the wish's page shows this browser's vote in force.
    browser.get(f"{live_server}/wishes/{entry.id}")
    box = ready_box(browser, entry.id)
    WebDriverWait(browser, WAIT_S).until(lambda d: pressed(box) == ["1"])


def test_browser_vote_bytes_match_python(browser, live_server, ledger, funded):
    entry = funded().sign("A wish to vote on.")
    ledger.append([entry])
    browser.get(f"{live_server}/wishes/{entry.id}")
    ready_box(browser, entry.id)
    vote = sign_vote(entry.id, -1, bytes([5]) * 32, ledger.origin)
    data = json.dumps(vote.model_dump(), ensure_ascii=False)
    got = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"const vote = {data};"
        "CharterVotes.verifyVoteSignature(vote)"
        ".then(() => done(Array.from(CharterVotes.signingBytes(vote))), (e) => done(e.message));"
    )
    assert bytes(got) == vote.signing_bytes()
    tampered = json.dumps(vote.model_dump() | {"value": 1})
    message = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"CharterVotes.verifyVoteSignature({tampered})"
        ".then(() => done('ok'), (e) => done(e.message));"
    )
    assert message == "the voter's signature on this vote does not verify"
