"""What every signed ledger record shares: canonical JSON, base64 fields, signing bytes, ids.

Wishes (:mod:`charter.ledger.entry`) and votes (:mod:`charter.ledger.votes`)
are two record types of one signed-log core (:mod:`charter.ledger.signedlog`).
Both follow the same byte rules, kept here once:

- *canonical JSON*: ``json.dumps(obj, sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)`` encoded as UTF-8 (the browser reproduces it byte for
  byte; see :mod:`charter.ledger.entry` for why this equals JavaScript's
  ``JSON.stringify`` of a sorted object);
- *base64 fields* (keys, signatures): only the one canonical RFC 4648
  section 4 spelling of the right number of bytes, so equal bytes have equal text;
- *signing bytes*: a per-type domain prefix (``charter-wish-v1\\n``,
  ``charter-vote-v1\\n``) + the canonical JSON without ``"signature"``, so a
  signature made for one type never passes as one made for another;
- *id*: the hex RFC 6962 leaf hash of the canonical bytes
  (RFC 9162 section 2.1.1: ``SHA-256(0x00 || data)``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from charter.merkle import leaf_hash


class SignedRecord(Protocol):
    """A record a signed log holds: its canonical bytes are the Merkle leaf data."""

    def canonical_bytes(self) -> bytes:
        """Canonical JSON with every field."""
        ...

    @property
    def id(self) -> str:
        """Hex leaf hash of :meth:`canonical_bytes`."""
        ...


def canonical_json(obj: dict[str, Any]) -> bytes:
    """Canonical JSON of ``obj`` as UTF-8 bytes (sorted keys, no spaces, raw UTF-8)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signing_bytes(prefix: bytes, body: dict[str, Any]) -> bytes:
    """What a signer signs: the record type's domain ``prefix`` + canonical JSON of ``body``.

    ``body`` is the record without its ``signature`` field.
    """
    return prefix + canonical_json(body)


def record_id(data: bytes) -> str:
    """A record's id: hex RFC 6962 leaf hash of its canonical bytes."""
    return leaf_hash(data).hex()


def canonical_b64(value: str, size: int, what: str) -> str:
    """Accept only the one RFC 4648 base64 spelling of ``size`` bytes, so bytes have one text.

    Raises:
        ValueError: the text is not base64, decodes to another length, or is a
            non-canonical spelling; the message says what to send (pydantic
            validators turn it into a field error).
    """
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"is not standard base64; send base64 of the {size}-byte {what}") from None
    if len(raw) != size:
        raise ValueError(f"decodes to {len(raw)} bytes; send base64 of the {size}-byte {what}")
    if base64.b64encode(raw).decode("ascii") != value:
        raise ValueError(f"is not canonical base64; re-encode the {size}-byte {what}")
    return value


R = TypeVar("R", bound=SignedRecord)


@dataclass(frozen=True)
class RecordType(Generic[R]):
    """How one kind of record is read and checked, whatever log or export holds it."""

    noun: str  # one record, for messages: "entry", "vote"
    parse: Callable[[bytes], R]  # canonical bytes read back from a log -> record; EntryError
    verify_signature: Callable[[R], None]  # raises SignatureError
