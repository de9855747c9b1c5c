"""RFC 6962 / RFC 9162 roots and proofs from stored tree nodes, in O(log n).

A store keeps the root of every perfect subtree once it is complete, keyed
``(level, index)``: level 0 holds the leaf hashes and node ``(l, i)`` covers the
leaves ``[i * 2**l, (i + 1) * 2**l)``. Such a node never changes, so appending
only adds nodes (:func:`new_nodes`) and never rewrites one.

A tree of ``size`` leaves is then the perfect nodes named by the one bits of
``size`` (its right border, largest on the left), and any subtree of the
RFC 6962 split (section 2.1) that is not perfect lies on that border: its hash
is those border nodes below it, folded right to left. Every function here
therefore reads O(log n) nodes in one ``get_nodes`` call and hashes O(log n)
times: it never rebuilds the tree. The proofs are byte for byte those of
:mod:`charter.merkle` (RFC 9162 sections 2.1.3.1 and 2.1.4.1) and verify
with its verifiers.

Example::

    nodes = MemoryNodes()
    nodes.put(new_nodes(0, [leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")], nodes))
    proof = tree_inclusion_proof(2, 3, nodes)
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import repeat
from typing import Protocol

from charter.errors import LedgerError
from charter.merkle import EMPTY_ROOT, HASH_SIZE, node_hash

__all__ = [
    "MemoryNodes",
    "NodeKey",
    "NodeReader",
    "new_nodes",
    "tree_consistency_proof",
    "tree_inclusion_proof",
    "tree_root",
]

NodeKey = tuple[int, int]
"""``(level, index)`` of a perfect subtree root."""


class NodeReader(Protocol):
    """Where stored nodes come from: a ledger store, or :class:`MemoryNodes`."""

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored hashes of ``keys``; a key that is not stored is left out."""
        ...


class MemoryNodes:
    """A dict-backed :class:`NodeReader` with ``put``, for tests and import checks."""

    def __init__(self) -> None:
        self._nodes: dict[NodeKey, bytes] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        nodes = self._nodes
        return {k: nodes[k] for k in keys if k in nodes}

    def put(self, nodes: Iterable[tuple[NodeKey, bytes]]) -> None:
        """Store nodes; storing a node again is allowed only with the same hash.

        Raises:
            LedgerError: a node is already stored with a different hash.
        """
        incoming = dict(nodes)
        if not self._nodes.keys().isdisjoint(incoming):
            for key, value in incoming.items():
                if self._nodes.get(key, value) != value:
                    raise LedgerError(
                        f"tree node {key} is already stored with another hash; "
                        "stored nodes never change, so this append does not extend this tree."
                    )
        self._nodes.update(incoming)


def _read(reader: NodeReader, keys: list[NodeKey], size: int) -> dict[NodeKey, bytes]:
    nodes = reader.get_nodes(keys) if keys else {}
    for key in keys:
        if key not in nodes:
            raise LedgerError(
                f"tree node (level {key[0]}, index {key[1]}) is missing from the store, "
                f"which claims {size} leaves; the node table is incomplete: rebuild it "
                "from the entries (import the exported log into a new store)."
            )
    return nodes


def _border_keys(size: int, below: int) -> list[NodeKey]:
    """The perfect nodes that make up the last ``size % 2**below`` leaves, lowest first.

    With ``below`` past the top level these are the whole tree of ``size``.
    """
    return [(level, (size >> level) - 1) for level in range(below) if (size >> level) & 1]


def _fold(nodes: dict[NodeKey, bytes], keys: list[NodeKey]) -> bytes:
    # Lowest (rightmost) first: each larger node on the left absorbs the rest.
    acc = nodes[keys[0]]
    for key in keys[1:]:
        acc = node_hash(nodes[key], acc)
    return acc


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Two fresh tuples per node make CPython's young-generation collector run
    # every few hundred nodes, which for a large batch costs as much as all the
    # hashing (measured: ~40% of new_nodes); none of these objects form cycles.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def new_nodes(
    size: int, leaf_hashes: Sequence[bytes], reader: NodeReader
) -> list[tuple[NodeKey, bytes]]:
    """Every node completed by appending ``leaf_hashes`` to the tree of ``size`` leaves.

    The leaves themselves are the level 0 nodes. Reads only the stored left
    siblings that the new nodes pair with (at most one per level), so a batch
    costs about twice its length in hashes, whatever the size of the tree.

    Raises:
        LedgerError: ``size`` is negative, a leaf hash is not 32 bytes, or a
            node the batch needs is missing from ``reader``.
    """
    if size < 0:
        raise LedgerError(f"the tree size must be non-negative, got {size}.")
    level_hashes = list(leaf_hashes)
    if not level_hashes:
        return []
    if set(map(len, level_hashes)) != {HASH_SIZE}:
        raise LedgerError(
            f"every leaf hash must be {HASH_SIZE} bytes; hash the entry data with "
            "leaf_hash() first."
        )
    end = size + len(level_hashes)
    # At level l the new nodes are [size >> l, end >> l); when the first of them
    # is a right child, its left sibling is an old node and must be read.
    wanted = []
    level = 0
    while (end >> level) > (size >> level):
        if (size >> level) & 1:
            wanted.append((level, (size >> level) - 1))
        level += 1
    stored = _read(reader, wanted, size)

    sha = hashlib.sha256
    out: list[tuple[NodeKey, bytes]] = []
    level, first = 0, size
    with _gc_paused():
        while level_hashes:
            keys = zip(repeat(level), range(first, first + len(level_hashes)))
            out.extend(zip(keys, level_hashes, strict=True))
            if first & 1:
                level_hashes = [stored[(level, first - 1)], *level_hashes]
            pairs = zip(level_hashes[0::2], level_hashes[1::2], strict=False)  # odd one waits
            level_hashes = [sha(b"\x01" + a + b).digest() for a, b in pairs]
            level, first = level + 1, first >> 1
    return out


def tree_root(size: int, reader: NodeReader) -> bytes:
    """MTH of the first ``size`` leaves (RFC 6962 section 2.1), from popcount(size) nodes.

    Raises:
        LedgerError: ``size`` is negative or a node is missing from ``reader``.
    """
    if size < 0:
        raise LedgerError(f"the tree size must be non-negative, got {size}.")
    if size == 0:
        return EMPTY_ROOT
    keys = _border_keys(size, size.bit_length())
    return _fold(_read(reader, keys, size), keys)


def _path(
    index: int, size: int, level: int, reader: NodeReader, first: NodeKey | None = None
) -> list[bytes]:
    """Siblings of node ``(level, index >> level)`` up to the root of the tree of ``size``.

    A sibling is either a stored perfect node, or the one non-perfect subtree
    on the right border (where the paths to ``index`` and ``size - 1`` part),
    folded from the border nodes below it. ``first``, if given, is a stored node
    to put before the path, read in the same call.
    """
    plan: list[NodeKey | list[NodeKey]] = [] if first is None else [first]
    keys: list[NodeKey] = list(plan)
    while (size - 1) >> level:
        sibling = (index >> level) ^ 1
        if (sibling + 1) << level <= size:
            plan.append((level, sibling))
            keys.append((level, sibling))
        elif sibling << level < size:
            pieces = _border_keys(size, level)
            plan.append(pieces)
            keys.extend(pieces)
        # Otherwise the node has no sibling here: it is carried up unchanged.
        level += 1
    nodes = _read(reader, keys, size)
    return [_fold(nodes, item) if isinstance(item, list) else nodes[item] for item in plan]


def tree_inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """PATH(index, D[size]) (RFC 9162 section 2.1.3.1) from stored nodes.

    Raises:
        LedgerError: ``index`` is not in ``[0, size)`` or a node is missing.
    """
    if not 0 <= index < size:
        raise LedgerError(
            f"leaf index {index} is out of range for a tree of {size} leaves; "
            f"ask for an index from 0 to {size - 1}."
        )
    return _path(index, size, 0, reader)


def tree_consistency_proof(size1: int, size2: int, reader: NodeReader) -> list[bytes]:
    """PROOF(size1, D[size2]) (RFC 9162 section 2.1.4.1) from stored nodes.

    The old tree's last perfect node (unless it is the whole old tree), then its
    path in the new tree; empty when the sizes are equal.

    Raises:
        LedgerError: the sizes are not ``0 < size1 <= size2`` or a node is missing.
    """
    if not 0 < size1 <= size2:
        raise LedgerError(
            f"a consistency proof needs 0 < old size <= new size, got {size1} and {size2}."
        )
    if size1 == size2:
        return []
    shift = (size1 & -size1).bit_length() - 1
    seed = None if size1 == 1 << shift else (shift, (size1 - 1) >> shift)
    return _path(size1 - 1, size2, shift, reader, seed)
