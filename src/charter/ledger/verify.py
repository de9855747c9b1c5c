"""Verify an exported ledger offline, trusting nothing but a pinned log key.

``charter ledger verify`` reads an export (one canonical entry per line, in log
order) and signed checkpoints. Nothing in the bundle is trusted: the log's
verifier key is *pinned* by the caller (``--verifier`` or a trusted-logs file
mapping origins to keys, obtained out of band), never read from the bundle,
because a bundle altered by an attacker can carry checkpoints re-signed with
the attacker's key and that key beside them. It then checks:

1. every line is a canonical entry whose author signature verifies (an altered
   entry is named exactly: its line number and id);
2. every checkpoint's signature verifies against the log's verifier key;
3. for every checkpoint of size ``n``, the RFC 6962 root of the export's first
   ``n`` leaves equals the checkpoint's root (RFC 9162 section 2.1.1);
4. an older checkpoint is consistent with the newer one (RFC 9162 section
   2.1.4): the export reproduces both roots, and a consistency proof computed
   from its leaves verifies between them.

5. every entry is covered by a signed checkpoint: entries after the newest
   checkpoint are *unverified* (no signature commits to them) and fail the
   check unless the caller explicitly allows an unverified tail.
6. all checkpoints, the old one included, name one origin (one key may sign
   several logs: the vote log shares the wish log's key), and the old
   checkpoint is not larger than the bundle's newest (else the bundle is
   stale or the log rolled back).

Reordering, removal, insertion or truncation change some prefix root, so the
first checkpoint whose root fails bounds the first bad entry: it lies after
the last checkpoint that verified. Ledgers sign a checkpoint per append batch,
so the bound is usually one batch wide.

The roots are computed in one streaming pass with a stack of perfect-subtree
hashes, so memory stays O(log n) beyond the leaf hashes kept for the
consistency proof.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from charter._util.paths import is_file, key_or_file
from charter.errors import CharterError, EntryError, LedgerError, VerificationError
from charter.ledger.checkpoint import Checkpoint, parse_verifier, verify_checkpoint
from charter.ledger.entry import WISH_RECORD
from charter.ledger.record import R, RecordType
from charter.merkle import consistency_proof, leaf_hash, node_hash, verify_consistency


class _Accumulator:
    """RFC 6962 roots of every prefix, from a stack of perfect subtrees."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (leaf count, hash), largest first

    def add(self, leaf: bytes) -> None:
        self.size += 1
        count, digest = 1, leaf
        while self._stack and self._stack[-1][0] == count:
            left_count, left = self._stack.pop()
            count, digest = left_count + count, node_hash(left, digest)
        self._stack.append((count, digest))

    def root(self) -> bytes:
        if not self._stack:
            return hashlib.sha256(b"").digest()  # RFC 6962: MTH({}) = SHA-256()
        digest = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            digest = node_hash(left, digest)
        return digest


@dataclass
class VerifyReport:
    """What ``verify_export`` found; ``ok`` only if nothing failed."""

    entries: int = 0
    checkpoints_ok: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    first_bad_entry: int | None = None  # exact: the first altered, malformed or missing entry
    bad_range: tuple[int, int] | None = None  # bounds of a reorder/removal between checkpoints
    covered: int = 0  # entries committed to by the newest signed checkpoint that verified
    unverified_tail: tuple[int, int] | None = None  # entries no signed checkpoint covers
    warnings: list[str] = field(default_factory=list)  # allowed, but printed plainly
    witnesses: list[str] = field(default_factory=list)  # vkeys that cosigned the newest

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "checkpoints_ok": self.checkpoints_ok,
            "first_bad_entry": self.first_bad_entry,
            "bad_range": list(self.bad_range) if self.bad_range else None,
            "covered": self.covered,
            "unverified_tail": list(self.unverified_tail) if self.unverified_tail else None,
            "problems": self.problems,
            "warnings": self.warnings,
            "witnesses": self.witnesses,
        }


def verify_export(
    export: str | Path,
    checkpoints: Iterable[str],
    verifier: str,
    old_checkpoint: str | None = None,
    *,
    allow_unverified_tail: bool = False,
    record: RecordType[R] = WISH_RECORD,
    origin_suffix: str = "",
    check: Callable[[int, R], None] | None = None,
    witnesses: Sequence[str] = (),
    min_witnesses: int = 0,
) -> VerifyReport:
    """Check an export of any signed log against signed checkpoints (see the module docstring).

    Args:
        export: the JSONL file a log's ``export`` wrote.
        checkpoints: signed checkpoint notes (the newest is the one to match).
        verifier: the log's C2SP verifier key string, pinned by the caller (never the
            one shipped in the bundle; see :func:`pinned_verifier`).
        old_checkpoint: an older note that must be consistent with the newest.
        allow_unverified_tail: report records after the newest checkpoint as a warning
            instead of a failure.
        record: the record type (wishes by default; votes pass theirs).
        origin_suffix: every checkpoint's origin must end with it (``/votes``).
        check: the record type's own rules, called with each verified record in log
            order; a :class:`VerificationError` it raises is reported at that record.
        witnesses: witness vkeys (C2SP tlog-cosignature, type 0x04) pinned by the caller.
        min_witnesses: how many of ``witnesses`` must have cosigned the newest
            checkpoint (0: no witness policy); see
            :func:`charter.ledger.cosign.verify_cosignatures`.
    """
    noun = record.noun
    require_export(export)
    report = VerifyReport()
    parsed: list[Checkpoint] = []
    checkpoints = list(checkpoints)
    if not checkpoints:
        report.problems.append(
            "no signed checkpoint: nothing commits to these entries; export with the log key "
            "(`charter ledger export --key-file`) or fetch the log's checkpoint"
        )
        return report
    for note in [*checkpoints, *([old_checkpoint] if old_checkpoint else [])]:
        try:
            parsed.append(verify_checkpoint(note, verifier))
        except VerificationError as exc:
            report.problems.append(f"checkpoint signature: {exc}")
    for cp in parsed:
        if not cp.origin.endswith(origin_suffix):
            report.problems.append(f"checkpoint origin {cp.origin!r} is not a {noun} log's")
    origins = sorted({cp.origin for cp in parsed})
    if len(origins) > 1:
        # One key may sign several logs (the vote log shares the wish log's key), so a
        # valid signature does not make a note belong to this log: its origin must agree.
        report.problems.append(
            f"the checkpoints name {len(origins)} origins ({', '.join(map(repr, origins))}); "
            "a log's checkpoints share one origin: keep only this log's"
        )
    if report.problems:
        return report
    bundle_size = max(cp.size for cp in parsed[: len(checkpoints)])
    if old_checkpoint and parsed[-1].size > bundle_size:
        report.problems.append(
            f"the old checkpoint (size {parsed[-1].size}) is larger than the bundle's newest "
            f"(size {bundle_size}): the bundle is older than what you saw, or the log rolled "
            "back; get a newer export and checkpoint"
        )
        return report
    by_size: dict[int, Checkpoint] = {}
    for cp in parsed:
        seen = by_size.setdefault(cp.size, cp)
        if seen.root != cp.root:
            # Both signed by the log's key: proof that it showed two different trees.
            report.problems.append(
                f"split view: two signed checkpoints of size {cp.size} have different roots "
                f"({seen.root.hex()[:16]}… and {cp.root.hex()[:16]}…); the log forked"
            )
    if report.problems:
        return report
    if min_witnesses:
        signed = list(zip(parsed, checkpoints, strict=False))  # parsed may add the old note
        _check_witnesses(report, signed, witnesses, min_witnesses)
        if report.problems:
            return report
    acc = _Accumulator()
    leaves: list[bytes] = []
    last_good = 0

    def check_prefix() -> None:
        nonlocal last_good
        cp = by_size.get(acc.size)
        if cp is None:
            return
        if acc.root() == cp.root:
            report.checkpoints_ok.append(cp.size)
            last_good = cp.size
        elif report.bad_range is None and report.first_bad_entry is None:
            report.problems.append(
                f"checkpoint at size {cp.size}: the export's first {cp.size} {noun}s give a "
                f"different root; the first bad {noun} lies in {noun}s {last_good}..{cp.size - 1}"
                f" (removed, inserted or reordered {noun}s)"
            )
            report.bad_range = (last_good, cp.size - 1)

    check_prefix()  # a size-0 checkpoint
    with Path(export).open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            data = line.rstrip(b"\n")
            index = number - 1
            try:
                item = record.parse(data)
                if item.canonical_bytes() != data:
                    raise EntryError("not in canonical form (bytes were changed)")
                record.verify_signature(item)
                if check is not None:
                    check(index, item)
            except CharterError as exc:
                report.problems.append(f"{noun} {index} (line {number}): {exc}")
                if report.first_bad_entry is None:
                    report.first_bad_entry = index
                return _finish(report, acc.size + 1)
            leaf = leaf_hash(data)
            leaves.append(leaf)
            acc.add(leaf)
            check_prefix()
    report.entries = acc.size
    newest = max(parsed[: len(checkpoints)], key=lambda cp: cp.size)  # not the old note
    if acc.size < newest.size:
        report.problems.append(
            f"the export ends after {acc.size} {noun}s but the checkpoint covers {newest.size}: "
            f"{noun}s were removed or the export was truncated (the first bad {noun} lies in "
            f"{noun}s {last_good}..{acc.size})"
        )
        if report.first_bad_entry is None:
            report.first_bad_entry = acc.size
    elif not report.problems:
        report.covered = newest.size
        if acc.size > newest.size:
            report.unverified_tail = (newest.size, acc.size - 1)
            message = (
                f"{noun}s {newest.size}..{acc.size - 1} ({acc.size - newest.size}) are not "
                f"covered by any signed checkpoint (the newest is at size {newest.size}): "
                "nothing proves the log holds them"
            )
            if allow_unverified_tail:
                report.warnings.append(f"UNVERIFIED: {message}")
            else:
                report.problems.append(
                    f"{message}; get a newer checkpoint from the log, or pass "
                    "--allow-unverified-tail to accept them unverified"
                )
    if old_checkpoint and not report.problems:
        old = verify_checkpoint(old_checkpoint, verifier)
        if old.origin != newest.origin:
            report.problems.append(f"the old checkpoint's origin {old.origin!r} differs")
        elif old.size > 0:
            try:
                proof = consistency_proof(leaves[: newest.size], old.size)
                verify_consistency(old.size, newest.size, proof, old.root, newest.root)
            except (VerificationError, ValueError) as exc:
                report.problems.append(f"old checkpoint not consistent with the new one: {exc}")
    return report


def verify_records(
    export: str | Path,
    checkpoints: Iterable[str],
    verifier: str,
    record: RecordType[R],
    origin_suffix: str = "",
    check: Callable[[int, R], None] | None = None,
    *,
    allow_unverified_tail: bool = False,
) -> list[R]:
    """:func:`verify_export` for a caller that wants the records, or the first problem raised.

    Raises:
        VerificationError: the first problem found, naming the record.
    """
    records: list[R] = []

    def keep(index: int, item: R) -> None:
        if check is not None:
            check(index, item)
        records.append(item)

    report = verify_export(
        export,
        checkpoints,
        verifier,
        allow_unverified_tail=allow_unverified_tail,
        record=record,
        origin_suffix=origin_suffix,
        check=keep,
    )
    if not report.ok:
        raise VerificationError(report.problems[0], computed=report.problems)
    return records


def _check_witnesses(
    report: VerifyReport,
    notes: list[tuple[Checkpoint, str]],
    witnesses: Sequence[str],
    min_witnesses: int,
) -> None:
    """Require ``min_witnesses`` cosignatures on the newest checkpoint (k of n)."""
    from charter.ledger.cosign import verify_cosignatures

    newest = max(cp.size for cp, _ in notes)
    failure = ""
    for _, note in (pair for pair in notes if pair[0].size == newest):
        try:
            report.witnesses = verify_cosignatures(note, witnesses, min_witnesses)
            return
        except VerificationError as exc:
            failure = str(exc)
    report.problems.append(f"witnesses: the newest checkpoint (size {newest}): {failure}")


def _finish(report: VerifyReport, entries: int) -> VerifyReport:
    report.entries = entries
    return report


# -- reading a bundle without trusting it ------------------------------------------------

_PIN_FIX = (
    "pin the log's key: pass --verifier KEY (the verifier string the operator publishes, "
    "obtained out of band) or --trusted-logs FILE (lines of '[ORIGIN] VERIFIER'); the "
    "bundle's own .verifier file is never trusted"
)


def require_export(path: str | Path) -> None:
    """Refuse, in one line, an export file that is not there."""
    if not is_file(path):
        raise LedgerError(f"{path}: no such export file; write one with `charter ledger export`")


def read_checkpoint_notes(path: str | Path) -> list[str]:
    """The signed notes in a checkpoints file: a ``.jsonl`` of ``{"note": ...}`` or one note.

    Raises:
        LedgerError: the file is missing, empty or not checkpoints; one line naming it.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LedgerError(
            f"{path}: no such checkpoints file; pass --checkpoint FILE or export with "
            "`charter ledger export`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LedgerError(f"{path}: unreadable checkpoints file ({exc})") from None
    if not text.strip():
        raise LedgerError(f"{path}: empty checkpoints file; it must hold signed checkpoints")
    if path.suffix != ".jsonl":
        return [text]
    notes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            note = record["note"]
            if not isinstance(note, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise LedgerError(
                f'{path}:{number}: not a checkpoint record; each line must be {{"note": "..."}}'
            ) from None
        notes.append(note)
    return notes


def load_trusted_logs(path: str | Path) -> dict[str, str]:
    """Origins and their pinned verifier keys, from a trusted-logs file.

    Each line is ``VERIFIER`` (the origin is the key's name, as for Charter's wish
    logs) or ``ORIGIN VERIFIER``; blank lines and ``#`` comments are skipped.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LedgerError(f"{path}: cannot read the trusted-logs file ({exc})") from None
    trusted: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) > 2:
            raise LedgerError(f"{path}:{number}: expected '[ORIGIN] VERIFIER', got {line!r}")
        try:
            name = parse_verifier(fields[-1]).name
        except LedgerError as exc:
            raise LedgerError(f"{path}:{number}: {exc}") from None
        origin = fields[0] if len(fields) == 2 else name
        if trusted.setdefault(origin, fields[-1]) != fields[-1]:
            raise LedgerError(
                f"{path}:{number}: log {origin!r} is pinned twice with different keys; keep "
                "the one obtained out of band"
            )
    if not trusted:
        raise LedgerError(f"{path}: no trusted log in the file; {_PIN_FIX}")
    return trusted


def pinned_verifier(
    notes: Sequence[str], verifier: str | None = None, trusted_logs: str | Path | None = None
) -> str:
    """The verifier key to check ``notes`` with: given, or looked up by the notes' origin.

    ``verifier`` may be the key string or a file holding it. With a trusted-logs
    file the origin is read from the (not yet verified) notes only to choose the
    key; the signature check that follows is what binds them.

    Raises:
        LedgerError: no key is pinned, or the notes' origin is not a trusted log.
    """
    if verifier:
        verifier = key_or_file(verifier, "--verifier")
        parse_verifier(verifier)  # a malformed key fails here, in one line
        return verifier
    if trusted_logs is None:
        raise LedgerError(f"no log key pinned; {_PIN_FIX}")
    trusted = load_trusted_logs(trusted_logs)
    origins = {note.split("\n", 1)[0] for note in notes}  # a checkpoint's first line
    if len(origins) != 1:
        raise LedgerError(
            f"the bundle's checkpoints name {len(origins)} origins ({sorted(origins)}); "
            "a log's checkpoints share one origin"
        )
    [origin] = origins
    if origin in trusted:
        return trusted[origin]
    # A companion log (the vote log, origin "<log>/votes") is signed by its parent log's
    # key: only that exact origin inherits the parent's pin, never an unrelated one.
    from charter.ledger.votes import VOTE_ORIGIN_SUFFIX

    parent = origin.removesuffix(VOTE_ORIGIN_SUFFIX)
    if parent != origin and parent in trusted:
        return trusted[parent]
    raise LedgerError(
        f"log {origin!r} is not in {trusted_logs}; add its verifier key, obtained out of "
        "band, if you trust it"
    )
