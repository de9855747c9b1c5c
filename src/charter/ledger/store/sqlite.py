"""The default ledger store: one SQLite file, durable on acknowledgement.

Durability: the database runs in WAL mode with ``synchronous=FULL``, so each
commit fsyncs the write-ahead log before an append returns. An append is a
single ``BEGIN IMMEDIATE`` transaction, so a ``kill -9`` (or a power cut) at any
moment leaves either the whole batch or none of it: no acknowledged entry is
lost and no half batch (entries without their tree nodes, nonces or debits) is
ever visible. ``BEGIN IMMEDIATE`` takes the database's write lock up front, so
the size read inside the transaction cannot change before the commit.

This module is only the SQLite :class:`~charter.ledger.store.schema.Dialect`;
the tables and every query are :class:`~charter.ledger.store.sql.SqlStore`'s.

Usage::

    store = SqliteStore("wishes.db")   # or open_store("wishes.db")
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any

from charter.errors import LedgerError
from charter.ledger.store.schema import Kind, Table, create_statement
from charter.ledger.store.sql import SqlStore

_TYPES: dict[Kind, str] = {"int": "INTEGER", "small": "INTEGER", "blob": "BLOB", "text": "TEXT"}
# Page size of a new database file (an existing file keeps its own): 16 KiB pages
# hold ~20 entries of 700 bytes and make every B-tree shallower than SQLite's
# default 4 KiB (measured: batched append ~20% faster, bench_ledger_store.py).
PAGE_SIZE = 16384


class SqliteDialect:
    """SQLite through the standard library's ``sqlite3`` (one connection, autocommit).

    Args:
        path: the database file (created with its folder if missing).
        timeout: seconds to wait for another writer before giving up.
    """

    max_params = 8000  # SQLite allows 32766 bound parameters (3.32+)
    row_lock = ""  # BEGIN IMMEDIATE already holds the whole database's write lock

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"cannot open the ledger store {self.path}: {exc}.") from exc
        try:
            self.db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self.db.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # before WAL writes the header
            mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise LedgerError(f"{self.path}: SQLite refused WAL mode (got {mode!r}).")
            # FULL: the WAL is fsynced at every commit, so an acknowledged append
            # survives power loss, not only a process kill.
            self.db.execute("PRAGMA synchronous = FULL")
            self.db.execute("PRAGMA cache_size = -32768")  # 32 MiB: batched appends of 100k rows
            self.db.execute("SELECT COUNT(*) FROM sqlite_schema").fetchone()  # reads the header
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise LedgerError(
                f"{self.path} is not a ledger store SQLite can open ({exc}); "
                "give the path of a ledger, or a new file."
            ) from exc
        except LedgerError:
            self.db.close()
            raise

    def column_type(self, kind: Kind) -> str:
        return _TYPES[kind]

    def create(self, table: Table) -> str:
        return create_statement(table, self.column_type, " WITHOUT ROWID" if table.compact else "")

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self.db.execute(sql, args).fetchall()

    def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        self.db.execute(sql, args)

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.db.executemany(sql, rows)

    def insert(self, table: Table, rows: Iterable[Sequence[Any]]) -> None:
        """Multi-row ``INSERT ... VALUES (...), (...)``: one statement per ``max_params`` values.

        About twice as fast as ``executemany`` for the small node and nonce rows
        (one statement step per chunk instead of per row); the statement text of a
        full chunk is the same every time, so sqlite3 caches it prepared.
        """
        rows = list(rows)
        width = len(table.columns)
        per = max(1, self.max_params // width)
        head = f"INSERT INTO {table.name} ({table.names}) VALUES "
        row_marks = "(" + ", ".join("?" * width) + ")"
        for lo in range(0, len(rows), per):
            chunk = rows[lo : lo + per]
            self.db.execute(
                head + ", ".join([row_marks] * len(chunk)), list(chain.from_iterable(chunk))
            )

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, whatever ``lock`` names: SQLite
        # has one writer per database.
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def is_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.Error)

    def unique_violation(self, exc: BaseException) -> str | None:
        # e.g. "UNIQUE constraint failed: nonces.author_key, nonces.nonce"
        if not isinstance(exc, sqlite3.IntegrityError):
            return None
        reason, _, columns = str(exc).partition(": ")
        return columns.partition(".")[0] if reason.startswith("UNIQUE") else None

    def close(self) -> None:
        self.db.close()


class SqliteStore(SqlStore):
    """A ledger store in one SQLite file (created with its folder if missing).

    Safe to share between threads (calls are serialised) and between processes
    (SQLite's locks; writers wait up to ``timeout`` seconds for each other).

    Args:
        path: the database file.
        timeout: seconds to wait for another writer before giving up.
    """

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        dialect = SqliteDialect(path, timeout)
        self.path = dialect.path
        super().__init__(dialect)
