"""The content-addressed request cache: keys, hits and misses, threads, the file."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from charter.backends import CachedChatModel, GenerateParams, RequestCache, ScriptedChatModel
from charter.backends.base import ChoiceScorer, Completion
from charter.errors import BackendError, CharterError
from charter.feedback.choices import require_scorer

USER = [{"role": "user", "content": "Is honesty a virtue?"}]
SEEDED = GenerateParams(temperature=0.7, seed=3)


class Counting(ScriptedChatModel):
    """A scripted model that counts the calls that reach it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.choice_calls = 0

    def choice_logprobs(self, messages, choices):
        self.choice_calls += 1
        return super().choice_logprobs(messages, choices)


@pytest.fixture
def cache(tmp_path):
    cache = RequestCache(tmp_path / "cache.sqlite")
    yield cache
    cache.close()


def test_a_second_identical_call_is_a_hit_equal_to_the_fresh_one(cache):
    backend = Counting()
    model = CachedChatModel(backend, cache)
    fresh = model.generate(USER, SEEDED)
    again = model.generate(USER, SEEDED)
    assert again == fresh and isinstance(again, Completion)
    assert len(backend.calls) == 1
    assert model.stats() == {"hits": 1, "misses": 1, "uncached": 0}
    assert cache.stats() == model.stats()


@pytest.mark.parametrize(
    ("messages", "params", "model_id"),
    [
        ([{"role": "user", "content": "Is courage a virtue?"}], SEEDED, "scripted"),
        ([{"role": "system", "content": "Be brief."}, *USER], SEEDED, "scripted"),
        (USER, GenerateParams(temperature=0.7, seed=4), "scripted"),
        (USER, GenerateParams(temperature=0.5, seed=3), "scripted"),
        (USER, GenerateParams(temperature=0.7, seed=3, max_tokens=17), "scripted"),
        (USER, GenerateParams(temperature=0.7, seed=3, stop=("\n",)), "scripted"),
        (USER, SEEDED, "scripted:other@sha256:000000000000"),
    ],
)
def test_a_changed_message_param_seed_or_model_is_a_miss(cache, messages, params, model_id):
    CachedChatModel(Counting(), cache).generate(USER, SEEDED)
    backend = Counting(model_id=model_id)
    CachedChatModel(backend, cache).generate(messages, params)
    assert len(backend.calls) == 1
    assert cache.stats()["misses"] == 2


def test_a_changed_identity_is_a_miss(cache):
    CachedChatModel(Counting(), cache, identity={"weights": [["m.gguf", 1, 1]]}).generate(
        USER, SEEDED
    )
    backend = Counting()
    CachedChatModel(backend, cache, identity={"weights": [["m.gguf", 1, 2]]}).generate(USER, SEEDED)
    assert len(backend.calls) == 1


def test_an_unseeded_sample_is_never_cached_but_greedy_is(cache):
    backend = Counting()
    model = CachedChatModel(backend, cache)
    unseeded = GenerateParams(temperature=0.7, seed=None)
    model.generate(USER, unseeded)
    model.generate(USER, unseeded)
    assert len(backend.calls) == 2
    greedy = GenerateParams(temperature=0, seed=None)
    model.generate(USER, greedy)
    model.generate(USER, greedy)
    assert len(backend.calls) == 3
    assert model.stats() == {"hits": 1, "misses": 1, "uncached": 2}


def test_choice_logprobs_are_cached_and_offered_only_when_the_model_has_them(cache):
    backend = Counting(choices=lambda messages, choices: [-0.25, -math.inf])
    model = CachedChatModel(backend, cache)
    assert isinstance(model, ChoiceScorer)
    require_scorer(model)
    assert model.choice_logprobs(USER, ["A", "B"]) == [-0.25, -math.inf]
    assert model.choice_logprobs(USER, ["A", "B"]) == [-0.25, -math.inf]
    assert backend.choice_calls == 1
    model.choice_logprobs(USER, ["B", "A"])  # other choices (or order): another request
    assert backend.choice_calls == 2

    class GenerateOnly:
        model_id = "generate-only"
        max_concurrency = 4

        def generate(self, messages, params):
            return Completion(text="x", model_id=self.model_id)

    plain = CachedChatModel(GenerateOnly(), cache)
    assert not hasattr(plain, "choice_logprobs")
    with pytest.raises(CharterError, match="gives no choice log-probs"):
        require_scorer(plain)
    assert plain.max_concurrency == 4


def test_other_attributes_are_the_wrapped_models(cache):
    backend = Counting(model_id="scripted:echo")
    model = CachedChatModel(backend, cache)
    assert model.model_id == "scripted:echo"
    assert model.calls is backend.calls
    assert model.wrapped is backend
    assert model.max_concurrency == 1  # the wrapped model declares none
    with pytest.raises(AttributeError):
        model.no_such_attribute  # noqa: B018


def test_an_extra_that_does_not_survive_json_is_not_stored(cache):
    class Tupled(ScriptedChatModel):
        def generate(self, messages, params):
            completion = super().generate(messages, params)
            return Completion(completion.text, completion.model_id, extra={"ids": (1, 2)})

    backend = Tupled()
    model = CachedChatModel(backend, cache)
    assert model.generate(USER, SEEDED).extra == {"ids": (1, 2)}
    assert model.generate(USER, SEEDED).extra == {"ids": (1, 2)}
    assert len(backend.calls) == 2  # recomputed, never read back as a list


def test_replies_callers_reject_are_never_pinned(cache):
    empty = Counting(replies=["  ", "  "])
    model = CachedChatModel(empty, cache)
    model.generate(USER, SEEDED)
    model.generate(USER, SEEDED)
    assert len(empty.calls) == 2  # an empty reply is retried, so it reaches the model again
    for unusable in ([-math.inf, -math.inf], [-0.1, math.nan], [-0.1]):
        backend = Counting(choices=lambda messages, choices, bad=unusable: bad)
        scorer = CachedChatModel(backend, cache)
        scorer.choice_logprobs(USER, ["A", "B"])
        scorer.choice_logprobs(USER, ["A", "B"])
        assert backend.choice_calls == 2


def test_concurrent_calls_from_eight_threads(cache):
    lock = threading.Lock()
    backend = Counting()
    original = backend.generate

    def locked(messages, params):  # the scripted model's `calls` list is not the point here
        with lock:
            return original(messages, params)

    backend.generate = locked
    model = CachedChatModel(backend, cache)
    requests = [
        ([{"role": "user", "content": f"prompt {i % 20}"}], GenerateParams(seed=i % 20))
        for i in range(400)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda r: model.generate(*r), requests))
    expected = [f"[scripted reply to: prompt {i % 20}]" for i in range(400)]
    assert [r.text for r in results] == expected
    stats = model.stats()
    assert stats["hits"] + stats["misses"] == 400
    assert 20 <= stats["misses"] == len(backend.calls)  # a racing first call may compute twice
    assert stats["misses"] < 400


def test_the_cache_survives_reopening_the_file(tmp_path):
    path = tmp_path / "run" / "cache.sqlite"  # the folder is made on open
    first = RequestCache(path)
    fresh = CachedChatModel(Counting(), first).generate(USER, SEEDED)
    first.close()
    first.close()  # idempotent
    reopened = RequestCache(path)
    backend = Counting()
    assert CachedChatModel(backend, reopened).generate(USER, SEEDED) == fresh
    assert backend.calls == [] and reopened.stats()["hits"] == 1
    reopened.close()


@pytest.mark.parametrize(
    "content",
    [b"this is not a database, just some text" * 100, b"SQLite format 3\x00" + b"\xff" * 4000],
)
def test_a_corrupt_file_is_one_line_naming_the_file_and_the_fix(tmp_path, content):
    path = tmp_path / "cache.sqlite"
    path.write_bytes(content)
    with pytest.raises(BackendError, match=r"cache\.sqlite: not a readable request cache") as info:
        RequestCache(path)
    message = str(info.value)
    assert "\n" not in message and "delete the file" in message and "cache: false" in message


def test_a_file_of_another_schema_is_refused(tmp_path):
    import sqlite3

    path = tmp_path / "cache.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=7")
    db.close()
    with pytest.raises(BackendError, match=r"schema version 7.*delete the file"):
        RequestCache(path)
