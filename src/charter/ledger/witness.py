"""A transparency-log witness: C2SP tlog-witness ``add-checkpoint``, with persistent state.

A witness (c2sp.org/tlog-witness) is configured with the logs it watches, each
an origin and the log's pinned verifier key. For each log it keeps the latest
checkpoint it cosigned. A log submits a new checkpoint with a consistency
proof from that size; the witness cosigns (c2sp.org/tlog-cosignature,
:mod:`charter.ledger.cosign`) only if, in this order:

1. the origin is one it witnesses (else 404);
2. the checkpoint carries a valid signature by the log's pinned key (else 403);
3. ``old_size`` is not above the checkpoint's size (else 400);
4. ``old_size`` equals the size it holds, 0 if none (else 409 with its size,
   so the log can retry from there);
5. a size-0 checkpoint has the empty tree's root, a proof from size 0 is
   empty, the RFC 9162 section 2.1.4.2 consistency proof from its stored root
   to the new root verifies, and at equal sizes the roots are equal (else 422).

A checkpoint that is signed by the log but fails step 5 may be proof of a fork
(a *split view*): it is appended to an evidence file beside the state, with
the checkpoint the witness holds. The check and the update are one atomic
step under a lock, and the state is written to a temporary file, fsynced and
renamed before the cosignature is returned, as the spec requires.

The state is a small JSON file; one witness process owns it. Use::

    witness = Witness(WitnessKey.generate("w.example/w1"), {origin: log_vkey}, "w.json")
    lines = witness.add_checkpoint(old_size, proof, note)   # cosignature line(s)

The HTTP service is :mod:`charter.server.witness_app` (``charter ledger witness``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from charter._util.paths import key_or_file
from charter.errors import LedgerError, ProofError, VerificationError
from charter.ledger.checkpoint import (
    Checkpoint,
    NoteVerifier,
    _split_note,
    parse_verifier,
    verify_checkpoint,
)
from charter.ledger.cosign import SplitViewError, WitnessKey, cosign
from charter.merkle import verify_consistency

EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 6962 section 2.1: MTH({})
MAX_PROOF_LINES = 63  # tlog-witness: a client MUST NOT send more
_OLD = re.compile(r"old (0|[1-9][0-9]{0,18})")  # a tree size: below 2**63, 19 digits
_STATE_VERSION = 1


class UnknownLogError(LedgerError):
    """The checkpoint's origin is not a log this witness is configured to witness (404)."""


class WitnessRequestError(ProofError):
    """An add-checkpoint request body is malformed, or its old size is above its size (400)."""


class SizeConflictError(LedgerError):
    """The request's old size is not the size the witness holds (409); ``size`` is that size."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """The add-checkpoint request body: ``old <n>``, proof lines, a blank line, the note."""
    lines = [f"old {old_size}", *(base64.b64encode(h).decode("ascii") for h in proof)]
    return ("".join(line + "\n" for line in lines) + "\n" + note).encode("utf-8")


def parse_add_checkpoint(body: bytes) -> tuple[int, list[bytes], str]:
    """Split an add-checkpoint request body into old size, consistency proof and note.

    Raises:
        WitnessRequestError: the body is not the c2sp.org/tlog-witness format.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessRequestError("add-checkpoint body is not UTF-8 text") from None
    head, blank, note = text.partition("\n\n")
    if not blank:
        raise WitnessRequestError(
            "add-checkpoint body has no blank line between the proof and the checkpoint"
        )
    lines = head.split("\n")
    match = _OLD.fullmatch(lines[0])
    if not match:
        raise WitnessRequestError(
            f"add-checkpoint first line {lines[0][:40]!r} is not 'old <size>' "
            "(decimal, no leading zeroes)"
        )
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessRequestError(
            f"add-checkpoint has {len(lines) - 1} proof lines; at most {MAX_PROOF_LINES}"
        )
    proof = []
    for number, line in enumerate(lines[1:], 2):
        try:
            digest = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            digest = b""
        if len(digest) != 32 or base64.b64encode(digest).decode("ascii") != line:
            raise WitnessRequestError(
                f"add-checkpoint line {number} is not a base64 SHA-256 hash: {line[:60]!r}"
            )
        proof.append(digest)
    return int(match.group(1)), proof, note


def parse_log_option(text: str) -> tuple[str, str]:
    """Parse ``ORIGIN=VERIFIER`` (``--log``); VERIFIER may be a file holding the log's vkey.

    Raises:
        LedgerError: not ORIGIN=VERIFIER, or the verifier key is malformed.
    """
    origin, eq, verifier = text.strip().partition("=")
    if not eq or not origin or not verifier:
        raise LedgerError(
            f"--log {text[:80]!r} is not ORIGIN=VERIFIER; e.g. --log "
            "example.org/wishes=example.org/wishes+1a2b3c4d+AQ..."
        )
    verifier = key_or_file(verifier, "--log")
    try:
        parse_verifier(verifier)
    except LedgerError as exc:
        raise LedgerError(f"--log {origin}: {exc}") from None
    return origin, verifier


def _origin_of(note: str) -> str:
    """The origin line of a note, parsed only far enough to choose the key to verify it."""
    try:
        text, _ = _split_note(note)
    except ProofError as exc:
        raise WitnessRequestError(f"add-checkpoint note: {exc}") from None
    return text.split("\n", 1)[0]


def _log_signed(note: str, verifier: NoteVerifier) -> str:
    """``note`` with only the log's own signature lines: what this witness serves.

    A submitter may add lines under other names, including ones that claim to be
    other witnesses' cosignatures. Served on, a bad line under a pinned witness's
    name would make the note fail for every client that pins that witness
    (c2sp.org/signed-note: each line by a known key must verify), so they are dropped.
    """
    text, signatures = _split_note(note)
    lines = [
        f"\u2014 {name} {base64.b64encode(key_id + signature).decode('ascii')}\n"
        for name, key_id, signature in signatures
        if name == verifier.name and key_id == verifier.key_id
    ]
    return text + "\n" + "".join(lines)


class Witness:
    """A witness for a fixed set of logs, with its state in a JSON file.

    Args:
        key: the witness's cosigning key.
        logs: origin -> the log's verifier key string (the keys are pinned here).
        state_path: the JSON state file (created on the first cosignature).
        clock: POSIX seconds, for the cosignature timestamps (tests fix it).
    """

    def __init__(
        self,
        key: WitnessKey,
        logs: Mapping[str, str],
        state_path: str | Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.logs = {origin: parse_verifier(vkey) for origin, vkey in logs.items()}
        if not self.logs:
            raise LedgerError("a witness needs at least one log; pass --log ORIGIN=VERIFIER.")
        self.state_path = Path(state_path)
        self.evidence_path = Path(f"{self.state_path}.evidence.jsonl")
        self.clock = clock
        self._lock = threading.Lock()
        self._state = self._load()
        self._evidence_seen: set[tuple[str, str]] | None = None  # read on first use

    # -- state -------------------------------------------------------------------------
    def _load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise LedgerError(
                f"{self.state_path}: cannot read the witness state ({exc}); restore it from "
                "a backup (starting afresh would let a log roll back)."
            ) from None
        if not isinstance(data, dict) or data.get("version") != _STATE_VERSION:
            raise LedgerError(f"{self.state_path}: not a version-1 witness state file.")
        return data["logs"]

    def _save(self, logs: dict[str, dict]) -> None:
        """Write the state atomically: temporary file, fsync, rename, fsync the folder."""
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(f".{self.state_path.name}.tmp")
        data = json.dumps({"version": _STATE_VERSION, "logs": logs}, indent=1, sort_keys=True)
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(data + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.state_path)
        folder = os.open(self.state_path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def _record_evidence(self, kind: str, origin: str, note: str, **details: object) -> None:
        """Append a signed checkpoint that failed consistency (spec: MAY log it), once.

        Signed checkpoints are public, so anyone can resubmit one with a junk proof;
        recording each resubmission would let them fill the disk (and fsync per
        request). The log-signed note is the evidence: it is kept once per kind.
        """
        if self._evidence_seen is None:
            self._evidence_seen = {(row["kind"], row["offered"]) for row in self.evidence()}
        if (kind, note) in self._evidence_seen:
            return
        self._evidence_seen.add((kind, note))
        held = self._state.get(origin, {}).get("note")
        row = {"time": int(self.clock()), "kind": kind, "origin": origin, "offered": note}
        row.update(held=held, **details)
        with self.evidence_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def size(self, origin: str) -> int:
        """The size of the latest checkpoint cosigned for ``origin`` (0 if none)."""
        with self._lock:
            return int(self._state.get(origin, {}).get("size", 0))

    def latest(self, origin: str) -> str | None:
        """The latest cosigned checkpoint of ``origin``: the log's note plus this cosignature."""
        with self._lock:
            return self._state.get(origin, {}).get("note")

    def evidence(self) -> list[dict]:
        """Every recorded refused-but-signed checkpoint (forks, bad proofs), oldest first."""
        if not self.evidence_path.exists():
            return []
        lines = self.evidence_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]

    # -- add-checkpoint ----------------------------------------------------------------
    def add_checkpoint(self, old_size: int, proof: Sequence[bytes], note: str) -> str:
        """Check a checkpoint against the stored one and cosign it (c2sp.org/tlog-witness).

        Args:
            old_size: the size of the checkpoint the log believes this witness holds.
            proof: RFC 9162 consistency proof from ``old_size`` to the new size.
            note: the log's signed checkpoint note (other signatures are ignored).

        Returns:
            The cosignature line(s), each ending in a newline, to append to the note.

        Raises:
            UnknownLogError: the origin is not configured (404).
            SignatureError: no valid signature by the log's pinned key (403).
            WitnessRequestError: malformed note or ``old_size`` above the size (400).
            SizeConflictError: ``old_size`` is not the held size; ``.size`` says it (409).
            SplitViewError: same size as the held checkpoint, other root: a fork (422).
            VerificationError: a bad consistency proof or empty-tree root (422).
        """
        origin = _origin_of(note)
        verifier = self.logs.get(origin)
        if verifier is None:
            raise UnknownLogError(
                f"this witness does not witness log {origin[:80]!r}; its operator must add it "
                "with --log ORIGIN=VERIFIER."
            )
        try:
            checkpoint = verify_checkpoint(note, verifier)
        except ProofError as exc:
            raise WitnessRequestError(f"add-checkpoint note: {exc}") from None
        if old_size > checkpoint.size:
            raise WitnessRequestError(
                f"old size {old_size} is above the checkpoint's size {checkpoint.size}"
            )
        if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
            raise VerificationError(
                "a size-0 checkpoint must carry the empty tree's root (RFC 6962 section 2.1)",
                expected=EMPTY_ROOT,
                computed=checkpoint.root,
            )
        if old_size == 0 and proof:
            raise ProofError("a consistency proof from size 0 must be empty; send no proof lines")
        with self._lock:
            held = self._state.get(origin)
            held_size = int(held["size"]) if held else 0
            if old_size != held_size:
                raise SizeConflictError(
                    f"old size {old_size} is not the size {held_size} this witness holds for "
                    f"{origin}; resend with old {held_size}",
                    size=held_size,
                )
            if held is not None:
                self._check_consistent(origin, held, checkpoint, proof, note)
            line = cosign(checkpoint, self.key, int(self.clock()))
            logs = {
                **self._state,
                origin: {
                    "size": checkpoint.size,
                    "root": base64.b64encode(checkpoint.root).decode("ascii"),
                    "note": _log_signed(note, verifier) + line,
                },
            }
            self._save(logs)
            self._state = logs
            return line

    def _check_consistent(
        self, origin: str, held: dict, new: Checkpoint, proof: Sequence[bytes], note: str
    ) -> None:
        """Refuse (and record) a checkpoint that does not extend the held one."""
        old_root = base64.b64decode(held["root"])
        size = int(held["size"])
        if size == new.size and old_root != new.root:
            self._record_evidence("split-view", origin, note)
            raise SplitViewError(
                f"split view: log {origin} already showed this witness another root for size "
                f"{size}; refusing to cosign a fork (both notes kept as evidence)",
                first=held["note"],
                second=note,
            )
        if size == 0 or size == new.size:
            return  # every tree extends the empty one; equal roots at equal sizes
        try:
            verify_consistency(size, new.size, list(proof), old_root, new.root)
        except VerificationError as exc:
            proof_b64 = [base64.b64encode(h).decode("ascii") for h in proof]
            self._record_evidence("inconsistent", origin, note, old_size=size, proof=proof_b64)
            raise type(exc)(
                f"consistency proof from size {size} to {new.size} does not verify ({exc}); "
                "not cosigning",
                expected=exc.expected,
                computed=exc.computed,
            ) from None
