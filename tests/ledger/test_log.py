"""The Ledger facade and offline verification of exports, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from charter.errors import EntryError, LedgerError, SignatureError, StakeError
from charter.ledger import (
    Ledger,
    LogKey,
    Wish,
    leaf_hash,
    sign_entry,
    verify_consistency,
    verify_export,
    verify_inclusion,
)
from charter.ledger.entry import generate_author_key, new_salt, public_key_b64

ORIGIN = "test.example/wishes"


@pytest.fixture
def author():
    key = generate_author_key()
    return key, new_salt(), public_key_b64(key)


@pytest.fixture
def ledger(store_location, author):
    key = LogKey.generate(ORIGIN)
    with Ledger.create(store_location, ORIGIN, key) as led:
        led.grant(author[2], 1000)
        yield led


def wishes(author, n, start=0, parent=None, burn=0):
    key, salt, _ = author
    return [
        sign_entry(
            Wish(scenario=f"scenario {start + i}", behaviour="explain, then help", parent=parent),
            1,
            burn,
            key,
            "identity",
            salt,
        )
        for i in range(n)
    ]


def test_append_prove_and_checkpoint(ledger, author):
    first = wishes(author, 5)
    assert ledger.append(first) == [0, 1, 2, 3, 4]
    old_note, old_root = ledger.checkpoint(), ledger.root()
    ledger.append(wishes(author, 6, start=5, parent=first[0].id))
    note = ledger.checkpoint()
    cp = ledger.verify_checkpoint(note)
    assert cp.size == 11 and cp.root == ledger.root()
    for index in (0, 4, 10):
        entry = ledger.get(index)
        verify_inclusion(
            leaf_hash(entry.canonical_bytes()), index, 11, ledger.inclusion_proof(index), cp.root
        )
        assert ledger.find(entry.id) == index
    verify_consistency(5, 11, ledger.consistency_proof(5), old_root, cp.root)
    assert ledger.verify_checkpoint(old_note).size == 5
    assert ledger.balance(author[2]) == 1000 - 11


def test_refusals_write_nothing(ledger, author):
    ledger.append(wishes(author, 2))
    size, balance = ledger.size, ledger.balance(author[2])
    replay = ledger.get(0)
    with pytest.raises(EntryError, match="already"):
        ledger.append([replay])
    with pytest.raises(StakeError, match="needs 5001 credits"):
        ledger.append(wishes(author, 1, start=9, burn=5000))
    with pytest.raises(EntryError, match=r"field wish\.parent: no entry"):
        ledger.append(wishes(author, 1, start=10, parent="ab" * 32))
    forged = wishes(author, 1, start=11)[0].model_copy(update={"fee": 2})
    with pytest.raises(SignatureError):
        ledger.append([forged])
    good, bad = wishes(author, 1, start=12)[0], wishes(author, 1, start=13, burn=5000)[0]
    with pytest.raises(StakeError):
        ledger.append([good, bad])  # one bad entry: the whole batch is refused
    assert (ledger.size, ledger.balance(author[2])) == (size, balance)


def test_reopen_needs_the_right_key(store_location, author):
    key = LogKey.generate(ORIGIN)
    Ledger.create(store_location, ORIGIN, key).close()
    with pytest.raises(LedgerError, match="already holds a ledger"):
        Ledger.create(store_location, ORIGIN, key)
    with pytest.raises(LedgerError, match="not this ledger's key"):
        Ledger.open(store_location, LogKey.generate(ORIGIN))
    with Ledger.open(store_location) as led, pytest.raises(LedgerError, match="needs the log key"):
        led.checkpoint()


@pytest.fixture
def exported(tmp_path, author):
    key = LogKey.generate(ORIGIN)
    with Ledger.create(str(tmp_path / "l.sqlite"), ORIGIN, key) as led:
        led.grant(author[2], 100)
        for start in range(0, 12, 4):
            led.append(wishes(author, 4, start=start))
            led.checkpoint()
        path = tmp_path / "export.jsonl"
        led.export(path)
        return path, led.checkpoints(), led.verifier


def rewrite(path, change):
    lines = path.read_bytes().splitlines()
    lines = change(lines)
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_export_verifies(exported):
    path, notes, verifier = exported
    report = verify_export(path, notes, verifier, old_checkpoint=notes[1])
    assert report.ok and report.entries == 12 and report.checkpoints_ok == [0, 4, 8, 12]


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        (
            lambda ls: [*ls[:5], ls[5].replace(b"scenario 5", b"scenario X"), *ls[6:]],
            "first_bad_entry",
            5,
        ),
        (lambda ls: [*ls[:6], ls[6] + b" ", *ls[7:]], "first_bad_entry", 6),
        (lambda ls: [*ls[:9], ls[10], ls[9], ls[11]], "bad_range", [8, 11]),
        (lambda ls: [*ls[:2], *ls[3:]], "bad_range", [0, 3]),
        (lambda ls: ls[:10], "first_bad_entry", 10),
    ],
    ids=["altered", "reformatted", "reordered", "removed", "truncated"],
)
def test_tampering_is_found_and_located(exported, change, field, expected):
    path, notes, verifier = exported
    rewrite(path, change)
    report = verify_export(path, notes, verifier).to_dict()
    assert not report["ok"]
    assert report[field] == expected


def test_forged_checkpoint_and_inconsistent_old_checkpoint(exported, tmp_path, author):
    path, notes, verifier = exported
    forged = notes[-1].replace("\n12\n", "\n13\n")
    assert not verify_export(path, [forged], verifier).ok
    other = Ledger.create(str(tmp_path / "o.sqlite"), ORIGIN, LogKey.generate(ORIGIN))
    assert "signature" in verify_export(path, notes, other.verifier).problems[0]
    other.close()


@pytest.mark.parametrize("tamper", ["entry byte", "swap rows"])
def test_tampering_with_the_stored_database_is_detected(tmp_path, author, tamper):
    """An operator who edits the SQLite file cannot pass an export off as the signed log."""
    import sqlite3

    db = str(tmp_path / "l.sqlite")
    with Ledger.create(db, ORIGIN, LogKey.generate(ORIGIN)) as led:
        led.grant(author[2], 100)
        for start in range(0, 8, 4):
            led.append(wishes(author, 4, start=start))
            led.checkpoint()
        notes, verifier = led.checkpoints(), led.verifier
    con = sqlite3.connect(db)
    if tamper == "entry byte":
        (data,) = con.execute("SELECT data FROM entries WHERE idx = 5").fetchone()
        con.execute(
            "UPDATE entries SET data = ? WHERE idx = 5",
            (data.replace(b"scenario 5", b"scenario 6"),),
        )
    else:
        rows = con.execute(
            "SELECT idx, leaf_hash, data FROM entries WHERE idx IN (1, 2)"
        ).fetchall()
        con.execute("DELETE FROM entries WHERE idx IN (1, 2)")
        for (_, leaf, data), (other, _, _) in zip(rows, reversed(rows), strict=True):
            con.execute(
                "INSERT INTO entries (idx, leaf_hash, data, timestamp, author_key) "
                "VALUES (?, ?, ?, '', '')",
                (other, leaf, data),
            )
    con.commit()
    con.close()
    with Ledger.open(db) as led:
        led.export(tmp_path / "e.jsonl")
    report = verify_export(tmp_path / "e.jsonl", notes, verifier)
    assert not report.ok
    if tamper == "entry byte":
        assert report.first_bad_entry == 5
    else:
        assert report.bad_range == (0, 3)
