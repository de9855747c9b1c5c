"""The ledger store on PostgreSQL (psycopg 3), for a ledger shared by many servers.

Same tables and the same semantics as :mod:`charter.ledger.store.sqlite`
(``BYTEA`` for hashes and entry bytes). Each :meth:`PostgresStore.append` is one
transaction: it first takes ``LOCK TABLE entries IN SHARE ROW EXCLUSIVE MODE``,
which lets readers in but makes appenders from any process wait their turn, so
the size checked at the start is still the size at the commit. Rows go in by
binary ``COPY``; a refused batch rolls back whole.

Usage (needs ``pip install 'charter[postgres]'``)::

    store = open_store("postgresql://user@host/wishes")

The tables are created in the first schema of the connection's
``search_path``; add ``?options=-csearch_path%3Dmyschema`` to the URL to keep
several ledgers in one database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg
from psycopg import errors as pg_errors

from charter.errors import LedgerError
from charter.ledger.store.base import (
    AppendBatch,
    StoredEntry,
    check_page,
    conflict_error,
    entry_id_bytes,
    like_pattern,
    prepare_batch,
    row_entry,
    search_text,
    shortfall,
    total_debits,
)
from charter.ledger.store.postgres_votes import VOTE_SCHEMA, PostgresVotes

SCHEMA_VERSION = "1"
_SCHEMA_KEY = "store.schema"
_SCHEMA_LOCK = 0x43484152_5445524C  # advisory lock id ("CHARTERL"): one schema creator at a time
_PAGE = 2000

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS entries (
        idx BIGINT PRIMARY KEY,
        leaf_hash BYTEA NOT NULL UNIQUE,
        data BYTEA NOT NULL,
        timestamp TEXT NOT NULL,
        author_key TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS nodes (
        level SMALLINT NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL,
        PRIMARY KEY (level, idx))""",
    """CREATE TABLE IF NOT EXISTS nonces (
        author_key TEXT NOT NULL, nonce TEXT NOT NULL, PRIMARY KEY (author_key, nonce))""",
    """CREATE TABLE IF NOT EXISTS accounts (
        key TEXT PRIMARY KEY, balance BIGINT NOT NULL CHECK (balance >= 0))""",
    "CREATE TABLE IF NOT EXISTS checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS search (idx BIGINT PRIMARY KEY, text TEXT NOT NULL)",
]
_ENTRY_COLUMNS = "idx, leaf_hash, data, timestamp, author_key"


def redact(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


class PostgresStore(PostgresVotes):
    """A ledger store in a PostgreSQL database.

    Safe to share between threads (calls are serialised on one connection) and
    between processes (PostgreSQL's locks).

    Args:
        url: a ``postgresql://`` or ``postgres://`` connection URL.
        connect_timeout: seconds to wait for the server.
    """

    def __init__(self, url: str, connect_timeout: int = 10) -> None:
        self.url = redact(url)
        self._lock = threading.RLock()
        try:
            self._conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout)
        except psycopg.Error as exc:
            raise LedgerError(
                f"cannot connect to PostgreSQL at {self.url}: {exc}".rstrip()
                + " Check the URL and that the server is running."
            ) from exc
        try:
            with self._errors("creating the tables"), self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                # The vote tables are additive (CREATE IF NOT EXISTS): older stores gain them.
                for statement in _SCHEMA + VOTE_SCHEMA:
                    self._conn.execute(statement)
                self._check_schema()
        except LedgerError:
            self._conn.close()
            raise

    def _check_schema(self) -> None:
        row = self._conn.execute(
            "SELECT value FROM meta WHERE name = %s", (_SCHEMA_KEY,)
        ).fetchone()
        if row is None:
            self._conn.execute("INSERT INTO meta VALUES (%s, %s)", (_SCHEMA_KEY, SCHEMA_VERSION))
        elif row[0] != SCHEMA_VERSION:
            raise LedgerError(
                f"{self.url} has store schema {row[0]}, this Charter reads {SCHEMA_VERSION}; "
                "use the Charter version that wrote it, or export and re-import the log."
            )

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Serialise a call and translate psycopg's errors at the boundary."""
        with self._lock:
            try:
                yield
            except psycopg.Error as exc:
                raise LedgerError(
                    f"ledger store {self.url}: {doing} failed: {exc}".rstrip()
                ) from exc

    # -- the log -------------------------------------------------------------------------

    def size(self) -> int:
        with self._errors("reading the size"):
            return self._size()

    def _size(self) -> int:
        last = self._conn.execute("SELECT MAX(idx) FROM entries").fetchone()[0]  # type: ignore[index]
        return 0 if last is None else last + 1

    def append(self, batch: AppendBatch) -> None:
        """Write a batch in one transaction; see :meth:`LedgerStore.append`."""
        with self._errors("append"):
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    cur.execute("LOCK TABLE entries IN SHARE ROW EXCLUSIVE MODE")
                    inner = prepare_batch(batch, self._size())
                    self._debit(cur, total_debits(batch.debits))
                    self._copy(
                        cur,
                        "entries (idx, leaf_hash, data, timestamp, author_key)",
                        ["int8", "bytea", "bytea", "text", "text"],
                        (
                            (e.index, e.leaf_hash, e.data, e.timestamp, e.author_key)
                            for e in batch.entries
                        ),
                    )
                    self._copy(cur, "nodes (level, idx, hash)", ["int2", "int8", "bytea"], inner)
                    self._copy(cur, "nonces (author_key, nonce)", ["text", "text"], batch.nonces)
            except pg_errors.UniqueViolation as exc:
                table = exc.diag.table_name or ""
                used = self._nonces_used(batch.nonces) if table == "nonces" else set()
                raise conflict_error(table, batch, used) from None

    @staticmethod
    def _copy(cur: psycopg.Cursor, target: str, types: list[str], rows: object) -> None:
        with cur.copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:  # type: ignore[attr-defined]
                copy.write_row(row)

    def _debit(self, cur: psycopg.Cursor, totals: dict[str, int]) -> None:
        if not totals:
            return
        # FOR UPDATE: a concurrent grant or debit of these accounts waits for this commit.
        cur.execute(
            "SELECT key, balance FROM accounts WHERE key = ANY(%s) FOR UPDATE", (list(totals),)
        )
        refusal = shortfall(totals, dict(cur.fetchall()))
        if refusal is not None:
            raise refusal
        cur.executemany(
            "UPDATE accounts SET balance = balance - %s WHERE key = %s",
            [(amount, key) for key, amount in totals.items()],
        )

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Stored nodes among ``keys``, in one query."""
        unique = set(keys)
        leaves = [index for level, index in unique if level == 0]
        inner = [(level, index) for level, index in unique if level > 0]
        if not unique:
            return {}
        with self._errors("reading tree nodes"):
            rows = self._conn.execute(
                "SELECT 0, idx, leaf_hash FROM entries WHERE idx = ANY(%s::int8[]) "
                "UNION ALL SELECT n.level, n.idx, n.hash FROM nodes n "
                "JOIN unnest(%s::int2[], %s::int8[]) AS k(level, idx) "
                "ON n.level = k.level AND n.idx = k.idx",
                (leaves, [level for level, _ in inner], [index for _, index in inner]),
            ).fetchall()
        return {(level, index): node for level, index, node in rows}

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        """Entries ``start <= index < stop`` in log order, read a page at a time."""
        if start < 0:
            raise LedgerError(f"entries start at index 0, not {start}.")
        position = start
        while stop is None or position < stop:
            end = position + _PAGE if stop is None else min(stop, position + _PAGE)
            with self._errors("reading entries"):
                rows = self._conn.execute(
                    f"SELECT {_ENTRY_COLUMNS} FROM entries "
                    "WHERE idx >= %s AND idx < %s ORDER BY idx",
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
            row = self._conn.execute(
                "SELECT idx FROM entries WHERE leaf_hash = %s", (leaf,)
            ).fetchone()
        return None if row is None else row[0]

    def nonces_used(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        with self._errors("reading nonces"):
            return self._nonces_used(pairs)

    def _nonces_used(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        if not pairs:
            return set()
        rows = self._conn.execute(
            "SELECT n.author_key, n.nonce FROM nonces n "
            "JOIN unnest(%s::text[], %s::text[]) AS k(author_key, nonce) "
            "ON n.author_key = k.author_key AND n.nonce = k.nonce",
            ([key for key, _ in pairs], [nonce for _, nonce in pairs]),
        ).fetchall()
        return {(key, nonce) for key, nonce in rows}

    # -- accounts, checkpoints, meta ----------------------------------------------------

    def balance(self, key: str) -> int:
        with self._errors("reading a balance"):
            row = self._conn.execute(
                "SELECT balance FROM accounts WHERE key = %s", (key,)
            ).fetchone()
        return 0 if row is None else row[0]

    def grant(self, key: str, amount: int) -> None:
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise LedgerError(f"a grant must be a non-negative integer of credits, got {amount!r}.")
        with self._errors("granting credits"):
            self._conn.execute(
                "INSERT INTO accounts VALUES (%s, %s) ON CONFLICT (key) "
                "DO UPDATE SET balance = accounts.balance + excluded.balance",
                (key, amount),
            )

    def save_checkpoint(self, size: int, note: str) -> None:
        with self._errors("saving a checkpoint"):
            self._conn.execute(
                "INSERT INTO checkpoints VALUES (%s, %s) "
                "ON CONFLICT (size) DO UPDATE SET note = excluded.note",
                (size, note),
            )

    def checkpoint(self, size: int | None = None) -> str | None:
        with self._errors("reading a checkpoint"):
            if size is None:
                cur = self._conn.execute("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1")
            else:
                cur = self._conn.execute("SELECT note FROM checkpoints WHERE size = %s", (size,))
            row = cur.fetchone()
        return None if row is None else row[0]

    def checkpoints(self) -> list[str]:
        with self._errors("reading checkpoints"):
            rows = self._conn.execute("SELECT note FROM checkpoints ORDER BY size").fetchall()
        return [row[0] for row in rows]

    def get_meta(self, name: str) -> str | None:
        with self._errors("reading metadata"):
            row = self._conn.execute("SELECT value FROM meta WHERE name = %s", (name,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, name: str, value: str) -> None:
        with self._errors("writing metadata"):
            self._conn.execute(
                "INSERT INTO meta VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    # -- search -------------------------------------------------------------------------

    def search(self, text: str, limit: int, offset: int) -> list[StoredEntry]:
        """Entries whose scenario, behaviour or tags contain ``text`` (any case), newest first."""
        check_page(limit, offset)
        with self._errors("searching"):
            self._index_new_entries()
            rows = self._conn.execute(
                "SELECT e.idx, e.leaf_hash, e.data, e.timestamp, e.author_key "
                "FROM search s JOIN entries e ON e.idx = s.idx "
                "WHERE s.text LIKE %s ESCAPE '\\' ORDER BY s.idx DESC LIMIT %s OFFSET %s",
                (like_pattern(text), limit, offset),
            ).fetchall()
        return [row_entry(row) for row in rows]

    def _search_end(self) -> int:
        last = self._conn.execute("SELECT MAX(idx) FROM search").fetchone()[0]  # type: ignore[index]
        return 0 if last is None else last + 1

    def _index_new_entries(self) -> None:
        # Search text is derived lazily so appends never parse JSON; see sqlite.py.
        if self._search_end() >= self._size():
            return
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("LOCK TABLE search IN SHARE ROW EXCLUSIVE MODE")  # one indexer at a time
            position = self._search_end()
            while True:
                rows = cur.execute(
                    "SELECT idx, data FROM entries WHERE idx >= %s ORDER BY idx LIMIT %s",
                    (position, _PAGE),
                ).fetchall()
                if not rows:
                    return
                cur.executemany(
                    "INSERT INTO search VALUES (%s, %s)",
                    [(index, search_text(data)) for index, data in rows],
                )
                position = rows[-1][0] + 1

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
