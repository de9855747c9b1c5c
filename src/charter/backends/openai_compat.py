"""Any OpenAI-compatible chat server: vLLM, llama.cpp server, Ollama, hosted APIs.

Speaks ``POST {base_url}/chat/completions`` over an async httpx client with
bounded concurrency (a semaphore), a timeout per request, and retries with
exponential backoff and jitter on 429, 5xx and dropped connections (honouring
``Retry-After``). Authentication and connection failures become one clear
:class:`~charter.errors.ServerError` line. Synchronous callers are served from
one private event loop thread, so pipelines can call :meth:`generate` from
many worker threads and still share one connection pool and one limit.

Choice log-probabilities use ``logprobs`` + ``top_logprobs`` on a one-token
reply, which vLLM, llama.cpp server and OpenAI support; choices must then
differ in their first token (use labels such as "A" / "B").
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import threading
from collections.abc import Coroutine, Sequence
from typing import Any

import httpx

from charter.backends.base import Completion, GenerateParams, Message, check_messages
from charter.errors import BackendError, ServerError

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


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
    ) -> None:
        if concurrency < 1:
            raise BackendError("concurrency must be at least 1.")
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
                if response.status_code >= 400:
                    raise self._http_error(response, attempt + 1)
                try:
                    return response.json()
                except ValueError:
                    raise ServerError(
                        f"{self.base_url} answered with non-JSON ({response.text[:80]!r}); "
                        "is base_url an OpenAI-compatible endpoint?"
                    ) from None
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

    async def achoice_logprobs(
        self, messages: Sequence[Message], choices: Sequence[str]
    ) -> list[float]:
        """Log-probability of each choice's first token as the reply's first token."""
        firsts = [c.strip()[:1] for c in choices]
        if len(set(firsts)) != len(firsts) or not all(firsts):
            raise BackendError(
                "over an OpenAI-compatible server, choices must differ in their first "
                f"character (got {list(choices)}); use labels such as 'A' and 'B'."
            )
        payload = {
            "model": self.model,
            "messages": check_messages(messages),
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": 20,
        }
        data = await self._post(payload)
        try:
            top = data["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        except (KeyError, IndexError, TypeError):
            raise ServerError(
                f"{self.base_url} returned no logprobs; the server must support "
                "`logprobs`/`top_logprobs` in chat completions."
            ) from None
        best: dict[str, float] = {}
        for entry in top:
            token = str(entry.get("token", "")).strip()
            if token:
                key = token[:1]
                best[key] = max(best.get(key, -math.inf), float(entry["logprob"]))
        return [best.get(first, -math.inf) for first in firsts]

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
