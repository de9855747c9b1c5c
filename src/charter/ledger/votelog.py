"""The vote log: accepted votes in an RFC 6962 log of their own, beside the wish log.

Votes (:mod:`charter.ledger.votes`) are mutable opinions: a voter may change
or withdraw a vote, so votes are not entries of the wish log, whose leaves must
stay meaningful forever. Instead every accepted vote becomes a leaf of a
second Merkle tree (RFC 6962 section 2.1 hashing, RFC 9162 proofs from stored
nodes via :mod:`charter.ledger.tree`) with signed checkpoints under the origin
``<wish log origin>/votes``, signed by the same log key. The tally is a pure
function of that log (per voter and wish, the newest vote), so a reader who
holds the log's verifier key can recompute it from an export
(:func:`verify_vote_export`) without trusting the operator's counts.

Trust model, honestly: the operator can still *refuse* votes (censor) or
delay them; it cannot forge a vote (voters sign), alter or drop an accepted
vote after a checkpoint covers it, or replay a vote (nonces are single-use).
Votes are free (no stake): the server rate-limits them per voter key and per
IP. A key costs nothing to make, so vote counts are not Sybil-resistant;
analyses should treat them as signals weighed by group structure (Polis,
Community Notes), never as stake-weighted ballots.

Use::

    votes = VoteLog.for_ledger(ledger)
    votes.append([sign_vote(entry_id, +1, voter_key, ledger.origin)])
    votes.checkpoint(); votes.export("votes.jsonl")
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from charter.errors import EntryError, LedgerError, VerificationError
from charter.ledger.checkpoint import Checkpoint, LogKey, sign_checkpoint, verify_checkpoint
from charter.ledger.store.votes import StoredVote, VoteBatch, VoteStore
from charter.ledger.tree import new_nodes, tree_consistency_proof, tree_inclusion_proof, tree_root
from charter.ledger.votes import (
    VOTE_ORIGIN_SUFFIX,
    Tally,
    Vote,
    check_vote,
    current_votes,
    parse_vote,
    verify_vote_signature,
)
from charter.merkle import leaf_hash, root_hash

if TYPE_CHECKING:
    from charter.ledger.log import Ledger


@dataclass(frozen=True)
class VoteReceipt:
    """What appending one vote did."""

    index: int  # position in the vote log
    vote_id: str  # hex leaf hash of the vote's canonical bytes
    replaced: bool  # True if it superseded the voter's earlier vote on the wish


class _Nodes:
    """The vote log's tree nodes as a :class:`~charter.ledger.tree.NodeReader`."""

    def __init__(self, store: VoteStore) -> None:
        self._store = store

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return self._store.get_vote_nodes(keys)


class VoteLog:
    """Votes on the wishes of one ledger; writes are serialised by one lock.

    Args:
        store: the ledger's store (both backends implement :class:`VoteStore`).
        origin: the wish log's origin; votes must name it.
        verifier: the log's C2SP verifier key string.
        key: the log key, needed only to sign vote-log checkpoints.
        max_clock_skew_s: how far a vote's timestamp may be from now at intake.
    """

    def __init__(
        self,
        store: VoteStore,
        origin: str,
        verifier: str,
        key: LogKey | None = None,
        max_clock_skew_s: float | None = 600,
    ) -> None:
        self._store = store
        self._nodes = _Nodes(store)
        self._key = key
        self._lock = threading.RLock()
        self.origin = origin
        self.log_origin = origin + VOTE_ORIGIN_SUFFIX  # the vote log's checkpoint origin
        self.verifier = verifier
        self.max_clock_skew_s = max_clock_skew_s

    @classmethod
    def for_ledger(cls, ledger: Ledger, max_clock_skew_s: float | None = 600) -> VoteLog:
        """The vote log stored beside an open :class:`~charter.ledger.log.Ledger`."""
        # Votes share the ledger's database and log key by design.
        return cls(
            ledger.store,
            ledger.origin,
            ledger.verifier,
            ledger.key,
            max_clock_skew_s,
        )

    @property
    def size(self) -> int:
        return self._store.vote_size()

    # -- writing -----------------------------------------------------------------------
    def append(self, votes: Sequence[Vote], *, check_clock: bool = True) -> list[VoteReceipt]:
        """Check and append votes atomically; any refusal raises and writes nothing.

        Raises:
            EntryError: a vote is for another log, an unknown wish, too far from the
                clock, a replay (nonce used), or not newer than the voter's vote in force.
            SignatureError: a vote's signature does not verify.
        """
        if not votes:
            return []
        skew = self.max_clock_skew_s if check_clock else None
        known: set[str] = set()
        for i, vote in enumerate(votes):
            try:
                check_vote(vote, self.origin, skew)
                if vote.entry_id not in known:
                    if self._store.index_of(vote.entry_id) is None:  # type: ignore[attr-defined]
                        raise EntryError(
                            f"field entry_id: no wish {vote.entry_id[:16]}… is in this log; "
                            "vote on the id of an existing wish."
                        )
                    known.add(vote.entry_id)
            except EntryError as exc:
                raise EntryError(f"vote {i}: {exc}" if len(votes) > 1 else str(exc)) from None
        with self._lock:
            start = self._store.vote_size()
            stored = [
                StoredVote(
                    start + i,
                    leaf_hash(v.canonical_bytes()),
                    v.canonical_bytes(),
                    v.entry_id,
                    v.voter_key,
                    v.nonce,
                    v.value,
                    v.timestamp,
                )
                for i, v in enumerate(votes)
            ]
            nodes = new_nodes(start, [s.leaf_hash for s in stored], self._nodes)
            replaced = self._store.append_votes(VoteBatch(stored, nodes))
        return [VoteReceipt(s.index, s.vote_id, r) for s, r in zip(stored, replaced, strict=True)]

    # -- reading -----------------------------------------------------------------------
    def get(self, index: int) -> Vote:
        for stored in self._store.votes(index, index + 1):
            return parse_vote(stored.data)
        raise LedgerError(f"no vote {index}; the vote log has {self.size}.")

    def page(self, since: int = 0, limit: int = 100) -> list[tuple[int, Vote]]:
        """Votes ``since <= index < since + limit`` in vote-log order (superseded ones too)."""
        if since < 0 or limit < 1:
            raise LedgerError("since must be 0 or more and limit at least 1.")
        return [(s.index, parse_vote(s.data)) for s in self._store.votes(since, since + limit)]

    def used_nonces(self) -> set[tuple[str, str]]:
        """Every ``(voter_key, nonce)`` in the vote log (to skip votes already added)."""
        return {(s.voter_key, s.nonce) for s in self._store.votes()}

    def votes_on(self, entry_id: str) -> list[tuple[int, Vote]]:
        """The votes in force on one wish (withdrawals included), in vote-log order."""
        return [(s.index, parse_vote(s.data)) for s in self._store.current_votes(entry_id)]

    def tally(self, entry_id: str) -> Tally:
        return self.tallies([entry_id]).get(entry_id, Tally())

    def tallies(self, entry_ids: Sequence[str]) -> dict[str, Tally]:
        """Tallies of the votes in force; wishes without votes are left out."""
        counts = self._store.vote_tallies(entry_ids) if entry_ids else {}
        return {e: Tally(up, down) for e, (up, down) in counts.items()}

    # -- checkpoints and proofs --------------------------------------------------------
    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        self._check_size(size)
        return tree_root(size, self._nodes)

    def checkpoint(self) -> str:
        """A signed checkpoint of the vote log at its current size (signed now if new).

        Without the log key, the newest stored checkpoint is returned instead.
        """
        with self._lock:
            size = self.size
            existing = self._store.vote_checkpoint(size)
            if existing is not None:
                return existing
            if self._key is None:
                latest = self._store.vote_checkpoint()
                if latest is None:
                    raise LedgerError("signing a vote checkpoint needs the log key; pass --key.")
                return latest
            note = sign_checkpoint(Checkpoint(self.log_origin, size, self.root(size)), self._key)
            self._store.save_vote_checkpoint(size, note)
            return note

    def checkpoints(self) -> list[str]:
        return self._store.vote_checkpoints()

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise LedgerError(f"vote {index} is not in a vote log of size {size}.")
        return tree_inclusion_proof(index, size, self._nodes)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = self.size if new is None else new
        self._check_size(new)
        if not 0 < old <= new:
            raise LedgerError(f"a consistency proof needs 0 < old <= new (got {old}, {new}).")
        return tree_consistency_proof(old, new, self._nodes)

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise LedgerError(f"size {size} is beyond the vote log's size {self.size}.")

    # -- export ------------------------------------------------------------------------
    def export(self, path: str | Path) -> int:
        """Write the vote log (canonical JSON per line), its checkpoints and the verifier.

        Signs a checkpoint at the current size first when the log key is at hand.
        Checkpoints go to ``<path>.checkpoints.jsonl`` and the verifier key to
        ``<path>.verifier``, as :meth:`Ledger.export` does for wishes.
        """
        path = Path(path)
        if self._key is not None:
            self.checkpoint()
        count = 0
        with path.open("wb") as out:
            for stored in self._store.votes():
                out.write(stored.data + b"\n")
                count += 1
        Path(f"{path}.checkpoints.jsonl").write_text(
            "".join(json.dumps({"note": n}) + "\n" for n in self.checkpoints()), encoding="utf-8"
        )
        Path(f"{path}.verifier").write_text(self.verifier + "\n", encoding="utf-8")
        return count


def verify_vote_export(
    path: str | Path,
    checkpoints: Iterable[str],
    verifier: str,
    entry_ids: Iterable[str] | None = None,
) -> list[Vote]:
    """Check an exported vote log against its signed checkpoints; return the votes in force.

    Checks each vote's canonical form and signature, that every checkpoint
    (signed by ``verifier``, origin ``.../votes``) matches the RFC 6962 root of
    the export's prefix of its size, that the export is not shorter than the
    newest checkpoint, that each voter's votes on a wish have increasing
    timestamps and unique nonces (the rules the server enforces), and, given
    ``entry_ids`` (e.g. from a verified wish export), that every vote names one.

    Raises:
        VerificationError: the first problem found, naming the vote.
    """
    notes = [verify_checkpoint(note, verifier) for note in checkpoints]
    for cp in notes:
        if not cp.origin.endswith(VOTE_ORIGIN_SUFFIX):
            raise VerificationError(f"checkpoint origin {cp.origin!r} is not a vote log's")
    wishes = None if entry_ids is None else set(entry_ids)
    votes: list[Vote] = []
    leaves: list[bytes] = []
    nonces: set[tuple[str, str]] = set()
    with Path(path).open("rb") as handle:
        for index, line in enumerate(handle):
            data = line.rstrip(b"\n")
            try:
                vote = parse_vote(data)
            except EntryError as exc:
                raise VerificationError(f"vote {index}: {exc}") from None
            if vote.canonical_bytes() != data:
                raise VerificationError(f"vote {index}: not in canonical form (bytes changed)")
            verify_vote_signature(vote)
            if (vote.voter_key, vote.nonce) in nonces:
                raise VerificationError(f"vote {index}: repeats a nonce of its voter (a replay)")
            if wishes is not None and vote.entry_id not in wishes:
                raise VerificationError(f"vote {index}: names wish {vote.entry_id}, not in the log")
            nonces.add((vote.voter_key, vote.nonce))
            votes.append(vote)
            leaves.append(leaf_hash(data))
    _check_order(votes)
    for cp in notes:
        if cp.size > len(leaves):
            raise VerificationError(
                f"the export has {len(leaves)} votes but a checkpoint covers {cp.size} "
                "(votes were removed)"
            )
        computed = root_hash(leaves[: cp.size])
        if computed != cp.root:
            raise VerificationError(
                f"the first {cp.size} votes do not give the checkpoint's root (votes altered, "
                "removed or reordered)",
                expected=cp.root.hex(),
                computed=computed.hex(),
            )
    return current_votes(votes)


def _check_order(votes: Sequence[Vote]) -> None:
    latest: dict[tuple[str, str], str] = {}
    for index, vote in enumerate(votes):
        pair = (vote.voter_key, vote.entry_id)
        if pair in latest and vote.timestamp <= latest[pair]:
            raise VerificationError(
                f"vote {index}: not newer than the same voter's earlier vote on that wish "
                "(the log would have refused it)"
            )
        latest[pair] = vote.timestamp
