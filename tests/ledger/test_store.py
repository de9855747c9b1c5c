"""The ledger stores: the same contract on SQLite and PostgreSQL, and SQLite's crash safety."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from charter.errors import BackendError, EntryError, LedgerError, StakeError
from charter.ledger.store import LedgerStore, SqliteStore, StoredEntry, open_store
from charter.ledger.store import sql as sql_module
from charter.ledger.store.sqlite import SqliteDialect

# The batch builders live beside the fixtures; loaded by path, as `from conftest import`
# depends on pytest's import mode.
CONFTEST = Path(__file__).with_name("conftest.py")
_spec = importlib.util.spec_from_file_location("ledger_fixtures", CONFTEST)
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)
AUTHOR_KEY, OTHER_KEY = fixtures.AUTHOR_KEY, fixtures.OTHER_KEY
build_batch, completed_nodes = fixtures.build_batch, fixtures.completed_nodes
leaf_hash, node_hash = fixtures.leaf_hash, fixtures.node_hash


def naive_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1 MTH, straight from the definition."""
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)  # largest power of two < n
    return node_hash(naive_root(leaves[:split]), naive_root(leaves[split:]))


def assert_unchanged(store: LedgerStore, size: int, batch, balances: dict[str, int]) -> None:
    """Nothing of a refused batch was written."""
    assert store.size() == size
    assert list(store.entries(size)) == []
    assert store.nonces_used(batch.nonces) == set()
    inner = [key for key, _ in batch.nodes if key[0] > 0]
    assert store.get_nodes(inner) == {}
    assert {key: store.balance(key) for key in balances} == balances


# -- reading and writing --------------------------------------------------------------------


def test_empty_store(store):
    assert store.size() == 0
    assert list(store.entries()) == []
    assert store.index_of("00" * 32) is None
    assert store.checkpoint() is None
    assert store.get_meta("origin") is None
    assert store.balance(AUTHOR_KEY) == 0
    assert store.get_nodes([(0, 0), (1, 0)]) == {}
    assert store.search("", 10, 0) == []
    assert isinstance(store, LedgerStore)


def test_append_read_round_trip(store):
    first, second = build_batch(store, 5), None
    store.append(first)
    second = build_batch(store, 6)
    store.append(second)
    stored = list(store.entries())
    assert stored == first.entries + second.entries
    assert list(store.entries(3, 7)) == stored[3:7]
    assert list(store.entries(9)) == stored[9:]
    assert list(store.entries(20)) == []
    for entry in stored:
        assert store.index_of(entry.entry_id) == entry.index
    assert store.index_of("ff" * 32) is None
    assert store.index_of("not hex") is None
    wanted = [e.entry_id for e in stored[::2]] + ["ff" * 32, "not hex"]
    assert store.indexes_of(wanted) == {e.entry_id: e.index for e in stored[::2]}
    # Every node given is readable, level 0 included (answered from the entries).
    given = dict(first.nodes + second.nodes)
    assert store.get_nodes(list(given)) == given
    assert store.get_nodes([(3, 0)]) == {(3, 0): naive_root([e.leaf_hash for e in stored[:8]])}
    assert store.get_nodes([(3, 1), (0, 11), (2, 3)]) == {}  # not complete yet / no such leaf
    assert store.nonces_used([*first.nonces, (AUTHOR_KEY, "fresh")]) == set(first.nonces)


def test_reopen_keeps_everything(store_location):
    with open_store(store_location) as store:
        store.append(build_batch(store, 3))
        store.set_meta("origin", "example.org/wishes")
        store.save_checkpoint(3, "note at 3\n")
        store.grant(AUTHOR_KEY, 9)
        before = list(store.entries())
    with open_store(store_location) as store:
        assert store.size() == 3
        assert list(store.entries()) == before
        assert store.get_meta("origin") == "example.org/wishes"
        assert store.checkpoint() == "note at 3\n"
        assert store.balance(AUTHOR_KEY) == 9


def test_entries_are_read_in_pages(store, monkeypatch):
    monkeypatch.setattr(sql_module, "PAGE", 3)  # one paging loop serves both dialects
    store.append(build_batch(store, 10))
    assert [e.index for e in store.entries()] == list(range(10))
    assert [e.index for e in store.entries(2, 9)] == list(range(2, 9))
    with pytest.raises(LedgerError, match="start at index 0"):
        list(store.entries(-1))


def test_many_node_keys_in_one_call(tmp_path, monkeypatch):
    monkeypatch.setattr(SqliteDialect, "max_params", 6)  # forces several chunks
    with SqliteStore(tmp_path / "ledger.db") as store:
        batch = build_batch(store, 20)
        store.append(batch)
        assert store.get_nodes([key for key, _ in batch.nodes]) == dict(batch.nodes)
        assert store.nonces_used(batch.nonces) == set(batch.nonces)


# -- refusals leave no trace ----------------------------------------------------------------


def test_index_continuity_is_enforced(store):
    store.append(build_batch(store, 4))
    batch = build_batch(store, 2)
    ahead = dataclasses.replace(
        batch, entries=[e._replace(index=e.index + 1) for e in batch.entries]
    )
    with pytest.raises(LedgerError, match="has index 5 but the log has 4 entries"):
        store.append(ahead)
    behind = build_batch(store, 2, start=3, nonce_prefix="other-")
    with pytest.raises(LedgerError, match="must be 4"):
        store.append(behind)
    batch = build_batch(store, 3, nonce_prefix="gap-")
    gap = dataclasses.replace(batch, entries=[batch.entries[0], batch.entries[2]])
    with pytest.raises(LedgerError, match="batch entry 1 has index 6"):
        store.append(gap)
    assert store.size() == 4


def test_a_second_writer_cannot_interleave(store_location):
    with open_store(store_location) as one, open_store(store_location) as two:
        stale = build_batch(one, 2)
        two.append(build_batch(two, 3, nonce_prefix="two-"))
        with pytest.raises(LedgerError, match="the log has 3 entries"):
            one.append(stale)
        assert one.size() == two.size() == 3


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda b: b.nodes[:-1], "completes"),  # a missing node
        (lambda b: [*b.nodes, ((1, 9), b"\x00" * 32)], "not completed by appending"),
        (lambda b: [((0, 0), b"\x11" * 32), *b.nodes[1:]], "differs from entry 0"),
        (lambda b: [(k, h[:31]) if k[0] else (k, h) for k, h in b.nodes], "not 32 bytes"),
    ],
)
def test_tampered_nodes_are_refused(store, tamper, message):
    batch = build_batch(store, 6)
    with pytest.raises(LedgerError, match=message):
        store.append(dataclasses.replace(batch, nodes=tamper(batch)))
    assert_unchanged(store, 0, batch, {})


def test_entry_id_must_match_leaf_hash(store):
    batch = build_batch(store, 2)
    forged = batch.entries[1]._replace(entry_id="ab" * 32)
    with pytest.raises(LedgerError, match="entry 1: entry_id must be the hex"):
        store.append(dataclasses.replace(batch, entries=[batch.entries[0], forged]))
    assert store.size() == 0


def test_duplicate_nonce_is_refused_and_nothing_written(store):
    store.grant(AUTHOR_KEY, 10)
    first = build_batch(store, 3)
    store.append(first)
    batch = build_batch(store, 2, debits=[(AUTHOR_KEY, 4)])
    replay = dataclasses.replace(batch, nonces=[batch.nonces[0], first.nonces[1]])
    with pytest.raises(EntryError, match=r"nonce already used: .* nonce 'nonce-1'"):
        store.append(replay)
    assert_unchanged(store, 3, batch, {AUTHOR_KEY: 10})


def test_nonce_repeated_within_a_batch_is_refused(store):
    batch = build_batch(store, 2)
    twice = dataclasses.replace(batch, nonces=[batch.nonces[0], batch.nonces[0]])
    with pytest.raises(EntryError, match=r"nonce already used: .*'nonce-0'"):
        store.append(twice)
    assert_unchanged(store, 0, batch, {})


def test_the_same_entry_cannot_be_appended_twice(store):
    batch = build_batch(store, 1)
    store.append(batch)
    again = batch.entries[0]._replace(index=1)
    nodes = completed_nodes(1, [again.leaf_hash], store)
    repeat = dataclasses.replace(
        batch, entries=[again], nodes=nodes, nonces=[(AUTHOR_KEY, "fresh")]
    )
    with pytest.raises(EntryError, match="already in the ledger"):
        store.append(repeat)
    assert_unchanged(store, 1, repeat, {})


def test_insufficient_credit_is_refused_and_nothing_written(store):
    store.grant(AUTHOR_KEY, 5)
    store.grant(OTHER_KEY, 50)
    # OTHER_KEY could pay; AUTHOR_KEY's two debits (3 + 4) exceed its 5 together.
    batch = build_batch(store, 4, debits=[(OTHER_KEY, 20), (AUTHOR_KEY, 3), (AUTHOR_KEY, 4)])
    with pytest.raises(StakeError, match=f"account {AUTHOR_KEY} needs 7 credits .* holds 5"):
        store.append(batch)
    assert_unchanged(store, 0, batch, {AUTHOR_KEY: 5, OTHER_KEY: 50})


def test_unknown_account_holds_nothing(store):
    batch = build_batch(store, 1, debits=[(OTHER_KEY, 1)])
    with pytest.raises(StakeError, match="needs 1 credits for this batch but holds 0"):
        store.append(batch)
    assert_unchanged(store, 0, batch, {OTHER_KEY: 0})


def test_debits_are_taken_with_the_append(store):
    store.grant(AUTHOR_KEY, 10)
    store.grant(AUTHOR_KEY, 5)
    store.append(build_batch(store, 2, debits=[(AUTHOR_KEY, 6), (AUTHOR_KEY, 9), (OTHER_KEY, 0)]))
    assert store.balance(AUTHOR_KEY) == 0
    assert store.size() == 2
    with pytest.raises(StakeError, match="non-negative integer"):
        store.append(build_batch(store, 1, debits=[(AUTHOR_KEY, -1)]))


def test_grant_refuses_bad_amounts(store):
    for amount in (-1, True, 1.5):
        with pytest.raises(LedgerError, match="non-negative integer"):
            store.grant(AUTHOR_KEY, amount)
    assert store.balance(AUTHOR_KEY) == 0


# -- checkpoints, meta, search --------------------------------------------------------------


def test_checkpoints_save_and_load(store):
    store.save_checkpoint(0, "origin\n0\nroot0\n")
    store.save_checkpoint(7, "origin\n7\nroot7\n")
    store.save_checkpoint(3, "origin\n3\nroot3\n")
    assert store.checkpoint() == "origin\n7\nroot7\n"  # the largest size, not the last saved
    assert store.checkpoint(0) == "origin\n0\nroot0\n"
    assert store.checkpoint(5) is None
    store.save_checkpoint(7, "origin\n7\nresigned\n")
    assert store.checkpoint(7) == "origin\n7\nresigned\n"


def test_meta(store):
    assert store.get_meta("origin") is None
    store.set_meta("origin", "example.org/wishes")
    store.set_meta("origin", "example.org/other")
    store.set_meta("min_fee", "1")
    assert store.get_meta("origin") == "example.org/other"
    assert store.get_meta("min_fee") == "1"


def test_search(store):
    texts = [
        ("A child asks about DEATH", "answer gently", ["grief"]),
        ("Someone wants medical advice", "suggest a doctor", ["health", "Safety"]),
        ("100% sure claims", "state uncertainty", ["honesty"]),
        ("Ärger im Büro", "stay calm", ["de"]),
        ("snake_case question", "explain it", ["code"]),
    ]
    store.append(build_batch(store, len(texts), texts=texts))
    indexes = lambda hits: [e.index for e in hits]  # noqa: E731
    assert indexes(store.search("death", 10, 0)) == [0]
    assert indexes(store.search("GENTLY", 10, 0)) == [0]  # behaviour, any case
    assert indexes(store.search("safety", 10, 0)) == [1]  # tags
    assert indexes(store.search("ärger", 10, 0)) == [3]  # non-ASCII case folding
    assert indexes(store.search("%", 10, 0)) == [2]  # LIKE wildcards match literally
    assert indexes(store.search("e_c", 10, 0)) == [4]
    assert indexes(store.search("nowhere", 10, 0)) == []
    assert indexes(store.search("", 10, 0)) == [4, 3, 2, 1, 0]  # newest first
    assert indexes(store.search("", 2, 1)) == [3, 2]
    assert store.search("death", 1, 0)[0] == next(store.entries(0, 1))
    # Entries appended after a search are found by the next one.
    store.append(build_batch(store, 1, texts=[("late death notice", "x", [])]))
    assert indexes(store.search("death", 10, 0)) == [5, 0]
    with pytest.raises(LedgerError, match="zero or more"):
        store.search("x", -1, 0)


def test_search_skips_entries_that_are_not_wishes(store):
    data = b"\xff not json"
    leaf = leaf_hash(data)
    entry = StoredEntry(0, leaf.hex(), data, leaf, "2026-11-22T17:00:00.000Z", AUTHOR_KEY)
    batch = build_batch(store, 1)
    store.append(dataclasses.replace(batch, entries=[entry], nodes=[((0, 0), leaf)]))
    assert store.search("", 10, 0) == [entry]
    assert store.search("not", 10, 0) == []


# -- opening --------------------------------------------------------------------------------


def test_open_store_picks_the_backend(tmp_path, store_location):
    from charter.ledger.store.postgres import PostgresStore

    with open_store(store_location) as store:
        expected = SqliteStore if store_location.endswith(".db") else PostgresStore
        assert type(store) is expected
    if expected is PostgresStore:
        short = store_location.replace("postgresql://", "postgres://", 1)
        with open_store(short) as store:
            assert type(store) is PostgresStore
    with open_store(tmp_path / "a" / "b" / "path.db") as store:  # a Path, folders created
        assert type(store) is SqliteStore


def test_open_store_needs_psycopg_for_urls(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    with pytest.raises(BackendError, match=r"charter\[postgres\]"):
        open_store("postgresql://localhost/wishes")


def test_unreachable_postgres_is_a_ledger_error():
    url = f"postgresql://nobody:secret@127.0.0.1:{fixtures.free_port()}/wishes"
    with pytest.raises(LedgerError, match=r"cannot connect to PostgreSQL at .*:\*\*\*@") as err:
        open_store(url)
    assert "secret" not in str(err.value)


def test_a_file_that_is_not_a_store(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the tables you are looking for" * 100)
    with pytest.raises(LedgerError, match="is not a ledger store SQLite can open"):
        open_store(path)


def test_schema_version_is_checked(store_location):
    with open_store(store_location) as store:
        store.set_meta("store.schema", "99")
    with pytest.raises(LedgerError, match="has store schema 99"):
        open_store(store_location)


def test_sqlite_is_durable_on_acknowledgement(tmp_path):
    with SqliteStore(tmp_path / "ledger.db") as store:
        db = store.dialect.db
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] > 0
        assert db.execute("PRAGMA page_size").fetchone()[0] == 16384  # a new file


def test_closed_store_raises_a_ledger_error(tmp_path):
    store = SqliteStore(tmp_path / "ledger.db")
    store.close()
    with pytest.raises(LedgerError, match="reading the size failed"):
        store.size()


# -- kill -9 in the middle of appends -------------------------------------------------------

_CRASH_CHILD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("ledger_fixtures", sys.argv[1])
fixtures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixtures)
from charter.ledger.store import SqliteStore
store = SqliteStore(sys.argv[2])
while True:
    store.append(fixtures.build_batch(store, int(sys.argv[3]), pad=600))
    print(store.size(), flush=True)  # printed only once the append returned: acknowledged
"""
_BATCH = 150
_KILLS = 4  # each kill lands at a random point; most land inside a transaction


def _append_until_killed(db: Path, rng: random.Random) -> int:
    """Run the appender, kill -9 it at a random moment; return the last acknowledged size."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CRASH_CHILD, str(CONFTEST), str(db), str(_BATCH)],
        stdout=subprocess.PIPE,
        text=True,
    )
    acknowledged = [int(child.stdout.readline()) for _ in range(2)]
    time.sleep(rng.uniform(0.0, 0.03))  # lands inside a transaction most of the time
    child.kill()
    acknowledged += [int(line) for line in child.stdout.read().split()]
    child.wait()
    return acknowledged[-1]


def test_kill_9_mid_append_loses_nothing_acknowledged(tmp_path):
    db, rng = tmp_path / "ledger.db", random.Random(6)
    for _ in range(_KILLS):
        acknowledged = _append_until_killed(db, rng)
        with SqliteStore(db) as store:
            size = store.size()
            assert size >= acknowledged
            assert size % _BATCH == 0  # whole batches only
            entries = list(store.entries())
            assert [e.index for e in entries] == list(range(size))
            for entry in entries:
                assert hashlib.sha256(b"\x00" + entry.data).digest() == entry.leaf_hash
                assert entry.entry_id == entry.leaf_hash.hex()
            # Exactly the complete nodes are stored, and each is the hash of its children.
            for level in range(1, size.bit_length() + 1):
                keys = [(level, i) for i in range((size >> level) + 1)]
                nodes = store.get_nodes(keys + [(level - 1, i) for i in range(size >> (level - 1))])
                assert sum(1 for (lv, _) in nodes if lv == level) == size >> level
                for i in range(size >> level):
                    children = nodes[(level - 1, 2 * i)], nodes[(level - 1, 2 * i + 1)]
                    assert nodes[(level, i)] == node_hash(*children)
            nonces = [(AUTHOR_KEY, f"nonce-{i}") for i in range(size + _BATCH)]
            assert store.nonces_used(nonces) == set(nonces[:size])
    check = sqlite3.connect(db)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


# -- schema compatibility ---------------------------------------------------------------------

# The tables exactly as the first SQLite store (schema "1") created them, wish and vote logs.
_SCHEMA_1 = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE entries (idx INTEGER PRIMARY KEY, leaf_hash BLOB NOT NULL UNIQUE,
    data BLOB NOT NULL, timestamp TEXT NOT NULL, author_key TEXT NOT NULL);
CREATE TABLE nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE nonces (author_key TEXT NOT NULL, nonce TEXT NOT NULL,
    PRIMARY KEY (author_key, nonce)) WITHOUT ROWID;
CREATE TABLE accounts (key TEXT PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0))
    WITHOUT ROWID;
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE search (idx INTEGER PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE votes (idx INTEGER PRIMARY KEY, leaf_hash BLOB NOT NULL UNIQUE,
    data BLOB NOT NULL, entry_id TEXT NOT NULL, voter_key TEXT NOT NULL, nonce TEXT NOT NULL,
    value INTEGER NOT NULL, timestamp TEXT NOT NULL, UNIQUE (voter_key, nonce));
CREATE TABLE vote_nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE vote_current (entry_id TEXT NOT NULL, voter_key TEXT NOT NULL,
    idx INTEGER NOT NULL, PRIMARY KEY (entry_id, voter_key)) WITHOUT ROWID;
CREATE TABLE vote_checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
INSERT INTO meta VALUES ('store.schema', '1');
"""


def _layout(db: sqlite3.Connection) -> dict:
    """Per table: its columns (name, type, not null, key position), indexes, rowid-ness."""
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
    layout = {}
    for table in tables:
        columns = [r[1:4] + r[5:] for r in db.execute(f"PRAGMA table_info({table})")]
        indexes = sorted(
            (r[2], r[3], tuple(c[2] for c in db.execute(f"PRAGMA index_info('{r[1]}')")))
            for r in db.execute(f"PRAGMA index_list({table})")
        )
        rowid = db.execute(
            "SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_schema WHERE name = ?", (table,)
        ).fetchone()[0]
        layout[table] = (columns, indexes, rowid)
    return layout


def test_the_one_layout_is_schema_1_and_old_files_open_unchanged(tmp_path):
    """Wish and vote tables from one LogTables layout equal what schema-1 code wrote."""
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as db:
        db.executescript(_SCHEMA_1)
        data = fixtures.wish_bytes(0, "old scene", "old way", [])
        db.execute(
            "INSERT INTO entries VALUES (0, ?, ?, ?, ?)",
            (leaf_hash(data), data, fixtures.TIMESTAMP, AUTHOR_KEY),
        )
        db.execute("INSERT INTO checkpoints VALUES (0, 'note at 0\n')")
        expected = _layout(db)
    with SqliteStore(tmp_path / "new.db") as new:
        assert _layout(new.dialect.db) == expected  # no migration: the same tables
    with SqliteStore(old) as store:  # a file written before the one store opens unchanged
        assert store.dialect.db.execute("PRAGMA page_size").fetchone()[0] == 4096  # kept
        assert [e.data for e in store.entries()] == [data]
        assert store.checkpoint() == "note at 0\n"
        store.append(build_batch(store, 3))
        assert store.get_nodes([(1, 0), (1, 1)]).keys() == {(1, 0), (1, 1)}
        assert store.search("old", 10, 0)[0].data == data
