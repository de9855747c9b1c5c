"""Entries: canonical bytes, signatures, authorship commitments, parsing and intake policy."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from charter.errors import EntryError, SignatureError, VerificationError
from charter.ledger.entry import (
    SIGNING_PREFIX,
    Entry,
    EntryPolicy,
    Wish,
    commit_author,
    format_timestamp,
    generate_author_key,
    new_salt,
    parse_entry,
    parse_timestamp,
    prove_authorship,
    public_key_b64,
    sign_entry,
    validate_entry,
    verify_entry_signature,
)

SEED = bytes(range(32))
SALT = bytes(16)
IDENTITY = "alice@example.org"
WHEN = "2026-11-22T17:00:00.123Z"
NOW = datetime(2026, 11, 22, 17, 0, 0, tzinfo=UTC)
NO_CLOCK = EntryPolicy(max_clock_skew_s=None)


def make(fee: int = 1, burn: int = 0, nonce: str = "nonce-0123456789", **wish: object) -> Entry:
    fields: dict[str, object] = {"scenario": "A user asks for help.", "behaviour": "Help them."}
    fields.update(wish)
    return sign_entry(fields, fee, burn, SEED, IDENTITY, SALT, nonce=nonce, timestamp=WHEN)


def test_round_trip_through_bytes_text_and_dict():
    entry = make(rationale="Because.", tags=["help"], parent="ab" * 32)
    data = entry.canonical_bytes()
    for source in (data, data.decode(), json.loads(data)):
        again = parse_entry(source)
        assert again == entry
        assert again.canonical_bytes() == data
        assert again.id == entry.id
    validate_entry(parse_entry(data), NO_CLOCK)


def test_canonical_json_is_sorted_compact_and_omits_none():
    entry = make()
    text = entry.canonical_bytes().decode()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert "rationale" not in text and "parent" not in text
    assert '"tags":[]' in text and '"language":"en"' in text


def test_id_is_the_rfc6962_leaf_hash_of_the_canonical_bytes():
    entry = make()
    assert entry.id == hashlib.sha256(b"\x00" + entry.canonical_bytes()).hexdigest()


def test_signing_bytes_are_prefixed_and_leave_out_the_signature():
    entry = make()
    signing = entry.signing_bytes()
    assert signing.startswith(SIGNING_PREFIX)
    body = json.loads(signing[len(SIGNING_PREFIX) :])
    assert "signature" not in body
    assert body == {
        k: v for k, v in json.loads(entry.canonical_bytes()).items() if k != "signature"
    }


# The browser reproduces these bytes: the JSON escapes only '"', '\\' and C0 controls,
# of which a wish may hold only LF (issue 14: the rest are refused, see test_text.py);
# U+2028/9, RLM and emoji stay raw UTF-8; "cafe" + U+0301 is NFC-normalised to "café".
TRICKY = (
    'Quote " backslash \\ newline \n '
    'cafe\u0301 \U0001f600 \u2028 \u2029 \u200f <script>alert("x")</script>'
)
TRICKY_JSON = (
    b'"scenario":"Quote \\" backslash \\\\ newline \\n '
    b"caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x80\xa8 \xe2\x80\xa9 \xe2\x80\x8f "
    b'<script>alert(\\"x\\")</script>"'
)
TRICKY_BYTES = (
    b'{"author_commitment":"a677af11c61a9c84569f6250be0810251485d8d2d55545a21b29bc8499fda22f",'
    b'"author_key":"A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=","burn":2,"fee":1,'
    b'"nonce":"nonce-0123456789","signature":"VngAKrK54zrrAw1l8iIINg8AZO6A44d/Qv/nsCWbastluQFs'
    b'Z/mmGkGaXTg7l+cFGGaMkW+7YboeGrQtDcZjDw==","timestamp":"2026-11-22T17:00:00.123Z",'
    b'"version":1,"wish":{"behaviour":"Show it as text.","language":"en",'
    b'"rationale":"Keep bytes stable.",' + TRICKY_JSON + b',"tags":["escaping","\xc3\xbcber"]}}'
)


def test_tricky_text_has_pinned_canonical_bytes():
    # Since the issue 14 review, intake refuses U+2028/U+2029 (line breaks are LF only), so
    # this vector, signed before, is an entry a log may already hold: read it as stored.
    fields = {
        "scenario": TRICKY,
        "behaviour": "Show it as text.",
        "rationale": "Keep bytes stable.",
        "tags": ["escaping", "u\u0308ber"],
    }
    with pytest.raises(EntryError, match=r"contains U\+2028"):
        make(burn=2, **fields)
    entry = parse_entry(TRICKY_BYTES, stored=True)
    assert entry.canonical_bytes() == TRICKY_BYTES
    assert entry.id == "f8d20695500aa86fa199ce1b82128947e98ee959525f31157fe71922163ccc58"
    assert entry.wish.scenario == TRICKY.replace("cafe\u0301", "caf\u00e9")
    verify_entry_signature(entry)
    with pytest.raises(EntryError, match=r"contains U\+2028"):
        validate_entry(entry, NO_CLOCK)
    # Without the separators the signer writes the same JSON for the text, NFC applied.
    plain = make(burn=2, **(fields | {"scenario": TRICKY.replace("\u2028 \u2029 ", "")}))
    assert TRICKY_JSON.replace("\u2028 \u2029 ".encode(), b"") in plain.canonical_bytes()
    validate_entry(parse_entry(plain.canonical_bytes()), NO_CLOCK)


def test_text_is_nfc_normalised_so_equal_text_has_equal_bytes():
    composed = Wish(scenario="caf\u00e9", behaviour="x", tags=["\u00fc"])
    decomposed = Wish(scenario="cafe\u0301", behaviour="x", tags=["u\u0308"])
    assert composed == decomposed


def test_models_are_frozen_and_refuse_unknown_fields():
    entry = make(tags=["a"])
    with pytest.raises(ValidationError):
        entry.fee = 5  # type: ignore[misc]
    assert isinstance(entry.wish.tags, tuple)
    data = json.loads(entry.canonical_bytes())
    data["wish"]["colour"] = "red"
    with pytest.raises(EntryError, match=r"field wish\.colour: is not a known field"):
        parse_entry(data)


TAMPERS = {
    "wish.scenario": lambda d: d["wish"].update(scenario="Something else."),
    "wish.behaviour": lambda d: d["wish"].update(behaviour="Refuse."),
    "wish.rationale": lambda d: d["wish"].update(rationale="Added later."),
    "wish.tags": lambda d: d["wish"].update(tags=["injected"]),
    "wish.language": lambda d: d["wish"].update(language="fr"),
    "wish.parent": lambda d: d["wish"].update(parent="cd" * 32),
    "fee": lambda d: d.update(fee=2),
    "burn": lambda d: d.update(burn=1000),
    "timestamp": lambda d: d.update(timestamp="2026-11-22T17:00:01.123Z"),
    "author_commitment": lambda d: d.update(author_commitment="0" * 64),
    "author_key": lambda d: d.update(author_key=public_key_b64(generate_author_key())),
    "nonce": lambda d: d.update(nonce="nonce-9876543210"),
    "signature": lambda d: d.update(
        signature=base64.b64encode(bytes([1]) + base64.b64decode(d["signature"])[1:]).decode()
    ),
}


@pytest.mark.parametrize("field", list(TAMPERS))
def test_changing_any_field_breaks_the_signature(field):
    entry = make()
    data = json.loads(entry.canonical_bytes())
    TAMPERS[field](data)
    tampered = parse_entry(data)
    assert tampered.id != entry.id
    with pytest.raises(SignatureError, match="does not verify"):
        verify_entry_signature(tampered)
    with pytest.raises(SignatureError):
        validate_entry(tampered, NO_CLOCK)


def test_changing_any_byte_changes_the_id():
    data = make().canonical_bytes()
    ids = {hashlib.sha256(b"\x00" + data).hexdigest()}
    for i in range(len(data)):
        changed = bytearray(data)
        changed[i] ^= 0x01
        ids.add(hashlib.sha256(b"\x00" + bytes(changed)).hexdigest())
    assert len(ids) == len(data) + 1


def test_a_flipped_byte_that_still_parses_fails_the_signature():
    data = make().canonical_bytes()
    changed = data.replace(b"Help them.", b"Help them!")
    with pytest.raises(SignatureError):
        verify_entry_signature(parse_entry(changed))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"fee": 1, "wish": "\xff"}', r"not valid UTF-8 \(byte 20\)"),
        (b'{"fee": ', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (42, "must be JSON text, bytes or a dict"),
    ],
)
def test_parse_entry_reports_bad_input_in_one_line(data, message):
    with pytest.raises(EntryError, match=message):
        parse_entry(data)


def _edit(**changes: object) -> dict:
    data = json.loads(make().canonical_bytes())
    for key, value in changes.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fee": None}, "field fee: is required but missing; add it"),
        ({"fee": "1"}, "field fee: Input should be a valid integer"),
        ({"fee": 1.0}, "field fee: Input should be a valid integer"),
        ({"burn": True}, "field burn: Input should be a valid integer"),
        ({"burn": 2**53}, "field burn: must be at most 9007199254740991"),
        ({"version": 2}, "field version: unsupported version 2"),
        ({"timestamp": "2026-11-22 17:00:00Z"}, "field timestamp: must be an RFC 3339 UTC"),
        ({"timestamp": "2026-11-22T17:00:00+01:00"}, "field timestamp: .*ending in Z"),
        ({"timestamp": "2026-02-30T17:00:00Z"}, "field timestamp: .*not a real date"),
        ({"author_commitment": "AB" * 32}, "field author_commitment: must be 64 lowercase hex"),
        ({"author_key": "not base64!"}, "field author_key: is not standard base64"),
        ({"author_key": base64.b64encode(bytes(31)).decode()}, "decodes to 31 bytes"),
        ({"author_key": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbh="}, "not canonical base64"),
        ({"signature": base64.b64encode(bytes(63)).decode()}, "field signature: decodes to 63"),
        ({"nonce": 7}, "field nonce: Input should be a valid string"),
        ({"wish": {"behaviour": "x"}}, "field wish.scenario: is required but missing"),
        ({"wish": {"scenario": "x", "behaviour": "y", "parent": "xyz"}}, "wish.parent: must be"),
        ({"wish": {"scenario": "x", "behaviour": "y", "tags": "a"}}, "field wish.tags"),
        ({"wish": {"scenario": "\ud800", "behaviour": "y"}}, "wish.scenario: is not valid Unicode"),
    ],
)
def test_parse_entry_names_the_field_and_the_fix(changes, message):
    with pytest.raises(EntryError, match=message):
        parse_entry(_edit(**changes))


def test_json_lone_surrogate_escape_is_refused():
    data = make().canonical_bytes().replace(b"Help them.", b"\\ud800")
    with pytest.raises(EntryError, match="not valid JSON"):
        parse_entry(data)


@pytest.mark.parametrize(
    ("wish", "kwargs", "message"),
    [
        ({"scenario": "  \n"}, {}, "field wish.scenario: empty; write the situation"),
        ({"behaviour": ""}, {}, "field wish.behaviour: empty; write what the AI should do"),
        ({"scenario": "x" * 4001}, {}, "field wish.scenario: 4001 characters, the limit is 4000"),
        ({"behaviour": "\U0001f600" * 4001}, {}, "wish.behaviour: 4001 characters"),
        ({"rationale": ""}, {}, "field wish.rationale: empty; omit it"),
        ({"rationale": "r" * 4001}, {}, "field wish.rationale: 4001 characters"),
        ({"tags": [str(i) for i in range(17)]}, {}, "field wish.tags: 17 tags, the limit is 16"),
        ({"tags": ["ok", "t" * 41]}, {}, r"field wish.tags\[1\]: 41 characters"),
        ({"tags": ["ok", " "]}, {}, r"field wish.tags\[1\]: empty"),
        ({"tags": ["ok", "ok"]}, {}, r"field wish.tags\[1\]: 'ok' repeats"),
        ({"language": "english!"}, {}, "field wish.language: 'english!' is not a BCP 47"),
        ({"language": "en-" + "a" * 40}, {}, "field wish.language"),
        ({}, {"fee": 0}, "field fee: 0 is below the minimum fee of 1; pay at least 1 credit"),
        ({}, {"burn": -3}, "field burn: -3 is negative"),
        ({}, {"nonce": "short"}, "field nonce: must be 16 to 128 characters"),
        ({}, {"nonce": "x" * 129}, "field nonce: must be 16 to 128"),
        ({}, {"nonce": "has spaces in it!!"}, "field nonce"),
    ],
)
def test_validate_entry_names_the_field_and_the_fix(wish, kwargs, message):
    entry = make(**kwargs, **wish)
    with pytest.raises(EntryError, match=message):
        validate_entry(entry, NO_CLOCK)


def test_policy_limits_are_configurable():
    entry = make(fee=3)
    validate_entry(entry, EntryPolicy(min_fee=3, max_clock_skew_s=None))
    with pytest.raises(EntryError, match="minimum fee of 5; pay at least 5 credits"):
        validate_entry(entry, EntryPolicy(min_fee=5, max_clock_skew_s=None))
    with pytest.raises(EntryError, match="limit is 5"):
        validate_entry(entry, EntryPolicy(max_scenario=5, max_clock_skew_s=None))


def test_clock_skew_is_checked_both_ways_unless_disabled():
    entry = make()
    validate_entry(entry, EntryPolicy(), now=NOW + timedelta(seconds=599))
    with pytest.raises(EntryError, match=r"field timestamp: .* 700 s behind the ledger clock"):
        validate_entry(entry, EntryPolicy(), now=NOW + timedelta(seconds=700.123))
    with pytest.raises(EntryError, match=r"ahead of the ledger clock \(limit 60 s\)"):
        validate_entry(entry, EntryPolicy(max_clock_skew_s=60), now=NOW - timedelta(hours=1))
    validate_entry(entry, EntryPolicy(max_clock_skew_s=None), now=NOW + timedelta(days=900))
    with pytest.raises(ValueError, match="now needs a timezone"):
        validate_entry(entry, EntryPolicy(), now=datetime(2026, 11, 22, 17))


def test_sign_entry_defaults_pass_validation_now():
    key = generate_author_key()
    entry = sign_entry(Wish(scenario="s", behaviour="b"), 1, 0, key, IDENTITY, new_salt())
    validate_entry(entry, EntryPolicy())
    assert entry.author_key == public_key_b64(key)
    assert (
        entry.nonce != sign_entry({"scenario": "s", "behaviour": "b"}, 1, 0, key, "x", SALT).nonce
    )


def test_sign_entry_refuses_bad_arguments():
    with pytest.raises(EntryError, match="private_key: pass an Ed25519PrivateKey"):
        sign_entry({"scenario": "s", "behaviour": "b"}, 1, 0, b"short", IDENTITY, SALT)
    with pytest.raises(EntryError, match=r"field wish\.behaviour: is required"):
        sign_entry({"scenario": "s"}, 1, 0, SEED, IDENTITY, SALT)
    with pytest.raises(EntryError, match="field fee: Input should be a valid integer"):
        sign_entry({"scenario": "s", "behaviour": "b"}, "1", 0, SEED, IDENTITY, SALT)


def test_timestamps_match_javascript_to_iso_string():
    moment = datetime(2026, 11, 22, 18, 0, 0, 123456, tzinfo=UTC).astimezone(
        datetime.now().astimezone().tzinfo
    )
    assert format_timestamp(moment) == "2026-11-22T18:00:00.123Z"
    assert parse_timestamp("2026-11-22T18:00:00.123Z") == datetime(
        2026, 11, 22, 18, 0, 0, 123000, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="needs a timezone"):
        format_timestamp(datetime(2026, 1, 1))


def test_commitment_hides_the_identity_and_opens_with_salt():
    commitment = commit_author(IDENTITY, SALT)
    assert commitment == hashlib.sha256(SALT + IDENTITY.encode()).hexdigest()
    assert commit_author("cafe\u0301", SALT) == commit_author("caf\u00e9", SALT)
    assert IDENTITY not in make().canonical_bytes().decode()
    with pytest.raises(EntryError, match="salt: 8 bytes; use at least 16"):
        commit_author(IDENTITY, bytes(8))
    with pytest.raises(EntryError, match="identity: empty"):
        commit_author("", SALT)


def test_prove_authorship_accepts_the_author_and_refuses_others():
    entry = make()
    prove_authorship(entry, IDENTITY, SALT)
    with pytest.raises(VerificationError, match="do not open") as caught:
        prove_authorship(entry, "mallory@example.org", SALT)
    assert not isinstance(caught.value, SignatureError)
    assert caught.value.expected == entry.author_commitment
    with pytest.raises(VerificationError, match="do not open"):
        prove_authorship(entry, IDENTITY, bytes(15) + b"\x01")
    forged = parse_entry(_edit(nonce="nonce-forged-0000"))
    with pytest.raises(SignatureError):
        prove_authorship(forged, IDENTITY, SALT)


# -- clean input (issue 14): refused at parse time, named, never silently changed ---------

UNSAFE = {
    "NUL": "\x00",
    "ESC": "\x1b[31m",
    "BEL": "\x07",
    "DEL": "\x7f",
    "RLO": "\u202e",
    "BOM": "\ufeff",
    "CR": "\r",
}


def _signed_raw(**wish: object) -> dict:
    """An entry an attacker signed correctly over raw text the signing tools would not make."""
    data = json.loads(make().canonical_bytes())
    data["wish"].update(wish)
    del data["signature"]
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    data["signature"] = base64.b64encode(key.sign(SIGNING_PREFIX + body.encode())).decode()
    return data


@pytest.mark.parametrize("name", UNSAFE)
def test_correctly_signed_unsafe_text_is_refused_naming_the_field(name):
    data = _signed_raw(behaviour=f"Help{UNSAFE[name]} them.")
    with pytest.raises(EntryError) as caught:
        parse_entry(data)
    message = str(caught.value)
    assert message.startswith(f"field wish.behaviour: contains U+{ord(UNSAFE[name][0]):04X} (")
    assert "at position 5;" in message and "\n" not in message


def test_unsafe_tags_name_their_index_and_tags_are_one_line():
    with pytest.raises(EntryError, match=r"^field wish\.tags\[1\]: contains U\+202E"):
        parse_entry(_signed_raw(tags=["ok", "ab\u202ecd"]))
    with pytest.raises(EntryError, match=r"^field wish\.tags\[0\]: contains U\+000A \(a line"):
        parse_entry(_signed_raw(tags=["two\nlines"]))
    with pytest.raises(EntryError, match=r"^field wish\.rationale: contains U\+0000"):
        parse_entry(_signed_raw(rationale="why\x00"))


@pytest.mark.parametrize("blank", ["\u200b", "\u200b\u200c\u200d\u2060", " \u3000\n"])
def test_zero_width_only_text_is_refused_at_intake(blank):
    entry = parse_entry(_signed_raw(scenario=blank))
    with pytest.raises(EntryError, match=r"^field wish\.scenario: empty; write the situation"):
        validate_entry(entry, NO_CLOCK)


def test_signing_normalises_line_endings_and_nfc_so_cli_and_browser_agree():
    entry = make(scenario="line one\r\nline two\rcafe\u0301")
    assert entry.wish.scenario == "line one\nline two\ncaf\u00e9"
    verify_entry_signature(entry)
    validate_entry(entry, NO_CLOCK)
    # The same wish typed with LF and precomposed text signs to the same bytes.
    assert make(scenario="line one\nline two\ncaf\u00e9").signing_bytes() == entry.signing_bytes()


def test_intake_rechecks_text_that_skipped_model_validation():
    entry = make()
    sneaky = entry.model_copy(
        update={"wish": entry.wish.model_copy(update={"scenario": "a\u202eb"})}
    )  # model_copy(update=...) does not validate
    with pytest.raises(EntryError, match=r"^field wish\.scenario: contains U\+202E"):
        validate_entry(sneaky, NO_CLOCK)
