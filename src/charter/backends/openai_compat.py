"""Any OpenAI-compatible chat server: vLLM, llama.cpp server, Ollama, hosted APIs.

Speaks ``POST {base_url}/chat/completions`` over an async httpx client with
bounded concurrency (a semaphore), a timeout per request, and retries with
exponential backoff and jitter on 429, 5xx and dropped connections (honouring
``Retry-After``). Authentication and connection failures become one clear
:class:`~charter.errors.ServerError` line. Synchronous callers are served from
one private event loop thread, so pipelines can call :meth:`generate` from
many worker threads and still share one connection pool and one limit.

Choice log-probabilities use ``logprobs`` + ``top_logprobs`` (20) on a
one-token reply, which vLLM, llama.cpp server and OpenAI support, so each
choice must be a single token (use labels such as "A" / "B"). The rules:

- A listed token spells a choice when it equals the choice after stripping
  whitespace (and SentencePiece's ``▁`` mark) from both: ``" A"``, ``"A"`` and
  ``"A\\n"`` all spell "A". Never by prefix: "Both" is not "B", "As" is not "A".
- Case matters unless the backend is built with ``choice_ignore_case=True``
  (then "a" spells "A"). Choices must stay distinct under the rule in force.
- The probabilities of all listed tokens that spell one choice are summed
  (log-sum-exp), e.g. "A" and " A".
- A choice no listed token spells is asked for again with a one-token request
  constrained to that choice, and its log-prob is read from that answer. The
  ``choice_constraint`` option says how: ``"vllm"`` tries vLLM's
  ``structured_outputs: {"choice": [...]}`` then its older ``guided_choice``;
  ``"grammar"`` sends a GBNF ``grammar`` (llama.cpp server,
  llama-cpp-python); ``"auto"`` (the default) tries those three in that order
  and remembers the first the server honours; ``"none"`` never asks again. A
  constraint counts as unsupported when the server answers 400/422, when the
  constrained token is not the choice (the server ignored the field), or when
  the reported log-prob is above the lowest top log-prob (the server reported
  probabilities after the constraint, not the model's).
- A choice still unscored gets ``-inf`` and a logged warning naming it; the
  feedback layer (:func:`charter.feedback.choices.check_logprobs`) accepts that
  unless no choice has any mass.

``logit_bias`` is not used: it needs token ids, which an OpenAI-compatible API
does not expose for an arbitrary model.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import threading
from collections.abc import Coroutine, Sequence
from typing import Any

import httpx

from charter.backends._choice_tokens import (
    CONSTRAINT_METHODS,
    CONSTRAINT_TOLERANCE,
    ChoiceConstraint,
    constraint_fields,
    match_top_logprobs,
    spell,
)
from charter.backends.base import Completion, GenerateParams, Message, check_messages
from charter.errors import BackendError, ServerError

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
TOP_LOGPROBS = 20  # the most OpenAI accepts, and vLLM's default max_logprobs
REJECTED_STATUS = frozenset({400, 422})  # a request field the server does not accept
logger = logging.getLogger(__name__)


class _LoopThread:
    """A daemon thread running one asyncio loop that sync callers submit to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, daemon=True, name="charter-openai-loop"
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


class OpenAIChatModel:
    """Chat model and choice scorer backed by an OpenAI-compatible server.

    Args:
        model: the model name the server knows.
        base_url: e.g. ``http://localhost:8000/v1``.
        api_key: the key; if None, read from the ``api_key_env`` variable (may
            be unset for local servers).
        concurrency: at most this many requests in flight.
        timeout: seconds per request.
        max_retries: retries after the first attempt on retryable failures.
        backoff: base seconds of the exponential backoff (doubles per retry).
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
        choice_ignore_case: match top tokens to choices ignoring case ("a" spells
            "A"); off by default, since "a" and "A" are different answers to some
            questions.
        choice_constraint: how to ask again for a choice missing from the top
            log-probs: ``auto``, ``vllm``, ``grammar`` or ``none`` (module docstring).
    """

    def __init__(
        self,
        model: str,
        base_url: str = "http://localhost:8000/v1",
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        choice_ignore_case: bool = False,
        choice_constraint: ChoiceConstraint = "auto",
    ) -> None:
        if concurrency < 1:
            raise BackendError("concurrency must be at least 1.")
        if choice_constraint not in CONSTRAINT_METHODS:
            raise BackendError(
                f"choice_constraint {choice_constraint!r} is unknown; use one of "
                f"{', '.join(CONSTRAINT_METHODS)}."
            )
        self.model = model
        self.model_id = f"openai:{model}@{base_url}"
        self.base_url = base_url.rstrip("/")
        self.max_concurrency = concurrency
        self.max_retries = max_retries
        self.backoff = backoff
        self._api_key = api_key if api_key is not None else os.environ.get(api_key_env)
        self._api_key_env = api_key_env
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: _LoopThread | None = None
        self._lock = threading.Lock()
        self.choice_ignore_case = choice_ignore_case
        self.choice_constraint = choice_constraint
        # What the server turned out to honour; only touched on the loop thread.
        self._constraint_ok: str | None = None
        self._constraint_bad: set[str] = set()

    # -- async API ---------------------------------------------------------------
    def _ensure_client(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        if self._client is None:
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                timeout=self._timeout,
                transport=self._transport,
                limits=httpx.Limits(max_connections=self.max_concurrency),
            )
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        assert self._semaphore is not None
        return self._client, self._semaphore

    async def _post(self, payload: dict) -> dict:
        response, attempts = await self._request(payload)
        if response.status_code >= 400:
            raise self._http_error(response, attempts)
        return self._json(response)

    def _json(self, response: httpx.Response) -> dict:
        try:
            return response.json()
        except ValueError:
            raise ServerError(
                f"{self.base_url} answered with non-JSON ({response.text[:80]!r}); "
                "is base_url an OpenAI-compatible endpoint?"
            ) from None

    async def _request(self, payload: dict) -> tuple[httpx.Response, int]:
        """POST with retries; the last response, whatever its status, and the attempts made."""
        client, semaphore = self._ensure_client()
        async with semaphore:
            for attempt in range(self.max_retries + 1):
                last = attempt == self.max_retries
                try:
                    response = await client.post("/chat/completions", json=payload)
                except httpx.TimeoutException:
                    if last:
                        raise ServerError(
                            f"{self.base_url} did not answer within {self._timeout:g}s "
                            f"after {attempt + 1} attempts; raise `timeout` or check the server."
                        ) from None
                    await asyncio.sleep(self._delay(attempt, None))
                    continue
                except httpx.TransportError as exc:
                    if last:
                        raise ServerError(
                            f"cannot reach {self.base_url} ({type(exc).__name__}); is the server "
                            "running and is base_url right (it usually ends in /v1)?"
                        ) from None
                    await asyncio.sleep(self._delay(attempt, None))
                    continue
                if response.status_code in RETRY_STATUS and not last:
                    await asyncio.sleep(self._delay(attempt, response.headers.get("retry-after")))
                    continue
                return response, attempt + 1
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), 60.0)
            except ValueError:
                pass
        return self.backoff * (2**attempt) * (0.5 + random.random())

    def _http_error(self, response: httpx.Response, attempts: int) -> ServerError:
        status = response.status_code
        try:
            detail = response.json().get("error", {})
            detail = detail.get("message", detail) if isinstance(detail, dict) else detail
        except ValueError:
            detail = response.text
        detail = str(detail)[:200]
        if status in (401, 403):
            return ServerError(
                f"{self.base_url} refused the credentials (HTTP {status}); set the API key in "
                f"${self._api_key_env} or the model's api_key."
            )
        if status == 404:
            return ServerError(
                f"{self.base_url} has no such endpoint or model {self.model!r} (HTTP 404: "
                f"{detail}); check base_url and the model name."
            )
        return ServerError(
            f"{self.base_url} answered HTTP {status} after {attempts} attempt(s): {detail}"
        )

    async def agenerate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        """Generate asynchronously (bounded by ``concurrency``, retried)."""
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": check_messages(messages),
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.seed is not None:
            payload["seed"] = params.seed
        if params.stop:
            payload["stop"] = list(params.stop)
        data = await self._post(payload)
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise ServerError(
                f"{self.base_url} returned no choices[0].message.content: {str(data)[:120]}"
            ) from None
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            model_id=self.model_id,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
        )

    @property
    def constraint_in_use(self) -> str | None:
        """The constraint field the server was seen to honour (``grammar``, ...), if any yet."""
        return self._constraint_ok

    def _choice_keys(self, choices: Sequence[str]) -> list[str]:
        if not choices:
            raise BackendError("choices is empty; give at least two answer choices.")
        keys = [spell(c, self.choice_ignore_case) for c in choices]
        if not all(keys) or len(set(keys)) != len(keys):
            rule = "whitespace and case" if self.choice_ignore_case else "whitespace"
            raise BackendError(
                f"choices {list(choices)} are empty or not distinct after stripping {rule}; "
                "over an OpenAI-compatible server use distinct one-token labels such as "
                "'A' and 'B'."
            )
        return keys

    def _choice_payload(self, messages: Sequence[Message]) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": check_messages(messages),
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": TOP_LOGPROBS,
        }

    def _first_token(self, data: dict) -> dict:
        """``choices[0].logprobs.content[0]``: the reply's one token and its top list."""
        try:
            first = data["choices"][0]["logprobs"]["content"][0]
            if not isinstance(first, dict) or not isinstance(first["top_logprobs"], list):
                raise TypeError
        except (KeyError, IndexError, TypeError):
            raise ServerError(
                f"{self.base_url} returned no logprobs; the server must support "
                "`logprobs`/`top_logprobs` in chat completions."
            ) from None
        return first

    async def achoice_logprobs(
        self, messages: Sequence[Message], choices: Sequence[str]
    ) -> list[float]:
        """Log-probability of each one-token choice as the reply's first token.

        Matching, summing and the constrained second request follow the rules in
        the module docstring; a choice the server never scores gets ``-inf``.

        Raises:
            BackendError: choices empty or not distinct under the matching rule.
            ServerError: the server failed or returned no log-probs.
        """
        keys = self._choice_keys(choices)
        first = self._first_token(await self._post(self._choice_payload(messages)))
        top = first["top_logprobs"]
        try:
            values = match_top_logprobs(top, keys, self.choice_ignore_case)
            floor = min((float(e["logprob"]) for e in top), default=0.0)
        except (KeyError, TypeError, ValueError):
            raise ServerError(f"{self.base_url} returned a malformed top_logprobs entry.") from None
        missing = [i for i, v in enumerate(values) if v == -math.inf]
        if missing:
            logger.info(
                "%s: choice(s) %s not among the top %d tokens; asking with a constraint",
                self.model_id,
                ", ".join(repr(choices[i]) for i in missing),
                len(top),
            )
        for i in missing:
            values[i] = await self._constrained_logprob(messages, choices[i], keys[i], floor)
            if values[i] == -math.inf:
                logger.warning(
                    "%s: choice %r is not among the server's top %d tokens and no constrained "
                    "request scored it (choice_constraint=%s); counting it as -inf",
                    self.model_id,
                    choices[i],
                    len(top),
                    self.choice_constraint,
                )
        return values

    async def _constrained_logprob(
        self, messages: Sequence[Message], choice: str, key: str, floor: float
    ) -> float:
        """Ask for a reply forced to ``choice``; its log-prob, or -inf if no constraint works.

        ``floor`` is the lowest unconstrained top log-prob: a choice missing from
        that list cannot be more likely, so a higher value means the server
        reported probabilities after its constraint (0 for a forced token).
        """
        if self._constraint_ok is not None:
            methods: tuple[str, ...] = (self._constraint_ok,)
        else:
            methods = CONSTRAINT_METHODS[self.choice_constraint]
        for method in methods:
            if method in self._constraint_bad:
                continue
            payload = self._choice_payload(messages) | constraint_fields(method, choice.strip())
            response, attempts = await self._request(payload)
            if response.status_code in REJECTED_STATUS:
                self._demote(method, f"it answered HTTP {response.status_code}")
                continue
            if response.status_code >= 400:
                raise self._http_error(response, attempts)
            first = self._first_token(self._json(response))
            sampled = spell(str(first.get("token") or ""), self.choice_ignore_case)
            if sampled != key:
                if sampled and key.startswith(sampled):
                    # The constraint worked, but the choice takes more than one token.
                    self._constraint_ok = method
                    logger.warning(
                        "%s: choice %r is more than one token (%r first); use one-token "
                        "labels such as 'A' and 'B'",
                        self.model_id,
                        choice,
                        first.get("token"),
                    )
                    return -math.inf
                self._demote(method, f"it answered {first.get('token')!r}, ignoring the field")
                continue
            try:
                top = first["top_logprobs"]
                listed = match_top_logprobs(top, [key], self.choice_ignore_case)[0]
                value = listed if listed > -math.inf else float(first["logprob"])
            except (KeyError, TypeError, ValueError):
                raise ServerError(
                    f"{self.base_url} returned a malformed logprob in its constrained reply."
                ) from None
            if value > floor + CONSTRAINT_TOLERANCE:
                self._demote(method, "it reports log-probs after the constraint")
                continue
            self._constraint_ok = method
            return value
        return -math.inf

    def _demote(self, method: str, why: str) -> None:
        self._constraint_bad.add(method)
        if self._constraint_ok == method:
            self._constraint_ok = None
        logger.warning("%s: not using %s to score missing choices: %s", self.model_id, method, why)

    # -- sync API (the protocols) ------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        with self._lock:
            if self._loop is None:
                self._loop = _LoopThread()
        return self._loop.run(coro)

    def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        return self._run(self.agenerate(messages, params))

    def choice_logprobs(self, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
        return self._run(self.achoice_logprobs(messages, choices))

    def close(self) -> None:
        """Close the connection pool and stop the loop thread."""
        if self._loop is not None:
            if self._client is not None:
                self._loop.run(self._client.aclose())
            self._loop.close()
            self._loop = None
            self._client = None
