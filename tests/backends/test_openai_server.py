"""The openai backend against a real OpenAI-compatible server (llama.cpp's)."""

from __future__ import annotations

import math

import pytest

from charter._util.net import free_port, llama_server
from charter.backends import (
    GenerateParams,
    ModelSpec,
    generate_many,
    load_chat_model,
    normalize_choices,
)
from charter.backends.embedded import policy_model_path
from charter.errors import ServerError

pytestmark = [pytest.mark.model, pytest.mark.server]

QUESTION = [
    {
        "role": "user",
        "content": "Which of these is a fruit? A) an apple B) a hammer. Answer with the letter.",
    }
]


@pytest.fixture(scope="module")
def server_url():
    with llama_server(policy_model_path(), "smol", logits_all=True) as url:
        yield url


def test_generate_and_batch_through_a_real_server(server_url):
    model = load_chat_model(
        ModelSpec(backend="openai", model="smol", base_url=server_url, concurrency=2)
    )
    single = model.generate(QUESTION, GenerateParams(max_tokens=16, temperature=0.0))
    assert single.text and single.prompt_tokens > 0
    requests = [
        (
            i,
            [{"role": "user", "content": f"Say the number {i}."}],
            GenerateParams(max_tokens=8, temperature=0.0),
        )
        for i in range(4)
    ]
    results = dict(generate_many(model, requests))
    assert sorted(results) == [0, 1, 2, 3]
    assert all(r.text for r in results.values())


def test_server_choice_logprobs_match_local_scoring(server_url, policy_llama):
    remote = load_chat_model(ModelSpec(backend="openai", model="smol", base_url=server_url))
    served = remote.choice_logprobs(QUESTION, ["A", "B"])
    remote.close()
    local = policy_llama.choice_logprobs(QUESTION, ["A", "B"])
    assert served == pytest.approx(local, abs=0.05)
    assert normalize_choices(served)[0] > 0.8  # exact tokens: the answer, A, wins


def test_server_scores_a_missing_choice_through_the_grammar(server_url, policy_llama):
    # "Q" is far outside the top 20 tokens; auto finds that the server ignores the
    # vLLM fields and honours a GBNF grammar, whose forced token carries the
    # model's own log-prob (llama.cpp reports log-probs before sampling).
    model = load_chat_model(ModelSpec(backend="openai", model="smol", base_url=server_url))
    values = model.choice_logprobs(QUESTION, ["A", "B", "Q"])
    model.close()
    assert model.constraint_in_use == "grammar"
    assert all(math.isfinite(v) for v in values)
    assert values[2] < min(values[:2])
    local = policy_llama.choice_logprobs(QUESTION, ["A", "B", "Q"])
    assert values == pytest.approx(local, abs=0.05)


def test_unreachable_server_is_one_clear_error():
    model = load_chat_model(
        ModelSpec(
            backend="openai",
            model="x",
            base_url=f"http://127.0.0.1:{free_port()}/v1",
            max_retries=1,
        )
    )
    with pytest.raises(ServerError, match="cannot reach"):
        model.generate(QUESTION, GenerateParams(max_tokens=4))
