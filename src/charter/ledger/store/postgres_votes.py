"""The vote log in the PostgreSQL store (a mixin of :class:`PostgresStore`).

Same tables and rules as :mod:`charter.ledger.store.sqlite_votes` (see
:mod:`charter.ledger.store.votes`). An append takes ``LOCK TABLE votes IN SHARE
ROW EXCLUSIVE MODE`` first, so appenders from any process take turns and the
current-vote check sees every earlier commit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import psycopg
from psycopg import errors as pg_errors

from charter.ledger.store.votes import (
    VOTE_COLUMNS,
    Pair,
    StoredVote,
    VoteBatch,
    current_votes_query,
    plan_current,
    read_pages,
    replay_error,
    vote_nodes_to_store,
    vote_row,
    vote_values,
)

VOTE_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS votes (
        idx BIGINT PRIMARY KEY,
        leaf_hash BYTEA NOT NULL UNIQUE,
        data BYTEA NOT NULL,
        entry_id TEXT NOT NULL,
        voter_key TEXT NOT NULL,
        nonce TEXT NOT NULL,
        value SMALLINT NOT NULL,
        timestamp TEXT NOT NULL,
        UNIQUE (voter_key, nonce))""",
    """CREATE TABLE IF NOT EXISTS vote_nodes (
        level SMALLINT NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL,
        PRIMARY KEY (level, idx))""",
    """CREATE TABLE IF NOT EXISTS vote_current (
        entry_id TEXT NOT NULL, voter_key TEXT NOT NULL, idx BIGINT NOT NULL,
        PRIMARY KEY (entry_id, voter_key))""",
    "CREATE TABLE IF NOT EXISTS vote_checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL)",
]
_PAGE = 2000


class PostgresVotes:
    """Vote-log methods; the host class provides ``_conn`` and ``_errors``."""

    _conn: psycopg.Connection

    def vote_size(self) -> int:
        with self._errors("reading the vote log size"):  # type: ignore[attr-defined]
            return self._vote_size()

    def _vote_size(self) -> int:
        last = self._conn.execute("SELECT MAX(idx) FROM votes").fetchone()[0]  # type: ignore[index]
        return 0 if last is None else last + 1

    def append_votes(self, batch: VoteBatch) -> list[bool]:
        with self._errors("appending votes"):  # type: ignore[attr-defined]
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    cur.execute("LOCK TABLE votes IN SHARE ROW EXCLUSIVE MODE")
                    inner = vote_nodes_to_store(batch, self._vote_size())
                    # Votes first: a replay fails on the unique nonce before any other check.
                    cur.executemany(
                        f"INSERT INTO votes ({VOTE_COLUMNS}) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        [vote_values(v) for v in batch.votes],
                    )
                    # vote_current still holds the earlier state here.
                    replaced, current = plan_current(batch, self._held(cur, batch))
                    if inner:
                        cur.executemany("INSERT INTO vote_nodes VALUES (%s, %s, %s)", inner)
                    cur.executemany(
                        "INSERT INTO vote_current VALUES (%s, %s, %s) ON CONFLICT "
                        "(entry_id, voter_key) DO UPDATE SET idx = excluded.idx",
                        [(e, k, i) for (e, k), i in current.items()],
                    )
            except pg_errors.UniqueViolation as exc:
                if (exc.diag.table_name or "") != "votes":
                    raise
                raise replay_error() from None
        return replaced

    @staticmethod
    def _held(cur: psycopg.Cursor, batch: VoteBatch) -> dict[Pair, str]:
        pairs = list({(v.entry_id, v.voter_key) for v in batch.votes})
        cur.execute(
            "SELECT c.entry_id, c.voter_key, v.timestamp FROM vote_current c "
            "JOIN unnest(%s::text[], %s::text[]) AS k(entry_id, voter_key) "
            "ON c.entry_id = k.entry_id AND c.voter_key = k.voter_key "
            "JOIN votes v ON v.idx = c.idx",
            ([e for e, _ in pairs], [k for _, k in pairs]),
        )
        return {(e, k): ts for e, k, ts in cur.fetchall()}

    def get_vote_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        unique = set(keys)
        leaves = [index for level, index in unique if level == 0]
        inner = [(level, index) for level, index in unique if level > 0]
        if not unique:
            return {}
        with self._errors("reading vote-log nodes"):  # type: ignore[attr-defined]
            rows = self._conn.execute(
                "SELECT 0, idx, leaf_hash FROM votes WHERE idx = ANY(%s::int8[]) "
                "UNION ALL SELECT n.level, n.idx, n.hash FROM vote_nodes n "
                "JOIN unnest(%s::int2[], %s::int8[]) AS k(level, idx) "
                "ON n.level = k.level AND n.idx = k.idx",
                (leaves, [level for level, _ in inner], [index for _, index in inner]),
            ).fetchall()
        return {(level, index): bytes(node) for level, index, node in rows}

    def votes(self, start: int = 0, stop: int | None = None) -> Iterator[StoredVote]:
        def fetch(first: int, end: int) -> list:
            with self._errors("reading votes"):  # type: ignore[attr-defined]
                return self._conn.execute(
                    f"SELECT {VOTE_COLUMNS} FROM votes WHERE idx >= %s AND idx < %s ORDER BY idx",
                    (first, end),
                ).fetchall()

        return read_pages(fetch, start, stop, _PAGE)

    def current_votes(self, entry_id: str | None = None) -> list[StoredVote]:
        query, args = current_votes_query(entry_id, "%s")
        with self._errors("reading current votes"):  # type: ignore[attr-defined]
            rows = self._conn.execute(query, args).fetchall()
        return [vote_row(row) for row in rows]

    def vote_tallies(self, entry_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        with self._errors("counting votes"):  # type: ignore[attr-defined]
            rows = self._conn.execute(
                "SELECT c.entry_id, COUNT(*) FILTER (WHERE v.value = 1), "
                "COUNT(*) FILTER (WHERE v.value = -1) FROM vote_current c "
                "JOIN votes v ON v.idx = c.idx WHERE c.entry_id = ANY(%s::text[]) "
                "GROUP BY c.entry_id",
                (list(set(entry_ids)),),
            ).fetchall()
        return {e: (int(up), int(down)) for e, up, down in rows}

    def save_vote_checkpoint(self, size: int, note: str) -> None:
        with self._errors("saving a vote checkpoint"):  # type: ignore[attr-defined]
            self._conn.execute(
                "INSERT INTO vote_checkpoints VALUES (%s, %s) "
                "ON CONFLICT (size) DO UPDATE SET note = excluded.note",
                (size, note),
            )

    def vote_checkpoint(self, size: int | None = None) -> str | None:
        with self._errors("reading a vote checkpoint"):  # type: ignore[attr-defined]
            if size is None:
                cur = self._conn.execute(
                    "SELECT note FROM vote_checkpoints ORDER BY size DESC LIMIT 1"
                )
            else:
                cur = self._conn.execute(
                    "SELECT note FROM vote_checkpoints WHERE size = %s", (size,)
                )
            row = cur.fetchone()
        return None if row is None else row[0]

    def vote_checkpoints(self) -> list[str]:
        with self._errors("reading vote checkpoints"):  # type: ignore[attr-defined]
            rows = self._conn.execute("SELECT note FROM vote_checkpoints ORDER BY size").fetchall()
        return [row[0] for row in rows]
