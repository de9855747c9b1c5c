"""The suite protocol: plan the prompts, list the judge's jobs, sum up the results.

One eval suite is one object that satisfies :class:`Suite`, in one module under
:mod:`charter.evals.suites`, registered by name (:func:`charter.evals.suites.register`).
The ``eval`` stage (:mod:`charter.evals.stage`) drives every suite the same way:

1. ``plan(spec, ctx)``: the prompts every model answers (:class:`Plan`);
2. ``jobs(spec, ctx, plan, answers)``: the judge calls those answers need
   (:class:`Job`; one ``judgements.jsonl`` row each, keyed by :mod:`.keys`);
3. ``results(plan, judged)``: the :class:`~charter.evals.results.EvalResult`
   values, recomputed from the stored rows (:class:`Judged`).

``inspect(**options)`` describes the same suite as an Inspect AI task
(:class:`InspectSpec`, built into a ``Task`` by :mod:`charter.evals.inspect_tasks`),
without importing Inspect, which is an optional extra.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from charter.backends.base import Message
from charter.evals.keys import response_key
from charter.evals.results import EvalResult
from charter.feedback.card import CalibrationCard
from charter.feedback.stats import wilson_interval
from charter.prompts import PromptRecord

if TYPE_CHECKING:
    from charter.evals.stage import EvalSpec
    from charter.runs.context import RunContext

DEFAULT_JUDGE = "embedded-feedback"  # the Inspect tasks' judge: a charter/<name> model


@dataclass(frozen=True)
class Plan:
    """The prompts a suite has every model answer, in named groups (pairwise: per criterion)."""

    groups: Mapping[str, Sequence[PromptRecord]] = field(default_factory=dict)

    def group(self, name: str) -> list[PromptRecord]:
        """The prompts of one group (empty when the suite planned none)."""
        return list(self.groups.get(name, ()))

    def prompts(self) -> list[PromptRecord]:
        """Every planned prompt once, in order."""
        seen: dict[str, PromptRecord] = {}
        for group in self.groups.values():
            for record in group:
                seen.setdefault(record.id, record)
        return list(seen.values())


@dataclass(frozen=True)
class Answers:
    """The models' stored answers (``responses.jsonl`` rows by key)."""

    rows: Mapping[str, dict[str, Any]]

    def row(self, model: str, prompt_id: str) -> dict[str, Any] | None:
        """The row of ``model``'s answer to a prompt, or None when it failed or is not made."""
        return self.rows.get(response_key(model, prompt_id))

    def text(self, model: str, prompt_id: str) -> str | None:
        """The text of ``model``'s answer to a prompt, or None."""
        row = self.row(model, prompt_id)
        return row["response"] if row else None


@dataclass(frozen=True)
class Job:
    """One judge call: its row key, the call, and the fields its row records.

    ``ask(judge)`` returns the verdict's fields (e.g. ``{"type": "pair", "p_first": ...}``);
    the stage adds ``key``, ``fields``, the judge's id and provenance.
    """

    key: str
    ask: Callable[[Any], dict[str, Any]]
    fields: dict[str, Any]


@dataclass(frozen=True)
class Judged:
    """What a suite sums up: the stored answers and judgements, and how to report them."""

    models: Sequence[str]
    answers: Answers
    rows: Mapping[str, dict[str, Any]]  # judgements.jsonl rows by key
    bootstrap: int = 200
    seed: int = 0
    examples: int = 4
    cards: Mapping[str, CalibrationCard] = field(default_factory=dict)
    model_ids: Mapping[str, str | None] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def common(self) -> dict[str, Any]:
        """The keyword arguments every result function takes: model ids and provenance."""
        return {"model_ids": dict(self.model_ids), "provenance": dict(self.provenance)}


# -- the Inspect side, described without importing Inspect -----------------------------
@dataclass(frozen=True)
class SampleInput:
    """One Inspect sample: a prompt (or chat messages) and its metadata."""

    id: str
    input: str | list[Message]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SampleView:
    """What a suite's Inspect scorer sees of one sample once the model has answered."""

    prompt: str  # the user's text
    messages: list[Message]  # the conversation before the reply
    reply: str
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class Verdict:
    """One sample's score: an Inspect ``Score`` without Inspect."""

    value: float
    answer: str | None = None
    explanation: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


MetricFn = Callable[[Sequence[Verdict]], float]
# (models by role, e.g. {"judge": ...}, the sample) -> its verdict; blocking, run in a thread.
Scoring = Callable[[Mapping[str, Any], SampleView], Verdict]


@dataclass(frozen=True)
class InspectSpec:
    """A suite as an Inspect AI task: samples, a scorer and its metrics."""

    name: str  # the dataset's name
    samples: list[SampleInput]
    scorer: str  # the scorer's name in Inspect logs
    score: Scoring
    models: Mapping[str, str]  # role -> charter/<name> model name ("judge" at least)
    metrics: Mapping[str, MetricFn] = field(default_factory=dict)
    inspect_metrics: tuple[Literal["mean", "stderr"], ...] = ()  # Inspect's own
    max_tokens: int = 160
    temperature: float = 0.0


class Suite(Protocol):
    """One eval suite: plan -> jobs -> results, and the same suite as an Inspect task.

    Subclass it to inherit :meth:`run_apart` (nothing to do).
    """

    name: str  # the name in the stage's `suites` and `limits`
    inspect_task: str  # the Inspect task (inspect_tasks.py@<inspect_task>)
    description: str  # one line: what it measures
    default_limit: int  # the stage's `limits.<name>` default
    opt_in: bool  # left out of the stage's default `suites`
    judges: tuple[tuple[str, str], ...]  # (calibrated judge, method) pairs it relies on

    def plan(self, spec: EvalSpec, ctx: RunContext) -> Plan:
        """The prompts every model answers, at ``spec.limit(self.name)``."""
        ...

    def jobs(self, spec: EvalSpec, ctx: RunContext, plan: Plan, answers: Answers) -> list[Job]:
        """The judge calls for the answers present (a missing answer is retried, not judged)."""
        ...

    def results(self, plan: Plan, judged: Judged) -> list[EvalResult]:
        """The suite's results from the stored rows (cheap; recomputed on every run)."""
        ...

    def run_apart(self, spec: EvalSpec, ctx: RunContext, folder: Path) -> None:
        """Generate and judge rows the suite keeps in files of its own (the agentic suite)."""
        return None

    def inspect(self, **options: Any) -> InspectSpec:
        """The suite as an Inspect task; ``options`` are the task's ``-T`` arguments."""
        ...


def wilson_low(verdicts: Sequence[Verdict]) -> float:
    """Lower end of the Wilson 95% interval of a 0/1 score's mean."""
    return wilson_interval(sum(v.value for v in verdicts), len(verdicts))[0]


def wilson_high(verdicts: Sequence[Verdict]) -> float:
    """Upper end of the Wilson 95% interval of a 0/1 score's mean."""
    return wilson_interval(sum(v.value for v in verdicts), len(verdicts))[1]
