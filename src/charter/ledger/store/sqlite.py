"""The default ledger store: one SQLite file, durable on acknowledgement.

Durability: the database runs in WAL mode with ``synchronous=FULL``, so each
commit fsyncs the write-ahead log before :meth:`SqliteStore.append` returns.
An append is a single ``BEGIN IMMEDIATE`` transaction, so a ``kill -9`` (or a
power cut) at any moment leaves either the whole batch or none of it: no
acknowledged entry is lost and no half batch (entries without their tree
nodes, nonces or debits) is ever visible.

Layout (see :mod:`charter.ledger.store.base` for what each part is for):
``entries`` (the leaves, ``leaf_hash`` unique; the entry id is its hex),
``nodes`` (tree levels 1 and up; level 0 is read from ``entries``), ``nonces``,
``accounts`` (``CHECK (balance >= 0)``), ``checkpoints``, ``meta``, and
``search``, the lower-cased text of each entry, filled in on the first search
after an append so that appending never pays for parsing JSON.
The vote log's tables (``votes``, ``vote_nodes``, ``vote_current``,
``vote_checkpoints``) come from :mod:`charter.ledger.store.sqlite_votes`.

Usage::

    store = SqliteStore("wishes.db")   # or open_store("wishes.db")
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from charter.errors import LedgerError
from charter.ledger.store.base import (
    AppendBatch,
    StoredEntry,
    check_page,
    chunks,
    conflict_error,
    entry_id_bytes,
    like_pattern,
    prepare_batch,
    row_entry,
    search_text,
    shortfall,
    total_debits,
)
from charter.ledger.store.sqlite_votes import VOTE_SCHEMA, SqliteVotes

SCHEMA_VERSION = "1"
_SCHEMA_KEY = "store.schema"  # meta name, namespaced away from the Ledger's own meta
_PARAMS = 8000  # keys per query: SQLite allows 32766 bound parameters (3.32+)
_PAGE = 2000  # entries read per query when iterating or indexing

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY,
    leaf_hash BLOB NOT NULL UNIQUE,
    data BLOB NOT NULL,
    timestamp TEXT NOT NULL,
    author_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nonces (
    author_key TEXT NOT NULL, nonce TEXT NOT NULL, PRIMARY KEY (author_key, nonce)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accounts (
    key TEXT PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS search (idx INTEGER PRIMARY KEY, text TEXT NOT NULL);
"""
_ENTRY_COLUMNS = "idx, leaf_hash, data, timestamp, author_key"


class SqliteStore(SqliteVotes):
    """A ledger store in one SQLite file (created with its folder if missing).

    Safe to share between threads (calls are serialised) and between processes
    (SQLite's locks; writers wait up to ``timeout`` seconds for each other).

    Args:
        path: the database file.
        timeout: seconds to wait for another writer before giving up.
    """

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"cannot open the ledger store {self.path}: {exc}.") from exc
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise LedgerError(f"{self.path}: SQLite refused WAL mode (got {mode!r}).")
            # FULL: the WAL is fsynced at every commit, so an acknowledged append
            # survives power loss, not only a process kill.
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA cache_size = -32768")  # 32 MiB: batched appends of 100k rows
            with self._write():
                # The vote tables are additive (CREATE IF NOT EXISTS): older stores gain them.
                for statement in (_SCHEMA + VOTE_SCHEMA).split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._check_schema()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise LedgerError(
                f"{self.path} is not a ledger store SQLite can open ({exc}); "
                "give the path of a ledger, or a new file."
            ) from exc
        except LedgerError:
            self._db.close()
            raise

    def _check_schema(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (_SCHEMA_KEY,)).fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES (?, ?)", (_SCHEMA_KEY, SCHEMA_VERSION))
        elif row[0] != SCHEMA_VERSION:
            raise LedgerError(
                f"{self.path} has store schema {row[0]}, this Charter reads {SCHEMA_VERSION}; "
                "use the Charter version that wrote it, or export and re-import the log."
            )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so the size read inside the
        # transaction cannot change before the commit (no two writers interleave).
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Serialise a call and translate SQLite's errors at the boundary."""
        with self._lock:
            try:
                yield
            except sqlite3.Error as exc:
                raise LedgerError(f"ledger store {self.path}: {doing} failed: {exc}.") from exc

    # -- the log -------------------------------------------------------------------------

    def size(self) -> int:
        with self._errors("reading the size"):
            return self._size()

    def _size(self) -> int:
        last = self._db.execute("SELECT MAX(idx) FROM entries").fetchone()[0]
        return 0 if last is None else last + 1

    def append(self, batch: AppendBatch) -> None:
        """Write a batch in one transaction; see :meth:`LedgerStore.append`."""
        with self._errors("append"):
            try:
                with self._write() as db:
                    inner = prepare_batch(batch, self._size())
                    self._debit(total_debits(batch.debits))
                    db.executemany(
                        "INSERT INTO entries VALUES (?, ?, ?, ?, ?)",
                        (
                            (e.index, e.leaf_hash, e.data, e.timestamp, e.author_key)
                            for e in batch.entries
                        ),
                    )
                    db.executemany("INSERT INTO nodes VALUES (?, ?, ?)", inner)
                    db.executemany("INSERT INTO nonces VALUES (?, ?)", batch.nonces)
            except sqlite3.IntegrityError as exc:
                # e.g. "UNIQUE constraint failed: nonces.author_key, nonces.nonce"
                reason, _, columns = str(exc).partition(": ")
                if not reason.startswith("UNIQUE"):
                    raise
                table = columns.partition(".")[0]
                used = self._nonces_used(batch.nonces) if table == "nonces" else set()
                raise conflict_error(table, batch, used) from None

    def _debit(self, totals: dict[str, int]) -> None:
        if not totals:
            return
        keys = list(totals)
        balances: dict[str, int] = {}
        for part in chunks(keys, _PARAMS):
            marks = ",".join("?" * len(part))
            balances.update(
                self._db.execute(f"SELECT key, balance FROM accounts WHERE key IN ({marks})", part)
            )
        # No other writer can change these balances before the UPDATE: BEGIN IMMEDIATE
        # holds the database's write lock for the whole append.
        refusal = shortfall(totals, balances)
        if refusal is not None:
            raise refusal
        self._db.executemany(
            "UPDATE accounts SET balance = balance - ? WHERE key = ?",
            ((amount, key) for key, amount in totals.items()),
        )

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Stored nodes among ``keys``: one query (per 8000 keys)."""
        found: dict[tuple[int, int], bytes] = {}
        with self._errors("reading tree nodes"):
            for part in chunks(list(set(keys)), _PARAMS // 2):
                leaves = [index for level, index in part if level == 0]
                inner = [v for level, index in part if level > 0 for v in (level, index)]
                selects = []
                if leaves:
                    marks = ",".join("?" * len(leaves))
                    selects.append(f"SELECT 0, idx, leaf_hash FROM entries WHERE idx IN ({marks})")
                if inner:
                    pairs = ",".join(["(?, ?)"] * (len(inner) // 2))
                    # A join on VALUES seeks the primary key per key; `(level, idx) IN
                    # (VALUES ...)` makes SQLite scan the whole table (O(n) per proof).
                    selects.append(
                        f"SELECT n.level, n.idx, n.hash FROM (VALUES {pairs}) AS k "
                        "JOIN nodes AS n ON n.level = k.column1 AND n.idx = k.column2"
                    )
                if selects:
                    rows = self._db.execute(" UNION ALL ".join(selects), [*leaves, *inner])
                    found.update(((level, index), node) for level, index, node in rows)
        return found

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        """Entries ``start <= index < stop`` in log order, read a page at a time."""
        if start < 0:
            raise LedgerError(f"entries start at index 0, not {start}.")
        position = start
        while stop is None or position < stop:
            end = position + _PAGE if stop is None else min(stop, position + _PAGE)
            with self._errors("reading entries"):
                rows = self._db.execute(
                    f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx",
                    (position, end),
                ).fetchall()
            yield from map(row_entry, rows)
            if len(rows) < end - position:
                return
            position = end

    def index_of(self, entry_id: str) -> int | None:
        leaf = entry_id_bytes(entry_id)
        if leaf is None:
            return None
        with self._errors("looking up an entry"):
            row = self._db.execute(
                "SELECT idx FROM entries WHERE leaf_hash = ?", (leaf,)
            ).fetchone()
        return None if row is None else row[0]

    def nonces_used(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        with self._errors("reading nonces"):
            return self._nonces_used(pairs)

    def _nonces_used(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        used: set[tuple[str, str]] = set()
        for part in chunks(list(set(pairs)), _PARAMS // 2):
            values = ",".join(["(?, ?)"] * len(part))
            rows = self._db.execute(
                "SELECT author_key, nonce FROM nonces "
                f"WHERE (author_key, nonce) IN (VALUES {values})",
                [v for pair in part for v in pair],
            )
            used.update((key, nonce) for key, nonce in rows)
        return used

    # -- accounts, checkpoints, meta ----------------------------------------------------

    def balance(self, key: str) -> int:
        with self._errors("reading a balance"):
            row = self._db.execute("SELECT balance FROM accounts WHERE key = ?", (key,)).fetchone()
        return 0 if row is None else row[0]

    def grant(self, key: str, amount: int) -> None:
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise LedgerError(f"a grant must be a non-negative integer of credits, got {amount!r}.")
        with self._errors("granting credits"), self._write() as db:
            db.execute(
                "INSERT INTO accounts VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET balance = balance + excluded.balance",
                (key, amount),
            )

    def save_checkpoint(self, size: int, note: str) -> None:
        with self._errors("saving a checkpoint"), self._write() as db:
            db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?)", (size, note))

    def checkpoint(self, size: int | None = None) -> str | None:
        with self._errors("reading a checkpoint"):
            if size is None:
                query, args = "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1", ()
            else:
                query, args = "SELECT note FROM checkpoints WHERE size = ?", (size,)
            row = self._db.execute(query, args).fetchone()
        return None if row is None else row[0]

    def checkpoints(self) -> list[str]:
        with self._errors("reading checkpoints"):
            rows = self._db.execute("SELECT note FROM checkpoints ORDER BY size").fetchall()
        return [row[0] for row in rows]

    def get_meta(self, name: str) -> str | None:
        with self._errors("reading metadata"):
            row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, name: str, value: str) -> None:
        with self._errors("writing metadata"), self._write() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    # -- search -------------------------------------------------------------------------

    def search(self, text: str, limit: int, offset: int) -> list[StoredEntry]:
        """Entries whose scenario, behaviour or tags contain ``text`` (any case), newest first."""
        check_page(limit, offset)
        with self._errors("searching"):
            self._index_new_entries()
            rows = self._db.execute(
                f"SELECT {', '.join('e.' + c for c in _ENTRY_COLUMNS.split(', '))} "
                "FROM search s JOIN entries e ON e.idx = s.idx "
                "WHERE s.text LIKE ? ESCAPE '\\' ORDER BY s.idx DESC LIMIT ? OFFSET ?",
                (like_pattern(text), limit, offset),
            ).fetchall()
        return [row_entry(row) for row in rows]

    def _index_new_entries(self) -> None:
        if self._search_end() >= self._size():
            return  # the common case: nothing appended since the last search, no write lock
        with self._write() as db:
            position = self._search_end()  # again under the lock: another process may have run
            while True:
                rows = db.execute(
                    "SELECT idx, data FROM entries WHERE idx >= ? ORDER BY idx LIMIT ?",
                    (position, _PAGE),
                ).fetchall()
                if not rows:
                    return
                db.executemany(
                    "INSERT INTO search VALUES (?, ?)",
                    ((index, search_text(data)) for index, data in rows),
                )
                position = rows[-1][0] + 1

    def _search_end(self) -> int:
        last = self._db.execute("SELECT MAX(idx) FROM search").fetchone()[0]
        return 0 if last is None else last + 1

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
