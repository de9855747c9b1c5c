"""The vote log's storage contract and the checks both backends share.

Votes (:mod:`charter.ledger.votes`) live beside the wish log in the same store,
in tables of their own:

- ``votes``: every accepted vote, in vote-log order; its canonical bytes are a
  leaf of the vote log, an RFC 6962 tree separate from the wish log
  (``SHA-256(0x00 || data)``, RFC 9162 section 2.1.1). ``(voter_key, nonce)``
  is unique (replay protection);
- ``vote_nodes``: that tree's perfect-subtree roots, as ``nodes`` for wishes,
  so vote-log proofs are O(log n) reads (:mod:`charter.ledger.tree`);
- ``vote_current``: per ``(entry_id, voter_key)`` the index of the vote in force,
  a derived index a reader can rebuild from the log (the newest timestamp wins);
- ``vote_checkpoints``: signed checkpoints of the vote log.

:meth:`VoteStore.append_votes` is one transaction, like a wish append: the
votes, their nodes and the current-vote index move together or not at all.

Both backends share from here what is not SQL dialect: the row mapping
(:func:`vote_values`, :func:`vote_row`), the one-current-vote rule
(:func:`plan_current`), the node checks, paging (:func:`read_pages`) and the
query for the votes in force (:func:`current_votes_query`). What differs by
dialect (batched lookups, tallies, upserts) stays in each backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from charter.errors import EntryError, LedgerError
from charter.ledger.store.base import AppendBatch, StoredEntry, prepare_batch

Pair = tuple[str, str]  # (entry_id, voter_key)


@dataclass(frozen=True)
class StoredVote:
    """One vote as stored: its place in the vote log, its bytes and what they say."""

    index: int  # position in the vote log
    leaf_hash: bytes  # SHA-256(0x00 || data)
    data: bytes  # the vote's canonical JSON
    entry_id: str  # the wish voted on
    voter_key: str
    nonce: str
    value: int
    timestamp: str  # RFC 3339 with milliseconds: sorts as text

    @property
    def vote_id(self) -> str:
        return self.leaf_hash.hex()


@dataclass(frozen=True)
class VoteBatch:
    """Everything one vote append writes, in one transaction."""

    votes: list[StoredVote]  # indexes continue exactly from the vote log's size
    nodes: list[tuple[tuple[int, int], bytes]]  # every vote-log node these votes complete


@runtime_checkable
class VoteStore(Protocol):
    """The vote half of a ledger store (SQLite and PostgreSQL both implement it)."""

    def vote_size(self) -> int:
        """Number of votes in the vote log."""
        ...

    def append_votes(self, batch: VoteBatch) -> list[bool]:
        """Write a batch in one transaction; per vote, whether it replaced a vote in force.

        Raises:
            EntryError: a ``(voter_key, nonce)`` was used before, or a vote is not
                newer than the voter's vote in force on that wish; nothing written.
            LedgerError: indexes or nodes do not continue the vote log.
        """
        ...

    def get_vote_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Stored vote-log nodes among ``keys`` (level 0: the votes' leaf hashes)."""
        ...

    def votes(self, start: int = 0, stop: int | None = None) -> Iterator[StoredVote]:
        """Votes ``start <= index < stop`` in vote-log order."""
        ...

    def current_votes(self, entry_id: str | None = None) -> list[StoredVote]:
        """The votes in force (on one wish, or on all), in vote-log order."""
        ...

    def vote_tallies(self, entry_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """``(endorse, oppose)`` counts of the votes in force, for wishes that have any."""
        ...

    def save_vote_checkpoint(self, size: int, note: str) -> None: ...

    def vote_checkpoint(self, size: int | None = None) -> str | None: ...

    def vote_checkpoints(self) -> list[str]: ...


def vote_nodes_to_store(batch: VoteBatch, size: int) -> list[tuple[int, int, bytes]]:
    """Check index continuity and the node set (as for wishes); return the inner nodes."""
    leaves = [
        StoredEntry(v.index, v.leaf_hash.hex(), v.data, v.leaf_hash, v.timestamp, v.voter_key)
        for v in batch.votes
    ]
    try:
        return prepare_batch(AppendBatch(leaves, batch.nodes, [], []), size)
    except LedgerError as exc:
        raise LedgerError(f"vote log: {exc}") from None


def plan_current(batch: VoteBatch, held: Mapping[Pair, str]) -> tuple[list[bool], dict[Pair, int]]:
    """Apply the one-current-vote rule to a batch.

    Args:
        batch: the votes, in order.
        held: timestamp of the vote in force per ``(entry_id, voter_key)`` in the batch.

    Returns:
        ``(replaced, current)``: per vote whether it superseded one; and the new
        vote-log index in force per pair.

    Raises:
        EntryError: a vote is not newer than the one in force (or an earlier one in the batch).
    """
    latest = dict(held)
    replaced: list[bool] = []
    current: dict[Pair, int] = {}
    for vote in batch.votes:
        pair = (vote.entry_id, vote.voter_key)
        before = latest.get(pair)
        if before is not None and vote.timestamp <= before:
            raise EntryError(
                f"field timestamp: this voter already has a vote on wish {vote.entry_id[:16]}… "
                f"from {before}, not older than {vote.timestamp}; sign a new vote with the "
                "current time to change it. Nothing was written."
            )
        replaced.append(before is not None)
        latest[pair] = vote.timestamp
        current[pair] = vote.index
    return replaced, current


def replay_error() -> EntryError:
    return EntryError(
        "nonce already used: this voter key already signed a vote with this nonce (a replay); "
        "sign the vote again with a fresh nonce. Nothing was written."
    )


def vote_values(vote: StoredVote) -> tuple[int, bytes, bytes, str, str, str, int, str]:
    """The row of ``VOTE_COLUMNS`` that stores ``vote`` (the inverse of :func:`vote_row`)."""
    return (
        vote.index,
        vote.leaf_hash,
        vote.data,
        vote.entry_id,
        vote.voter_key,
        vote.nonce,
        vote.value,
        vote.timestamp,
    )


def vote_row(row: Sequence[object]) -> StoredVote:
    """A StoredVote from a row of ``VOTE_COLUMNS``."""
    index, leaf, data, entry_id, voter_key, nonce, value, timestamp = row
    return StoredVote(
        int(index),  # type: ignore[arg-type]
        bytes(leaf),  # type: ignore[arg-type]
        bytes(data),  # type: ignore[arg-type]
        str(entry_id),
        str(voter_key),
        str(nonce),
        int(value),  # type: ignore[arg-type]
        str(timestamp),
    )


VOTE_COLUMNS = "idx, leaf_hash, data, entry_id, voter_key, nonce, value, timestamp"


def read_pages(
    fetch: Callable[[int, int], Sequence[Sequence[object]]],
    start: int = 0,
    stop: int | None = None,
    page: int = 2000,
) -> Iterator[StoredVote]:
    """Votes ``start <= index < stop`` read ``page`` at a time by ``fetch(first, end)``.

    ``fetch`` returns the rows of ``VOTE_COLUMNS`` with ``first <= idx < end`` in
    order; a short page means the log ended, so ``stop=None`` reads to the end
    without asking for the size first.
    """
    position = start
    while stop is None or position < stop:
        end = position + page if stop is None else min(stop, position + page)
        rows = fetch(position, end)
        yield from map(vote_row, rows)
        if len(rows) < end - position:
            return
        position = end


def current_votes_query(entry_id: str | None, mark: str) -> tuple[str, tuple[str, ...]]:
    """The query (and its arguments) for the votes in force, in vote-log order.

    Args:
        entry_id: only the votes on this wish; None for all.
        mark: the driver's placeholder, ``?`` (sqlite3) or ``%s`` (psycopg).
    """
    columns = ", ".join("v." + c for c in VOTE_COLUMNS.split(", "))
    query = f"SELECT {columns} FROM vote_current c JOIN votes v ON v.idx = c.idx"
    if entry_id is None:
        return query + " ORDER BY v.idx", ()
    return query + f" WHERE c.entry_id = {mark} ORDER BY v.idx", (entry_id,)
