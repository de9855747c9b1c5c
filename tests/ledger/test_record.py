"""The byte rules wishes and votes share: canonical JSON, base64 fields, signing bytes, ids."""

from __future__ import annotations

import base64
import hashlib

import pytest

from charter.ledger.entry import SIGNING_PREFIX, sign_entry
from charter.ledger.record import canonical_b64, canonical_json, record_id, signing_bytes
from charter.ledger.votes import VOTE_SIGNING_PREFIX, sign_vote


def test_canonical_json_is_sorted_compact_raw_utf8():
    assert canonical_json({"b": 1, "a": ["é", None]}) == '{"a":["é",null],"b":1}'.encode()


def test_signing_bytes_put_the_type_prefix_before_the_body():
    assert signing_bytes(b"p\n", {"x": 1}) == b'p\n{"x":1}'


def test_record_id_is_the_hex_rfc6962_leaf_hash():
    assert record_id(b"data") == hashlib.sha256(b"\x00data").hexdigest()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64!", "not standard base64"),
        (base64.b64encode(bytes(31)).decode(), "decodes to 31 bytes"),
        (base64.b64encode(bytes(32)).decode()[:-2] + "B=", "not canonical base64"),
    ],
)
def test_canonical_b64_accepts_one_spelling_of_the_right_size(value, message):
    good = base64.b64encode(bytes(32)).decode()
    assert canonical_b64(good, 32, "key") == good
    with pytest.raises(ValueError, match=message):
        canonical_b64(value, 32, "key")


def test_wishes_and_votes_use_the_shared_rules_with_their_own_prefix():
    key = bytes(range(32))
    entry = sign_entry({"scenario": "s", "behaviour": "b"}, 1, 0, key, "me", bytes(16))
    vote = sign_vote(entry.id, 1, key, "example.org/wishes")
    for record, prefix in ((entry, SIGNING_PREFIX), (vote, VOTE_SIGNING_PREFIX)):
        assert record.id == record_id(record.canonical_bytes())
        assert record.signing_bytes().startswith(prefix)
        body = record.model_dump(exclude={"signature"}, exclude_none=True)
        assert record.signing_bytes() == signing_bytes(prefix, body)
    assert SIGNING_PREFIX != VOTE_SIGNING_PREFIX
