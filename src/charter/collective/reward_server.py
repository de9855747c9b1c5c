"""An HTTP reward server for trainers that call a remote reward, and its client.

``charter reward serve --ledger SOURCE`` runs :func:`create_app` with uvicorn::

    POST /score  {"prompts": [...], "completions": [...]}
              -> {"rewards": [...], "stderr": [...], "checkpoint": "origin@size:root", "k": 64}
    GET  /health -> {"status": "ok", "checkpoint": ..., "wishes": ..., "scorer": ..., "k": ...}

Prompts and completions are strings or chat-message lists, as TRL passes them.
:func:`remote_reward_fn` is the client side: a callable with TRL's reward
signature that posts to a running server, so a trainer on another machine
(or in another process) uses the same ledger-backed reward.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from charter.collective.reward import WishReward, completion_text, prompt_text
from charter.errors import CharterError, ServerError, missing_extra

MAX_BATCH = 4096  # pairs per request; larger batches should be split by the client


class ScoreRequest(BaseModel):
    """POST /score body: prompts and completions as strings or chat-message lists."""

    prompts: list[str | list[dict[str, Any]]] = Field(description="one per completion")
    completions: list[str | list[dict[str, Any]]] = Field(max_length=MAX_BATCH)


class ScoreResponse(BaseModel):
    """POST /score reply: one reward and standard error per completion, and the ledger state."""

    rewards: list[float]
    stderr: list[float | None]  # None where one draw gives no error estimate (k = 1)
    checkpoint: str  # origin@size:root of the wish set
    k: int


def create_app(reward: WishReward):
    """A FastAPI app serving ``reward`` (one reward per process; scoring is serialised)."""
    try:
        from fastapi import FastAPI, HTTPException
    except ImportError as exc:
        raise missing_extra(exc.name or "fastapi", "server") from None

    app = FastAPI(title="Charter wish reward", version="1")
    lock = threading.Lock()  # embedders and local judges are not thread-safe

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "checkpoint": reward.wishes.checkpoint_id,
            "wishes": reward.wishes.size,
            "scorer": reward.scorer,
            "model_id": reward.model_id,
            "k": reward.k,
        }

    @app.post("/score", response_model=ScoreResponse)
    def score(request: ScoreRequest) -> ScoreResponse:
        if len(request.prompts) != len(request.completions):
            raise HTTPException(
                422,
                f"{len(request.prompts)} prompts but {len(request.completions)} completions; "
                "send one prompt per completion.",
            )
        prompts = [prompt_text(p) for p in request.prompts]
        completions = [completion_text(c) for c in request.completions]
        try:
            with lock:
                results = reward.score_batch(prompts, completions)
        except CharterError as exc:
            raise HTTPException(503, str(exc)) from None
        return ScoreResponse(
            rewards=[r.value for r in results],
            stderr=[None if math.isnan(r.stderr) else r.stderr for r in results],
            checkpoint=reward.wishes.checkpoint_id,
            k=reward.k,
        )

    return app


class RemoteReward:
    """A TRL reward function that asks a running ``charter reward serve``.

    Args:
        url: the server's base URL, e.g. ``http://127.0.0.1:8100``.
        timeout: seconds per request.
    """

    def __init__(self, url: str, timeout: float = 300.0) -> None:
        import httpx

        self.url = url.rstrip("/")
        self._client = httpx.Client(timeout=timeout)
        self.__name__ = "wish_reward_remote"
        self.last_response: dict[str, Any] | None = None

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **_
    ) -> list[float]:
        import httpx

        completions = list(completions or [])
        prompts = list(prompts) if prompts is not None else [""] * len(completions)
        try:
            reply = self._client.post(
                f"{self.url}/score", json={"prompts": prompts, "completions": completions}
            )
        except httpx.HTTPError as exc:
            raise ServerError(f"the reward server at {self.url} is unreachable: {exc}") from None
        if reply.status_code != 200:
            raise ServerError(
                f"the reward server at {self.url} answered {reply.status_code}: {reply.text[:200]}"
            )
        self.last_response = reply.json()
        return [float(r) for r in self.last_response["rewards"]]

    def close(self) -> None:
        self._client.close()


def remote_reward_fn(url: str, timeout: float = 300.0) -> RemoteReward:
    """A TRL-signature reward function backed by a reward server at ``url``."""
    return RemoteReward(url, timeout)
