"""Readers of each stage kind's files, into the report's typed models.

A stage's kind comes from ``manifest.json`` (the config's ``stages`` with
their ``kind``); a folder the manifest does not name is recognised by its
distinguishing files. Each reader here knows one producer's layout:

- ``train_*`` (:mod:`charter.train.trainer`): ``train_log.jsonl``, ``train.json``;
- ``sl_cai`` (:mod:`charter.cai.sl`): ``steps.jsonl``, ``quality.json``;
- ``rl_cai_labels`` (:mod:`charter.cai.labels`): ``preferences.jsonl``, ``label_stats.json``;
- ``pretrain_mix`` (:mod:`charter.pretrain.mix`): ``<mix>/card.json`` and ``<mix>/manifest.json``;
- the ablation (:mod:`charter.pretrain.ablate`): ``table.csv`` beside ``results.jsonl``;
- ``collective`` (:mod:`charter.collective.analysis`): ``results.json``, ``draft_citations.json``;
- ``eval`` (:mod:`charter.evals.results`): ``results.json`` and ``<result>.json``;
- ``ledger`` (:mod:`charter.ledger.stage`): ``summary.json``, ``checkpoint.txt``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from charter.cai.labels import consistency_words
from charter.collective.results import CITATIONS, CollectiveResults, DraftCitations
from charter.report.compare import ablation_verdicts
from charter.report.models import (
    Ablation,
    AblationRow,
    CollectiveStage,
    LabelStats,
    LedgerSummary,
    Mix,
    MixCard,
    MixManifest,
    PreferenceLabel,
    QualitySummary,
    Reflection,
    Revision,
    TrainCurve,
    TrainPoint,
)
from charter.runs.store import read_jsonl

MAX_ROWS = 40  # rows per browsable section: a report, not a data dump
TRAIN_KINDS = ("train_sft", "train_reward", "train_dpo", "train_grpo")
ABLATION_BASELINES = ("filter", "raw")  # what each mix is compared with, first found
# TRL's logged names -> TrainPoint fields (first present wins)
TRAIN_FIELDS = {
    "margin": ("rewards/margins", "margin"),
    "accuracy": ("rewards/accuracies", "accuracy"),
    "reward": ("reward", "rewards/mean"),
}


def rows(path: Path, limit: int = MAX_ROWS) -> list[dict[str, object]]:
    """The first ``limit`` rows of a JSONL file."""
    out = []
    for row in read_jsonl(path):
        out.append(row)
        if len(out) >= limit:
            break
    return out


def recognise(folder: Path) -> str | None:
    """A stage kind from the files in a folder the manifest does not name (None: unknown)."""
    if (folder / "train_log.jsonl").is_file():
        return "train"
    if (folder / "steps.jsonl").is_file():
        return "sl_cai"
    if (folder / "preferences.jsonl").is_file():
        return "rl_cai_labels"
    if any(folder.glob("*/card.json")):
        return "pretrain_mix"
    if (folder / "table.csv").is_file() and (folder / "results.jsonl").is_file():
        return "ablation"
    if (folder / "summary.json").is_file() and (folder / "checkpoint.txt").is_file():
        return "ledger"
    results = folder / "results.json"
    if results.is_file():
        try:
            keys = json.loads(results.read_text(encoding="utf-8")).keys()
        except (ValueError, AttributeError):
            return "eval"  # let the eval reader say what is wrong with it
        return "collective" if {"ledger", "fidelity"} <= set(keys) else "eval"
    return None


def train_curve(folder: Path, kind: str | None) -> TrainCurve:
    """The loss, reward-margin and reward curves of a train stage."""
    points = []
    for row in read_jsonl(folder / "train_log.jsonl"):
        if "step" not in row:
            continue
        found = {
            name: next((row[k] for k in keys if isinstance(row.get(k), int | float)), None)
            for name, keys in TRAIN_FIELDS.items()
        }
        points.append(
            TrainPoint(
                step=row["step"],
                loss=row.get("loss"),
                learning_rate=row.get("learning_rate"),
                **found,
            )
        )
    finished = folder / "train.json"
    final = (
        json.loads(finished.read_text(encoding="utf-8")).get("final_loss")
        if finished.is_file()
        else None
    )
    losses = [p.loss for p in points if p.loss is not None]
    return TrainCurve(
        stage=folder.name,
        kind=kind,
        points=points,
        finished=finished.is_file(),
        final_loss=final if final is not None else (losses[-1] if losses else None),
    )


def revisions(folder: Path) -> tuple[list[Revision], QualitySummary | None]:
    """SL-CAI chains (the first :data:`MAX_ROWS`) and the quality gate's summary."""
    chains = [
        Revision.model_validate(
            {**r, "stage": folder.name, "id": str(r.get("id", r.get("key", "")))}
        )
        for r in rows(folder / "steps.jsonl")
    ]
    path = folder / "quality.json"
    quality = (
        QualitySummary.model_validate(
            {**json.loads(path.read_text(encoding="utf-8")), "stage": folder.name}
        )
        if path.is_file()
        else None
    )
    return chains, quality


def labels(folder: Path) -> tuple[list[PreferenceLabel], LabelStats | None]:
    """RL-CAI preference labels (the first :data:`MAX_ROWS`) and their statistics."""
    found = [
        PreferenceLabel.model_validate({**r, "stage": folder.name})
        for r in rows(folder / "preferences.jsonl")
    ]
    path = folder / "label_stats.json"
    if not path.is_file():
        return found, None
    stats = LabelStats.model_validate(
        {**json.loads(path.read_text(encoding="utf-8")), "stage": folder.name}
    )
    if stats.order_agreement is not None:
        stats.consistency_words = consistency_words(
            stats.order_agreement.model_dump(), bool(stats.labels_beat_chance)
        )
    return found, stats


def reflections(folder: Path) -> list[Reflection]:
    """Pretraining documents with their reflections."""
    out = []
    for name in ("reflections.jsonl", "annotated.jsonl"):
        if not (folder / name).is_file():
            continue
        for r in rows(folder / name):
            text = r.get("reflection") or r.get("reflections")
            if text:
                out.append(
                    Reflection(
                        stage=folder.name,
                        id=str(r.get("id", r.get("key", ""))),
                        document=str(r.get("text") or r.get("document") or ""),
                        reflection=str(text),
                    )
                )
    return out


def mixes(folder: Path) -> list[Mix]:
    """Every mix of a ``pretrain_mix`` stage: its data card and its manifest."""
    out = []
    for card_path in sorted(folder.glob("*/card.json")):
        manifest_path = card_path.parent / "manifest.json"
        out.append(
            Mix(
                stage=folder.name,
                card=MixCard.model_validate_json(card_path.read_text(encoding="utf-8")),
                manifest=MixManifest.model_validate_json(manifest_path.read_text(encoding="utf-8"))
                if manifest_path.is_file()
                else None,
            )
        )
    return out


def ablation(folder: Path) -> Ablation:
    """The ablation table with each mix compared with the filter (or raw) baseline."""
    with (folder / "table.csv").open(encoding="utf-8", newline="") as handle:
        table = [AblationRow.model_validate(r) for r in csv.DictReader(handle)]
    names = {r.mix for r in table}
    baseline = next((b for b in ABLATION_BASELINES if b in names), None)
    return Ablation(
        stage=folder.name,
        rows=table,
        baseline=baseline,
        verdicts=ablation_verdicts(table, baseline) if baseline else [],
    )


def collective(folder: Path) -> CollectiveStage:
    """A collective stage's analysis and, when drafted, its citations."""
    results = CollectiveResults.load(folder / "results.json")
    name = (results.draft.citations if results.draft else None) or CITATIONS
    cite_path = folder / name
    return CollectiveStage(
        stage=folder.name,
        results=results,
        citations=DraftCitations.load(cite_path) if cite_path.is_file() else None,
    )


def ledger(folder: Path) -> LedgerSummary:
    """A ledger stage's summary facts and its signed checkpoint."""
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return LedgerSummary(
        stage=folder.name,
        facts=[(k, str(v)) for k, v in summary.items() if not isinstance(v, dict | list)],
        checkpoint=(folder / "checkpoint.txt").read_text(encoding="utf-8"),
    )


__all__ = [
    "MAX_ROWS",
    "TRAIN_KINDS",
    "ablation",
    "collective",
    "labels",
    "ledger",
    "mixes",
    "recognise",
    "reflections",
    "revisions",
    "train_curve",
]
