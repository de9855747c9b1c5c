"""``charter constitution show | validate | diff``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markdown import Markdown
from rich.table import Table

from charter.cli._common import console, emit_json
from charter.constitution import diff_constitutions, load_constitution

app = typer.Typer(help="Read, validate and compare constitutions.", no_args_is_help=True)

SOURCE = typer.Argument("default", help="A constitution YAML file, or 'default'.")


@app.command()
def show(
    source: str = SOURCE,
    article: str | None = typer.Option(None, "--article", "-a", help="Show one article in full."),
    as_json: bool = typer.Option(False, "--json", help="Print the constitution as JSON."),
) -> None:
    """Show a constitution: its hash and articles (or one article in full)."""
    constitution = load_constitution(source)
    if as_json:
        data = constitution.model_dump(mode="json", by_alias=True)
        if article:
            data = constitution.article(article).model_dump(mode="json", by_alias=True)
        emit_json({"hash": constitution.hash, **data} if not article else data)
        return
    if article:
        a = constitution.article(article)
        lines = [
            f"# {a.id} {a.title}",
            f"**Rule.** {a.rule}",
            f"**Why.** {a.rationale}",
            f"**Critique request.** {a.critique_request}",
            f"**Revision request.** {a.revision_request}",
        ]
        lines += [f"**When it meets {c.with_}.** {c.guidance}" for c in a.conflicts]
        for e in a.examples:
            lines.append(f"**Example.** _{e.prompt}_\n\n- better: {e.better}\n- worse: {e.worse}")
        console.print(Markdown("\n\n".join(lines)))
        return
    table = Table(title=f"{constitution.name}  (hash {constitution.short_hash})")
    table.add_column("id", style="bold")
    table.add_column("title")
    table.add_column("rule", overflow="fold")
    table.add_column("conflicts with")
    for a in constitution.articles:
        table.add_row(a.id, a.title, a.rule, ", ".join(c.with_ for c in a.conflicts))
    console.print(table)


@app.command()
def validate(
    sources: list[Path] = typer.Argument(..., help="Constitution YAML files to check."),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
) -> None:
    """Validate constitution files; exit non-zero on the first invalid one."""
    results = []
    for source in sources:
        constitution = load_constitution(source)
        results.append(
            {
                "file": str(source),
                "valid": True,
                "hash": constitution.hash,
                "articles": len(constitution),
            }
        )
        if not as_json:
            console.print(
                f"[green]ok[/green] {source}: {len(constitution)} articles, "
                f"hash {constitution.short_hash}"
            )
    if as_json:
        emit_json(results)


@app.command()
def diff(
    old: str = typer.Argument(..., help="The older constitution (file or 'default')."),
    new: str = typer.Argument(..., help="The newer constitution (file or 'default')."),
    as_json: bool = typer.Option(False, "--json", help="Print the diff as JSON."),
) -> None:
    """Compare two constitutions article by article."""
    result = diff_constitutions(load_constitution(old), load_constitution(new))
    if as_json:
        emit_json(result.to_dict())
        return
    console.print(f"{result.old_hash[:12]} -> {result.new_hash[:12]}")
    if result.identical:
        console.print("identical")
        return
    for article_id in result.added:
        console.print(f"[green]+ {article_id}[/green] added")
    for article_id in result.removed:
        console.print(f"[red]- {article_id}[/red] removed")
    for article_id, fields in result.changed.items():
        console.print(f"[yellow]~ {article_id}[/yellow] changed: {', '.join(fields)}")
