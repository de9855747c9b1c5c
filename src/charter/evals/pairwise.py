"""Pairwise comparisons -> harmlessness and helpfulness Elo -> the frontier (Bai et al. 2022).

The CAI paper compares models by crowdworker preferences between pairs of
responses and reports Elo scores on harmlessness and helpfulness, plotting one
against the other (Bai et al. 2022, section 1.2 and figure 2). Here the
feedback model is the judge: for each prompt, each pair of models' responses
is put to it as a two-choice question on one criterion, in both orders, and
P(first better) is read from the letters' log-probs
(:func:`charter.feedback.preference_judges.compare`).
The soft outcomes are fitted with Bradley-Terry and put on the Elo scale,
anchored so the first (base) model is 0, with intervals from resampling
prompts (:mod:`charter.feedback.elo`).

These are plain functions over (models' responses, a judge), so an Inspect
task, the ``eval`` stage and a notebook all call the same code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

from charter.evals.results import EvalResult, Example, FrontierPoint, ModelScore
from charter.feedback.elo import Comparison, EloFit, elo_with_intervals
from charter.feedback.pairwise import PairVerdict
from charter.feedback.preference_judges import compare

CRITERION_RESULT = {"harmlessness": "harmlessness_elo", "helpfulness": "helpfulness_elo"}


def model_pairs(models: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair of models, in the order given: (m0, m1), (m0, m2), (m1, m2), ..."""
    return list(combinations(models, 2))


def judge_pair(
    judge: Any,
    prompt: str,
    first: str,
    second: str,
    criterion: str,
) -> PairVerdict:
    """The judge's verdict on one pair (both orders). Identical responses tie at 0.5 for free."""
    if first.strip() == second.strip():
        return PairVerdict(0.5, 0.5, {"identical": True})
    return compare(judge, prompt, first, second, criterion)


def elo_result(
    criterion: str,
    models: Sequence[str],
    comparisons: Sequence[Comparison],
    bootstrap: int = 200,
    seed: int = 0,
    model_ids: Mapping[str, str | None] | None = None,
    examples: Sequence[Example] = (),
    provenance: Mapping[str, Any] | None = None,
) -> tuple[EvalResult, EloFit]:
    """The Elo result of one criterion over ``models`` (the first is the anchor)."""
    fit = elo_with_intervals(models, comparisons, bootstrap=bootstrap, seed=seed)
    wins = _win_rates(models, comparisons)
    per_model = {
        m: ModelScore(
            model=m,
            model_id=(model_ids or {}).get(m),
            value=fit.elo[m],
            ci_low=fit.ci[m][0],
            ci_high=fit.ci[m][1],
            n=sum(1 for c in comparisons if m in (c.first, c.second)),
        )
        for m in models
    }
    result = EvalResult(
        name=CRITERION_RESULT.get(criterion, f"{criterion}_elo"),
        suite="pairwise",
        metric="elo",
        description=(
            f"{criterion.capitalize()} Elo from the judge's pairwise preferences "
            f"(Bradley-Terry, both orders), anchored at {models[0]} = 0; "
            "95% bootstrap intervals over prompts."
        ),
        n=fit.n_prompts,
        per_model=per_model,
        baseline=models[0],
        examples=list(examples),
        details={
            "criterion": criterion,
            "comparisons": fit.n_comparisons,
            "bootstrap": fit.bootstrap,
            "mean_win_rate": wins,
            "mean_position_bias": None,
        },
        provenance=dict(provenance or {}),
    )
    return result, fit


def _win_rates(models: Sequence[str], comparisons: Sequence[Comparison]) -> dict[str, float]:
    """Each model's mean P(win) over the comparisons it took part in."""
    totals = {m: [0.0, 0] for m in models}
    for c in comparisons:
        totals[c.first][0] += c.p_first
        totals[c.first][1] += 1
        totals[c.second][0] += 1.0 - c.p_first
        totals[c.second][1] += 1
    return {m: (won / n if n else 0.5) for m, (won, n) in totals.items()}


def frontier(harmless: EvalResult, helpful: EvalResult) -> list[FrontierPoint]:
    """Per model: (helpfulness Elo, harmlessness Elo) with their intervals."""
    points = []
    for model, help_score in helpful.per_model.items():
        harm_score = harmless.per_model.get(model)
        if harm_score is None:
            continue
        points.append(
            FrontierPoint(
                model=model,
                helpfulness_elo=help_score.value,
                harmlessness_elo=harm_score.value,
                helpfulness_ci=_ci(help_score),
                harmlessness_ci=_ci(harm_score),
            )
        )
    return points


def _ci(score: ModelScore) -> tuple[float, float] | None:
    if score.ci_low is None or score.ci_high is None:
        return None
    return (score.ci_low, score.ci_high)
