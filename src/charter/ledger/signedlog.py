"""One signed log for every record type: append, nodes, checkpoints, proofs, export, verify.

The wish log (:class:`charter.ledger.log.Ledger`) and the vote log
(:class:`charter.ledger.votelog.VoteLog`) are two record types over this core.
A :class:`SignedLog` keeps records whose canonical bytes are the leaves of an
RFC 6962 Merkle tree (RFC 9162 section 2.1.1: ``SHA-256(0x00 || data)``), stores
every completed perfect-subtree root once (:mod:`charter.ledger.tree`), so that
roots and inclusion/consistency proofs (RFC 9162 sections 2.1.3 and 2.1.4) read
O(log n) stored hashes, and signs checkpoints: C2SP tlog-checkpoint bodies in
C2SP signed notes (:mod:`charter.ledger.checkpoint`), under the log's origin
line (the wish log's origin; the vote log's is that origin + ``/votes``).

The record layer validates records (fields, signatures, its own rules) and
builds its store batch; the core does the rest under one lock::

    log = SignedLog(store.log(WISH_LOG), origin, verifier, key, WISH_RECORD)
    indexes = log.append(entries, lambda batch: store.append(...))

An export is three files a third party checks offline with
:func:`charter.ledger.verify.verify_export`
(no trust in the operator): ``PATH`` holds each record's canonical JSON, one per
line, in log order; :func:`checkpoints_path` every signed checkpoint (one JSON
``{"note"}`` per line); :func:`verifier_path` the log's C2SP verifier key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from charter.errors import LedgerError
from charter.ledger.checkpoint import Checkpoint, LogKey, sign_checkpoint, verify_checkpoint
from charter.ledger.record import RecordType, SignedRecord
from charter.ledger.store.base import LogStorage
from charter.ledger.tree import (
    _gc_paused,
    new_nodes,
    tree_consistency_proof,
    tree_inclusion_proof,
    tree_root,
)
from charter.merkle import leaf_hash

R = TypeVar("R", bound=SignedRecord)
T = TypeVar("T")


@dataclass(frozen=True)
class PreparedBatch:
    """What the core computed for an append, for the record layer's store batch."""

    start: int  # the log's size before the batch: the first record's index
    data: list[bytes]  # each record's canonical bytes (the leaf data)
    leaves: list[bytes]  # each record's leaf hash
    nodes: list[tuple[tuple[int, int], bytes]]  # every node above the leaves it completes


class SignedLog(Generic[R]):
    """A signed, append-only log of records of one type; writes are serialised by one lock.

    Args:
        storage: the log in a store (``store.log(WISH_LOG)``; a ``NodeReader`` too).
        origin: the checkpoint origin line of this log.
        verifier: the log's C2SP verifier key string.
        key: the log key, needed only to sign checkpoints.
        record: how records are parsed and their signatures checked.
        name: what to call the log in messages ("log", "vote log").
    """

    def __init__(
        self,
        storage: LogStorage,
        origin: str,
        verifier: str,
        key: LogKey | None,
        record: RecordType[R],
        name: str = "log",
    ) -> None:
        self.storage = storage
        self.origin = origin
        self.verifier = verifier
        self.key = key
        self.record = record
        self.name = name
        self.lock = threading.RLock()

    @property
    def size(self) -> int:
        return self.storage.size()

    # -- writing -----------------------------------------------------------------------
    def append(self, records: Sequence[R], write: Callable[[PreparedBatch], T]) -> T:
        """Compute leaves and completed nodes for already-validated records, then ``write``.

        ``write`` stores the batch in one store transaction (which re-checks the
        size and the nodes, so a concurrent writer in another process is refused,
        never interleaved). Runs under the log's lock.
        """
        # A batch allocates a few small objects per record (rows, tuples), none in a
        # cycle; with the cyclic collector paused they cost a third less (as in new_nodes).
        with self.lock, _gc_paused():
            start = self.storage.size()
            data = [r.canonical_bytes() for r in records]
            leaves = [leaf_hash(d) for d in data]
            # Level 0 of the tree is the leaves themselves: the store has them already.
            nodes = [node for node in new_nodes(start, leaves, self.storage) if node[0][0]]
            return write(PreparedBatch(start, data, leaves, nodes))

    # -- checkpoints and proofs --------------------------------------------------------
    def root(self, size: int | None = None) -> bytes:
        """RFC 6962 Merkle tree hash of the first ``size`` records (default: all)."""
        size = self.size if size is None else size
        self._check_size(size)
        return tree_root(size, self.storage)

    def checkpoint(self) -> str:
        """Sign and store a checkpoint for the current size (once per size); the note."""
        with self.lock:
            size = self.storage.size()
            existing = self.storage.checkpoint(size)
            if existing is not None:
                return existing
            if self.key is None:
                raise LedgerError("signing a checkpoint needs the log key; pass --key KEYFILE.")
            note = sign_checkpoint(Checkpoint(self.origin, size, self.root(size)), self.key)
            self.storage.save_checkpoint(size, note)
            return note

    def latest_checkpoint(self) -> str | None:
        return self.storage.checkpoint()

    def checkpoints(self) -> list[str]:
        """Every stored checkpoint note, oldest first."""
        return self.storage.checkpoints()

    def verify_checkpoint(self, note: str) -> Checkpoint:
        """Check a note's signature with this log's key and that it names this log."""
        cp = verify_checkpoint(note, self.verifier)
        if cp.origin != self.origin:
            raise LedgerError(f"checkpoint origin {cp.origin!r} is not this log's {self.origin!r}.")
        return cp

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise LedgerError(f"{self.record.noun} {index} is not in a {self.name} of size {size}.")
        return tree_inclusion_proof(index, size, self.storage)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = self.size if new is None else new
        self._check_size(new)
        if not 0 < old <= new:
            raise LedgerError(f"a consistency proof needs 0 < old <= new (got {old}, {new}).")
        return tree_consistency_proof(old, new, self.storage)

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise LedgerError(f"size {size} is beyond the {self.name}'s size {self.size}.")

    # -- reading -----------------------------------------------------------------------
    def get(self, index: int) -> R:
        for data in self.storage.leaf_data(index, index + 1):
            return self.record.parse(data)
        raise LedgerError(f"no {self.record.noun} {index}; the {self.name} has {self.size}.")

    # -- export ------------------------------------------------------------------------
    def export(self, path: str | Path) -> int:
        """Write the records, the checkpoints and the verifier key (see the module docstring).

        Returns:
            The number of records written.
        """
        path = Path(path)
        count = 0
        with path.open("wb") as out:
            for data in self.storage.leaf_data():
                out.write(data + b"\n")
                count += 1
        checkpoints_path(path).write_text(
            "".join(json.dumps({"note": n}) + "\n" for n in self.checkpoints()), encoding="utf-8"
        )
        verifier_path(path).write_text(self.verifier + "\n", encoding="utf-8")
        return count


def checkpoints_path(export: str | Path) -> Path:
    """Where an export puts the signed checkpoints beside ``export``."""
    return Path(f"{export}.checkpoints.jsonl")


def verifier_path(export: str | Path) -> Path:
    """Where an export puts the log's verifier key beside ``export``."""
    return Path(f"{export}.verifier")
