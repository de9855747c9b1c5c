"""The OpenAI-compatible backend against scripted HTTP (retries, errors, limits)."""

from __future__ import annotations

import asyncio
import json
import math

import httpx
import pytest

from charter.backends import GenerateParams, generate_many
from charter.backends.openai_compat import OpenAIChatModel
from charter.errors import BackendError, ServerError

USER = [{"role": "user", "content": "hi"}]


def reply(text="hello", **extra):
    body = {
        "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    body.update(extra)
    return httpx.Response(200, json=body)


def make(handler, **kwargs) -> OpenAIChatModel:
    kwargs.setdefault("backoff", 0.001)
    return OpenAIChatModel(
        "m",
        base_url="http://test/v1",
        api_key="k",
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


def test_generate_sends_openai_payload():
    seen = {}

    def handler(request: httpx.Request):
        seen["url"] = str(request.url)
        seen["auth"] = request.headers["authorization"]
        seen["body"] = json.loads(request.content)
        return reply("hey")

    model = make(handler)
    out = model.generate(USER, GenerateParams(max_tokens=5, temperature=0.0, seed=7, stop=("\n",)))
    model.close()
    assert out.text == "hey" and out.completion_tokens == 1
    assert seen["url"] == "http://test/v1/chat/completions"
    assert seen["auth"] == "Bearer k"
    assert seen["body"] == {
        "model": "m",
        "messages": USER,
        "max_tokens": 5,
        "temperature": 0.0,
        "top_p": 0.95,
        "seed": 7,
        "stop": ["\n"],
    }


def test_retries_429_and_5xx_then_succeeds():
    statuses = iter([429, 503, 200])

    def handler(request):
        status = next(statuses)
        if status == 200:
            return reply("finally")
        return httpx.Response(status, headers={"retry-after": "0"}, json={"error": "busy"})

    model = make(handler)
    assert model.generate(USER, GenerateParams()).text == "finally"
    model.close()


def test_gives_up_after_max_retries_with_a_clear_error():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(500, json={"error": {"message": "exploded"}})

    model = make(handler, max_retries=2)
    with pytest.raises(ServerError, match=r"HTTP 500 after 3 attempt\(s\): exploded"):
        model.generate(USER, GenerateParams())
    model.close()
    assert len(calls) == 3


def test_auth_failure_is_not_retried_and_says_how_to_fix():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(401, json={"error": {"message": "bad key"}})

    model = make(handler)
    with pytest.raises(ServerError, match=r"refused the credentials.*OPENAI_API_KEY"):
        model.generate(USER, GenerateParams())
    model.close()
    assert len(calls) == 1


def test_unreachable_server():
    def handler(request):
        raise httpx.ConnectError("connection refused")

    model = make(handler, max_retries=1)
    with pytest.raises(ServerError, match=r"cannot reach http://test/v1.*is the server running"):
        model.generate(USER, GenerateParams())
    model.close()


def test_timeout():
    def handler(request):
        raise httpx.ReadTimeout("slow")

    model = make(handler, max_retries=0, timeout=3)
    with pytest.raises(ServerError, match="did not answer within 3s"):
        model.generate(USER, GenerateParams())
    model.close()


def test_concurrency_is_bounded():
    state = {"active": 0, "peak": 0}

    async def handler(request):
        state["active"] += 1
        state["peak"] = max(state["peak"], state["active"])
        await asyncio.sleep(0.02)
        state["active"] -= 1
        return reply("x")

    model = make(handler, concurrency=3)
    requests = [(i, USER, GenerateParams()) for i in range(12)]
    results = dict(generate_many(model, requests, concurrency=10))
    model.close()
    assert len(results) == 12 and all(r.text == "x" for r in results.values())
    assert state["peak"] == 3


def test_choice_logprobs_from_top_logprobs():
    def handler(request):
        body = json.loads(request.content)
        assert body["logprobs"] is True and body["max_tokens"] == 1
        top = [
            {"token": "B", "logprob": -0.2},
            {"token": " A", "logprob": -1.8},
            {"token": "C", "logprob": -4.0},
        ]
        return reply(
            "B",
            choices=[
                {
                    "message": {"content": "B"},
                    "logprobs": {"content": [{"token": "B", "top_logprobs": top}]},
                }
            ],
        )

    model = make(handler, choice_constraint="none")
    assert model.choice_logprobs(USER, ["A", "B", "D"]) == [-1.8, -0.2, -math.inf]
    with pytest.raises(BackendError, match="not distinct after stripping whitespace"):
        model.choice_logprobs(USER, ["A", " A "])
    model.close()


def test_non_json_reply():
    model = make(lambda request: httpx.Response(200, text="<html>"))
    with pytest.raises(ServerError, match="non-JSON"):
        model.generate(USER, GenerateParams())
    model.close()
