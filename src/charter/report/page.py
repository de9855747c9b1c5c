"""Render a run's :class:`~charter.report.collect.RunData` as one self-contained HTML page.

Sections appear only for what the run holds (each with an id; see
``docs/report.md``): overview and provenance always; the Elo frontier, rates,
eval results (raw and judge-corrected), the judges' calibration cards,
training curves, SL-CAI critiques and revisions, RL-CAI labels, reflections,
the pretraining mixes and the ablation, the collective analysis (rendered by
:func:`charter.collective.report.collective_section`), the wish ledger and
browsable examples. Everything renders through :mod:`charter._util.html`:
one template engine, one stylesheet, text HTML-escaped, only the SVG plots
made here inserted raw.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from charter._util.html import render, render_page
from charter.collective.report import collective_section
from charter.evals.results import EvalResult
from charter.feedback.card import CalibrationCard
from charter.report.collect import RunData, collect_run
from charter.report.compare import TINY_N, compare_to_baseline, judge_warnings, rate_reading
from charter.report.models import (
    Ablation,
    AblationRow,
    CollectiveView,
    ReductionFactor,
    ResultView,
    TrainView,
    Verdict,
)
from charter.report.template import FILTER_SCRIPT, SECTIONS

REPORT_FILE = "report.html"
SECTION_LABELS = (
    ("overview", "Overview"),
    ("provenance", "Provenance"),
    ("frontier", "Frontier"),
    ("rates", "Rates"),
    ("tables", "Results"),
    ("judges", "Judges"),
    ("training", "Training"),
    ("revisions", "Revisions"),
    ("labels", "Labels"),
    ("reflections", "Reflections"),
    ("mixes", "Mixes"),
    ("ablation", "Ablation"),
    ("collective", "Collective"),
    ("ledger", "Ledger"),
    ("examples", "Examples"),
)


def _seeds(seeds: list[int]) -> str:
    ordered = sorted(seeds)
    if len(ordered) <= 4:
        return ", ".join(map(str, ordered))
    return f"{len(ordered)} seeds, {ordered[0]} … {ordered[-1]}"


def reductions(result: EvalResult) -> list[ReductionFactor]:
    """The agentic reduction factors of a result, each read against 1 (no reduction)."""
    found = result.details.get("reduction")
    if not isinstance(found, dict):
        return []
    out = []
    for model, figures in found.items():
        f = ReductionFactor.model_validate({"model": model, **figures})
        n = f.n or (result.per_model[model].n if model in result.per_model else 0)
        if f.ci_low is None or f.ci_high is None or f.ci_low <= 1 <= f.ci_high:
            words = f"inconclusive at n={n}: the interval includes 1 (no reduction)"
            out.append(f.model_copy(update={"n": n, "words": words}))
        else:
            words = f"{'a reduction' if f.ci_low > 1 else 'an increase'} (n={n})"
            out.append(f.model_copy(update={"n": n, "conclusive": True, "words": words}))
    return out


def result_view(result: EvalResult, cards: Sequence[CalibrationCard] = ()) -> ResultView:
    """A result with its comparisons to the baseline, its tiny-n cautions and judge warnings."""
    verdicts = compare_to_baseline(result)
    base = verdicts[0].baseline if verdicts else result.baseline
    cautions = {}
    if result.metric == "rate":
        cautions = {k: c for k, s in result.per_model.items() if (c := rate_reading(s))}
    return ResultView(
        result=result,
        baseline=base,
        verdicts={v.subject: v for v in verdicts},
        cautions=cautions,
        reduction=reductions(result),
        judge_warnings=judge_warnings(result, cards),
    )


def _training(data: RunData) -> list[TrainView]:
    from charter.report.plots import training_svg

    views = []
    for curve in data.training:
        margins = [p.margin for p in curve.points if p.margin is not None]
        rewards = [p.reward for p in curve.points if p.reward is not None]
        views.append(
            TrainView(
                curve=curve,
                svg=training_svg(curve) if curve.points else "",
                last_margin=margins[-1] if margins else None,
                last_reward=rewards[-1] if rewards else None,
            )
        )
    return views


def _ablation_verdict(ablation: Ablation, row: AblationRow) -> Verdict | None:
    subject = f"{row.mix} ({row.framing})"
    return next((v for v in ablation.verdicts if v.subject == subject), None)


def _collective(data: RunData) -> list[CollectiveView]:
    return [
        CollectiveView(
            stage=c.stage,
            wishes=c.results.ledger.size,
            checkpoint_id=c.results.ledger.checkpoint_id,
            html=collective_section(c.results, c.citations, prefix="collective-"),
        )
        for c in data.collective
    ]


def _run_facts(data: RunData) -> list[tuple[str, str]]:
    m = data.manifest
    checkpoints = sorted({p.ledger_checkpoint for p in data.provenance if p.ledger_checkpoint})
    ledger_checkpoint = "; ".join(checkpoints) or (data.ledger.checkpoint if data.ledger else "")
    return [
        ("run", m.name or data.run_dir.name),
        ("constitution", m.constitution_name or ""),
        ("constitution hash", m.constitution_hash or "unknown"),
        ("config hash", m.config_hash or "unknown"),
        ("run seed", "unknown" if m.seed is None else str(m.seed)),
        ("ledger checkpoint", ledger_checkpoint),
        ("charter version", m.charter_version or ""),
        ("started / updated", f"{m.started_at or ''} / {m.updated_at or ''}"),
    ]


def render_report(data: RunData) -> str:
    """The HTML page of a run, as a string."""
    from charter.report.plots import frontier_points, frontier_svg, rates_svg

    results = data.results
    frontier = [p for report in data.eval_reports for p in report.frontier]
    frontier = frontier or frontier_points(results)
    rate_results = [r for r in results if r.metric == "rate" and r.per_model]
    views = [result_view(r, data.cards) for r in results]
    examples = [(r, e) for r in results for e in r.examples]
    context = {
        "warnings": data.warnings,
        "stages": data.stages,
        "run_facts": _run_facts(data),
        "models": list(data.manifest.models.items()),
        "row_provenance": data.provenance,
        "seeds": _seeds,
        "frontier_svg": frontier_svg(frontier) if frontier else "",
        "elo_verdicts": [
            (v.result.name, list(v.verdicts.values())) for v in views if v.result.metric == "elo"
        ],
        "rates_svg": rates_svg(rate_results) if rate_results else "",
        "results": views,
        "cards": data.cards,
        "tiny_n": TINY_N,
        "training": _training(data),
        "revisions": data.revisions,
        "quality": data.quality,
        "labels": data.labels,
        "label_stats": data.label_stats,
        "reflections": data.reflections,
        "mixes": data.mixes,
        "ablations": data.ablations,
        "ablation_verdict": _ablation_verdict,
        "collective": _collective(data),
        "ledger": data.ledger,
        "examples": examples,
    }
    shown = {
        "overview": True,
        "provenance": True,
        "frontier": bool(frontier),
        "rates": bool(rate_results),
        "tables": bool(results),
        "judges": bool(data.cards),
        "training": bool(data.training),
        "revisions": bool(data.revisions or data.quality),
        "labels": bool(data.labels or data.label_stats),
        "reflections": bool(data.reflections),
        "mixes": bool(data.mixes),
        "ablation": bool(data.ablations),
        "collective": bool(data.collective),
        "ledger": data.ledger is not None,
        "examples": bool(examples),
    }
    title = data.manifest.name or data.run_dir.name
    return render_page(
        f"Charter report: {title}",
        render(SECTIONS, **context),
        subtitle=f"{data.run_dir} · written {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        toc=[(i, label) for i, label in SECTION_LABELS if shown[i]],
        script=FILTER_SCRIPT,
    )


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
