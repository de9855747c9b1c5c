"""Votes as values: signatures, domain separation, parsing, tallies, the matrix, simulation."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.errors import ConfigError, DatasetError, EntryError, SignatureError
from charter.ledger.votes import (
    VOTE_SIGNING_PREFIX,
    Tally,
    current_votes,
    load_votes,
    parse_vote,
    sign_vote,
    tally,
    verify_vote_signature,
    vote_matrix,
)
from charter.ledger.votesim import simulate, simulate_votes

ORIGIN = "test.example/wishes"
WISH_A, WISH_B, WISH_C = ("a" * 64, "b" * 64, "c" * 64)
ALICE, BOB = bytes([1]) * 32, bytes([2]) * 32


def vote(entry_id=WISH_A, value=1, key=ALICE, ms=0, nonce=None):
    return sign_vote(entry_id, value, key, ORIGIN, nonce, f"2026-03-01T12:00:00.{ms:03d}Z")


def test_signed_vote_verifies_and_round_trips():
    signed = vote()
    verify_vote_signature(signed)
    again = parse_vote(signed.canonical_bytes())
    assert again == signed and again.id == signed.id
    assert signed.signing_bytes().startswith(VOTE_SIGNING_PREFIX)
    assert b'"signature"' not in signed.signing_bytes()


@pytest.mark.parametrize(
    "change",
    [{"value": -1}, {"entry_id": WISH_B}, {"timestamp": "2026-03-01T12:00:00.001Z"},
     {"origin": "other.example/wishes"}, {"nonce": "x" * 24}],
)  # fmt: skip
def test_tampered_vote_is_refused(change):
    tampered = vote().model_copy(update=change)
    with pytest.raises(SignatureError, match="vote signature does not verify"):
        verify_vote_signature(tampered)


def test_a_wish_signature_is_not_a_vote_signature():
    # Same key, same body, the wishes' prefix: domain separation must make it fail.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    honest = vote()
    body = honest.signing_bytes().removeprefix(VOTE_SIGNING_PREFIX)
    wish_sig = Ed25519PrivateKey.from_private_bytes(ALICE).sign(b"charter-wish-v1\n" + body)
    forged = honest.model_copy(update={"signature": base64.b64encode(wish_sig).decode()})
    with pytest.raises(SignatureError):
        verify_vote_signature(forged)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("value", 2, "field value: must be 1 \\(endorse\\), -1 \\(oppose\\) or 0"),
        ("timestamp", "2026-03-01T12:00:00Z", "field timestamp: must be RFC 3339 UTC with milli"),
        ("entry_id", "A" * 64, "field entry_id: must be the 64-character lowercase hex"),
        ("nonce", "short", "field nonce: must be 16 to 128"),
        ("voter_key", "abc", "field voter_key: "),
    ],
)
def test_bad_fields_name_the_field(field, value, message):
    data = json.loads(vote().canonical_bytes())
    data[field] = value
    with pytest.raises(EntryError, match=message):
        parse_vote(data)


def test_parse_vote_refuses_non_json_and_extra_fields():
    with pytest.raises(EntryError, match="not valid JSON"):
        parse_vote(b"{nope")
    data = json.loads(vote().canonical_bytes()) | {"weight": 5}
    with pytest.raises(EntryError, match="field weight: is not a known field"):
        parse_vote(data)


def test_newest_vote_wins_and_withdrawals_count_as_none():
    votes = [
        vote(WISH_A, 1, ALICE, ms=1),
        vote(WISH_A, -1, ALICE, ms=5),  # Alice changes her mind
        vote(WISH_A, 1, BOB, ms=3),
        vote(WISH_B, 1, BOB, ms=4),
        vote(WISH_B, 0, BOB, ms=9),  # Bob withdraws
        vote(WISH_A, 1, ALICE, ms=2),  # arrives late but is older: superseded
    ]
    now = current_votes(votes)
    assert {(v.voter_key[:4], v.entry_id[0], v.value) for v in now} == {
        (votes[1].voter_key[:4], "a", -1),
        (votes[2].voter_key[:4], "a", 1),
        (votes[3].voter_key[:4], "b", 0),
    }
    assert tally(votes) == {WISH_A: Tally(1, 1), WISH_B: Tally(0, 0)}

    matrix, keys = vote_matrix(votes, [WISH_B, WISH_A, WISH_C])
    assert keys == sorted([votes[0].voter_key, votes[2].voter_key])
    alice, bob = keys.index(votes[0].voter_key), keys.index(votes[2].voter_key)
    assert matrix.dtype == np.float64 and matrix.shape == (2, 3)
    assert matrix[alice, 1] == -1 and matrix[bob, 1] == 1
    assert np.isnan(matrix[bob, 0]) and np.isnan(matrix[:, 2]).all()  # withdrawn, never voted


def test_load_votes_from_jsonl_keeps_current_and_checks_signatures(tmp_path):
    older, newer = vote(WISH_A, 1, ms=1), vote(WISH_A, -1, ms=2)
    path = tmp_path / "votes.jsonl"
    # A raw vote line and an API export item line are both read.
    path.write_text(
        older.canonical_bytes().decode() + "\n"
        + json.dumps({"index": 1, "vote": json.loads(newer.canonical_bytes())}) + "\n"
    )  # fmt: skip
    assert load_votes(path) == [newer]
    assert load_votes(path, current=False) == [older, newer]

    tampered = json.loads(older.canonical_bytes()) | {"value": -1}
    path.write_text(json.dumps(tampered) + "\n")
    with pytest.raises(SignatureError):
        load_votes(path)
    assert len(load_votes(path, verify=False)) == 1

    path.write_text("{}\n")
    with pytest.raises(DatasetError, match=r"votes\.jsonl:1: not a vote"):
        load_votes(path)
    with pytest.raises(DatasetError, match="no such file"):
        load_votes(tmp_path / "missing.jsonl")


def _agreement(matrix: np.ndarray, rows: list[int], column: int) -> float:
    """Share of the majority among the given voters' votes on one wish."""
    cells = matrix[rows, column]
    cells = cells[~np.isnan(cells)]
    return max((cells == 1).mean(), (cells == -1).mean())


def test_simulation_is_deterministic_and_has_the_group_structure():
    wishes = [f"{i:064x}" for i in range(40)]
    sim = simulate(wishes, n_voters=60, groups=3, seed=7, origin=ORIGIN, participation=0.7)
    again = simulate_votes(wishes, n_voters=60, groups=3, seed=7, origin=ORIGIN, participation=0.7)
    assert sim.votes == again  # same seed: same signed votes, byte for byte
    assert simulate_votes(wishes, 60, 3, seed=8, origin=ORIGIN) != sim.votes
    for v in sim.votes[:50]:
        verify_vote_signature(v)
    assert len({(v.voter_key, v.nonce) for v in sim.votes}) == len(sim.votes)

    matrix, keys = vote_matrix(sim.votes, wishes)
    groups = [[i for i, k in enumerate(keys) if sim.voter_groups[k] == g] for g in range(3)]
    divisive = [j for j, w in enumerate(wishes) if len(set(sim.stances[w])) > 1]
    assert sim.consensus and divisive
    for j in divisive:  # within a group people mostly agree ...
        assert min(_agreement(matrix, rows, j) for rows in groups) > 0.5
        # ... and at least two groups lean opposite ways
        leans = {np.sign(np.nanmean(matrix[rows, j])) for rows in groups}
        assert leans == {-1.0, 1.0}
    followed = [
        v.value == sim.stances[v.entry_id][sim.voter_groups[v.voter_key]] for v in sim.votes
    ]
    assert 0.85 < np.mean(followed) < 0.95  # agreement=0.9 by default
    everyone = [i for rows in groups for i in rows]
    for w in sim.consensus:  # consensus wishes are endorsed across all groups
        j = wishes.index(w)
        assert np.nanmean(matrix[everyone, j]) > 0.5


def test_simulation_refuses_bad_options():
    with pytest.raises(ConfigError, match="participation must be a probability"):
        simulate([WISH_A], participation=1.5)
    with pytest.raises(ConfigError, match="n_voters >= groups"):
        simulate([WISH_A], n_voters=2, groups=3)


# -- clean input (issue 14): a vote's one free-text field, its origin ---------------------


def _signed_raw_vote(**changes: object) -> dict:
    """A vote an attacker signed correctly over fields the signing tools would not make."""
    data = {**json.loads(vote().canonical_bytes()), **changes}
    del data["signature"]
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    key = Ed25519PrivateKey.from_private_bytes(ALICE)
    data["signature"] = base64.b64encode(key.sign(VOTE_SIGNING_PREFIX + body.encode())).decode()
    return data


@pytest.mark.parametrize(
    ("origin", "message"),
    [
        ("test.example/\x1b[2Jwishes", r"contains U\+001B \(a control character\) at position 14"),
        ("test.example/wishes\u202e", r"contains U\+202E \(a bidi"),
        ("\ufefftest.example/wishes", r"contains U\+FEFF \(a byte order mark\) at position 1"),
        ("test.example/wishes\r", r"contains U\+000D \(a carriage return\)"),
        ("test.example\n/wishes", r"contains U\+000A \(a line break\)"),
        ("\u200b\u200b", "must be the log's origin line"),
    ],
)
def test_unsafe_origin_is_refused_naming_the_field(origin, message):
    with pytest.raises(EntryError, match=r"^vote field origin: " + message):
        parse_vote(_signed_raw_vote(origin=origin))


def test_sign_vote_normalises_the_origin_before_signing():
    signed = sign_vote(WISH_A, 1, ALICE, "caf\u0065\u0301.example/wishes")
    assert signed.origin == "caf\u00e9.example/wishes"
    verify_vote_signature(signed)
