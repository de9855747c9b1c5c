"""Strict Ed25519 (RFC 8032): small-order and non-canonical keys, R and S are refused.

The small-order points are built here with independent affine arithmetic
(RFC 8032 section 5.1.4's addition law in affine form), not taken from the
module under test, so a mistake in one is caught by the other.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.errors import SignatureError
from charter.ledger.checkpoint import (
    Checkpoint,
    LogKey,
    NoteVerifier,
    sign_checkpoint,
    verify_checkpoint,
)
from charter.ledger.ed25519 import L, P, check_public_key, verify_strict
from charter.ledger.entry import (
    Entry,
    generate_author_key,
    new_salt,
    public_key_b64,
    sign_entry,
    verify_entry_signature,
)
from charter.ledger.log import Ledger
from charter.ledger.votelog import VoteLog
from charter.ledger.votes import Tally, Vote, sign_vote, verify_vote_signature

ORIGIN = "test.example/wishes"
D = -121665 * pow(121666, P - 2, P) % P
IDENTITY = bytes([1]) + bytes(31)  # the neutral point (0, 1), canonically encoded
# A = identity, R = identity, S = 0: [S]B = R + [k]A holds for every message k.
FORGED_SIGNATURE = IDENTITY + bytes(32)


def _affine_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P
    return x3, y3


def _affine_mul(k: int, point: tuple[int, int]) -> tuple[int, int]:
    result = (0, 1)
    while k:
        if k & 1:
            result = _affine_add(result, point)
        point = _affine_add(point, point)
        k >>= 1
    return result


def _x_for(y: int) -> int | None:
    """Some x with (x, y) on -x^2 + y^2 = 1 + d x^2 y^2, or None."""
    xx = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(xx, (P + 3) // 8, P)
    if x * x % P != xx:
        x = x * pow(2, (P - 1) // 4, P) % P
    return x if x * x % P == xx else None


def _encode(x: int, y: int) -> bytes:
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def torsion_points() -> list[tuple[int, int]]:
    """The 8 points of order dividing 8: multiples of [L]Q for a Q whose [L]Q has order 8."""
    for y in range(2, 1000):
        x = _x_for(y)
        if x is None:
            continue
        q = _affine_mul(L, (x, y))  # kills the prime-order part, leaves the torsion part
        if _affine_mul(4, q) != (0, 1):  # order exactly 8: it generates the whole subgroup
            return [_affine_mul(k, q) for k in range(8)]
    raise AssertionError("no point with an order-8 torsion component below y = 1000")


def small_order_encodings() -> list[bytes]:
    """Every 32-byte string a permissive decoder reads as a small-order point: 14 of them."""
    encodings = set()
    for x, y in torsion_points():
        for sign in (0, 1):
            # The sign bit is free only when x = 0 ("negative zero"); otherwise it picks x.
            if sign != x & 1 and x != 0:
                continue
            for value in (y, y + P):  # y + p is a non-canonical spelling when it fits in 255 bits
                if value < 2**255:
                    encodings.add((value | (sign << 255)).to_bytes(32, "little"))
    return sorted(encodings)


SMALL_ORDER = small_order_encodings()


def test_the_small_order_encodings_are_the_known_fourteen():
    points = torsion_points()
    assert len(set(points)) == 8
    assert all(_affine_mul(8, point) == (0, 1) for point in points)
    assert len(SMALL_ORDER) == 14
    assert IDENTITY in SMALL_ORDER


@pytest.fixture(scope="module")
def signer() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_a_real_signature_passes_and_a_changed_message_fails(signer):
    key = signer.public_key().public_bytes_raw()
    signature = signer.sign(b"hello")
    verify_strict(key, signature, b"hello", what="test signature")
    check_public_key(key, "author_key")
    with pytest.raises(SignatureError, match=r"^test signature does not verify$"):
        verify_strict(key, signature, b"hellO", what="test signature")


@pytest.mark.parametrize("encoding", SMALL_ORDER, ids=lambda raw: raw.hex())
def test_every_small_order_key_is_refused(encoding, signer):
    with pytest.raises(SignatureError, match=r"^author_key: the Ed25519 public key "):
        check_public_key(encoding, "author_key")
    with pytest.raises(SignatureError, match=r"the public key .*RFC 8032 strict"):
        verify_strict(encoding, signer.sign(b"m"), b"m", what="vote signature")


@pytest.mark.parametrize("encoding", SMALL_ORDER, ids=lambda raw: raw.hex())
def test_every_small_order_r_is_refused(encoding, signer):
    key = signer.public_key().public_bytes_raw()
    signature = encoding + signer.sign(b"m")[32:]
    with pytest.raises(SignatureError, match=r"^entry signature: R (has small order|is a non-c)"):
        verify_strict(key, signature, b"m", what="entry signature")


def test_the_identity_forgery_is_refused_for_any_message():
    # Cofactored or permissive verifiers (OpenSSL included) accept this for every message.
    for message in (b"", b"vote for me", bytes(range(256))):
        with pytest.raises(SignatureError, match="small order"):
            verify_strict(IDENTITY, FORGED_SIGNATURE, message, what="vote signature")


def test_s_at_or_above_the_group_order_is_refused(signer):
    key = signer.public_key().public_bytes_raw()
    signature = signer.sign(b"m")
    s = int.from_bytes(signature[32:], "little")
    for bad in (s + L, L, 2**256 - 1):
        if bad >= 2**256:
            continue
        malleable = signature[:32] + bad.to_bytes(32, "little")
        with pytest.raises(SignatureError, match="S is not below the group order L"):
            verify_strict(key, malleable, b"m", what="entry signature")


def test_non_canonical_and_off_curve_keys_are_refused(signer):
    non_canonical = next(  # a real point spelled y + p: not small order, still refused
        (y + P).to_bytes(32, "little") for y in range(2, 19) if _x_for(y) is not None
    )
    off_curve = next(y.to_bytes(32, "little") for y in range(2, 100) if _x_for(y) is None)
    negative_zero = (1 | (1 << 255)).to_bytes(32, "little")
    for raw, why in (
        (non_canonical, r"non-canonical encoding \(y >= p\)"),
        (off_curve, "not a point on the curve"),
        (negative_zero, "x = 0 with the sign bit set"),
        (bytes(31), "is 31 bytes, not 32"),
    ):
        with pytest.raises(SignatureError, match=why):
            check_public_key(raw, "voter_key")
    key = signer.public_key().public_bytes_raw()
    with pytest.raises(SignatureError, match="63 bytes, not 64"):
        verify_strict(key, signer.sign(b"m")[:63], b"m", what="entry signature")
    # A non-canonical R (y + p) whose reduction is an ordinary point is refused too.
    with pytest.raises(SignatureError, match=r"R is a non-canonical encoding"):
        verify_strict(key, non_canonical + signer.sign(b"m")[32:], b"m", what="entry signature")


# -- the forgery through the ledger ----------------------------------------------------------


@pytest.fixture
def ledger(tmp_path):
    with Ledger.create(str(tmp_path / "w.db"), ORIGIN, LogKey.generate(ORIGIN)) as opened:
        author = generate_author_key()
        opened.grant(public_key_b64(author), 10)
        opened.append([sign_entry({"scenario": "s", "behaviour": "b"}, 1, 0, author, "me",
                                  new_salt())])  # fmt: skip
        yield opened


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def test_a_wish_signed_by_the_identity_key_is_refused(ledger):
    honest = ledger.get(0)
    forged = Entry.model_validate(
        {
            **honest.model_dump(exclude_none=True),
            "nonce": "forged-nonce-0123456789",
            "author_key": _b64(IDENTITY),
            "signature": _b64(FORGED_SIGNATURE),
        }
    )
    ledger.grant(forged.author_key, 10)  # so only the signature can stop it, not the credit
    with pytest.raises(SignatureError, match=r"^entry signature: the public key has small order"):
        verify_entry_signature(forged)
    with pytest.raises(SignatureError, match="small order"):
        ledger.append([forged])
    assert ledger.size == 1


def test_a_vote_signed_by_the_identity_key_is_refused_and_the_tally_holds(ledger):
    wish = ledger.get(0).id
    votes = VoteLog.for_ledger(ledger)
    votes.append([sign_vote(wish, 1, bytes([7]) * 32, ORIGIN)])
    before = votes.tally(wish)
    assert before == Tally(endorse=1, oppose=0)
    honest = sign_vote(wish, -1, bytes([8]) * 32, ORIGIN, timestamp=datetime.now(UTC))
    forged = Vote.model_validate(
        {
            **honest.model_dump(),
            "voter_key": _b64(IDENTITY),
            "signature": _b64(FORGED_SIGNATURE),
        }
    )
    with pytest.raises(SignatureError, match=r"^vote signature: the public key has small order"):
        verify_vote_signature(forged)
    with pytest.raises(SignatureError, match="small order"):
        votes.append([forged])
    assert votes.tally(wish) == before and votes.size == 1


def test_a_checkpoint_signed_by_the_identity_key_is_refused():
    name = "forger.example/log"
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + IDENTITY).digest()[:4]
    verifier = NoteVerifier(name, key_id, IDENTITY)
    text = Checkpoint(name, 5, bytes(32)).to_text()
    note = f"{text}\n\u2014 {name} {_b64(key_id + FORGED_SIGNATURE)}\n"
    with pytest.raises(SignatureError, match="small order"):
        verify_checkpoint(note, verifier)
    # And the honest path still works through the strict verifier.
    real = LogKey.generate(name)
    assert verify_checkpoint(sign_checkpoint(Checkpoint(name, 5, bytes(32)), real),
                             real.verifier_string()).size == 5  # fmt: skip
