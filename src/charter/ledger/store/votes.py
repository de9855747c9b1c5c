"""The vote log's storage contract and its one record-specific rule.

Votes (:mod:`charter.ledger.votes`) live beside the wish log in the same store,
in the same table layout (:data:`~charter.ledger.store.schema.VOTE_LOG`):

- ``votes``: every accepted vote, in vote-log order; its canonical bytes are a
  leaf of the vote log, an RFC 6962 tree separate from the wish log
  (``SHA-256(0x00 || data)``, RFC 9162 section 2.1.1). ``(voter_key, nonce)``
  is unique (replay protection);
- ``vote_nodes`` and ``vote_checkpoints``: as ``nodes`` and ``checkpoints`` for
  wishes, so vote-log proofs are O(log n) reads (:mod:`charter.ledger.tree`);
- ``vote_current``: per ``(entry_id, voter_key)`` the index of the vote in force,
  a derived index a reader can rebuild from the log (the newest timestamp wins).

:meth:`VoteStore.append_votes` is one transaction, like a wish append: the
votes, their nodes and the current-vote index move together or not at all.
Here: the row mapping (:func:`vote_values`, :func:`vote_row`) and the
one-current-vote rule (:func:`plan_current`); the SQL is
:class:`~charter.ledger.store.sql.SqlStore`'s.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from charter.errors import EntryError

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
    """The vote half of a ledger store; size, nodes and checkpoints are ``store.log(VOTE_LOG)``."""

    def append_votes(self, batch: VoteBatch) -> list[bool]:
        """Write a batch in one transaction; per vote, whether it replaced a vote in force.

        Raises:
            EntryError: a ``(voter_key, nonce)`` was used before, or a vote is not
                newer than the voter's vote in force on that wish; nothing written.
            LedgerError: indexes or nodes do not continue the vote log.
        """
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


def vote_row(row: Sequence[Any]) -> StoredVote:
    """A StoredVote from a row of ``VOTE_COLUMNS`` (blobs may come as memoryview)."""
    index, leaf, data, entry_id, voter_key, nonce, value, timestamp = row
    return StoredVote(
        int(index),
        bytes(leaf),
        bytes(data),
        str(entry_id),
        str(voter_key),
        str(nonce),
        int(value),
        str(timestamp),
    )


VOTE_COLUMNS = "idx, leaf_hash, data, entry_id, voter_key, nonce, value, timestamp"
