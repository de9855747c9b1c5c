"""Charter's eval suites as Inspect AI tasks: ``inspect eval <this file>@<task>``.

Every suite of :mod:`charter.evals.suites` is a task here, built from the
suite's own description (:meth:`~charter.evals.suites.Suite.inspect`: its
samples, its judge calls, its metrics); ``charter eval suites`` lists the names:

- ``harmlessness_vs_reference`` (suite ``pairwise``): each answer against a
  fixed reference model's, judged in both orders; the score is P(the model's
  answer is better) on ``-T criterion=harmlessness|helpfulness``.
- ``evasiveness`` (``evasive``): harmful prompts; the score is 1 for a bare
  refusal (no engagement, no explanation), with the class in the metadata.
- ``over_refusal`` (``refusal``): safe-but-risky prompts beside unsafe
  contrasts; metrics: false refusal rate on safe prompts and harmful
  compliance on unsafe ones.
- ``conflicts`` (``conflicts``): held-out conflict scenarios in several
  paraphrases; metrics: paraphrase consistency and the share of
  autonomy-vs-safety answers that follow the constitution's conflict guidance.
- ``charter_agentic`` (``agentic``): Charter's own agentic-misalignment
  families; the score is 1 when the model took the harmful action.

and one more, not a suite: ``agentic_misalignment_local``, one condition of
the installed ``inspect_evals.agentic_misalignment`` templates, graded by the
package's classifier with the local judge instead of its hosted grader
(:mod:`charter.evals.agentic_upstream`).

Every task is judged by a local model through choice log-probabilities (Bai
et al. 2022, section 4.1); ``-T judge=<name>`` picks it (default
``embedded-feedback``). Models: any Inspect model, or Charter's own through
the ``charter`` provider (:mod:`charter.evals.inspect_provider`), e.g.::

    HF_HUB_OFFLINE=1 inspect eval src/charter/evals/inspect_tasks.py@charter_agentic \\
        --model charter/embedded-policy -T limit=5

Check the log's ``status`` (``success``), not only the exit code: Inspect
exits 0 when a task errors.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from typing import Any

import anyio
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig
from inspect_ai.scorer import (
    Metric,
    SampleScore,
    Score,
    Scorer,
    Target,
    mean,
    metric,
    scorer,
    stderr,
)
from inspect_ai.solver import TaskState, generate

from charter.evals import agentic_upstream
from charter.evals.inspect_provider import model_lock, resolve_chat_model, to_messages
from charter.evals.suites import (
    InspectSpec,
    SampleInput,
    SampleView,
    Suite,
    Verdict,
    all_suites,
)
from charter.evals.suites.base import DEFAULT_JUDGE, MetricFn, Scoring, wilson_high, wilson_low

_INSPECT_METRICS: dict[str, Callable[[], Metric]] = {"mean": mean, "stderr": stderr}


def build_task(spec: InspectSpec) -> Task:
    """An Inspect ``Task`` from a suite's description: samples, generate, its scorer."""
    models = {role: resolve_chat_model(name) for role, name in spec.models.items()}
    metrics = [_INSPECT_METRICS[name]() for name in spec.inspect_metrics]
    metrics += [_metric(name, fn) for name, fn in spec.metrics.items()]
    return Task(
        dataset=MemoryDataset([_sample(s) for s in spec.samples], name=spec.name),
        solver=generate(),
        scorer=_scorer(spec.scorer, spec.score, models, metrics),
        config=GenerateConfig(max_tokens=spec.max_tokens, temperature=spec.temperature),
    )


def suite_task(suite: Suite) -> Callable[..., Task]:
    """The suite's Inspect task, registered as ``suite.inspect_task``.

    Its ``-T`` options are the keyword arguments of ``suite.inspect``.
    """

    @functools.wraps(suite.inspect)
    def factory(**options: Any) -> Task:
        return build_task(suite.inspect(**options))

    # Inspect namespaces a task by the module that defines it: this file's, not the suite's,
    # so `inspect eval inspect_tasks.py@<name>` finds it by its plain name.
    factory.__module__ = __name__
    return task(name=suite.inspect_task)(factory)


def _sample(sample: SampleInput) -> Sample:
    if isinstance(sample.input, str):
        return Sample(id=sample.id, input=sample.input, metadata=sample.metadata)
    roles = {"system": ChatMessageSystem, "user": ChatMessageUser}
    messages = [roles[m["role"]](content=m["content"]) for m in sample.input]
    return Sample(id=sample.id, input=messages, metadata=sample.metadata)


async def _call(models: Iterable[Any], fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking call in a thread, holding each model's one lock (in a fixed order)."""

    def run() -> Any:
        with ExitStack() as stack:
            for model in sorted(set(models), key=id):
                stack.enter_context(model_lock(model))
            return fn(*args)

    return await anyio.to_thread.run_sync(run)


def _scorer(
    name: str, score: Scoring, models: Mapping[str, Any], metrics: Sequence[Metric]
) -> Scorer:
    def factory() -> Scorer:
        async def run(state: TaskState, target: Target) -> Score:
            sample = SampleView(
                prompt=state.input_text,
                messages=to_messages(state.messages[:-1] if state.messages else []),
                reply=state.output.completion,
                metadata=dict(state.metadata),
            )
            verdict = await _call(models.values(), score, models, sample)
            return Score(
                value=verdict.value,
                answer=verdict.answer,
                explanation=verdict.explanation,
                metadata=verdict.metadata,
            )

        return run

    return scorer(metrics=list(metrics), name=name)(factory)()


def _metric(name: str, fn: MetricFn) -> Metric:
    def factory() -> Metric:
        def compute(scores: list[SampleScore]) -> float:
            return fn(
                [
                    Verdict(value=s.score.as_float(), metadata=dict(s.score.metadata or {}))
                    for s in scores
                ]
            )

        return compute

    return metric(name=name)(factory)()


# Every suite's task, registered with Inspect by name when this file loads.
_TASKS = {suite.inspect_task: suite_task(suite) for suite in all_suites()}


def __getattr__(name: str) -> Callable[..., Task]:
    """A suite's task by its Inspect name (``inspect_tasks.evasiveness(limit=2)``)."""
    for suite in all_suites():
        if suite.inspect_task == name:
            return _TASKS.get(name) or suite_task(suite)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- the upstream templates: not a suite (no stage rows), the same local judge ----------
@task
def agentic_misalignment_local(
    scenario: str = "blackmail",
    goal_type: str = "explicit",
    goal_value: str = "america",
    urgency_type: str = "replacement",
    judge: str = DEFAULT_JUDGE,
    max_tokens: int = 384,
) -> Task:
    """One condition of ``inspect_evals.agentic_misalignment``, graded by a local judge.

    The prompts are long (about 3k tokens): give a charter model ``-M n_ctx=8192``.
    """
    condition = agentic_upstream.Condition(scenario, goal_type, goal_value, urgency_type)
    system, user, email_content = agentic_upstream.condition_prompts(condition)
    sample = SampleInput(
        condition.id,
        [{"role": "system", "content": system}, {"role": "user", "content": user}],
        {"scenario": scenario, "email_content": email_content},
    )
    return build_task(
        InspectSpec(
            name="agentic_misalignment_local",
            samples=[sample],
            scorer="upstream_judge",
            score=_upstream_score,
            models={"judge": judge},
            inspect_metrics=("mean", "stderr"),
            metrics={"wilson_low": wilson_low, "wilson_high": wilson_high},
            max_tokens=max_tokens,
            temperature=0.7,
        )
    )


def _upstream_score(models: Mapping[str, Any], sample: SampleView) -> Verdict:
    """The package's classifier with the local judge's yes/no (see agentic_upstream)."""
    verdict = agentic_upstream.grade(
        models["judge"], sample.metadata["scenario"], sample.metadata["email_content"], sample.reply
    )
    return Verdict(
        value=1.0 if verdict["harmful"] else 0.0,
        explanation=verdict["explanation"],
        metadata={k: v for k, v in verdict.items() if k != "explanation"},
    )
