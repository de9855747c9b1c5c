"""Unsafe text is refused at intake (issue 14), through the ledger and through the HTTP API.

Each case is an entry its author signed correctly over the raw text, as an
attacker (or a careless client) would: the refusal comes from the text rules,
not from a broken signature. Before, CR and NUL got in and made the entry page
claim the entry was "NOT verified".
"""

from __future__ import annotations

import base64
import json
import re

import pytest
from fastapi.testclient import TestClient

from charter.errors import EntryError
from charter.ledger.entry import SIGNING_PREFIX, parse_entry
from charter.ledger.text import normalise_text
from charter.server import create_app

API = "/api/v1"

UNSAFE = {
    "NUL": ("Help\x00 them.", r"contains U\+0000 \(a control character\) at position 5"),
    "ESC": ("Help\x1b[2J them.", r"contains U\+001B \(a control character\) at position 5"),
    "BEL": ("Help\x07 them.", r"contains U\+0007 \(a control character\)"),
    "DEL": ("Help\x7f them.", r"contains U\+007F \(a control character\)"),
    "RLO": ("Help \u202eselbat", r"contains U\+202E \(a bidi embedding, override or isolate"),
    "BOM": ("\ufeffHelp them.", r"contains U\+FEFF \(a byte order mark\) at position 1"),
    "CR": ("Help\r\nthem.", r"contains U\+000D \(a carriage return\) at position 5; use LF"),
    "zero-width only": ("\u200b\u200c\u200d\u2060", r"empty; write what the AI should do"),
}


def signed_raw(person, behaviour: str) -> dict:
    """A well-signed entry dict whose wish.behaviour is ``behaviour`` byte for byte."""
    data = json.loads(person.sign().canonical_bytes())
    data["wish"]["behaviour"] = behaviour
    del data["signature"]
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    signature = person.private_key.sign(SIGNING_PREFIX + body.encode())
    data["signature"] = base64.b64encode(signature).decode()
    return data


HIDDEN = {
    "tag characters": (
        "Help them.\U000e0049\U000e0067\U000e006e\U000e006f\U000e0072\U000e0065",
        r"contains U\+E0049 \(a Unicode tag character, invisible\) at position 11",
    ),
    "U+2028": ("Help\u2028them.", r"contains U\+2028 \(a line or paragraph separator\)"),
    "U+2029": ("Help\u2029them.", r"contains U\+2029 \(a line or paragraph separator\)"),
    "NEL": ("Help\x85them.", r"contains U\+0085 \(a C1 control character\)"),
    "annotation": ("Help\ufff9x\ufffay\ufffb", r"contains U\+FFF9 \(an interlinear annotation"),
    "variation selector only": ("\ufe0f", r"empty; write what the AI should do"),
    "combining marks only": ("\u0301\u0308", r"empty; write what the AI should do"),
}


@pytest.fixture
def client(ledger) -> TestClient:
    return TestClient(create_app(ledger, rate_per_minute=None, ip_rate_per_minute=None))


@pytest.mark.parametrize("case", [*UNSAFE, *HIDDEN])
def test_the_api_answers_422_with_one_line_naming_the_field(case, client, funded, ledger):
    text, words = {**UNSAFE, **HIDDEN}[case]
    person = funded()
    reply = client.post(
        f"{API}/wishes",
        content=json.dumps(signed_raw(person, text), ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 422, reply.text
    message = reply.json()["error"]
    assert message.startswith("field wish.behaviour: ") and "\n" not in message
    assert re.search(words, message), message
    assert ledger.size == 0 and ledger.balance(person.key) == 100  # nothing stored or charged


@pytest.mark.parametrize("case", UNSAFE)
def test_the_ledger_refuses_them_and_stores_nothing(case, funded, ledger):
    text, words = UNSAFE[case]
    person = funded()
    with pytest.raises(EntryError, match=r"^(entry 0: )?field wish\.behaviour: .*" + words):
        ledger.append([parse_entry(signed_raw(person, text))])
    assert ledger.size == 0


def test_the_same_wish_signed_by_the_tools_is_accepted_with_lf(client, funded, ledger):
    # sign_entry normalises CRLF to LF before signing, as the browser does.
    entry = funded().sign(behaviour="Help\r\nthem.")
    reply = client.post(
        f"{API}/wishes",
        content=entry.model_dump_json(exclude_none=True),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 201, reply.text
    assert ledger.get(0).wish.behaviour == "Help\nthem."


@pytest.mark.server
def test_the_browser_normalises_text_as_the_cli_signer_does(browser, live_server):
    browser.get(live_server + "/")
    for text in ("a\r\nb\rc\nd", "cafe\u0301\r\n", "u\u0308ber \U0001f600", "plain"):
        got = browser.execute_script("return Charter.normaliseText(arguments[0]);", text)
        assert got == normalise_text(text)


# -- issue 14 review: hidden text, other line breaks, marks alone, and text not in NFC -------


def test_text_signed_in_another_normal_form_is_refused_not_rewritten(client, funded, ledger):
    # Signed over NFD bytes: the model applies NFC, so the signature no longer covers the text.
    person = funded()
    reply = client.post(
        f"{API}/wishes",
        content=json.dumps(signed_raw(person, "Cafe\u0301 help."), ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 422, reply.text
    assert "\n" not in reply.json()["error"] and ledger.size == 0
