"""The ``pretrain_mix`` stage: data mixes from classified and reflected documents.

Strategies (what happens to harmful documents):

- ``raw``: every document as it is.
- ``filter``: harmful documents dropped (the usual safety-filter baseline).
- ``contextualize``: harmful documents kept, each followed by its reflection
  (benign ones get their appreciative reflection too, with ``reflect_benign``);
  alignment pretraining, Tice et al. 2026, found context beat filtering.
- ``tag``: each document prefixed with ``<|aligned|>`` or ``<|misaligned|>``
  (conditional training, Korbak et al. 2023); at inference the model is
  conditioned on ``<|aligned|>`` and ``<|misaligned|>`` is blocked
  (:mod:`charter.pretrain.tokens`).

Placements of a reflection (``contextualize``):

- ``gated``: inside ``<|assistant_reflection|> ... </|assistant_reflection|>``,
  voiced by the assistant persona;
- ``decoupled``: a neutral narrator's note, no persona token;
- ``both``: each document one way or the other by a seeded hash of its id
  (about half each way), so a model sees the same kind of reflection with and
  without the persona. The choice is per document, so it does not move when
  the corpus grows; with only a few reflected documents they can all fall on
  one side, and the mix is then the ``gated`` or ``decoupled`` one.

Mixes that come out identical (the same Merkle root) are not silently left to
share a hash: each card names the others in ``identical_to`` and says why in
``warnings`` (:func:`identical_reason`), e.g. a quickstart with two reflected
documents whose coins both say ``decoupled``.

``dilemmas: true`` adds the shipped moral-dilemma advice documents.

Output per mix, in ``<run>/<stage>/<mix>/``: ``docs.jsonl`` (``{"key", "id",
"source_id", "text", "sha256", "class", "mode", "style", "article", "depth"}``),
``manifest.json`` (:mod:`charter.pretrain.manifest`), ``card.json`` and
``card.md`` (:mod:`charter.pretrain.card`; ``identical_to`` and ``warnings``
are filled once every mix is built). A mix is rebuilt from its inputs on
every run (it is cheap) and swapped in whole, so a reader never sees half a mix.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from charter._util.progress import progress_bar
from charter.errors import ConfigError
from charter.pretrain import tokens as tk
from charter.pretrain.card import CardCounter, render_markdown
from charter.pretrain.classify import OUTPUT as CLASSIFIED
from charter.pretrain.classify import SUMMARY as CLASSIFIER
from charter.pretrain.corpus import data_path
from charter.pretrain.manifest import DOCS, MANIFEST, build_manifest, doc_sha256
from charter.pretrain.reflect import OUTPUT as REFLECTIONS
from charter.runs.config import Slug, StageSpec
from charter.runs.context import RunContext
from charter.runs.provenance import derive_seed
from charter.runs.store import JsonlStore, read_jsonl

NARRATOR = "A note on the text above:"  # the decoupled placement's neutral framing

DESCRIPTIONS = {
    "raw": "Every document as collected.",
    "filter": "Documents the classifier labelled harmful are removed.",
    "contextualize": "Harmful documents are kept, each followed by a reflection on it.",
    "tag": "Each document starts with <|aligned|> or <|misaligned|> by its class.",
}


class MixDef(BaseModel):
    """One mix to build."""

    model_config = ConfigDict(extra="forbid")

    name: Slug
    strategy: Literal["raw", "filter", "contextualize", "tag"]
    placement: Literal["gated", "decoupled", "both"] | None = Field(
        None, description="contextualize only: where the reflection goes"
    )
    style: Literal["citation", "explained", "character"] | None = Field(
        None, description="contextualize only: which reflections"
    )
    reflect_benign: bool = Field(True, description="also attach appreciative reflections")
    dilemmas: bool = Field(False, description="add the moral-dilemma advice documents")

    @model_validator(mode="after")
    def _contextualize(self) -> MixDef:
        if self.strategy == "contextualize" and (self.placement is None or self.style is None):
            raise ValueError(f"mix {self.name!r}: contextualize needs placement and style")
        if self.strategy != "contextualize" and (self.placement or self.style):
            raise ValueError(f"mix {self.name!r}: placement and style are for contextualize")
        return self


def default_mixes() -> list[MixDef]:
    """raw, filter, tag, and contextualize across placements and styles."""
    ctx = "contextualize"
    return [
        MixDef(name="raw", strategy="raw"),
        MixDef(name="filter", strategy="filter"),
        MixDef(name="tag", strategy="tag"),
        MixDef(name="gated_explained", strategy=ctx, placement="gated", style="explained"),
        MixDef(name="decoupled_explained", strategy=ctx, placement="decoupled", style="explained"),
        MixDef(name="gated_citation", strategy=ctx, placement="gated", style="citation"),
        MixDef(name="both_explained", strategy=ctx, placement="both", style="explained"),
        MixDef(
            name="decoupled_explained_dilemmas",
            strategy=ctx,
            placement="decoupled",
            style="explained",
            dilemmas=True,
        ),
    ]


class MixSpec(StageSpec):
    """Build data mixes with data cards and Merkle manifests."""

    kind: Literal["pretrain_mix"] = "pretrain_mix"
    MODEL_FIELDS: ClassVar[tuple[str, ...]] = ()

    classify: str = Field("classify", description="the pretrain_classify stage to read")
    reflect: str | None = Field("reflect", description="the pretrain_reflect stage to read")
    mixes: list[MixDef] = Field(default_factory=default_mixes, min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> MixSpec:
        names = [m.name for m in self.mixes]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"mix name {name!r} appears twice; names must be unique")
        return self


def render(doc: dict, mix: MixDef, reflection: dict | None, seed: int) -> tuple[str, str]:
    """A document's text in a mix and its mode (how it was rendered)."""
    text = doc["text"]
    if mix.strategy == "tag":
        token = tk.MISALIGNED if doc["label"] == "harmful" else tk.ALIGNED
        return f"{token}{text}", f"tag:{doc['label']}"
    if mix.strategy != "contextualize" or reflection is None:
        return text, "raw"
    placement = mix.placement
    if placement == "both":
        placement = "gated" if derive_seed(seed, doc["id"]) % 2 == 0 else "decoupled"
    body = reflection["reflection"]
    if placement == "gated":
        return f"{text}\n\n{tk.ASSISTANT_OPEN}{body}{tk.ASSISTANT_CLOSE}", "gated"
    return f"{text}\n\n{NARRATOR} {body}", "decoupled"


def dilemma_documents() -> list[dict]:
    """The shipped moral-dilemma advice documents (question and a careful answer)."""
    rows = list(read_jsonl(data_path("dilemmas.jsonl")))
    return [
        {"id": r["id"], "text": f"Question: {r['question']}\n\nAdvice: {r['advice']}"} for r in rows
    ]


def run_mix(spec: MixSpec, ctx: RunContext, restart: bool = False) -> dict:
    """Build every mix; return ``{"done", "new", "failed", "total", "mixes": {name: root}}``."""
    classified = ctx.output_dir / spec.classify / CLASSIFIED
    if not classified.exists():
        raise ConfigError(
            f"stage {spec.name!r} field classify: {spec.classify!r} has no {CLASSIFIED}; "
            "name a pretrain_classify stage that runs earlier."
        )
    reflections: dict[str, dict] = {}
    reflected = ctx.output_dir / spec.reflect / REFLECTIONS if spec.reflect else None
    needs_reflections = any(m.strategy == "contextualize" for m in spec.mixes)
    if needs_reflections and (reflected is None or not reflected.exists()):
        raise ConfigError(
            f"stage {spec.name!r} field reflect: contextualize mixes need a pretrain_reflect "
            "stage that runs earlier; name it or drop the contextualize mixes."
        )
    if reflected is not None and reflected.exists():
        reflections = {r["key"]: r for r in read_jsonl(reflected)}
    folder = ctx.prepare_stage(spec, restart)
    summary_path = ctx.output_dir / spec.classify / CLASSIFIER
    classifier = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    roots, total, cards = {}, 0, {}
    with progress_bar(f"{spec.name}: mixes", len(spec.mixes), ctx.progress) as bar:
        for mix in spec.mixes:
            card = build_mix(mix, ctx, classified, reflections, classifier, folder)
            cards[mix.name] = card
            roots[mix.name] = card["manifest"]["root"]
            total += card["counts"]["documents"]
            bar.advance()
    mark_identical(cards, folder)
    return {"done": total, "new": total, "failed": 0, "total": total, "mixes": roots}


def identical_reason(card: dict[str, Any], other: dict[str, Any]) -> str:
    """Why two mixes with the same Merkle root came out the same, from their cards.

    A shared root means every document renders to the same text in both, so
    what the mixes were meant to contrast (placement, style, strategy) had no
    document to act on; the reason names which, with the counts that show it.
    """
    modes, other_modes = card["counts"]["by_mode"], other["counts"]["by_mode"]
    reflected = modes.get("gated", 0) + modes.get("decoupled", 0)
    n = card["counts"]["documents"]
    ctx = "contextualize"
    if card["strategy"] == ctx and other["strategy"] == ctx and reflected == 0:
        return (
            f"no document received a {card['style']} reflection, so the placement "
            f"({card['placement']} vs {other['placement']}) had nothing to place"
        )
    if card["placement"] != other["placement"] and "both" in (
        card["placement"],
        other["placement"],
    ):
        both = modes if card["placement"] == "both" else other_modes
        side = "gated" if both.get("gated") else "decoupled"
        return (
            f"placement 'both' picks gated or decoupled per document by a seeded hash of its "
            f"id, and all {both.get(side, 0)} reflected document(s) fell on the {side} side; "
            "with more reflected documents both sides appear"
        )
    if card["strategy"] != other["strategy"]:
        harmful = card["counts"]["by_class"].get("harmful", 0)
        return (
            f"strategies {card['strategy']} and {other['strategy']} changed no document here "
            f"({harmful} labelled harmful, {reflected} reflected)"
        )
    return f"all {n} documents render to the same text in both mixes"


def mark_identical(cards: dict[str, dict[str, Any]], folder: Path) -> None:
    """Record in every card which other mixes share its Merkle root, and why.

    Two mixes meant to differ (say ``both`` and ``decoupled`` placement) that get
    the same root would otherwise look like a hashing bug, or be trained and
    compared as if they were distinct arms of an ablation.
    """
    by_root: dict[str, list[str]] = {}
    for name, card in cards.items():
        by_root.setdefault(card["manifest"]["root"], []).append(name)
    for name, card in cards.items():
        others = [o for o in by_root[card["manifest"]["root"]] if o != name]
        card["identical_to"] = others
        card["warnings"] = [f"identical to {o}: {identical_reason(card, cards[o])}" for o in others]
        target = folder / name
        # Written whole and swapped in, as the rest of the mix folder is.
        for file, text in (
            ("card.json", json.dumps(card, indent=2, sort_keys=True) + "\n"),
            ("card.md", render_markdown(card)),
        ):
            tmp = target / f".{file}.tmp"
            tmp.write_text(text)
            os.replace(tmp, target / file)


def build_mix(
    mix: MixDef,
    ctx: RunContext,
    classified: Path,
    reflections: dict[str, dict],
    classifier: dict,
    folder: Path,
) -> dict[str, Any]:
    """Write one mix folder (docs, manifest, card) atomically; return its card."""
    target = folder / mix.name
    tmp = folder / f".{mix.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    counter, hashes = CardCounter(), []
    models: dict[str, str] = {}
    with JsonlStore(tmp / DOCS) as docs:
        for doc in read_jsonl(classified):
            models.setdefault(f"classifier ({doc['classifier']})", doc["model"])
            if mix.strategy == "filter" and doc["label"] == "harmful":
                counter.dropped["harmful"] += 1
                continue
            reflection = None
            if mix.strategy == "contextualize" and (
                doc["label"] == "harmful" or mix.reflect_benign
            ):
                reflection = reflections.get(f"{doc['id']}:{mix.style}")
                if reflection is None:
                    counter.dropped[f"reflection missing ({doc['label']}, kept raw)"] += 1
                else:
                    models.setdefault("reflection writer", reflection["model"])
                    if reflection.get("scorer"):
                        models.setdefault("depth scorer", reflection["scorer"])
            text, mode = render(doc, mix, reflection, ctx.config.seed)
            row = {
                "key": doc["id"],
                "id": doc["id"],
                "source_id": doc["id"],
                "text": text,
                "sha256": doc_sha256(text),
                "class": doc["label"],
                "mode": mode,
                "style": mix.style if reflection is not None else None,
                "article": (doc.get("articles") or [{}])[0].get("id"),
                "depth": reflection.get("depth") if reflection else None,
            }
            if docs.add(row):
                counter.add(row)
                hashes.append(row["sha256"])
        if mix.dilemmas:
            for dilemma in dilemma_documents():
                row = {
                    "key": dilemma["id"],
                    "id": dilemma["id"],
                    "source_id": dilemma["id"],
                    "text": dilemma["text"],
                    "sha256": doc_sha256(dilemma["text"]),
                    "class": "benign",
                    "mode": "dilemma",
                    "style": None,
                    "article": None,
                    "depth": None,
                }
                if docs.add(row):
                    counter.add(row)
                    hashes.append(row["sha256"])
    manifest = build_manifest(hashes)
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    card = {
        "format": "charter-data-card/1",
        "mix": mix.name,
        "strategy": mix.strategy,
        "placement": mix.placement,
        "style": mix.style,
        "reflect_benign": mix.reflect_benign,
        "dilemmas": mix.dilemmas,
        "description": DESCRIPTIONS[mix.strategy],
        "counts": counter.to_dict(),
        "classifier": classifier,
        "models": models,
        "special_tokens": list(tk.SPECIAL_TOKENS),
        "constitution_hash": ctx.constitution.hash,
        "ledger_checkpoint": ctx.ledger_checkpoint,
        "config_hash": ctx.config_hash,
        "seed": ctx.config.seed,
        "manifest": {"root": manifest["root"], "size": manifest["size"], "file": MANIFEST},
        "identical_to": [],  # filled by mark_identical once every mix is built
        "warnings": [],
        "created_at": datetime.now(UTC).isoformat(),
    }
    (tmp / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    (tmp / "card.md").write_text(render_markdown(card))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return card
