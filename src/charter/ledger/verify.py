"""Verify an exported ledger offline, trusting nothing but the log's public key.

``charter ledger verify`` reads an export (one canonical entry per line, in log
order) and signed checkpoints, and checks:

1. every line is a canonical entry whose author signature verifies (an altered
   entry is named exactly: its line number and id);
2. every checkpoint's signature verifies against the log's verifier key;
3. for every checkpoint of size ``n``, the RFC 6962 root of the export's first
   ``n`` leaves equals the checkpoint's root (RFC 9162 section 2.1.1);
4. an older checkpoint is consistent with the newer one (RFC 9162 section
   2.1.4): the export reproduces both roots, and a consistency proof computed
   from its leaves verifies between them.

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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from charter.errors import CharterError, EntryError, VerificationError
from charter.ledger.checkpoint import Checkpoint, verify_checkpoint
from charter.ledger.entry import parse_entry, verify_entry_signature
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
            "problems": self.problems,
        }


def verify_export(
    export: str | Path,
    checkpoints: Iterable[str],
    verifier: str,
    old_checkpoint: str | None = None,
) -> VerifyReport:
    """Check an export against signed checkpoints (see the module docstring).

    Args:
        export: the JSONL file written by ``Ledger.export``.
        checkpoints: signed checkpoint notes (the newest is the one to match).
        verifier: the log's C2SP verifier key string.
        old_checkpoint: an older note that must be consistent with the newest.
    """
    report = VerifyReport()
    parsed: list[Checkpoint] = []
    for note in [*checkpoints, *([old_checkpoint] if old_checkpoint else [])]:
        try:
            parsed.append(verify_checkpoint(note, verifier))
        except VerificationError as exc:
            report.problems.append(f"checkpoint signature: {exc}")
    if report.problems:
        return report
    by_size = {cp.size: cp for cp in parsed}
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
                f"checkpoint at size {cp.size}: the export's first {cp.size} entries give a "
                f"different root; the first bad entry lies in entries {last_good}..{cp.size - 1}"
                " (removed, inserted or reordered entries)"
            )
            report.bad_range = (last_good, cp.size - 1)

    check_prefix()  # a size-0 checkpoint
    with Path(export).open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            data = line.rstrip(b"\n")
            index = number - 1
            try:
                entry = parse_entry(data)
                if entry.canonical_bytes() != data:
                    raise EntryError("not in canonical form (bytes were changed)")
                verify_entry_signature(entry)
            except CharterError as exc:
                report.problems.append(f"entry {index} (line {number}): {exc}")
                if report.first_bad_entry is None:
                    report.first_bad_entry = index
                return _finish(report, acc.size + 1)
            leaf = leaf_hash(data)
            leaves.append(leaf)
            acc.add(leaf)
            check_prefix()
    report.entries = acc.size
    newest = max(parsed, key=lambda cp: cp.size)
    if acc.size < newest.size:
        report.problems.append(
            f"the export ends after {acc.size} entries but the checkpoint covers {newest.size} "
            f"(truncated: entries {acc.size}..{newest.size - 1} are missing)"
        )
        if report.first_bad_entry is None:
            report.first_bad_entry = acc.size
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


def _finish(report: VerifyReport, entries: int) -> VerifyReport:
    report.entries = entries
    return report
