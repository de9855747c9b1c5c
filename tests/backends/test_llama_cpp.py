"""The llama.cpp backend on the real embedded models."""

from __future__ import annotations

import math

import numpy as np
import pytest

from charter.backends import GenerateParams, normalize_choices
from charter.backends.embedded import policy_model_path

pytestmark = pytest.mark.model

QUESTION = [
    {
        "role": "user",
        "content": "Which of these is a fruit? A) an apple B) a hammer. Answer with the letter.",
    }
]


def test_policy_generates_deterministically_under_a_seed(policy_llama):
    params = GenerateParams(max_tokens=24, temperature=0.8, seed=11)
    first = policy_llama.generate(QUESTION, params)
    again = policy_llama.generate(QUESTION, params)
    assert first.text and first.text == again.text
    assert first.completion_tokens <= 24
    assert first.model_id.startswith("llama_cpp:SmolLM2-135M-Instruct-Q4_1@sha256:")


def test_choice_logprobs_match_a_full_logits_reference(policy_llama):
    """Scoring from last-token logits with a cached prompt equals logits_all=True scoring."""
    from llama_cpp import Llama

    choices = ["A", "B) a hammer", " an apple is the fruit"]
    ours = policy_llama.choice_logprobs(QUESTION, choices)
    reference = Llama(
        model_path=str(policy_model_path()), n_ctx=2048, logits_all=True, verbose=False
    )
    prompt = policy_llama.prompt_tokens(QUESTION)
    for choice, value in zip(choices, ours, strict=True):
        tokens = policy_llama._continuation(prompt, choice)
        reference.reset()
        reference.eval(prompt + tokens)
        scores = reference.scores[len(prompt) - 1 : len(prompt) - 1 + len(tokens)]
        logp = (
            scores
            - np.log(np.exp(scores - scores.max(1, keepdims=True)).sum(1, keepdims=True))
            - scores.max(1, keepdims=True)
        )
        expected = float(sum(logp[i, t] for i, t in enumerate(tokens)))
        assert value == pytest.approx(expected, abs=1e-2), choice


def test_results_do_not_depend_on_earlier_calls(policy_llama):
    params = GenerateParams(max_tokens=16, temperature=0.9, seed=3)
    scores = policy_llama.choice_logprobs(QUESTION, ["A", "B"])
    reply = policy_llama.generate(QUESTION, params)
    other = [{"role": "user", "content": "Pick one: A) sky B) sea"}]
    policy_llama.choice_logprobs(other, ["A", "B"])
    policy_llama.generate(other, params)
    assert policy_llama.choice_logprobs(QUESTION, ["A", "B"]) == scores
    assert policy_llama.generate(QUESTION, params).text == reply.text


def test_feedback_model_prefers_the_right_answer(feedback_llama):
    probs = normalize_choices(feedback_llama.choice_logprobs(QUESTION, ["A", "B"]))
    assert probs[0] > 0.7
    reply = feedback_llama.generate(QUESTION, GenerateParams(max_tokens=8, temperature=0.0))
    assert "A" in reply.text
    assert all(math.isfinite(x) for x in feedback_llama.choice_logprobs(QUESTION, ["Yes", "No"]))


def test_overlong_prompt_is_a_clear_error(policy_llama):
    from charter.errors import BackendError

    huge = [{"role": "user", "content": "word " * 5000}]
    with pytest.raises(BackendError, match="context window"):
        policy_llama.choice_logprobs(huge, ["A", "B"])
