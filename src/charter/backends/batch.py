"""Run many calls through one backend, yielding results as they finish.

Local backends (llama.cpp, transformers) hold one model in one process and
answer one request at a time (``max_concurrency`` 1); server backends declare
how many requests they allow in flight and are fed that many worker threads.
Failures come back as values, not exceptions, so one bad request never sinks
a batch: the caller records it and moves on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from charter.backends.base import ChatModel, Completion, GenerateParams, Message
from charter.errors import CharterError

K = TypeVar("K")
T = TypeVar("T")
R = TypeVar("R")


def map_concurrent(
    fn: Callable[[T], R],
    items: Iterable[tuple[K, T]],
    concurrency: int | None = None,
    limit: int = 1,
) -> Iterator[tuple[K, R | CharterError]]:
    """Yield ``(key, fn(item) or the CharterError it raised)`` in completion order.

    Args:
        fn: the call to make for each item.
        items: ``(key, item)`` pairs; consumed lazily, so a long source never
            sits in memory.
        concurrency: calls in flight; defaults to ``limit``.
        limit: the backend's own bound (``max_concurrency``); never exceeded.

    Any exception other than a CharterError propagates: it is a bug, not a
    backend failure.
    """
    width = max(1, min(concurrency or limit, limit))
    if width == 1:
        for key, item in items:
            yield key, _attempt(fn, item)
        return
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="charter-call") as pool:
        pending: dict[Future, K] = {}
        source = iter(items)
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < width:
                try:
                    key, item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending[pool.submit(_attempt, fn, item)] = key
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()


def generate_many(
    model: ChatModel,
    requests: Iterable[tuple[K, Sequence[Message], GenerateParams]],
    concurrency: int | None = None,
) -> Iterator[tuple[K, Completion | CharterError]]:
    """Yield ``(key, completion or error)`` for each request, in completion order.

    Args:
        model: any chat model.
        requests: ``(key, messages, params)`` triples; consumed lazily.
        concurrency: requests in flight; defaults to the model's
            ``max_concurrency`` (1 for local models).
    """
    return map_concurrent(
        lambda request: model.generate(*request),
        ((key, (messages, params)) for key, messages, params in requests),
        concurrency,
        getattr(model, "max_concurrency", 1),
    )


def _attempt(fn: Callable[[T], R], item: T) -> R | CharterError:
    try:
        return fn(item)
    except CharterError as exc:
        return exc
