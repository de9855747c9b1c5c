"""RFC 6962 / RFC 9162 Merkle tree hashes, proofs and their verification, over lists.

The wish ledger is a Merkle log in the sense of Certificate Transparency:

- hashing (RFC 6962 section 2.1, RFC 9162 section 2.1.1): a leaf hashes to
  ``SHA-256(0x00 || data)``, an inner node to ``SHA-256(0x01 || left || right)``,
  the empty tree to ``SHA-256("")``; a tree of ``n > 1`` leaves splits at the
  largest power of two ``k < n`` into a perfect left subtree ``D[0:k]`` and the
  rest;
- inclusion proofs, ``PATH(m, D[n])`` (RFC 6962 section 2.1.1, RFC 9162 section
  2.1.3.1), verified as in RFC 9162 section 2.1.3.2;
- consistency proofs, ``PROOF(m, D[n])`` and ``SUBPROOF`` (RFC 6962 section 2.1.2,
  RFC 9162 section 2.1.4.1), verified as in RFC 9162 section 2.1.4.2.

Everything here is a pure function of a list of leaf hashes, for verifiers and
tests; :mod:`charter.ledger.tree` produces the same proofs from stored nodes in
O(log n). The verifiers raise :class:`~charter.errors.ProofError` for a
malformed proof and :class:`~charter.errors.RootMismatchError` for a proof that
leads elsewhere; they never return ``False``. Their helpers keep the names of
the reference verifiers (``decomp_incl_proof``, ``chain_inner``, ...) so the
two can be read side by side. They pass every vector of the transparency-dev
suite in ``../shared/conformance/rfc6962`` (``pytest tests/ledger``).

Example::

    from charter.merkle import inclusion_proof, leaf_hash, root_hash, verify_inclusion
    leaves = [leaf_hash(d) for d in (b"a", b"b", b"c")]
    verify_inclusion(leaves[2], 2, 3, inclusion_proof(leaves, 2), root_hash(leaves))
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from charter.errors import LedgerError, ProofError, RootMismatchError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in every leaf, node and root hash (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256() (RFC 6962 section 2.1): the root of the empty tree."""

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d), RFC 6962 section 2.1."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right), RFC 6962 section 2.1."""
    return _sha256(b"\x01" + left + right).digest()


def _parent_level(level: list[bytes]) -> list[bytes]:
    """The next level up: pairs hashed together, an unpaired last node carried up.

    Carrying the last node up unchanged yields exactly the RFC 6962 split at the
    largest power of two: every left subtree is perfect, so the pairing never
    straddles a split point. Node ``i`` of level ``l`` is then MTH of the leaves
    ``[i * 2**l, min((i + 1) * 2**l, n))``.
    """
    sha = _sha256
    pairs = zip(level[0::2], level[1::2], strict=False)  # an odd last node is left over
    parents = [sha(b"\x01" + a + b).digest() for a, b in pairs]
    if len(level) & 1:
        parents.append(level[-1])
    return parents


def _check_leaves(leaf_hashes: Sequence[bytes]) -> list[bytes]:
    # Raw entry bytes passed by mistake would silently give a wrong tree.
    level = list(leaf_hashes)
    if level and set(map(len, level)) != {HASH_SIZE}:
        raise LedgerError(
            f"every leaf hash must be {HASH_SIZE} bytes; hash the entry data with "
            "leaf_hash() first."
        )
    return level


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of the given leaf hashes (RFC 6962 section 2.1); ``EMPTY_ROOT`` if none.

    Iterative, one level at a time: n - 1 node hashes and no recursion, so it
    runs at the speed of hashlib itself.
    """
    level = _check_leaves(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        level = _parent_level(level)
    return level[0]


def _path_from(level: list[bytes], index: int) -> list[bytes]:
    """Siblings of node ``index`` of ``level`` on its way to the root, lowest first."""
    path = []
    while len(level) > 1:
        sibling = index ^ 1
        # No sibling means the node is carried up unchanged: nothing to prove there.
        if sibling < len(level):
            path.append(level[sibling])
        level = _parent_level(level)
        index >>= 1
    return path


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]): the audit path of one leaf (RFC 9162 section 2.1.3.1).

    Raises:
        LedgerError: ``index`` is not in ``[0, len(leaf_hashes))``.
    """
    level = _check_leaves(leaf_hashes)
    if not 0 <= index < len(level):
        raise LedgerError(
            f"leaf index {index} is out of range for a tree of {len(level)} leaves; "
            f"ask for an index from 0 to {len(level) - 1}."
        )
    return _path_from(level, index)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, D[n]) (RFC 9162 section 2.1.4.1); empty when ``old_size == n``.

    SUBPROOF bottoms out at the last perfect subtree of the old tree: the node of
    height ``k`` (the number of trailing zero bits of ``old_size``) that ends at
    leaf ``old_size - 1``. The proof is that node, omitted when it is the whole
    old tree (``old_size`` a power of two), then its audit path in the new tree.

    Raises:
        LedgerError: ``old_size`` is not in ``[1, len(leaf_hashes)]``.
    """
    level = _check_leaves(leaf_hashes)
    if not 0 < old_size <= len(level):
        raise LedgerError(
            f"old size {old_size} is out of range for a tree of {len(level)} leaves; a "
            f"consistency proof needs an old size from 1 to {len(level)}."
        )
    if old_size == len(level):
        return []
    shift = _trailing_zeros(old_size)
    for _ in range(shift):
        level = _parent_level(level)
    index = (old_size - 1) >> shift
    seed = [] if old_size == 1 << shift else [level[index]]
    return seed + _path_from(level, index)


# Verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2), in the form of the
# reference verifiers: a proof splits into an "inner" part, below the level
# where the paths to the leaf and to the last leaf of the tree meet, whose
# siblings lie left or right by the bits of the index, and a "border" part
# above it, whose siblings all lie to the left.


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def inner_proof_size(index: int, size: int) -> int:
    """Levels below the point where the paths to ``index`` and to ``size - 1`` meet."""
    return (index ^ (size - 1)).bit_length()


def decomp_incl_proof(index: int, size: int) -> tuple[int, int]:
    """Lengths of the inner and border parts of the inclusion proof of ``index``.

    Their sum is the only valid length of a proof for ``index`` in a tree of
    ``size`` leaves: on the border a level has a sibling only where the node is
    a right child, i.e. where ``index`` has a one bit.
    """
    inner = inner_proof_size(index, size)
    return inner, (index >> inner).bit_count()


def chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Hash ``seed`` up through inner siblings, each left or right by a bit of ``index``."""
    for level, sibling in enumerate(proof):
        seed = node_hash(sibling, seed) if (index >> level) & 1 else node_hash(seed, sibling)
    return seed


def chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Like :func:`chain_inner` but only through left siblings.

    Siblings to the right were appended later, so skipping them rebuilds the
    node as it stood in the older, smaller tree (RFC 9162 section 2.1.4.2).
    """
    for level, sibling in enumerate(proof):
        if (index >> level) & 1:
            seed = node_hash(sibling, seed)
    return seed


def chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    """Hash ``seed`` up the right border of the tree, where every sibling is on the left."""
    for sibling in proof:
        seed = node_hash(sibling, seed)
    return seed


def _require_size(value: object, name: str) -> int:
    # bool is an int subclass, but True as a tree size is a caller bug.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofError(f"{name} must be a non-negative integer, got {value!r}.")
    return value


def _require_hash(value: object, name: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        size = len(value) if isinstance(value, bytes) else type(value).__name__
        raise ProofError(
            f"{name} must be {HASH_SIZE} bytes (a SHA-256 hash), got {size}.",
            expected=HASH_SIZE,
            computed=size,
        )
    return value


def _require_proof(proof: Sequence[bytes] | None, expected: int) -> list[bytes]:
    # None is read as the empty proof, as JSON "proof": null is by the reference.
    try:
        hashes = [] if proof is None else list(proof)
    except TypeError:
        raise ProofError(
            f"the proof must be a list of hashes, got {type(proof).__name__}."
        ) from None
    if len(hashes) != expected:
        raise ProofError(
            f"the proof has {len(hashes)} hashes where this tree needs exactly {expected}.",
            expected=expected,
            computed=len(hashes),
        )
    for i, h in enumerate(hashes):
        _require_hash(h, f"proof hash {i}")
    return hashes


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes] | None, root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` with ``root``.

    RFC 9162 section 2.1.3.2. The proof must have exactly the length the index
    and size call for; every hash must be 32 bytes.

    Raises:
        ProofError: the inputs are malformed (index not below the size, a hash
            of the wrong length, a proof of the wrong length).
        RootMismatchError: the proof leads to another root (``expected`` is
            ``root``, ``computed`` the root the proof leads to).
    """
    index = _require_size(index, "the leaf index")
    tree_size = _require_size(tree_size, "the tree size")
    if index >= tree_size:
        raise ProofError(
            f"leaf index {index} is not below the tree size {tree_size}.",
            expected=tree_size,
            computed=index,
        )
    _require_hash(leaf_hash, "the leaf hash")
    _require_hash(root, "the root")
    inner, border = decomp_incl_proof(index, tree_size)
    hashes = _require_proof(proof, inner + border)
    computed = chain_border_right(chain_inner(leaf_hash, hashes[:inner], index), hashes[inner:])
    if computed != root:
        raise RootMismatchError(
            f"the inclusion proof for leaf {index} leads to root {computed.hex()}, "
            f"not to the given root {root.hex()} of size {tree_size}.",
            expected=root,
            computed=computed,
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes] | None, root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size2`` with ``root2`` extends the one of ``size1`` with ``root1``.

    RFC 9162 section 2.1.4.2, with its precondition ``0 < size1 <= size2``
    enforced: a proof from the empty tree proves nothing and is refused. When
    the sizes are equal the proof must be empty and the roots identical (the
    reference verifier and the conformance vectors compare those roots as
    bytes, whatever their length).

    Raises:
        ProofError: malformed inputs (``size1`` zero or above ``size2``, a hash
            of the wrong length, a proof of the wrong length).
        RootMismatchError: the proof does not lead to ``root1`` or to ``root2``.
    """
    size1 = _require_size(size1, "size1")
    size2 = _require_size(size2, "size2")
    if size1 > size2:
        raise ProofError(
            f"size1 ({size1}) is larger than size2 ({size2}); a log never shrinks.",
            expected=size2,
            computed=size1,
        )
    if size1 == 0:
        raise ProofError(
            "size1 is 0: every tree extends the empty tree, so there is nothing to "
            "prove (RFC 9162 section 2.1.4.2 needs 0 < size1)."
        )
    if size1 == size2:
        _require_proof(proof, 0)
        if root1 != root2:
            raise RootMismatchError(
                f"two roots for the same tree size {size1}: the log has forked.",
                expected=root1,
                computed=root2,
            )
        return
    _require_hash(root1, "root1")
    _require_hash(root2, "root2")
    # Node (shift, index) is the last perfect subtree of the old tree; the proof
    # is that node (unless it is the whole old tree) and its path in the new tree,
    # seen from its own level, where the new tree has (size2 - 1) >> shift + 1 nodes.
    shift = _trailing_zeros(size1)
    index = (size1 - 1) >> shift
    old_is_perfect = size1 == 1 << shift
    inner, border = decomp_incl_proof(index, ((size2 - 1) >> shift) + 1)
    hashes = _require_proof(proof, inner + border + (0 if old_is_perfect else 1))
    if old_is_perfect:
        seed = root1
    else:
        seed, hashes = hashes[0], hashes[1:]
    inner_hashes, border_hashes = hashes[:inner], hashes[inner:]
    computed1 = chain_border_right(chain_inner_right(seed, inner_hashes, index), border_hashes)
    if computed1 != root1:
        raise RootMismatchError(
            f"the consistency proof rebuilds root {computed1.hex()} for size {size1}, "
            f"not the given root1 {root1.hex()}.",
            expected=root1,
            computed=computed1,
        )
    computed2 = chain_border_right(chain_inner(seed, inner_hashes, index), border_hashes)
    if computed2 != root2:
        raise RootMismatchError(
            f"the consistency proof leads to root {computed2.hex()} for size {size2}, "
            f"not the given root2 {root2.hex()}.",
            expected=root2,
            computed=computed2,
        )
