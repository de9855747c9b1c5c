"""Checked choice log-probs: the one rule that turns a model's answer letters into numbers.

AI feedback is read from the probabilities a feedback model gives the answer
choices of a multiple-choice question, restricted to those choices and
renormalised (Bai et al. 2022, "Constitutional AI", section 4.1), never from
generated text: a judge cannot give a malformed answer, only an uncertain one.
Every judge, labeler, rubric and scorer in Charter asks through
:func:`checked_logprobs`, so one rule decides what is usable:

- ``-inf`` for some choices is allowed (the model gives that choice no mass);
- NaN, ``+inf``, a non-number, or a count that differs from the choices is a
  :class:`~charter.errors.MalformedOutputError` carrying the raw value;
- ``-inf`` for every choice (no choice has any mass, e.g. a server's top
  log-probs held none of them) is a MalformedOutputError too.

A failure becomes a failure row in the calling stage, never a crash and never
a silent 50/50 verdict.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from charter.backends.base import Message, normalize_choices
from charter.errors import ConfigError, MalformedOutputError


def check_logprobs(raw: Any, choices: Sequence[str]) -> tuple[float, ...]:
    """``raw`` as one float per choice, or MalformedOutputError (the pure rule).

    Args:
        raw: what a scorer returned.
        choices: the answer strings asked for, in order.
    """
    try:
        values = tuple(float(v) for v in raw)
    except (TypeError, ValueError):
        raise MalformedOutputError(
            "the judge returned non-numeric log-probs", raw=repr(raw)
        ) from None
    if len(values) != len(choices):
        raise MalformedOutputError(
            f"the judge returned {len(values)} log-probs for {len(choices)} choices "
            f"({', '.join(choices)})",
            raw=repr(raw),
        )
    if any(math.isnan(v) or v == math.inf for v in values):
        raise MalformedOutputError("the judge returned NaN or +inf log-probs", raw=repr(raw))
    if all(v == -math.inf for v in values):
        raise MalformedOutputError(
            f"the judge gave none of the choices ({', '.join(choices)}) any probability",
            raw=repr(raw),
        )
    return values


def require_scorer(model: Any, role: str = "judge") -> None:
    """Refuse, in one line, a model that cannot score choices (it has no log-probs)."""
    if not callable(getattr(model, "choice_logprobs", None)):
        name = getattr(model, "model_id", type(model).__name__)
        raise ConfigError(
            f"{role} {name}: gives no choice log-probs; use a backend that does "
            "(llama_cpp, transformers, or an OpenAI-compatible server with logprobs)."
        )


def checked_logprobs(
    scorer: Any, messages: Sequence[Message], choices: Sequence[str]
) -> tuple[float, ...]:
    """Ask ``scorer`` for the log-prob of each choice after ``messages``, checked.

    Raises:
        MalformedOutputError: see the module docstring.
        BackendError: the backend failed.
    """
    return check_logprobs(scorer.choice_logprobs(messages, list(choices)), choices)


def choice_probs(scorer: Any, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
    """The checked log-probs, renormalised over the choices (they sum to 1)."""
    return normalize_choices(checked_logprobs(scorer, messages, choices))


def logit(p: float, eps: float = 1e-6) -> float:
    """``log(p / (1 - p))`` with ``p`` kept inside ``[eps, 1 - eps]``: a feature for a fit."""
    p = min(max(p, eps), 1 - eps)
    return math.log(p / (1 - p))


R = TypeVar("R")
_MEMO_LIMIT = 4096


class memoized(Generic[R]):  # lower case: used as a decorator, like functools.cache
    """Memoize ``fn(scorer, *texts)`` per scorer object and texts (bounded, thread-safe).

    Judge questions are deterministic given the scorer and the texts, and several
    judges (or a fit on dev followed by a comparison of methods) ask the same
    question; the cache keeps one answer. Keyed by the scorer's identity, so a
    different model never shares answers.
    """

    def __init__(self, fn: Callable[..., R]) -> None:
        functools.update_wrapper(self, fn)
        self._fn = fn
        self._cache: dict[tuple, R] = {}
        self._lock = threading.Lock()

    def __call__(self, scorer: Any, *texts: str) -> R:
        key = (id(scorer), getattr(scorer, "model_id", None), *texts)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = self._fn(scorer, *texts)
        with self._lock:
            if len(self._cache) >= _MEMO_LIMIT:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = value
        return value

    def cache_clear(self) -> None:
        """Forget every answer (a benchmark round, or a model reloaded at the same address)."""
        with self._lock:
            self._cache.clear()
