"""The wish ledger: an append-only, verifiable log of signed wishes (the facade).

Ties together the Merkle tree (RFC 6962 / RFC 9162, :mod:`charter.ledger.tree`),
signed entries (:mod:`charter.ledger.entry`), C2SP signed checkpoints
(:mod:`charter.ledger.checkpoint`), a store (SQLite or PostgreSQL) and stake
accounting. One :meth:`Ledger.append` call is one store transaction: the
entries, the tree nodes they complete, their nonces and the stake debits are
written together or not at all, so an acknowledged entry is durable and a
refused batch leaves no trace.

Anyone can check the log without trusting its operator: every entry's leaf is
the SHA-256 of ``0x00 || canonical bytes``; a checkpoint signs the tree size
and root; inclusion and consistency proofs tie entries and checkpoints
together (see :mod:`charter.ledger.verify` for checking an exported log).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from charter.errors import EntryError, LedgerError
from charter.ledger.checkpoint import Checkpoint, LogKey, sign_checkpoint, verify_checkpoint
from charter.ledger.entry import Entry, EntryPolicy, parse_entry, validate_entry
from charter.ledger.stake import LocalCredits, StakeAccounting
from charter.ledger.store import AppendBatch, StoredEntry, open_store
from charter.ledger.tree import new_nodes as completed_nodes
from charter.ledger.tree import (
    tree_consistency_proof,
    tree_inclusion_proof,
    tree_root,
)
from charter.merkle import leaf_hash

_ORIGIN, _VERIFIER, _MIN_FEE = "origin", "verifier", "min_fee"


class Ledger:
    """A wish ledger in a store; writes are serialised by one lock."""

    def __init__(self, store, key: LogKey | None, stake: StakeAccounting | None = None) -> None:
        self._store = store
        self._key = key
        self._lock = threading.RLock()
        self.origin = store.get_meta(_ORIGIN) or ""
        self.verifier = store.get_meta(_VERIFIER) or ""
        if not self.origin or not self.verifier:
            raise LedgerError(
                "this store holds no ledger (no origin or key); create one with "
                "`charter ledger init`."
            )
        if key is not None and key.verifier_string() != self.verifier:
            raise LedgerError(
                "the given log key is not this ledger's key; pass the key file made by "
                "`charter ledger init` for this ledger."
            )
        self.policy = EntryPolicy(min_fee=int(store.get_meta(_MIN_FEE) or 1))
        self.stake = stake or LocalCredits()

    # -- lifecycle ---------------------------------------------------------------------
    @classmethod
    def create(cls, location: str, origin: str, key: LogKey, min_fee: int = 1) -> Ledger:
        """Create an empty ledger at ``location`` (SQLite path or PostgreSQL URL)."""
        if not origin or "\n" in origin:
            raise LedgerError("origin must be one non-empty line, e.g. 'example.org/wishes'.")
        if min_fee < 0:
            raise LedgerError("min_fee must be zero or more credits.")
        store = open_store(location)
        if store.get_meta(_ORIGIN):
            store.close()
            raise LedgerError(f"{location} already holds a ledger; open it instead.")
        store.set_meta(_ORIGIN, origin)
        store.set_meta(_VERIFIER, key.verifier_string())
        store.set_meta(_MIN_FEE, str(min_fee))
        ledger = cls(store, key)
        ledger.checkpoint()  # the empty tree's checkpoint: size 0
        return ledger

    @classmethod
    def open(
        cls, location: str, key: LogKey | None = None, stake: StakeAccounting | None = None
    ) -> Ledger:
        """Open an existing ledger; ``key`` is needed only to sign checkpoints."""
        return cls(open_store(location), key, stake)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def store(self):
        """The store under the ledger (companion logs, such as votes, share it)."""
        return self._store

    @property
    def key(self) -> LogKey | None:
        """The log key, when the ledger was opened with one (needed to sign)."""
        return self._key

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[Entry]:
        """Entries ``start`` to ``stop`` (default: the end), in log order."""
        return iter(self._store.entries(start, self.size if stop is None else stop))

    # -- writing -----------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self._store.size()

    def append(self, entries: Sequence[Entry], *, check_clock: bool = True) -> list[int]:
        """Validate and append entries atomically; return their indexes.

        Checks every entry (fields, sizes, fee, signature) and that each parent
        exists (in the log or earlier in the batch); the store refuses a reused
        nonce, a repeated entry or missing stake inside the same transaction.
        Any failure raises and nothing is written.

        Args:
            entries: signed entries, in the order to append them.
            check_clock: refuse timestamps far from now (off for imports).
        """
        if not entries:
            return []
        policy = self.policy if check_clock else replace(self.policy, max_clock_skew_s=None)
        ids = []
        for i, entry in enumerate(entries):
            try:
                validate_entry(entry, policy)
            except EntryError as exc:
                raise type(exc)(f"entry {i}: {exc}") from None
            ids.append(entry.id)
        with self._lock:
            self._check_parents(entries, ids)
            debits = self.stake.debits(entries)
            start = self._store.size()
            leaves = [leaf_hash(e.canonical_bytes()) for e in entries]
            stored = [
                StoredEntry(
                    index=start + i,
                    entry_id=ids[i],
                    data=e.canonical_bytes(),
                    leaf_hash=leaves[i],
                    timestamp=e.timestamp,
                    author_key=e.author_key,
                )
                for i, e in enumerate(entries)
            ]
            batch = AppendBatch(
                entries=stored,
                nodes=completed_nodes(start, leaves, self._store),
                nonces=[(e.author_key, e.nonce) for e in entries],
                debits=debits,
            )
            self._store.append(batch)
            return [s.index for s in stored]

    def _check_parents(self, entries: Sequence[Entry], ids: list[str]) -> None:
        # Nonce replays and repeated entries are refused by the store itself, inside
        # the append transaction (unique keys); parents are the one rule it cannot see.
        earlier: set[str] = set()
        for entry, entry_id in zip(entries, ids, strict=True):
            parent = entry.wish.parent
            if parent and parent not in earlier and self._store.index_of(parent) is None:
                raise EntryError(
                    f"field wish.parent: no entry {parent[:16]}… in this log; copy the id "
                    "of an existing wish or leave it empty."
                )
            earlier.add(entry_id)

    def grant(self, key: str, amount: int) -> None:
        """Operator: add ``amount`` credits to an author key's account."""
        if amount <= 0:
            raise LedgerError("grant a positive number of credits.")
        self._store.grant(key, amount)

    def balance(self, key: str) -> int:
        return self._store.balance(key)

    # -- checkpoints and proofs --------------------------------------------------------
    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        self._check_size(size)
        return tree_root(size, self._store)

    def checkpoint(self) -> str:
        """Sign and store a checkpoint for the current size; return the signed note."""
        if self._key is None:
            raise LedgerError("signing a checkpoint needs the log key; pass --key KEYFILE.")
        with self._lock:
            size = self._store.size()
            existing = self._store.checkpoint(size)
            if existing is not None:
                return existing
            note = sign_checkpoint(Checkpoint(self.origin, size, self.root(size)), self._key)
            self._store.save_checkpoint(size, note)
            return note

    def latest_checkpoint(self) -> str | None:
        return self._store.checkpoint()

    def checkpoints(self) -> list[str]:
        """Every stored checkpoint note, oldest first."""
        return self._store.checkpoints()

    def verify_checkpoint(self, note: str) -> Checkpoint:
        """Check a note's signature with this log's key and that it matches this log."""
        cp = verify_checkpoint(note, self.verifier)
        if cp.origin != self.origin:
            raise LedgerError(f"checkpoint origin {cp.origin!r} is not this log's {self.origin!r}.")
        return cp

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise LedgerError(f"index {index} is not in a tree of size {size}.")
        return tree_inclusion_proof(index, size, self._store)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = self.size if new is None else new
        self._check_size(new)
        if not 0 < old <= new:
            raise LedgerError(f"a consistency proof needs 0 < old <= new (got {old}, {new}).")
        return tree_consistency_proof(old, new, self._store)

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise LedgerError(f"size {size} is beyond the log's size {self.size}.")

    # -- reading -----------------------------------------------------------------------
    def get(self, index: int) -> Entry:
        for stored in self._store.entries(index, index + 1):
            return parse_entry(stored.data)
        raise LedgerError(f"no entry {index}; the log has {self.size}.")

    def find(self, entry_id: str) -> int | None:
        return self._store.index_of(entry_id)

    def search(self, text: str = "", limit: int = 50, offset: int = 0) -> list[tuple[int, Entry]]:
        return [(s.index, parse_entry(s.data)) for s in self._store.search(text, limit, offset)]

    # -- export / import ---------------------------------------------------------------
    def export(self, path: str | Path) -> int:
        """Write all a third party needs to verify the log offline; return the entry count.

        ``path`` gets every entry's canonical JSON, one per line, in log order;
        :func:`checkpoints_path` every signed checkpoint (one JSON ``{"note"}``
        per line); :func:`verifier_path` the log's public verifier key.
        """
        path = Path(path)
        count = 0
        with path.open("wb") as out:
            for stored in self._store.entries():
                out.write(stored.data + b"\n")
                count += 1
        checkpoints_path(path).write_text(
            "".join(json.dumps({"note": n}) + "\n" for n in self.checkpoints()),
            encoding="utf-8",
        )
        verifier_path(path).write_text(self.verifier + "\n", encoding="utf-8")
        return count

    def import_(self, path: str | Path, batch_size: int = 1000) -> int:
        """Append the entries of an exported (or bulk) JSONL file, in batches.

        Stake is charged as for any append. Timestamps are not checked against
        the clock (the entries were signed earlier).
        """
        count, batch = 0, []
        with Path(path).open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    batch.append(parse_entry(line.rstrip(b"\n")))
                except EntryError as exc:
                    raise EntryError(f"{path}:{number}: {exc}") from None
                if len(batch) >= batch_size:
                    count += len(self.append(batch, check_clock=False))
                    batch = []
        if batch:
            count += len(self.append(batch, check_clock=False))
        return count


def checkpoints_path(export: str | Path) -> Path:
    """Where :meth:`Ledger.export` puts the signed checkpoints beside an export."""
    return Path(f"{export}.checkpoints.jsonl")


def verifier_path(export: str | Path) -> Path:
    """Where :meth:`Ledger.export` puts the log's verifier key beside an export."""
    return Path(f"{export}.verifier")


def entry_json(entry: Entry, index: int | None = None) -> dict:
    """A JSON-ready view of an entry (for the CLI and the API)."""
    data = json.loads(entry.canonical_bytes())
    data["id"] = entry.id
    if index is not None:
        data["index"] = index
    return data
