"""Endorse/oppose votes on wishes: signed by the voter, checkable by anyone.

A :class:`Vote` is one person's current opinion of one wish: ``+1`` endorse,
``-1`` oppose, ``0`` withdraw an earlier vote. The voter signs it with an
Ed25519 key (RFC 8032) over ``VOTE_SIGNING_PREFIX`` + the canonical JSON of the
vote without its signature; the prefix differs from the wishes'
``charter-wish-v1`` so a signature made for a vote can never pass as one made
for a wish, or the other way round. Canonical JSON is the same as for entries
(:mod:`charter.ledger.entry`): sorted keys, no spaces, raw UTF-8.

Rules (enforced by :class:`charter.ledger.votelog.VoteLog` and the stores):

- one current vote per ``(voter_key, entry_id)``: a vote with a newer
  ``timestamp`` replaces the earlier one; an older or equal one is refused;
- a ``(voter_key, nonce)`` is usable once (replays are refused);
- a vote names the log (``origin``) and an entry that is in it.

Votes are mutable opinions, so they are not leaves of the wish log. Every
accepted vote is a leaf of a second RFC 6962 log of its own (the *vote log*,
checkpointed under ``<origin>/votes`` with the same log key), so the current
tally is a function anyone can recompute from a verified export.

The analysis side reads votes with :func:`load_votes` and turns them into a
voter x wish matrix with :func:`vote_matrix` (the input of Polis-style
group-aware consensus and Community Notes-style bridging scores).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError, field_validator

from charter._util.sources import parse_source
from charter._util.validation import describe
from charter.errors import DatasetError, EntryError
from charter.ledger.ed25519 import verify_strict
from charter.ledger.entry import (
    _private,
    format_timestamp,
    parse_timestamp,
    public_key_b64,
)
from charter.ledger.record import canonical_b64 as _canonical_b64
from charter.ledger.record import canonical_json, record_id, signing_bytes
from charter.ledger.text import is_blank, normalise_text, text_problem

VOTE_SIGNING_PREFIX = b"charter-vote-v1\n"
VOTE_VERSION = 1
ENDORSE, OPPOSE, WITHDRAW = 1, -1, 0
VOTE_ORIGIN_SUFFIX = "/votes"  # the vote log's checkpoints carry origin + this

_HEX64 = re.compile(r"[0-9a-f]{64}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")
# Milliseconds exactly (as JavaScript's toISOString writes): equal-length text sorts in time
# order, so stores compare timestamps as strings.
_VOTE_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


class Vote(BaseModel):
    """One voter's signed opinion of one wish; see the module docstring for the rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: StrictInt = VOTE_VERSION  # format version, part of the signed bytes
    origin: StrictStr  # the log the wish is in: a vote cannot be replayed into another log
    entry_id: StrictStr  # hex id of the wish voted on (its RFC 6962 leaf hash)
    value: StrictInt  # +1 endorse, -1 oppose, 0 withdraw an earlier vote
    timestamp: StrictStr  # RFC 3339 UTC with milliseconds, e.g. 2026-11-22T17:00:00.123Z
    voter_key: StrictStr  # base64 of the voter's raw 32-byte Ed25519 public key
    nonce: StrictStr  # 16-128 chars of A-Z a-z 0-9 _ -, unique per voter key
    signature: StrictStr  # base64 of the 64-byte Ed25519 signature over signing_bytes()

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != VOTE_VERSION:
            raise ValueError(f"unsupported version {value}; this software reads {VOTE_VERSION}")
        return value

    @field_validator("origin")
    @classmethod
    def _origin(cls, value: str) -> str:
        # The one free-text field of a vote: the same clean-text rules as a wish's one-line text.
        problem = text_problem(value, multiline=False)
        if problem is not None:
            raise ValueError(problem)
        if is_blank(value):
            raise ValueError("must be the log's origin line, e.g. 'example.org/wishes'")
        return value

    @field_validator("entry_id")
    @classmethod
    def _entry_id(cls, value: str) -> str:
        if not _HEX64.fullmatch(value):
            raise ValueError("must be the 64-character lowercase hex id of a wish")
        return value

    @field_validator("value")
    @classmethod
    def _value(cls, value: int) -> int:
        if value not in (ENDORSE, OPPOSE, WITHDRAW):
            raise ValueError("must be 1 (endorse), -1 (oppose) or 0 (withdraw)")
        return value

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: str) -> str:
        if not _VOTE_TIMESTAMP.fullmatch(value):
            raise ValueError(
                "must be RFC 3339 UTC with milliseconds, e.g. 2026-11-22T17:00:00.123Z"
            )
        parse_timestamp(value)
        return value

    @field_validator("voter_key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _canonical_b64(value, 32, "Ed25519 public key")

    @field_validator("nonce")
    @classmethod
    def _nonce(cls, value: str) -> str:
        if not _NONCE.fullmatch(value):
            raise ValueError("must be 16 to 128 characters of A-Z a-z 0-9 _ - ; use a fresh one")
        return value

    @field_validator("signature")
    @classmethod
    def _signature(cls, value: str) -> str:
        return _canonical_b64(value, 64, "Ed25519 signature")

    def signing_bytes(self) -> bytes:
        """``VOTE_SIGNING_PREFIX`` + canonical JSON without the signature: what the voter signs."""
        return signing_bytes(VOTE_SIGNING_PREFIX, self.model_dump(exclude={"signature"}))

    def canonical_bytes(self) -> bytes:
        """Canonical JSON with every field: the vote log's leaf data."""
        return canonical_json(self.model_dump())

    @property
    def id(self) -> str:
        """Hex RFC 6962 leaf hash of :meth:`canonical_bytes` (the vote's id in the vote log)."""
        return record_id(self.canonical_bytes())


def parse_vote(data: bytes | str | dict[str, Any]) -> Vote:
    """Parse a vote from JSON (bytes or text) or a dict.

    Raises:
        EntryError: one line naming the field and the fix.
    """
    try:
        if isinstance(data, dict):
            return Vote.model_validate(data)
        if isinstance(data, bytes | bytearray | memoryview):
            try:
                data = bytes(data).decode("utf-8")
            except UnicodeDecodeError:
                raise EntryError("vote is not valid UTF-8; send UTF-8 encoded JSON") from None
        return Vote.model_validate_json(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        if err["type"] == "json_invalid":
            raise EntryError("vote is not valid JSON; send one JSON object") from None
        if err["type"] == "model_type" and not err["loc"]:
            raise EntryError("vote must be a JSON object with the vote fields") from None
        detail = describe(exc, data if isinstance(data, dict) else None)
        raise EntryError(f"vote {detail}") from None


def sign_vote(
    entry_id: str,
    value: int,
    private_key: Ed25519PrivateKey | bytes,
    origin: str,
    nonce: str | None = None,
    timestamp: str | datetime | None = None,
) -> Vote:
    """Build and sign a vote.

    Args:
        entry_id: hex id of the wish.
        value: 1 endorse, -1 oppose, 0 withdraw.
        private_key: the voter's Ed25519 key or its 32-byte seed.
        origin: the ledger's origin (``Ledger.origin``); NFC-normalised before signing.
        nonce: unique per voter key; random by default.
        timestamp: RFC 3339 text with milliseconds or an aware datetime; now by default.
    """
    key = _private(private_key)
    if not isinstance(timestamp, str):
        timestamp = format_timestamp(timestamp)
    unsigned = parse_vote(
        {
            "origin": normalise_text(origin) if isinstance(origin, str) else origin,
            "entry_id": entry_id,
            "value": value,
            "timestamp": timestamp,
            "voter_key": public_key_b64(key),
            "nonce": secrets.token_urlsafe(18) if nonce is None else nonce,
            "signature": base64.b64encode(bytes(64)).decode("ascii"),  # replaced below
        }
    )
    signature = base64.b64encode(key.sign(unsigned.signing_bytes())).decode("ascii")
    return unsigned.model_copy(update={"signature": signature})


def verify_vote_signature(vote: Vote) -> None:
    """Check the voter's Ed25519 signature (RFC 8032 section 5.1.7) over ``signing_bytes()``.

    Strict (:mod:`charter.ledger.ed25519`): a small-order key, which could sign
    every vote, is refused, as are non-canonical keys, R and S.

    Raises:
        SignatureError: the signature does not verify under ``vote.voter_key``.
    """
    verify_strict(
        base64.b64decode(vote.voter_key),
        base64.b64decode(vote.signature),
        vote.signing_bytes(),
        what="vote signature",
        mismatch="vote signature does not verify against its voter_key: the vote was changed "
        "after signing, or signed over other bytes (sign 'charter-vote-v1\\n' + canonical JSON)",
        expected=vote.voter_key,
    )


def check_vote(vote: Vote, origin: str, max_clock_skew_s: float | None = 600) -> None:
    """The intake gate short of the store: origin, clock skew, then the signature.

    Raises:
        EntryError: the vote is for another log or its clock is far off.
        SignatureError: the signature does not verify.
    """
    if vote.origin != origin:
        raise EntryError(
            f"field origin: the vote is for log {vote.origin!r}, this is {origin!r}; "
            "sign the vote for this log."
        )
    if max_clock_skew_s is not None:
        skew = (parse_timestamp(vote.timestamp) - datetime.now(UTC)).total_seconds()
        if abs(skew) > max_clock_skew_s:
            when = "ahead of" if skew > 0 else "behind"
            raise EntryError(
                f"field timestamp: {vote.timestamp} is {abs(skew):.0f} s {when} the ledger clock "
                f"(limit {max_clock_skew_s:g} s); set the clock and sign again."
            )
    verify_vote_signature(vote)


# -- reading votes for analysis -----------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """The current votes on one wish."""

    endorse: int = 0
    oppose: int = 0

    @property
    def total(self) -> int:
        return self.endorse + self.oppose

    def to_dict(self) -> dict[str, int]:
        return {"endorse": self.endorse, "oppose": self.oppose, "total": self.total}


def current_votes(votes: Iterable[Vote]) -> list[Vote]:
    """The vote in force per ``(voter_key, entry_id)``: the newest timestamp wins.

    Withdrawals (value 0) stay in the result (they are the voter's current
    state); :func:`tally` and :func:`vote_matrix` count them as no vote.
    Order: the order in which each pair's winning vote appeared.
    """
    latest: dict[tuple[str, str], Vote] = {}
    for vote in votes:
        pair = (vote.voter_key, vote.entry_id)
        held = latest.get(pair)
        if held is None or vote.timestamp > held.timestamp:
            latest.pop(pair, None)  # re-insert so the order follows the winning vote
            latest[pair] = vote
    return list(latest.values())


def tally(votes: Iterable[Vote]) -> dict[str, Tally]:
    """Endorse and oppose counts per entry id, from the current votes."""
    counts: dict[str, list[int]] = {}
    for vote in current_votes(votes):
        pair = counts.setdefault(vote.entry_id, [0, 0])
        if vote.value == ENDORSE:
            pair[0] += 1
        elif vote.value == OPPOSE:
            pair[1] += 1
    return {entry_id: Tally(e, o) for entry_id, (e, o) in counts.items()}


def vote_matrix(votes: Iterable[Vote], entry_ids: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """A voters x wishes matrix of current votes (Polis' participant x comment matrix).

    Args:
        votes: any votes (earlier ones are superseded as in :func:`current_votes`).
        entry_ids: the columns, in this order; votes on other wishes are left out.

    Returns:
        ``(matrix, voter_keys)``: float64 of shape ``(len(voter_keys), len(entry_ids))``
        holding +1 / -1 and ``nan`` where a voter has no vote (or withdrew it);
        rows are the voters with at least one +1/-1 on these columns, sorted by key.
    """
    column = {entry_id: j for j, entry_id in enumerate(entry_ids)}
    cells = [
        (v.voter_key, column[v.entry_id], float(v.value))
        for v in current_votes(votes)
        if v.entry_id in column and v.value != WITHDRAW
    ]
    voter_keys = sorted({key for key, _, _ in cells})
    row = {key: i for i, key in enumerate(voter_keys)}
    matrix = np.full((len(voter_keys), len(entry_ids)), np.nan)
    for key, j, value in cells:
        matrix[row[key], j] = value
    return matrix, voter_keys


def load_votes(source: str | Path, *, current: bool = True, verify: bool = True) -> list[Vote]:
    """Read votes from a ledger store or a JSONL export.

    Args:
        source: a ledger location (SQLite file or ``postgresql://`` URL), or a JSONL
            file with one vote per line (as ``charter ledger votes export`` writes; lines
            of ``GET /api/v1/votes`` items, ``{"vote": {...}}``, are accepted too).
        current: keep only the vote in force per (voter, wish); False gives the whole log.
        verify: check every vote's signature (a JSONL file may come from anywhere).

    Raises:
        DatasetError: the file is missing or a line is not a vote.
        SignatureError: a vote's signature does not verify (with ``verify``).
    """
    text = str(source)
    parsed = parse_source(source)
    if parsed.scheme != "postgres" and not (parsed.scheme == "path" and parsed.path.is_file()):
        raise DatasetError(f"{text}: no such file; give a ledger store or a votes JSONL export.")
    if parsed.scheme == "postgres" or parsed.format == "sqlite":
        from charter.ledger.store import open_store

        store = open_store(text)
        try:
            rows = store.current_votes() if current else list(store.votes())
            votes = [parse_vote(row.data) for row in rows]
        finally:
            store.close()
    else:
        votes = []
        with Path(text).open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    if isinstance(data, dict) and "vote" in data:
                        data = data["vote"]  # an item of GET /api/v1/votes
                    votes.append(parse_vote(data))
                except (ValueError, TypeError, EntryError) as exc:
                    raise DatasetError(f"{text}:{number}: not a vote ({exc}).") from None
        if current:
            votes = current_votes(votes)
    if verify:
        for vote in votes:
            verify_vote_signature(vote)
    return votes
