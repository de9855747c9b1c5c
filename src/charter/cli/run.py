"""``charter run CONFIG``: run an experiment."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from charter.cli._common import console, emit_json
from charter.runs import run_experiment


class Engine(StrEnum):
    """Where a run's local models run (``--engine``)."""

    local = "local"
    ray = "ray"


def run(
    config: Path = typer.Argument(..., help="The experiment config (YAML)."),
    restart: bool = typer.Option(
        False, "--restart", help="Redo stages whose settings changed, discarding their rows."
    ),
    stage: list[str] = typer.Option(None, "--stage", help="Run only this stage (repeatable)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
    max_tokens_budget: int | None = typer.Option(
        None,
        "--max-tokens-budget",
        min=1,
        help="Stop cleanly once this run's model calls have used N tokens (prompt + "
        "completion); rerun to continue.",
    ),
    engine: Engine = typer.Option(
        Engine.local,
        "--engine",
        help="Where local models run: in this process, or served by Ray actors (RAY_ADDRESS "
        "joins a cluster). Server models stay clients here. Resume on either engine.",
    ),
    actors: int = typer.Option(
        2, "--actors", min=1, help="With --engine ray: Ray actors (model copies) per local model."
    ),
    cpus_per_actor: float = typer.Option(
        1.0,
        "--cpus-per-actor",
        min=0.01,
        help="With --engine ray: Ray CPUs each actor reserves; its threads, unless the "
        "model sets threads.",
    ),
) -> None:
    """Run (or resume) every stage of an experiment; outputs land in runs/<name>/."""
    summary = run_experiment(
        config,
        restart=restart,
        progress=not no_progress and not as_json,
        only=stage or None,
        max_tokens_budget=max_tokens_budget,
        engine=engine.value,
        actors=actors,
        cpus_per_actor=cpus_per_actor,
    )
    stopped = (
        f"stopped at the token budget ({summary.budget['used']} used); rerun to continue"
        if summary.stopped_at_budget and summary.budget
        else None
    )
    if as_json:
        emit_json(summary.to_dict())
        if stopped:
            print(stopped, file=sys.stderr)
        return
    table = Table(title=f"run {summary.name} -> {summary.output_dir}")
    for column in ("stage", "done", "new", "failed", "total"):
        table.add_column(column)
    for name, counts in summary.stages.items():
        table.add_row(name, *(str(counts.get(k, "")) for k in ("done", "new", "failed", "total")))
    console.print(table)
    console.print(
        f"config {summary.config_hash[:12]}  constitution "
        f"{summary.constitution_hash[:12]}  manifest {summary.output_dir}/manifest.json"
    )
    for name, counts in summary.stages.items():
        for warning in counts.get("warnings", []):
            console.print(f"[yellow]warning[/yellow] {name}: {warning}.")
    if stopped:
        console.print(stopped)
