"""``charter report RUN_DIR``: write the run's self-contained HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from charter.report import write_report


def report(
    run_dir: Path = typer.Argument(..., help="The run folder (output_dir of `charter run`)."),
    output: Path = typer.Option(
        None, "--output", "-o", help="Write the page here instead of <run>/report.html."
    ),
) -> None:
    """Write one HTML page with the run's plots, tables, examples and provenance."""
    path = write_report(run_dir, output)
    print(path)
