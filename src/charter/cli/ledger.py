"""``charter ledger``: create, fill, checkpoint, prove, export and verify a wish ledger."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from charter.cli._common import TRUSTED_LOGS, VERIFIER, console, emit_json, plain
from charter.errors import LedgerError

if TYPE_CHECKING:
    from charter.ledger.log import ImportResult

app = typer.Typer(
    help="The wish ledger: a verifiable, append-only log of signed wishes.", no_args_is_help=True
)

LOCATION = typer.Argument(..., help="A SQLite file path or a postgresql:// URL.")
KEY_FILE = typer.Option(None, "--key-file", "-k", help="The log's private key file.")
JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")


def _load_log_key(path: Path | None):
    from charter.ledger.checkpoint import load_key

    return load_key(path) if path else None


def _open(location: str, key_file: Path | None = None):
    from charter.ledger.log import Ledger

    return Ledger.open(location, key=_load_log_key(key_file))


@app.command()
def init(
    location: str = LOCATION,
    origin: str = typer.Option(..., help="The log's name, e.g. 'example.org/wishes'."),
    key_file: Path = typer.Option(
        ..., "--key-file", "-k", help="Where to write the new log key (kept private)."
    ),
    min_fee: int = typer.Option(1, help="Credits every wish must pay."),
    as_json: bool = JSON,
) -> None:
    """Create an empty ledger and its Ed25519 log key."""
    from charter.ledger.checkpoint import LogKey, save_key
    from charter.ledger.log import Ledger

    if key_file.exists():
        raise LedgerError(f"{key_file} exists; choose another path (keys are never overwritten).")
    key = LogKey.generate(origin)
    save_key(key_file, key)
    with Ledger.create(location, origin, key, min_fee=min_fee) as ledger:
        result = {
            "location": location,
            "origin": origin,
            "verifier": ledger.verifier,
            "key_file": str(key_file),
        }
    if as_json:
        emit_json(result)
    else:
        console.print(
            f"created ledger {plain(repr(origin))} at {plain(location)}\nverifier key: "
            f"{plain(result['verifier'])}\nlog key written to {plain(key_file)} (keep it private)",
            highlight=False,
        )


@app.command("author-key")
def author_key(
    path: Path = typer.Argument(..., help="Where to write the author's key file (private)."),
    identity: str = typer.Option("", help="A private identity to commit to (never published)."),
    as_json: bool = JSON,
) -> None:
    """Make a pseudonymous author key (Ed25519) with a salted identity commitment."""
    from charter.ledger.entry import generate_author_key, new_salt, public_key_b64

    if path.exists():
        raise LedgerError(f"{path} exists; choose another path (keys are never overwritten).")
    key = generate_author_key()
    seed = key.private_bytes_raw()
    salt = new_salt()
    data = {
        "seed": base64.b64encode(seed).decode(),
        "salt": base64.b64encode(salt).decode(),
        "identity": identity or base64.b64encode(os.urandom(18)).decode(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    public = public_key_b64(key)
    if as_json:
        emit_json({"author_key": public, "path": str(path)})
    else:
        console.print(
            f"author key {public}\nwritten to {plain(path)} (keep it private)", highlight=False
        )


def _read_author(path: Path) -> tuple[bytes, bytes, str]:
    try:
        data = json.loads(path.read_text())
        return (base64.b64decode(data["seed"]), base64.b64decode(data["salt"]), data["identity"])
    except (OSError, ValueError, KeyError) as exc:
        raise LedgerError(
            f"{path}: not an author key file from `charter ledger author-key` ({exc})."
        ) from None


@app.command()
def grant(
    location: str = LOCATION,
    author: str = typer.Argument(..., help="The author's public key (base64)."),
    amount: int = typer.Argument(..., help="Credits to add."),
) -> None:
    """Operator: grant credits to an author key."""
    with _open(location) as ledger:
        ledger.grant(author, amount)
        console.print(f"{plain(author)}: balance {ledger.balance(author)}", highlight=False)


@app.command()
def wish(
    location: str = LOCATION,
    author: Path = typer.Option(..., help="The author key file."),
    scenario: str = typer.Option(..., help="The situation the wish is about."),
    behaviour: str = typer.Option(..., help="What the AI should do there."),
    rationale: str | None = typer.Option(None, help="Why (optional)."),
    tag: list[str] = typer.Option(None, "--tag", help="A tag (repeatable)."),
    language: str = typer.Option("en", help="BCP 47 language tag."),
    parent: str | None = typer.Option(None, help="The id of a wish this one adapts."),
    fee: int = typer.Option(1, help="Credits paid (at least the log's minimum)."),
    burn: int = typer.Option(0, help="Extra credits burned to scale the wish's influence."),
    as_json: bool = JSON,
) -> None:
    """Sign a wish with an author key and append it."""
    from charter.ledger.entry import sign_entry

    seed, salt, identity = _read_author(author)
    # A dict, not a Wish: sign_entry normalises it (CRLF to LF, NFC) and refuses unsafe
    # text with one line naming the field.
    wish = {
        "scenario": scenario,
        "behaviour": behaviour,
        "rationale": rationale,
        "tags": tag or [],
        "language": language,
        "parent": parent,
    }
    entry = sign_entry(wish, fee, burn, seed, identity, salt)
    with _open(location) as ledger:
        [index] = ledger.append([entry])
    if as_json:
        emit_json({"index": index, "id": entry.id})
    else:
        console.print(f"appended wish {index}: {entry.id}")


@app.command()
def append(
    location: str = LOCATION,
    entries: Path = typer.Argument(..., help="JSONL of signed entries (bulk import)."),
    batch_size: int = typer.Option(1000, help="Entries per transaction."),
    as_json: bool = JSON,
) -> None:
    """Append signed entries from a JSONL file in batches (e.g. the results of a poll).

    Resumable: entries already in the ledger are skipped, so rerun it after a crash.
    """
    with _open(location) as ledger:
        result = ledger.import_(entries, batch_size=batch_size)
        size = ledger.size
    _print_import(result, size, as_json)


@app.command("import")
def import_(
    location: str = LOCATION,
    export: Path = typer.Argument(..., help="A JSONL export from `charter ledger export`."),
    as_json: bool = JSON,
) -> None:
    """Import an exported log into an empty or matching ledger.

    Resumable: entries already in the ledger are skipped, so rerun it after a crash.
    """
    with _open(location) as ledger:
        result = ledger.import_(export)
        size = ledger.size
    _print_import(result, size, as_json)


def _print_import(result: ImportResult, size: int, as_json: bool) -> None:
    if as_json:
        emit_json({"appended": result.appended, "skipped": result.skipped, "size": size})
        return
    skipped = f", skipped {result.skipped} already in the ledger" if result.skipped else ""
    console.print(f"appended {result.appended} entries{skipped}; size {size}")


@app.command()
def checkpoint(
    location: str = LOCATION,
    key_file: Path = typer.Option(..., "--key-file", "-k", help="The log's private key file."),
    out: Path | None = typer.Option(None, help="Also write the signed note to this file."),
) -> None:
    """Sign a checkpoint (C2SP tlog-checkpoint) for the current size and print it."""
    with _open(location, key_file) as ledger:
        note = ledger.checkpoint()
    if out:
        out.write_text(note, encoding="utf-8")
    print(note, end="")


@app.command()
def prove(
    location: str = LOCATION,
    index: int | None = typer.Option(None, help="Inclusion proof for this entry index."),
    entry_id: str | None = typer.Option(None, "--id", help="Inclusion proof for this entry id."),
    old: int | None = typer.Option(None, help="Consistency proof from this older size."),
    size: int | None = typer.Option(None, help="Tree size (default: the current size)."),
    as_json: bool = JSON,
) -> None:
    """Print an inclusion proof (an entry) or a consistency proof (two sizes)."""
    with _open(location) as ledger:
        tree_size = ledger.size if size is None else size
        if entry_id is not None:
            index = ledger.find(entry_id)
            if index is None:
                raise LedgerError(f"no entry with id {entry_id}.")
        if old is not None:
            proof = ledger.consistency_proof(old, tree_size)
            result = {"kind": "consistency", "old_size": old, "size": tree_size}
        elif index is not None:
            proof = ledger.inclusion_proof(index, tree_size)
            result = {
                "kind": "inclusion",
                "index": index,
                "size": tree_size,
                "leaf_hash": ledger.get(index).id,
            }
        else:
            raise LedgerError("give --index or --id (inclusion) or --old (consistency).")
        result["root"] = ledger.root(tree_size).hex()
        result["proof"] = [p.hex() for p in proof]
    if as_json:
        emit_json(result)
    else:
        for key, value in result.items():
            console.print(f"{key}: {value}")


@app.command()
def export(
    location: str = LOCATION,
    out: Path = typer.Argument(..., help="The JSONL file to write."),
    key_file: Path | None = KEY_FILE,
) -> None:
    """Write every entry (canonical JSON, log order) and the checkpoints beside it.

    Writes OUT (entries), OUT.checkpoints.jsonl (every signed checkpoint) and
    OUT.verifier (the log's public key): all that `verify` needs, offline.
    """
    with _open(location, key_file) as ledger:
        if key_file:
            ledger.checkpoint()
        count = ledger.export(out)
        notes = ledger.checkpoints()
    console.print(
        f"exported {count} entries and {len(notes)} checkpoints to {plain(out)}", highlight=False
    )


@app.command()
def verify(
    export_file: Path = typer.Argument(..., help="An export from `charter ledger export`."),
    checkpoint_file: Path | None = typer.Option(
        None,
        "--checkpoint",
        help="A signed checkpoint note (or a .jsonl of notes); default: EXPORT.checkpoints.jsonl.",
    ),
    old_checkpoint: Path | None = typer.Option(
        None, "--old-checkpoint", help="An older note that must be consistent with the newest."
    ),
    verifier: str | None = VERIFIER,
    trusted_logs: Path | None = TRUSTED_LOGS,
    allow_unverified_tail: bool = typer.Option(
        False,
        "--allow-unverified-tail",
        help="Accept entries after the newest checkpoint, reported as UNVERIFIED.",
    ),
    witness: list[str] = typer.Option(
        [],
        "--witness",
        help="A witness vkey (or a file of vkeys, one a line) whose cosignature counts; "
        "repeatable (C2SP tlog-cosignature).",
    ),
    min_witnesses: int = typer.Option(
        0, help="Cosignatures by --witness keys the newest checkpoint must carry (0: none)."
    ),
    as_json: bool = JSON,
) -> None:
    """Verify an exported log against signed checkpoints, trusting only a pinned log key.

    The key comes from --verifier or --trusted-logs, never from the bundle (a
    tampered bundle can carry its own key). Names the first bad entry: altered
    entries exactly, removed or reordered entries to within the checkpoints
    that bound them. Entries no checkpoint covers fail unless allowed.
    """
    from charter.ledger.log import checkpoints_path
    from charter.ledger.verify import (
        pinned_verifier,
        read_checkpoint_notes,
        require_export,
        verify_export,
    )

    require_export(export_file)
    notes = read_checkpoint_notes(checkpoint_file or checkpoints_path(export_file))
    key = pinned_verifier(notes, verifier, trusted_logs)
    old = read_checkpoint_notes(old_checkpoint)[-1] if old_checkpoint else None
    from charter.errors import ConfigError
    from charter.ledger.cosign import read_witness_verifiers

    witnesses = read_witness_verifiers(witness)
    if witnesses and not min_witnesses:
        raise ConfigError("--witness needs --min-witnesses K (how many must have cosigned).")
    report = verify_export(
        export_file,
        notes,
        key,
        old,
        allow_unverified_tail=allow_unverified_tail,
        witnesses=witnesses,
        min_witnesses=min_witnesses,
    )
    if as_json:
        emit_json(report.to_dict())
    elif report.ok:
        console.print(
            f"[green]verified[/green]: {report.covered} entries covered by signed checkpoints "
            f"(sizes {report.checkpoints_ok} match)"
            + (f"; cosigned by {len(report.witnesses)} witness(es)" if report.witnesses else ""),
            highlight=False,
        )
    else:
        for problem in report.problems:
            console.print(f"[red]FAIL[/red] {plain(problem)}", highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]{plain(warning)}[/yellow]", highlight=False)
    if not report.ok:
        raise typer.Exit(5)


@app.command()
def show(
    location: str = LOCATION,
    search: str = typer.Option("", help="Only wishes containing this text."),
    limit: int = typer.Option(20, help="How many."),
    offset: int = typer.Option(0, help="Skip this many."),
    as_json: bool = JSON,
) -> None:
    """List wishes (newest first), optionally filtered by text."""
    from charter.ledger.log import entry_json

    with _open(location) as ledger:
        rows = [entry_json(e, i) for i, e in ledger.search(search, limit, offset)]
        size = ledger.size
    if as_json:
        emit_json({"size": size, "entries": rows})
        return
    console.print(f"{size} entries")
    for row in rows:
        console.print(
            f"[bold]{row['index']}[/bold] {row['id'][:12]}  "
            f"{plain(row['wish']['scenario'][:70], one_line=True)}",
            highlight=False,
        )


@app.command("witness-key")
def witness_key(
    path: Path = typer.Argument(..., help="Where to write the new witness key (kept private)."),
    name: str = typer.Option(..., help="The witness's name, e.g. 'witness.example/w1'."),
) -> None:
    """Create a witness cosigning key (C2SP tlog-cosignature) and print its public vkey."""
    from charter.ledger.checkpoint import save_key
    from charter.ledger.cosign import WitnessKey

    key = WitnessKey.generate(name)
    save_key(path, key)  # mode 0600, never overwrites
    print(key.verifier_string())


@app.command("witness")
def witness(
    key_file: Path = typer.Option(
        ..., "--key-file", "-k", help="The witness key from `charter ledger witness-key`."
    ),
    state: Path = typer.Option(..., help="The witness's state file (JSON; created if missing)."),
    log: list[str] = typer.Option(
        [], "--log", help="A log to witness, as ORIGIN=VERIFIER (vkey or a file); repeatable."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8001, help="TCP port to listen on."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Run a witness (C2SP tlog-witness): POST /add-checkpoint answers cosignatures."""
    try:
        import uvicorn

        from charter.server.witness_app import create_witness_app
    except ImportError as exc:
        from charter.errors import missing_extra

        raise missing_extra(exc.name or "fastapi", "server") from None
    from charter.ledger.cosign import load_witness_key
    from charter.ledger.witness import Witness, parse_log_option

    server = Witness(load_witness_key(key_file), dict(map(parse_log_option, log)), state)
    typer.echo(f"witness {server.key.verifier_string()}")
    uvicorn.run(create_witness_app(server), host=host, port=port, log_level=log_level)


# `charter ledger votes ...` lives in its own module.
from charter.cli import votes as _votes  # noqa: E402

app.add_typer(_votes.app, name="votes")
