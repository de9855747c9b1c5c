"""Scripted judges and writers for the pretraining tests (no model needed)."""

from __future__ import annotations

import re

import pytest

from charter.backends.scripted import ScriptedChatModel
from charter.pretrain.corpus import iter_documents

HARMFUL = {d.text for d in iter_documents("builtin:sample") if d.meta["gold"] == "harmful"}


def _document(messages) -> str:
    match = re.search(r"<<<\n(.*?)\n>>>", messages[-1]["content"], re.S)
    return match.group(1) if match else ""


def scripted_choices(messages, choices):
    """A judge that knows the sample's gold labels; a depth grader that likes long text."""
    content = messages[-1]["content"]
    harmful = _document(messages) in HARMFUL
    if list(choices) == ["Yes", "No"]:
        reflection = re.findall(r"<<<\n(.*?)\n>>>", content, re.S)[-1]
        deep = len(reflection.split()) > 30
        return [-0.1, -3.0] if deep else [-3.0, -0.1]
    if list(choices) == ["A", "B"]:
        return [-3.0, -0.05] if harmful else [-0.05, -3.0]
    if list(choices) == ["0", "1", "2", "3"]:
        return [-4.0, -4.0, -0.1, -3.0] if harmful else [-0.1, -3.0, -4.0, -4.0]
    # which article: harmful -> letter G (2.3 manipulation), benign -> N (4.1 helpfulness)
    best = "G" if harmful else "N"
    return [-0.2 if c == best else -4.0 for c in choices]


def scripted_reply(messages, params):
    content = messages[-1]["content"]
    if "first person" in content:
        return "I notice what is at stake here and I care about the people in it."
    if "three to five sentences" in content:
        return (
            "This matters because the people involved could be hurt, and the article "
            "protects them; the rule holds here because the harm is real, and although "
            "autonomy pulls the other way, safety weighs more in this case because the "
            "choice is not freely made."
        )
    return "This bears on article 2.3."


@pytest.fixture
def scripted_model():
    return ScriptedChatModel(scripted_reply, scripted_choices, model_id="scripted-judge")
