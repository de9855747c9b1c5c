"""Where the wish ledger lives: SQLite by default, PostgreSQL when given a URL.

:func:`open_store` picks the backend from the location; both implement
:class:`LedgerStore` (see :mod:`charter.ledger.store.base` for the contract).
``PostgresStore`` lives in :mod:`charter.ledger.store.postgres` and is not
imported here, so the SQLite path never needs psycopg.
"""

from charter.ledger.store.base import AppendBatch, LedgerStore, StoredEntry, open_store
from charter.ledger.store.sqlite import SqliteStore

__all__ = ["AppendBatch", "LedgerStore", "SqliteStore", "StoredEntry", "open_store"]
