"""Any OpenAI-compatible chat server: vLLM, llama.cpp server, Ollama, hosted APIs.

Speaks ``POST {base_url}/chat/completions`` over an async httpx client with
bounded concurrency (a semaphore), a timeout per request, and retries with
exponential backoff and jitter on 429, 5xx and dropped connections (honouring
``Retry-After``). Authentication and connection failures become one clear
:class:`~charter.errors.ServerError` line. ``base_url`` may list several
replicas of the model: each request then goes to the least-loaded live one and
a failed request moves to another (:mod:`charter.backends.replicas`).
Synchronous callers are served from one private event loop thread, so
pipelines can call :meth:`generate` from many worker threads and still share
one connection pool and one limit.

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
from typing import Any, NamedTuple

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
from charter.backends.replicas import (
    DEFAULT_BACKOFF,
    DEFAULT_BACKOFF_MAX,
    Replica,
    ReplicaPool,
    ReplicaState,
    replica_model_id,
    replica_urls,
)
from charter.errors import BackendError, ServerError

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
TOP_LOGPROBS = 20  # the most OpenAI accepts, and vLLM's default max_logprobs
REJECTED_STATUS = frozenset({400, 422})  # a request field the server does not accept
logger = logging.getLogger(__name__)


class _Reply(NamedTuple):
    """The final response of a request, the attempts it took and the replica that sent it."""

    response: httpx.Response
    attempts: int
    url: str


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
        base_url: e.g. ``http://localhost:8000/v1``, or a list of replicas of the
            same model (routing and failover: :mod:`charter.backends.replicas`).
        api_key: the key; if None, read from the ``api_key_env`` variable (may
            be unset for local servers).
        concurrency: at most this many requests in flight per replica (the model's
            ``max_concurrency`` is this times the number of replicas).
        timeout: seconds per request.
        max_retries: retries after the first attempt on retryable failures; with
            replicas, moving once to each other replica comes on top.
        backoff: base seconds of the exponential backoff (doubles per retry) when
            retrying a lone server.
        replica_backoff: seconds a failed replica gets no requests (doubling per
            consecutive failure); only with several replicas.
        replica_backoff_max: the cap of ``replica_backoff``.
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
        base_url: str | Sequence[str] = "http://localhost:8000/v1",
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        replica_backoff: float = DEFAULT_BACKOFF,
        replica_backoff_max: float = DEFAULT_BACKOFF_MAX,
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
        # Depends on the set of URLs only, never on the replica that answers, so
        # request caches and provenance are the same however requests are routed.
        self.model_id = replica_model_id(model, base_url)
        self.base_urls = replica_urls(base_url)
        self.base_url = self.base_urls[0]
        self._pool = ReplicaPool(self.base_urls, replica_backoff, replica_backoff_max)
        self._label = ", ".join(self.base_urls)  # names the server(s) in errors
        self.max_concurrency = concurrency * len(self.base_urls)
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
            # No client base_url: each request names the replica it goes to.
            self._client = httpx.AsyncClient(
                headers=headers,
                timeout=self._timeout,
                transport=self._transport,
                limits=httpx.Limits(max_connections=self.max_concurrency),
            )
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        assert self._semaphore is not None
        return self._client, self._semaphore

    async def _post(self, payload: dict) -> dict:
        reply = await self._request(payload)
        if reply.response.status_code >= 400:
            raise self._http_error(reply)
        return self._json(reply)

    def _json(self, reply: _Reply) -> dict:
        try:
            return reply.response.json()
        except ValueError:
            raise ServerError(
                f"{reply.url} answered with non-JSON ({reply.response.text[:80]!r}); "
                "is base_url an OpenAI-compatible endpoint?"
            ) from None

    async def _acquire(self, tried: set[str]) -> Replica:
        """A replica slot; while every replica is down, wait for the soonest back-off."""
        while True:
            got = self._pool.acquire(tried)
            if isinstance(got, Replica):
                return got
            await asyncio.sleep(got)

    async def _request(self, payload: dict) -> _Reply:
        """POST with retries and failover; the final response, whatever its status.

        A lone server is retried after :meth:`_delay`. With replicas, a failure
        moves the request at once to a replica it has not tried (the pool backs
        the failed one off), so each other replica adds one attempt to the
        ``max_retries + 1`` budget.
        """
        client, semaphore = self._ensure_client()
        single = len(self._pool) == 1
        budget = self.max_retries + len(self._pool)
        tried: set[str] = set()
        async with semaphore:
            for attempt in range(budget):
                replica = await self._acquire(tried)
                tried.add(replica.url)
                try:
                    outcome = await self._send(client, replica.url, payload)
                except BaseException:  # cancelled: free the slot, judge nothing
                    self._pool.release(replica, counted=False)
                    raise
                failure, wait = _failure(outcome)
                self._pool.release(replica, failure, wait)
                if failure is None:
                    assert isinstance(outcome, httpx.Response)
                    return _Reply(outcome, attempt + 1, replica.url)
                if attempt < budget - 1:
                    if single:  # with replicas, the pool's back-off paces retries instead
                        await asyncio.sleep(self._delay(attempt, wait))
                    continue
                if not single:
                    raise self._all_failed(attempt + 1)
                if isinstance(outcome, httpx.Response):
                    return _Reply(outcome, attempt + 1, replica.url)
                if isinstance(outcome, httpx.TimeoutException):
                    raise ServerError(
                        f"{replica.url} did not answer within {self._timeout:g}s after "
                        f"{attempt + 1} attempts; raise `timeout` or check the server."
                    )
                raise ServerError(
                    f"cannot reach {replica.url} ({failure}); is the server running and is "
                    "base_url right (it usually ends in /v1)?"
                )
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    async def _send(
        client: httpx.AsyncClient, url: str, payload: dict
    ) -> httpx.Response | httpx.TransportError:
        """One POST to one replica: its response, or the connection error or timeout."""
        try:
            return await client.post(f"{url}/chat/completions", json=payload)
        except httpx.TransportError as exc:  # TimeoutException is one too
            return exc

    def _all_failed(self, attempts: int) -> ServerError:
        """The one error for a request that failed on every replica it could try."""
        return ServerError(
            f"all {len(self._pool)} replicas of {self.model!r} failed after {attempts} "
            f"attempts: {self._pool.describe_failures()}. Start or fix those servers (each "
            "base_url usually ends in /v1), drop dead ones from base_url, or raise "
            "max_retries to wait out a longer outage."
        )

    def replica_states(self) -> list[ReplicaState]:
        """Each replica's load, health and requests served (one entry for one base_url)."""
        return self._pool.states()

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before retrying a lone server: what it asked for, else backoff with jitter."""
        if retry_after is not None:
            return retry_after
        return self.backoff * (2**attempt) * (0.5 + random.random())

    def _http_error(self, reply: _Reply) -> ServerError:
        response, attempts, url = reply
        status = response.status_code
        try:
            detail = response.json().get("error", {})
            detail = detail.get("message", detail) if isinstance(detail, dict) else detail
        except ValueError:
            detail = response.text
        detail = str(detail)[:200]
        if status in (401, 403):
            return ServerError(
                f"{url} refused the credentials (HTTP {status}); set the API key in "
                f"${self._api_key_env} or the model's api_key."
            )
        if status == 404:
            return ServerError(
                f"{url} has no such endpoint or model {self.model!r} (HTTP 404: "
                f"{detail}); check base_url and the model name."
            )
        return ServerError(f"{url} answered HTTP {status} after {attempts} attempt(s): {detail}")

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
                f"{self._label} returned no choices[0].message.content: {str(data)[:120]}"
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
                f"{self._label} returned no logprobs; the server must support "
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
            raise ServerError(f"{self._label} returned a malformed top_logprobs entry.") from None
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
            reply = await self._request(payload)
            if reply.response.status_code in REJECTED_STATUS:
                self._demote(method, f"it answered HTTP {reply.response.status_code}")
                continue
            if reply.response.status_code >= 400:
                raise self._http_error(reply)
            first = self._first_token(self._json(reply))
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
                    f"{self._label} returned a malformed logprob in its constrained reply."
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


def _seconds(retry_after: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (capped at 60), or None if absent or a date."""
    if not retry_after:
        return None
    try:
        return min(float(retry_after), 60.0)
    except ValueError:
        return None


def _failure(outcome: httpx.Response | httpx.TransportError) -> tuple[str | None, float | None]:
    """Why an attempt failed (None if it did not) and the Retry-After seconds it sent.

    A 4xx outside RETRY_STATUS is an answer, not a failure: the replica is up,
    and the request itself is at fault (every replica would refuse it alike).
    """
    if isinstance(outcome, httpx.TransportError):
        return type(outcome).__name__, None
    if outcome.status_code in RETRY_STATUS:
        return f"HTTP {outcome.status_code}", _seconds(outcome.headers.get("retry-after"))
    return None, None
