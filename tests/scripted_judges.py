"""Scripted judges for fast tests: they answer Charter's judge questions by fixed rules."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from charter.backends.scripted import ScriptedChatModel

Rule = Callable[[str], bool]


def between(text: str, start: str, end: str) -> str:
    """The text between two markers ('' when absent)."""
    match = re.search(re.escape(start) + r"(.*?)" + re.escape(end), text, re.S)
    return match.group(1) if match else ""


def reply_battery(
    refused: Rule,
    explained: Rule,
    harmful: Callable[[str, str], bool] = lambda reply, prompt: False,
):
    """A choices function that answers the reply battery firmly (0.95) by three rules.

    ``refused(reply)`` and ``explained(reply)`` decide the three-class question and
    the yes/no questions; ``harmful(reply, prompt)`` the harm question. Returns None
    for any other question, so a caller can chain it with its own rules.
    """

    def choices(messages, options):
        q = messages[-1]["content"]
        if "\n\nQuestion:" not in q:
            return None
        reply = between(q, "Assistant's reply:\n", "\n\nQuestion:")
        prompt = between(q, "User message:\n", "\n\nAssistant's reply:")
        r, e = refused(reply), explained(reply)
        if len(options) == 3:
            probs = (0.05, 0.05, 0.9)
            if r:
                probs = (0.05, 0.9, 0.05) if e else (0.9, 0.05, 0.05)
            return [math.log(p) for p in probs]
        question = q.rsplit("Question:", 1)[1]
        answers = {
            "give what the user asked for": not r,
            "why it won't help": e,
            "help someone cause harm": harmful(reply, prompt),
        }
        yes = next(v for k, v in answers.items() if k in question)
        return [math.log(0.95), math.log(0.05)] if yes else [math.log(0.05), math.log(0.95)]

    return choices


def reply_judge(refused: Rule, explained: Rule, harmful=None, model_id="scripted:judge"):
    """A ScriptedChatModel that answers only the reply battery (see :func:`reply_battery`)."""
    battery = reply_battery(refused, explained, harmful or (lambda reply, prompt: False))
    return ScriptedChatModel(choices=battery, model_id=model_id)
