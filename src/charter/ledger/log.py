"""The wish ledger: an append-only, verifiable log of signed wishes (the facade).

The wish record layer over the generic signed log (:mod:`charter.ledger.signedlog`,
RFC 6962 / RFC 9162 trees from stored nodes, C2SP signed checkpoints): wishes
(:mod:`charter.ledger.entry`) are validated here, parents must exist, and each
append debits stake (:mod:`charter.ledger.stake`). One :meth:`Ledger.append`
call is one store transaction: the entries, the tree nodes they complete, their
nonces and the stake debits are written together or not at all, so an
acknowledged entry is durable and a refused batch leaves no trace.

Anyone can check the log without trusting its operator: every entry's leaf is
the SHA-256 of ``0x00 || canonical bytes``; a checkpoint signs the tree size
and root; inclusion and consistency proofs tie entries and checkpoints
together (see :mod:`charter.ledger.verify` for checking an exported log).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from charter.errors import CharterError, EntryError, LedgerError
from charter.ledger.checkpoint import Checkpoint, LogKey
from charter.ledger.entry import (
    WISH_RECORD,
    Entry,
    EntryPolicy,
    parse_entry,
    parse_stored_entry,
    validate_entry,
)
from charter.ledger.signedlog import (
    PreparedBatch,
    SignedLog,
    checkpoints_path,
    verifier_path,
)
from charter.ledger.stake import LocalCredits, StakeAccounting
from charter.ledger.store import WISH_LOG, AppendBatch, StoredEntry, open_store

__all__ = [
    "WISH_RECORD",
    "ImportResult",
    "Ledger",
    "checkpoints_path",
    "entry_json",
    "verifier_path",
]

_ORIGIN, _VERIFIER, _MIN_FEE = "origin", "verifier", "min_fee"


class Ledger:
    """A wish ledger in a store; writes are serialised by one lock."""

    def __init__(self, store, key: LogKey | None, stake: StakeAccounting | None = None) -> None:
        self._store = store
        self._key = key
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
        self.log: SignedLog[Entry] = SignedLog(
            store.log(WISH_LOG), self.origin, self.verifier, key, WISH_RECORD
        )

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

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        """Stored entries ``start`` to ``stop`` (default: the end), in log order."""
        return iter(self._store.entries(start, self.size if stop is None else stop))

    # -- writing -----------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self.log.size

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
        policy = self.policy if check_clock else replace(self.policy, max_clock_skew_s=None)
        for i, entry in enumerate(entries):
            try:
                validate_entry(entry, policy)
            except EntryError as exc:
                raise type(exc)(f"entry {i}: {exc}") from None
        return self._append_valid(entries)

    def _append_valid(self, entries: Sequence[Entry]) -> list[int]:
        """Append entries that already passed ``validate_entry`` (one store transaction)."""
        if not entries:
            return []
        ids = [entry.id for entry in entries]

        def write(batch: PreparedBatch) -> list[int]:
            stored = [
                StoredEntry(batch.start + i, ids[i], data, leaf, e.timestamp, e.author_key)
                for i, (e, data, leaf) in enumerate(
                    zip(entries, batch.data, batch.leaves, strict=True)
                )
            ]
            nonces = [(e.author_key, e.nonce) for e in entries]
            self._store.append(AppendBatch(stored, batch.nodes, nonces, debits))
            return [s.index for s in stored]

        with self.log.lock:
            self._check_parents(entries, ids)
            debits = self.stake.debits(entries)
            return self.log.append(entries, write)

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

    # -- checkpoints and proofs (the signed-log core) ----------------------------------
    def root(self, size: int | None = None) -> bytes:
        return self.log.root(size)

    def checkpoint(self) -> str:
        """Sign and store a checkpoint for the current size; return the signed note."""
        if self._key is None:
            raise LedgerError("signing a checkpoint needs the log key; pass --key KEYFILE.")
        return self.log.checkpoint()

    def latest_checkpoint(self) -> str | None:
        return self.log.latest_checkpoint()

    def checkpoints(self) -> list[str]:
        """Every stored checkpoint note, oldest first."""
        return self.log.checkpoints()

    def verify_checkpoint(self, note: str) -> Checkpoint:
        """Check a note's signature with this log's key and that it matches this log."""
        return self.log.verify_checkpoint(note)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return self.log.inclusion_proof(index, size)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        return self.log.consistency_proof(old, new)

    # -- reading -----------------------------------------------------------------------
    def get(self, index: int) -> Entry:
        return self.log.get(index)

    def find(self, entry_id: str) -> int | None:
        return self._store.index_of(entry_id)

    def search(self, text: str = "", limit: int = 50, offset: int = 0) -> list[tuple[int, Entry]]:
        found = self._store.search(text, limit, offset)
        return [(s.index, parse_stored_entry(s.data)) for s in found]

    # -- export / import ---------------------------------------------------------------
    def export(self, path: str | Path) -> int:
        """Write all a third party needs to verify the log offline; return the entry count.

        ``path`` gets every entry's canonical JSON, one per line, in log order;
        :func:`checkpoints_path` every signed checkpoint (one JSON ``{"note"}``
        per line); :func:`verifier_path` the log's public verifier key.
        """
        return self.log.export(path)

    def import_(self, path: str | Path, batch_size: int = 1000) -> ImportResult:
        """Append the entries of an exported (or bulk) JSONL file, in batches; resumable.

        An entry already in the ledger (same id) is skipped, so rerunning an
        import that was killed appends only what is missing and duplicates
        nothing. Each line is checked before its batch is written (fields,
        sizes, fee, signature; timestamps are not held to the clock, since
        the entries were signed earlier), and a bad line is named by number.
        Stake is charged as for any append.
        """
        path = Path(path)
        if not path.is_file():
            raise LedgerError(f"{path}: no such file to import; give a JSONL of signed entries")
        policy = replace(self.policy, max_clock_skew_s=None)
        appended = skipped = 0
        batch: list[tuple[int, Entry]] = []

        def flush() -> None:
            nonlocal appended, skipped, batch
            seen = set(self._store.indexes_of([entry.id for _, entry in batch]))
            fresh = []
            for number, entry in batch:
                if entry.id in seen:
                    skipped += 1  # written by an earlier, interrupted run (or repeated)
                else:
                    seen.add(entry.id)
                    fresh.append((number, entry))
            if fresh:
                try:
                    # Each line was validated as it was read: write without checking again.
                    appended += len(self._append_valid([e for _, e in fresh]))
                except CharterError as exc:
                    lines = f"{fresh[0][0]}..{fresh[-1][0]}"
                    raise type(exc)(f"{path}: lines {lines}: {exc}") from None
            batch = []

        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    entry = parse_entry(line.rstrip(b"\r\n"))
                    validate_entry(entry, policy)
                except CharterError as exc:
                    raise type(exc)(f"{path}:{number}: {exc}") from None
                batch.append((number, entry))
                if len(batch) >= batch_size:
                    flush()
        flush()
        return ImportResult(appended, skipped)


@dataclass(frozen=True)
class ImportResult:
    """What :meth:`Ledger.import_` did: entries appended, and entries already present."""

    appended: int
    skipped: int


def entry_json(entry: Entry, index: int | None = None) -> dict:
    """A JSON-ready view of an entry (for the CLI and the API)."""
    data = json.loads(entry.canonical_bytes())
    data["id"] = entry.id
    if index is not None:
        data["index"] = index
    return data
