"""``charter ledger votes``: simulate, tally, export and verify the votes on a ledger's wishes."""

from __future__ import annotations

from pathlib import Path

import typer

from charter.cli._common import TRUSTED_LOGS, VERIFIER, console, emit_json, plain
from charter.errors import LedgerError

app = typer.Typer(
    help="Endorse/oppose votes on wishes, kept in a verifiable vote log.", no_args_is_help=True
)

LOCATION = typer.Argument(..., help="A SQLite file path or a postgresql:// URL.")
KEY_FILE = typer.Option(None, "--key-file", "-k", help="The log's private key file.")
JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")


def _open(location: str, key_file: Path | None = None):
    from charter.ledger.checkpoint import load_key
    from charter.ledger.log import Ledger

    return Ledger.open(location, key=load_key(key_file) if key_file else None)


@app.command()
def simulate(
    location: str = LOCATION,
    voters: int = typer.Option(60, help="How many synthetic voters."),
    groups: int = typer.Option(3, help="How many opinion groups."),
    seed: int = typer.Option(0, help="Fixes voter keys, choices, nonces and timestamps."),
    participation: float = typer.Option(0.6, help="Chance a voter votes on a given wish."),
    consensus_share: float = typer.Option(0.3, help="Share of wishes all groups agree on."),
    key_file: Path | None = KEY_FILE,
    as_json: bool = JSON,
) -> None:
    """Add synthetic signed votes from voters in opinion groups (demos and tests).

    Rerunning with the same options adds nothing: votes already in the log are skipped.
    """
    from charter.ledger.votelog import VoteLog
    from charter.ledger.votesim import simulate as run

    with _open(location, key_file) as ledger:
        wishes = [ledger.get(i).id for i in range(ledger.size)]
        sim = run(wishes, voters, groups, seed, origin=ledger.origin,
                  participation=participation, consensus_share=consensus_share)  # fmt: skip
        result = add_votes(VoteLog.for_ledger(ledger), sim.votes, sign=key_file is not None)
    result |= {"wishes": len(wishes), "voters": voters, "groups": groups}
    if as_json:
        emit_json(result)
    else:
        console.print(
            f"added {result['added']} votes ({result['skipped']} already there) on "
            f"{len(wishes)} wishes; the vote log holds {result['size']}"
        )


def add_votes(votes, new, sign: bool, batch: int = 2000) -> dict:
    """Append ``new`` votes not yet in the log (by voter key and nonce), in batches."""
    from charter._util.progress import progress_bar

    seen = votes.used_nonces()
    todo = [v for v in new if (v.voter_key, v.nonce) not in seen]
    with progress_bar("votes", len(todo)) as bar:
        for start in range(0, len(todo), batch):
            votes.append(todo[start : start + batch], check_clock=False)
            bar.advance(len(todo[start : start + batch]))
    if sign:
        votes.checkpoint()
    return {"added": len(todo), "skipped": len(new) - len(todo), "size": votes.size}


@app.command()
def tally(
    location: str = LOCATION,
    entry: str | None = typer.Option(None, help="One wish's id; default: the most voted."),
    limit: int = typer.Option(20, help="How many wishes to list."),
    as_json: bool = JSON,
) -> None:
    """Endorse/oppose counts of the votes in force, most voted wishes first."""
    from charter.ledger.votelog import VoteLog

    with _open(location) as ledger:
        votes = VoteLog.for_ledger(ledger)
        ids = [entry] if entry else [ledger.get(i).id for i in range(ledger.size)]
        counts = votes.tallies(ids)
        size = votes.size
    rows = sorted(counts.items(), key=lambda kv: (-kv[1].total, kv[0]))[:limit]
    if entry and entry not in counts:
        rows = [(entry, None)]
    table = [{"entry_id": e, **(t.to_dict() if t else {"endorse": 0, "oppose": 0, "total": 0})}
             for e, t in rows]  # fmt: skip
    if as_json:
        emit_json({"vote_log_size": size, "wishes": table})
        return
    console.print(f"{size} votes in the vote log")
    for row in table:
        console.print(f"{row['entry_id'][:16]}…  +{row['endorse']}  -{row['oppose']}")


@app.command()
def export(
    location: str = LOCATION,
    out: Path = typer.Argument(..., help="The JSONL file to write."),
    key_file: Path | None = KEY_FILE,
) -> None:
    """Write the vote log (canonical JSON per line), its checkpoints and the verifier key.

    Writes OUT, OUT.checkpoints.jsonl and OUT.verifier: all `votes verify` needs, offline.
    """
    from charter.ledger.votelog import VoteLog

    with _open(location, key_file) as ledger:
        votes = VoteLog.for_ledger(ledger)
        count = votes.export(out)
        notes = votes.checkpoints()
    console.print(
        f"exported {count} votes and {len(notes)} vote-log checkpoints to {plain(out)}",
        highlight=False,
    )


@app.command()
def verify(
    export_file: Path = typer.Argument(..., help="An export from `charter ledger votes export`."),
    wishes: Path | None = typer.Option(
        None, help="A wish export (`charter ledger export`): every vote must name one of them."
    ),
    verifier: str | None = VERIFIER,
    trusted_logs: Path | None = TRUSTED_LOGS,
    allow_unverified_tail: bool = typer.Option(
        False, "--allow-unverified-tail", help="Accept votes after the newest checkpoint."
    ),
    as_json: bool = JSON,
) -> None:
    """Verify an exported vote log against its signed checkpoints; print the tally.

    The log key is pinned with --verifier or --trusted-logs, never read from the bundle.
    """
    from charter.ledger.verify import pinned_verifier, read_checkpoint_notes, require_export
    from charter.ledger.votelog import verify_vote_export
    from charter.ledger.votes import tally as count
    from charter.merkle import leaf_hash

    require_export(export_file)
    notes = read_checkpoint_notes(f"{export_file}.checkpoints.jsonl")
    verifier = pinned_verifier(notes, verifier, trusted_logs)
    ids = None
    if wishes is not None:
        try:
            lines = wishes.read_bytes().splitlines()
        except OSError as exc:
            raise LedgerError(
                f"--wishes {wishes}: cannot read the wish export ({exc.strerror}); pass the "
                "file `charter ledger export` wrote"
            ) from None
        ids = [leaf_hash(line).hex() for line in lines if line.strip()]
    current = verify_vote_export(
        export_file, notes, verifier, ids, allow_unverified_tail=allow_unverified_tail
    )
    tallies = count(current)
    result = {
        "verified": True,
        "votes_in_force": len(current),
        "voters": len({v.voter_key for v in current}),
        "wishes_voted_on": len(tallies),
        "checkpoints": len(notes),
    }
    if as_json:
        emit_json(result)
    else:
        console.print(
            f"[green]verified[/green]: {result['votes_in_force']} votes in force by "
            f"{result['voters']} voters on {result['wishes_voted_on']} wishes; "
            f"{len(notes)} checkpoints match"
        )
