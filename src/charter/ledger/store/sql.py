"""One SQL ledger store for every dialect: both signed logs, accounts, search, metadata.

:class:`SqlStore` holds the wish log and the vote log as two instances of one
table layout (:mod:`charter.ledger.store.schema`), and writes every query once;
a :class:`~charter.ledger.store.schema.Dialect` (SQLite or PostgreSQL) runs
them. What each part is for, and the append contract, are in
:mod:`charter.ledger.store.base` (wishes) and :mod:`charter.ledger.store.votes`.

Every append is one transaction that locks its log's leaf table first, reads
the log's size, checks index continuity and the completed tree nodes
(RFC 9162 section 2.1, via :func:`~charter.ledger.store.base.check_batch`),
then bulk-inserts the leaves, the nodes and the record type's own rows.
A refused batch leaves no trace.

Use :func:`~charter.ledger.store.base.open_store`, or
:class:`~charter.ledger.store.sqlite.SqliteStore` /
:class:`~charter.ledger.store.postgres.PostgresStore` directly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any, Self

from charter.errors import LedgerError
from charter.ledger.store.base import (
    AppendBatch,
    StoredEntry,
    check_batch,
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
from charter.ledger.store.schema import (
    NONCES,
    SEARCH,
    VOTE_CURRENT,
    VOTE_LOG,
    WISH_LOG,
    Dialect,
    LogTables,
    all_tables,
)
from charter.ledger.store.votes import (
    Pair,
    StoredVote,
    VoteBatch,
    plan_current,
    replay_error,
    vote_row,
    vote_values,
)

SCHEMA_VERSION = "1"
_SCHEMA_KEY = "store.schema"  # meta name, namespaced away from the Ledger's own meta
PAGE = 2000  # rows read per query when iterating a log or building the search index
# A StoredEntry's fields in the order of the entries table's columns (idx, leaf_hash,
# data, timestamp, author_key), picked in C rather than by a Python loop.
_ENTRY_ROW = itemgetter(0, 3, 2, 4, 5)


class StoredLog:
    """One signed log of a store, as :class:`~charter.ledger.signedlog.SignedLog` reads it.

    A :class:`~charter.ledger.tree.NodeReader` plus the log's size, leaf bytes and
    checkpoints. ``store.log(VOTE_LOG)`` gives the vote log's.
    """

    def __init__(self, store: SqlStore, tables: LogTables) -> None:
        self.store = store
        self.tables = tables

    def size(self) -> int:
        return self.store.size(self.tables)

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return self.store.get_nodes(keys, self.tables)

    def leaf_data(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """The canonical bytes of leaves ``start <= index < stop``, in log order."""
        return (bytes(row[2]) for row in self.store.rows(self.tables, start, stop))

    def save_checkpoint(self, size: int, note: str) -> None:
        self.store.save_checkpoint(size, note, self.tables)

    def checkpoint(self, size: int | None = None) -> str | None:
        return self.store.checkpoint(size, self.tables)

    def checkpoints(self) -> list[str]:
        return self.store.checkpoints(self.tables)


class SqlStore:
    """The ledger store over a SQL dialect; see the module docstring.

    Safe to share between threads (calls are serialised on the dialect's one
    connection) and between processes (the database's locks).
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._lock = threading.RLock()
        try:
            with self._errors("creating the tables"), dialect.transaction("schema"):
                # CREATE IF NOT EXISTS: older stores gain tables added later (the vote log).
                for table in all_tables():
                    dialect.run(dialect.create(table))
                self._check_schema()
        except LedgerError:
            dialect.close()
            raise

    def _check_schema(self) -> None:
        found = self._scalar("SELECT value FROM meta WHERE name = ?", (_SCHEMA_KEY,))
        if found is None:
            self.dialect.run("INSERT INTO meta VALUES (?, ?)", (_SCHEMA_KEY, SCHEMA_VERSION))
        elif found != SCHEMA_VERSION:
            raise LedgerError(
                f"{self.dialect.where} has store schema {found}, this Charter reads "
                f"{SCHEMA_VERSION}; use the Charter version that wrote it, or export and "
                "re-import the log."
            )

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Serialise a call and translate the driver's errors at the boundary."""
        with self._lock:
            try:
                yield
            except Exception as exc:
                if not self.dialect.is_error(exc):
                    raise
                reason = str(exc).strip().rstrip(".")
                raise LedgerError(
                    f"ledger store {self.dialect.where}: {doing} failed: {reason}."
                ) from exc

    def _scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        rows = self.dialect.query(sql, args)
        return rows[0][0] if rows else None

    def log(self, tables: LogTables) -> StoredLog:
        """One of the store's signed logs (``WISH_LOG`` or ``VOTE_LOG``)."""
        return StoredLog(self, tables)

    # -- either log ----------------------------------------------------------------------

    def size(self, log: LogTables = WISH_LOG) -> int:
        """Number of leaves in a log (the wish log by default)."""
        with self._errors("reading the size"):
            return self._size(log)

    def _size(self, log: LogTables) -> int:
        last = self._scalar(f"SELECT MAX(idx) FROM {log.leaves.name}")
        return 0 if last is None else int(last) + 1

    def get_nodes(
        self, keys: Sequence[tuple[int, int]], log: LogTables = WISH_LOG
    ) -> dict[tuple[int, int], bytes]:
        """Stored nodes among ``keys`` (absent keys left out; level 0 from the leaves)."""
        found: dict[tuple[int, int], bytes] = {}
        with self._errors("reading tree nodes"):
            for part in chunks(list(set(keys)), self.dialect.max_params // 2):
                leaves = [index for level, index in part if level == 0]
                inner = [v for level, index in part if level > 0 for v in (level, index)]
                selects = []
                if leaves:
                    marks = ",".join("?" * len(leaves))
                    selects.append(
                        f"SELECT 0, idx, leaf_hash FROM {log.leaves.name} WHERE idx IN ({marks})"
                    )
                if inner:
                    pairs = ",".join(["(?, ?)"] * (len(inner) // 2))
                    # A join on VALUES seeks the primary key per key; SQLite scans the whole
                    # table for `(level, idx) IN (VALUES ...)` (O(n) per proof).
                    selects.append(
                        f"SELECT n.level, n.idx, n.hash FROM (VALUES {pairs}) AS k "
                        f"JOIN {log.nodes.name} AS n ON n.level = k.column1 AND n.idx = k.column2"
                    )
                if selects:
                    rows = self.dialect.query(" UNION ALL ".join(selects), [*leaves, *inner])
                    found.update(((int(lv), int(i)), bytes(node)) for lv, i, node in rows)
        return found

    def rows(self, log: LogTables, start: int = 0, stop: int | None = None) -> Iterator[Any]:
        """Rows of a log's leaf table, ``start <= idx < stop``, read ``PAGE`` at a time.

        A short page means the log ended, so ``stop=None`` reads to the end
        without asking for the size first.
        """
        if start < 0:
            raise LedgerError(f"{log.leaves.name} start at index 0, not {start}.")
        table = log.leaves
        position = start
        while stop is None or position < stop:
            end = position + PAGE if stop is None else min(stop, position + PAGE)
            with self._errors(f"reading {table.name}"):
                rows = self.dialect.query(
                    f"SELECT {table.names} FROM {table.name} "
                    "WHERE idx >= ? AND idx < ? ORDER BY idx",
                    (position, end),
                )
            yield from rows
            if len(rows) < end - position:
                return
            position = end

    def save_checkpoint(self, size: int, note: str, log: LogTables = WISH_LOG) -> None:
        """Keep a signed note for a tree size; re-saving a size replaces its note."""
        with self._errors("saving a checkpoint"), self.dialect.transaction():
            self.dialect.run(
                f"INSERT INTO {log.checkpoints.name} (size, note) VALUES (?, ?) "
                "ON CONFLICT (size) DO UPDATE SET note = excluded.note",
                (size, note),
            )

    def checkpoint(self, size: int | None = None, log: LogTables = WISH_LOG) -> str | None:
        """The note for ``size``, or the latest one if ``size`` is None."""
        table = log.checkpoints.name
        with self._errors("reading a checkpoint"):
            if size is None:
                return self._scalar(f"SELECT note FROM {table} ORDER BY size DESC LIMIT 1")
            return self._scalar(f"SELECT note FROM {table} WHERE size = ?", (size,))

    def checkpoints(self, log: LogTables = WISH_LOG) -> list[str]:
        """Every stored note, smallest tree size first."""
        with self._errors("reading checkpoints"):
            rows = self.dialect.query(f"SELECT note FROM {log.checkpoints.name} ORDER BY size")
        return [row[0] for row in rows]

    def _write_log(self, log: LogTables, rows: list[Sequence[Any]], inner: list[Any]) -> None:
        """Insert a checked batch's leaf rows and inner nodes (inside the append transaction)."""
        self.dialect.insert(log.leaves, rows)
        self.dialect.insert(log.nodes, inner)

    def _pairs(self, sql: str, pairs: Sequence[tuple[Any, Any]]) -> list[Any]:
        """Run ``sql`` once per chunk of ``pairs``; its ``{k}`` becomes ``(VALUES ...) AS k``."""
        rows: list[Any] = []
        for part in chunks(list(set(pairs)), self.dialect.max_params // 2):
            values = ",".join(["(?, ?)"] * len(part))
            args = [v for pair in part for v in pair]
            rows += self.dialect.query(sql.format(k=f"(VALUES {values}) AS k"), args)
        return rows

    # -- the wish log --------------------------------------------------------------------

    def append(self, batch: AppendBatch) -> None:
        """Write a wish batch in one transaction; see :meth:`LedgerStore.append`."""
        with self._errors("append"):
            try:
                with self.dialect.transaction(WISH_LOG.leaves.name):
                    inner = prepare_batch(batch, self._size(WISH_LOG))
                    self._debit(total_debits(batch.debits))
                    self._write_log(WISH_LOG, list(map(_ENTRY_ROW, batch.entries)), inner)
                    self.dialect.insert(NONCES, batch.nonces)
            except Exception as exc:
                table = self.dialect.unique_violation(exc)
                if table is None:
                    raise
                used = self._nonces_used(batch.nonces) if table == "nonces" else set()
                raise conflict_error(table, batch, used) from None

    def _debit(self, totals: dict[str, int]) -> None:
        if not totals:
            return
        balances: dict[str, int] = {}
        for part in chunks(list(totals), self.dialect.max_params):
            marks = ",".join("?" * len(part))
            rows = self.dialect.query(
                f"SELECT key, balance FROM accounts WHERE key IN ({marks}){self.dialect.row_lock}",
                part,
            )
            balances.update((key, int(balance)) for key, balance in rows)
        # No other writer can change these balances before the UPDATE: the transaction
        # holds the write lock (SQLite) or the rows (PostgreSQL's FOR UPDATE).
        refusal = shortfall(totals, balances)
        if refusal is not None:
            raise refusal
        self.dialect.run_many(
            "UPDATE accounts SET balance = balance - ? WHERE key = ?",
            [(amount, key) for key, amount in totals.items()],
        )

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        """Wish entries ``start <= index < stop`` in log order, read a page at a time."""
        return map(row_entry, self.rows(WISH_LOG, start, stop))

    def index_of(self, entry_id: str) -> int | None:
        """Index of the wish entry with this id, or None."""
        return self.indexes_of([entry_id]).get(entry_id)

    def indexes_of(self, entry_ids: Sequence[str]) -> dict[str, int]:
        """Index of each wish entry among ``entry_ids`` that the log holds (one query a chunk)."""
        leaves = {leaf: i for i in entry_ids if (leaf := entry_id_bytes(i)) is not None}
        found: dict[str, int] = {}
        with self._errors("looking up entries"):
            for part in chunks(list(leaves), self.dialect.max_params):
                marks = ",".join("?" * len(part))
                rows = self.dialect.query(
                    f"SELECT leaf_hash, idx FROM entries WHERE leaf_hash IN ({marks})", part
                )
                found.update((leaves[bytes(leaf)], int(idx)) for leaf, idx in rows)
        return found

    def nonces_used(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """The ``(author_key, nonce)`` pairs among ``pairs`` already stored."""
        with self._errors("reading nonces"):
            return self._nonces_used(pairs)

    def _nonces_used(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        rows = self._pairs(
            "SELECT n.author_key, n.nonce FROM {k} "
            "JOIN nonces AS n ON n.author_key = k.column1 AND n.nonce = k.column2",
            pairs,
        )
        return {(key, nonce) for key, nonce in rows}

    # -- accounts, meta, search ----------------------------------------------------------

    def balance(self, key: str) -> int:
        with self._errors("reading a balance"):
            found = self._scalar("SELECT balance FROM accounts WHERE key = ?", (key,))
        return 0 if found is None else int(found)

    def grant(self, key: str, amount: int) -> None:
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise LedgerError(f"a grant must be a non-negative integer of credits, got {amount!r}.")
        with self._errors("granting credits"), self.dialect.transaction():
            self.dialect.run(
                "INSERT INTO accounts VALUES (?, ?) ON CONFLICT (key) "
                "DO UPDATE SET balance = accounts.balance + excluded.balance",
                (key, amount),
            )

    def get_meta(self, name: str) -> str | None:
        with self._errors("reading metadata"):
            return self._scalar("SELECT value FROM meta WHERE name = ?", (name,))

    def set_meta(self, name: str, value: str) -> None:
        with self._errors("writing metadata"), self.dialect.transaction():
            self.dialect.run(
                "INSERT INTO meta VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def search(self, text: str, limit: int, offset: int) -> list[StoredEntry]:
        """Entries whose scenario, behaviour or tags contain ``text`` (any case), newest first."""
        check_page(limit, offset)
        with self._errors("searching"):
            self._index_new_entries()
            rows = self.dialect.query(
                "SELECT e.idx, e.leaf_hash, e.data, e.timestamp, e.author_key "
                "FROM search s JOIN entries e ON e.idx = s.idx "
                "WHERE s.text LIKE ? ESCAPE '\\' ORDER BY s.idx DESC LIMIT ? OFFSET ?",
                (like_pattern(text), limit, offset),
            )
        return [row_entry(row) for row in rows]

    def _index_new_entries(self) -> None:
        # The search text is derived on the first search after an append, so appending
        # never pays for parsing JSON.
        if self._search_end() >= self._size(WISH_LOG):
            return  # the common case: nothing appended since the last search, no write lock
        with self.dialect.transaction(SEARCH.name):
            position = self._search_end()  # again under the lock: another process may have run
            while True:
                rows = self.dialect.query(
                    "SELECT idx, data FROM entries WHERE idx >= ? ORDER BY idx LIMIT ?",
                    (position, PAGE),
                )
                if not rows:
                    return
                self.dialect.insert(SEARCH, [(i, search_text(bytes(d))) for i, d in rows])
                position = int(rows[-1][0]) + 1

    def _search_end(self) -> int:
        last = self._scalar("SELECT MAX(idx) FROM search")
        return 0 if last is None else int(last) + 1

    # -- the vote log --------------------------------------------------------------------

    def append_votes(self, batch: VoteBatch) -> list[bool]:
        """Write a vote batch in one transaction; per vote, whether it replaced one in force."""
        with self._errors("appending votes"):
            try:
                with self.dialect.transaction(VOTE_LOG.leaves.name):
                    inner = check_batch(
                        [v.index for v in batch.votes],
                        [v.leaf_hash for v in batch.votes],
                        batch.nodes,
                        self._size(VOTE_LOG),
                        "vote log: ",
                    )
                    # Votes first: a replay fails on the unique nonce before any other check.
                    self._write_log(VOTE_LOG, [vote_values(v) for v in batch.votes], inner)
                    # vote_current still holds the earlier state here.
                    replaced, current = plan_current(batch, self._held(batch))
                    self.dialect.run_many(
                        "INSERT INTO vote_current VALUES (?, ?, ?) ON CONFLICT "
                        "(entry_id, voter_key) DO UPDATE SET idx = excluded.idx",
                        [(e, k, i) for (e, k), i in current.items()],
                    )
            except Exception as exc:
                if self.dialect.unique_violation(exc) != VOTE_LOG.leaves.name:
                    raise
                raise replay_error() from None
        return replaced

    def _held(self, batch: VoteBatch) -> dict[Pair, str]:
        rows = self._pairs(
            "SELECT c.entry_id, c.voter_key, v.timestamp FROM {k} "
            f"JOIN {VOTE_CURRENT.name} AS c ON c.entry_id = k.column1 AND c.voter_key = k.column2 "
            "JOIN votes AS v ON v.idx = c.idx",
            [(v.entry_id, v.voter_key) for v in batch.votes],
        )
        return {(e, k): ts for e, k, ts in rows}

    def votes(self, start: int = 0, stop: int | None = None) -> Iterator[StoredVote]:
        """Votes ``start <= index < stop`` in vote-log order (superseded ones too)."""
        return map(vote_row, self.rows(VOTE_LOG, start, stop))

    def current_votes(self, entry_id: str | None = None) -> list[StoredVote]:
        """The votes in force (on one wish, or on all), in vote-log order."""
        columns = ", ".join("v." + c.name for c in VOTE_LOG.leaves.columns)
        query = f"SELECT {columns} FROM vote_current c JOIN votes v ON v.idx = c.idx"
        where, args = ("", ()) if entry_id is None else (" WHERE c.entry_id = ?", (entry_id,))
        with self._errors("reading current votes"):
            rows = self.dialect.query(query + where + " ORDER BY v.idx", args)
        return [vote_row(row) for row in rows]

    def vote_tallies(self, entry_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """``(endorse, oppose)`` counts of the votes in force, for wishes that have any."""
        tallies: dict[str, tuple[int, int]] = {}
        with self._errors("counting votes"):
            for part in chunks(list(set(entry_ids)), self.dialect.max_params):
                marks = ",".join("?" * len(part))
                rows = self.dialect.query(
                    "SELECT c.entry_id, SUM(CASE WHEN v.value = 1 THEN 1 ELSE 0 END), "
                    "SUM(CASE WHEN v.value = -1 THEN 1 ELSE 0 END) FROM vote_current c "
                    f"JOIN votes v ON v.idx = c.idx WHERE c.entry_id IN ({marks}) "
                    "GROUP BY c.entry_id",
                    part,
                )
                tallies.update((e, (int(up), int(down))) for e, up, down in rows)
        return tallies

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self.dialect.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
