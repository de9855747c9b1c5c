"""Protocol helpers, the scripted backend and batched generation."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from charter.backends import (
    ChatModel,
    ChoiceScorer,
    Completion,
    Embedder,
    GenerateParams,
    HashingEmbedder,
    ScriptedChatModel,
    generate_many,
    normalize_choices,
)
from charter.backends.base import check_messages
from charter.errors import BackendError

USER = [{"role": "user", "content": "hello"}]


def test_normalize_choices():
    probs = normalize_choices([math.log(0.2), math.log(0.6)])
    assert probs == pytest.approx([0.25, 0.75])
    assert normalize_choices([-math.inf, -math.inf]) == [0.5, 0.5]
    assert normalize_choices([-1000.0, -1001.0])[0] == pytest.approx(1 / (1 + math.exp(-1)))


def test_check_messages_names_the_bad_one():
    with pytest.raises(BackendError, match=r"messages\[1\]\.role"):
        check_messages([{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}])
    with pytest.raises(BackendError, match="empty"):
        check_messages([])


def test_scripted_satisfies_protocols():
    model = ScriptedChatModel(["one", "two"])
    assert isinstance(model, ChatModel) and isinstance(model, ChoiceScorer)
    assert isinstance(HashingEmbedder(), Embedder)
    assert model.generate(USER, GenerateParams()).text == "one"
    assert model.generate(USER, GenerateParams()).text == "two"
    with pytest.raises(BackendError, match="ran out"):
        model.generate(USER, GenerateParams())
    assert model.choice_logprobs(USER, ["A", "B"]) == [-0.1, -2.5]


def test_hashing_embedder_is_deterministic_and_normalised():
    e = HashingEmbedder(dim=32)
    a = e.embed(["the cat sat", "the cat sat", "tax forms due"])
    assert a.shape == (3, 32)
    assert np.allclose(np.linalg.norm(a, axis=1), 1)
    assert a[0] @ a[1] == pytest.approx(1.0)
    assert a[0] @ a[2] < 0.9


def test_generate_many_returns_errors_as_values():
    model = ScriptedChatModel(["ok", BackendError("boom"), "ok2"])
    results = dict(generate_many(model, [(i, USER, GenerateParams()) for i in range(3)]))
    assert results[0].text == "ok"
    assert isinstance(results[1], BackendError)
    assert results[2].text == "ok2"


class SlowModel:
    """Counts how many calls overlap."""

    model_id = "slow"
    max_concurrency = 4

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0
        self.lock = threading.Lock()

    def generate(self, messages, params):
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.02)
        with self.lock:
            self.active -= 1
        return Completion(text=messages[0]["content"], model_id=self.model_id)


def test_generate_many_bounds_concurrency_and_keeps_keys():
    model = SlowModel()
    requests = [(i, [{"role": "user", "content": str(i)}], GenerateParams()) for i in range(20)]
    results = dict(generate_many(model, requests, concurrency=8))
    assert {k: v.text for k, v in results.items()} == {i: str(i) for i in range(20)}
    assert 1 < model.peak <= 4  # capped by the model's own limit
