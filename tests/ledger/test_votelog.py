"""The vote log on SQLite and PostgreSQL: rules, proofs, export verification, loading."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from charter.errors import EntryError, LedgerError, SignatureError, VerificationError
from charter.ledger.checkpoint import LogKey, verify_checkpoint
from charter.ledger.entry import generate_author_key, new_salt, public_key_b64, sign_entry
from charter.ledger.log import Ledger
from charter.ledger.votelog import VoteLog, verify_vote_export
from charter.ledger.votes import Tally, load_votes, sign_vote, vote_matrix
from charter.ledger.votesim import simulate
from charter.merkle import leaf_hash, verify_consistency, verify_inclusion

ORIGIN = "test.example/wishes"
ALICE, BOB = bytes([1]) * 32, bytes([2]) * 32


@pytest.fixture
def ledger(store_location):
    """A ledger with three wishes, on each backend."""
    key = LogKey.generate(ORIGIN)
    with Ledger.create(store_location, ORIGIN, key) as opened:
        author = generate_author_key()
        opened.grant(public_key_b64(author), 10)
        opened.append(
            [
                sign_entry({"scenario": f"scene {i}", "behaviour": "help"}, 1, 0, author, "me",
                           new_salt())
                for i in range(3)
            ]
        )  # fmt: skip
        yield opened


@pytest.fixture
def wishes(ledger) -> list[str]:
    return [ledger.get(i).id for i in range(ledger.size)]


@pytest.fixture
def votes(ledger) -> VoteLog:
    return VoteLog.for_ledger(ledger)


def now_vote(entry_id, value, key=ALICE, seconds=0.0, nonce=None, origin=ORIGIN):
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return sign_vote(entry_id, value, key, origin, nonce, moment)


def test_a_later_vote_replaces_the_earlier_one(votes, wishes):
    first = votes.append([now_vote(wishes[0], 1, seconds=-2)])[0]
    assert (first.index, first.replaced) == (0, False)
    assert votes.tally(wishes[0]) == Tally(endorse=1, oppose=0)

    second = votes.append([now_vote(wishes[0], -1, seconds=-1)])[0]
    assert (second.index, second.replaced) == (1, True)
    assert votes.tally(wishes[0]) == Tally(endorse=0, oppose=1)
    (index, held), = votes.votes_on(wishes[0])  # fmt: skip
    assert index == 1 and held.value == -1
    assert votes.size == 2  # the superseded vote stays in the log

    votes.append([now_vote(wishes[0], 0)])  # withdraw
    assert votes.tally(wishes[0]) == Tally(0, 0)
    assert votes.tallies(wishes) == {wishes[0]: Tally(0, 0)}


def test_an_older_vote_than_the_one_in_force_is_refused(votes, wishes):
    votes.append([now_vote(wishes[0], 1, seconds=-1)])
    with pytest.raises(EntryError, match=r"already has a vote on wish .* not older than"):
        votes.append([now_vote(wishes[0], -1, seconds=-5)])
    assert votes.size == 1 and votes.tally(wishes[0]) == Tally(1, 0)


def test_replay_is_refused_and_nothing_is_written(votes, wishes):
    original = now_vote(wishes[0], 1, nonce="n" * 20, seconds=-1)
    votes.append([original])
    with pytest.raises(EntryError, match="nonce already used"):
        votes.append([original])
    # A new vote reusing the nonce, in a batch with a good vote: the batch is refused whole.
    reuse = now_vote(wishes[1], -1, nonce="n" * 20)
    with pytest.raises(EntryError, match="nonce already used"):
        votes.append([now_vote(wishes[2], 1, key=BOB), reuse])
    assert votes.size == 1 and votes.tallies(wishes) == {wishes[0]: Tally(1, 0)}


def test_unknown_wish_other_log_bad_clock_and_forgery_are_refused(votes, wishes):
    with pytest.raises(EntryError, match="field entry_id: no wish ffffffffffffffff… is in this"):
        votes.append([now_vote("f" * 64, 1)])
    with pytest.raises(EntryError, match=r"field origin: the vote is for log 'elsewhere\.example'"):
        votes.append([now_vote(wishes[0], 1, origin="elsewhere.example")])
    with pytest.raises(EntryError, match=r"field timestamp: .* ahead of the ledger clock"):
        votes.append([now_vote(wishes[0], 1, seconds=3600)])
    forged = now_vote(wishes[0], 1).model_copy(update={"value": -1})
    with pytest.raises(SignatureError):
        votes.append([forged])
    assert votes.size == 0


def test_vote_log_checkpoints_and_proofs_verify(votes, ledger, wishes):
    sim = simulate(wishes, n_voters=6, groups=2, seed=1, origin=ORIGIN, participation=1.0)
    votes.append(sim.votes[:7], check_clock=False)
    old_note = votes.checkpoint()
    votes.append(sim.votes[7:], check_clock=False)
    note = votes.checkpoint()
    cp = verify_checkpoint(note, ledger.verifier, origin=ORIGIN + "/votes")
    old = verify_checkpoint(old_note, ledger.verifier)
    assert (old.size, cp.size) == (7, len(sim.votes)) == (7, 18)
    for index in (0, 6, 17):
        leaf = leaf_hash(votes.get(index).canonical_bytes())
        verify_inclusion(leaf, index, cp.size, votes.inclusion_proof(index, cp.size), cp.root)
    verify_consistency(7, cp.size, votes.consistency_proof(7), old.root, cp.root)
    assert votes.checkpoints() == [old_note, note]
    with pytest.raises(LedgerError, match="beyond the vote log's size"):
        votes.inclusion_proof(0, 99)


def test_export_verifies_and_tampering_is_caught(votes, ledger, wishes, tmp_path):
    sim = simulate(wishes, n_voters=5, groups=2, seed=2, origin=ORIGIN, participation=1.0)
    votes.append(sim.votes, check_clock=False)
    votes.append([now_vote(wishes[0], -1, key=ALICE)])
    path = tmp_path / "votes.jsonl"
    assert votes.export(path) == len(sim.votes) + 1
    checkpoints = Path(f"{path}.checkpoints.jsonl").read_text().splitlines()
    notes = [json.loads(line)["note"] for line in checkpoints]
    verifier = Path(f"{path}.verifier").read_text().strip()
    current = verify_vote_export(path, notes, verifier, wishes)
    assert len(current) == len(sim.votes) + 1  # ALICE is a new voter
    assert load_votes(path) == current

    lines = path.read_bytes().splitlines(keepends=True)
    flip = {b'"value":1': b'"value":-1', b'"value":-1': b'"value":1'}
    altered = next(lines[1].replace(a, b) for a, b in flip.items() if a in lines[1])
    cases = {
        "signature does not verify": [lines[0], altered, *lines[2:]],
        "votes were removed": lines[:-1],
        "give a different root": [lines[0], *lines[2:], lines[1]],
    }
    for message, content in cases.items():
        path.write_bytes(b"".join(content))
        with pytest.raises(VerificationError, match=message):
            verify_vote_export(path, notes, verifier, wishes)
    path.write_bytes(b"".join(lines))
    with pytest.raises(VerificationError, match="names wish"):
        verify_vote_export(path, notes, verifier, wishes[1:])


def test_load_votes_from_the_store_gives_the_matrix(votes, ledger, wishes, store_location):
    sim = simulate(wishes, n_voters=8, groups=2, seed=3, origin=ORIGIN, participation=1.0)
    votes.append(sim.votes, check_clock=False)
    votes.append([now_vote(wishes[1], 1, key=ALICE, seconds=-1)])
    votes.append([now_vote(wishes[1], -1, key=ALICE)])
    loaded = load_votes(store_location)
    assert len(loaded) == len(sim.votes) + 1
    assert len(load_votes(store_location, current=False)) == len(sim.votes) + 2
    matrix, keys = vote_matrix(loaded, wishes)
    assert matrix.shape == (9, 3)
    assert matrix[keys.index(loaded[-1].voter_key), 1] == -1


def test_an_existing_sqlite_ledger_gains_the_vote_tables(tmp_path):
    location = str(tmp_path / "old.db")
    Ledger.create(location, ORIGIN, LogKey.generate(ORIGIN)).close()
    with sqlite3.connect(location) as db:  # a store written before votes existed
        for table in ("votes", "vote_nodes", "vote_current", "vote_checkpoints"):
            db.execute(f"DROP TABLE {table}")
    with Ledger.open(location) as reopened:
        assert VoteLog.for_ledger(reopened).size == 0


def test_votes_page_through_the_store_and_current_votes_filter(votes, ledger, wishes, monkeypatch):
    from charter.ledger.store import sql

    votes.append([now_vote(w, 1, key=k) for w in wishes for k in (ALICE, BOB)])
    monkeypatch.setattr(sql, "PAGE", 2)  # 6 votes: three full pages and an empty one
    store = ledger.store
    assert [v.index for v in store.votes()] == list(range(6))
    assert [v.index for v in store.votes(1, 5)] == [1, 2, 3, 4]
    assert [v.index for v in store.votes(4)] == [4, 5]
    assert list(store.votes(6)) == []
    on_second = store.current_votes(wishes[1])
    assert [v.entry_id for v in on_second] == [wishes[1]] * 2
    assert [v.index for v in store.current_votes()] == list(range(6))
