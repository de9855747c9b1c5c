"""Where the wish ledger lives: SQLite by default, PostgreSQL when given a URL.

:func:`open_store` picks the dialect from the location; one
:class:`~charter.ledger.store.sql.SqlStore` implements :class:`LedgerStore`
over either (see :mod:`charter.ledger.store.base` for the contract and
:mod:`charter.ledger.store.schema` for the tables). ``PostgresStore`` lives in
:mod:`charter.ledger.store.postgres` and is not imported here, so the SQLite
path never needs psycopg.
"""

from charter.ledger.store.base import AppendBatch, LedgerStore, LogStorage, StoredEntry, open_store
from charter.ledger.store.schema import VOTE_LOG, WISH_LOG, LogTables
from charter.ledger.store.sql import SqlStore, StoredLog
from charter.ledger.store.sqlite import SqliteStore

__all__ = [
    "VOTE_LOG",
    "WISH_LOG",
    "AppendBatch",
    "LedgerStore",
    "LogStorage",
    "LogTables",
    "SqlStore",
    "SqliteStore",
    "StoredEntry",
    "StoredLog",
    "open_store",
]
