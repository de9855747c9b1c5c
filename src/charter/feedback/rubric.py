"""Pointwise rubrics: one response, one question, the answer read from choice log-probs.

A :class:`Rubric` is a multiple-choice question about one item (a system
message, optional worked examples shown as earlier turns, and an item
template); :meth:`Rubric.probs` returns the probability of each labelled
choice. :func:`yes_no_battery` asks several short yes/no questions about the
same item, the item first and the question last, so a backend with prefix
reuse (llama.cpp here) evaluates the item once for all of them: decomposed
questions cost little more than one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from charter.backends.base import Message
from charter.feedback.choices import choice_probs


@dataclass(frozen=True)
class Rubric:
    """A multiple-choice question about one item.

    Args:
        system: the judge's instructions (the rubric's classes, the answer format).
        template: the item, a ``str.format`` string over the item's fields.
        choices: the answer strings scored (e.g. ``("A", "B", "C")``).
        labels: the class each choice stands for, in the same order.
        examples: worked examples ``(fields, choice)`` shown as earlier turns.
    """

    system: str
    template: str
    choices: tuple[str, ...]
    labels: tuple[str, ...]
    examples: tuple[tuple[Mapping[str, str], str], ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.choices) != len(self.labels) or len(self.choices) < 2:
            raise ValueError("a rubric needs two or more choices, one label each")

    def messages(self, **fields: str) -> list[Message]:
        """The conversation whose next token is the choice."""
        out: list[Message] = [{"role": "system", "content": self.system}]
        for shot, choice in self.examples:
            out.append({"role": "user", "content": self.template.format(**shot)})
            out.append({"role": "assistant", "content": choice})
        out.append({"role": "user", "content": self.template.format(**fields)})
        return out

    def probs(self, scorer: Any, **fields: str) -> dict[str, float]:
        """P(each label), normalised over the choices.

        Raises:
            MalformedOutputError: the judge's log-probs are unusable.
        """
        values = choice_probs(scorer, self.messages(**fields), self.choices)
        return dict(zip(self.labels, values, strict=True))


#: The system message of :func:`yes_no_battery`.
YES_NO_SYSTEM = (
    "You read one exchange between a user and an AI assistant, then answer one question "
    "about the assistant's reply, in exactly the form the question asks for."
)

#: The item of :func:`yes_no_battery`: the exchange first, the question last.
YES_NO_TEMPLATE = """\
User message:
{prompt}

Assistant's reply:
{response}

Question: {question}"""

YES, NO = "Yes", "No"


def yes_probability(scorer: Any, messages: Sequence[Message]) -> float:
    """P(Yes) over {Yes, No} after ``messages``."""
    return choice_probs(scorer, messages, (YES, NO))[0]


def battery_messages(
    question: str, system: str = YES_NO_SYSTEM, template: str = YES_NO_TEMPLATE, **fields: str
) -> list[Message]:
    """One question about one item: the item first, the question last."""
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": template.format(question=question, **fields)},
    ]


def yes_no_battery(
    scorer: Any,
    questions: Mapping[str, str],
    system: str = YES_NO_SYSTEM,
    template: str = YES_NO_TEMPLATE,
    **fields: str,
) -> dict[str, float]:
    """P(Yes) for each named question about one item (the item's prefix is shared).

    Each question should end by asking for Yes or No.

    Raises:
        MalformedOutputError: the judge's log-probs are unusable for some question.
    """
    return {
        name: yes_probability(scorer, battery_messages(question, system, template, **fields))
        for name, question in questions.items()
    }
