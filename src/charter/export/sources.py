"""Find the datasets a run folder holds, and what each one's card must name.

A run folder (the ``output_dir`` of ``charter run``) holds one folder per
stage. A stage's datasets are recognised by their files, as the report does
(:mod:`charter.report.collect`), so a renamed stage still exports:

==================  =========================================  ====================
kind                file (in ``<run>/<stage>/``)               written by
==================  =========================================  ====================
``sft``             ``sft.jsonl``                              :mod:`charter.cai.sl`
``preferences``     ``preferences.jsonl``                      :mod:`charter.cai.labels`
``eval_judgements`` ``judgements.jsonl``                       :mod:`charter.evals.stage`
``agentic``         ``agentic.jsonl``                          :mod:`charter.evals.agentic`
``pretrain_mix``    ``<mix>/docs.jsonl`` (+ ``manifest.json``) :mod:`charter.pretrain.mix`
==================  =========================================  ====================

Run-level facts come from ``manifest.json`` (config and constitution hashes,
models, the validated config) and ``config.yaml`` (the config as given); the
judges' calibration cards from ``<run>/cards/<judge>.<method>.json``
(:mod:`charter.runs.judges`). A stage's own cards are those its spec's
``judges()`` names; a mix's are those of the stages it read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from charter.cai.labels import PREFERENCES
from charter.cai.sl import SFT
from charter.errors import CharterError, DatasetError
from charter.evals.agentic import ROWS as AGENTIC
from charter.evals.results import JUDGEMENTS_FILE
from charter.feedback.card import CalibrationCard
from charter.pretrain.manifest import DOCS, MANIFEST
from charter.runs.config import StageSpec
from charter.runs.judges import CARDS_DIR
from charter.runs.stages import stage_kind
from charter.runs.store import read_jsonl

AGENTIC_JUDGE = "agentic"  # the judge name charter.evals.stage gives the agentic suite

# kind -> (file in the stage folder, one line of what a row is, Hub tags)
KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "sft": (
        SFT,
        "Supervised fine-tuning conversations from SL-CAI: the final revision of the policy's "
        "answer to a red-team prompt after critique and revision against constitution "
        "articles (Bai et al. 2022, section 3), mixed with plain helpful answers. TRL's "
        "SFTTrainer reads `messages` as is.",
        ("sft", "constitutional-ai"),
    ),
    "preferences": (
        PREFERENCES,
        "AI-feedback preference pairs from RL-CAI: two policy samples per prompt, labelled by "
        "a feedback model's choice log-probabilities in both orders over sampled articles "
        "(Bai et al. 2022, section 4). TRL's DPOTrainer reads `prompt`, `chosen`, `rejected`.",
        ("dpo", "preference", "rlaif", "constitutional-ai"),
    ),
    "eval_judgements": (
        JUDGEMENTS_FILE,
        "Every judge call of an evaluation stage: pairwise preferences (both orders), reply "
        "classifications (harmful, refused, evasive) and guidance checks, with the judge's "
        "probabilities.",
        ("evaluation", "llm-as-a-judge"),
    ),
    "agentic": (
        AGENTIC,
        "Agentic-misalignment scenarios: each model's transcript under pressure, whether it "
        "took the harmful action, and the judge's reading.",
        ("evaluation", "agentic-misalignment"),
    ),
    "pretrain_mix": (
        DOCS,
        "An alignment-pretraining data mix: corpus documents rendered by the mix's strategy "
        "(raw, filter, tag, or contextualize with reflections that cite and explain the "
        "constitution).",
        ("pretraining", "alignment-pretraining"),
    ),
}


@dataclass
class Source:
    """One dataset found in a run folder: where its rows are and what its card names."""

    name: str  # the exported folder's name: the stage, or <stage>-<mix> / <stage>-agentic
    kind: str  # a key of KINDS
    stage: str
    path: Path  # the JSONL rows
    stage_kind: str | None = None  # the stage's kind in the config, if the manifest says
    cards: list[tuple[Path, CalibrationCard]] = field(default_factory=list)
    cards_scope: str = "stage"  # "stage": the stage's own judges; "run": every card of the run
    models: list[dict[str, Any]] = field(default_factory=list)  # {role, model, model_id}
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. a mix's own manifest root


@dataclass
class RunInfo:
    """Run-level facts every card repeats."""

    run_dir: Path
    manifest: dict[str, Any]
    config_text: str | None  # config.yaml as given
    cards: dict[str, tuple[Path, CalibrationCard]]  # "<judge>.<method>" -> card

    @property
    def name(self) -> str:
        return str(self.manifest.get("name") or self.run_dir.name)

    def stages(self) -> list[dict[str, Any]]:
        """The config's stage specs, as the manifest records them (validated, in order)."""
        config = self.manifest.get("config")
        stages = config.get("stages") if isinstance(config, dict) else None
        return [s for s in stages or [] if isinstance(s, dict)]

    def stage_spec(self, stage: str) -> dict[str, Any] | None:
        return next((s for s in self.stages() if s.get("name") == stage), None)


def read_run(run_dir: str | Path) -> RunInfo:
    """Read the run-level facts of a run folder.

    Raises:
        DatasetError: the folder is missing, or it has no readable manifest.json.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise DatasetError(f"{run}: no such run folder; give the output_dir of `charter run`.")
    path = run / "manifest.json"
    if not path.is_file():
        raise DatasetError(
            f"{path}: missing, so {run} is not a finished-stage run folder; run its config with "
            "`charter run CONFIG` first (the manifest is written after each stage)."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise DatasetError(f"{path}: not valid JSON; rerun the config to rewrite it.") from None
    config = run / "config.yaml"
    cards = {}
    for card_path in sorted((run / CARDS_DIR).glob("*.json")):
        cards[card_path.stem] = (card_path, CalibrationCard.load(card_path))
    config_text = config.read_text(encoding="utf-8") if config.is_file() else None
    return RunInfo(run, manifest if isinstance(manifest, dict) else {}, config_text, cards)


def find_sources(info: RunInfo) -> list[Source]:
    """Every dataset of the run with at least one row, in the config's stage order."""
    order = [s.get("name") for s in info.stages()]

    def position(folder: Path) -> tuple[int, str]:
        rank = order.index(folder.name) if folder.name in order else len(order)
        return rank, folder.name

    found: list[Source] = []
    for folder in sorted((p for p in info.run_dir.iterdir() if _is_stage_dir(p)), key=position):
        spec = info.stage_spec(folder.name) or {}
        for kind in ("sft", "preferences", "eval_judgements", "agentic"):
            path = folder / KINDS[kind][0]
            if path.is_file():
                name = f"{folder.name}-agentic" if kind == "agentic" else folder.name
                found.append(Source(name, kind, folder.name, path, spec.get("kind")))
        for mix in sorted(p for p in folder.iterdir() if _is_stage_dir(p)):
            if (mix / DOCS).is_file() and (mix / MANIFEST).is_file():
                source = Source(
                    f"{folder.name}-{mix.name}", "pretrain_mix", folder.name, mix / DOCS
                )
                source.stage_kind = spec.get("kind")
                source.extra = _mix_extra(mix)
                found.append(source)
    found = [s for s in found if _has_rows(s.path)]
    names = [s.name for s in found]
    for name in names:
        if names.count(name) > 1:
            raise DatasetError(
                f"{info.run_dir}: two datasets would both be exported as {name!r}; rename one "
                "of the stages (or mixes) in the config."
            )
    for source in found:
        _attach_cards(info, source)
        _attach_models(info, source)
    return found


def _is_stage_dir(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith(".") and path.name != CARDS_DIR


def _has_rows(path: Path) -> bool:
    return next(iter(read_jsonl(path)), None) is not None


def _mix_extra(mix: Path) -> dict[str, Any]:
    """A mix's own facts: its document-set Merkle root and data card (charter.pretrain)."""
    extra: dict[str, Any] = {"mix": mix.name}
    try:
        manifest = json.loads((mix / MANIFEST).read_text(encoding="utf-8"))
        extra["documents_root"] = manifest.get("root")
        extra["documents_size"] = manifest.get("size")
    except (OSError, ValueError):
        pass
    card = mix / "card.json"
    if card.is_file():
        try:
            data = json.loads(card.read_text(encoding="utf-8"))
        except ValueError:
            data = {}
        for key in ("strategy", "placement", "style", "description", "models", "counts"):
            if data.get(key) is not None:
                extra[key] = data[key]
    return extra


def _validated(info: RunInfo, stage: str) -> StageSpec | None:
    """The stage's spec, validated by its kind's class; None if it cannot be read."""
    spec = info.stage_spec(stage)
    if spec is None:
        return None
    try:
        return stage_kind(spec["kind"]).spec.model_validate(spec)
    except (KeyError, ValidationError, CharterError, ImportError):
        return None


def _attach_cards(info: RunInfo, source: Source) -> None:
    stages = [source.stage]
    if source.kind == "pretrain_mix":
        spec = info.stage_spec(source.stage) or {}
        stages += [s for s in (spec.get("classify"), spec.get("reflect")) if isinstance(s, str)]
    judges: set[str] = set()
    for stage in stages:
        spec = _validated(info, stage)
        if spec is None:
            # Which judges the stage used is unknown: list every card the run carries.
            source.cards, source.cards_scope = list(info.cards.values()), "run"
            return
        judges |= {f"{judge}.{method}" for judge, method, _key in spec.judges()}
    # An eval stage's agentic rows are read by the agentic judge only, its judgements by the rest.
    if source.kind == "agentic":
        judges = {j for j in judges if j.startswith(f"{AGENTIC_JUDGE}.")}
    elif source.kind == "eval_judgements":
        judges = {j for j in judges if not j.startswith(f"{AGENTIC_JUDGE}.")}
    source.cards = [info.cards[j] for j in sorted(judges) if j in info.cards]


def _attach_models(info: RunInfo, source: Source) -> None:
    """The stage's models (from the config and manifest), then any other id the rows name."""
    models: list[dict[str, Any]] = []
    known = info.manifest.get("models") or {}
    spec = _validated(info, source.stage)
    for key in spec.model_keys() if spec is not None else []:
        entry = known.get(key) or {}
        models.append(
            {
                "role": key,
                "model": (entry.get("spec") or {}).get("model"),
                "model_id": entry.get("model_id"),
            }
        )
    for role, model_id in (source.extra.get("models") or {}).items():
        models.append({"role": role, "model": None, "model_id": model_id})
    seen = {m["model_id"] for m in models}
    for model_id in sorted(_row_model_ids(source.path) - seen):
        models.append({"role": "named in row provenance", "model": None, "model_id": model_id})
    source.models = models


def _row_model_ids(path: Path) -> set[str]:
    ids = set()
    for row in read_jsonl(path):
        prov = row.get("provenance")
        if isinstance(prov, dict) and isinstance(prov.get("model_id"), str):
            ids.add(prov["model_id"])
    return ids
