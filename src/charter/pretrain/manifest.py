"""A mix's manifest: per-document SHA-256 hashes under an RFC 6962 Merkle root.

Leaf ``i`` of the tree is ``SHA-256(0x00 || h_i)`` (RFC 6962 section 2.1),
where ``h_0 < h_1 < ...`` are the distinct SHA-256 digests of the mix's
document texts (UTF-8) in ascending order. The root commits to the whole set:

- **membership**: an RFC 6962 inclusion proof (section 2.1.1) of the
  document's leaf;
- **non-membership**: because leaves are sorted, a document whose hash ``h``
  is absent has two *adjacent* leaves ``h_i < h < h_(i+1)`` (or only the
  first/last leaf at either end); inclusion proofs of those neighbours at
  indices ``i`` and ``i + 1`` show nothing can sit between them. This holds
  for a tree whose leaves are sorted; :func:`verify_mix` checks that the
  published manifest is (strictly ascending, matching the documents), so
  whoever trusts a verified root can check either kind of proof offline with
  only the root, the size and the proof.

Proofs and verifiers reuse :mod:`charter.merkle` (the ledger's RFC 6962
code), and raise :class:`~charter.errors.VerificationError` subclasses, never
return ``False``.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from charter.errors import ProofError, RootMismatchError, VerificationError
from charter.merkle import inclusion_proof, leaf_hash, root_hash, verify_inclusion
from charter.runs.store import read_jsonl

DOCS = "docs.jsonl"
MANIFEST = "manifest.json"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def doc_sha256(text: str) -> str:
    """The hex SHA-256 of a document's UTF-8 text: what the manifest lists."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_manifest(hashes: Iterable[str]) -> dict[str, Any]:
    """The manifest of a set of document hashes: sorted distinct leaves and the root."""
    leaves = sorted(set(hashes))
    root = root_hash([leaf_hash(bytes.fromhex(h)) for h in leaves])
    return {
        "format": "charter-mix-manifest/1",
        "hash": "sha256 of each document's UTF-8 text",
        "leaf": "RFC 6962 leaf hash SHA-256(0x00 || document digest), leaves sorted ascending",
        "size": len(leaves),
        "root": root.hex(),
        "documents": leaves,
    }


def load_manifest(mix_dir: str | Path) -> dict[str, Any]:
    path = Path(mix_dir) / MANIFEST
    if not path.is_file():
        raise VerificationError(f"{path}: no manifest; is {mix_dir} a mix folder?")
    return json.loads(path.read_text(encoding="utf-8"))


def verify_mix(mix_dir: str | Path) -> dict[str, Any]:
    """Recompute every document hash and the root of a mix folder; raise on any mismatch.

    Checks: the manifest's leaves are strictly ascending (what non-membership
    proofs rely on), they equal the hashes of ``docs.jsonl``, the root is their
    RFC 6962 root, and the data card names the same root and size.

    Raises:
        VerificationError: naming what differs, with ``expected`` and ``computed``.
    """
    mix_dir = Path(mix_dir)
    manifest = load_manifest(mix_dir)
    leaves = manifest["documents"]
    for i in range(1, len(leaves)):
        if not leaves[i - 1] < leaves[i]:
            raise VerificationError(
                f"{mix_dir / MANIFEST}: documents {i - 1} and {i} are not in strictly "
                "ascending order, so non-membership proofs would not hold.",
                expected="ascending",
                computed=[leaves[i - 1], leaves[i]],
            )
    docs = mix_dir / DOCS
    computed = set()
    for n, row in enumerate(read_jsonl(docs), start=1):
        digest = doc_sha256(row["text"])
        if row.get("sha256") != digest:
            raise VerificationError(
                f"{docs}:{n}: document {row.get('id')!r} hashes to {digest}, "
                f"but its row says {row.get('sha256')}; the text was changed.",
                expected=row.get("sha256"),
                computed=digest,
            )
        computed.add(digest)
    if sorted(computed) != leaves:
        extra, missing = sorted(computed - set(leaves)), sorted(set(leaves) - computed)
        raise VerificationError(
            f"{mix_dir}: the documents do not match the manifest "
            f"({len(extra)} not listed, {len(missing)} listed but absent).",
            expected=len(leaves),
            computed=len(computed),
        )
    root = root_hash([leaf_hash(bytes.fromhex(h)) for h in leaves]).hex()
    if root != manifest["root"]:
        raise RootMismatchError(
            f"{mix_dir / MANIFEST}: the root is {manifest['root']}, but its documents give {root}.",
            expected=manifest["root"],
            computed=root,
        )
    card_path = mix_dir / "card.json"
    if card_path.is_file():
        card = json.loads(card_path.read_text(encoding="utf-8"))
        merkle = card.get("manifest", {})
        if merkle.get("root") != root or merkle.get("size") != len(leaves):
            raise RootMismatchError(
                f"{card_path}: the card names root {merkle.get('root')} of size "
                f"{merkle.get('size')}, but the manifest's is {root} of size {len(leaves)}.",
                expected=root,
                computed=merkle.get("root"),
            )
    return {"mix": str(mix_dir), "size": len(leaves), "root": root, "documents": len(computed)}


def prove(manifest: dict[str, Any], digest: str) -> dict[str, Any]:
    """An inclusion proof if ``digest`` is in the manifest, else a non-membership proof.

    An inclusion proof keeps the digest asked about (``document``) apart from the
    digest stored at its leaf (``leaf``), so :func:`verify_proof` can compare the
    two instead of a field with itself.
    """
    if not HEX64.match(digest):
        raise ProofError(f"{digest!r} is not a hex SHA-256 digest (64 lowercase hex digits).")
    leaves = manifest["documents"]
    hashes = [leaf_hash(bytes.fromhex(h)) for h in leaves]
    base = {"document": digest, "size": len(leaves), "root": manifest["root"]}

    def member(index: int) -> dict[str, Any]:
        # A neighbour of a non-membership proof names its leaf's digest as ``document``.
        path = inclusion_proof(hashes, index)
        return {"index": index, "document": leaves[index], "path": [p.hex() for p in path]}

    index = bisect.bisect_left(leaves, digest)
    if index < len(leaves) and leaves[index] == digest:
        proved = member(index)
        return {
            **base,
            "type": "inclusion",
            "index": index,
            "leaf": proved["document"],
            "path": proved["path"],
        }
    return {
        **base,
        "type": "non-membership",
        "left": member(index - 1) if index > 0 else None,
        "right": member(index) if index < len(leaves) else None,
    }


def verify_proof(
    proof: dict[str, Any], root: str | None = None, document: str | None = None
) -> None:
    """Check an inclusion or non-membership proof against ``root`` (default: its own).

    Args:
        proof: a proof from :func:`prove` (or ``charter pretrain prove --out``).
        root: the hex root the verifier trusts, e.g. from a verified data card;
            without it the proof's own root is used, which shows only that the
            proof is self-consistent.
        document: the document text the verifier actually holds. When given, its
            SHA-256 must be the digest the proof is about, so a proof cannot
            vouch for a document that was changed after it was proved.

    Raises:
        ProofError: a malformed proof, a proof about another document than the
            one held, a proved leaf that is not the document, or neighbours that
            do not bracket the document.
        RootMismatchError: a path that leads to another root.
    """
    root_bytes = bytes.fromhex(root or proof["root"])
    size, target = int(proof["size"]), proof["document"]
    if document is not None:
        held = doc_sha256(document)
        if held != target:
            raise ProofError(
                f"the proof is about document {target}, but the document held hashes to "
                f"{held}; it was changed, or the proof is for another document.",
                expected=target,
                computed=held,
            )

    def check(member: dict[str, Any], digest: str) -> None:
        # RFC 6962 section 2.1: the leaf is SHA-256(0x00 || document digest).
        verify_inclusion(
            leaf_hash(bytes.fromhex(digest)),
            int(member["index"]),
            size,
            [bytes.fromhex(p) for p in member["path"]],
            root_bytes,
        )

    if proof["type"] == "inclusion":
        # The path proves the stored leaf; the document asked about must be that
        # leaf. Proofs written before ``leaf`` existed proved ``document`` itself.
        leaf = proof.get("leaf", target)
        check(proof, leaf)
        if leaf != target:
            raise ProofError(
                f"the proof's leaf {proof['index']} holds document {leaf}, not the "
                f"document {target} it claims to include.",
                expected=target,
                computed=leaf,
            )
        return
    if proof["type"] != "non-membership":
        raise ProofError(f"unknown proof type {proof['type']!r}.")
    left, right = proof.get("left"), proof.get("right")
    if size == 0:
        if root_bytes != root_hash([]):
            raise RootMismatchError("an empty tree must have the empty root.")
        return
    if left is None and right is None:
        raise ProofError("a non-membership proof needs at least one neighbour.")
    if left is not None:
        check(left, left["document"])
        if not left["document"] < target:
            raise ProofError("the left neighbour does not sort before the document.")
    if right is not None:
        check(right, right["document"])
        if not target < right["document"]:
            raise ProofError("the right neighbour does not sort after the document.")
    if left is not None and right is not None and right["index"] != left["index"] + 1:
        raise ProofError("the neighbours are not adjacent leaves.")
    if left is None and right["index"] != 0:
        raise ProofError("without a left neighbour the right one must be leaf 0.")
    if right is None and left["index"] != size - 1:
        raise ProofError("without a right neighbour the left one must be the last leaf.")
