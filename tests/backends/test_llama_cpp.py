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
    """Scores read from last-token logits equal logits_all=True rows for the same tokens.

    The reference evaluates in the same batch split (Q4 logits move by a few
    hundredths of a nat between splits), so any difference is a bug in which
    token is scored or how it is normalised.
    """
    from llama_cpp import Llama

    from charter.backends.llama_cpp import _blocks

    choices = ["A", "B) a hammer", " an apple is the fruit"]
    ours = policy_llama.choice_logprobs(QUESTION, choices)
    reference = Llama(
        model_path=str(policy_model_path()), n_ctx=2048, logits_all=True, verbose=False
    )
    try:
        prompt = policy_llama.prompt_tokens(QUESTION)
        for choice, value in zip(choices, ours, strict=True):
            tokens = policy_llama._continuation(prompt, choice)
            reference.reset()
            for start, end in _blocks(len(prompt)):
                reference.eval(prompt[start:end])
            for token in tokens[:-1]:
                reference.eval([token])
            rows = reference.scores[len(prompt) - 1 : len(prompt) - 1 + len(tokens)].astype(float)
            logp = rows - rows.max(1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(1, keepdims=True))
            expected = float(sum(logp[i, t] for i, t in enumerate(tokens)))
            assert value == pytest.approx(expected, abs=1e-3), choice
    finally:
        reference.close()  # free it now, not during interpreter teardown


def test_replies_equal_create_chat_completion(policy_llama):
    """Same template, same tokens: greedy replies match llama-cpp-python's own chat call."""
    for prompt in ("Name three primary colours.", "Write a haiku about rain."):
        messages = [{"role": "user", "content": prompt}]
        ours = policy_llama.generate(messages, GenerateParams(max_tokens=32, temperature=0.0))
        policy_llama.llm.reset()
        raw = policy_llama.llm.create_chat_completion(
            messages=messages, max_tokens=32, temperature=0.0
        )
        assert ours.text == raw["choices"][0]["message"]["content"].strip()


def test_results_do_not_depend_on_earlier_calls(policy_llama):
    params = GenerateParams(max_tokens=16, temperature=0.9, seed=3)
    scores = policy_llama.choice_logprobs(QUESTION, ["A", "B"])
    reply = policy_llama.generate(QUESTION, params)
    # Calls that share the template's system prefix (reused blocks) and one that
    # shares the whole question (a longer reusable prefix) come in between.
    other = [{"role": "user", "content": "Pick one: A) sky B) sea"}]
    longer = [
        QUESTION[0],
        {"role": "assistant", "content": "A"},
        {"role": "user", "content": "Why?"},
    ]
    policy_llama.choice_logprobs(other, ["A", "B"])
    policy_llama.generate(other, params)
    policy_llama.generate(longer, params)
    policy_llama.choice_logprobs(longer, ["A", "B"])
    policy_llama.choice_logprobs(QUESTION, ["B) a hammer"])  # same prompt, cache fully warm
    assert policy_llama.choice_logprobs(QUESTION, ["A", "B"]) == scores
    assert policy_llama.generate(QUESTION, params).text == reply.text


def test_fast_prefix_cache_scores_close_to_reproducible(policy_llama):
    from charter.backends import ModelSpec, load_chat_model

    fast = load_chat_model(ModelSpec(model="embedded:policy", n_ctx=2048, prefix_cache="fast"))
    assert fast.prefix_cache == "fast" and policy_llama.prefix_cache == "reproducible"
    fast.choice_logprobs([{"role": "user", "content": "Pick one: A) sky B) sea"}], ["A", "B"])
    assert fast.choice_logprobs(QUESTION, ["A", "B"]) == pytest.approx(
        policy_llama.choice_logprobs(QUESTION, ["A", "B"]), abs=0.1
    )


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


def test_prompt_ending_on_a_block_boundary(policy_llama):
    """A prompt made only of whole cached blocks still gets fresh logits for its last token."""
    words = ["Is"]
    while len(policy_llama.prompt_tokens([{"role": "user", "content": " ".join(words)}])) % 16:
        words.append("very")
    messages = [{"role": "user", "content": " ".join(words) + ""}]
    first = policy_llama.choice_logprobs(messages, ["Yes", "No"])
    policy_llama.choice_logprobs(messages, ["Maybe so"])  # leaves later-token logits behind
    assert policy_llama.choice_logprobs(messages, ["Yes", "No"]) == first


def test_block_layout_is_fixed_by_position():
    from charter.backends.llama_cpp import _blocks

    assert _blocks(0) == []
    assert _blocks(20) == [(0, 16), (16, 20)]
    assert _blocks(200) == [
        (0, 16),
        (16, 32),
        (32, 48),
        (48, 64),
        (64, 128),
        (128, 192),
        (192, 200),
    ]


def test_models_close_deterministically_and_exit_without_tracebacks():
    """Issue 15: runs ended with a ``Llama.__del__`` traceback when a model was freed during
    interpreter teardown. Models close on ``close()``/``with`` and, still open, at exit."""
    import subprocess
    import sys

    script = (
        "import builtins\n"
        "from charter.backends.registry import ModelSpec, load_chat_model\n"
        "spec = ModelSpec(model='embedded:policy', n_ctx=256)\n"
        "with load_chat_model(spec) as closed:\n"
        "    pass\n"
        "closed.close()  # idempotent\n"
        "kept = load_chat_model(spec)\n"
        "kept.cycle = kept  # a reference cycle, freed only by the last collection\n"
        "builtins._charter_kept = kept  # held to the very end of teardown\n"
        "from charter.backends.llama_cpp import _OPEN\n"
        "assert closed not in _OPEN and kept in _OPEN\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
