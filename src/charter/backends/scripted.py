"""A deterministic scripted backend for fast tests (like Inspect's ``mockllm``).

Replies come from a script: a list consumed in order, a function of the
messages, or (by default) a stable echo of the last user message. Choice
log-probabilities come from a function too, or prefer the first choice.
Embeddings are hashed bag-of-words vectors, so similar texts get similar
vectors without any model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence

import numpy as np

from charter.backends.base import (
    Completion,
    GenerateParams,
    Message,
    check_messages,
    l2_normalize,
)
from charter.errors import BackendError

Reply = Callable[[list[Message], GenerateParams], str]
ChoiceFn = Callable[[list[Message], Sequence[str]], list[float]]


def _echo(messages: list[Message], params: GenerateParams) -> str:
    last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    return f"[scripted reply to: {last[:80]}]"


class ScriptedChatModel:
    """Chat model and choice scorer whose outputs are fixed in advance.

    Args:
        replies: a list of reply strings (consumed in order; an error when it
            runs out) or a function ``(messages, params) -> str``. An item that
            is an ``Exception`` instance is raised instead of returned.
        choices: a function ``(messages, choices) -> logprobs``; by default
            the first choice gets log-probability -0.1 and the others -2.5.
        model_id: the id recorded in provenance.
    """

    def __init__(
        self,
        replies: Sequence[str | Exception] | Reply | None = None,
        choices: ChoiceFn | None = None,
        model_id: str = "scripted",
    ) -> None:
        self.model_id = model_id
        self._reply = replies if callable(replies) else None
        self._queue = list(replies) if replies is not None and not callable(replies) else None
        self._choices = choices
        self.calls: list[list[Message]] = []

    def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        checked = check_messages(messages)
        self.calls.append(checked)
        if self._queue is not None:
            if not self._queue:
                raise BackendError("the scripted backend ran out of replies.")
            item = self._queue.pop(0)
            if isinstance(item, Exception):
                raise item
            text = item
        else:
            text = (self._reply or _echo)(checked, params)
        return Completion(
            text=text,
            model_id=self.model_id,
            finish_reason="stop",
            prompt_tokens=sum(len(m["content"].split()) for m in checked),
            completion_tokens=len(text.split()),
        )

    def choice_logprobs(self, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
        checked = check_messages(messages)
        if not choices:
            raise BackendError("choices is empty; give at least two answer choices.")
        if self._choices is not None:
            return list(self._choices(checked, choices))
        return [-0.1 if i == 0 else -2.5 for i in range(len(choices))]


class HashingEmbedder:
    """Hashed bag-of-words embeddings: deterministic, model-free, for tests."""

    def __init__(self, dim: int = 64, model_id: str = "hashing-bow") -> None:
        self.dim = dim
        self.model_id = model_id

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
                out[row, h % self.dim] += 1.0 if (h >> 63) else -1.0
        return l2_normalize(out)
