"""A token budget for one ``charter run`` invocation (``--max-tokens-budget N``).

Every chat model a stage gets from the run context is wrapped in a
:class:`BudgetedChatModel` that adds each call's tokens (prompt + completion,
as the backend reports them on :class:`~charter.backends.base.Completion`) to
one shared :class:`TokenBudget`. Once the budget is used up, the next call
raises :class:`BudgetExhausted` instead of running, so a stage starts no more
calls; calls already in flight finish, so the total may pass N by those.

:class:`BudgetExhausted` is deliberately not a
:class:`~charter.errors.CharterError`: batch helpers record CharterErrors as
per-row failures and carry on, while any other exception propagates out of
the stage to the runner, which writes the manifest and stops cleanly. Rows
already written stay; a rerun resumes from them.

The wrapper sits inside the request cache, so calls the cache answers cost
nothing. A choice log-prob call reports no usage; it counts its prompt
(messages and choices) at :func:`charter.runs.estimate.approx_tokens`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from charter.backends.base import ChatModel, Completion, GenerateParams, Message
from charter.runs.estimate import approx_tokens, message_tokens


class BudgetExhausted(Exception):
    """The run's token budget is used up; raised before a call would start."""

    def __init__(self, used: int, limit: int) -> None:
        super().__init__(f"the token budget of {limit} is used up ({used} used)")
        self.used = used
        self.limit = limit


class TokenBudget:
    """Tokens used by the model calls of one invocation, against a limit (thread-safe)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a token budget must be at least 1")
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        with self._lock:
            return self._used

    @property
    def exhausted(self) -> bool:
        return self.used >= self.limit

    def check(self) -> None:
        """Raise :class:`BudgetExhausted` if no tokens are left for another call."""
        used = self.used
        if used >= self.limit:
            raise BudgetExhausted(used, self.limit)

    def spend(self, tokens: int) -> None:
        """Count ``tokens`` used by a call that ran."""
        with self._lock:
            self._used += max(0, tokens)


class BudgetedChatModel:
    """A chat model (and choice scorer, if the wrapped one is) that spends a budget.

    Every other attribute is the wrapped model's (``max_concurrency``, ...).
    """

    def __init__(self, model: ChatModel, budget: TokenBudget) -> None:
        self._model = model
        self._budget = budget
        self.model_id = model.model_id

    @property
    def wrapped(self) -> ChatModel:
        """The model behind the budget."""
        return self._model

    def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        """The wrapped model's completion, after checking the budget; its tokens are spent."""
        self._budget.check()
        completion = self._model.generate(messages, params)
        prompt = completion.prompt_tokens
        if prompt is None:
            prompt = message_tokens(list(messages))
        written = completion.completion_tokens
        if written is None:
            written = approx_tokens(completion.text)
        self._budget.spend(prompt + written)
        return completion

    def _choice_logprobs(self, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
        self._budget.check()
        logprobs = self._model.choice_logprobs(messages, choices)  # type: ignore[attr-defined]
        self._budget.spend(message_tokens(list(messages)) + sum(approx_tokens(c) for c in choices))
        return logprobs

    def __getattr__(self, name: str) -> Any:
        # As in CachedChatModel: offer `choice_logprobs` exactly when the wrapped model does.
        model = self.__dict__.get("_model")
        if model is None:
            raise AttributeError(name)
        if name == "choice_logprobs" and callable(getattr(model, name, None)):
            return self._choice_logprobs
        return getattr(model, name)

    def __repr__(self) -> str:
        return f"BudgetedChatModel({self._model!r}, limit={self._budget.limit})"
