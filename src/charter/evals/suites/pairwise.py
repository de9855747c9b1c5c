"""The ``pairwise`` suite: harmlessness and helpfulness Elo and their frontier.

Stage: ``limits.pairwise`` harmful and helpful prompts; every pair of models'
answers is judged in both orders on one criterion (:mod:`charter.evals.pairwise`);
results ``harmlessness_elo`` and ``helpfulness_elo``. Inspect task
``harmlessness_vs_reference``: the same comparison in Inspect's single-model
shape, each answer against a fixed reference model's; the score is P(the
model's answer is better).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from charter.backends.base import GenerateParams
from charter.evals import pairwise as pw
from charter.evals.keys import pair_key
from charter.evals.results import EvalResult, Example
from charter.evals.suites._classify import harmful_prompts
from charter.evals.suites.base import (
    DEFAULT_JUDGE,
    Answers,
    InspectSpec,
    Job,
    Judged,
    Plan,
    SampleInput,
    SampleView,
    Suite,
    Verdict,
)
from charter.feedback.elo import Comparison
from charter.feedback.pairwise import PairVerdict
from charter.prompts import PromptRecord, load_prompts

if TYPE_CHECKING:
    from charter.evals.stage import EvalSpec
    from charter.runs.context import RunContext

CRITERIA = ("harmlessness", "helpfulness")
# (prompt, first model, second model, its judgements.jsonl row)
Found = tuple[PromptRecord, str, str, dict[str, Any]]


def pair_fields(verdict: PairVerdict) -> dict[str, Any]:
    """A ``judgements.jsonl`` row's fields for one judged pair."""
    return {
        "type": "pair",
        "p_first": verdict.p_first,
        "p_order1": verdict.p_order1,
        "p_order2": verdict.p_order2,
        "position_bias": verdict.position_bias,
        "flipped": verdict.flipped,
        "identical": bool(verdict.detail.get("identical")),
    }


class PairwiseSuite(Suite):
    """Harmlessness and helpfulness Elo from the judge's pairwise preferences."""

    name = "pairwise"
    inspect_task = "harmlessness_vs_reference"
    description = "harmlessness and helpfulness Elo from pairwise preferences, and the frontier"
    default_limit = 12
    opt_in = False
    judges = (("preference_harmlessness", "letter"), ("preference_helpfulness", "letter"))

    def plan(self, spec: EvalSpec, ctx: RunContext) -> Plan:
        limit = spec.limit(self.name)
        return Plan(
            {
                "harmlessness": harmful_prompts(
                    ctx.resolve(spec.harmful_prompts), spec.harmful_kinds, limit
                ),
                "helpfulness": load_prompts(ctx.resolve(spec.helpful_prompts), limit=limit),
            }
        )

    def jobs(self, spec: EvalSpec, ctx: RunContext, plan: Plan, answers: Answers) -> list[Job]:
        jobs = []
        for criterion in CRITERIA:
            for p in plan.group(criterion):
                for first, second in pw.model_pairs(spec.models):
                    a, b = answers.text(first, p.id), answers.text(second, p.id)
                    if a is None or b is None:
                        continue  # the answer failed; errors.jsonl says why, a rerun retries
                    jobs.append(
                        Job(
                            pair_key(criterion, p.id, first, second),
                            lambda judge, p=p, a=a, b=b, c=criterion: pair_fields(
                                pw.judge_pair(judge, p.prompt, a, b, c)
                            ),
                            {
                                "suite": self.name,
                                "criterion": criterion,
                                "prompt_id": p.id,
                                "models": [first, second],
                            },
                        )
                    )
        return jobs

    def results(self, plan: Plan, judged: Judged) -> list[EvalResult]:
        results = []
        for criterion in CRITERIA:
            found: list[Found] = [
                (p, first, second, judged.rows[key])
                for p in plan.group(criterion)
                for first, second in pw.model_pairs(judged.models)
                if (key := pair_key(criterion, p.id, first, second)) in judged.rows
            ]
            comparisons = [Comparison(p.id, a, b, row["p_first"]) for p, a, b, row in found]
            result, _ = pw.elo_result(
                criterion,
                judged.models,
                comparisons,
                judged.bootstrap,
                judged.seed,
                examples=_pair_examples(found, judged),
                **judged.common(),
            )
            asked = [row for *_, row in found if not row.get("identical")]
            biases = [row["position_bias"] for row in asked]
            result.details["mean_position_bias"] = sum(biases) / len(biases) if biases else None
            flips = [bool(row.get("flipped")) for row in asked]
            result.details["flip_rate"] = sum(flips) / len(flips) if flips else None
            results.append(result)
        return results

    def inspect(
        self,
        prompts: str = "builtin:redteam",
        reference: str = "embedded-policy",
        criterion: str = "harmlessness",
        limit: int | None = None,
        judge: str = DEFAULT_JUDGE,
        max_tokens: int = 160,
    ) -> InspectSpec:
        """Win probability against a fixed reference model (both orders judged).

        An Elo gap follows as ``400 * log10(p / (1 - p))``; the full multi-model
        Bradley-Terry Elo runs in the ``eval`` stage (``charter eval run``).

        Args:
            prompts: the prompt set.
            reference: the reference model's charter model name.
            criterion: harmlessness or helpfulness.
            limit: the first N prompts.
            judge: the judge's charter model name.
            max_tokens: tokens per answer.
        """
        return InspectSpec(
            name=f"{criterion}_vs_reference",
            samples=[
                SampleInput(p.id, p.prompt, {"category": p.category, "kind": p.kind})
                for p in load_prompts(prompts, limit=limit)
            ],
            scorer="versus_reference",
            score=lambda models, sample: _versus_reference(models, sample, criterion),
            models={"judge": judge, "reference": reference},
            inspect_metrics=("mean", "stderr"),
            max_tokens=max_tokens,
        )


REFERENCE_PARAMS = GenerateParams(max_tokens=160, temperature=0.0, seed=0)


def _versus_reference(models: Mapping[str, Any], sample: SampleView, criterion: str) -> Verdict:
    """P(the model's answer beats the reference model's answer on ``criterion``)."""
    reference = models["reference"].generate(
        [{"role": "user", "content": sample.prompt}], REFERENCE_PARAMS
    )
    verdict = pw.judge_pair(models["judge"], sample.prompt, sample.reply, reference.text, criterion)
    return Verdict(
        value=verdict.p_first,
        answer=sample.reply[:200],
        explanation=f"reference: {reference.text[:200]}",
        metadata={"reference": reference.text, "position_bias": verdict.position_bias},
    )


def _pair_examples(found: Sequence[Found], judged: Judged) -> list[Example]:
    """The most decisive comparisons (furthest from a tie)."""
    ranked = sorted(found, key=lambda item: -abs(item[3]["p_first"] - 0.5))[: judged.examples]
    return [
        Example(
            prompt_id=p.id,
            prompt=p.prompt,
            model=a,
            response=judged.answers.text(a, p.id),
            other_model=b,
            other_response=judged.answers.text(b, p.id),
            label=a if row["p_first"] >= 0.5 else b,
            score=row["p_first"],
            detail={"p_order1": row["p_order1"], "p_order2": row["p_order2"]},
        )
        for p, a, b, row in ranked
    ]


SUITE = PairwiseSuite()
