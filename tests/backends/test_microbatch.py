"""Micro-batching: concurrent requests share batches, grouped by sampling options."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from charter.backends.base import Completion, GenerateParams
from charter.backends.microbatch import MicroBatcher
from charter.errors import BackendError


class Recorder:
    """A batch function that records each batch and echoes the last user message."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, GenerateParams]] = []
        self.lock = threading.Lock()

    def __call__(self, conversations, params):
        with self.lock:
            self.batches.append((len(conversations), params))
        if any(m[-1]["content"] == "boom" for m in conversations):
            raise BackendError("boom")
        return [
            Completion(text=m[-1]["content"].upper(), model_id="rec", finish_reason="stop")
            for m in conversations
        ]


def _ask(batcher, text, params):
    return batcher.submit([{"role": "user", "content": text}], params)


def test_concurrent_requests_share_batches_and_keep_their_answers():
    rec = Recorder()
    batcher = MicroBatcher(rec, batch_size=8, wait_s=0.2)
    params = GenerateParams(max_tokens=4, temperature=0.0)
    texts = [f"q{i}" for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda t: _ask(batcher, t, params).text, texts))
    assert answers == [t.upper() for t in texts]  # each caller gets its own answer
    assert sum(n for n, _ in rec.batches) == 16
    assert len(rec.batches) < 16 and max(n for n, _ in rec.batches) <= 8


def test_requests_differing_only_in_seed_share_a_batch_others_do_not():
    rec = Recorder()
    batcher = MicroBatcher(rec, batch_size=8, wait_s=0.2)
    params = [GenerateParams(max_tokens=4, seed=i) for i in range(4)]
    params += [GenerateParams(max_tokens=9, seed=i) for i in range(4)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: _ask(batcher, "x", p), params))
    sizes = sorted((p.max_tokens, n) for n, p in rec.batches)  # grouped by everything but the seed
    assert {m for m, _ in sizes} == {4, 9}
    assert all(sum(n for m, n in sizes if m == mt) == 4 for mt in (4, 9))


def test_a_failing_batch_raises_in_its_callers_and_the_batcher_goes_on():
    batcher = MicroBatcher(Recorder(), batch_size=2, wait_s=0.0)
    params = GenerateParams(max_tokens=4)
    with pytest.raises(BackendError, match="boom"):
        _ask(batcher, "boom", params)
    assert _ask(batcher, "fine", params).text == "FINE"


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size"):
        MicroBatcher(Recorder(), batch_size=0)
