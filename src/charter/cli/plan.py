"""``charter plan CONFIG``: the calls, tokens, time and cost of a run, before it runs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from charter.cli._common import console, emit_json, plain
from charter.runs.plan import parse_prices, parse_rates, plan_run


def _number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def plan(
    config: Path = typer.Argument(..., help="The experiment config (YAML)."),
    tokens_per_second: list[str] = typer.Option(
        None,
        "--tokens-per-second",
        help="A model's speed, KEY=GEN[/PROMPT] tokens/s (repeatable), e.g. feedback=34/150.",
    ),
    price: list[str] = typer.Option(
        None,
        "--price",
        help="A model's price per million tokens, KEY=IN/OUT (repeatable), e.g. api=0.5/1.5.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """Estimate every stage's model calls, tokens, time and cost; loads no model.

    Completion tokens are the max_tokens limits, so they (and the time) are upper bounds.
    """
    result = plan_run(config, parse_rates(tokens_per_second or []), parse_prices(price or []))
    if as_json:
        emit_json(result.to_dict())
        return
    table = Table(
        title=f"plan {plain(result.name)} (completion tokens: upper bounds)",
        caption="time: model calls only, one at a time; training stages show steps, not time",
    )
    longest = max(len(s.name) for s in result.stages)
    table.add_column("stage", no_wrap=True, min_width=min(longest, 24))  # names stay whole
    table.add_column("kind", overflow="ellipsis")
    for column in ("calls", "prompt tok", "compl. tok", "steps", "time"):
        table.add_column(column, justify="right")
    if any(s.cost is not None for s in result.stages):
        table.add_column("cost", justify="right")
    priced = len(table.columns) == 8
    for s in [*result.stages, result.total]:
        row = [
            plain(s.name),
            plain(s.kind),
            _number(s.calls),
            _number(s.prompt_tokens),
            _number(s.completion_tokens),
            _number(s.steps),
            _duration(s.seconds),
        ]
        if priced:
            row.append(_number(s.cost, 4))
        table.add_row(*row, end_section=s is result.stages[-1])
    console.print(table)
    for key, rate in result.rates.items():
        console.print(
            f"{plain(key)}: {rate.generate:g} tok/s generated, {rate.prompt:g} tok/s prompt "
            f"({plain(rate.source)})"
        )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
