"""The ledger's storage contract, the checks every backend shares, and ``open_store``.

A store keeps what the wish ledger needs to answer any question without
rebuilding anything:

- the entries, in log order: each one's canonical bytes are a Merkle leaf
  (RFC 6962 section 2.1, RFC 9162 section 2.1.1: ``SHA-256(0x00 || data)``);
- the tree nodes: the root of every complete perfect subtree, keyed
  ``(level, index)`` (see :mod:`charter.ledger.tree`), so that inclusion and
  consistency proofs (RFC 9162 sections 2.1.3 and 2.1.4) read O(log n) stored
  hashes. Level 0 is the leaf hashes themselves, which the entries already hold,
  so backends answer level 0 from the entries and store only levels 1 and up;
- the nonces already used per author key (replay protection);
- credit accounts, debited for fee and burn (:mod:`charter.ledger.stake`);
- signed checkpoints (C2SP tlog-checkpoint notes) and a few metadata strings;
- the vote log: endorse/oppose votes on wishes in an RFC 6962 log of their own
  (:mod:`charter.ledger.store.votes`), in the same table layout as the entries.

Every :meth:`LedgerStore.append` is one transaction: entries, nodes, nonces and
debits are written together or not at all. An acknowledged append is durable
and a refused one leaves no trace.

One implementation serves both databases: :class:`~charter.ledger.store.sql.SqlStore`
over a dialect (:mod:`charter.ledger.store.schema`). Open a store with
:func:`open_store`: a file path gives SQLite (:mod:`charter.ledger.store.sqlite`),
a ``postgresql://`` URL gives PostgreSQL (:mod:`charter.ledger.store.postgres`,
needs ``charter[postgres]``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

from charter._util.sources import is_postgres
from charter.errors import EntryError, LedgerError, StakeError, missing_extra
from charter.ledger.store.schema import LogTables

HASH_SIZE = 32  # SHA-256, the only hash RFC 6962 logs use here
T = TypeVar("T")


class StoredEntry(NamedTuple):
    """One log entry as stored: its position, its bytes and their leaf hash.

    An immutable row: a ``NamedTuple`` rather than a frozen dataclass because
    every append builds one per entry, and a tuple is made three times faster
    (measured in bench_ledger_store.py); change a copy with ``_replace``.
    """

    index: int
    entry_id: str  # hex of leaf_hash; the entry's public identifier
    data: bytes  # canonical bytes: the Merkle leaf data
    leaf_hash: bytes  # SHA-256(0x00 || data), RFC 6962 section 2.1
    timestamp: str  # RFC 3339 UTC, as signed in the entry
    author_key: str  # base64 Ed25519 public key of the author


@dataclass(frozen=True)
class AppendBatch:
    """Everything one append writes, in one transaction."""

    entries: list[StoredEntry]  # indexes continue exactly from the store's size
    nodes: list[tuple[tuple[int, int], bytes]]  # every tree node these entries complete
    nonces: list[tuple[str, str]]  # (author_key, nonce), each usable once
    debits: list[tuple[str, int]]  # (account key, amount) taken atomically with the append


@runtime_checkable
class LedgerStore(Protocol):
    """Where a ledger lives. Also a ``NodeReader`` for :mod:`charter.ledger.tree`."""

    def size(self) -> int:
        """Number of entries in the log."""
        ...

    def append(self, batch: AppendBatch) -> None:
        """Write a batch in one transaction.

        Raises:
            LedgerError: indexes do not continue from ``size()``, or the nodes are
                not exactly those the entries complete.
            EntryError: a nonce was already used, or an entry is already stored.
            StakeError: an account lacks the credit for its debit.
        """
        ...

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored nodes among ``keys`` (absent keys are left out)."""
        ...

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        """Entries ``start <= index < stop`` in log order."""
        ...

    def index_of(self, entry_id: str) -> int | None:
        """Index of the entry with this id, or None."""
        ...

    def indexes_of(self, entry_ids: Sequence[str]) -> dict[str, int]:
        """Index of each entry among ``entry_ids`` that the log holds (absent ids left out)."""
        ...

    def nonces_used(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """The ``(author_key, nonce)`` pairs among ``pairs`` already stored."""
        ...

    def balance(self, key: str) -> int:
        """Credits held by an account (0 if it has none)."""
        ...

    def grant(self, key: str, amount: int) -> None:
        """Add credits to an account, creating it if needed."""
        ...

    def save_checkpoint(self, size: int, note: str) -> None:
        """Keep a signed checkpoint note for a tree size (replacing one of that size)."""
        ...

    def checkpoint(self, size: int | None = None) -> str | None:
        """The note for ``size``, or the latest one if ``size`` is None."""
        ...

    def checkpoints(self) -> list[str]:
        """Every stored note, smallest tree size first."""
        ...

    def get_meta(self, name: str) -> str | None: ...

    def set_meta(self, name: str, value: str) -> None: ...

    def search(self, text: str, limit: int, offset: int) -> list[StoredEntry]:
        """Entries whose scenario, behaviour or tags contain ``text``, newest first."""
        ...

    def log(self, tables: LogTables) -> LogStorage:
        """One of the store's signed logs (``WISH_LOG`` or ``VOTE_LOG``)."""
        ...

    def close(self) -> None: ...


class LogStorage(Protocol):
    """One signed log as the generic core (:mod:`charter.ledger.signedlog`) reads it.

    ``store.log(WISH_LOG)`` and ``store.log(VOTE_LOG)`` give one each; it is also a
    :class:`~charter.ledger.tree.NodeReader`.
    """

    def size(self) -> int: ...

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]: ...

    def leaf_data(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Canonical bytes of the leaves ``start <= index < stop``, in log order."""
        ...

    def save_checkpoint(self, size: int, note: str) -> None: ...

    def checkpoint(self, size: int | None = None) -> str | None: ...

    def checkpoints(self) -> list[str]: ...


def open_store(location: str | os.PathLike[str]) -> LedgerStore:
    """Open (creating if needed) the store at ``location``.

    Args:
        location: a file path for SQLite, or a ``postgresql://`` / ``postgres://``
            URL for PostgreSQL.

    Raises:
        BackendError: a PostgreSQL URL was given but psycopg is not installed.
        LedgerError: the store cannot be opened.
    """
    if isinstance(location, str) and is_postgres(location):
        try:
            import psycopg  # noqa: F401  (checked here so the error names the extra)
        except ImportError:
            raise missing_extra("psycopg", "postgres") from None
        from charter.ledger.store.postgres import PostgresStore

        return PostgresStore(location)
    from charter.ledger.store.sqlite import SqliteStore

    return SqliteStore(Path(location))


# -- checks shared by the backends ---------------------------------------------------------


def prepare_batch(batch: AppendBatch, size: int) -> list[tuple[int, int, bytes]]:
    """Check a wish batch against a log of ``size`` entries; return the nodes to store.

    Each entry's id must be the hex of its leaf hash; the rest is :func:`check_batch`.
    """
    entries = batch.entries
    leaves = [e.leaf_hash for e in entries]
    # Whole-list comparisons, not a Python loop per entry: this runs on every append.
    if [e.entry_id for e in entries] != [leaf.hex() for leaf in leaves]:
        bad = next(e for e in entries if e.entry_id != e.leaf_hash.hex())
        raise LedgerError(f"entry {bad.index}: entry_id must be the hex of its 32-byte leaf hash.")
    return check_batch([e.index for e in entries], leaves, batch.nodes, size)


def check_batch(
    indexes: Sequence[int],
    leaves: Sequence[bytes],
    nodes: Sequence[tuple[tuple[int, int], bytes]],
    size: int,
    log: str = "",
) -> list[tuple[int, int, bytes]]:
    """Check a batch (leaf indexes and hashes, completed nodes) for either log.

    The store, not only its caller, insists on index continuity and on a complete
    node set, because a gap or a missing node would break every later proof.
    Nodes are accepted only if they complete with this batch: ``(l, i)`` covers
    leaves ``[i * 2**l, (i + 1) * 2**l)``, so it completes when ``(i + 1) * 2**l``
    falls in ``(size, new_size]``. With stored keys unique, the right count then
    means exactly the right set. Level 0 nodes, if given, must equal the leaf
    hashes and are not stored again.

    Args:
        log: prefix for messages naming the log ("vote log: "); "" for wishes.

    Returns:
        The nodes to store, ``(level, index, hash)`` for levels 1 and up.
    """
    new_size = size + len(leaves)
    # Whole-list checks first (this runs on every append); a loop only to name a failure.
    if list(indexes) != list(range(size, new_size)):
        for offset, index in enumerate(indexes):
            if index != size + offset:
                raise LedgerError(
                    f"{log}batch entry {offset} has index {index} but the log has {size} "
                    f"entries, so it must be {size + offset}; rebuild the batch from the "
                    "current size."
                )
    if any(len(leaf) != HASH_SIZE for leaf in leaves):
        raise LedgerError(f"{log}every leaf hash must be 32 bytes (SHA-256).")
    inner = [(level, index, node) for (level, index), node in nodes if level != 0]
    fits = all(
        level > 0
        and index >= 0
        and size < (index + 1) << level <= new_size
        and len(node) == HASH_SIZE
        for level, index, node in inner
    )
    if len(inner) < len(nodes):  # level 0 given too (tree.new_nodes gives every leaf)
        first = [(index, node) for (level, index), node in nodes if level == 0]
        fits = fits and (
            first == list(zip(range(size, new_size), leaves, strict=True))
            or all(size <= i < new_size and node == leaves[i - size] for i, node in first)
        )
    if not fits:
        _name_bad_node(nodes, leaves, size, new_size, log)
    expected = sum(
        (new_size >> level) - (size >> level) for level in range(1, new_size.bit_length())
    )
    if len(inner) != expected:
        raise LedgerError(
            f"{log}batch has {len(inner)} tree nodes above the leaves but appending entries "
            f"{size}..{new_size - 1} completes {expected}; pass every node tree.new_nodes returns."
        )
    return inner


def _name_bad_node(
    nodes: Sequence[tuple[tuple[int, int], bytes]],
    leaves: Sequence[bytes],
    size: int,
    new_size: int,
    log: str,
) -> None:
    """Raise the error that names the first node :func:`check_batch` cannot accept."""
    for (level, index), node in nodes:
        end = (index + 1) << max(level, 0)
        if level < 0 or index < 0 or not size < end <= new_size or len(node) != HASH_SIZE:
            raise LedgerError(
                f"{log}tree node ({level}, {index}) is not completed by appending entries "
                f"{size}..{new_size - 1}, or its hash is not 32 bytes."
            )
        if level == 0 and node != leaves[index - size]:
            raise LedgerError(
                f"{log}tree node (0, {index}) differs from entry {index}'s leaf hash."
            )


def total_debits(debits: Sequence[tuple[str, int]]) -> dict[str, int]:
    """Sum the positive debits per account (an account may pay for several entries)."""
    totals: dict[str, int] = {}
    for key, amount in debits:
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise StakeError(f"debit for {key} must be a non-negative integer, got {amount!r}.")
        if amount:
            totals[key] = totals.get(key, 0) + amount
    return totals


def shortfall(totals: Mapping[str, int], balances: Mapping[str, int]) -> StakeError | None:
    """The refusal for the first account that cannot pay its total, if any."""
    for key, need in totals.items():
        have = balances.get(key, 0)
        if have < need:
            return StakeError(
                f"account {key} needs {need} credits for this batch but holds {have}; "
                "ask the operator to grant credits, or lower the burn. Nothing was written."
            )
    return None


def conflict_error(table: str, batch: AppendBatch, used: set[tuple[str, str]]) -> LedgerError:
    """Translate a uniqueness violation in ``table`` into the error to raise.

    Args:
        table: the table whose unique key was violated.
        batch: the refused batch.
        used: the batch's nonces already stored (read after the rollback).
    """
    if table == "nonces":
        key, nonce = _first_repeat(batch.nonces, used)
        return EntryError(
            f"nonce already used: author key {key} already signed an entry with nonce "
            f"{nonce!r}; sign the wish again with a fresh nonce. Nothing was written."
        )
    if table == "entries":
        return EntryError(
            "an entry in this batch is already in the ledger (same entry id); "
            "leave it out. Nothing was written."
        )
    return LedgerError(f"duplicate key in {table}: the batch repeats a tree node or index.")


def _first_repeat(pairs: Sequence[tuple[str, str]], used: set[tuple[str, str]]) -> tuple[str, str]:
    """The first pair stored before or repeated within the batch."""
    seen: set[tuple[str, str]] = set()
    for pair in pairs:
        if pair in used or pair in seen:
            return pair
        seen.add(pair)
    return ("?", "?")  # the violation came from a concurrent writer; nothing to name


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items (SQL parameter lists stay bounded)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def search_text(data: bytes) -> str:
    """Lower-cased scenario, behaviour and tags of an entry's canonical JSON ("" if none)."""
    try:
        wish = json.loads(data)["wish"]
        parts = [wish.get("scenario", ""), wish.get("behaviour", ""), *wish.get("tags", [])]
        text = "\n".join(p for p in parts if isinstance(p, str)).lower()
    except (ValueError, TypeError, KeyError, AttributeError):
        return ""
    return text.replace("\x00", "")  # PostgreSQL TEXT cannot hold NUL


def like_pattern(text: str) -> str:
    """A ``LIKE ... ESCAPE '\\'`` pattern matching ``text`` anywhere, literally."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise LedgerError("search limit and offset must be zero or more.")


def entry_id_bytes(entry_id: str) -> bytes | None:
    """The leaf hash an entry id names, or None if it is not 64 hex digits."""
    if len(entry_id) != 2 * HASH_SIZE:
        return None
    try:
        return bytes.fromhex(entry_id)
    except ValueError:
        return None


def row_entry(row: Sequence[Any]) -> StoredEntry:
    """A StoredEntry from ``(idx, leaf_hash, data, timestamp, author_key)``.

    Drivers may hand blobs back as ``memoryview`` or ``bytearray``; they become bytes.
    """
    index, leaf, data, timestamp, author_key = row
    leaf = bytes(leaf)
    return StoredEntry(int(index), leaf.hex(), bytes(data), leaf, str(timestamp), str(author_key))
