"""``charter export RUN OUT``: a run's datasets as Hub-ready folders (see charter.export)."""

from __future__ import annotations

from pathlib import Path

import typer

from charter.cli._common import emit_json, printable


def export(
    run_dir: Path = typer.Argument(..., help="The run folder (output_dir of `charter run`)."),
    out: Path = typer.Argument(..., help="A new (or empty) folder: one subfolder per dataset."),
    dataset: list[str] = typer.Option(
        None, "--dataset", help="Export only this dataset name (repeatable)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace OUT if an earlier `charter export` wrote it."
    ),
    push_to_hub: str = typer.Option(
        None,
        "--push-to-hub",
        help="Also upload to this Hub dataset repo (OWNER/NAME; REPO-<name> when several).",
    ),
    private: bool = typer.Option(False, "--private", help="Create Hub repos as private."),
    as_json: bool = typer.Option(False, "--json", help='Print {"datasets": [...]} as JSON.'),
) -> None:
    """Write every dataset of a run (SFT, preferences, eval judgements, pretraining mixes)
    as a folder `datasets.load_dataset` reads, each with a README.md dataset card."""
    from charter.export import check_pushable, export_run, push_folders  # loads stage code

    if push_to_hub:
        check_pushable(push_to_hub)  # refuse before the work, not after it
    written = export_run(run_dir, out, force=force, only=dataset or None)
    urls = {}
    if push_to_hub:
        urls = push_folders({d.name: d.path for d in written}, push_to_hub, private=private)
    if as_json:
        emit_json({"datasets": [{**d.to_dict(), "hub": urls.get(d.name)} for d in written]})
        return
    for d in written:
        where = f"  {urls[d.name]}" if d.name in urls else ""
        # Plain print: a long path must not be wrapped by the console.
        line = f"{d.name}  {d.kind}  {d.rows} rows  root {d.merkle_root[:16]}  {d.path}{where}"
        print(printable(line, one_line=True))
