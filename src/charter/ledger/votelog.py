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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from charter.errors import EntryError, LedgerError, VerificationError
from charter.ledger.checkpoint import LogKey
from charter.ledger.record import RecordType
from charter.ledger.signedlog import PreparedBatch, SignedLog
from charter.ledger.store import VOTE_LOG
from charter.ledger.store.votes import StoredVote, VoteBatch
from charter.ledger.verify import verify_records
from charter.ledger.votes import (
    VOTE_ORIGIN_SUFFIX,
    Tally,
    Vote,
    check_vote,
    current_votes,
    parse_vote,
    verify_vote_signature,
)

if TYPE_CHECKING:
    from charter.ledger.log import Ledger

VOTE_RECORD = RecordType("vote", parse_vote, verify_vote_signature)  # votes in a signed log


@dataclass(frozen=True)
class VoteReceipt:
    """What appending one vote did."""

    index: int  # position in the vote log
    vote_id: str  # hex leaf hash of the vote's canonical bytes
    replaced: bool  # True if it superseded the voter's earlier vote on the wish


class VoteLog:
    """Votes on the wishes of one ledger; writes are serialised by one lock.

    The vote record layer over :class:`~charter.ledger.signedlog.SignedLog`:
    checks votes (origin, clock, signature, the wish exists) and keeps the vote
    in force per voter and wish; the core does leaves, nodes, checkpoints
    (origin ``<origin>/votes``), proofs and export.

    Args:
        store: the ledger's store (``store.log(VOTE_LOG)`` is the vote log).
        origin: the wish log's origin; votes must name it.
        verifier: the log's C2SP verifier key string.
        key: the log key, needed only to sign vote-log checkpoints.
        max_clock_skew_s: how far a vote's timestamp may be from now at intake.
    """

    def __init__(
        self,
        store,
        origin: str,
        verifier: str,
        key: LogKey | None = None,
        max_clock_skew_s: float | None = 600,
    ) -> None:
        self._store = store
        self._key = key
        self.origin = origin
        self.log_origin = origin + VOTE_ORIGIN_SUFFIX  # the vote log's checkpoint origin
        self.verifier = verifier
        self.max_clock_skew_s = max_clock_skew_s
        self.log: SignedLog[Vote] = SignedLog(
            store.log(VOTE_LOG), self.log_origin, verifier, key, VOTE_RECORD, "vote log"
        )

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
        return self.log.size

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
                    if self._store.index_of(vote.entry_id) is None:
                        raise EntryError(
                            f"field entry_id: no wish {vote.entry_id[:16]}… is in this log; "
                            "vote on the id of an existing wish."
                        )
                    known.add(vote.entry_id)
            except EntryError as exc:
                raise EntryError(f"vote {i}: {exc}" if len(votes) > 1 else str(exc)) from None

        def write(batch: PreparedBatch) -> list[VoteReceipt]:
            stored = [
                StoredVote(
                    batch.start + i,
                    leaf,
                    data,
                    v.entry_id,
                    v.voter_key,
                    v.nonce,
                    v.value,
                    v.timestamp,
                )
                for i, (v, data, leaf) in enumerate(
                    zip(votes, batch.data, batch.leaves, strict=True)
                )
            ]
            replaced = self._store.append_votes(VoteBatch(stored, batch.nodes))
            return [
                VoteReceipt(s.index, s.vote_id, r) for s, r in zip(stored, replaced, strict=True)
            ]

        return self.log.append(votes, write)

    # -- reading -----------------------------------------------------------------------
    def get(self, index: int) -> Vote:
        return self.log.get(index)

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

    # -- checkpoints and proofs (the signed-log core) ----------------------------------
    def root(self, size: int | None = None) -> bytes:
        return self.log.root(size)

    def checkpoint(self) -> str:
        """A signed checkpoint of the vote log at its current size (signed now if new).

        Without the log key, the newest stored checkpoint is returned instead.
        """
        if self._key is None:
            with self.log.lock:
                note = self.log.storage.checkpoint(self.size) or self.log.latest_checkpoint()
            if note is None:
                raise LedgerError("signing a vote checkpoint needs the log key; pass --key.")
            return note
        return self.log.checkpoint()

    def checkpoints(self) -> list[str]:
        return self.log.checkpoints()

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return self.log.inclusion_proof(index, size)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        return self.log.consistency_proof(old, new)

    # -- export ------------------------------------------------------------------------
    def export(self, path: str | Path) -> int:
        """Write the vote log (canonical JSON per line), its checkpoints and the verifier.

        Signs a checkpoint at the current size first when the log key is at hand.
        Checkpoints go to ``<path>.checkpoints.jsonl`` and the verifier key to
        ``<path>.verifier``, as :meth:`Ledger.export` does for wishes.
        """
        if self._key is not None:
            self.checkpoint()
        return self.log.export(path)


def verify_vote_export(
    path: str | Path,
    checkpoints: Iterable[str],
    verifier: str,
    entry_ids: Iterable[str] | None = None,
    *,
    allow_unverified_tail: bool = False,
) -> list[Vote]:
    """Check an exported vote log against its signed checkpoints; return the votes in force.

    The signed-log checks (:func:`~charter.ledger.verify.verify_export`: each
    vote's canonical form and signature, every checkpoint signed by ``verifier``
    with origin ``.../votes`` matching the RFC 6962 root of the export's prefix of
    its size, the export not shorter than the newest checkpoint), then the vote
    rules the server enforces: each voter's nonces are unique, each voter's votes
    on a wish have increasing timestamps, and, given ``entry_ids`` (e.g. from a
    verified wish export), every vote names one.

    Raises:
        VerificationError: the first problem found, naming the vote.
    """
    wishes = None if entry_ids is None else set(entry_ids)
    nonces: set[tuple[str, str]] = set()

    def check(index: int, vote: Vote) -> None:
        if (vote.voter_key, vote.nonce) in nonces:
            raise VerificationError(f"vote {index}: repeats a nonce of its voter (a replay)")
        if wishes is not None and vote.entry_id not in wishes:
            raise VerificationError(f"vote {index}: names wish {vote.entry_id}, not in the log")
        nonces.add((vote.voter_key, vote.nonce))

    votes = verify_records(
        path,
        checkpoints,
        verifier,
        VOTE_RECORD,
        VOTE_ORIGIN_SUFFIX,
        check,
        allow_unverified_tail=allow_unverified_tail,
    )
    _check_order(votes)
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
