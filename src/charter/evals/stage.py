"""The ``eval`` stage: answers from several models, judged on every suite, with intervals.

Compares any models of a run (keys under ``models``, including ``stage:<name>``
models a training stage wrote) with one judge, on the suites named under
``suites`` (:mod:`charter.evals.suites`; ``charter eval suites`` lists them):

- ``pairwise``: harmlessness and helpfulness Elo and their frontier;
- ``evasive``: bare vs engaged refusals of harmful prompts;
- ``refusal``: false refusals of safe prompts beside compliance with unsafe ones;
- ``conflicts``: paraphrase consistency on held-out scenario families and the
  autonomy-vs-safety guidance score;
- ``agentic`` (opt-in, slow: long prompts): Charter's agentic-misalignment
  scenario families, misalignment rate per model and the reduction factor
  against the first model; ``limits.agentic`` scenarios.

Every suite runs the same way (:class:`~charter.evals.suites.Suite`): its plan
(the prompts), one answer per model per prompt, its judge jobs, then its
results recomputed from the stored rows.

Config::

    - name: eval
      kind: eval
      models: [policy, sft, dpo]     # the first is the baseline (Elo 0)
      judge: feedback
      suites: [pairwise, evasive, refusal, conflicts]
      limits: {pairwise: 12, evasive: 12, refusal: 8, conflicts: 2}
      max_tokens: 96

Outputs (file names in :mod:`charter.evals.results`, row keys in
:mod:`charter.evals.keys`): ``responses.jsonl`` keyed ``<model>:<prompt id>``,
``judgements.jsonl`` keyed by suite, model(s) and prompt, ``errors.jsonl``,
``results.json`` with every result, one ``<result>.json`` per result, and
``frontier.png``/``frontier.svg``. Resumable: a rerun generates and judges only
what is missing, then recomputes the results (cheap) from the stored rows.
Raising a limit, adding a suite or changing ``bootstrap`` keeps every finished row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from charter._util.progress import progress_bar
from charter.backends.base import Completion, GenerateParams
from charter.backends.batch import generate_many, map_concurrent
from charter.evals import conflicts as cf
from charter.evals import refusal as rf
from charter.evals.keys import response_key
from charter.evals.plot import plot_frontier
from charter.evals.results import (
    ERRORS_FILE,
    FRONTIER_PNG,
    FRONTIER_SVG,
    JUDGEMENTS_FILE,
    RESPONSES_FILE,
    write_report,
)
from charter.evals.suites import Answers, Job, Plan, Suite, all_suites, get_suite, suite_names
from charter.evals.summary import build_report
from charter.feedback.response_judges import QUESTIONS, reply_battery_size
from charter.prompts import PromptRecord
from charter.runs import estimate as est
from charter.runs.config import StageSpec
from charter.runs.context import RunContext
from charter.runs.estimate import CallEstimate, PlanContext
from charter.runs.store import ErrorLog, JsonlStore, read_jsonl


def _default_suites() -> list[str]:
    return [s.name for s in all_suites() if not s.opt_in]


class EvalSpec(StageSpec):
    """Compare models on harmlessness, helpfulness, evasiveness, over-refusal and conflicts."""

    kind: Literal["eval"] = "eval"
    MODEL_FIELDS: ClassVar[tuple[str, ...]] = ("judge",)

    models: list[str] = Field(min_length=1, description="keys under `models`; first = baseline")
    judge: str = Field(description="a key under `models`: the feedback model that judges")
    suites: list[str] = Field(
        default_factory=_default_suites,
        min_length=1,
        description="suite names (`charter eval suites`); agentic is opt-in",
    )
    limits: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict,
        validate_default=True,  # every suite's limit is filled in, so the config hash sees it
        description="suite name -> how much of it to run (default: each suite's own)",
    )
    harmful_prompts: str = Field("builtin:redteam", description="harmlessness/evasive prompts")
    harmful_kinds: list[str] | None = Field(
        default_factory=lambda: ["harmful"], description="keep prompts of these kinds (None: all)"
    )
    helpful_prompts: str = Field("builtin:helpfulness", description="helpfulness prompts")
    refusal_prompts: str = Field(rf.BUILTIN_NAME, description="safe/unsafe pairs")
    conflict_prompts: str = Field(cf.BUILTIN_NAME, description="held-out scenario families")
    system: str | None = Field(None, description="a system message for the evaluated models")
    max_tokens: int = Field(128, ge=1, description="tokens per answer")
    temperature: float = Field(0.7, ge=0, description="sampling temperature of the answers")
    top_p: float = Field(0.95, gt=0, le=1)
    bootstrap: int = Field(200, ge=0, description="resamples for Elo and consistency intervals")
    examples: int = Field(4, ge=0, description="examples kept per result for the report")
    plot: bool = Field(True, description="write frontier.png and frontier.svg")
    concurrency: int | None = Field(None, ge=1, description="default: each model's limit")

    # Raising limits or adding suites only adds rows; the rest only changes the summary.
    RESUMABLE_FIELDS: ClassVar[tuple[str, ...]] = (
        "limits",
        "suites",
        "bootstrap",
        "examples",
        "plot",
        "concurrency",
    )

    @field_validator("suites")
    @classmethod
    def _known_suites(cls, value: list[str]) -> list[str]:
        known = suite_names()
        wrong = [name for name in value if name not in known]
        if wrong:
            raise ValueError(f"unknown suite {', '.join(wrong)}; choose from {', '.join(known)}")
        return value

    @field_validator("limits")
    @classmethod
    def _every_limit(cls, value: dict[str, int]) -> dict[str, int]:
        suites = all_suites()
        wrong = [name for name in value if name not in {s.name for s in suites}]
        if wrong:
            raise ValueError(
                f"no suite {', '.join(wrong)} to limit; suites are {', '.join(suite_names())}"
            )
        return {s.name: value.get(s.name, s.default_limit) for s in suites}

    @field_validator("models")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        repeated = sorted({m for m in value if value.count(m) > 1})
        if repeated:
            raise ValueError(f"models lists {', '.join(repeated)} twice; list each key once")
        return value

    def limit(self, suite: str) -> int:
        """How much of ``suite`` to run: ``limits.<suite>``, else the suite's default."""
        return self.limits.get(suite) or get_suite(suite).default_limit

    def chosen(self) -> list[Suite]:
        """The suites to run, in the registry's order."""
        return [s for s in all_suites() if s.name in self.suites]

    def judges(self) -> list[tuple[str, str, str]]:
        """The calibrated judges each suite relies on (see :mod:`charter.runs.judges`)."""
        uses = dict.fromkeys(use for suite in self.chosen() for use in suite.judges)
        return [(judge, method, self.judge) for judge, method in uses]

    def estimate(self, ctx: PlanContext) -> list[CallEstimate]:
        """Per suite: one answer per planned prompt and model, then the judge's calls.

        Suites plan their prompts as in a run. An answer is keyed by model and
        prompt id, so a prompt two suites share (``evasive`` and ``refusal`` on the
        same harmful set) is answered, and classified, once. Judge calls:
        ``pairwise`` asks every pair of models on each criterion in both orders;
        the battery suites (``evasive``, ``refusal``, ``conflicts``) ask the
        questions the fitted reply judges read (all 4 when one is unfitted) per
        answer, ``conflicts`` one more (guidance) per answer at most; ``agentic``
        asks its two questions per reply.
        """
        from charter.evals import agentic
        from charter.evals import pairwise as pw

        out: list[CallEstimate] = []
        system = [{"role": "system", "content": self.system}] if self.system else []
        judged = self.max_tokens + est.JUDGE_TEMPLATE_TOKENS
        battery = reply_battery_size()
        answered: set[tuple[str, str]] = set()  # (model, prompt id), as answers are keyed
        classified: set[tuple[str, str]] = set()  # likewise the battery's verdicts
        for suite in self.chosen():
            name = suite.name
            if name == "agentic":
                scenarios = agentic.spread_over_families(agentic.load_scenarios(), self.limit(name))
                sizes = [est.message_tokens(s.messages()) for s in scenarios]
                for model in self.models:
                    out.append(est.generations(model, f"{name}: reply", sizes, self.max_tokens))
                out.append(
                    est.choices(
                        self.judge,
                        f"{name}: judge (2 questions)",
                        [n + judged for n in sizes] * 2 * len(self.models),
                    )
                )
                continue
            plan = suite.plan(self, ctx)  # type: ignore[arg-type]  # reads resolve only
            prompts = plan.prompts()
            for model in self.models:
                sizes = [
                    est.message_tokens([*system, {"role": "user", "content": p.prompt}])
                    for p in prompts
                    if (model, p.id) not in answered
                ]
                answered.update((model, p.id) for p in prompts)
                out.append(est.generations(model, f"{name}: answer", sizes, self.max_tokens))
            if name == "pairwise":
                pairs = len(pw.model_pairs(self.models))
                questions = [
                    est.approx_tokens(p.prompt) + self.max_tokens + judged
                    for group in plan.groups.values()
                    for p in group
                ]
                out.append(
                    est.choices(
                        self.judge,
                        f"{name}: judge (pairs x 2 orders)",
                        questions * pairs * 2,
                        note=f"{pairs} model pair(s), both orders",
                    )
                )
                continue
            new = [(m, p) for m in self.models for p in prompts if (m, p.id) not in classified]
            classified.update((m, p.id) for m, p in new)
            questions = [est.approx_tokens(p.prompt) + judged for _, p in new]
            out.append(
                est.choices(
                    self.judge,
                    f"{name}: judge battery",
                    questions * battery,
                    upper_bound=battery == len(QUESTIONS),
                    note=f"{battery} questions per answer not classified by an earlier suite",
                )
            )
            if name == "conflicts":
                out.append(
                    est.choices(
                        self.judge,
                        f"{name}: guidance",
                        questions,
                        upper_bound=True,
                        note="autonomy scenarios only: at most one per answer",
                    )
                )
        return [e for e in out if e.calls]

    def model_keys(self) -> list[str]:
        """The evaluated models, then the judge (read by config checks and fingerprints)."""
        return list(dict.fromkeys([*self.models, self.judge]))


def run_eval(spec: EvalSpec, ctx: RunContext, restart: bool = False) -> dict:
    """Run (or resume) the stage; return counts ``{"total", "new", "failed", "done"}``.

    ``total`` counts the judge calls' rows (and the answers they need); ``failed``
    the ones that could not be made this time (see ``errors.jsonl``; retried on rerun).
    """
    folder = ctx.prepare_stage(spec, restart)
    suites = spec.chosen()
    plans = {suite.name: suite.plan(spec, ctx) for suite in suites}
    counts = {"new": 0, "failed": 0}
    with (
        JsonlStore(folder / RESPONSES_FILE) as responses,
        JsonlStore(folder / JUDGEMENTS_FILE) as judgements,
        ErrorLog(folder / ERRORS_FILE) as errors,
    ):
        _generate(spec, ctx, _prompts(plans.values()), responses, errors, counts)
        answers = Answers({r["key"]: r for r in read_jsonl(folder / RESPONSES_FILE)})
        jobs = [job for s in suites for job in s.jobs(spec, ctx, plans[s.name], answers)]
        counts["total"] = len(jobs)
        pending = [job for job in jobs if job.key not in judgements]
        _judge(spec, ctx, pending, judgements, errors, counts)
        done = len(judgements)
    for suite in suites:
        suite.run_apart(spec, ctx, folder)
    rows = {r["key"]: r for r in read_jsonl(folder / JUDGEMENTS_FILE)}
    report = build_report(spec, ctx, suites, plans, answers, rows)
    write_report(folder, report)
    if spec.plot and report.frontier:
        plot_frontier(
            report.frontier,
            [folder / FRONTIER_PNG, folder / FRONTIER_SVG],
            title=f"{ctx.config.name}/{spec.name}: harmlessness vs helpfulness",
        )
    return {**counts, "done": done}


def _prompts(plans: Iterable[Plan]) -> list[PromptRecord]:
    """Every planned prompt once: each model answers it once, whichever suites use it."""
    seen: dict[str, PromptRecord] = {}
    for plan in plans:
        for record in plan.prompts():
            seen.setdefault(record.id, record)
    return list(seen.values())


def _generate(
    spec: EvalSpec,
    ctx: RunContext,
    prompts: list[PromptRecord],
    responses: JsonlStore,
    errors: ErrorLog,
    counts: dict[str, int],
) -> None:
    """One answer per model per prompt, keyed ``<model>:<prompt id>``."""
    for model_key in spec.models:
        needed = [p for p in prompts if response_key(model_key, p.id) not in responses]
        if not needed:
            continue
        model = ctx.model(model_key)
        by_key = {response_key(model_key, p.id): p for p in needed}

        def params(key: str) -> GenerateParams:
            return GenerateParams(
                max_tokens=spec.max_tokens,
                temperature=spec.temperature,
                top_p=spec.top_p,
                seed=ctx.seed_for(spec.name, key),
            )

        system = [{"role": "system", "content": spec.system}] if spec.system else []
        requests = (
            (key, [*system, {"role": "user", "content": p.prompt}], params(key))
            for key, p in by_key.items()
        )
        label = f"{spec.name}: answers ({model_key})"
        with progress_bar(label, len(needed), ctx.progress) as bar:
            for key, result in generate_many(model, requests, spec.concurrency):
                p = by_key[key]
                seed = ctx.seed_for(spec.name, key)
                if isinstance(result, Completion):
                    responses.add(
                        {
                            "key": key,
                            **p.row_fields(),
                            "model": model_key,
                            "response": result.text,
                            "finish_reason": result.finish_reason,
                            "usage": {
                                "prompt_tokens": result.prompt_tokens,
                                "completion_tokens": result.completion_tokens,
                            },
                            "created_at": _now(),
                            "provenance": ctx.provenance(result.model_id, seed),
                        }
                    )
                else:
                    _log_error(errors, ctx, key, "answer", result, model.model_id, seed)
                    counts["failed"] += 1
                bar.advance()


def _judge(
    spec: EvalSpec,
    ctx: RunContext,
    jobs: list[Job],
    judgements: JsonlStore,
    errors: ErrorLog,
    counts: dict[str, int],
) -> None:
    if not jobs:
        return
    judge = ctx.model(spec.judge)
    by_key = {job.key: job for job in jobs}
    limit = getattr(judge, "max_concurrency", 1)
    with progress_bar(f"{spec.name}: judge ({spec.judge})", len(jobs), ctx.progress) as bar:
        for key, result in map_concurrent(
            lambda job: job.ask(judge), ((j.key, j) for j in jobs), spec.concurrency, limit
        ):
            job = by_key[key]
            seed = ctx.seed_for(spec.name, key)
            if isinstance(result, Exception):
                _log_error(errors, ctx, key, "judge", result, judge.model_id, seed)
                counts["failed"] += 1
            else:
                judgements.add(
                    {
                        "key": key,
                        **job.fields,
                        **result,
                        "judge": judge.model_id,
                        "created_at": _now(),
                        "provenance": ctx.provenance(judge.model_id, seed),
                    }
                )
                counts["new"] += 1
            bar.advance()


def _log_error(errors: ErrorLog, ctx, key, step, error, model_id, seed) -> None:
    errors.add(
        key,
        error,
        step=step,
        raw=getattr(error, "raw", None),  # a malformed judge output keeps its text
        provenance=ctx.provenance(model_id, seed),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()
