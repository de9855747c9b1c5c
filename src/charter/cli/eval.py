"""``charter eval``: run the eval stages of a config, show results, calibrate the judge.

The same code as the ``eval`` run stage and the Inspect tasks, without Inspect:

- ``charter eval run CONFIG [--stage NAME]``: run (or resume) the config's
  ``eval`` stages (all of them, or the named ones) and print a summary table.
- ``charter eval show RUN_DIR/STAGE``: print the table of a finished stage.
- ``charter eval suites [--json]``: every eval suite and its Inspect task.
- ``charter eval calibrate --judge J [--method M] [--data FILE] [--fit] [--card FILE]``:
  a judge's calibration card on its gold set's test split (any OpenAI-compatible
  judge too, with ``--backend openai --base-url``).
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


@app.command("suites")
def suites_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print the suites as JSON."),
) -> None:
    """List every eval suite (the stage's `suites` names) with its Inspect task."""
    from charter.evals.suites import suite_infos

    infos = suite_infos()
    if as_json:
        emit_json({"suites": [info.model_dump(mode="json") for info in infos]})
        return
    table = Table(title="eval suites")
    table.add_column("suite", no_wrap=True)
    table.add_column("inspect task", no_wrap=True)
    table.add_column("default")
    table.add_column("limit", justify="right")
    table.add_column("measures")
    for info in infos:
        table.add_row(
            info.name,
            info.inspect_task,
            "yes" if info.default else "opt-in",
            str(info.default_limit),
            info.description,
        )
    console.print(table)
    console.print(
        "run one in Inspect: inspect eval src/charter/evals/inspect_tasks.py@<inspect task>"
    )


def _registered_judges():
    """Every judge: the feedback layer's own, plus those the domain packages register."""
    import charter.evals.agentic_calibration
    import charter.evals.guidance
    import charter.pretrain.depth  # noqa: F401  (registers "depth")
    from charter.feedback.registry import get_judge

    return get_judge


@app.command("calibrate")
def calibrate_cmd(
    judge: str = typer.Option(
        "evasiveness",
        "--judge",
        help="The judge: evasiveness, harmful_compliance, over_refusal, preference_harmlessness, "
        "preference_helpfulness, guidance, agentic or depth (see docs/feedback.md).",
    ),
    method: str = typer.Option(None, "--method", help="How it decides (default: its default)."),
    backend: str = typer.Option("llama_cpp", help="The judge's backend."),
    model: str = typer.Option("embedded:feedback", help="The judge model."),
    base_url: list[str] = typer.Option(
        None,
        metavar="URL",
        help="OpenAI-compatible server URL (backend openai); repeat it for replicas.",
    ),
    data: Path = typer.Option(None, help="A gold .jsonl (default: the judge's shipped set)."),
    split: str = typer.Option(
        "test", help="test, dev or all (a file without split fields is all test)."
    ),
    fit: bool = typer.Option(
        False, "--fit", help="First fit the method's weights on the dev split (then report test)."
    ),
    card: Path = typer.Option(None, help="Also write the calibration card to this file."),
    limit: int = typer.Option(None, min=1, help="Only the first N items."),
    threads: int = typer.Option(None, min=1, help="CPU threads (local backends)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the card (and items) as JSON."),
) -> None:
    """A judge's calibration card on a gold set: accuracy, macro-F1, confusion, ECE, flips."""
    from pydantic import ValidationError

    from charter.backends.registry import ModelSpec, load_chat_model
    from charter.feedback import calibrate as cal

    definition = _registered_judges()(judge)
    definition.method(method)  # an unknown method fails before the model loads
    if split not in ("test", "dev", "all"):
        raise ConfigError(f"--split {split!r}: choose test, dev or all.")
    try:
        urls = base_url[0] if base_url and len(base_url) == 1 else base_url or None
        spec = ModelSpec(backend=backend, model=model, base_url=urls, threads=threads)
    except ValidationError as exc:
        raise ConfigError(f"--backend/--model: {exc.errors()[0]['msg']}.") from None
    progress = not no_progress and not as_json
    scorer = load_chat_model(spec)
    if fit:
        fitted = cal.fit(definition, scorer, method, data, progress=progress)
        if not as_json:
            console.print(f"fitted {judge} ({method or definition.default}): {fitted.fitted_on}")
    run = cal.calibrate(
        definition,
        scorer,
        data,
        None if split == "all" else split,
        method,
        limit,
        progress=progress,
    )
    if card is not None:
        run.card.save(card)
    if as_json:
        emit_json(run.card.model_dump(mode="json") | {"items": run.item_rows()})
        return
    console.print(run.card.summary())
    table = Table(title="confusion (rows: gold label, columns: judged)")
    table.add_column("label")
    for label in run.card.labels:
        table.add_column(label, justify="right")
    for label, row in zip(run.card.labels, run.card.confusion, strict=True):
        table.add_row(label, *(str(v) for v in row))
    console.print(table)
    missed = [r for r in run.item_rows() if not r["correct"]]
    if missed:
        console.print(
            f"{len(missed)} misjudged: "
            + ", ".join(f"{r['id']} ({r['label']} as {r['judged']})" for r in missed[:20])
            + (" ..." if len(missed) > 20 else "")
        )
    if card is not None:
        console.print(f"card: {card}")


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
    for card in report.cards.values():
        console.print(f"judge card: {card.summary()}")
    if report.frontier:
        console.print(f"frontier plot: {folder}/frontier.png (and .svg)")
