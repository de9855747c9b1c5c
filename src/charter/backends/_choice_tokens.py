"""Reading answer choices from an OpenAI-compatible server's ``top_logprobs``.

A top token counts for a choice only when it *spells* the choice exactly: the
token stripped of whitespace (and SentencePiece's ``\u2581`` space mark) equals
the choice, casefolded only when asked. Never a prefix: "Both" is not "B".
Every token that spells the same choice adds to it (log-sum-exp). When a choice
is missing from the list, :func:`constraint_fields` builds the request fields
that force a one-token reply to be that choice (vLLM structured outputs or
guided choice, llama.cpp's GBNF grammar), so its log-prob can be read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

# A constrained log-prob may exceed the lowest unconstrained top log-prob by this
# much (nats) before we decide the server reported post-constraint probabilities:
# batched GPU servers are not bit-for-bit deterministic between two requests.
CONSTRAINT_TOLERANCE = 0.05

ChoiceConstraint = Literal["auto", "vllm", "grammar", "none"]
# The request fields tried, in order, for each setting of ``choice_constraint``.
CONSTRAINT_METHODS: dict[str, tuple[str, ...]] = {
    "auto": ("structured_outputs", "guided_choice", "grammar"),
    "vllm": ("structured_outputs", "guided_choice"),
    "grammar": ("grammar",),
    "none": (),
}


def spell(token: str, ignore_case: bool = False) -> str:
    """The choice a token spells: stripped of whitespace (and ``▁``), casefolded if asked."""
    text = token.replace("\u2581", " ").strip()
    return text.casefold() if ignore_case else text


def logsumexp(values: Sequence[float]) -> float:
    """``log(sum(exp(v)))`` without overflow; ``-inf`` for no mass."""
    top = max(values, default=-math.inf)
    if top == -math.inf:
        return -math.inf
    return top + math.log(sum(math.exp(v - top) for v in values))


def match_top_logprobs(
    top: Sequence[Mapping[str, Any]], keys: Sequence[str], ignore_case: bool = False
) -> list[float]:
    """Per choice key, the summed log-prob of the listed tokens that spell it exactly.

    Args:
        top: ``top_logprobs`` entries, ``{"token": str, "logprob": float, ...}``.
        keys: the choices as :func:`spell` writes them.
        ignore_case: casefold tokens before comparing (keys must be casefolded too).
    """
    found: dict[str, list[float]] = {key: [] for key in keys}
    for entry in top:
        key = spell(str(entry.get("token") or ""), ignore_case)
        if key in found:
            found[key].append(float(entry["logprob"]))
    return [logsumexp(found[key]) if found[key] else -math.inf for key in keys]


def constraint_fields(method: str, choice: str) -> dict[str, Any]:
    """The request fields that force a one-token reply to be ``choice``."""
    if method == "structured_outputs":
        return {"structured_outputs": {"choice": [choice]}}
    if method == "guided_choice":
        return {"guided_choice": [choice]}
    # GBNF string literal: escape what would end or break it.
    literal = choice.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return {"grammar": f'root ::= "{literal}"'}
