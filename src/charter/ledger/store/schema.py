"""The ledger store's tables, written once for every SQL dialect, and the dialect contract.

Two signed logs live in one store, the wish log and the vote log. Both use one
table layout (:class:`LogTables`), three tables per log:

- the *leaves*, in log order: ``idx``, ``leaf_hash`` (unique; RFC 6962 section
  2.1 / RFC 9162 section 2.1.1 ``SHA-256(0x00 || data)``), ``data`` (the
  record's canonical bytes), then the record type's own columns;
- the *nodes*: roots of complete perfect subtrees, levels 1 and up, keyed
  ``(level, idx)`` (level 0 is the leaves' ``leaf_hash``), so that RFC 9162
  section 2.1.3/2.1.4 proofs read O(log n) stored hashes;
- the *checkpoints*: C2SP tlog-checkpoint signed notes by tree size.

The record-specific tables sit beside them: ``nonces`` and ``accounts`` for
wishes, ``vote_current`` for votes, ``search`` (lazily built text of wishes)
and ``meta``. The names and columns are those the first stores wrote (schema
"1"), so every existing ledger file or database opens unchanged.

A :class:`Dialect` (SQLite in :mod:`charter.ledger.store.sqlite`, PostgreSQL in
:mod:`charter.ledger.store.postgres`) supplies what differs: column types,
placeholders, bulk insert, transactions and locking, and error mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Kind = Literal["int", "small", "blob", "text"]  # the column kinds a dialect maps to its types


@dataclass(frozen=True)
class Column:
    """One column: its name, its kind, and any constraint after ``NOT NULL``."""

    name: str
    kind: Kind
    constraint: str = ""  # e.g. "UNIQUE", "CHECK (balance >= 0)"


@dataclass(frozen=True)
class Table:
    """One table: columns, primary key, and whether SQLite may store it by key alone."""

    name: str
    columns: tuple[Column, ...]
    key: str  # primary-key columns, e.g. "level, idx"
    compact: bool = False  # small rows keyed by the primary key: SQLite's WITHOUT ROWID
    unique: tuple[str, ...] = ()  # further UNIQUE (...) constraints

    @property
    def names(self) -> str:
        return ", ".join(c.name for c in self.columns)


LEAF_COLUMNS = (Column("idx", "int"), Column("leaf_hash", "blob", "UNIQUE"), Column("data", "blob"))


@dataclass(frozen=True)
class LogTables:
    """The three tables of one signed log (see the module docstring)."""

    noun: str  # what a leaf is, for messages: "entry", "vote"
    leaves: Table
    nodes: Table
    checkpoints: Table

    @classmethod
    def named(
        cls, noun: str, prefix: str, leaves: str, extra: tuple[Column, ...], unique: tuple[str, ...]
    ) -> LogTables:
        """A log whose tables are ``leaves``, ``<prefix>nodes`` and ``<prefix>checkpoints``."""
        return cls(
            noun,
            Table(leaves, LEAF_COLUMNS + extra, "idx", unique=unique),
            Table(
                prefix + "nodes",
                (Column("level", "small"), Column("idx", "int"), Column("hash", "blob")),
                "level, idx",
                compact=True,
            ),
            Table(prefix + "checkpoints", (Column("size", "int"), Column("note", "text")), "size"),
        )


WISH_LOG = LogTables.named(
    "entry", "", "entries", (Column("timestamp", "text"), Column("author_key", "text")), ()
)
VOTE_LOG = LogTables.named(
    "vote",
    "vote_",
    "votes",
    (
        Column("entry_id", "text"),
        Column("voter_key", "text"),
        Column("nonce", "text"),
        Column("value", "small"),
        Column("timestamp", "text"),
    ),
    ("voter_key, nonce",),  # a vote's nonce is single-use per voter (replays refused)
)
META = Table("meta", (Column("name", "text"), Column("value", "text")), "name", compact=True)
NONCES = Table(
    "nonces", (Column("author_key", "text"), Column("nonce", "text")), "author_key, nonce", True
)
ACCOUNTS = Table(
    "accounts",
    (Column("key", "text"), Column("balance", "int", "CHECK (balance >= 0)")),
    "key",
    compact=True,
)
SEARCH = Table("search", (Column("idx", "int"), Column("text", "text")), "idx")
VOTE_CURRENT = Table(
    "vote_current",
    (Column("entry_id", "text"), Column("voter_key", "text"), Column("idx", "int")),
    "entry_id, voter_key",
    compact=True,
)


def all_tables() -> list[Table]:
    """Every table of a store, in creation order (vote tables are additive)."""
    logs = [t for log in (WISH_LOG, VOTE_LOG) for t in (log.leaves, log.nodes, log.checkpoints)]
    return [META, *logs[:3], NONCES, ACCOUNTS, SEARCH, *logs[3:], VOTE_CURRENT]


class Dialect(Protocol):
    """What one SQL database does its own way; :class:`~.sql.SqlStore` does the rest.

    SQL is written once with ``?`` placeholders and ``ON CONFLICT ... DO UPDATE``
    upserts, which SQLite (3.24+) and PostgreSQL (9.5+) both read; a dialect
    rewrites placeholders if its driver wants others.
    """

    where: str  # the store's location for messages (never a password)
    max_params: int  # bound parameters per statement the database accepts, with margin
    row_lock: str  # suffix that locks selected rows to the transaction ("" if the lock is global)

    def column_type(self, kind: Kind) -> str:
        """The SQL type for a column kind."""
        ...

    def create(self, table: Table) -> str:
        """``CREATE TABLE IF NOT EXISTS`` for ``table``."""
        ...

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Run a statement and return all its rows."""
        ...

    def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        """Run a statement whose rows (if any) are not needed."""
        ...

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run a statement once per row of parameters."""
        ...

    def insert(self, table: Table, rows: Iterable[Sequence[Any]]) -> None:
        """Bulk-insert rows of all of ``table``'s columns (plain inserts: duplicates raise)."""
        ...

    def transaction(self, lock: str | None = None) -> AbstractContextManager[None]:
        """One transaction, committed on success; ``lock`` names a table whose writers wait.

        ``lock="schema"`` serialises schema creation between processes.
        """
        ...

    def is_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the driver's database error (translated to ``LedgerError``)."""
        ...

    def unique_violation(self, exc: BaseException) -> str | None:
        """The table whose unique key ``exc`` violated, or None if it is another error."""
        ...

    def close(self) -> None: ...


def create_statement(table: Table, column_type: Any, options: str) -> str:
    """The ``CREATE TABLE IF NOT EXISTS`` text both dialects share; ``options`` follows it.

    A one-column key is declared on its column (``idx INTEGER PRIMARY KEY`` is
    SQLite's rowid), as schema 1 wrote it, so new and old files have one layout.
    """
    single = "," not in table.key
    columns = [
        f"{c.name} {column_type(c.kind)} "
        + ("PRIMARY KEY" if single and c.name == table.key else f"NOT NULL {c.constraint}".rstrip())
        for c in table.columns
    ]
    constraints = [] if single else [f"PRIMARY KEY ({table.key})"]
    constraints += [f"UNIQUE ({u})" for u in table.unique]
    return f"CREATE TABLE IF NOT EXISTS {table.name} ({', '.join(columns + constraints)}){options}"
