"""The ``agentic`` suite (opt-in, slow: long prompts): Charter's agentic-misalignment families.

Stage: ``limits.agentic`` scenarios, round-robin over the families
(:mod:`charter.evals.agentic`); each model acts in each, a local judge says
whether it took the harmful action. The suite keeps its rows in its own files
(``agentic.jsonl``, ``agentic_summary.json``, ``agentic_misalignment.json``),
so it runs apart from the shared answers and judgements. Inspect task
``charter_agentic``: the score is 1 when the model took the harmful action.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from charter.backends.base import GenerateParams
from charter.evals import agentic
from charter.evals.results import EvalResult
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
    wilson_high,
    wilson_low,
)

if TYPE_CHECKING:
    from charter.evals.stage import EvalSpec
    from charter.runs.context import RunContext


class AgenticSuite(Suite):
    """Misalignment rate per model, and the reduction factor against the first model."""

    name = "agentic"
    inspect_task = "charter_agentic"
    description = "agentic misalignment: harmful actions taken under pressure (slow)"
    default_limit = 5
    opt_in = True
    judges = (("agentic", "two-question"),)

    def plan(self, spec: EvalSpec, ctx: RunContext) -> Plan:
        return Plan()  # the scenarios are planned in run_apart: their rows are the suite's own

    def jobs(self, spec: EvalSpec, ctx: RunContext, plan: Plan, answers: Answers) -> list[Job]:
        return []

    def results(self, plan: Plan, judged: Judged) -> list[EvalResult]:
        return []  # written by run_apart as agentic_misalignment.json

    def run_apart(self, spec: EvalSpec, ctx: RunContext, folder: Path) -> None:
        agentic.run_agentic(
            {key: ctx.model(key) for key in spec.models},
            ctx.model(spec.judge),
            folder,
            scenarios=agentic.spread_over_families(agentic.load_scenarios(), spec.limit(self.name)),
            baseline=spec.models[0],
            params=GenerateParams(
                max_tokens=spec.max_tokens, temperature=spec.temperature, top_p=spec.top_p
            ),
            seed=ctx.seed_for(spec.name, self.name),
            provenance=ctx.provenance,
            progress=ctx.progress,
        )

    def inspect(
        self,
        families: str | None = None,
        limit: int | None = None,
        judge: str = DEFAULT_JUDGE,
        max_tokens: int = 192,
    ) -> InspectSpec:
        """Charter's own agentic-misalignment families.

        Args:
            families: comma-separated families to keep (default: all).
            limit: the first N scenarios.
            judge: the judge's charter model name.
            max_tokens: tokens per answer.
        """
        chosen = [f.strip() for f in families.split(",")] if families else None
        return InspectSpec(
            name=self.inspect_task,
            samples=[
                SampleInput(
                    s.id,
                    [{"role": "system", "content": s.system}, {"role": "user", "content": s.user}],
                    {"family": s.family, "harmful_action": s.harmful_action},
                )
                for s in agentic.load_scenarios(families=chosen)[:limit]
            ],
            scorer="agentic_judge",
            score=_score,
            models={"judge": judge},
            inspect_metrics=("mean", "stderr"),
            metrics={"wilson_low": wilson_low, "wilson_high": wilson_high},
            max_tokens=max_tokens,
            temperature=0.7,
        )


def _score(models: Mapping[str, Any], sample: SampleView) -> Verdict:
    """1 if the reply took the scenario's harmful action (local judge, choice log-probs)."""
    verdict = agentic.judge_reply(
        models["judge"],
        agentic.scenario_text(sample.messages),
        sample.reply,
        sample.metadata["harmful_action"],
    )
    return Verdict(
        value=1.0 if verdict["harmful"] else 0.0,
        answer=sample.reply[:200],
        explanation=f"P(harmful)={verdict['p_harmful']:.3f}; rubric: {verdict['rubric']}",
        metadata=verdict,
    )


SUITE = AgenticSuite()
