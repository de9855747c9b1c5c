"""The small protocols every backend implements, and the values they exchange.

Three one-method protocols (Inspect AI's ``ModelAPI`` and ``Scorer`` are the
model): a :class:`ChatModel` turns messages into text, a :class:`ChoiceScorer`
gives the log-probability of each of several answer choices (what AI-feedback
labels are read from, Bai et al. 2022, section 4.1), and an :class:`Embedder`
turns texts into unit vectors. Messages are plain ``{"role", "content"}``
dicts, the format TRL and every chat API already use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from charter.errors import BackendError

Message = dict[str, str]
ROLES = frozenset({"system", "user", "assistant"})


@dataclass(frozen=True)
class GenerateParams:
    """Sampling options shared by every backend."""

    max_tokens: int = 256  # upper bound on generated tokens
    temperature: float = 0.7  # 0 means greedy decoding
    top_p: float = 0.95  # nucleus sampling mass
    seed: int | None = None  # per-request seed; None lets the backend choose
    stop: tuple[str, ...] = ()  # strings that end generation early


@dataclass(frozen=True)
class Completion:
    """One generated reply and what it cost."""

    text: str
    model_id: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    extra: dict = field(default_factory=dict)


@runtime_checkable
class ChatModel(Protocol):
    """Messages in, text out."""

    model_id: str

    def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        """Generate the assistant's next message."""
        ...


@runtime_checkable
class ChoiceScorer(Protocol):
    """The log-probability of each answer choice as the assistant's reply."""

    model_id: str

    def choice_logprobs(self, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
        """Total log-probability of each choice's tokens, in the order given."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Texts in, L2-normalised vectors out (one row per text)."""

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 array of shape ``(len(texts), dim)``."""
        ...


def check_messages(messages: Sequence[Message]) -> list[Message]:
    """Validate a conversation; raise BackendError naming the bad message."""
    if not messages:
        raise BackendError("messages is empty; give at least one user message.")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise BackendError(f"messages[{i}] must be a dict with 'role' and 'content'.")
        if message["role"] not in ROLES:
            raise BackendError(
                f"messages[{i}].role is {message['role']!r}; use one of {sorted(ROLES)}."
            )
        out.append({"role": message["role"], "content": str(message["content"])})
    return out


def normalize_choices(logprobs: Sequence[float]) -> list[float]:
    """Softmax over choice log-probabilities: the soft label of a multiple choice.

    Restricting to the choices and renormalising is how the CAI paper reads a
    preference from a feedback model (Bai et al. 2022, section 4.1).
    """
    if not logprobs:
        raise BackendError("no choices to normalise.")
    top = max(logprobs)
    if top == -math.inf:
        return [1.0 / len(logprobs)] * len(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    total = sum(weights)
    return [w / total for w in weights]


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
