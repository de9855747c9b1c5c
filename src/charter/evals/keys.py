"""Row keys of an ``eval`` stage's files: the one place they are built.

``responses.jsonl`` rows are keyed by model and prompt; ``judgements.jsonl``
rows by what the judge was asked. A rerun finds finished rows by these keys,
so they must never change (runs written before stay resumable).
"""

from __future__ import annotations


def response_key(model: str, prompt_id: str) -> str:
    """One model's answer to one prompt (``responses.jsonl``)."""
    return f"{model}:{prompt_id}"


def pair_key(criterion: str, prompt_id: str, first: str, second: str) -> str:
    """The judge's verdict on one pair of answers on one criterion (``judgements.jsonl``)."""
    return f"pairwise:{criterion}:{prompt_id}:{first}|{second}"


def classify_key(model: str, prompt_id: str) -> str:
    """The judged class of one answer: bare/engaged refusal or compliance (``judgements.jsonl``)."""
    return f"classify:{model}:{prompt_id}"


def guidance_key(model: str, prompt_id: str) -> str:
    """P(one answer follows the constitution's conflict guidance) (``judgements.jsonl``)."""
    return f"guidance:{model}:{prompt_id}"
