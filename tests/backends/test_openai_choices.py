"""Choice log-probs over OpenAI-compatible servers: exact token matching and constrained retries.

Scripted tests replay reply shapes recorded after vLLM, llama.cpp server and the
OpenAI API (``data/choice_replies.json``); tests/backends/test_openai_server.py
runs the same path against a real llama.cpp server on loopback.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from charter.backends import ModelSpec, load_chat_model, normalize_choices
from charter.backends._choice_tokens import constraint_fields, logsumexp
from charter.backends.openai_compat import OpenAIChatModel
from charter.errors import BackendError, MalformedOutputError
from charter.feedback.choices import checked_logprobs, choice_probs

DATA = json.loads((Path(__file__).parent / "data" / "choice_replies.json").read_text())
USER = [{"role": "user", "content": "Which is a fruit? A) apple B) hammer C) brick"}]
CONSTRAINT_FIELDS = ("structured_outputs", "guided_choice", "grammar")


def recorded(name: str) -> httpx.Response:
    return httpx.Response(200, json=copy.deepcopy(DATA[name]))


def forced(name: str, token: str, logprob: float) -> httpx.Response:
    """A recorded constrained reply whose sampled token is ``token``."""
    body = copy.deepcopy(DATA[name])
    first = body["choices"][0]["logprobs"]["content"][0]
    first["token"], first["logprob"] = token, logprob
    body["choices"][0]["message"]["content"] = token
    return httpx.Response(200, json=body)


def rejected() -> httpx.Response:
    return httpx.Response(400, json=DATA["openai_unrecognized_argument"])


def constraint_of(body: dict) -> str | None:
    found = [field for field in CONSTRAINT_FIELDS if field in body]
    assert len(found) <= 1, f"several constraints in one request: {found}"
    return found[0] if found else None


class Server:
    """A scripted server: ``answer(constraint, body)`` gives the reply; bodies are kept."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["max_tokens"] == 1 and body["logprobs"] is True
        assert body["temperature"] == 0.0 and body["top_logprobs"] == 20
        self.bodies.append(body)
        return self.answer(constraint_of(body), body)

    @property
    def constraints(self) -> list[str | None]:
        return [constraint_of(body) for body in self.bodies]


def make(server: Server, **kwargs) -> OpenAIChatModel:
    return OpenAIChatModel(
        "m",
        base_url="http://test/v1",
        api_key="k",
        backoff=0.001,
        transport=httpx.MockTransport(server),
        **kwargs,
    )


def test_issue_case_both_is_not_b_and_a_leading_space_still_spells_a():
    # Top tokens Both -0.2, " A" -1.5, B -3.0: first-character matching said P(B) = 0.79.
    server = Server(lambda constraint, body: recorded("openai_issue"))
    model = make(server)
    values = model.choice_logprobs(USER, ["A", "B"])
    model.close()
    assert values == [-1.5, -3.0]
    p_b = normalize_choices(values)[1]
    assert p_b == pytest.approx(math.exp(-3.0) / (math.exp(-1.5) + math.exp(-3.0)))
    assert p_b == pytest.approx(0.1824, abs=1e-4)
    assert server.constraints == [None]  # both choices were listed: no second request


def test_tokens_spelling_one_choice_are_summed_and_distractors_ignored():
    # vLLM lists " A" and "A" (and "B\n", " B", "▁B") as separate tokens; "Answer",
    # "As", "Both" and the lowercase "a" spell no choice.
    server = Server(lambda constraint, body: recorded("vllm_duplicates"))
    model = make(server)
    values = model.choice_logprobs(USER, ["A", "B", "C"])
    model.close()
    assert values[0] == pytest.approx(logsumexp([-0.9, -1.2]))
    assert values[0] == pytest.approx(math.log(math.exp(-0.9) + math.exp(-1.2)))
    assert values[1] == pytest.approx(logsumexp([-2.5, -3.5, -4.0]))
    assert values[2] == -9999.0  # listed (vLLM's floor value), so no constrained retry
    assert server.constraints == [None]


def test_case_matters_unless_choice_ignore_case_is_set():
    server = Server(lambda constraint, body: recorded("llamacpp_lowercase"))
    strict = make(server, choice_constraint="none")
    assert strict.choice_logprobs(USER, ["A", "B"]) == [-2.0, -3.0]
    strict.close()
    relaxed = make(server, choice_ignore_case=True)
    values = relaxed.choice_logprobs(USER, ["A", "B"])
    relaxed.close()
    assert values == pytest.approx([logsumexp([-0.5, -2.0]), logsumexp([-1.0, -3.0])])
    assert server.constraints == [None, None]


def test_choices_must_be_present_and_distinct_under_the_rule():
    def never(constraint, body):
        raise AssertionError("no request should be sent for bad choices")

    model = make(Server(never))
    with pytest.raises(BackendError, match="choices is empty"):
        model.choice_logprobs(USER, [])
    with pytest.raises(BackendError, match=r"not distinct after stripping whitespace;.*'A'"):
        model.choice_logprobs(USER, ["A", " A"])
    with pytest.raises(BackendError, match="empty or not distinct"):
        model.choice_logprobs(USER, ["A", "  "])
    model.close()
    caseless = make(Server(never), choice_ignore_case=True)
    with pytest.raises(BackendError, match="after stripping whitespace and case"):
        caseless.choice_logprobs(USER, ["A", "a"])
    caseless.close()


def test_missing_choice_is_asked_again_with_vllm_structured_outputs():
    def answer(constraint, body):
        if constraint is None:
            return recorded("vllm_missing_c")
        assert constraint == "structured_outputs"
        assert body["structured_outputs"] == {"choice": ["C"]}
        return recorded("vllm_forced_c")

    server = Server(answer)
    model = make(server)
    assert model.choice_logprobs(USER, ["A", "B", "C"]) == [-0.3, -1.8, -7.25]
    assert model.constraint_in_use == "structured_outputs"
    assert model.choice_logprobs(USER, ["A", "B", "C"]) == [-0.3, -1.8, -7.25]
    model.close()
    assert server.constraints == [None, "structured_outputs", None, "structured_outputs"]


def test_older_vllm_ignores_structured_outputs_then_honours_guided_choice(caplog):
    def answer(constraint, body):
        if constraint == "guided_choice":
            assert body["guided_choice"] == ["C"]
            return recorded("vllm_forced_c")
        return recorded("vllm_missing_c")  # unknown fields are ignored, not refused

    server = Server(answer)
    model = make(server)
    with caplog.at_level(logging.WARNING, logger="charter.backends.openai_compat"):
        assert model.choice_logprobs(USER, ["A", "B", "C"])[2] == -7.25
        model.choice_logprobs(USER, ["A", "B", "C"])
    model.close()
    assert model.constraint_in_use == "guided_choice"
    assert "not using structured_outputs" in caplog.text and "ignoring the field" in caplog.text
    assert server.constraints == [
        None,
        "structured_outputs",
        "guided_choice",
        None,
        "guided_choice",
    ]


def test_server_answering_400_to_guided_choice_falls_back_to_a_grammar():
    def answer(constraint, body):
        if constraint is None:
            return recorded("vllm_missing_c")
        if constraint == "grammar":
            assert body["grammar"] == 'root ::= "C"'
            return recorded("llamacpp_forced_c")
        return rejected()

    server = Server(answer)
    model = make(server)
    assert model.choice_logprobs(USER, ["A", "B", "C"]) == [-0.3, -1.8, -8.5]
    model.close()
    assert model.constraint_in_use == "grammar"
    # A 400 is an answer, not a failure: each field was tried once, never retried.
    assert server.constraints == [None, "structured_outputs", "guided_choice", "grammar"]


def test_choice_no_constraint_can_score_is_minus_inf_with_a_warning(caplog):
    server = Server(lambda c, body: recorded("vllm_missing_c") if c is None else rejected())
    model = make(server)
    with caplog.at_level(logging.WARNING, logger="charter.backends.openai_compat"):
        values = model.choice_logprobs(USER, ["A", "B", "C"])
    assert values == [-0.3, -1.8, -math.inf]
    assert "choice 'C' is not among the server's top 4 tokens" in caplog.text
    # What the server refused is remembered: the next question sends one request.
    model.choice_logprobs(USER, ["A", "B", "C"])
    assert server.constraints == [None, *CONSTRAINT_FIELDS, None]
    # The feedback layer accepts a choice without mass ...
    assert choice_probs(model, USER, ["A", "B", "C"])[2] == 0.0
    # ... but not a question where no choice has any.
    with pytest.raises(MalformedOutputError, match=r"none of the choices \(X, Y\)"):
        checked_logprobs(model, USER, ["X", "Y"])
    model.close()


def test_choice_constraint_none_never_asks_again():
    server = Server(lambda constraint, body: recorded("vllm_missing_c"))
    model = make(server, choice_constraint="none")
    assert model.choice_logprobs(USER, ["A", "C"]) == [-0.3, -math.inf]
    model.close()
    assert server.constraints == [None]


def test_post_constraint_log_probs_are_not_trusted():
    # A server that reports log-probs after its mask gives the forced token 0.0,
    # more likely than every listed token: not the model's probability.
    def answer(constraint, body):
        if constraint is None:
            return recorded("vllm_missing_c")
        return forced("vllm_forced_c", "C", 0.0)

    server = Server(answer)
    model = make(server, choice_constraint="vllm")
    assert model.choice_logprobs(USER, ["A", "C"]) == [-0.3, -math.inf]
    model.close()
    assert model.constraint_in_use is None
    assert server.constraints == [None, "structured_outputs", "guided_choice"]


def test_multi_token_choice_is_reported_not_matched_by_prefix(caplog):
    def answer(constraint, body):
        if constraint is None:
            return recorded("vllm_missing_c")
        return forced("llamacpp_forced_c", "May", -9.0)

    server = Server(answer)
    model = make(server, choice_constraint="grammar")
    with caplog.at_level(logging.WARNING, logger="charter.backends.openai_compat"):
        assert model.choice_logprobs(USER, ["A", "Maybe"]) == [-0.3, -math.inf]
    model.close()
    assert "'Maybe' is more than one token" in caplog.text
    assert model.constraint_in_use == "grammar"  # the grammar worked; the label is the problem


def test_options_thread_through_model_spec():
    model = load_chat_model(
        ModelSpec(
            backend="openai",
            model="m",
            base_url="http://test/v1",
            choice_ignore_case=True,
            choice_constraint="grammar",
        )
    )
    assert model.choice_ignore_case is True and model.choice_constraint == "grammar"
    default = load_chat_model(ModelSpec(backend="openai", model="m", base_url="http://test/v1"))
    assert default.choice_ignore_case is False and default.choice_constraint == "auto"
    with pytest.raises(ValidationError, match="choice_constraint"):
        ModelSpec(backend="openai", model="m", choice_constraint="logit_bias")
    with pytest.raises(BackendError, match="choice_constraint 'x' is unknown; use one of auto"):
        OpenAIChatModel("m", choice_constraint="x")  # type: ignore[arg-type]


def test_grammar_literal_is_escaped():
    assert constraint_fields("grammar", 'say "hi"\\') == {"grammar": r'root ::= "say \"hi\"\\"'}
    assert constraint_fields("guided_choice", "A") == {"guided_choice": ["A"]}
    assert constraint_fields("structured_outputs", "A") == {"structured_outputs": {"choice": ["A"]}}
