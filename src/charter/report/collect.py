"""Read a run folder into what the report shows: whatever stages the run has.

The layout read here is written by :mod:`charter.runs.runner`
(``manifest.json``), :mod:`charter.cai.sl` (``steps.jsonl``),
:mod:`charter.cai.labels` (``preferences.jsonl``), :mod:`charter.ledger.stage`
(``summary.json``), :mod:`charter.evals.results` (``results.json`` and
``<result>.json``) and :mod:`charter.evals.agentic` (``agentic_*.json``).
A stage is recognised by the files in its folder, not by its name, so a
renamed stage still shows; a file that is missing simply leaves its section out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from charter.errors import DatasetError
from charter.evals.results import EvalReport, EvalResult
from charter.feedback.card import CalibrationCard
from charter.runs.store import read_jsonl

MAX_ROWS = 40  # rows per browsable section: a report, not a data dump


@dataclass
class RunData:
    """Everything found in a run folder, grouped by what the report shows."""

    run_dir: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    stages: list[dict[str, Any]] = field(default_factory=list)  # name, kind, files, counts
    eval_reports: list[EvalReport] = field(default_factory=list)
    results: list[EvalResult] = field(default_factory=list)
    revisions: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    reflections: list[dict[str, Any]] = field(default_factory=list)
    ledger: dict[str, Any] | None = None
    cards: list[CalibrationCard] = field(default_factory=list)  # the judges' calibration cards
    quality: list[dict[str, Any]] = field(default_factory=list)  # SL-CAI quality.json, per stage
    label_stats: list[dict[str, Any]] = field(default_factory=list)  # RL-CAI label_stats.json
    provenance: list[dict[str, Any]] = field(default_factory=list)  # distinct row provenance
    warnings: list[str] = field(default_factory=list)


def _rows(path: Path, limit: int = MAX_ROWS) -> list[dict[str, Any]]:
    out = []
    for row in read_jsonl(path):
        out.append(row)
        if len(out) >= limit:
            break
    return out


def _count(path: Path) -> int:
    return sum(1 for _ in read_jsonl(path))


def _kinds(manifest: dict[str, Any]) -> dict[str, str]:
    stages = (manifest.get("config") or {}).get("stages") or []
    return {s.get("name"): s.get("kind") for s in stages if isinstance(s, dict)}


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
            data.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except ValueError:
            raise DatasetError(f"{manifest_path}: not valid JSON; rerun the config.") from None
    else:
        data.warnings.append("no manifest.json: run-level provenance is unknown.")
    kinds = _kinds(data.manifest)
    seen_provenance: dict[str, dict[str, Any]] = {}
    for folder in sorted(p for p in run.iterdir() if p.is_dir()):
        stage = _stage(folder, kinds.get(folder.name), data, seen_provenance)
        if stage["files"]:
            data.stages.append(stage)
    data.provenance = list(seen_provenance.values())
    for path in sorted((run / "cards").glob("*.json")):
        try:
            data.cards.append(CalibrationCard.load(path))
        except DatasetError as exc:
            data.warnings.append(str(exc))
    return data


def _note_provenance(rows: list[dict[str, Any]], seen: dict[str, dict[str, Any]]) -> None:
    for row in rows:
        prov = row.get("provenance")
        if isinstance(prov, dict):
            key = json.dumps({k: v for k, v in prov.items() if k != "seed"}, sort_keys=True)
            entry = seen.setdefault(
                key, {**{k: v for k, v in prov.items() if k != "seed"}, "seeds": set(), "rows": 0}
            )
            entry["rows"] += 1
            if "seed" in prov:
                entry["seeds"].add(prov["seed"])


def _stage(
    folder: Path, kind: str | None, data: RunData, seen: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    stage: dict[str, Any] = {"name": folder.name, "kind": kind, "files": [], "counts": {}}
    for path in sorted(folder.glob("*.jsonl")):
        stage["files"].append(path.name)
        stage["counts"][path.name] = _count(path)
        _note_provenance(_rows(path, limit=200), seen)
    steps, prefs = folder / "steps.jsonl", folder / "preferences.jsonl"
    if steps.is_file():
        data.revisions += [{**r, "stage": folder.name} for r in _rows(steps)]
    if prefs.is_file():
        data.labels += [{**r, "stage": folder.name} for r in _rows(prefs)]
    for name, into in (("quality.json", data.quality), ("label_stats.json", data.label_stats)):
        if (folder / name).is_file():
            stage["files"].append(name)
            into.append({"stage": folder.name, **json.loads((folder / name).read_text())})
    for name in ("reflections.jsonl", "annotated.jsonl"):
        if (folder / name).is_file():
            data.reflections += [
                {**r, "stage": folder.name}
                for r in _rows(folder / name)
                if r.get("reflection") or r.get("reflections")
            ]
    summary = folder / "summary.json"
    if summary.is_file() and (folder / "checkpoint.txt").is_file():
        stage["files"].append("summary.json")
        data.ledger = {"stage": folder.name, **json.loads(summary.read_text(encoding="utf-8"))}
        data.ledger["checkpoint"] = (folder / "checkpoint.txt").read_text(encoding="utf-8")
    _read_results(folder, stage, data)
    return stage


def _read_results(folder: Path, stage: dict[str, Any], data: RunData) -> None:
    names_in_reports: set[str] = set()
    results_file = folder / "results.json"
    if results_file.is_file():
        stage["files"].append("results.json")
        try:
            report = EvalReport.model_validate_json(results_file.read_text(encoding="utf-8"))
        except ValidationError as exc:
            data.warnings.append(f"{results_file}: unreadable ({str(exc).splitlines()[0]}).")
        else:
            data.eval_reports.append(report)
            data.results += report.results
            names_in_reports = {r.name for r in report.results}
    for path in sorted(folder.glob("*.json")):
        if path.name in ("results.json", "stage.json", "summary.json") or path.stem in (
            names_in_reports
        ):
            continue
        try:
            result = EvalResult.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError):
            continue  # not a result file (e.g. agentic_summary.json)
        stage["files"].append(path.name)
        data.results.append(result)
