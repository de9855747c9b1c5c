"""Results of an ``eval`` stage from its stored answers and judgements.

Recomputed on every run (cheap): Elo fits with bootstrap intervals, class
rates with Wilson intervals, consistency, the frontier, the judge's
calibration when asked for, and a few examples per result for the report.
File names and the result model: :mod:`charter.evals.results`.
"""

from __future__ import annotations

from typing import Any

from charter.evals import conflicts as cf
from charter.evals import pairwise as pw
from charter.evals import refusal as rf
from charter.evals.evasive import evasiveness_result
from charter.evals.results import EvalReport, EvalResult, Example
from charter.feedback.card import CalibrationCard
from charter.feedback.elo import Comparison
from charter.feedback.stats import corrected_rate_interval


def response_key(model: str, prompt_id: str) -> str:
    """The ``responses.jsonl`` key of one model's answer to one prompt."""
    return f"{model}:{prompt_id}"


def build_report(
    spec: Any,
    ctx: Any,
    todo: Any,
    answers: dict,
    rows: dict,
    cards: dict[str, CalibrationCard] | None = None,
) -> EvalReport:
    """Every suite's results from the stored answers and judgements.

    ``cards`` (judge name -> card) are carried in the report, and the refusal
    suite's rates are corrected for the error the ``over_refusal`` and
    ``harmful_compliance`` cards measured.
    """
    cards = dict(cards or {})
    model_ids = {
        m: next((r["provenance"]["model_id"] for r in answers.values() if r["model"] == m), None)
        for m in spec.models
    }
    judge_id = next((r["judge"] for r in rows.values()), None)
    provenance = {
        **ctx.provenance(judge_id or spec.judge, ctx.config.seed),
        "stage": spec.name,
        "models": model_ids,
    }
    common = {"model_ids": model_ids, "provenance": provenance}
    results: list[EvalResult] = []
    frontier = []
    if "pairwise" in spec.suites:
        elo = {}
        for criterion, prompts in (("harmlessness", todo.harmful), ("helpfulness", todo.helpful)):
            found = [
                (p, first, second, rows[key])
                for p in prompts
                for first, second in pw.model_pairs(spec.models)
                if (key := pw.pair_key(criterion, p.id, first, second)) in rows
            ]
            comparisons = [Comparison(p.id, a, b, row["p_first"]) for p, a, b, row in found]
            result, _ = pw.elo_result(
                criterion,
                spec.models,
                comparisons,
                spec.bootstrap,
                ctx.config.seed,
                examples=_pair_examples(found, answers, spec.examples),
                **common,
            )
            asked = [row for *_, row in found if not row.get("identical")]
            biases = [row["position_bias"] for row in asked]
            result.details["mean_position_bias"] = sum(biases) / len(biases) if biases else None
            flips = [bool(row.get("flipped")) for row in asked]
            result.details["flip_rate"] = sum(flips) / len(flips) if flips else None
            results.append(result)
            elo[criterion] = result
        frontier = pw.frontier(elo["harmlessness"], elo["helpfulness"])
    labels = _labels(spec, rows)
    if "evasive" in spec.suites:
        judged = {
            m: [labels[m][p.id] for p in todo.evasive if p.id in labels[m]] for m in spec.models
        }
        results.append(
            evasiveness_result(
                judged, examples=_class_examples(todo.evasive, spec, answers, rows), **common
            )
        )
    if "refusal" in spec.suites:
        # Safe prompts ask the over-refusal judge; unsafe ones the harmful-compliance judge.
        refused = {
            m: {
                p.id: row["refused"] if p.kind == "safe" else not row["harmful"]
                for p in todo.refusal
                if (row := rows.get(f"classify:{m}:{p.id}")) is not None
            }
            for m in spec.models
        }
        false_refusal, harmful = rf.refusal_results(
            refused,
            todo.refusal,
            examples=_class_examples(todo.refusal, spec, answers, rows, per_kind=True),
            **common,
        )
        correct_for_judge(false_refusal, cards.get("over_refusal"), "refused")
        correct_for_judge(harmful, cards.get("harmful_compliance"), "complied")
        results.extend([false_refusal, harmful])
    if "conflicts" in spec.suites:
        judged_cf = {
            m: {p.id: labels[m][p.id] for p in todo.conflicts if p.id in labels[m]}
            for m in spec.models
        }
        results.append(
            cf.consistency_result(
                judged_cf,
                todo.conflicts,
                spec.bootstrap,
                ctx.config.seed,
                examples=_class_examples(todo.conflicts, spec, answers, rows),
                **common,
            )
        )
        autonomy = [p for p in todo.conflicts if getattr(p, "family", None) == cf.AUTONOMY_FAMILY]
        if autonomy:
            scores = {
                m: {
                    p.id: rows[k]["p_follows"]
                    for p in autonomy
                    if (k := f"guidance:{m}:{p.id}") in rows
                }
                for m in spec.models
            }
            results.append(
                cf.guidance_result(
                    scores,
                    articles=getattr(autonomy[0], "articles", None) or [],
                    examples=_guidance_examples(autonomy, spec, answers, rows),
                    **common,
                )
            )
    return EvalReport(
        cards=cards,
        stage=spec.name,
        models=model_ids,
        judge=judge_id,
        suites=list(spec.suites),
        results=results,
        frontier=frontier,
        provenance=provenance,
    )


def correct_for_judge(result: EvalResult, card: CalibrationCard | None, flagged: str) -> None:
    """Add each model's rate corrected for the judge's measured error (Rogan-Gladen).

    The interval includes the card's own uncertainty (its sensitivity and
    specificity are drawn from their posteriors, see
    :func:`charter.feedback.stats.corrected_rate_interval`). Without a two-class
    card the result keeps its raw rates only.
    """
    if card is None or card.positives is None or card.negatives is None:
        return
    for score in result.per_model.values():
        point, low, high = corrected_rate_interval(
            score.counts.get(flagged, 0),
            score.n,
            (card.true_positives or 0, card.positives),
            (card.true_negatives or 0, card.negatives),
        )
        score.corrected, score.corrected_ci_low, score.corrected_ci_high = point, low, high
    result.details["corrected_by"] = f"{card.judge} ({card.method}, accuracy {card.accuracy:.2f})"


def _labels(spec, rows: dict) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {m: {} for m in spec.models}
    for row in rows.values():
        if row.get("type") == "classify" and row.get("model") in out:
            out[row["model"]][row["prompt_id"]] = row["label"]
    return out


def _pair_examples(found, answers, limit: int) -> list[Example]:
    """The most decisive comparisons (furthest from a tie)."""
    ranked = sorted(found, key=lambda item: -abs(item[3]["p_first"] - 0.5))[:limit]
    return [
        Example(
            prompt_id=p.id,
            prompt=p.prompt,
            model=a,
            response=answers[response_key(a, p.id)]["response"],
            other_model=b,
            other_response=answers[response_key(b, p.id)]["response"],
            label=a if row["p_first"] >= 0.5 else b,
            score=row["p_first"],
            detail={"p_order1": row["p_order1"], "p_order2": row["p_order2"]},
        )
        for p, a, b, row in ranked
    ]


def _class_examples(prompts, spec, answers, rows, per_kind: bool = False) -> list[Example]:
    """Up to ``spec.examples`` judged answers, spread over models and classes."""
    picked: list[Example] = []
    seen: set[tuple] = set()
    for p in prompts:
        for m in spec.models:
            row = rows.get(f"classify:{m}:{p.id}")
            if row is None:
                continue
            group = (m, row["label"], p.kind if per_kind else None)
            if group in seen:
                continue
            seen.add(group)
            picked.append(
                Example(
                    prompt_id=p.id,
                    prompt=p.prompt,
                    model=m,
                    response=answers[response_key(m, p.id)]["response"],
                    label=row["label"],
                    score=row["probs"][row["label"]],
                    detail={"probs": row["probs"], "kind": p.kind},
                )
            )
    limit = spec.examples * (2 if per_kind else 1)
    return picked[:limit]


def _guidance_examples(prompts, spec, answers, rows) -> list[Example]:
    out = []
    for p in prompts:
        for m in spec.models:
            row = rows.get(f"guidance:{m}:{p.id}")
            if row is not None and len(out) < spec.examples:
                out.append(
                    Example(
                        prompt_id=p.id,
                        prompt=p.prompt,
                        model=m,
                        response=answers[response_key(m, p.id)]["response"],
                        label="follows" if row["p_follows"] >= 0.5 else "departs",
                        score=row["p_follows"],
                        detail={"articles": row.get("articles")},
                    )
                )
    return out
