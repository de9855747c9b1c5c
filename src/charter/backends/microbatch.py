"""Micro-batching: concurrent single requests in, padded batches to the model out.

A GPU generates 64 sequences in about the time it generates one, but the
pipelines issue one request per row (through :func:`charter.backends.batch.map_concurrent`).
:class:`MicroBatcher` sits between the two: callers block in :meth:`submit`
from their worker threads, and one worker thread collects what arrives within
a short window (up to ``batch_size`` requests), groups requests that can share
one ``generate`` call (same sampling options), and hands each group to the
backend's batch function. This is the dynamic batching that serving engines
such as vLLM and TGI do, reduced to what an in-process model needs.

The price is reproducibility: with sampling, a request's text depends on which
other requests shared its batch (one random stream per batch, and padding
changes the numerics slightly). Backends therefore keep ``batch_size=1`` as
the default and document the trade, like llama.cpp's ``prefix_cache: fast``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace

from charter.backends.base import Completion, GenerateParams, Message

BatchFn = Callable[[Sequence[Sequence[Message]], GenerateParams], list[Completion]]


@dataclass
class _Request:
    messages: Sequence[Message]
    params: GenerateParams
    future: Future


def _group_key(params: GenerateParams) -> GenerateParams:
    # Requests that differ only in their seed can share a batch; the batch runs
    # under the seed of its first request.
    return replace(params, seed=None)


class MicroBatcher:
    """Collects concurrent requests into batches for ``run_batch``.

    Args:
        run_batch: generates for a list of conversations under one set of
            sampling options; returns one completion per conversation, in order.
        batch_size: most requests per batch.
        wait_s: how long the first request of a batch waits for company.
    """

    def __init__(self, run_batch: BatchFn, batch_size: int, wait_s: float = 0.01) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._run_batch = run_batch
        self.batch_size = batch_size
        self._wait_s = wait_s
        self._queue: queue.Queue[_Request] = queue.Queue()
        self.batches_run = 0  # for tests and benchmarks: how well requests were batched
        self._worker = threading.Thread(target=self._loop, name="charter-microbatch", daemon=True)
        self._worker.start()

    def submit(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        """Generate for one conversation; blocks until its batch has run."""
        future: Future = Future()
        self._queue.put(_Request(messages, params, future))
        return future.result()

    def _collect(self) -> list[_Request]:
        batch = [self._queue.get()]
        deadline = time.monotonic() + self._wait_s
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                # Whatever is already queued joins at once; after the window, only that.
                batch.append(
                    self._queue.get(timeout=max(remaining, 0))
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _loop(self) -> None:
        while True:
            groups: dict[GenerateParams, list[_Request]] = {}
            for request in self._collect():
                groups.setdefault(_group_key(request.params), []).append(request)
            for members in groups.values():
                self._run(members)

    def _run(self, members: list[_Request]) -> None:
        try:
            completions = self._run_batch([m.messages for m in members], members[0].params)
        except BaseException as exc:  # handed to the callers, who raise it in their threads
            for member in members:
                member.future.set_exception(exc)
            return
        self.batches_run += 1
        for member, completion in zip(members, completions, strict=True):
            member.future.set_result(completion)
