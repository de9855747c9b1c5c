"""Results of an ``eval`` stage from its stored answers and judgements.

Recomputed on every run (cheap): each suite sums up its own rows
(:meth:`charter.evals.suites.Suite.results`: Elo fits with bootstrap intervals,
class rates with Wilson intervals, consistency, examples for the report);
this module gathers them with the models' ids, the judges' calibration cards,
the provenance and the harmlessness-vs-helpfulness frontier into one
:class:`~charter.evals.results.EvalReport`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from charter.evals import pairwise as pw
from charter.evals.results import EvalReport, EvalResult, FrontierPoint
from charter.evals.suites import Answers, Judged, Plan, Suite

if TYPE_CHECKING:
    from charter.evals.stage import EvalSpec
    from charter.runs.context import RunContext


def build_report(
    spec: EvalSpec,
    ctx: RunContext,
    suites: Sequence[Suite],
    plans: Mapping[str, Plan],
    answers: Answers,
    rows: Mapping[str, dict[str, Any]],
) -> EvalReport:
    """Every suite's results from the stored answers and judgements.

    The run's calibration cards (``ctx.cards``, judge name -> card) are carried
    in the report; suites read them to correct rates for the judges' measured error.
    """
    model_ids = {
        m: next(
            (r["provenance"]["model_id"] for r in answers.rows.values() if r["model"] == m), None
        )
        for m in spec.models
    }
    judge_id = next((r["judge"] for r in rows.values()), None)
    provenance = {
        **ctx.provenance(judge_id or spec.judge, ctx.config.seed),
        "stage": spec.name,
        "models": model_ids,
    }
    judged = Judged(
        models=spec.models,
        answers=answers,
        rows=rows,
        bootstrap=spec.bootstrap,
        seed=ctx.config.seed,
        examples=spec.examples,
        cards=dict(ctx.cards),
        model_ids=model_ids,
        provenance=provenance,
    )
    results = [result for suite in suites for result in suite.results(plans[suite.name], judged)]
    return EvalReport(
        cards=dict(ctx.cards),
        stage=spec.name,
        models=model_ids,
        judge=judge_id,
        suites=list(spec.suites),
        results=results,
        frontier=frontier(results),
        provenance=provenance,
    )


def frontier(results: Sequence[EvalResult]) -> list[FrontierPoint]:
    """The harmlessness-vs-helpfulness frontier, when both Elo results are among ``results``."""
    elo = {r.name: r for r in results}
    harmless = elo.get(pw.CRITERION_RESULT["harmlessness"])
    helpful = elo.get(pw.CRITERION_RESULT["helpfulness"])
    return pw.frontier(harmless, helpful) if harmless and helpful else []
