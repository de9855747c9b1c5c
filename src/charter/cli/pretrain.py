"""``charter pretrain``: run the pretraining-data path, verify and prove mixes, ablate."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from charter.cli._common import console, emit_json
from charter.errors import ConfigError, VerificationError

app = typer.Typer(
    help="Alignment pretraining data: classify, reflect, mix, verify, prove, ablate.",
    no_args_is_help=True,
)
JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")


@app.command()
def run(
    config: Path = typer.Argument(..., help="An experiment config with pretrain_* stages."),
    engine: str = typer.Option(None, "--engine", help="local or ray (classify and reflect)."),
    workers: int = typer.Option(None, "--workers", min=1, help="Ray actors, one model each."),
    restart: bool = typer.Option(False, "--restart", help="Redo stages whose settings changed."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
    as_json: bool = JSON,
) -> None:
    """Run (or resume) a config; --engine ray runs classify/reflect on Ray Data."""
    from charter.pretrain.run import run_with_engine

    summary = run_with_engine(
        config, engine, workers, restart=restart, progress=not no_progress and not as_json
    )
    if as_json:
        emit_json(summary.to_dict())
        return
    for name, counts in summary.stages.items():
        shown = {k: v for k, v in counts.items() if k in ("done", "new", "failed", "total")}
        console.print(f"{name}: {shown}")
    console.print(f"outputs in {summary.output_dir}")


@app.command()
def verify(
    mix_dir: Path = typer.Argument(..., help="A mix folder (docs.jsonl, manifest.json, card)."),
    as_json: bool = JSON,
) -> None:
    """Recompute every document hash and the Merkle root; fail on any difference."""
    from charter.pretrain.manifest import verify_mix

    result = verify_mix(mix_dir)
    if as_json:
        emit_json({**result, "verified": True})
    else:
        console.print(f"verified {result['size']} documents, root {result['root']}")


def _digest(mix_dir: Path, doc: str) -> str:
    """DOC as a digest: a file's text, a document id in the mix, or a hex SHA-256."""
    from charter.pretrain.manifest import DOCS, HEX64, doc_sha256
    from charter.runs.store import read_jsonl

    if Path(doc).is_file():
        return doc_sha256(Path(doc).read_text(encoding="utf-8").strip())
    if HEX64.match(doc):
        return doc
    for row in read_jsonl(mix_dir / DOCS):
        if row["id"] == doc:
            return row["sha256"]
    raise ConfigError(
        f"DOC {doc!r} is not a file, a 64-digit hex SHA-256, or a document id in {mix_dir}."
    )


@app.command()
def prove(
    mix_dir: Path = typer.Argument(..., help="A mix folder."),
    doc: str = typer.Argument(..., help="A text file, a document id, or a hex SHA-256."),
    out: Path = typer.Option(None, "--out", help="Also write the proof to this JSON file."),
    as_json: bool = JSON,
) -> None:
    """Prove that a document was in the mix (inclusion) or was not (adjacent sorted leaves)."""
    from charter.pretrain.manifest import load_manifest, prove, verify_proof

    proof = prove(load_manifest(mix_dir), _digest(mix_dir, doc))
    verify_proof(proof)  # never hand out a proof that does not check
    if out:
        out.write_text(json.dumps(proof, indent=2) + "\n")
    if as_json:
        emit_json(proof)
    elif proof["type"] == "inclusion":
        console.print(f"IN the mix: leaf {proof['index']} of {proof['size']}, root {proof['root']}")
    else:
        sides = [s for s in ("left", "right") if proof.get(s)]
        where = ", ".join(f"{s} neighbour leaf {proof[s]['index']}" for s in sides)
        console.print(f"NOT in the mix: {where} bracket it; root {proof['root']}")


@app.command("check-proof")
def check_proof(
    proof_file: Path = typer.Argument(..., help="A proof written by `prove --out`."),
    root: str = typer.Option(None, "--root", help="The root you trust (default: the proof's)."),
    document: Path = typer.Option(
        None, "--document", help="The document's text as you hold it: it must hash to the proof's."
    ),
) -> None:
    """Check a proof offline against a root (and, given --document, against your copy)."""
    from charter.pretrain.manifest import verify_proof

    try:
        proof = json.loads(proof_file.read_text(encoding="utf-8"))
        text = document.read_text(encoding="utf-8").strip() if document else None
    except (OSError, ValueError) as exc:
        raise VerificationError(f"{document or proof_file}: not readable ({exc}).") from None
    verify_proof(proof, root, document=text)
    console.print(f"proof checks: {proof['type']} of {proof['document'][:16]}...")


AGAINST = {"thin": ["thin"], "padded": ["padded"], "both": None}


@app.command()
def depth(
    limit: int = typer.Option(None, "--limit", min=1, help="Only the first N documents."),
    validation: Path = typer.Option(None, "--validation", help="A deep/thin/padded JSONL."),
    against: str = typer.Option(
        "both", "--against", help="Rank deep against thin, padded, or both (those present)."
    ),
    threads: int = typer.Option(None, "--threads", min=1, help="llama.cpp threads."),
    as_json: bool = JSON,
) -> None:
    """Does the depth scorer rank deep reflections above thin and length-matched padded ones?"""
    from charter.backends.registry import ModelSpec, load_chat_model
    from charter.pretrain.depth import DEEP, DepthScorer, load_validation, validate_depth

    if against not in AGAINST:
        raise ConfigError(f"--against {against!r}: choose thin, padded or both.")
    rows = load_validation(str(validation) if validation else None, limit)
    model = load_chat_model(
        ModelSpec(backend="llama_cpp", model="embedded:feedback", n_ctx=2048, threads=threads)
    )
    result = validate_depth(DepthScorer(model), rows, AGAINST[against], progress=not as_json)
    if as_json:
        emit_json(result)
        return
    n, depth_of, words = result["n"], result["mean_depth"], result["mean_words"]
    console.print(f"{DEEP}: n={n[DEEP]}, {words[DEEP]:.0f} words, mean depth {depth_of[DEEP]:.3f}")
    for label, comparison in result["against"].items():
        console.print(
            f"AUC deep > {label}: {comparison['auc']:.3f} ({label}: n={n[label]}, "
            f"{words[label]:.0f} words, mean depth {depth_of[label]:.3f})"
        )
    labels = list(result["against"])
    console.print("  criterion AUC  " + "  ".join(f"{x:>7}" for x in labels))
    for name in result["against"][labels[0]]["criterion_auc"]:
        cells = "  ".join(f"{result['against'][x]['criterion_auc'][name]:7.3f}" for x in labels)
        console.print(f"  {name:<13}  {cells}")


@app.command()
def ablate(
    mix_root: Path = typer.Argument(..., help="A pretrain_mix stage folder (one folder per mix)."),
    out: Path = typer.Option(..., "--out", help="Where results, table and plots go."),
    mixes: list[str] = typer.Option(None, "--mix", help="Only this mix (repeatable)."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Seeds per mix (0..N-1)."),
    tokens: int = typer.Option(None, "--tokens", min=1, help="Training tokens per model."),
    layers: int = typer.Option(None, "--layers", min=1),
    d_model: int = typer.Option(None, "--d-model", min=8),
    seq_len: int = typer.Option(None, "--seq-len", min=8),
    batch: int = typer.Option(None, "--batch", min=1),
    device: str = typer.Option(None, "--device", help="cpu or cuda (default: cuda if present)."),
    probes: Path = typer.Option(None, "--probes", help="A probe JSONL (default: shipped)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
    as_json: bool = JSON,
) -> None:
    """Pretrain tiny GPT-2s on each mix (same budget, same seeds); compare propensity."""
    from charter.pretrain.ablate import run_ablation
    from charter.pretrain.tinylm import TinyConfig

    sizes = {"tokens": tokens, "layers": layers, "d_model": d_model, "seq_len": seq_len}
    sizes["batch"] = batch
    config = TinyConfig(**{k: v for k, v in sizes.items() if v is not None})
    result = run_ablation(
        mix_root,
        out,
        mixes or None,
        tuple(range(seeds)),
        config,
        probes,
        progress=not no_progress and not as_json,
        on=device,
    )
    if as_json:
        emit_json(result["table"])
        return
    console.print((out / "table.md").read_text())
    console.print(f"plots: {out / 'propensity.png'}, {out / 'comparisons.png'}")
