"""Conformance: the RFC 6962 proof vectors, the RFC 6962 test tree, and proof properties.

The vectors are the ``testdata`` of transparency-dev/merkle, kept in
``../shared/conformance/rfc6962`` beside this repository (see its README). Every
JSON file there is one case: the verifiers must accept it exactly where
``wantErr`` is false and raise a ``VerificationError`` subclass where it is true.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from charter.errors import VerificationError
from charter.ledger.tree import MemoryNodes, new_nodes, tree_consistency_proof, tree_root
from charter.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

_RELATIVE = Path("shared") / "conformance" / "rfc6962"
# ../shared beside the checkout; $CHARTER_CONFORMANCE_DIR, or this workplace's shared
# folder, for clones made elsewhere (CI clones main into a fresh folder).
_CANDIDATES = [
    *(
        [Path(os.environ["CHARTER_CONFORMANCE_DIR"])]
        if "CHARTER_CONFORMANCE_DIR" in os.environ
        else []
    ),
    Path(__file__).resolve().parents[2].parent / _RELATIVE,
    Path("/work") / _RELATIVE,
]
VECTOR_DIR = next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[0])
VECTORS = sorted(
    p for family in ("inclusion", "consistency") for p in (VECTOR_DIR / family).glob("**/*.json")
)
MISSING = (
    "the RFC 6962 conformance vectors are not in ../shared, /work/shared or "
    "$CHARTER_CONFORMANCE_DIR"
)


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _run_vector(case: dict) -> None:
    proof = [_b64(h) for h in case["proof"] or []]
    if "leafIdx" in case:
        verify_inclusion(
            _b64(case["leafHash"]), case["leafIdx"], case["treeSize"], proof, _b64(case["root"])
        )
    else:
        verify_consistency(
            case["size1"], case["size2"], proof, _b64(case["root1"]), _b64(case["root2"])
        )


@pytest.mark.skipif(not VECTOR_DIR.is_dir(), reason=MISSING)
def test_the_vector_folder_is_complete():
    # Guards against a glob that silently matches nothing or half the suite.
    families = {p.relative_to(VECTOR_DIR).parts[0] for p in VECTORS}
    assert families == {"inclusion", "consistency"}
    assert len(VECTORS) >= 190


@pytest.mark.skipif(not VECTOR_DIR.is_dir(), reason=MISSING)
@pytest.mark.parametrize("path", VECTORS, ids=lambda p: str(p.relative_to(VECTOR_DIR)))
def test_vector(path):
    case = json.loads(path.read_text())
    if case["wantErr"]:
        with pytest.raises(VerificationError):
            _run_vector(case)
    else:
        _run_vector(case)


# The test inputs of RFC 6962 (as in the reference implementations) and the
# roots of their prefixes, for sizes 0 to 8.
RFC_INPUTS = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f")
]  # fmt: skip
RFC_ROOTS = [EMPTY_ROOT] + [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
RFC_LEAVES = [leaf_hash(d) for d in RFC_INPUTS]


def test_rfc_test_tree_roots():
    nodes = MemoryNodes()
    for size, want in enumerate(RFC_ROOTS):
        assert root_hash(RFC_LEAVES[:size]) == want
        if size:
            nodes.put(new_nodes(size - 1, RFC_LEAVES[size - 1 : size], nodes))
        assert tree_root(size, nodes) == want


def test_rfc_test_tree_proofs_verify():
    for n in range(1, 9):
        leaves = RFC_LEAVES[:n]
        for i in range(n):
            verify_inclusion(leaves[i], i, n, inclusion_proof(leaves, i), RFC_ROOTS[n])
        for m in range(1, n + 1):
            proof = consistency_proof(leaves, m)
            verify_consistency(m, n, proof, RFC_ROOTS[m], RFC_ROOTS[n])


@pytest.mark.skipif(not VECTOR_DIR.is_dir(), reason=MISSING)
def test_generated_proofs_equal_the_vectors_happy_paths():
    # The accepted vectors over the RFC test tree also pin the proofs we generate.
    nodes = MemoryNodes()
    nodes.put(new_nodes(0, RFC_LEAVES, nodes))
    compared = 0
    for path in VECTORS:
        case = json.loads(path.read_text())
        if case["wantErr"]:
            continue
        proof = [_b64(h) for h in case["proof"] or []]
        if "leafIdx" in case:
            n, i = case["treeSize"], case["leafIdx"]
            if n <= 8 and _b64(case["root"]) == RFC_ROOTS[n]:
                assert inclusion_proof(RFC_LEAVES[:n], i) == proof
                compared += 1
        else:
            m, n = case["size1"], case["size2"]
            if n <= 8 and _b64(case["root2"]) == RFC_ROOTS[n]:
                assert consistency_proof(RFC_LEAVES[:n], m) == proof
                assert tree_consistency_proof(m, n, nodes) == proof
                compared += 1
    assert compared >= 10


# Properties over every tree of 1 to 64 leaves: each generated proof verifies,
# and any change to a proof hash, the leaf, a root, an index or a size fails.
LEAVES = [leaf_hash(b"leaf %d" % i) for i in range(64)]
ROOTS = [root_hash(LEAVES[:n]) for n in range(65)]


def _flip(h: bytes, byte: int) -> bytes:
    return h[:byte] + bytes([h[byte] ^ 0x01]) + h[byte + 1 :]


def _refused(verify, *args) -> bool:
    try:
        verify(*args)
    except VerificationError:
        return True
    return False


@pytest.mark.parametrize("n", range(1, 65))
def test_inclusion_properties(n):
    leaves, root = LEAVES[:n], ROOTS[n]
    for i in range(n):
        proof = inclusion_proof(leaves, i)
        verify_inclusion(leaves[i], i, n, proof, root)
        # The flipped byte moves with i and k so every position is covered.
        for k in range(len(proof)):
            tampered = [*proof[:k], _flip(proof[k], (i + 7 * k) % 32), *proof[k + 1 :]]
            assert _refused(verify_inclusion, leaves[i], i, n, tampered, root)
        assert _refused(verify_inclusion, _flip(leaves[i], i % 32), i, n, proof, root)
        assert _refused(verify_inclusion, leaves[i], i, n, proof, _flip(root, (i + 1) % 32))
        for j in range(n):
            if j != i:
                assert _refused(verify_inclusion, leaves[i], j, n, proof, root)
        for size in {n - 1, n + 1, 2 * n, n // 2} - {n}:
            assert _refused(verify_inclusion, leaves[i], i, size, proof, ROOTS[min(size, 64)])
        if proof:
            assert _refused(verify_inclusion, leaves[i], i, n, proof[:-1], root)
        assert _refused(verify_inclusion, leaves[i], i, n, [*proof, root], root)


@pytest.mark.parametrize("n", range(1, 65))
def test_consistency_properties(n):
    for m in range(1, n + 1):
        proof = consistency_proof(LEAVES[:n], m)
        verify_consistency(m, n, proof, ROOTS[m], ROOTS[n])
        for k in range(len(proof)):
            tampered = [*proof[:k], _flip(proof[k], (m + 5 * k) % 32), *proof[k + 1 :]]
            assert _refused(verify_consistency, m, n, tampered, ROOTS[m], ROOTS[n])
        assert _refused(verify_consistency, m, n, proof, _flip(ROOTS[m], m % 32), ROOTS[n])
        assert _refused(verify_consistency, m, n, proof, ROOTS[m], _flip(ROOTS[n], n % 32))
        for m2, n2 in {(m - 1, n), (m + 1, n), (m, n - 1), (m, n + 1)} - {(m, n)}:
            if 0 <= m2 <= 64 and 0 <= n2 <= 64:
                assert _refused(verify_consistency, m2, n2, proof, ROOTS[m2], ROOTS[n2])
        if proof:
            assert _refused(verify_consistency, m, n, proof[:-1], ROOTS[m], ROOTS[n])
            assert _refused(verify_consistency, m, n, proof[1:], ROOTS[m], ROOTS[n])
        assert _refused(verify_consistency, m, n, [*proof, ROOTS[n]], ROOTS[m], ROOTS[n])


# Exhaustive over bytes for the small trees and around a power of two; the
# property tests above move the flipped byte around for all 64 sizes.
@pytest.mark.parametrize("n", [*range(1, 17), 31, 32, 33, 64])
def test_every_byte_of_every_proof_matters(n):
    leaves, root = LEAVES[:n], ROOTS[n]
    for i in range(n):
        proof = inclusion_proof(leaves, i)
        for k in range(len(proof)):
            for byte in range(32):
                tampered = [*proof[:k], _flip(proof[k], byte), *proof[k + 1 :]]
                assert _refused(verify_inclusion, leaves[i], i, n, tampered, root)
    for m in range(1, n):
        proof = consistency_proof(leaves, m)
        for k in range(len(proof)):
            for byte in range(32):
                tampered = [*proof[:k], _flip(proof[k], byte), *proof[k + 1 :]]
                assert _refused(verify_consistency, m, n, tampered, ROOTS[m], root)
