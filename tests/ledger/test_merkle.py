"""merkle.py against the RFC 6962 definitions, and every verifier against bad input."""

from __future__ import annotations

import hashlib

import pytest

from charter.errors import LedgerError, ProofError, RootMismatchError, VerificationError
from charter.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    decomp_incl_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [leaf_hash(b"wish %d" % i) for i in range(40)]


# The RFC 6962 section 2.1 definitions, recursive and literal, as the oracle.
def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _split(len(d))
    return node_hash(mth(d[:k]), mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _split(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], whole: bool) -> list[bytes]:
    if m == len(d):
        return [] if whole else [mth(d)]
    k = _split(len(d))
    if m <= k:
        return [*subproof(m, d[:k], whole), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def test_hashes_are_domain_separated():
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    left, right = b"a" * 32, b"b" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert leaf_hash(left + right) != node_hash(left, right)


def test_empty_tree_root_is_the_hash_of_nothing():
    assert root_hash([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("n", range(1, 41))
def test_root_and_proofs_match_the_rfc_definitions(n):
    d = LEAVES[:n]
    assert root_hash(d) == mth(d)
    for m in range(n):
        assert inclusion_proof(d, m) == path(m, d)
    for m in range(1, n + 1):
        assert consistency_proof(d, m) == subproof(m, d, True)


def test_proof_lengths_follow_the_decomposition():
    assert decomp_incl_proof(0, 1) == (0, 0)
    assert decomp_incl_proof(5, 8) == (2, 1)
    assert decomp_incl_proof(6, 7) == (0, 2)
    for n in range(1, 40):
        for m in range(n):
            assert sum(decomp_incl_proof(m, n)) == len(path(m, LEAVES[:n]))


def test_generation_refuses_out_of_range_requests():
    with pytest.raises(LedgerError, match="leaf index 3 is out of range"):
        inclusion_proof(LEAVES[:3], 3)
    with pytest.raises(LedgerError, match="out of range"):
        inclusion_proof(LEAVES[:3], -1)
    with pytest.raises(LedgerError, match="old size 0 is out of range"):
        consistency_proof(LEAVES[:3], 0)
    with pytest.raises(LedgerError, match="old size 4 is out of range"):
        consistency_proof(LEAVES[:3], 4)
    with pytest.raises(LedgerError, match="must be 32 bytes; hash the entry data"):
        root_hash([b"raw entry data, not a hash"])


def test_equal_sizes_give_an_empty_consistency_proof():
    assert consistency_proof(LEAVES[:5], 5) == []
    verify_consistency(5, 5, [], root_hash(LEAVES[:5]), root_hash(LEAVES[:5]))


# Verifiers: the good case passes, and each kind of bad input raises its type.
D7 = LEAVES[:7]
ROOT7 = root_hash(D7)
PROOF_3_7 = inclusion_proof(D7, 3)
ROOT3 = root_hash(D7[:3])
CONS_3_7 = consistency_proof(D7, 3)


def test_verify_inclusion_accepts_a_good_proof():
    verify_inclusion(D7[3], 3, 7, PROOF_3_7, ROOT7)
    verify_inclusion(D7[3], 3, 7, tuple(PROOF_3_7), ROOT7)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((D7[3], 7, 7, PROOF_3_7, ROOT7), "leaf index 7 is not below the tree size 7"),
        ((D7[3], 0, 0, [], ROOT7), "not below the tree size 0"),
        ((D7[3], -1, 7, PROOF_3_7, ROOT7), "leaf index must be a non-negative integer"),
        ((D7[3], True, 7, PROOF_3_7, ROOT7), "must be a non-negative integer"),
        ((D7[3], 3, 7.0, PROOF_3_7, ROOT7), "tree size must be a non-negative integer"),
        ((D7[3][:31], 3, 7, PROOF_3_7, ROOT7), "leaf hash must be 32 bytes"),
        ((D7[3].hex(), 3, 7, PROOF_3_7, ROOT7), "leaf hash must be 32 bytes.*got str"),
        ((D7[3], 3, 7, PROOF_3_7, b""), "root must be 32 bytes"),
        ((D7[3], 3, 7, PROOF_3_7[:-1], ROOT7), "has 2 hashes where this tree needs exactly 3"),
        ((D7[3], 3, 7, [*PROOF_3_7, ROOT7], ROOT7), "has 4 hashes"),
        ((D7[3], 3, 7, None, ROOT7), "has 0 hashes"),
        ((D7[3], 3, 7, 42, ROOT7), "must be a list of hashes"),
        ((D7[3], 3, 7, [PROOF_3_7[0] + b"\x00", *PROOF_3_7[1:]], ROOT7), "proof hash 0"),
    ],
)
def test_verify_inclusion_refuses_malformed_input(args, message):
    with pytest.raises(ProofError, match=message):
        verify_inclusion(*args)


def test_verify_inclusion_reports_the_mismatching_roots():
    tampered = bytes([PROOF_3_7[1][0] ^ 1]) + PROOF_3_7[1][1:]
    with pytest.raises(RootMismatchError, match="leads to root") as caught:
        verify_inclusion(D7[3], 3, 7, [PROOF_3_7[0], tampered, PROOF_3_7[2]], ROOT7)
    assert caught.value.expected == ROOT7
    assert caught.value.computed != ROOT7 and len(caught.value.computed) == 32
    with pytest.raises(RootMismatchError):
        verify_inclusion(D7[4], 3, 7, PROOF_3_7, ROOT7)
    with pytest.raises(RootMismatchError):
        verify_inclusion(D7[3], 2, 7, PROOF_3_7, ROOT7)


def test_verify_consistency_accepts_a_good_proof():
    verify_consistency(3, 7, CONS_3_7, ROOT3, ROOT7)
    verify_consistency(4, 7, consistency_proof(D7, 4), root_hash(D7[:4]), ROOT7)
    verify_consistency(1, 1, None, D7[0], D7[0])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((4, 3, [], ROOT7, ROOT3), r"size1 \(4\) is larger than size2 \(3\)"),
        ((0, 7, [], EMPTY_ROOT, ROOT7), "size1 is 0"),
        ((0, 0, [], EMPTY_ROOT, EMPTY_ROOT), "size1 is 0"),
        ((-1, 7, CONS_3_7, ROOT3, ROOT7), "size1 must be a non-negative integer"),
        ((3, "7", CONS_3_7, ROOT3, ROOT7), "size2 must be a non-negative integer"),
        ((7, 7, [ROOT7], ROOT7, ROOT7), "has 1 hashes where this tree needs exactly 0"),
        ((3, 7, [], ROOT3, ROOT7), "has 0 hashes where this tree needs exactly 4"),
        ((3, 7, CONS_3_7[:-1], ROOT3, ROOT7), "has 3 hashes"),
        ((3, 7, [*CONS_3_7, ROOT7], ROOT3, ROOT7), "has 5 hashes"),
        ((3, 7, CONS_3_7, ROOT3[:16], ROOT7), "root1 must be 32 bytes"),
        ((3, 7, CONS_3_7, ROOT3, ROOT7 + b"\x00"), "root2 must be 32 bytes"),
        ((3, 7, [CONS_3_7[0][:31], *CONS_3_7[1:]], ROOT3, ROOT7), "proof hash 0"),
    ],
)
def test_verify_consistency_refuses_malformed_input(args, message):
    with pytest.raises(ProofError, match=message):
        verify_consistency(*args)


def test_verify_consistency_reports_which_root_does_not_match():
    with pytest.raises(RootMismatchError, match="not the given root1") as caught:
        verify_consistency(3, 7, CONS_3_7, root_hash([*D7[:2], D7[4]]), ROOT7)
    assert caught.value.computed == ROOT3
    with pytest.raises(RootMismatchError, match="not the given root2") as caught:
        verify_consistency(3, 7, CONS_3_7, ROOT3, root_hash(D7[:6]))
    assert caught.value.computed == ROOT7 and caught.value.expected == root_hash(D7[:6])
    with pytest.raises(RootMismatchError, match="the log has forked"):
        verify_consistency(7, 7, [], ROOT7, ROOT3)


def test_every_verification_error_is_a_verification_error():
    # Callers (the CLI, the server) catch the base class and print its sentence.
    for bad in ((D7[3], 9, 7, PROOF_3_7, ROOT7), (D7[4], 3, 7, PROOF_3_7, ROOT7)):
        with pytest.raises(VerificationError):
            verify_inclusion(*bad)
