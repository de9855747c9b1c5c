"""``charter models list | check | generate | embed``."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import typer
from rich.table import Table

from charter.backends import embedded as emb
from charter.backends.base import GenerateParams, normalize_choices
from charter.backends.check import check_one
from charter.backends.registry import EmbedderSpec, ModelSpec, load_chat_model, load_embedder
from charter.cli._common import console, emit_json
from charter.errors import ConfigError
from charter.feedback.choices import checked_logprobs

app = typer.Typer(help="List, check and try the models.", no_args_is_help=True)


@app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the embedded default models, their roles, packages and pinned hashes."""
    rows = [
        {**dataclasses.asdict(m), "cached_or_installed_at": _where(m.name)}
        for m in emb.EMBEDDED.values()
    ]
    if as_json:
        emit_json(rows)
        return
    table = Table(title="Embedded models (no downloads at run time)")
    for column in ("name", "role", "model", "backend", "ships in", "sha256"):
        table.add_column(column, overflow="fold")
    for m in emb.EMBEDDED.values():
        table.add_row(m.name, m.role, m.model_id, m.backend, m.packages, m.sha256[:16] + "…")
    console.print(table)


def _where(name: str) -> str | None:
    try:
        return (
            str(emb.embedded_path(name, verify=False))
            if name != "feedback"
            else str(emb.cache_dir() / emb.FEEDBACK_FILE)
        )
    except Exception:
        return None


@app.command()
def check(
    names: list[str] = typer.Argument(None, help="Models to check (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
) -> None:
    """Verify hashes, load each embedded model and get a checked answer from it."""
    names = names or list(emb.EMBEDDED)
    unknown = [n for n in names if n not in emb.EMBEDDED]
    if unknown:
        raise ConfigError(
            f"no embedded model {unknown[0]!r}; choose from {', '.join(emb.EMBEDDED)}."
        )
    results = []
    for name in names:
        with console.status(f"checking {name}…", spinner="dots"):
            results.append(check_one(name))
        if not as_json:
            r = results[-1]
            mark = "[green]ok[/green]  " if r.ok else "[red]FAIL[/red]"
            console.print(f"{mark} {r.name:<12} {r.seconds:6.1f}s  {r.detail}")
    if as_json:
        emit_json([dataclasses.asdict(r) for r in results])
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command()
def generate(
    prompt: str = typer.Argument(..., help="The user message ('-' reads stdin)."),
    model: str = typer.Option(
        "embedded:policy", help="embedded:policy|feedback, a path, or a server model."
    ),
    backend: str = typer.Option("llama_cpp", help="llama_cpp | transformers | openai | scripted."),
    base_url: list[str] | None = typer.Option(
        None, metavar="URL", help="OpenAI-compatible server URL (.../v1); repeat it for replicas."
    ),
    system: str | None = typer.Option(None, help="An optional system message."),
    max_tokens: int = typer.Option(128, help="Upper bound on generated tokens."),
    temperature: float = typer.Option(0.7, help="0 for greedy decoding."),
    seed: int | None = typer.Option(0, help="Sampling seed."),
    choices: str | None = typer.Option(
        None, help="Comma-separated answer choices: print their normalised probabilities."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Generate one reply (or score answer choices) with any backend."""
    text = sys.stdin.read() if prompt == "-" else prompt
    urls = base_url[0] if base_url and len(base_url) == 1 else base_url or None
    spec = ModelSpec.model_validate({"backend": backend, "model": model, "base_url": urls})
    chat = load_chat_model(spec)
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": text})
    if choices:
        options = [c.strip() for c in choices.split(",") if c.strip()]
        logprobs = checked_logprobs(chat, messages, options)
        probs = normalize_choices(logprobs)
        result = {
            "model_id": chat.model_id,
            "choices": options,
            "logprobs": logprobs,
            "probs": probs,
        }
        if as_json:
            emit_json(result)
        else:
            for option, p in zip(options, probs, strict=True):
                console.print(f"{p:6.3f}  {option}")
        return
    completion = chat.generate(
        messages, GenerateParams(max_tokens=max_tokens, temperature=temperature, seed=seed)
    )
    if as_json:
        emit_json(dataclasses.asdict(completion))
    else:
        console.print(completion.text, markup=False, highlight=False)


@app.command()
def embed(
    texts: list[str] = typer.Argument(None, help="Texts to embed."),
    file: Path | None = typer.Option(None, help="Embed each line of this file instead."),
    embedder: str = typer.Option(
        "embedded:minilm-int8", help="embedded:minilm-int8 | embedded:minilm | a folder."
    ),
    backend: str = typer.Option("onnx", help="onnx | sentence_transformers | hashing."),
    as_json: bool = typer.Option(False, "--json", help="Print the vectors as JSON."),
) -> None:
    """Embed texts; print dimensions and cosine similarities (or the vectors as JSON)."""
    if file is not None:
        texts = [
            line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    if not texts:
        raise ConfigError("nothing to embed; pass texts or --file.")
    model = load_embedder(EmbedderSpec.model_validate({"backend": backend, "model": embedder}))
    vectors = model.embed(texts)
    if as_json:
        emit_json(
            {
                "model_id": model.model_id,
                "dim": model.dim,
                "vectors": [[round(float(x), 6) for x in row] for row in vectors],
            }
        )
        return
    console.print(f"{model.model_id}: {len(texts)} x {model.dim}")
    if len(texts) > 1:
        sims = vectors @ vectors.T
        table = Table(title="cosine similarity")
        table.add_column("")
        for i in range(len(texts)):
            table.add_column(str(i))
        for i, text in enumerate(texts):
            table.add_row(f"{i}: {text[:30]}", *(f"{sims[i, j]:.2f}" for j in range(len(texts))))
        console.print(table)
