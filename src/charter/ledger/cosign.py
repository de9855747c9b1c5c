"""Witness cosignatures on checkpoints: C2SP tlog-cosignature, the Ed25519 ``cosignature/v1`` type.

A cosignature (c2sp.org/tlog-cosignature) is a signed-note signature line that
a *witness* adds to a log's checkpoint after checking that the checkpoint is
consistent with everything it saw of that log before:

    — witness.example/w1 base64(key ID || timestamp || Ed25519 signature)

- the key ID is ``SHA-256(<name> || 0x0A || 0x04 || 32-byte public key)[:4]``
  (signature type 0x04, so the same key can never pass for a log's 0x01 key);
- the timestamp is a big-endian u64 of POSIX seconds (the ``timestamped_signature``
  structure of the spec), at most 2**63 - 1 and never zero;
- the signature is RFC 8032 Ed25519 over ``"cosignature/v1\\n" ||
  "time <timestamp>\\n" ||`` the whole checkpoint text (final newline included,
  signature lines excluded).

Witness keys are written like log keys (:mod:`charter.ledger.checkpoint`), with
type byte 0x04: verifier ``<name>+<8 hex key ID>+<base64(0x04 || public key)>``
(a C2SP vkey) and private ``PRIVATE+KEY+<name>+<key ID>+<base64(0x04 || seed)>``.

Use::

    key = WitnessKey.generate("witness.example/w1")
    line = cosign(Checkpoint.from_text(text), key)        # one signature line
    cosigned = note + line                                # append it to the note
    verify_cosignatures(cosigned, [key.verifier_string()], min_witnesses=1)

:func:`detect_split_view` is the client side of the same promise: given notes a
client has seen, it finds two checkpoints of one log with one size and two roots.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from charter._util.paths import key_or_file
from charter.errors import ConfigError, LedgerError, RootMismatchError, SignatureError
from charter.ledger.checkpoint import (
    _SIGNATURE_START,
    Checkpoint,
    NoteKey,
    NoteVerifier,
    _split_note,
    parse_verifier,
    read_key,
    verify_checkpoint,
)
from charter.ledger.ed25519 import verify_strict

COSIGNATURE_V1 = 0x04  # signed-note signature type of an Ed25519 cosignature/v1 key
MAX_TIMESTAMP = 2**63 - 1  # tlog-cosignature: the timestamp MUST NOT exceed it
_HEADER = "cosignature/v1\n"
_SIGNATURE_SIZE = 8 + 64  # u64 timestamp, Ed25519 signature (after the 4-byte key ID)


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: header line, time line, checkpoint text."""
    return f"{_HEADER}time {timestamp}\n{checkpoint_text}".encode()


class WitnessKey(NoteKey):
    """A witness's Ed25519 cosigning key (type 0x04) and the name its cosignatures carry.

    The name is a schema-less URL naming the witness (C2SP tlog-witness).
    """

    sig_type: ClassVar[int] = COSIGNATURE_V1
    what: ClassVar[str] = "witness key"
    example: ClassVar[str] = "witness.example/w1"
    fix: ClassVar[str] = "pass the text that `charter ledger witness-key` wrote"
    create: ClassVar[str] = "create one with `charter ledger witness-key`"


def parse_witness_verifier(text: str) -> NoteVerifier:
    """Parse a witness vkey ``<name>+<key ID>+<base64(0x04 || public key)>``.

    Raises:
        LedgerError: malformed, not type 0x04, or its key ID does not match.
    """
    return parse_verifier(text, COSIGNATURE_V1)


def read_witness_verifiers(values: Iterable[str]) -> list[str]:
    """Witness vkeys from ``--witness`` values: each a vkey or a file of vkeys, one a line.

    Blank lines and lines starting with ``#`` in a file are skipped.

    Raises:
        LedgerError: a value is neither a readable file nor a witness vkey.
    """
    vkeys = []
    for value in values:
        for line in key_or_file(value, "--witness").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                try:
                    vkeys.append(parse_witness_verifier(line).verifier_string())
                except LedgerError as exc:
                    raise LedgerError(f"--witness {value[:80]}: {exc}") from None
    return vkeys


def load_witness_key(path: str | Path) -> WitnessKey:
    """Read a witness key written by ``save_key(path, witness_key)``.

    Raises:
        LedgerError: the file is missing, unreadable or malformed.
    """
    return read_key(path, WitnessKey)


@dataclass(frozen=True)
class Cosignature:
    """One parsed cosignature/v1 line: who, when (POSIX seconds) and the signature."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes


def cosign(checkpoint: Checkpoint, key: WitnessKey, timestamp: int | None = None) -> str:
    """One cosignature/v1 signature line for ``checkpoint``, ending in a newline.

    Args:
        checkpoint: the checkpoint (verified by the caller) to cosign.
        key: the witness key.
        timestamp: POSIX seconds; default now. Must be in [1, 2**63 - 1].
    """
    timestamp = int(time.time()) if timestamp is None else timestamp
    if not 0 < timestamp <= MAX_TIMESTAMP:
        raise LedgerError(f"cosignature timestamp {timestamp} is not in [1, 2**63 - 1].")
    signature = key.private_key.sign(cosigned_message(checkpoint.to_text(), timestamp))
    blob = key.key_id + struct.pack(">Q", timestamp) + signature
    return f"{_SIGNATURE_START}{key.name} {base64.b64encode(blob).decode('ascii')}\n"


def _cosignatures_by(
    signatures: Sequence[tuple[str, bytes, bytes]], verifier: NoteVerifier
) -> list[Cosignature]:
    """The signatures whose name and key ID are ``verifier``'s, parsed as cosignature/v1."""
    found = []
    for name, key_id, raw in signatures:
        if name != verifier.name or key_id != verifier.key_id:
            continue
        if len(raw) != _SIGNATURE_SIZE:
            raise SignatureError(
                f"cosignature by {name} is {len(raw)} bytes after its key ID, not "
                f"{_SIGNATURE_SIZE} (u64 timestamp and Ed25519 signature): the note was altered"
            )
        (timestamp,) = struct.unpack(">Q", raw[:8])
        found.append(Cosignature(name, key_id, timestamp, raw[8:]))
    return found


def _as_witness(witness: str | NoteVerifier) -> NoteVerifier:
    known = parse_witness_verifier(witness) if isinstance(witness, str) else witness
    if known.sig_type != COSIGNATURE_V1:
        raise LedgerError(f"{known.name} is not a witness (type 0x04) key; pass its vkey.")
    return known


def _verified(
    text: str, signatures: Sequence[tuple[str, bytes, bytes]], known: NoteVerifier
) -> list[Cosignature]:
    """Every cosignature by ``known`` on ``text``, each verified; raises on a bad one."""
    found = _cosignatures_by(signatures, known)
    for cosig in found:
        if cosig.timestamp == 0 or cosig.timestamp > MAX_TIMESTAMP:
            raise SignatureError(
                f"cosignature by {known.name} has timestamp {cosig.timestamp}, outside "
                "[1, 2**63 - 1]: the note was altered"
            )
        # Strict RFC 8032 (charter.ledger.ed25519), as for the log's own signatures.
        verify_strict(
            known.public_key,
            cosig.signature,
            cosigned_message(text, cosig.timestamp),
            what=f"cosignature by {known.name}",
            mismatch=f"cosignature by {known.name} does not verify: the checkpoint or its "
            "timestamp was altered",
            expected=known.verifier_string(),
        )
    return found


def verify_cosignature(note: str | bytes, witness: str | NoteVerifier) -> Cosignature:
    """Check that ``note`` carries a valid cosignature by ``witness``; return the newest.

    Like :func:`~charter.ledger.checkpoint.verify_checkpoint` (c2sp.org/signed-note):
    lines from other keys are ignored, every line from this key must verify,
    and at least one must be present. The log's own signature is not checked
    here; verify it with the log's key.

    Raises:
        ProofError: the note is malformed.
        SignatureError: no cosignature by the witness, or one fails to verify.
        LedgerError: the witness vkey is malformed.
    """
    known = _as_witness(witness)
    found = _verified(*_split_note(note), known)
    if not found:
        raise SignatureError(
            f"checkpoint has no cosignature by witness {known.name}+{known.key_id.hex()}; "
            "ask the log to collect one or pin another witness",
            expected=f"{known.name}+{known.key_id.hex()}",
        )
    return max(found, key=lambda c: c.timestamp)


def verify_cosignatures(
    note: str | bytes, witnesses: Iterable[str | NoteVerifier], min_witnesses: int
) -> list[str]:
    """Require valid cosignatures from at least ``min_witnesses`` of the named ``witnesses``.

    A k-of-n witness policy (c2sp.org/tlog-cosignature: clients verify a quorum
    of cosignatures before trusting a checkpoint). A named witness whose line
    is present but does not verify makes the note invalid (signed-note). The
    log's own signature is not checked here.

    Returns:
        The vkeys of the witnesses that cosigned, in the order given.

    Raises:
        ConfigError: ``min_witnesses`` is below 1 or above the number of distinct witness
            keys.
        SignatureError: fewer than ``min_witnesses`` cosigned, or a cosignature is bad.
        ProofError: the note is malformed.
    """
    # Distinct by public key, not by vkey text: one witness named twice (the cosigned
    # message does not hold the name) must not count twice toward the quorum.
    by_key: dict[bytes, NoteVerifier] = {}
    for witness in witnesses:
        parsed = _as_witness(witness)
        by_key.setdefault(parsed.public_key, parsed)
    known = {v.verifier_string(): v for v in by_key.values()}
    if not 1 <= min_witnesses <= len(known):
        raise ConfigError(
            f"--min-witnesses {min_witnesses} cannot be met by {len(known)} named witness(es); "
            "name at least that many with --witness, and require at least 1."
        )
    text, signatures = _split_note(note)
    cosigned = [vkey for vkey, v in known.items() if _verified(text, signatures, v)]
    if len(cosigned) < min_witnesses:
        missing = [v.split("+", 1)[0] for v in known if v not in cosigned]
        raise SignatureError(
            f"checkpoint carries {len(cosigned)} valid cosignature(s) of the {min_witnesses} "
            f"required; missing: {', '.join(missing)}",
            expected=min_witnesses,
            computed=len(cosigned),
        )
    return cosigned


class SplitViewError(RootMismatchError):
    """Two validly signed checkpoints of one log give one tree size two roots: a fork.

    ``evidence`` holds both signed notes: anyone holding the log's key can check them.
    """

    def __init__(self, message: str, first: str, second: str) -> None:
        super().__init__(message, expected=first, computed=second)
        self.evidence = (first, second)


def detect_split_view(notes: Iterable[str], verifier: str | NoteVerifier) -> None:
    """Raise if two of ``notes`` signed by the log show a split view (same size, other root).

    A log that shows different clients different trees must sign two
    checkpoints of one size with different roots (or sizes no consistency
    proof joins); any client holding both notes can prove it. Notes not
    signed by ``verifier``'s key raise, since they prove nothing.

    Raises:
        SplitViewError: a split view, with both notes as evidence.
        SignatureError, ProofError: a note is not a valid checkpoint of this log.
    """
    seen: dict[tuple[str, int], tuple[bytes, str]] = {}
    for note in notes:
        checkpoint = verify_checkpoint(note, verifier)
        key = (checkpoint.origin, checkpoint.size)
        held = seen.setdefault(key, (checkpoint.root, note))
        if held[0] != checkpoint.root:
            raise SplitViewError(
                f"split view: log {checkpoint.origin!r} signed two roots for size "
                f"{checkpoint.size} ({held[0].hex()[:16]}... and {checkpoint.root.hex()[:16]}...); "
                "keep both notes as evidence and stop trusting this log",
                first=held[1],
                second=note,
            )
