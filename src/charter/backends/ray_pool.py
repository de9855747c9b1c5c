"""A local model served by N Ray actors, behind the same protocols as the model itself.

``charter run --engine ray`` (:mod:`charter.runs.context`) swaps each local chat
model (``llama_cpp``, ``transformers``, ``scripted``) for a :class:`RayModelPool`:
N actors, each of which builds the model once from its picklable
:class:`~charter.backends.registry.ModelSpec`. The pool is a
:class:`~charter.backends.base.ChatModel` and a
:class:`~charter.backends.base.ChoiceScorer` whose ``max_concurrency`` is N, so
:func:`~charter.backends.batch.generate_many` and
:func:`~charter.backends.batch.map_concurrent` keep N requests in flight - one
per actor - and the stages themselves do not change. The pool reports the
model's own ``model_id``, so provenance and request-cache keys are those of an
in-process run; llama.cpp replies are reproducible per request
(:mod:`charter.backends.llama_cpp`), so a run may switch engines midway.

A :class:`~charter.errors.CharterError` raised in an actor comes back as the
same error (a per-row failure to the stages), not as a ``RayTaskError``.

Ray joins the cluster at ``RAY_ADDRESS`` if set, else starts a local one
(:func:`start_ray`: loopback only, no dashboard, nothing downloaded). Usage::

    pool = RayModelPool(ModelSpec(model="embedded:policy"), actors=2)
    list(generate_many(pool, requests))  # two requests at a time, one per actor
    pool.close()
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Sequence
from typing import Any

from charter.backends.base import Completion, GenerateParams, Message
from charter.backends.registry import ModelSpec, load_chat_model
from charter.errors import BackendError, CharterError, missing_extra

# How long a new pool waits for CPUs that just-closed actors still hold.
FREE_WAIT_S = 20.0


def start_ray(cpus: int) -> None:
    """Start (or join) Ray once: the cluster at ``RAY_ADDRESS``, else a local one.

    Args:
        cpus: CPUs of the local cluster (at least 1); ignored when joining.
    """
    try:
        import ray
    except ImportError:
        raise missing_extra("ray", "ray") from None
    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
        return
    ray.init(
        num_cpus=max(1, cpus),
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        _node_ip_address="127.0.0.1",
    )


def _free_cpus(ray: Any, need: float) -> float:
    """Free CPUs of the cluster, waiting up to FREE_WAIT_S for ``need`` (killed
    actors give theirs back asynchronously)."""
    deadline = time.monotonic() + FREE_WAIT_S
    while True:
        free = ray.available_resources().get("CPU", 0.0)
        if free + 1e-9 >= need or time.monotonic() > deadline:
            return free
        time.sleep(0.2)


class _ModelActor:
    """One model in one Ray worker process; errors come back as values."""

    def __init__(self, spec: ModelSpec) -> None:
        try:
            self.model, self.error = load_chat_model(spec), None
        except CharterError as exc:  # reported by describe(), not as an actor death
            self.model, self.error = None, exc

    def describe(self) -> tuple[bool, Any]:
        if self.model is None:
            return False, self.error
        llm = getattr(self.model, "llm", None)  # llama.cpp: the window stages check prompts against
        return True, {
            "model_id": self.model.model_id,
            "context_window": llm.n_ctx() if llm is not None else None,
            "prompt_tokens": callable(getattr(self.model, "prompt_tokens", None)),
        }

    def call(self, method: str, *args: Any) -> tuple[bool, Any]:
        try:
            return True, getattr(self.model, method)(*args)
        except CharterError as exc:  # pickled whole: type, message and attributes
            return False, exc


class RayModelPool:
    """A chat model and choice scorer run by ``actors`` Ray actors.

    Thread-safe: each call takes a free actor (waiting for one if all are busy)
    and gives it back when the reply arrives.

    Args:
        spec: the local model every actor builds.
        actors: how many actors (model copies); also ``max_concurrency``.
        cpus_per_actor: Ray CPUs each actor reserves (may be fractional); the
            model's ``threads`` default to it (at least 1) unless the spec sets them.

    Raises:
        BackendError: Ray is not installed, the local cluster has too few free
            CPUs (a cluster at ``RAY_ADDRESS`` is waited on instead), or an actor
            could not build the model (the model's own error type).
    """

    def __init__(self, spec: ModelSpec, actors: int = 2, cpus_per_actor: float = 1.0) -> None:
        if actors < 1:
            raise BackendError(f"actors {actors}: give at least 1.")
        if cpus_per_actor <= 0:
            raise BackendError(f"cpus_per_actor {cpus_per_actor}: give a positive number.")
        try:
            import ray
        except ImportError:
            raise missing_extra("ray", "ray") from None
        self._ray = ray
        start_ray(int(actors * cpus_per_actor + 0.999))
        if not os.environ.get("RAY_ADDRESS"):  # a joined cluster may still add nodes
            need, free = actors * cpus_per_actor, _free_cpus(ray, actors * cpus_per_actor)
            if free + 1e-9 < need:  # Ray would wait forever for the missing actors
                raise BackendError(
                    f"the local Ray cluster has {free:g} free CPUs; {actors} actors x "
                    f"{cpus_per_actor:g} CPUs need {need:g}. Use fewer actors or fewer CPUs "
                    "per actor."
                )
        if spec.threads is None:
            spec = spec.model_copy(update={"threads": max(1, int(cpus_per_actor))})
        remote = ray.remote(num_cpus=cpus_per_actor)(_ModelActor)
        self._actors = [remote.remote(spec) for _ in range(actors)]
        self._free: queue.Queue = queue.Queue()
        try:
            described = ray.get([a.describe.remote() for a in self._actors])
        except Exception:
            self.close()
            raise
        for ok, value in described:
            if not ok:
                self.close()
                raise value
        info = described[0][1]
        self.model_id: str = info["model_id"]
        self.max_concurrency = actors
        # What callers may read beyond the protocols (eval suites skip prompts too long).
        self.context_window: int | None = info["context_window"]
        self._has_prompt_tokens: bool = info["prompt_tokens"]
        for actor in self._actors:
            self._free.put(actor)

    def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        return self._call("generate", list(messages), params)

    def choice_logprobs(self, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
        return self._call("choice_logprobs", list(messages), list(choices))

    def __getattr__(self, name: str) -> Any:
        # Only what the model itself has: a llama.cpp pool tokenizes, a scripted one does not.
        if name == "prompt_tokens" and self.__dict__.get("_has_prompt_tokens"):
            return lambda messages: self._call("prompt_tokens", list(messages))
        raise AttributeError(name)

    def _call(self, method: str, *args: Any) -> Any:
        if not self._actors:
            raise BackendError(f"{self.model_id}: the Ray pool is closed.")
        actor = self._free.get()  # blocks until an actor is free
        try:
            ok, value = self._ray.get(actor.call.remote(method, *args))
        except self._ray.exceptions.RayActorError as exc:
            raise BackendError(f"{self.model_id}: a Ray actor died ({exc}).") from None
        finally:
            self._free.put(actor)
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """Kill the actors (idempotent); their CPUs go back to the cluster."""
        actors, self._actors = getattr(self, "_actors", []), []
        for actor in actors:
            self._ray.kill(actor)

    def __enter__(self) -> RayModelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
