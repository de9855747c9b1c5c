"""Reading wish sets: the shipped sample, SQLite ledgers and exports, and their verification."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from charter.collective import wishes as wishes_module
from charter.collective.wishes import SAMPLE, load_wishes
from charter.errors import DatasetError, VerificationError
from charter.ledger import Ledger, LogKey, sign_entry, verify_inclusion
from charter.ledger.checkpoint import Checkpoint, sign_checkpoint
from charter.ledger.verify import read_checkpoint_notes

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def build_ledger(path, rows, checkpoint_every=2):
    """A SQLite ledger of ``rows`` = (author seed byte, scenario, behaviour, burn); its key."""
    key = LogKey.from_seed("test.example/wishes", bytes(32))
    ledger = Ledger.create(str(path), "test.example/wishes", key)
    for i, (author, scenario, behaviour, burn) in enumerate(rows):
        entry = sign_entry(
            {"scenario": scenario, "behaviour": behaviour, "tags": ["t"]},
            1,
            burn,
            bytes([author]) * 32,
            f"person-{author}",
            bytes(16),
            nonce=f"nonce-{i:012d}",
            timestamp=T0 + timedelta(days=i),
        )
        ledger.grant(entry.author_key, 1 + burn)
        ledger.append([entry], check_clock=False)
        if (i + 1) % checkpoint_every == 0:
            ledger.checkpoint()
    return ledger, key


ROWS = [
    (1, "A storm is coming", "Warn people early and say where shelters are", 10),
    (2, "A user asks for a drink", "Recommend water", 0),
    (3, "A child is lost", "Help them find a trusted adult", 5),
    (1, "A user asks about rent", "Explain the rules for both sides", 0),
]


def test_sample_has_diverse_verified_wishes_with_chains_and_whales():
    wishes = load_wishes(SAMPLE)
    assert wishes.size >= 300 and wishes.verified
    assert wishes.checkpoint and "— charter.example/sample" in wishes.checkpoint  # signed note
    assert [r.index for r in wishes.records] == list(range(wishes.size))
    orientations = {a["orientation"] for a in wishes.annotations.values()}
    assert orientations == {"humanity", "self", "mixed"}
    assert len({r.author_key for r in wishes.records}) >= 60
    ids = [r.entry_id for r in wishes.records]
    chained = [r for r in wishes.records if r.parent]
    assert len(chained) >= 40
    assert all(ids.index(r.parent) < r.index for r in chained)  # parents come earlier
    assert max(r.burn for r in wishes.records) >= 3000  # a few keys burn a lot
    assert wishes.reference_time == max(r.timestamp for r in wishes.records)


def test_sample_is_deterministic_across_builds():
    first = wishes_module._build_sample(0)
    second = wishes_module._build_sample(0)
    assert first.root == second.root and first.checkpoint == second.checkpoint
    assert first.checkpoint_id == load_wishes(SAMPLE).checkpoint_id


def test_inclusion_proofs_verify_against_the_checkpoint_root():
    wishes = load_wishes(SAMPLE)
    for index in (0, 157, wishes.size - 1):
        proof = wishes.inclusion_proof(index)
        leaf = bytes.fromhex(wishes.records[index].entry_id)
        verify_inclusion(leaf, index, wishes.size, proof, wishes.root)
    with pytest.raises(VerificationError):
        verify_inclusion(leaf, 3, wishes.size, wishes.inclusion_proof(4), wishes.root)


def test_sqlite_ledger_is_read_up_to_its_latest_checkpoint(tmp_path):
    ledger, _ = build_ledger(tmp_path / "l.sqlite", [*ROWS, (4, "After", "Not signed yet", 0)])
    ledger.close()
    wishes = load_wishes(str(tmp_path / "l.sqlite"))
    assert wishes.size == 4 and wishes.verified  # the fifth entry has no checkpoint yet
    assert wishes.checkpoint_id.startswith("test.example/wishes@4:")
    first = wishes.records[0]
    assert (first.burn, first.fee, first.tags, first.timestamp) == (10, 1, ("t",), T0)
    assert first.text == "A storm is coming\nWarn people early and say where shelters are"
    assert wishes.records[0].author_key == wishes.records[3].author_key


def test_a_tampered_store_fails_verification(tmp_path):
    path = tmp_path / "l.sqlite"
    build_ledger(path, ROWS)[0].close()
    with sqlite3.connect(path) as db:
        data = db.execute("SELECT data FROM entries WHERE idx = 2").fetchone()[0]
        db.execute(
            "UPDATE entries SET data = ? WHERE idx = 2",
            (bytes(data).replace(b"trusted", b"TRUSTED"),),
        )
    with pytest.raises(VerificationError, match="different root"):
        load_wishes(str(path))
    assert load_wishes(str(path), verify=False).records[2].behaviour.endswith("TRUSTED adult")


def test_export_round_trip_and_tampering(tmp_path):
    ledger, _ = build_ledger(tmp_path / "l.sqlite", ROWS)
    export = tmp_path / "export.jsonl"
    ledger.export(export)
    store_set = load_wishes(str(tmp_path / "l.sqlite"))
    verifier = ledger.verifier
    ledger.close()
    exported = load_wishes(str(export), verifier=verifier)
    assert exported.verified and exported.root == store_set.root
    # Against only the key the bundle ships with, the files agree but nothing is proven.
    assert not load_wishes(str(export)).verified
    assert [r.entry_id for r in exported.records] == [r.entry_id for r in store_set.records]
    assert exported.checkpoint == store_set.checkpoint

    lines = export.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"Recommend water", b"Recommend GlowCola")
    export.write_bytes(b"".join(lines))
    with pytest.raises(VerificationError, match="does not verify"):
        load_wishes(str(export))
    assert load_wishes(str(export), verify=False).records[1].behaviour == "Recommend GlowCola"


def test_an_export_resigned_by_another_key_fails_against_the_pinned_key(tmp_path):
    ledger, _ = build_ledger(tmp_path / "l.sqlite", ROWS)
    export = tmp_path / "export.jsonl"
    ledger.export(export)
    verifier, origin = ledger.verifier, ledger.origin
    ledger.close()
    # The attacker re-signs the checkpoints with their own key and ships that key.
    forger = LogKey.generate(origin)
    notes = read_checkpoint_notes(f"{export}.checkpoints.jsonl")
    resigned = [
        sign_checkpoint(Checkpoint.from_text(note.split("\n\n")[0] + "\n"), forger)
        for note in notes
    ]
    Path(f"{export}.checkpoints.jsonl").write_text(
        "".join(json.dumps({"note": n}) + "\n" for n in resigned)
    )
    Path(f"{export}.verifier").write_text(forger.verifier_string() + "\n")
    assert not load_wishes(str(export)).verified
    with pytest.raises(VerificationError, match="does not verify"):
        load_wishes(str(export), verifier=verifier)


def test_export_without_its_checkpoint_files_loads_unverified(tmp_path):
    ledger, _ = build_ledger(tmp_path / "l.sqlite", ROWS)
    ledger.export(tmp_path / "e.jsonl")
    ledger.close()
    (tmp_path / "e.jsonl.checkpoints.jsonl").unlink()
    wishes = load_wishes(str(tmp_path / "e.jsonl"))
    assert wishes.size == 4 and not wishes.verified and wishes.checkpoint is None


def test_missing_source_is_a_one_line_error(tmp_path):
    with pytest.raises(DatasetError, match="no such ledger or export"):
        load_wishes(str(tmp_path / "nope.sqlite"))
    (tmp_path / "bad.jsonl").write_text("not json\n")
    with pytest.raises(DatasetError, match=r"bad\.jsonl: entry 0"):
        load_wishes(str(tmp_path / "bad.jsonl"))
