"""Wishes and signed ledger entries: the canonical bytes that become Merkle leaves.

An :class:`Entry` is one wish plus its stake (fee, burn), an RFC 3339 UTC
timestamp, a salted commitment to the author (SHA-256(salt || identity), never
the identity) and an Ed25519 signature (RFC 8032) by the author's pseudonymous
key. Its *canonical bytes* are the Merkle leaf data; its id is the hex RFC 6962
leaf hash of them (RFC 6962 section 2.1, RFC 9162 section 2.1.1:
SHA-256(0x00 || data)).

Canonical JSON (the browser reproduces it byte for byte):

    json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

encoded as UTF-8, with ``None`` fields omitted. This equals JavaScript's
``JSON.stringify`` of an object built with sorted keys: both escape only ``"``,
``\\``, and the C0 controls (``\\b \\f \\n \\r \\t``, the rest as lowercase
``\\u00xx``) and write everything else, U+2028 and emoji included, as raw UTF-8.
Two rules keep the two sides equal: text is NFC-normalised (Unicode UAX #15)
before signing, and integers stay within 2**53 - 1, the largest a JavaScript
number holds exactly. Lengths are counted in code points (``[...s].length`` in
JavaScript, not ``s.length``).

The signature covers ``SIGNING_PREFIX`` + the canonical JSON without
``"signature"``; the prefix keeps these signatures from being valid for any
other message a wish key might sign.

Use: ``entry = sign_entry(Wish(...), fee=1, burn=0, private_key=key, identity=..., salt=...)``,
then ``validate_entry(parse_entry(data), EntryPolicy())`` at intake.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from charter._util.validation import describe
from charter.errors import EntryError, VerificationError
from charter.ledger.ed25519 import verify_strict
from charter.ledger.record import RecordType, canonical_json, record_id, signing_bytes
from charter.ledger.record import canonical_b64 as _canonical_b64
from charter.ledger.text import clean_text, normalise_text, text_problem

SIGNING_PREFIX = b"charter-wish-v1\n"
VERSION = 1
MAX_SAFE_INTEGER = 2**53 - 1  # JavaScript's Number.MAX_SAFE_INTEGER
MIN_SALT_BYTES = 16  # below this a commitment to a guessable identity can be brute-forced

_HEX64 = re.compile(r"[0-9a-f]{64}")
# RFC 3339 section 5.6 date-time, restricted to UTC ("Z") so equal instants have equal text.
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
_NONCE = re.compile(r"[A-Za-z0-9_-]+")
# BCP 47 shape (RFC 5646 section 2.1) without the registry: a 2-8 letter language, then subtags.
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")


# Validation context for entries read back from a log: the text rules are intake policy,
# and an entry a log already holds (one appended before the rules existed) must still
# parse, be verified and be exported, or stored wishes would be lost to a stricter reader.
STORED = {"stored": True}


def _text(value: str, info: ValidationInfo, multiline: bool = True) -> str:
    """Refuse unsafe text (:mod:`charter.ledger.text`: controls, CR, bidi overrides, BOM,
    non-characters, lone surrogates), then NFC-normalise."""
    if not (info.context or {}).get("stored"):
        problem = text_problem(value, multiline=multiline)
        if problem is not None:
            raise ValueError(problem)
    if value.isascii():
        return value  # ASCII is always NFC; skip the work on the common path
    return unicodedata.normalize("NFC", value)


def _line(value: str, info: ValidationInfo) -> str:
    return _text(value, info, multiline=False)


# One-line text (tags): the item validator puts the tag's index in the error's field.
_Line = Annotated[StrictStr, AfterValidator(_line)]


class Wish(BaseModel):
    """A scenario and the behaviour a person wants from an AI in it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scenario: StrictStr  # the situation the wish is about
    behaviour: StrictStr  # what the AI should do in it
    rationale: StrictStr | None = None  # why (optional; omitted from the bytes when None)
    tags: tuple[_Line, ...] = ()  # a tuple so a frozen wish cannot change under its hash
    language: _Line = "en"  # BCP 47 tag of the text
    parent: StrictStr | None = None  # hex id of the entry this wish adapts

    @field_validator("scenario", "behaviour", "rationale")
    @classmethod
    def _nfc(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _text(value, info)

    @field_validator("parent")
    @classmethod
    def _parent_id(cls, value: str | None) -> str | None:
        if value is not None and not _HEX64.fullmatch(value):
            raise ValueError("must be the 64-character lowercase hex id of an earlier entry")
        return value


class Entry(BaseModel):
    """One signed wish with its stake: the unit the ledger appends."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: StrictInt = VERSION  # format version, part of the signed bytes
    wish: Wish
    fee: StrictInt  # credits paid to deposit the wish (policy sets the minimum)
    burn: StrictInt  # extra credits destroyed to scale the wish's influence
    timestamp: StrictStr  # RFC 3339 UTC with "Z", e.g. 2026-11-22T17:00:00.123Z
    author_commitment: StrictStr  # hex SHA-256(salt || identity)
    author_key: StrictStr  # base64 of the raw 32-byte Ed25519 public key
    nonce: StrictStr  # unique per author key; the ledger refuses a repeat (replay)
    signature: StrictStr  # base64 of the 64-byte Ed25519 signature over signing_bytes()

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != VERSION:
            raise ValueError(f"unsupported version {value}; this software reads version {VERSION}")
        return value

    @field_validator("fee", "burn")
    @classmethod
    def _safe_integer(cls, value: int) -> int:
        if abs(value) > MAX_SAFE_INTEGER:
            raise ValueError(
                f"must be at most {MAX_SAFE_INTEGER} in size (JavaScript's largest exact integer)"
            )
        return value

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: str) -> str:
        parse_timestamp(value)
        return value

    @field_validator("author_commitment")
    @classmethod
    def _commitment(cls, value: str) -> str:
        if not _HEX64.fullmatch(value):
            raise ValueError("must be 64 lowercase hex characters (see commit_author)")
        return value

    @field_validator("author_key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _canonical_b64(value, 32, "Ed25519 public key")

    @field_validator("signature")
    @classmethod
    def _signature(cls, value: str) -> str:
        return _canonical_b64(value, 64, "Ed25519 signature")

    def signing_bytes(self) -> bytes:
        """The bytes the author signs: ``SIGNING_PREFIX`` + canonical JSON without the signature."""
        body = self.model_dump(exclude={"signature"}, exclude_none=True)
        return signing_bytes(SIGNING_PREFIX, body)

    def canonical_bytes(self) -> bytes:
        """Canonical JSON with every field: the Merkle leaf data."""
        return canonical_json(self.model_dump(exclude_none=True))

    @property
    def id(self) -> str:
        """Hex RFC 6962 leaf hash of :meth:`canonical_bytes`."""
        return record_id(self.canonical_bytes())


def format_timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 UTC with milliseconds and "Z", as JavaScript's ``Date.toISOString()`` writes it."""
    moment = datetime.now(UTC) if moment is None else moment
    if moment.tzinfo is None:
        raise ValueError("timestamp needs a timezone; pass an aware datetime (e.g. tz=UTC)")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    """Parse an entry timestamp (RFC 3339 section 5.6, UTC "Z" only) to an aware datetime."""
    if not _TIMESTAMP.fullmatch(value):
        raise ValueError(
            "must be an RFC 3339 UTC time such as 2026-11-22T17:00:00.123Z (ending in Z)"
        )
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a real date and time") from None


def generate_author_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 author key (keep it private; its public half is the pseudonym)."""
    return Ed25519PrivateKey.generate()


def public_key_b64(private_key: Ed25519PrivateKey | bytes) -> str:
    """The ``author_key`` text for a private key: base64 of the raw 32-byte public key."""
    raw = _private(private_key).public_key().public_bytes_raw()
    return base64.b64encode(raw).decode("ascii")


def new_salt() -> bytes:
    """32 random bytes for :func:`commit_author`; the author keeps them to prove authorship."""
    return secrets.token_bytes(32)


def commit_author(identity: str, salt: bytes) -> str:
    """Hex SHA-256(salt || UTF-8(NFC(identity))): binds an identity without revealing it.

    Raises:
        EntryError: empty identity, or a salt shorter than 16 bytes (a short salt
            lets anyone test guessed identities against the commitment).
    """
    if not identity:
        raise EntryError("identity: empty; give the name or address the commitment binds")
    if len(salt) < MIN_SALT_BYTES:
        raise EntryError(
            f"salt: {len(salt)} bytes; use at least {MIN_SALT_BYTES} random bytes (new_salt())"
        )
    try:
        data = unicodedata.normalize("NFC", identity).encode("utf-8")
    except UnicodeEncodeError:
        raise EntryError("identity: not valid Unicode; pass UTF-8 text") from None
    return hashlib.sha256(salt + data).hexdigest()


def _private(private_key: Ed25519PrivateKey | bytes) -> Ed25519PrivateKey:
    if isinstance(private_key, Ed25519PrivateKey):
        return private_key
    if isinstance(private_key, bytes | bytearray) and len(private_key) == 32:
        return Ed25519PrivateKey.from_private_bytes(bytes(private_key))
    raise EntryError("private_key: pass an Ed25519PrivateKey or its 32-byte seed")


def _normalised_wish(wish: dict[str, Any]) -> dict[str, Any]:
    """The signer's side of clean text: normalise before signing, never after (see text.py)."""
    out = dict(wish)
    for name in ("scenario", "behaviour", "rationale", "language"):
        if isinstance(out.get(name), str):
            out[name] = normalise_text(out[name])
    if isinstance(out.get("tags"), list | tuple):
        out["tags"] = [normalise_text(t) if isinstance(t, str) else t for t in out["tags"]]
    return out


def sign_entry(
    wish: Wish | dict[str, Any],
    fee: int,
    burn: int,
    private_key: Ed25519PrivateKey | bytes,
    identity: str,
    salt: bytes,
    nonce: str | None = None,
    timestamp: str | datetime | None = None,
) -> Entry:
    """Build and sign an entry.

    Args:
        wish: the wish (a dict has its text normalised first, CRLF and CR to LF
            and NFC, as the browser does, then is validated into a :class:`Wish`).
        fee, burn: credits paid and burned.
        private_key: the author's Ed25519 key or its 32-byte seed.
        identity, salt: committed to as ``commit_author(identity, salt)``; only
            the commitment enters the entry.
        nonce: unique per key; a random 32-character one by default.
        timestamp: RFC 3339 text or an aware datetime; now by default.

    Raises:
        EntryError: a field does not validate.
    """
    key = _private(private_key)
    if not isinstance(timestamp, str):
        timestamp = format_timestamp(timestamp)
    if isinstance(wish, dict):
        wish = _normalised_wish(wish)
    fields = {
        "wish": wish,
        "fee": fee,
        "burn": burn,
        "timestamp": timestamp,
        "author_commitment": commit_author(identity, salt),
        "author_key": public_key_b64(key),
        "nonce": secrets.token_urlsafe(24) if nonce is None else nonce,
        # A placeholder that validates: the real signature covers bytes without this field.
        "signature": base64.b64encode(bytes(64)).decode("ascii"),
    }
    unsigned = parse_entry(fields)
    signature = key.sign(unsigned.signing_bytes())
    return unsigned.model_copy(update={"signature": base64.b64encode(signature).decode("ascii")})


def verify_entry_signature(entry: Entry) -> None:
    """Check the Ed25519 signature (RFC 8032 section 5.1.7) over ``entry.signing_bytes()``.

    Strict: small-order or non-canonical keys and R, and S >= L, are refused
    (:mod:`charter.ledger.ed25519`), so no key can sign every message.

    Raises:
        SignatureError: the signature does not verify under ``entry.author_key``.
    """
    verify_strict(
        base64.b64decode(entry.author_key),
        base64.b64decode(entry.signature),
        entry.signing_bytes(),
        what="entry signature",
        mismatch="entry signature does not verify against its author_key: the entry was changed "
        "after signing, or signed over other bytes (sign the canonical JSON of NFC text)",
        expected=entry.author_key,
    )


def prove_authorship(entry: Entry, identity: str, salt: bytes) -> None:
    """Check that ``identity`` and ``salt`` open the entry's author commitment.

    The signature is checked first, so the commitment is the one its key holder signed.

    Raises:
        SignatureError: the entry's signature does not verify.
        VerificationError: the commitment does not match.
    """
    verify_entry_signature(entry)
    computed = commit_author(identity, salt)
    if not hmac.compare_digest(computed, entry.author_commitment):
        raise VerificationError(
            "identity and salt do not open this entry's author_commitment",
            expected=entry.author_commitment,
            computed=computed,
        )


def parse_entry(data: bytes | str | dict[str, Any], *, stored: bool = False) -> Entry:
    """Parse an entry from JSON (bytes or text) or a dict.

    Args:
        data: the entry.
        stored: the entry comes from a log (a store or an export), not from an author:
            skip the intake-only text rules so that older entries still read back.

    Raises:
        EntryError: one line naming the field and the fix (bad UTF-8 or JSON too).
    """
    context = STORED if stored else None
    try:
        if isinstance(data, dict):
            return Entry.model_validate(data, context=context)
        if isinstance(data, bytes | bytearray | memoryview):
            try:
                data = bytes(data).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise EntryError(
                    f"entry is not valid UTF-8 (byte {exc.start}); send UTF-8 encoded JSON"
                ) from None
        if not isinstance(data, str):
            raise EntryError(f"entry must be JSON text, bytes or a dict, not {type(data).__name__}")
        return Entry.model_validate_json(data, context=context)
    except ValidationError as exc:
        err = exc.errors()[0]
        if err["type"] == "json_invalid":
            detail = err["msg"].removeprefix("Invalid JSON: ")
            raise EntryError(f"entry is not valid JSON ({detail}); send one JSON object") from None
        if err["type"] == "model_type" and not err["loc"]:
            raise EntryError("entry must be a JSON object with the entry fields") from None
        raise EntryError(describe(exc, data if isinstance(data, dict) else None)) from None


@dataclass(frozen=True)
class EntryPolicy:
    """What the ledger accepts beyond well-formedness. Sizes count code points."""

    min_fee: int = 1  # credits an entry must pay
    max_scenario: int = 4000  # longest wish.scenario
    max_behaviour: int = 4000  # longest wish.behaviour
    max_rationale: int = 4000  # longest wish.rationale
    max_tags: int = 16  # most tags per wish
    max_tag: int = 40  # longest tag
    max_language: int = 35  # longest BCP 47 tag (RFC 5646 section 4.4.1 suggests 35)
    min_nonce: int = 16  # shortest nonce; short nonces collide and get refused as replays
    max_nonce: int = 128  # longest nonce
    max_clock_skew_s: float | None = 600  # |timestamp - now| limit; None skips it (imports)


def _text_field(name: str, value: str, limit: int, empty_fix: str, multiline: bool = True) -> None:
    # The model already refused unsafe characters; checking again here covers entries made
    # without validation (model_construct, model_copy(update=...)) before they are stored.
    clean_text(value, name, multiline=multiline, empty_fix=empty_fix)
    if len(value) > limit:
        raise EntryError(
            f"field {name}: {len(value)} characters, the limit is {limit}; shorten it."
        )


def _check_wish(wish: Wish, policy: EntryPolicy) -> None:
    _text_field(
        "wish.scenario", wish.scenario, policy.max_scenario, "write the situation the wish is about"
    )
    _text_field(
        "wish.behaviour", wish.behaviour, policy.max_behaviour, "write what the AI should do in it"
    )
    if wish.rationale is not None:
        _text_field("wish.rationale", wish.rationale, policy.max_rationale, "omit it or write why")
    if len(wish.tags) > policy.max_tags:
        raise EntryError(
            f"field wish.tags: {len(wish.tags)} tags, the limit is {policy.max_tags}; keep "
            "the most telling ones."
        )
    seen: set[str] = set()
    for i, tag in enumerate(wish.tags):
        _text_field(f"wish.tags[{i}]", tag, policy.max_tag, "remove it or write the tag", False)
        if tag in seen:
            raise EntryError(f"field wish.tags[{i}]: {tag!r} repeats an earlier tag; remove it.")
        seen.add(tag)
    if len(wish.language) > policy.max_language or not _LANGUAGE.fullmatch(wish.language):
        raise EntryError(
            f"field wish.language: {wish.language[:40]!r} is not a BCP 47 language tag; use "
            "one such as 'en' or 'pt-BR'."
        )


def validate_entry(entry: Entry, policy: EntryPolicy, now: datetime | None = None) -> None:
    """Check an entry against ``policy`` and verify its signature (the intake gate).

    Checks sizes, required text, stake (fee >= ``policy.min_fee``, burn >= 0),
    nonce shape, timestamp skew against ``now`` (default: the clock) and the
    Ed25519 signature, cheapest first. UTF-8 validity is enforced by the model.
    Nonce replay and parent existence need the store; ``Ledger`` checks them.

    Raises:
        EntryError: the first failing field, with the fix.
        SignatureError: the signature does not verify.
    """
    _check_wish(entry.wish, policy)
    if entry.fee < policy.min_fee:
        raise EntryError(
            f"field fee: {entry.fee} is below the minimum fee of {policy.min_fee}; pay at "
            f"least {policy.min_fee} credit{'s' if policy.min_fee != 1 else ''}."
        )
    if entry.burn < 0:
        raise EntryError(f"field burn: {entry.burn} is negative; burn 0 or more credits.")
    if not policy.min_nonce <= len(entry.nonce) <= policy.max_nonce or not _NONCE.fullmatch(
        entry.nonce
    ):
        raise EntryError(
            f"field nonce: must be {policy.min_nonce} to {policy.max_nonce} characters of "
            "A-Z a-z 0-9 _ - ; generate a fresh random one."
        )
    if policy.max_clock_skew_s is not None:
        moment = now or datetime.now(UTC)
        if moment.tzinfo is None:
            raise ValueError("now needs a timezone; pass an aware datetime (e.g. tz=UTC)")
        skew = (parse_timestamp(entry.timestamp) - moment).total_seconds()
        if abs(skew) > policy.max_clock_skew_s:
            when = "ahead of" if skew > 0 else "behind"
            raise EntryError(
                f"field timestamp: {entry.timestamp} is {abs(skew):.0f} s {when} the ledger "
                f"clock (limit {policy.max_clock_skew_s:g} s); set the clock and sign again."
            )
    verify_entry_signature(entry)


def parse_stored_entry(data: bytes | str) -> Entry:
    """:func:`parse_entry` for an entry read back from a log (see ``stored``)."""
    return parse_entry(data, stored=True)


# Wishes as a record type of the signed-log core: read back leniently (``stored``), since
# the intake rules were applied when each entry was appended.
WISH_RECORD = RecordType("entry", parse_stored_entry, verify_entry_signature)
