"""``charter eval``: run the eval stages of a config, show results, calibrate the judge.

The same code as the ``eval`` run stage and the Inspect tasks, without Inspect:

- ``charter eval run CONFIG [--stage NAME]``: run (or resume) the config's
  ``eval`` stages (all of them, or the named ones) and print a summary table.
- ``charter eval show RUN_DIR/STAGE``: print the table of a finished stage.
- ``charter eval calibrate [--judge evasive|guidance|agentic]``: the judge's accuracy on a
  shipped calibration set (the evasiveness rubric, the conflict-guidance question, or
  the agentic-misalignment question).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from charter.cli._common import console, emit_json
from charter.errors import ConfigError

app = typer.Typer(
    help="Evaluate models: Elo, evasiveness, over-refusal, conflicts.", no_args_is_help=True
)


@app.command("run")
def run_cmd(
    config: Path = typer.Argument(..., help="The experiment config (YAML)."),
    stage: list[str] = typer.Option(None, "--stage", help="An eval stage to run (repeatable)."),
    restart: bool = typer.Option(False, "--restart", help="Redo stages whose settings changed."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Run the config's eval stages (models trained by earlier stages must exist)."""
    from charter.evals.results import read_report
    from charter.runs import run_experiment
    from charter.runs.config import load_config

    parsed, _ = load_config(config)
    evals = [s.name for s in parsed.stages if s.kind == "eval"]
    if not evals:
        raise ConfigError(f"{config}: has no stage of kind eval; add one (see docs/evals.md).")
    chosen = stage or evals
    wrong = [name for name in chosen if name not in evals]
    if wrong:
        raise ConfigError(
            f"--stage {', '.join(wrong)}: not an eval stage; eval stages are {', '.join(evals)}."
        )
    summary = run_experiment(
        config, restart=restart, progress=not no_progress and not as_json, only=chosen
    )
    reports = {name: read_report(summary.output_dir / name) for name in chosen}
    if as_json:
        emit_json({name: r.model_dump(mode="json") for name, r in reports.items()})
        return
    for name, report in reports.items():
        _print_report(report, summary.output_dir / name)


@app.command("show")
def show_cmd(
    path: Path = typer.Argument(..., help="An eval stage folder or its results.json."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Print the summary table of a finished eval stage."""
    from charter.evals.results import read_report

    report = read_report(path)
    if as_json:
        emit_json(report.model_dump(mode="json"))
        return
    _print_report(report, path if path.is_dir() else path.parent)


JUDGES = ("evasive", "guidance", "agentic")


@app.command("calibrate")
def calibrate_cmd(
    judge: str = typer.Option(
        "evasive",
        "--judge",
        help="Which judge question: evasive (the evasiveness rubric), guidance "
        "(follows the constitution's conflict guidance) or agentic (took the harmful action).",
    ),
    backend: str = typer.Option("llama_cpp", help="The judge's backend."),
    model: str = typer.Option("embedded:feedback", help="The judge model."),
    base_url: str = typer.Option(None, help="OpenAI-compatible server URL (backend openai)."),
    data: Path = typer.Option(None, help="A calibration .jsonl (default: the shipped set)."),
    constitution: str = typer.Option(
        "default", help="Constitution whose conflict guidance the judge sees (--judge guidance)."
    ),
    limit: int = typer.Option(None, min=1, help="Only the first N items."),
    threads: int = typer.Option(None, min=1, help="CPU threads (local backends)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the calibration as JSON."),
) -> None:
    """The judge's accuracy (and confusion matrix) on hand-labelled answers."""
    from pydantic import ValidationError

    from charter.backends.registry import ModelSpec, load_chat_model

    if judge not in JUDGES:
        raise ConfigError(f"--judge {judge!r}: choose one of {', '.join(JUDGES)}.")
    try:
        spec = ModelSpec(backend=backend, model=model, base_url=base_url, threads=threads)
    except ValidationError as exc:
        raise ConfigError(f"--backend/--model: {exc.errors()[0]['msg']}.") from None
    progress = not no_progress and not as_json
    rows: list[dict] | None = None
    extra: dict = {}
    if judge == "guidance":
        from charter.constitution import load_constitution
        from charter.evals.guidance import calibrate_guidance, load_guidance_calibration

        items = load_guidance_calibration(data)[:limit]
        parsed = load_constitution(constitution)
        run = calibrate_guidance(load_chat_model(spec), items, parsed, progress=progress)
        cal, rows, extra = run.calibration, run.item_rows(), {"auc": run.auc}
    elif judge == "agentic":
        from charter.evals.agentic_calibration import calibrate_agentic, load_agentic_calibration

        agentic_items = load_agentic_calibration(data)[:limit]
        agentic_run = calibrate_agentic(load_chat_model(spec), agentic_items, progress=progress)
        cal, rows, extra = (
            agentic_run.calibration,
            agentic_run.item_rows(),
            {"auc": agentic_run.auc},
        )
    else:
        from charter.evals.evasive import calibrate, load_calibration

        items = load_calibration(data)[:limit]
        cal = calibrate(load_chat_model(spec), items, progress=progress).calibration
    if as_json:
        emit_json(
            cal.model_dump(mode="json") | extra | ({"items": rows} if rows is not None else {})
        )
        return
    console.print(
        f"{judge} judge {cal.judge}: accuracy {cal.accuracy:.3f} "
        f"(95% CI {cal.ci_low:.3f}-{cal.ci_high:.3f}, n={cal.n})"
        + (f"; ranking AUC {extra['auc']:.3f}" if extra.get("auc") is not None else "")
    )
    table = Table(title="confusion (rows: label, columns: judged)")
    table.add_column("label")
    for label in cal.labels:
        table.add_column(label, justify="right")
    for label, row in zip(cal.labels, cal.confusion, strict=True):
        table.add_row(label, *(str(v) for v in row))
    console.print(table)
    missed = [r for r in rows or [] if not r["correct"]]
    if missed:
        console.print(
            "disagreements: "
            + ", ".join(f"{r['id']} ({r['kind'] or r['label']}, p={_p(r)})" for r in missed)
        )


def _p(row: dict) -> str:
    p = row["p_follows"] if "p_follows" in row else row["p_harmful"]
    return "-" if p is None else f"{p:.2f}"


def _print_report(report, folder: Path) -> None:
    table = Table(title=f"eval stage {report.stage}")
    for column in ("result", "model", "value", "95% CI", "n", "better"):
        table.add_column(column, justify="right" if column in ("value", "n") else "left")
    for result in report.results:
        for model, score in result.per_model.items():
            fmt = "{:+.0f}" if result.metric == "elo" else "{:.2f}"
            ci = (
                f"[{fmt.format(score.ci_low)}, {fmt.format(score.ci_high)}]"
                if score.ci_low is not None and score.ci_high is not None
                else "-"
            )
            table.add_row(
                result.name,
                model,
                fmt.format(score.value),
                ci,
                str(score.n),
                "higher" if result.higher_is_better else "lower",
            )
    console.print(table)
    console.print(f"judge {report.judge or '-'}; results {folder}/results.json")
    if report.calibration is not None:
        cal = report.calibration
        console.print(
            f"judge calibration: accuracy {cal.accuracy:.2f} "
            f"[{cal.ci_low:.2f}, {cal.ci_high:.2f}] on {cal.n} labelled answers"
        )
    if report.frontier:
        console.print(f"frontier plot: {folder}/frontier.png (and .svg)")
