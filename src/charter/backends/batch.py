"""Run many generation requests through one model, yielding results as they finish.

Local backends (llama.cpp, transformers) hold one model in one process and
answer one request at a time (``max_concurrency`` 1); server backends declare
how many requests they allow in flight and are fed that many worker threads.
Failures come back as values, not exceptions, so one bad request never sinks
a batch: the caller records it and moves on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from charter.backends.base import ChatModel, Completion, GenerateParams, Message
from charter.errors import CharterError

K = TypeVar("K")


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
    limit = concurrency or getattr(model, "max_concurrency", 1)
    limit = max(1, min(limit, getattr(model, "max_concurrency", limit)))
    if limit == 1:
        for key, messages, params in requests:
            yield key, _call(model, messages, params)
        return
    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="charter-gen") as pool:
        pending: dict[Future, K] = {}
        source = iter(requests)
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < limit:
                try:
                    key, messages, params = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending[pool.submit(_call, model, messages, params)] = key
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()


def _call(model: ChatModel, messages: Sequence[Message], params: GenerateParams):
    try:
        return model.generate(messages, params)
    except CharterError as exc:
        return exc
