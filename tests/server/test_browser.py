"""The pages in a real headless Chromium: sign in the browser, list, verify proofs, escape text.

Needs Debian's ``chromium`` and ``chromium-driver`` at /usr/bin; the fixture runs
``.ci/browser.sh`` to install them when they are missing (as root).
"""

from __future__ import annotations

import base64
import json

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from charter.errors import VerificationError
from charter.ledger.checkpoint import Checkpoint, LogKey, sign_checkpoint
from charter.ledger.entry import SIGNING_PREFIX, prove_authorship, public_key_b64
from charter.server import pages

pytestmark = pytest.mark.server

SCRIPT = "<script>alert(1)</script>"
WAIT_S = 30


def wait_for_state(driver, element_id: str, states: tuple[str, ...]):
    """Wait until the element's data-state is one of ``states``; return the element."""
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element(By.ID, element_id).get_attribute("data-state") in states
    )
    return driver.find_element(By.ID, element_id)


def fill(driver, name: str, text: str) -> None:
    # Set through the DOM: ChromeDriver's send_keys cannot type characters beyond the BMP.
    field = driver.find_element(By.NAME, name)
    driver.execute_script(
        "arguments[0].value = arguments[1];"
        "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
        field,
        text,
    )


def submit_wish(driver, base: str, scenario: str, behaviour: str, **fields: str) -> str:
    """Submit through the form; return the link to the new wish's page."""
    driver.get(base + "/")
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#wish-form button[type=submit]").is_enabled()
    )
    fill(driver, "scenario", scenario)
    fill(driver, "behaviour", behaviour)
    for name, value in fields.items():
        fill(driver, name, value)
    driver.find_element(By.CSS_SELECTOR, "#wish-form button[type=submit]").click()
    status = wait_for_state(driver, "submit-status", ("done", "failed"))
    assert status.get_attribute("data-state") == "done", status.text
    return driver.find_element(By.ID, "submitted-link").get_attribute("href")


def assert_no_alert(driver) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - touching the alert is the check


def test_submit_list_and_verify_in_the_browser(browser, live_server, ledger):
    # Decomposed é (e + U+0301), an emoji, a quote and a newline: the page must
    # NFC-normalise and serialise exactly as Python does, or the proof cannot verify.
    scenario = 'Cafe\u0301 owner asks: "is it 😀 to refuse a customer?"\nSecond line.'
    link = submit_wish(
        browser,
        live_server,
        scenario,
        "Explain the law, then the kind option.",
        tags="law, retail",
        rationale="People deserve straight answers.",
    )
    entry_id = link.rsplit("/", 1)[1]
    index = ledger.find(entry_id)
    assert index == 0
    stored = ledger.get(index)
    assert stored.wish.scenario == scenario.replace("e\u0301", "\u00e9")
    assert stored.wish.tags == ("law", "retail")

    browser.get(live_server + "/wishes")
    (listed,) = browser.find_elements(By.CSS_SELECTOR, ".wish .scenario")
    assert listed.text.splitlines() == stored.wish.scenario.splitlines()

    browser.get(link)
    status = wait_for_state(browser, "proof-status", ("verified", "failed"))
    assert status.get_attribute("data-state") == "verified", status.text
    assert status.text.startswith("verified")


def test_script_in_a_wish_renders_as_text(browser, live_server, ledger):
    link = submit_wish(browser, live_server, SCRIPT, f"Show {SCRIPT} literally.", tags=SCRIPT)
    browser.get(link)
    status = wait_for_state(browser, "proof-status", ("verified", "failed"))
    assert_no_alert(browser)
    assert browser.find_element(By.ID, "scenario").text == SCRIPT
    assert browser.find_element(By.ID, "behaviour").text == f"Show {SCRIPT} literally."
    assert status.get_attribute("data-state") == "verified", status.text

    browser.get(live_server + "/wishes?q=" + "%3Cscript%3E")
    assert_no_alert(browser)
    assert SCRIPT in browser.find_element(By.CSS_SELECTOR, ".wish .scenario").text
    assert browser.find_element(By.ID, "q").get_attribute("value") == "<script>"


def test_page_reports_a_tampered_proof(browser, live_server, ledger, monkeypatch):
    link = submit_wish(browser, live_server, "A wish to tamper with.", "Catch the tampering.")
    honest = ledger.inclusion_proof

    def flipped(index, size=None):
        proof = honest(index, size)
        return [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]] if proof else proof

    submit_wish(browser, live_server, "A second wish, so the proof has a hash.", "Fine.")
    monkeypatch.setattr(ledger, "inclusion_proof", flipped)
    browser.get(link)
    status = wait_for_state(browser, "proof-status", ("verified", "failed"))
    assert status.get_attribute("data-state") == "failed"
    assert status.text.startswith("NOT verified: the proof leads to root")


def run_js(driver, body: str):
    """Run an async function body in the page (where ``Charter`` is defined); return its value."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"(async () => {{ {body} }})().then(done, (e) => done('error: ' + e.message));"
    )


def js(value) -> str:
    """A JavaScript literal for a Python value."""
    return json.dumps(value, ensure_ascii=False)


def test_browser_verifiers_reject_tampered_input(browser, live_server, ledger, author):
    ledger.grant(author.key, 5)
    entries = [author.sign(f"wish {i}") for i in range(3)]
    ledger.append(entries)
    note, verifier = ledger.checkpoint(), ledger.verifier
    browser.get(live_server + "/")
    setup = (
        "const unhex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));"
        f"const cp = await Charter.verifyCheckpoint({js(note)}, {js(verifier)});"
        "const leaf = await Charter.leafHash(new TextEncoder().encode("
        f"{js(entries[1].canonical_bytes().decode())}));"
        f"const proof = {js([h.hex() for h in ledger.inclusion_proof(1, 3)])}.map(unhex);"
    )

    def inclusion(index: str, proof: str) -> str:
        return run_js(
            browser,
            setup + f"await Charter.verifyInclusion({index}, 3, leaf, {proof}, cp.root);"
            "return 'ok';",
        )

    assert inclusion("1", "proof") == "ok"
    assert inclusion("0", "proof").startswith("error: the proof leads to root")
    assert inclusion("1", "proof.slice(1)").startswith("error: the proof is shorter")
    assert inclusion("3", "proof").startswith("error: index 3 is not inside")

    def checkpoint(text: str) -> str:
        return run_js(browser, f"await Charter.verifyCheckpoint({js(text)}, {js(verifier)});")

    forged = note.replace("\n3\n", "\n4\n", 1)  # a bigger tree under the same signature
    assert (
        checkpoint(forged) == "error: the checkpoint signature does not verify with the log's key"
    )
    stranger = LogKey.generate("evil.example")
    other = sign_checkpoint(Checkpoint(ledger.origin, 3, ledger.root(3)), stranger)
    assert checkpoint(other).startswith("error: the checkpoint carries no signature by")

    altered = entries[0].model_copy(update={"burn": 1}).model_dump(exclude_none=True)
    signature = run_js(browser, f"await Charter.verifyEntrySignature({js(altered)}); return 'ok';")
    assert signature == "error: the author's signature on this entry does not verify"
    honest = entries[0].model_dump(exclude_none=True)
    assert (
        run_js(browser, f"await Charter.verifyEntrySignature({js(honest)}); return 'ok';") == "ok"
    )


def test_canonical_json_matches_python_byte_for_byte(browser, live_server, author):
    # Quotes, backslashes, every C0 control, DEL, U+2028, an emoji, non-ASCII keys order.
    # The ledger refuses most controls (issue 14), but the entry page serialises whatever it
    # is given, so the raw dict is compared with Python's canonical JSON rather than an Entry.
    tricky = '"\\/' + "".join(map(chr, range(32))) + "\x7f\u2028\u00e9😀"
    entry = author.sign("placeholder", wish={"tags": ["ä", "z", "a"], "rationale": "why"})
    browser.get(live_server + "/")
    data = entry.model_dump(exclude_none=True)
    data["wish"].update(scenario=tricky, rationale="why\tnot")

    def canonical(obj: dict) -> bytes:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    got = run_js(browser, f"return Charter.canonicalJSON({js(data)});")
    assert got.encode() == canonical(data)
    bytes_js = run_js(browser, f"return Array.from(Charter.signingBytes({js(data)}));")
    unsigned = {k: v for k, v in data.items() if k != "signature"}
    assert bytes(bytes_js) == SIGNING_PREFIX + canonical(unsigned)


def test_key_backup_proves_authorship_of_a_browser_wish(browser, live_server, ledger):
    link = submit_wish(
        browser, live_server, "A wish I will claim later.", "Keep it.", identity="alice@example.org"
    )
    entry = ledger.get(ledger.find(link.rsplit("/", 1)[1]))
    saved = run_js(browser, "return Charter.backup();")
    # The backup is a `charter ledger author-key` file: seed, salt and identity.
    seed, salt = base64.b64decode(saved["seed"]), base64.b64decode(saved["salt"])
    assert public_key_b64(seed) == entry.author_key
    assert saved["identity"] == "alice@example.org"
    prove_authorship(entry, saved["identity"], salt)
    with pytest.raises(VerificationError, match="do not open"):
        prove_authorship(entry, "mallory@example.org", salt)


def test_page_reports_text_that_differs_from_the_verified_entry(
    browser, live_server, ledger, monkeypatch
):
    link = submit_wish(browser, live_server, "What I really wished.", "Show it faithfully.")
    honest_render = pages.render

    def lying_render(service, root_path, template, **context):
        if template == "entry.html":
            entry = context["entry"]
            wish = entry.wish.model_copy(update={"scenario": "Words put in my mouth."})
            context["entry"] = entry.model_copy(update={"wish": wish})
        return honest_render(service, root_path, template, **context)

    monkeypatch.setattr(pages, "render", lying_render)
    browser.get(link)
    status = wait_for_state(browser, "proof-status", ("verified", "failed"))
    assert status.text == "NOT verified: the page shows other text than the entry that was verified"


def click_new_key(driver) -> None:
    """Press "New key" and wait until the page shows the new public key."""
    shown = driver.find_element(By.ID, "author-key").text
    driver.find_element(By.ID, "new-key").click()
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element(By.ID, "author-key").text not in (shown, "…")
    )


def test_new_key_is_an_unlinkable_pseudonym(browser, live_server, ledger):
    """Issue 14: "New key" kept the salt and identity, so two pseudonyms published the same
    author_commitment. A new key now gets a new salt (and a new random identity)."""
    first = submit_wish(browser, live_server, "First pseudonym's wish.", "Help.")
    before = run_js(browser, "return Charter.backup();")
    click_new_key(browser)
    after = run_js(browser, "return Charter.backup();")
    assert after["salt"] != before["salt"] and after["identity"] != before["identity"]
    # submit_wish reloads the page, which keeps the new pseudonym from localStorage.
    second = submit_wish(browser, live_server, "Second pseudonym's wish.", "Help.")
    one, two = (ledger.get(ledger.find(link.rsplit("/", 1)[1])) for link in (first, second))
    assert one.author_key != two.author_key
    assert one.author_commitment != two.author_commitment


def test_new_key_keeps_a_typed_identity_but_not_its_commitment(browser, live_server, ledger):
    first = submit_wish(browser, live_server, "Typed identity, key one.", "Help.", identity="a@b.c")
    click_new_key(browser)
    assert run_js(browser, "return Charter.backup().identity;") == "a@b.c"
    second = submit_wish(
        browser, live_server, "Typed identity, key two.", "Help.", identity="a@b.c"
    )
    one, two = (ledger.get(ledger.find(link.rsplit("/", 1)[1])) for link in (first, second))
    assert one.author_commitment != two.author_commitment  # new salt: not linkable
