"""The generic signed log over any record type: append, proofs, checkpoints, export, verify."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from charter.errors import EntryError, LedgerError, VerificationError
from charter.ledger.checkpoint import LogKey, verify_checkpoint
from charter.ledger.record import RecordType, record_id
from charter.ledger.signedlog import (
    PreparedBatch,
    SignedLog,
    checkpoints_path,
    verifier_path,
)
from charter.ledger.store import VOTE_LOG, WISH_LOG, AppendBatch, StoredEntry, open_store
from charter.ledger.verify import verify_records
from charter.merkle import leaf_hash, verify_consistency, verify_inclusion

ORIGIN = "test.example/notes"


@dataclass(frozen=True)
class Note:
    """A minimal record type: canonical JSON ``{"n": ...}``, 'signed' when ``n`` is even."""

    n: int

    def canonical_bytes(self) -> bytes:
        return b'{"n":%d}' % self.n

    @property
    def id(self) -> str:
        return record_id(self.canonical_bytes())


def parse_note(data: bytes) -> Note:
    try:
        return Note(int(json.loads(data)["n"]))
    except (ValueError, KeyError, TypeError):
        raise EntryError('note is not {"n": int}') from None


def check_note(note: Note) -> None:
    if note.n % 2:
        raise VerificationError(f"note {note.n} is not signed")


NOTES = RecordType("note", parse_note, check_note)


@pytest.fixture
def log(store_location):
    store = open_store(store_location)
    key = LogKey.generate(ORIGIN)
    yield SignedLog(store.log(WISH_LOG), ORIGIN, key.verifier_string(), key, NOTES)
    store.close()


def append(log: SignedLog, numbers: list[int]) -> list[int]:
    """Append notes the way a record layer does: its own rows in the core's batch."""
    store = log.storage.store

    def write(batch: PreparedBatch) -> list[int]:
        rows = [
            StoredEntry(batch.start + i, leaf.hex(), data, leaf, "", "k")
            for i, (data, leaf) in enumerate(zip(batch.data, batch.leaves, strict=True))
        ]
        store.append(AppendBatch(rows, batch.nodes, [("k", str(n)) for n in numbers], []))
        return [r.index for r in rows]

    return log.append([Note(n) for n in numbers], write)


def test_append_proofs_and_checkpoints(log):
    assert append(log, [0, 2, 4]) == [0, 1, 2]
    old = verify_checkpoint(log.checkpoint(), log.verifier, ORIGIN)
    assert append(log, list(range(6, 20, 2))) == list(range(3, 10))
    note = log.checkpoint()
    assert log.checkpoint() == note  # once per size
    cp = log.verify_checkpoint(note)
    assert (old.size, cp.size, cp.root) == (3, 10, log.root())
    for index in (0, 4, 9):
        leaf = leaf_hash(log.get(index).canonical_bytes())
        verify_inclusion(leaf, index, 10, log.inclusion_proof(index), cp.root)
    verify_consistency(3, 10, log.consistency_proof(3), old.root, cp.root)
    assert log.checkpoints() == [log.storage.checkpoint(3), note]
    with pytest.raises(LedgerError, match="note 10 is not in a log of size 10"):
        log.inclusion_proof(10)
    with pytest.raises(LedgerError, match="beyond the log's size 10"):
        log.root(11)
    with pytest.raises(LedgerError, match="no note 10; the log has 10"):
        log.get(10)


def test_two_logs_in_one_store_are_independent(log):
    append(log, [0, 2])
    votes = SignedLog(log.storage.store.log(VOTE_LOG), ORIGIN + "/votes", log.verifier, None, NOTES)
    assert (log.size, votes.size) == (2, 0)
    with pytest.raises(LedgerError, match="needs the log key"):
        votes.checkpoint()
    with pytest.raises(LedgerError, match="is not this log's"):
        votes.verify_checkpoint(log.checkpoint())


def test_export_verifies_offline_and_tampering_is_named(log, tmp_path):
    append(log, [0, 2, 4, 6])
    log.checkpoint()
    path = tmp_path / "notes.jsonl"
    assert log.export(path) == 4
    notes = [json.loads(line)["note"] for line in checkpoints_path(path).read_text().splitlines()]
    verifier = verifier_path(path).read_text().strip()
    assert verify_records(path, notes, verifier, NOTES) == [Note(n) for n in (0, 2, 4, 6)]
    lines = path.read_bytes().splitlines(keepends=True)
    cases = {
        "note 1 \\(line 2\\): note 3 is not signed": [lines[0], b'{"n":3}\n', *lines[2:]],
        "notes were removed": lines[:-1],
        "first 4 notes give a different root": [lines[1], lines[0], *lines[2:]],
        "note 2 \\(line 3\\): not in canonical form": [*lines[:2], b'{"n": 4}\n', lines[3]],
        "note 3 \\(line 4\\): note is not": [*lines[:3], b"[]\n"],
    }
    for message, content in cases.items():
        path.write_bytes(b"".join(content))
        with pytest.raises(VerificationError, match=message):
            verify_records(path, notes, verifier, NOTES)
    path.write_bytes(b"".join(lines))
    with pytest.raises(VerificationError, match="is not a note log's"):
        verify_records(path, notes, verifier, NOTES, origin_suffix="/votes")
