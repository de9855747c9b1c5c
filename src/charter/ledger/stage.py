"""The ``ledger`` run stage: build a wish ledger from a wish file, export it, verify it.

The quickstart uses it on the shipped sample (``builtin:sample``): each
pseudonymous author gets a deterministic Ed25519 key derived from the run seed
(so reruns sign as the same people), the operator grants each author the
credits their wishes need, wishes are appended in batches with a signed
checkpoint after each batch, and the exported log is verified offline against
those checkpoints exactly as a third party would.

Resumable: the ledger's size says how many sample wishes are in; a rerun
appends only the rest (the sample's order is fixed).
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from charter._util.progress import progress_bar
from charter._util.sources import builtin_path, parse_source, register_builtin
from charter.errors import DatasetError
from charter.ledger.checkpoint import LogKey, load_key, save_key
from charter.ledger.entry import Wish, sign_entry
from charter.ledger.log import Ledger
from charter.ledger.verify import verify_export
from charter.runs.config import StageSpec
from charter.runs.context import RunContext

SAMPLE = "builtin:sample"
#: The kind wish files are registered under in :mod:`charter._util.sources`.
KIND = "wishes"
register_builtin(
    KIND,
    parse_source(SAMPLE).value,
    Path(str(resources.files("charter.ledger") / "data" / "sample_wishes.jsonl")),
)


class LedgerSpec(StageSpec):
    """Build and verify a ledger from a wish file."""

    kind: Literal["ledger"] = "ledger"
    wishes: str = Field(SAMPLE, description="builtin:sample or a JSONL of wishes")
    origin: str = Field("charter.example/quickstart", description="the log's name")
    batch_size: int = Field(16, ge=1, description="wishes per append (and per checkpoint)")
    limit: int | None = Field(None, ge=1, description="only the first N wishes")

    RESUMABLE_FIELDS: ClassVar[tuple[str, ...]] = ("limit", "batch_size")


def load_wishes(source: str) -> list[dict]:
    """Rows of a wish file: author, scenario, behaviour, [rationale, tags, language,
    parent (0-based row of an earlier wish), fee, burn]."""
    parsed = parse_source(source)
    path = builtin_path(KIND, parsed.value) if parsed.scheme == "builtin" else parsed.path
    if not path.is_file():
        raise DatasetError(f"{path}: no such wish file; give a .jsonl path or {SAMPLE}.")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"{path}:{number}: not valid JSON ({exc}).") from None
        for name in ("author", "scenario", "behaviour"):
            if not isinstance(row.get(name), str) or not row[name].strip():
                raise DatasetError(f"{path}:{number}: field {name} is missing or empty.")
        parent = row.get("parent")
        if parent is not None and not (isinstance(parent, int) and 0 <= parent < len(rows)):
            raise DatasetError(
                f"{path}:{number}: field parent must be the row number of an "
                "earlier wish (0-based)."
            )
        rows.append(row)
    return rows


def author_secrets(seed: int, author: str) -> tuple[bytes, bytes, str]:
    """A deterministic (key seed, salt, identity) for a sample author pseudonym."""
    base = hashlib.sha256(f"charter-sample-author\x1f{seed}\x1f{author}".encode()).digest()
    return (
        hashlib.sha256(base + b"key").digest(),
        hashlib.sha256(base + b"salt").digest(),
        f"sample-identity:{author}",
    )


def _grant_shortfall(ledger: Ledger, entries: list) -> None:
    """Operator step of the demo: give each author the credits this batch needs."""
    need: dict[str, int] = {}
    for entry in entries:
        need[entry.author_key] = need.get(entry.author_key, 0) + entry.fee + entry.burn
    for key, amount in need.items():
        short = amount - ledger.balance(key)
        if short > 0:
            ledger.grant(key, short)


def _nonce(seed: int, row: int) -> str:
    """A stable nonce per (run seed, row): a rerun re-signs the same way, never twice."""
    return hashlib.sha256(f"charter-sample-nonce\x1f{seed}\x1f{row}".encode()).hexdigest()[:32]


def run_ledger(spec: LedgerSpec, ctx: RunContext, restart: bool = False) -> dict:
    """Run the stage; return counts and the verification result."""
    folder = ctx.prepare_stage(spec, restart)
    rows = load_wishes(ctx.resolve(spec.wishes))
    rows = rows[: spec.limit] if spec.limit else rows
    location, key_path = str(folder / "ledger.sqlite"), folder / "log.key"
    if key_path.exists():
        key = load_key(key_path)
        ledger = Ledger.open(location, key)
    else:
        key = LogKey.generate(spec.origin)
        ledger = Ledger.create(location, spec.origin, key, min_fee=1)
        save_key(key_path, key)  # after create: a crash in between just makes a new key
    with ledger:
        done = ledger.size
        with progress_bar(f"{spec.name} (ledger)", len(rows) - done, ctx.progress) as bar:
            for start in range(done, len(rows), spec.batch_size):
                batch = rows[start : start + spec.batch_size]
                entries = []
                for offset, row in enumerate(batch):
                    seed, salt, identity = author_secrets(ctx.config.seed, row["author"])
                    parent = row.get("parent")
                    parent_id = None
                    if parent is not None:  # an earlier row: already in the log or this batch
                        parent_id = (
                            ledger.get(parent).id if parent < start else entries[parent - start].id
                        )
                    wish = Wish(
                        scenario=row["scenario"],
                        behaviour=row["behaviour"],
                        rationale=row.get("rationale"),
                        tags=row.get("tags") or [],
                        language=row.get("language") or "en",
                        parent=parent_id,
                    )
                    fee, burn = int(row.get("fee", 1)), int(row.get("burn", 0))
                    entries.append(
                        sign_entry(
                            wish,
                            fee,
                            burn,
                            seed,
                            identity,
                            salt,
                            nonce=_nonce(ctx.config.seed, start + offset),
                        )
                    )
                _grant_shortfall(ledger, entries)
                ledger.append(entries)
                ledger.checkpoint()
                bar.advance(len(batch))
        ledger.checkpoint()
        export = folder / "export.jsonl"
        ledger.export(export)
        notes = ledger.checkpoints()
        report = verify_export(export, notes, ledger.verifier)
        latest = ledger.latest_checkpoint()
        summary = {
            "total": len(rows),
            "done": ledger.size,
            "new": ledger.size - done,
            "failed": 0 if report.ok else 1,
            "verified": report.ok,
            "checkpoints": len(notes),
            "root": ledger.root().hex(),
            "problems": report.problems,
        }
    # Later stages record which ledger state they drew on (provenance).
    ctx.ledger_checkpoint = f"{spec.origin}@{summary['done']}:{summary['root']}"
    (folder / "checkpoint.txt").write_text(latest or "", encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
