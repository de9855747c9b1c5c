"""``charter collective``: analyse the wishes of a ledger and write the HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from charter.cli._common import VERIFIER, console, emit_json

app = typer.Typer(
    help="Collective analysis of a wish ledger: influence, humanity vs self, groups, "
    "fidelity, a drafted constitution.",
    no_args_is_help=True,
)


def _pinned(verifier: str | None) -> str | None:
    """The --verifier key string, read from a file when it names one."""
    from charter.ledger.verify import pinned_verifier

    return pinned_verifier([], verifier) if verifier else None


@app.command()
def report(
    ledger: str = typer.Argument(
        ..., help="A ledger (SQLite path or postgresql:// URL), a JSONL export, or builtin:sample."
    ),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="The HTML page to write."),
    judge: bool = typer.Option(
        True, "--judge/--no-judge", help="Use the feedback model (rubric, reconstruction, draft)."
    ),
    limit: int = typer.Option(24, "--limit", min=0, help="Wishes scored by the rubric judge."),
    reconstruction: int = typer.Option(
        8, "--reconstruction", min=0, help="Wishes put through the reconstruction test."
    ),
    draft_articles: int = typer.Option(6, "--draft-articles", min=1, help="Most drafted articles."),
    no_draft: bool = typer.Option(False, "--no-draft", help="Do not draft a constitution."),
    model: str = typer.Option("embedded:feedback", help="The judge model (llama.cpp)."),
    constitution: str = typer.Option("default", help="'default' or a constitution YAML."),
    votes: str | None = typer.Option(
        None, help="'ledger' for the ledger's own votes, or a votes JSONL export."
    ),
    transform: str = typer.Option("sqrt", help="Stake -> influence: linear|sqrt|log1p|capped."),
    work: Path | None = typer.Option(
        None, help="Folder for rows, caches and results.json (default: beside --out)."
    ),
    seed: int = typer.Option(0, help="Seeds the samples, clustering and model calls."),
    verifier: str | None = VERIFIER,
    as_json: bool = typer.Option(False, "--json", help="Print the headline figures as JSON."),
) -> None:
    """Write one self-contained HTML page about the collective's wishes (resumable).

    An export counts as verified only against a pinned log key (--verifier).
    """
    from charter.backends.registry import ModelSpec, load_chat_model, load_embedder
    from charter.collective.analysis import AnalysisOptions, analyze
    from charter.collective.report import write_report
    from charter.collective.stage import load_vote_matrix
    from charter.collective.weights import TRANSFORMS
    from charter.collective.wishes import load_wishes
    from charter.constitution import load_constitution
    from charter.errors import ConfigError
    from charter.runs.provenance import Provenance, canonical_hash, derive_seed

    if transform not in TRANSFORMS:
        raise ConfigError(
            f"--transform {transform!r} is unknown; choose one of {', '.join(TRANSFORMS)}."
        )
    wishes = load_wishes(ledger, verifier=_pinned(verifier))
    charter_constitution = load_constitution(constitution)
    options = AnalysisOptions(
        transform=transform,
        judge_limit=limit if judge else 0,
        reconstruction_limit=reconstruction if judge else 0,
        draft=judge and not no_draft,
        draft_articles=draft_articles,
        seed=seed,
    )
    settings = {
        "command": "collective report",
        "ledger": ledger,
        "model": model,
        "options": options.__dict__,
    }
    config_hash = canonical_hash(settings)

    def provenance(model_id: str, row_seed: int) -> dict:
        return Provenance(
            constitution_hash=charter_constitution.hash,
            model_id=model_id,
            seed=row_seed,
            config_hash=config_hash,
            ledger_checkpoint=wishes.checkpoint_id,
        ).model_dump()

    chat = load_chat_model(ModelSpec(backend="llama_cpp", model=model)) if judge else None
    folder = work or out.with_name(out.stem + "_files")
    results = analyze(
        wishes,
        folder,
        load_embedder(),
        charter_constitution,
        options,
        provenance,
        lambda key: derive_seed(seed, "collective", key),
        judge=chat,
        votes=load_vote_matrix(votes, ledger, wishes),
    )
    write_report(results, out)
    headline = {
        "report": str(out),
        "work": str(folder),
        "wishes": wishes.size,
        "groups": results.groups.k,
        "collective_similarity": results.fidelity.collective_similarity,
        "covered_share": results.fidelity.coverage.covered_share,
        "drafted_articles": len(results.draft.articles) if results.draft else 0,
    }
    if as_json:
        emit_json(headline)
    else:
        console.print(
            f"wrote {out} ({wishes.size} wishes, {headline['groups']} groups, "
            f"coverage {headline['covered_share']:.0%}); rows and results in {folder}"
        )
