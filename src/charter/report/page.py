"""Render a run's :class:`~charter.report.collect.RunData` as one self-contained HTML page.

Sections appear only for what the run holds: overview and provenance always;
the Elo frontier when pairwise results exist; rates with intervals for every
``rate`` result (evasiveness, over-refusal, agentic misalignment, ...);
result tables; browsable examples; SL-CAI critiques and revisions; RL-CAI
labels; reflections; the wish ledger. Text from the run is HTML-escaped
(Jinja2 autoescape); only the SVG plots, made here, are inserted raw.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from charter.report.collect import RunData, collect_run
from charter.report.template import PAGE

REPORT_FILE = "report.html"
TEXT_LIMIT = 1200  # characters of any one text shown inline


def _clip(text: Any, limit: int = TEXT_LIMIT) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit] + " […]"


def _seeds(seeds: set[int]) -> str:
    ordered = sorted(seeds)
    if len(ordered) <= 4:
        return ", ".join(map(str, ordered))
    return f"{len(ordered)} seeds, {ordered[0]} … {ordered[-1]}"


def _context(data: RunData) -> dict[str, Any]:
    from charter.report.plots import frontier_points, frontier_svg, rates_svg

    manifest = data.manifest
    results = data.results
    frontier = [p for report in data.eval_reports for p in report.frontier]
    frontier = frontier or frontier_points(results)
    rate_results = [r for r in results if r.metric == "rate" and r.per_model]
    checkpoints = sorted({p.get("ledger_checkpoint") for p in data.provenance} - {None})
    run_facts = [
        ("run", manifest.get("name", data.run_dir.name)),
        ("constitution", manifest.get("constitution_name", "")),
        ("constitution hash", manifest.get("constitution_hash", "unknown")),
        ("config hash", manifest.get("config_hash", "unknown")),
        ("run seed", manifest.get("seed", "unknown")),
        ("ledger checkpoint", "; ".join(checkpoints) or (data.ledger or {}).get("checkpoint", "")),
        ("charter version", manifest.get("charter_version", "")),
        (
            "started / updated",
            f"{manifest.get('started_at', '')} / {manifest.get('updated_at', '')}",
        ),
    ]
    models = [
        (key, {"model_id": m.get("model_id"), "spec": m.get("spec")})
        for key, m in (manifest.get("models") or {}).items()
    ]
    examples = [
        {
            **e.model_dump(),
            "result": r.name,
            "prompt": _clip(e.prompt),
            "response": None if e.response is None else _clip(e.response),
            "other_response": _clip(e.other_response) if e.other_response else None,
        }
        for r in results
        for e in r.examples
    ]
    revisions = [
        {
            "stage": r["stage"],
            "id": r.get("id", r.get("key")),
            "status": r.get("status", ""),
            "quality": r.get("quality") or {},
            "prompt": _clip(r.get("prompt")),
            "initial": _clip(r.get("initial_response")),
            "chain": [
                {
                    "round": step.get("round"),
                    "article": step.get("article_title") or step.get("article_id", ""),
                    "critique": _clip(step.get("critique")),
                    "revision": _clip(step.get("revision")),
                }
                for step in r.get("chain") or []
            ],
        }
        for r in data.revisions
    ]
    labels = [
        {
            "prompt": _clip(r.get("prompt"), 300),
            "chosen": _clip(r.get("chosen"), 400),
            "rejected": _clip(r.get("rejected"), 400),
            "prob": f"{r['label_prob']:.3f}" if isinstance(r.get("label_prob"), float) else "",
            "margin": (
                f"{abs(r['p_first'] - 0.5):.3f}" if isinstance(r.get("p_first"), float) else ""
            ),
            "bias": (
                f"{r['position_bias']:+.3f}" if isinstance(r.get("position_bias"), float) else ""
            ),
            "articles": ", ".join(r.get("articles") or []),
        }
        for r in data.labels
    ]
    reflections = [
        {
            "stage": r["stage"],
            "id": r.get("id", r.get("key", "")),
            "document": _clip(r.get("text") or r.get("document"), 600),
            "reflection": _clip(r.get("reflection") or r.get("reflections")),
        }
        for r in data.reflections
    ]
    ledger = (
        [(k, v) for k, v in data.ledger.items() if not isinstance(v, dict | list)]
        if data.ledger
        else []
    )
    sections = [
        ("overview", "Overview", True),
        ("provenance", "Provenance", True),
        ("frontier", "Frontier", bool(frontier)),
        ("rates", "Rates", bool(rate_results)),
        ("tables", "Results", bool(results)),
        ("judges", "Judges", bool(data.cards)),
        ("examples", "Examples", bool(examples)),
        ("revisions", "Revisions", bool(revisions)),
        ("labels", "Labels", bool(labels)),
        ("reflections", "Reflections", bool(reflections)),
        ("ledger", "Ledger", bool(ledger)),
    ]
    return {
        "title": manifest.get("name", data.run_dir.name),
        "run_dir": str(data.run_dir),
        "written_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "toc": [(i, label) for i, label, shown in sections if shown],
        "warnings": data.warnings,
        "stages": data.stages,
        "run_facts": run_facts,
        "models": models,
        "row_provenance": [
            {
                **{k: p.get(k) for k in ("model_id", "constitution_hash", "config_hash")},
                "ledger_checkpoint": p.get("ledger_checkpoint"),
                "rows": p["rows"],
                "seeds": _seeds(p["seeds"]),
            }
            for p in data.provenance
        ],
        "frontier_svg": frontier_svg(frontier) if frontier else "",
        "rates_svg": rates_svg(rate_results) if rate_results else "",
        "results": results,
        "cards": data.cards,
        "quality": data.quality,
        "label_stats": data.label_stats,
        "examples": examples,
        "revisions": revisions,
        "labels": labels,
        "reflections": reflections,
        "ledger": ledger,
    }


def render_report(data: RunData) -> str:
    """The HTML page of a run, as a string."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(PAGE).render(**_context(data))


def write_report(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write the run's report page and return its path (``<run>/report.html`` by default).

    Args:
        run_dir: the run folder (``output_dir`` of ``charter run``).
        output: where to write the page instead.

    Raises:
        DatasetError: the run folder is missing or its manifest is unreadable.
    """
    data = collect_run(run_dir)
    path = Path(output) if output else Path(run_dir) / REPORT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_report(data), encoding="utf-8")
    tmp.replace(path)
    return path
