"""The vote log in the SQLite store (a mixin of :class:`~charter.ledger.store.sqlite.SqliteStore`).

Tables and rules: see :mod:`charter.ledger.store.votes`. An append is one
``BEGIN IMMEDIATE`` transaction (WAL, ``synchronous=FULL``), so the current-vote
check and the write cannot interleave with another writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

from charter.ledger.store.base import chunks
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

VOTE_SCHEMA = """
CREATE TABLE IF NOT EXISTS votes (
    idx INTEGER PRIMARY KEY,
    leaf_hash BLOB NOT NULL UNIQUE,
    data BLOB NOT NULL,
    entry_id TEXT NOT NULL,
    voter_key TEXT NOT NULL,
    nonce TEXT NOT NULL,
    value INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    UNIQUE (voter_key, nonce)
);
CREATE TABLE IF NOT EXISTS vote_nodes (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS vote_current (
    entry_id TEXT NOT NULL, voter_key TEXT NOT NULL, idx INTEGER NOT NULL,
    PRIMARY KEY (entry_id, voter_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS vote_checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
"""
_PARAMS = 8000
_PAGE = 2000


class SqliteVotes:
    """Vote-log methods; the host class provides ``_db``, ``_errors`` and ``_write``."""

    _db: sqlite3.Connection

    def vote_size(self) -> int:
        with self._errors("reading the vote log size"):  # type: ignore[attr-defined]
            return self._vote_size()

    def _vote_size(self) -> int:
        last = self._db.execute("SELECT MAX(idx) FROM votes").fetchone()[0]
        return 0 if last is None else last + 1

    def append_votes(self, batch: VoteBatch) -> list[bool]:
        with self._errors("appending votes"):  # type: ignore[attr-defined]
            try:
                with self._write() as db:  # type: ignore[attr-defined]
                    inner = vote_nodes_to_store(batch, self._vote_size())
                    # Votes first: a replay fails on the unique nonce before any other check.
                    db.executemany(
                        f"INSERT INTO votes ({VOTE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        map(vote_values, batch.votes),
                    )
                    # vote_current still holds the earlier state here.
                    replaced, current = plan_current(batch, self._held(batch))
                    db.executemany("INSERT INTO vote_nodes VALUES (?, ?, ?)", inner)
                    db.executemany(
                        "INSERT INTO vote_current VALUES (?, ?, ?) ON CONFLICT "
                        "(entry_id, voter_key) DO UPDATE SET idx = excluded.idx",
                        ((e, k, i) for (e, k), i in current.items()),
                    )
            except sqlite3.IntegrityError as exc:
                if "votes." not in str(exc):
                    raise
                raise replay_error() from None
        return replaced

    def _held(self, batch: VoteBatch) -> dict[Pair, str]:
        pairs = list({(v.entry_id, v.voter_key) for v in batch.votes})
        held: dict[Pair, str] = {}
        for part in chunks(pairs, _PARAMS // 2):
            values = ",".join(["(?, ?)"] * len(part))
            rows = self._db.execute(
                f"SELECT c.entry_id, c.voter_key, v.timestamp FROM (VALUES {values}) AS k "
                "JOIN vote_current AS c ON c.entry_id = k.column1 AND c.voter_key = k.column2 "
                "JOIN votes AS v ON v.idx = c.idx",
                [x for pair in part for x in pair],
            )
            held.update(((e, k), ts) for e, k, ts in rows)
        return held

    def get_vote_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = {}
        with self._errors("reading vote-log nodes"):  # type: ignore[attr-defined]
            for level, index in set(keys):
                if level == 0:
                    query = "SELECT leaf_hash FROM votes WHERE idx = ?"
                    row = self._db.execute(query, (index,)).fetchone()
                else:
                    query = "SELECT hash FROM vote_nodes WHERE level = ? AND idx = ?"
                    row = self._db.execute(query, (level, index)).fetchone()
                if row is not None:
                    found[(level, index)] = row[0]
        return found

    def votes(self, start: int = 0, stop: int | None = None) -> Iterator[StoredVote]:
        def fetch(first: int, end: int) -> list:
            with self._errors("reading votes"):  # type: ignore[attr-defined]
                return self._db.execute(
                    f"SELECT {VOTE_COLUMNS} FROM votes WHERE idx >= ? AND idx < ? ORDER BY idx",
                    (first, end),
                ).fetchall()

        return read_pages(fetch, start, stop, _PAGE)

    def current_votes(self, entry_id: str | None = None) -> list[StoredVote]:
        query, args = current_votes_query(entry_id, "?")
        with self._errors("reading current votes"):  # type: ignore[attr-defined]
            rows = self._db.execute(query, args).fetchall()
        return [vote_row(row) for row in rows]

    def vote_tallies(self, entry_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        tallies: dict[str, tuple[int, int]] = {}
        with self._errors("counting votes"):  # type: ignore[attr-defined]
            for part in chunks(list(set(entry_ids)), _PARAMS):
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    "SELECT c.entry_id, SUM(v.value = 1), SUM(v.value = -1) FROM vote_current c "
                    f"JOIN votes v ON v.idx = c.idx WHERE c.entry_id IN ({marks}) "
                    "GROUP BY c.entry_id",
                    part,
                )
                tallies.update((e, (int(up), int(down))) for e, up, down in rows)
        return tallies

    def save_vote_checkpoint(self, size: int, note: str) -> None:
        with self._errors("saving a vote checkpoint"), self._write() as db:  # type: ignore[attr-defined]
            db.execute("INSERT OR REPLACE INTO vote_checkpoints VALUES (?, ?)", (size, note))

    def vote_checkpoint(self, size: int | None = None) -> str | None:
        with self._errors("reading a vote checkpoint"):  # type: ignore[attr-defined]
            if size is None:
                row = self._db.execute(
                    "SELECT note FROM vote_checkpoints ORDER BY size DESC LIMIT 1"
                ).fetchone()
            else:
                row = self._db.execute(
                    "SELECT note FROM vote_checkpoints WHERE size = ?", (size,)
                ).fetchone()
        return None if row is None else row[0]

    def vote_checkpoints(self) -> list[str]:
        with self._errors("reading vote checkpoints"):  # type: ignore[attr-defined]
            rows = self._db.execute("SELECT note FROM vote_checkpoints ORDER BY size").fetchall()
        return [row[0] for row in rows]
