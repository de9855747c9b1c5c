"""A content-addressed request cache: reuse model calls across reruns.

Each call is keyed by the SHA-256 of a canonical JSON of what determines its
result: the kind of call (``generate`` or ``choices``), the model id (which for
the embedded models already names the weights, ``llama_cpp:...@sha256:cc324af070c2``),
the messages, every generation parameter including the seed, and the answer
choices. A rerun after one constitution article changes then recomputes only
the requests whose text changed; every other call is read back from the file.

Charter's backends are deterministic given a seed, even when they sample
(temperature > 0), so such a call is cacheable. A call with ``seed=None`` and
temperature > 0 asks for a fresh sample each time; it is never cached.

Storage is one SQLite table (stdlib ``sqlite3``, WAL journal) of
``key -> JSON value``: a :class:`~charter.backends.base.Completion`'s fields or
a list of choice log-probabilities. Usage::

    cache = RequestCache("runs/demo/cache.sqlite")
    model = CachedChatModel(load_chat_model(spec), cache)
    model.generate(messages, GenerateParams(seed=1))  # computed, then stored
    model.generate(messages, GenerateParams(seed=1))  # read back
    model.stats()  # {"hits": 1, "misses": 1, "uncached": 0}; cache.stats() sums all models
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from charter.backends.base import ChatModel, Completion, GenerateParams, Message, check_messages
from charter.errors import BackendError

SCHEMA_VERSION = 1  # stored in PRAGMA user_version; another value is not our file
_SCHEMA = "CREATE TABLE IF NOT EXISTS requests (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def request_key(
    kind: str,
    model_id: str,
    messages: Sequence[Message],
    params: GenerateParams | None = None,
    choices: Sequence[str] | None = None,
    identity: Any = None,
) -> str:
    """SHA-256 (hex) of the canonical JSON of one request.

    Args:
        kind: ``"generate"`` or ``"choices"``.
        model_id: the model's id.
        messages: the conversation (validated: only role and content count,
            which is all a backend sees).
        params: generation parameters, every field (the seed included).
        choices: the answer choices of a ``choices`` call.
        identity: JSON data that pins the model beyond its id (settings that
            change its outputs, a signature of local weights); None if the id
            suffices.
    """
    request = {
        "kind": kind,
        "model_id": model_id,
        "messages": check_messages(messages),
        "params": dataclasses.asdict(params) if params is not None else None,
        "choices": list(choices) if choices is not None else None,
    }
    if identity is not None:  # absent rather than null, so plain keys stay as documented
        request["identity"] = identity
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cacheable(params: GenerateParams) -> bool:
    """Whether a generation is reproducible: greedy, or sampled under a fixed seed."""
    return params.seed is not None or params.temperature == 0


class RequestCache:
    """A SQLite file of request results, safe to share between threads.

    One connection guarded by a lock: a lookup costs microseconds next to a
    model call, so finer locking would buy nothing. Other processes may open
    the same file (WAL lets readers run beside the one writer).

    Raises:
        BackendError: the file is not a readable cache (one line naming the
            file and the fix).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._counts = {"hits": 0, "misses": 0, "uncached": 0}
        self._db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, timeout=30, check_same_thread=False, isolation_level=None
            )
            self._db = db
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"schema version {version}, expected {SCHEMA_VERSION}")
            db.execute("PRAGMA journal_mode=WAL")
            # A crash may lose the last few writes, never corrupt the file; lost
            # writes are only recomputed, so full fsyncs per call are not worth it.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("SELECT key, value FROM requests LIMIT 1").fetchall()
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise self._unreadable(exc) from None

    def get(self, key: str) -> Any | None:
        """The stored JSON value of ``key``, or None."""
        with self._lock:
            row = self._execute("SELECT value FROM requests WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON data) under ``key``."""
        text = json.dumps(value, sort_keys=True)
        with self._lock:
            self._execute("INSERT OR REPLACE INTO requests (key, value) VALUES (?, ?)", (key, text))

    def record(self, outcome: str) -> None:
        """Count one call: ``hits``, ``misses`` or ``uncached`` (not reproducible)."""
        with self._lock:
            self._counts[outcome] += 1

    def stats(self) -> dict[str, int]:
        """Calls through every model on this cache: ``hits`` (read back), ``misses``
        (computed, then stored) and ``uncached`` (not reproducible, always computed)."""
        with self._lock:
            return dict(self._counts)

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _execute(self, sql: str, args: tuple) -> sqlite3.Cursor:
        if self._db is None:
            raise BackendError(f"{self.path}: the request cache is closed.")
        try:
            return self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: Exception) -> BackendError:
        return BackendError(
            f"{self.path}: not a readable request cache ({exc}); delete the file to start "
            "an empty one (results are recomputed), or set `cache: false` in the config."
        )


class CachedChatModel:
    """A chat model (and choice scorer, if the wrapped one is) that reads through a cache.

    Every attribute other than the calls is the wrapped model's, so the wrapper
    stands in wherever the model did (``max_concurrency``, ``close``, ...).

    Args:
        model: any :class:`~charter.backends.base.ChatModel`.
        cache: where results are stored; may be shared by several models.
        identity: JSON data that pins the model beyond ``model_id`` (see
            :func:`request_key`).
    """

    def __init__(self, model: ChatModel, cache: RequestCache, identity: Any = None) -> None:
        self._model = model
        self._cache = cache
        self._identity = identity
        self._counts = {"hits": 0, "misses": 0, "uncached": 0}
        self._lock = threading.Lock()
        self.model_id = model.model_id

    @property
    def wrapped(self) -> ChatModel:
        """The model behind the cache."""
        return self._model

    @property
    def max_concurrency(self) -> int:
        return getattr(self._model, "max_concurrency", 1)

    def stats(self) -> dict[str, int]:
        """This model's calls so far: ``hits``, ``misses`` and ``uncached``."""
        with self._lock:
            return dict(self._counts)

    def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        """The wrapped model's completion, read back when this exact request ran before."""
        if not cacheable(params):
            self._record("uncached")
            return self._model.generate(messages, params)
        key = request_key("generate", self.model_id, messages, params, identity=self._identity)
        stored = self._lookup(key)
        if stored is not None:
            return Completion(**stored)
        completion = self._model.generate(messages, params)
        value = dataclasses.asdict(completion)
        # An empty reply is what callers reject and retry later: never pin it. And
        # store only what reads back equal (an `extra` holding tuples or objects
        # would not), so a hit is indistinguishable from a fresh call.
        if completion.text.strip() and _round_trips(
            value, lambda data: Completion(**data) == completion
        ):
            self._cache.put(key, value)
        return completion

    def _choice_logprobs(self, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
        key = request_key(
            "choices", self.model_id, messages, choices=choices, identity=self._identity
        )
        stored = self._lookup(key)
        if stored is not None:
            return [float(v) for v in stored]
        logprobs = self._model.choice_logprobs(messages, choices)  # type: ignore[attr-defined]
        if _usable(logprobs, len(choices)) and _round_trips(
            logprobs, lambda data: data == list(logprobs)
        ):
            self._cache.put(key, logprobs)
        return logprobs

    def _lookup(self, key: str) -> Any | None:
        stored = self._cache.get(key)
        self._record("misses" if stored is None else "hits")
        return stored

    def _record(self, outcome: str) -> None:
        with self._lock:
            self._counts[outcome] += 1
        self._cache.record(outcome)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the wrapper lacks. `choice_logprobs` resolves here
        # rather than as a method, so the wrapper offers it exactly when the wrapped
        # model does: callers test for it (`require_scorer`, the ChoiceScorer protocol).
        model = self.__dict__.get("_model")
        if model is None:  # mid-construction or unpickling: no wrapped model yet
            raise AttributeError(name)
        if name == "choice_logprobs" and callable(getattr(model, name, None)):
            return self._choice_logprobs
        return getattr(model, name)

    def __repr__(self) -> str:
        return f"CachedChatModel({self._model!r}, {str(self._cache.path)!r})"


def _usable(logprobs: Any, n_choices: int) -> bool:
    """Whether callers can read a label from ``logprobs``: one finite-or--inf number per
    choice, not all -inf. Others are rejected and retried by the caller, so never pinned."""
    try:
        values = [float(v) for v in logprobs]
    except (TypeError, ValueError):
        return False
    return (
        len(values) == n_choices
        and all(not math.isnan(v) and v != math.inf for v in values)
        and any(v != -math.inf for v in values)
    )


def _round_trips(value: Any, same: Any) -> bool:
    """Whether ``value`` survives JSON unchanged, as judged by ``same(decoded)``."""
    try:
        return bool(same(json.loads(json.dumps(value))))
    except (TypeError, ValueError):
        return False
