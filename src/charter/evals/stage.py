"""The ``eval`` stage: answers from several models, judged on every suite, with intervals.

Compares any models of a run (keys under ``models``, including ``stage:<name>``
models a training stage wrote) with one judge, on four suites:

- ``pairwise``: harmlessness and helpfulness Elo and their frontier (:mod:`.pairwise`);
- ``evasive``: bare vs engaged refusals of harmful prompts (:mod:`.evasive`);
- ``refusal``: false refusals of safe prompts beside compliance with unsafe ones (:mod:`.refusal`);
- ``conflicts``: paraphrase consistency on held-out scenario families and the
  autonomy-vs-safety guidance score (:mod:`.conflicts`);
- ``agentic`` (opt-in, slow: long prompts): Charter's agentic-misalignment
  scenario families, misalignment rate per model and the reduction factor
  against the first model (:mod:`.agentic`); ``limits.agentic`` scenarios.

Config::

    - name: eval
      kind: eval
      models: [policy, sft, dpo]     # the first is the baseline (Elo 0)
      judge: feedback
      suites: [pairwise, evasive, refusal, conflicts]
      limits: {pairwise: 12, evasive: 12, refusal: 8, conflicts: 2}
      max_tokens: 96

Outputs (file names in :mod:`charter.evals.results`): ``responses.jsonl``
keyed ``<model>:<prompt id>``, ``judgements.jsonl`` keyed by suite, model(s)
and prompt, ``errors.jsonl``, ``results.json`` with every result, one
``<result>.json`` per result, and ``frontier.png``/``frontier.svg``.
Resumable: a rerun generates and judges only what is missing, then recomputes
the results (cheap) from the stored rows. Raising a limit, adding a suite or
changing ``bootstrap`` keeps every finished row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from charter._util.progress import progress_bar
from charter.backends.base import Completion, GenerateParams
from charter.backends.batch import generate_many, map_concurrent
from charter.evals import conflicts as cf
from charter.evals import pairwise as pw
from charter.evals import refusal as rf
from charter.evals.guidance import follows_guidance
from charter.evals.plot import plot_frontier
from charter.evals.results import (
    ERRORS_FILE,
    FRONTIER_PNG,
    FRONTIER_SVG,
    JUDGEMENTS_FILE,
    RESPONSES_FILE,
    SUITES,
    write_report,
)
from charter.evals.summary import build_report, response_key
from charter.feedback.pairwise import PairVerdict
from charter.feedback.response_judges import ReplyVerdict, judge_reply
from charter.prompts import PromptRecord, load_prompts
from charter.runs.config import StageSpec
from charter.runs.context import RunContext
from charter.runs.store import ErrorLog, JsonlStore, read_jsonl

Suite = Literal["pairwise", "evasive", "refusal", "conflicts", "agentic"]


class SuiteLimits(BaseModel):
    """How much of each suite to run (small by default: the quickstart's size)."""

    model_config = ConfigDict(extra="forbid")

    pairwise: int = Field(12, ge=1, description="harmful and helpful prompts, each")
    evasive: int = Field(12, ge=1, description="harmful prompts classified")
    refusal: int = Field(8, ge=1, description="safe/unsafe pairs")
    conflicts: int = Field(2, ge=1, description="scenarios (each with all its paraphrases)")
    agentic: int = Field(
        5, ge=1, description="agentic scenarios, round-robin over families (when asked for)"
    )


class EvalSpec(StageSpec):
    """Compare models on harmlessness, helpfulness, evasiveness, over-refusal and conflicts."""

    kind: Literal["eval"] = "eval"
    MODEL_FIELDS: ClassVar[tuple[str, ...]] = ("judge",)

    models: list[str] = Field(min_length=1, description="keys under `models`; first = baseline")
    judge: str = Field(description="a key under `models`: the feedback model that judges")
    suites: list[Suite] = Field(
        default_factory=lambda: list(SUITES), min_length=1, description="agentic is opt-in"
    )
    limits: SuiteLimits = Field(default_factory=SuiteLimits)
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

    def judges(self) -> list[tuple[str, str, str]]:
        """The calibrated judges each suite relies on (see :mod:`charter.runs.judges`)."""
        uses = []
        if "pairwise" in self.suites:
            uses += [("preference_harmlessness", "letter"), ("preference_helpfulness", "letter")]
        if {"evasive", "refusal", "conflicts"} & set(self.suites):
            uses += [
                (j, "battery-lr") for j in ("evasiveness", "harmful_compliance", "over_refusal")
            ]
        if "conflicts" in self.suites:
            uses.append(("guidance", "question"))
        if "agentic" in self.suites:
            uses.append(("agentic", "two-question"))
        return [(judge, method, self.judge) for judge, method in uses]

    @field_validator("models")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        repeated = sorted({m for m in value if value.count(m) > 1})
        if repeated:
            raise ValueError(f"models lists {', '.join(repeated)} twice; list each key once")
        return value

    def model_keys(self) -> list[str]:
        """The evaluated models, then the judge (read by config checks and fingerprints)."""
        return list(dict.fromkeys([*self.models, self.judge]))


@dataclass(frozen=True)
class Plan:
    """The prompts each suite uses."""

    harmful: list[PromptRecord]
    helpful: list[PromptRecord]
    evasive: list[PromptRecord]
    refusal: list[PromptRecord]
    conflicts: list[PromptRecord]

    def prompts(self) -> list[PromptRecord]:
        seen: dict[str, PromptRecord] = {}
        for group in (self.harmful, self.helpful, self.evasive, self.refusal, self.conflicts):
            for record in group:
                seen.setdefault(record.id, record)
        return list(seen.values())


def plan(spec: EvalSpec, ctx: RunContext) -> Plan:
    """Load the prompt sets the chosen suites need, at the configured limits."""
    suites, limits = set(spec.suites), spec.limits
    harmful: list[PromptRecord] = []
    if suites & {"pairwise", "evasive"}:
        pool = load_prompts(ctx.resolve(spec.harmful_prompts))
        if spec.harmful_kinds is not None:
            pool = [p for p in pool if p.kind is None or p.kind in spec.harmful_kinds]
        harmful = pool
    helpful = (
        load_prompts(ctx.resolve(spec.helpful_prompts), limit=limits.pairwise)
        if "pairwise" in suites
        else []
    )
    return Plan(
        harmful=harmful[: limits.pairwise] if "pairwise" in suites else [],
        helpful=helpful,
        evasive=harmful[: limits.evasive] if "evasive" in suites else [],
        refusal=(
            rf.load_pairs(
                _builtin_or_path(ctx, spec.refusal_prompts, rf.BUILTIN_NAME), limits.refusal
            )
            if "refusal" in suites
            else []
        ),
        conflicts=(
            cf.load_scenarios(
                _builtin_or_path(ctx, spec.conflict_prompts, cf.BUILTIN_NAME), limits.conflicts
            )
            if "conflicts" in suites
            else []
        ),
    )


def _builtin_or_path(ctx: RunContext, source: str, builtin: str) -> str:
    return source if source == builtin else ctx.resolve(source)


def run_eval(spec: EvalSpec, ctx: RunContext, restart: bool = False) -> dict:
    """Run (or resume) the stage; return counts ``{"total", "new", "failed", "done"}``.

    ``total`` counts the judge calls' rows (and the answers they need); ``failed``
    the ones that could not be made this time (see ``errors.jsonl``; retried on rerun).
    """
    folder = ctx.prepare_stage(spec, restart)
    todo = plan(spec, ctx)
    counts = {"new": 0, "failed": 0}
    with (
        JsonlStore(folder / RESPONSES_FILE) as responses,
        JsonlStore(folder / JUDGEMENTS_FILE) as judgements,
        ErrorLog(folder / ERRORS_FILE) as errors,
    ):
        _generate(spec, ctx, todo, responses, errors, counts)
        answers = {r["key"]: r for r in read_jsonl(folder / RESPONSES_FILE)}
        jobs = _judge_jobs(spec, ctx, todo, answers)
        counts["total"] = len(jobs)
        pending = [job for job in jobs if job.key not in judgements]
        _judge(spec, ctx, pending, judgements, errors, counts)
        done = len(judgements)
    if "agentic" in spec.suites:
        _agentic(spec, ctx, folder)
    rows = {r["key"]: r for r in read_jsonl(folder / JUDGEMENTS_FILE)}
    report = build_report(spec, ctx, todo, answers, rows, ctx.cards)
    write_report(folder, report)
    if spec.plot and report.frontier:
        plot_frontier(
            report.frontier,
            [folder / FRONTIER_PNG, folder / FRONTIER_SVG],
            title=f"{ctx.config.name}/{spec.name}: harmlessness vs helpfulness",
        )
    return {**counts, "done": done}


def _agentic(spec: EvalSpec, ctx: RunContext, folder) -> None:
    """The agentic suite: its own resumable rows and result file in the stage folder."""
    from charter.evals.agentic import load_scenarios, run_agentic, spread_over_families

    run_agentic(
        {key: ctx.model(key) for key in spec.models},
        ctx.model(spec.judge),
        folder,
        scenarios=spread_over_families(load_scenarios(), spec.limits.agentic),
        baseline=spec.models[0],
        params=GenerateParams(
            max_tokens=spec.max_tokens, temperature=spec.temperature, top_p=spec.top_p
        ),
        seed=ctx.seed_for(spec.name, "agentic"),
        provenance=ctx.provenance,
        progress=ctx.progress,
    )


def _generate(spec, ctx, todo: Plan, responses: JsonlStore, errors, counts) -> None:
    """One answer per model per prompt, keyed ``<model>:<prompt id>``."""
    prompts = todo.prompts()
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


@dataclass(frozen=True)
class Job:
    """One judge call: its row key, what it asks, and the row fields it records."""

    key: str
    call: Callable[[Any], Any]
    fields: dict[str, Any]


def _judge_jobs(spec, ctx, todo: Plan, answers: dict[str, dict]) -> list[Job]:
    jobs: list[Job] = []

    def answer(model: str, prompt_id: str) -> str | None:
        row = answers.get(response_key(model, prompt_id))
        return row["response"] if row else None

    for criterion, prompts in (("harmlessness", todo.harmful), ("helpfulness", todo.helpful)):
        for p in prompts:
            for first, second in pw.model_pairs(spec.models):
                a, b = answer(first, p.id), answer(second, p.id)
                if a is None or b is None:
                    continue  # the answer failed; errors.jsonl says why, a rerun retries
                jobs.append(
                    Job(
                        pw.pair_key(criterion, p.id, first, second),
                        lambda judge, p=p, a=a, b=b, c=criterion: pw.judge_pair(
                            judge, p.prompt, a, b, c
                        ),
                        {
                            "suite": "pairwise",
                            "criterion": criterion,
                            "prompt_id": p.id,
                            "models": [first, second],
                        },
                    )
                )
    classified = [
        ("evasive", todo.evasive),
        ("refusal", todo.refusal),
        ("conflicts", todo.conflicts),
    ]
    for suite, prompts in classified:
        for p in prompts:
            for model in spec.models:
                text = answer(model, p.id)
                if text is None:
                    continue
                jobs.append(
                    Job(
                        f"classify:{model}:{p.id}",
                        lambda judge, p=p, text=text: judge_reply(judge, p.prompt, text),
                        {"suite": suite, "prompt_id": p.id, "model": model},
                    )
                )
    guidance_cache: dict[tuple[str, ...], str] = {}
    for p in todo.conflicts:
        if getattr(p, "family", None) != cf.AUTONOMY_FAMILY:
            continue
        articles = tuple(getattr(p, "articles", None) or ("3.1", "1.1"))
        if articles not in guidance_cache:
            guidance_cache[articles] = cf.conflict_guidance(ctx.constitution, articles)
        guidance = guidance_cache[articles]
        for model in spec.models:
            text = answer(model, p.id)
            if text is None:
                continue
            jobs.append(
                Job(
                    f"guidance:{model}:{p.id}",
                    lambda judge, p=p, text=text, g=guidance: follows_guidance(
                        judge, p.prompt, text, g
                    ),
                    {
                        "suite": "conflicts",
                        "prompt_id": p.id,
                        "model": model,
                        "articles": list(articles),
                    },
                )
            )
    return jobs


def _judge(spec, ctx, jobs: list[Job], judgements: JsonlStore, errors, counts) -> None:
    if not jobs:
        return
    judge = ctx.model(spec.judge)
    by_key = {job.key: job for job in jobs}
    limit = getattr(judge, "max_concurrency", 1)
    with progress_bar(f"{spec.name}: judge ({spec.judge})", len(jobs), ctx.progress) as bar:
        for key, result in map_concurrent(
            lambda job: job.call(judge), ((j.key, j) for j in jobs), spec.concurrency, limit
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
                        **_verdict_fields(result),
                        "judge": judge.model_id,
                        "created_at": _now(),
                        "provenance": ctx.provenance(judge.model_id, seed),
                    }
                )
                counts["new"] += 1
            bar.advance()


def _verdict_fields(result: Any) -> dict[str, Any]:
    if isinstance(result, PairVerdict):
        return {
            "type": "pair",
            "p_first": result.p_first,
            "p_order1": result.p_order1,
            "p_order2": result.p_order2,
            "position_bias": result.position_bias,
            "flipped": result.flipped,
            "identical": bool(result.detail.get("identical")),
        }
    if isinstance(result, ReplyVerdict):
        return {
            "type": "classify",
            "label": result.label,
            "probs": result.probs,
            "p_harmful": result.p_harmful,
            "harmful": result.harmful,
            "p_refused": result.p_refused,
            "refused": result.refused,
        }
    return {"type": "guidance", "p_follows": float(result)}


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
