"""The ledger store on PostgreSQL (psycopg 3), for a ledger shared by many servers.

Same tables and the same semantics as the SQLite store (``BYTEA`` for hashes
and record bytes); the queries are :class:`~charter.ledger.store.sql.SqlStore`'s,
this module is only the PostgreSQL :class:`~charter.ledger.store.schema.Dialect`.
An append is one transaction that first takes ``LOCK TABLE <leaves> IN SHARE
ROW EXCLUSIVE MODE``, which lets readers in but makes appenders from any
process wait their turn, so the size checked at the start is still the size at
the commit. Rows go in by binary ``COPY``; a refused batch rolls back whole.

Usage (needs ``pip install 'charter[postgres]'``)::

    store = open_store("postgresql://user@host/wishes")

The tables are created in the first schema of the connection's
``search_path``; add ``?options=-csearch_path%3Dmyschema`` to the URL to keep
several ledgers in one database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import errors as pg_errors

from charter.errors import LedgerError
from charter.ledger.store.schema import Kind, Table, create_statement
from charter.ledger.store.sql import SqlStore

_TYPES: dict[Kind, str] = {"int": "BIGINT", "small": "SMALLINT", "blob": "BYTEA", "text": "TEXT"}
_COPY_TYPES: dict[Kind, str] = {"int": "int8", "small": "int2", "blob": "bytea", "text": "text"}
_SCHEMA_LOCK = 0x43484152_5445524C  # advisory lock id ("CHARTERL"): one schema creator at a time


def redact(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def _marks(sql: str) -> str:
    # Queries are written with "?"; psycopg wants "%s" (no query holds a literal "?" or "%").
    return sql.replace("?", "%s")


class PostgresDialect:
    """PostgreSQL through one psycopg 3 connection in autocommit mode.

    Args:
        url: a ``postgresql://`` or ``postgres://`` connection URL.
        connect_timeout: seconds to wait for the server.
    """

    max_params = 30000  # PostgreSQL's protocol allows 65535
    row_lock = " FOR UPDATE"  # a concurrent grant or debit of these accounts waits for the commit

    def __init__(self, url: str, connect_timeout: int = 10) -> None:
        self.where = redact(url)
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout)
        except psycopg.Error as exc:
            raise LedgerError(
                f"cannot connect to PostgreSQL at {self.where}: {exc}".rstrip()
                + " Check the URL and that the server is running."
            ) from exc

    def column_type(self, kind: Kind) -> str:
        return _TYPES[kind]

    def create(self, table: Table) -> str:
        return create_statement(table, self.column_type, "")

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self.conn.execute(_marks(sql), args).fetchall()

    def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        self.conn.execute(_marks(sql), args)

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(_marks(sql), list(rows))

    def insert(self, table: Table, rows: Iterable[Sequence[Any]]) -> None:
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY {table.name} ({table.names}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types([_COPY_TYPES[c.kind] for c in table.columns])
            for row in rows:
                copy.write_row(row)

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[None]:
        with self.conn.transaction():
            if lock == "schema":
                self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            elif lock is not None:
                self.conn.execute(f"LOCK TABLE {lock} IN SHARE ROW EXCLUSIVE MODE")
            yield

    def is_error(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.Error)

    def unique_violation(self, exc: BaseException) -> str | None:
        if not isinstance(exc, pg_errors.UniqueViolation):
            return None
        return exc.diag.table_name or ""

    def close(self) -> None:
        self.conn.close()


class PostgresStore(SqlStore):
    """A ledger store in a PostgreSQL database.

    Safe to share between threads (calls are serialised on one connection) and
    between processes (PostgreSQL's locks).

    Args:
        url: a ``postgresql://`` or ``postgres://`` connection URL.
        connect_timeout: seconds to wait for the server.
    """

    def __init__(self, url: str, connect_timeout: int = 10) -> None:
        dialect = PostgresDialect(url, connect_timeout)
        self.url = dialect.where
        super().__init__(dialect)
