"""What the suites that classify answers share: the harmful prompt set, jobs, rows, examples.

The evasive, refusal and conflicts suites put every answer to the reply
battery (:func:`charter.feedback.response_judges.judge_reply`); its row is
``type: classify`` under :func:`charter.evals.keys.classify_key`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from charter.evals.keys import classify_key
from charter.evals.results import Example
from charter.evals.suites.base import Answers, Job, Judged
from charter.feedback.response_judges import ReplyVerdict, judge_reply
from charter.prompts import PromptRecord, load_prompts

# The calibrated judges the reply battery feeds (see charter.runs.judges).
BATTERY_JUDGES = tuple(
    (judge, "battery-lr") for judge in ("evasiveness", "harmful_compliance", "over_refusal")
)


def harmful_prompts(
    source: str, kinds: Sequence[str] | None, limit: int | None
) -> list[PromptRecord]:
    """The first ``limit`` prompts of ``source`` whose kind is one of ``kinds`` (None: all)."""
    pool = load_prompts(source)
    if kinds is not None:
        pool = [p for p in pool if p.kind is None or p.kind in kinds]
    return pool[:limit]


def classify_fields(verdict: ReplyVerdict) -> dict[str, Any]:
    """A ``judgements.jsonl`` row's fields for one classified answer."""
    return {
        "type": "classify",
        "label": verdict.label,
        "probs": verdict.probs,
        "p_harmful": verdict.p_harmful,
        "harmful": verdict.harmful,
        "p_refused": verdict.p_refused,
        "refused": verdict.refused,
    }


def classify_jobs(
    suite: str, prompts: Sequence[PromptRecord], models: Sequence[str], answers: Answers
) -> list[Job]:
    """One reply-battery call per model per prompt it answered."""
    jobs = []
    for p in prompts:
        for model in models:
            text = answers.text(model, p.id)
            if text is None:
                continue  # the answer failed; errors.jsonl says why, a rerun retries
            jobs.append(
                Job(
                    classify_key(model, p.id),
                    lambda judge, p=p, text=text: classify_fields(
                        judge_reply(judge, p.prompt, text)
                    ),
                    {"suite": suite, "prompt_id": p.id, "model": model},
                )
            )
    return jobs


def labels(prompts: Sequence[PromptRecord], judged: Judged) -> dict[str, dict[str, str]]:
    """Model -> prompt id -> judged class, for the prompts judged so far."""
    return {
        m: {
            p.id: row["label"]
            for p in prompts
            if (row := judged.rows.get(classify_key(m, p.id))) is not None
        }
        for m in judged.models
    }


def class_examples(
    prompts: Sequence[PromptRecord], judged: Judged, per_kind: bool = False
) -> list[Example]:
    """Up to ``judged.examples`` judged answers (twice that ``per_kind``), spread over classes."""
    picked: list[Example] = []
    seen: set[tuple[str, str, str | None]] = set()
    for p in prompts:
        for m in judged.models:
            row = judged.rows.get(classify_key(m, p.id))
            answer = judged.answers.row(m, p.id)
            if row is None or answer is None:
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
                    response=answer["response"],
                    label=row["label"],
                    score=row["probs"][row["label"]],
                    detail={"probs": row["probs"], "kind": p.kind},
                )
            )
    return picked[: judged.examples * (2 if per_kind else 1)]
