"""Run one function over many documents: in this process, or on Ray Data.

The stages hand over a *worker factory* - a picklable callable that builds the
per-document function (loading its model) - and ``(key, item)`` pairs. The
``local`` engine builds one worker and feeds it through
:func:`charter.backends.batch.map_concurrent`; the ``ray`` engine ships the
factory to ``workers`` Ray actors and streams the items through Ray Data's
``map_batches`` (each actor builds its worker once: one model per actor).
Either way results come back to the caller as ``(key, result or
CharterError)`` in completion order, and the caller alone writes rows, so
resumability and provenance are the same on both engines.

Ray runs a local cluster (``ray.init(num_cpus=workers)``) unless
``RAY_ADDRESS`` points at an existing one; nothing is downloaded
(:func:`charter.backends.ray_pool.start_ray`, shared with ``charter run --engine ray``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from charter.backends.batch import map_concurrent
from charter.backends.ray_pool import start_ray
from charter.errors import CharterError, RunError, missing_extra

Engine = Literal["local", "ray"]
WorkerFactory = Callable[[], Callable[[Any], Any]]


def map_documents(
    factory: WorkerFactory,
    items: Iterable[tuple[str, Any]],
    engine: Engine = "local",
    workers: int = 1,
    concurrency: int | None = None,
    limit: int = 1,
    batch_size: int = 4,
) -> Iterator[tuple[str, Any]]:
    """Yield ``(key, fn(item) or the CharterError it raised)`` for each item.

    Args:
        factory: builds the per-item function; called once per process/actor.
        items: ``(key, item)`` pairs; items must be JSON-serialisable for Ray.
        engine: ``local`` or ``ray``.
        workers: Ray actors (one model each); ignored by ``local``.
        concurrency: calls in flight for ``local`` (bounded by ``limit``).
        limit: the local worker's own concurrency bound (its backend's).
        batch_size: items per Ray batch.
    """
    if engine == "local":
        yield from map_concurrent(factory(), items, concurrency, limit)
        return
    if engine != "ray":
        raise RunError(f"engine {engine!r} is unknown; use local or ray.")
    yield from _ray_map(factory, items, workers, batch_size)


class _RayWorker:
    """A Ray Data actor: builds the worker once, maps each batch of items."""

    def __init__(self, factory: WorkerFactory) -> None:
        self.fn = factory()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        keys, oks, payloads = [], [], []
        for key, item in zip(batch["key"], batch["item"], strict=True):
            try:
                result, ok = self.fn(json.loads(item)), True
            except CharterError as exc:
                result, ok = {"type": type(exc).__name__, "message": str(exc)}, False
            keys.append(key)
            oks.append(ok)
            # JSON strings keep Arrow from guessing a schema per batch.
            payloads.append(json.dumps(result, default=_plain))
        return {"key": keys, "ok": oks, "payload": payloads}


def _plain(value: Any) -> Any:
    to_row = getattr(value, "to_row", None)
    if callable(to_row):
        return to_row()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _ray_map(
    factory: WorkerFactory, items: Iterable[tuple[str, Any]], workers: int, batch_size: int
) -> Iterator[tuple[str, Any]]:
    try:
        import ray
        import ray.data
    except ImportError:
        raise missing_extra("ray[data]", "ray") from None
    rows = [{"key": key, "item": json.dumps(item)} for key, item in items]
    if not rows:
        return
    start_ray(workers)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the stage draws its own bar
    blocks = max(workers, -(-len(rows) // batch_size))  # enough blocks to feed every actor
    dataset = ray.data.from_items(rows, override_num_blocks=blocks)
    mapped = dataset.map_batches(
        _RayWorker,
        fn_constructor_args=(factory,),
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=workers),  # one model per actor
        num_cpus=1,
        batch_format="default",
    )
    for row in mapped.iter_rows():
        payload = json.loads(row["payload"])
        if row["ok"]:
            yield row["key"], payload
        else:
            yield row["key"], RunError(f"{payload['type']}: {payload['message']}")
