"""Prompt templates for AI-feedback preference labels (Bai et al. 2022, section 4.1).

The feedback model is shown one conversation, one constitutional principle and
two candidate replies labelled (A) and (B), and is asked which reply the
principle favours. The label is then read from the normalized probabilities of
the answer letters, not from generated text. With chain of thought (section
4.1, "CoT"), the model first writes its reasoning at temperature 0, and the
letter is scored in a follow-up turn after that reasoning.

Every template is a named constant, written for this project, and each can be
replaced through the stage spec (``comparison_template``, ``cot_template``,
``cot_answer_template``). Templates are ``str.format`` strings; a literal brace
in a custom template must be doubled (``{{``). Placeholders:

- ``{conversation}``: the exchange so far, from :func:`format_conversation`.
- ``{principle}``: the article's title and rule, optionally with the gist of
  its rationale, from :func:`format_principle`.
- ``{response_a}``, ``{response_b}``: the two candidate replies.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from charter.backends.base import Message
from charter.constitution import Article

#: The answer choices scored by the labeler, in display order.
CHOICES = ("A", "B")

#: The multiple-choice question asked per principle and per order (no reasoning).
COMPARISON_TEMPLATE = """\
You are reviewing an AI assistant's possible replies against one principle of its constitution.

The exchange so far:
{conversation}

The principle to apply:
{principle}

Which response is better according to this principle?
(A) {response_a}

(B) {response_b}

Judge only by the principle above, not by length or style. Answer with a single letter, \
A or B."""

#: The first turn of the chain-of-thought variant: reason first, no verdict yet.
COT_TEMPLATE = """\
You are reviewing an AI assistant's possible replies against one principle of its constitution.

The exchange so far:
{conversation}

The principle to apply:
{principle}

Which response is better according to this principle?
(A) {response_a}

(B) {response_b}

Before giving a verdict, reason it through in a few sentences: what does the principle ask \
of a reply to this message, and where does each response meet or miss it? Do not state the \
final letter yet."""

#: The follow-up turn after the model's reasoning; the letter is scored as its reply.
COT_ANSWER_TEMPLATE = """\
Given your reasoning, which response is better according to the principle? Answer with a \
single letter, A or B."""

#: How one conversation turn is shown inside the question.
TURN_TEMPLATE = "{speaker}: {content}"
SPEAKERS = {"system": "System", "user": "User", "assistant": "Assistant"}

#: The longest rationale gist, in characters, before it is cut at a word boundary.
RATIONALE_GIST_CHARS = 240

REQUIRED_FIELDS = ("conversation", "principle", "response_a", "response_b")


def format_conversation(prompt: str | Sequence[Message]) -> str:
    """The conversation as ``User: ...`` / ``Assistant: ...`` lines."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    return "\n".join(
        TURN_TEMPLATE.format(
            speaker=SPEAKERS.get(m["role"], m["role"]), content=m["content"].strip()
        )
        for m in messages
    )


def rationale_gist(article: Article, limit: int = RATIONALE_GIST_CHARS) -> str:
    """The rationale's opening sentence, cut at a word boundary if over ``limit`` characters.

    A short reminder of *why* the rule holds; the whole rationale would crowd out
    the responses in a small model's context.
    """
    text = " ".join(article.rationale.split())
    first = re.split(r"(?<=[.!?])\s+", text, maxsplit=1)[0]
    if len(first) <= limit:
        return first
    cut = first[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "..."


def format_principle(article: Article, rationale: bool = True) -> str:
    """The article's title and rule, and (optionally) the gist of its rationale."""
    rule = " ".join(article.rule.split())
    text = f"{article.title}: {rule}"
    if rationale:
        text += f"\nWhy it matters: {rationale_gist(article)}"
    return text


def comparison_messages(
    template: str,
    prompt: str | Sequence[Message],
    article: Article,
    response_a: str,
    response_b: str,
    rationale: bool = True,
) -> list[Message]:
    """The one-turn conversation that asks the labeler to choose between A and B."""
    question = template.format(
        conversation=format_conversation(prompt),
        principle=format_principle(article, rationale),
        response_a=response_a.strip(),
        response_b=response_b.strip(),
    )
    return [{"role": "user", "content": question}]


def cot_answer_messages(
    question: Sequence[Message], reasoning: str, answer_template: str
) -> list[Message]:
    """The question, the model's reasoning as its turn, and the request for the letter."""
    return [
        *question,
        {"role": "assistant", "content": reasoning.strip()},
        {"role": "user", "content": answer_template},
    ]


def check_template(template: str) -> None:
    """Raise ValueError unless ``template`` formats with exactly the known placeholders."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"not a valid format string ({exc}); double literal braces") from None
    unknown = sorted(fields - set(REQUIRED_FIELDS))
    if unknown:
        raise ValueError(
            f"unknown placeholder {', '.join('{' + f + '}' for f in unknown)}; "
            f"use {', '.join('{' + f + '}' for f in REQUIRED_FIELDS)}"
        )
    missing = [f for f in REQUIRED_FIELDS if f not in fields]
    if missing:
        raise ValueError(f"the template lacks {', '.join('{' + f + '}' for f in missing)}")
