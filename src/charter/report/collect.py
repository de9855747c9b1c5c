"""Read a run folder into what the report shows: whatever stages the run has.

The run's ``manifest.json`` (written by :mod:`charter.runs.runner`) names each
stage and its kind; a folder it does not name is recognised by its files
(:func:`charter.report.stages.recognise`). Each kind is read by its own reader
in :mod:`charter.report.stages` into typed models, so a collective stage's
``results.json`` is read as a collective analysis, never as an eval report.
A file that is missing simply leaves its section out; a file of the right kind
that does not parse is named in a warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from charter.errors import DatasetError
from charter.evals.results import EvalReport, EvalResult
from charter.feedback.card import CalibrationCard
from charter.report import stages as read
from charter.report.models import (
    Ablation,
    CollectiveStage,
    LabelStats,
    LedgerSummary,
    Mix,
    PreferenceLabel,
    ProvenanceGroup,
    QualitySummary,
    Reflection,
    Revision,
    RunManifest,
    StageInfo,
    TrainCurve,
)
from charter.runs.store import read_jsonl

MAX_ROWS = read.MAX_ROWS
SKIP_JSON = ("results.json", "stage.json", "summary.json", "quality.json", "label_stats.json")


@dataclass
class RunData:
    """Everything found in a run folder, grouped by what the report shows."""

    run_dir: Path
    manifest: RunManifest = field(default_factory=RunManifest)
    stages: list[StageInfo] = field(default_factory=list)
    eval_reports: list[EvalReport] = field(default_factory=list)
    results: list[EvalResult] = field(default_factory=list)
    cards: list[CalibrationCard] = field(default_factory=list)  # the judges' calibration cards
    training: list[TrainCurve] = field(default_factory=list)
    revisions: list[Revision] = field(default_factory=list)
    quality: list[QualitySummary] = field(default_factory=list)  # SL-CAI quality.json
    labels: list[PreferenceLabel] = field(default_factory=list)
    label_stats: list[LabelStats] = field(default_factory=list)  # RL-CAI label_stats.json
    reflections: list[Reflection] = field(default_factory=list)
    mixes: list[Mix] = field(default_factory=list)
    ablations: list[Ablation] = field(default_factory=list)
    collective: list[CollectiveStage] = field(default_factory=list)
    ledger: LedgerSummary | None = None
    provenance: list[ProvenanceGroup] = field(default_factory=list)  # distinct row provenance
    warnings: list[str] = field(default_factory=list)


def collect_run(run_dir: str | Path) -> RunData:
    """Read what a run folder holds.

    Raises:
        DatasetError: the folder does not exist, or manifest.json is not JSON.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise DatasetError(f"{run}: no such run folder; give the output_dir of `charter run`.")
    data = RunData(run_dir=run)
    manifest_path = run / "manifest.json"
    if manifest_path.is_file():
        try:
            data.manifest = RunManifest.model_validate_json(
                manifest_path.read_text(encoding="utf-8")
            )
        except ValidationError as exc:
            if "json_invalid" in str(exc):
                raise DatasetError(f"{manifest_path}: not valid JSON; rerun the config.") from None
            data.warnings.append(f"{manifest_path}: unreadable ({str(exc).splitlines()[0]}).")
    else:
        data.warnings.append("no manifest.json: run-level provenance is unknown.")
    kinds = {s.name: s.kind for s in data.manifest.config.stages}
    seen: dict[str, ProvenanceGroup] = {}
    for folder in sorted(p for p in run.iterdir() if p.is_dir() and p.name != "cards"):
        stage = StageInfo(name=folder.name, kind=kinds.get(folder.name) or read.recognise(folder))
        try:
            _read_stage(folder, stage, data)
        except (ValidationError, ValueError, KeyError) as exc:
            data.warnings.append(
                f"{folder}: a {stage.kind} stage, unreadable ({_first_line(exc)})."
            )
        _count_rows(folder, stage, seen)
        if stage.files:
            data.stages.append(stage)
    data.provenance = list(seen.values())
    for path in sorted((run / "cards").glob("*.json")):
        try:
            data.cards.append(CalibrationCard.load(path))
        except DatasetError as exc:
            data.warnings.append(str(exc))
    return data


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _read_stage(folder: Path, stage: StageInfo, data: RunData) -> None:
    """Read one stage folder by its kind."""
    kind = stage.kind or ""
    if kind.startswith("train") and (folder / "train_log.jsonl").is_file():
        data.training.append(read.train_curve(folder, stage.kind))
    if (folder / "steps.jsonl").is_file():
        chains, quality = read.revisions(folder)
        data.revisions += chains
        if quality:
            data.quality.append(quality)
            stage.files.append("quality.json")
    if (folder / "preferences.jsonl").is_file():
        found, stats = read.labels(folder)
        data.labels += found
        if stats:
            data.label_stats.append(stats)
            stage.files.append("label_stats.json")
    data.reflections += read.reflections(folder)
    if kind == "pretrain_mix" or read.recognise(folder) == "pretrain_mix":
        found_mixes = read.mixes(folder)
        data.mixes += found_mixes
        stage.files += [f"{m.card.mix}/card.json" for m in found_mixes]
    if kind == "ablation" or read.recognise(folder) == "ablation":
        data.ablations.append(read.ablation(folder))
        stage.files.append("table.csv")
    if (folder / "summary.json").is_file() and (folder / "checkpoint.txt").is_file():
        data.ledger = read.ledger(folder)
        stage.files.append("summary.json")
    if kind == "collective":
        if (folder / "results.json").is_file():
            data.collective.append(read.collective(folder))
            stage.files.append("results.json")
    elif kind not in ("pretrain_mix", "ablation"):
        _read_results(folder, stage, data)


def _count_rows(folder: Path, stage: StageInfo, seen: dict[str, ProvenanceGroup]) -> None:
    """Rows per JSONL file, and the provenance recorded on the first rows of each."""
    for path in sorted(folder.glob("*.jsonl")):
        stage.files.append(path.name)
        stage.counts[path.name] = sum(1 for _ in read_jsonl(path))
        for row in read.rows(path, limit=200):
            prov = row.get("provenance")
            if not isinstance(prov, dict):
                continue
            facts = {k: v for k, v in prov.items() if k != "seed"}
            group = seen.setdefault(
                json.dumps(facts, sort_keys=True, default=str),
                ProvenanceGroup.model_validate(facts),
            )
            group.rows += 1
            if isinstance(prov.get("seed"), int) and prov["seed"] not in group.seeds:
                group.seeds.append(prov["seed"])


def _read_results(folder: Path, stage: StageInfo, data: RunData) -> None:
    """An eval stage's ``results.json`` (an :class:`EvalReport`) and loose ``<result>.json``."""
    names_in_reports: set[str] = set()
    results_file = folder / "results.json"
    if results_file.is_file():
        stage.files.append("results.json")
        try:
            report = EvalReport.model_validate_json(results_file.read_text(encoding="utf-8"))
        except ValidationError as exc:
            data.warnings.append(f"{results_file}: unreadable ({_first_line(exc)}).")
        else:
            data.eval_reports.append(report)
            data.results += report.results
            names_in_reports = {r.name for r in report.results}
    for path in sorted(folder.glob("*.json")):
        if path.name in SKIP_JSON or path.stem in names_in_reports:
            continue
        try:
            result = EvalResult.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError):
            continue  # not a result file (e.g. agentic_summary.json, train.json)
        stage.files.append(path.name)
        data.results.append(result)
    if stage.kind is None and (stage.files and data.results):
        stage.kind = "eval"  # recognised by its result files (e.g. the agentic suite's)
