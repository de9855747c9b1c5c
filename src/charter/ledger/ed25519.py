"""Strict Ed25519 verification: one gate for wish, vote and checkpoint signatures.

RFC 8032 leaves implementations room on which encodings they accept
(section 5.1.3 lets a decoder take ``y >= p``; section 5.1.7 allows the
cofactored or the cofactorless equation), and "Taming the many EdDSAs"
(Chalkias, Garillot, Nikolaenko 2020) shows libraries disagree. A key of
small order breaks the one property the ledger needs from a signature: with
``A`` the identity point, ``R`` the identity and ``S = 0``, the equation
``[S]B = R + [k]A`` holds for *every* message, so anyone can "sign" as that
key. Charter therefore follows the RFC 8032 *strict* reading, not ZIP-215
(ZIP-215 deliberately accepts these encodings for consensus; a ledger of
wishes and votes has no such need and wants the fewest valid signatures):

- the public key ``A`` and the signature's ``R`` must be canonical encodings
  (``y < p``, and no "negative zero": ``x = 0`` with the sign bit set, which
  RFC 8032 section 5.1.3 step 4 refuses) and must not have small order
  (``[8]P`` is the identity: the 8 torsion points, whose 14 encodings,
  non-canonical ones included, are all caught because the check works on
  the decoded coordinates instead of matching a list of byte strings);
- ``A`` must decode to a curve point (checked once per key and cached). ``R``
  is checked without the costly square root, by its y-coordinate (a point and
  its negation share y and order); an ``R`` off the curve cannot equal the
  ``R`` OpenSSL recomputes, so it fails the equation below;
- ``S`` must be below the group order ``L`` (RFC 8032 section 5.1.7 step 1);
- then OpenSSL's Ed25519 (via ``cryptography``) checks the equation.

Keys of mixed order (a prime-order point plus a torsion component) are not
refused: they cannot sign for a key holder who does not know the discrete
log, and RFC 8032's strict mode does not refuse them either.

Use: ``verify_strict(raw_key, raw_signature, message, what="entry signature")``;
``check_public_key(raw_key, "author_key")`` refuses a bad key at parse time.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.errors import SignatureError

# RFC 8032 section 5.1: the field prime, the group order and the curve constant d.
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)  # a square root of -1 mod p (RFC 8032 section 5.1.3 step 3)

KEY_SIZE = 32
SIGNATURE_SIZE = 64

# An extended-coordinates point (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z (RFC 8032 5.1.4).
_Point = tuple[int, int, int, int]


def _sqrt_ratio(u: int, v: int) -> int | None:
    """A square root of u / v mod p, or None (RFC 8032 section 5.1.3 step 3, p = 5 mod 8)."""
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    vxx = v * x * x % P
    if vxx == u:
        return x
    if vxx == (-u) % P:
        return x * SQRT_M1 % P
    return None


def _decode(raw: bytes) -> tuple[_Point | None, str | None]:
    """Decode a 32-byte point strictly (RFC 8032 section 5.1.3); ``(point, None)`` or the reason.

    Unlike the RFC's permissive step 1, ``y >= p`` is refused, so every point
    has exactly one accepted encoding.
    """
    if len(raw) != KEY_SIZE:
        return None, f"is {len(raw)} bytes, not {KEY_SIZE}"
    number = int.from_bytes(raw, "little")
    sign = number >> 255
    y = number & ((1 << 255) - 1)
    if y >= P:
        return None, "is a non-canonical encoding (y >= p)"
    # x^2 = (y^2 - 1) / (d y^2 + 1)
    x = _sqrt_ratio((y * y - 1) % P, (D * y * y + 1) % P)
    if x is None:
        return None, "is not a point on the curve"
    if x == 0 and sign:
        return None, "is a non-canonical encoding (x = 0 with the sign bit set)"
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P), None


def _add(a: _Point, b: _Point) -> _Point:
    """Point addition on the twisted Edwards curve (RFC 8032 section 5.1.4); complete."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = 2 * D * t1 * t2 % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _is_small_order(point: _Point) -> bool:
    """``[8]P`` is the identity: P lies in the torsion subgroup (the cofactor is 8)."""
    for _ in range(3):
        point = _add(point, point)
    x, y, z, _ = point
    return x == 0 and y == z


def _torsion_y() -> frozenset[int]:
    """The y-coordinates of the 8 small-order points, derived and then checked by ``[8]P``.

    A point and its negation share y and order, so y alone decides small order.
    Orders 1, 2 and 4 have y = 1, -1 and 0. An order-8 point doubles to an
    order-4 one (y = 0), so x^2 = -y^2; on the curve that gives
    d y^4 + 2 y^2 - 1 = 0, i.e. y^2 = (-1 +- sqrt(1 + d)) / d.
    """
    candidates = {0, 1, P - 1}
    root = _sqrt_ratio((1 + D) % P, 1)
    assert root is not None
    for square in ((-1 + root) * pow(D, P - 2, P) % P, (-1 - root) * pow(D, P - 2, P) % P):
        y = _sqrt_ratio(square, 1)
        if y is not None:
            candidates |= {y, P - y}
    torsion = set()
    for y in candidates:
        point, _ = _decode(y.to_bytes(KEY_SIZE, "little"))
        if point is not None and _is_small_order(point):
            torsion.add(y)
    # 8 points, x = +-something for each y except the two with x = 0: five y values.
    assert len(torsion) == 5, torsion
    return frozenset(torsion)


_TORSION_Y = _torsion_y()


def _r_problem(raw: bytes) -> str | None:
    """Why a signature's R is refused, or None, without the cost of a square root.

    Only canonicity and small order need checking here: OpenSSL recomputes R
    from S, A and the message and compares encodings, so an R that is not on
    the curve can never match and is refused as a failed signature.
    """
    number = int.from_bytes(raw, "little")
    y = number & ((1 << 255) - 1)
    if y >= P:
        return "is a non-canonical encoding (y >= p)"
    if y in (1, P - 1) and number >> 255:
        return "is a non-canonical encoding (x = 0 with the sign bit set)"
    if y in _TORSION_Y:
        return "has small order (a torsion point)"
    return None


def _point_problem(raw: bytes) -> str | None:
    """Why ``raw`` is refused as a public key (strict decoding, then small order), or None."""
    point, problem = _decode(raw)
    if point is None:
        return problem
    if _is_small_order(point):
        return "has small order (a torsion point that signs any message)"
    return None


@lru_cache(maxsize=4096)
def _checked_key(raw: bytes) -> Ed25519PublicKey | str:
    # Authors sign many entries: decode and check their key once. A str is the refusal.
    problem = _point_problem(raw)
    if problem is not None:
        return problem
    return Ed25519PublicKey.from_public_bytes(raw)


def check_public_key(raw: bytes, field: str) -> None:
    """Refuse a public key that strict verification would refuse (for parse-time checks).

    Args:
        raw: the 32-byte encoded public key.
        field: the field it came from, named in the error (e.g. ``"author_key"``).

    Raises:
        SignatureError: the key is non-canonical, not a curve point or of small order.
    """
    checked = _checked_key(bytes(raw))
    if isinstance(checked, str):
        raise SignatureError(
            f"{field}: the Ed25519 public key {checked}; use a key made by a standard "
            "Ed25519 key generator (RFC 8032 section 5.1.5)."
        )


def verify_strict(
    public_key: bytes,
    signature: bytes,
    message: bytes,
    what: str,
    mismatch: str | None = None,
    expected: object = None,
) -> None:
    """Verify an Ed25519 signature under the strict rules of the module docstring.

    Args:
        public_key: the 32-byte encoded key ``A``.
        signature: the 64 bytes ``R || S``.
        message: the signed bytes.
        what: what is being checked, starting each error (e.g. ``"vote signature"``).
        mismatch: the message when everything is well formed but the equation
            fails (default: ``"<what> does not verify"``).
        expected: carried on the error (e.g. the key text the caller checked against).

    Raises:
        SignatureError: the key or signature is malformed, non-canonical or of
            small order, or the signature does not verify.
    """
    checked = _checked_key(bytes(public_key))
    if isinstance(checked, str):
        raise SignatureError(
            f"{what}: the public key {checked}; such keys can forge signatures, so "
            "they are refused (RFC 8032 strict); sign with a standard Ed25519 key.",
            expected=expected,
        )
    if len(signature) != SIGNATURE_SIZE:
        raise SignatureError(
            f"{what}: {len(signature)} bytes, not {SIGNATURE_SIZE}; send the R || S signature.",
            expected=expected,
        )
    # S first: it is the cheap check, and RFC 8032 section 5.1.7 makes S < L a hard rule.
    if int.from_bytes(signature[32:], "little") >= L:
        raise SignatureError(
            f"{what}: S is not below the group order L (non-canonical, RFC 8032 section "
            "5.1.7); sign again with a standard Ed25519 signer.",
            expected=expected,
        )
    problem = _r_problem(signature[:32])
    if problem is not None:
        raise SignatureError(
            f"{what}: R {problem}; refused (RFC 8032 strict); sign again with a standard "
            "Ed25519 signer.",
            expected=expected,
        )
    try:
        checked.verify(bytes(signature), message)
    except InvalidSignature:
        raise SignatureError(mismatch or f"{what} does not verify", expected=expected) from None
