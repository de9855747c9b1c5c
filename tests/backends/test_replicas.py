"""Replicas of one served model: routing, failover, back-off and the stable model id.

Fast tests drive :class:`~charter.backends.replicas.ReplicaPool` with a fake
clock and :class:`~charter.backends.openai_compat.OpenAIChatModel` over
``httpx.MockTransport`` (one handler answering for hosts ``a`` and ``b``) and
over a tiny in-process ASGI server. The last test starts two real llama.cpp
servers and kills one mid-batch.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from charter._util.net import free_port, llama_servers, serving
from charter.backends import GenerateParams, ModelSpec, generate_many, load_chat_model
from charter.backends.openai_compat import OpenAIChatModel
from charter.backends.replicas import ReplicaPool, replica_model_id, replica_urls
from charter.errors import BackendError, ServerError

USER = [{"role": "user", "content": "hi"}]
A, B = "http://a/v1", "http://b/v1"


def reply(text: str = "hello") -> httpx.Response:
    body = {
        "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    return httpx.Response(200, json=body)


def logprob_reply(top: dict[str, float]) -> httpx.Response:
    """A one-token reply whose top list is ``top`` (the first entry is the token)."""
    token, logprob = next(iter(top.items()))
    entry = {
        "token": token,
        "logprob": logprob,
        "top_logprobs": [{"token": t, "logprob": v} for t, v in top.items()],
    }
    body = {
        "choices": [
            {
                "message": {"content": token},
                "logprobs": {"content": [entry]},
                "finish_reason": "length",
            }
        ]
    }
    return httpx.Response(200, json=body)


class Hosts:
    """A MockTransport handler: one behaviour per host, and a log of who got what."""

    def __init__(self, **behaviours: Callable[[httpx.Request], httpx.Response]) -> None:
        self.behaviours = behaviours
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.calls.append(host)
        return self.behaviours[host](request)


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("Connection refused", request=request)


def status(code: int) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(code, json={"error": {"message": f"status {code}"}})


def make(handler, urls=(A, B), **kwargs) -> OpenAIChatModel:
    kwargs.setdefault("backoff", 0.001)
    kwargs.setdefault("replica_backoff", 0.05)
    return OpenAIChatModel(
        "m", base_url=list(urls), api_key="k", transport=httpx.MockTransport(handler), **kwargs
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the pool -------------------------------------------------------------------
def test_least_loaded_first_and_ties_round_robin():
    pool = ReplicaPool(["http://a", "http://b", "http://c"])
    first = [pool.acquire() for _ in range(3)]
    assert [r.url for r in first] == ["http://a", "http://b", "http://c"]
    pool.release(first[1])  # b is now the only one with nothing in flight
    again = pool.acquire()
    assert again.url == "http://b"
    for replica in (*first[::2], again):
        pool.release(replica)
    # All idle: one request at a time still goes round, from after the last pick (b).
    seen = []
    for _ in range(4):
        replica = pool.acquire()
        seen.append(replica.url)
        pool.release(replica)
    assert seen == ["http://c", "http://a", "http://b", "http://c"]


def test_backoff_doubles_caps_and_success_marks_up():
    clock = Clock()
    pool = ReplicaPool(["http://a", "http://b"], backoff=1.0, backoff_max=4.0, clock=clock)
    a = pool.acquire()
    pool.release(a, "ConnectError")
    assert [s.up for s in pool.states()] == [False, True]
    assert all(pool.acquire().url == "http://b" for _ in range(3))  # a gets nothing for 1 s
    clock.now += 1.0
    probe = pool.acquire(tried={"http://b"})  # back-off over: a is probed
    assert probe.url == "http://a"
    pool.release(probe, "HTTP 503")  # second failure in a row: 2 s
    clock.now += 1.9
    assert pool.acquire(tried={"http://b"}).url == "http://b"
    for _ in range(3):  # 4 s, then capped at 4 s, not 8 or 16
        clock.now = pool.replicas[0].down_until
        probe = pool.acquire(tried={"http://b"})
        pool.release(probe, "ReadTimeout")
    assert pool.replicas[0].down_until - clock.now == 4.0
    clock.now += 4.0
    probe = pool.acquire(tried={"http://b"})
    pool.release(probe)
    state = pool.states()[0]
    assert state.up and state.failures == 0 and state.served == 1
    assert state.last_error == "ReadTimeout"


def test_all_down_says_how_long_until_the_soonest_back_off_ends():
    clock = Clock()
    pool = ReplicaPool(["http://a", "http://b"], backoff=1.0, clock=clock)
    a, b = pool.acquire(), pool.acquire()
    pool.release(a, "ConnectError", retry_after=5.0)  # the server asked for longer
    pool.release(b, "ConnectError")
    assert pool.acquire() == pytest.approx(1.0)
    clock.now += 1.0
    assert pool.acquire().url == "http://b"
    assert pool.describe_failures() == "http://a (ConnectError); http://b (ConnectError)"


def test_a_pool_of_one_is_never_down():
    pool = ReplicaPool(["http://a"])
    replica = pool.acquire()
    pool.release(replica, "ConnectError")
    assert pool.acquire() is replica


def test_urls_are_checked_and_the_model_id_depends_on_the_set_only():
    assert replica_urls("http://a/v1/") == ("http://a/v1",)
    with pytest.raises(BackendError, match="at least one"):
        replica_urls([])
    with pytest.raises(BackendError, match="more than once"):
        replica_urls([A, A + "/"])
    assert replica_model_id("m", A) == "openai:m@http://a/v1"  # as before replicas
    assert replica_model_id("m", [A]) == replica_model_id("m", A)
    assert replica_model_id("m", [A, B]) == replica_model_id("m", [B, A])
    assert replica_model_id("m", [A, B]) == "openai:m@http://a/v1,http://b/v1"


# -- the model over a mock transport -------------------------------------------
def test_single_string_base_url_behaves_as_before():
    statuses = iter([503, 200])

    def handler(request):
        code = next(statuses)
        return reply("ok") if code == 200 else status(code)(request)

    model = OpenAIChatModel(
        "m",
        base_url="http://test/v1/",
        concurrency=3,
        backoff=0.001,
        transport=httpx.MockTransport(handler),
    )
    assert model.model_id == "openai:m@http://test/v1/"
    assert model.base_url == "http://test/v1" and model.max_concurrency == 3
    assert model.generate(USER, GenerateParams()).text == "ok"  # retried on the same server
    assert model.replica_states()[0].up
    model.close()


def test_max_concurrency_scales_with_replicas():
    model = make(Hosts(), concurrency=3)
    assert model.max_concurrency == 6
    assert model.model_id == "openai:m@http://a/v1,http://b/v1"


@pytest.mark.parametrize(
    "failure", [status(500), status(429), refuse], ids=["500", "429", "refused"]
)
def test_a_failed_request_moves_to_the_other_replica(failure):
    hosts = Hosts(a=failure, b=lambda request: reply("from b"))
    model = make(hosts, max_retries=0)  # failover needs no retry budget
    out = model.generate(USER, GenerateParams())
    assert out.text == "from b" and out.model_id == "openai:m@http://a/v1,http://b/v1"
    assert hosts.calls == ["a", "b"]
    a, b = model.replica_states()
    assert not a.up and a.failures == 1 and b.up and b.served == 1
    # While a is backed off every request goes straight to b.
    model.generate(USER, GenerateParams())
    assert hosts.calls == ["a", "b", "b"]
    model.close()


def test_a_4xx_is_the_callers_fault_and_is_not_moved():
    hosts = Hosts(a=status(400), b=lambda request: reply())
    model = make(hosts)
    with pytest.raises(ServerError, match=r"http://a/v1 answered HTTP 400 after 1 attempt"):
        model.generate(USER, GenerateParams())
    assert hosts.calls == ["a"]
    assert model.replica_states()[0].up  # it answered: it is up
    model.close()


def test_a_backed_off_replica_is_probed_again_and_recovers():
    healthy = threading.Event()
    hosts = Hosts(
        a=lambda request: reply("from a") if healthy.is_set() else refuse(request),
        b=lambda request: reply("from b"),
    )
    model = make(hosts, replica_backoff=0.2)
    assert model.generate(USER, GenerateParams()).text == "from b"
    assert model.generate(USER, GenerateParams()).text == "from b"
    assert hosts.calls == ["a", "b", "b"]
    healthy.set()
    time.sleep(0.25)
    texts = {model.generate(USER, GenerateParams()).text for _ in range(4)}
    assert texts == {"from a", "from b"}  # a is back in the rotation
    assert model.replica_states()[0].up
    model.close()


def test_every_replica_down_is_one_error_naming_them_all():
    hosts = Hosts(a=refuse, b=status(503))
    model = make(hosts, max_retries=2, replica_backoff=0.01)
    started = time.monotonic()
    with pytest.raises(BackendError) as caught:
        model.generate(USER, GenerateParams())
    message = str(caught.value)
    assert isinstance(caught.value, ServerError)
    assert "all 2 replicas of 'm' failed after 4 attempts" in message
    assert "http://a/v1 (ConnectError)" in message and "http://b/v1 (HTTP 503)" in message
    assert "drop dead ones from base_url" in message
    assert len(hosts.calls) == 4  # a, b, then wait out the back-off: a, b
    assert time.monotonic() - started >= 0.01
    model.close()


def test_choice_logprobs_fail_over_like_generation():
    hosts = Hosts(a=status(502), b=lambda request: logprob_reply({"A": -0.2, "B": -1.9}))
    model = make(hosts)
    assert model.choice_logprobs(USER, ["A", "B"]) == [-0.2, -1.9]
    assert hosts.calls == ["a", "b"]
    model.close()


def test_requests_go_to_the_least_loaded_replica():
    release = threading.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host == "a" and not release.is_set():
            while not release.is_set():  # a holds its first request until told
                await asyncio.sleep(0.005)
        return reply(host)

    model = OpenAIChatModel(
        "m", base_url=[A, B], concurrency=4, transport=httpx.MockTransport(handler)
    )
    held = threading.Thread(target=model.generate, args=(USER, GenerateParams()))
    held.start()
    while model.replica_states()[0].in_flight == 0:
        time.sleep(0.005)
    # a has one in flight, b none: every request goes to b, even when the tie-break turn is a.
    assert [model.generate(USER, GenerateParams()).text for _ in range(3)] == ["b"] * 3
    release.set()
    held.join(timeout=5)
    assert [s.served for s in model.replica_states()] == [1, 3]
    model.close()


def test_the_pool_is_thread_safe():
    pool = ReplicaPool(["http://a", "http://b", "http://c"], backoff=1e-4, backoff_max=1e-3)

    def work() -> None:
        for n in range(500):
            replica = pool.acquire()
            while isinstance(replica, float):  # all three backed off for a moment
                time.sleep(replica)
                replica = pool.acquire()
            pool.release(replica, None if n % 7 else "HTTP 503")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    states = pool.states()
    assert all(s.in_flight == 0 for s in states)
    assert sum(s.served for s in states) == 8 * 500 - 8 * len(range(0, 500, 7))


# -- config and CLI -------------------------------------------------------------
def test_model_spec_takes_a_list_or_a_string():
    listed = load_chat_model(ModelSpec(backend="openai", model="m", base_url=[B, A]))
    assert listed.model_id == "openai:m@http://a/v1,http://b/v1"
    assert listed.max_concurrency == 16
    single = load_chat_model(ModelSpec(backend="openai", model="m", base_url=A))
    assert single.model_id == "openai:m@http://a/v1" and single.max_concurrency == 8
    with pytest.raises(ValidationError, match="more than once"):
        ModelSpec(backend="openai", model="m", base_url=[A, A])


async def _fake_openai(scope, receive, send) -> None:
    """A minimal ASGI OpenAI server answering every POST with its own port."""
    while (await receive()).get("more_body"):
        pass
    port = scope["server"][1]
    body = json.dumps(
        {"choices": [{"message": {"content": f"port {port}"}, "finish_reason": "stop"}]}
    ).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_cli_repeats_base_url_for_replicas():
    from charter.cli.main import app

    dead = f"http://127.0.0.1:{free_port()}/v1"
    with serving(_fake_openai) as live:
        args = ["models", "generate", "hi", "--backend", "openai", "--model", "m", "--json"]
        result = CliRunner().invoke(app, [*args, "--base-url", dead, "--base-url", f"{live}/v1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["text"] == f"port {live.rsplit(':', 1)[1]}"
    assert json.loads(result.output)["model_id"] == (
        f"openai:m@{','.join(sorted([dead, live + '/v1']))}"
    )


# -- two real llama.cpp servers, one killed mid-batch --------------------------
@contextmanager
def _llama_servers(count: int) -> Iterator[list[tuple[str, subprocess.Popen]]]:
    """``count`` llama.cpp servers on the policy model (1 thread, small context)."""
    from charter.backends.embedded import policy_model_path

    with llama_servers(count, policy_model_path(), "smol", n_ctx=512, timeout=120, threads=1) as s:
        yield s


@pytest.mark.model
@pytest.mark.server
def test_killing_a_real_replica_mid_batch_loses_and_duplicates_nothing():
    with _llama_servers(2) as servers:
        (url_a, _), (url_b, proc_b) = servers
        model = load_chat_model(
            ModelSpec(backend="openai", model="smol", base_url=[url_a, url_b], concurrency=2)
        )
        params = GenerateParams(max_tokens=8, temperature=0.0, seed=7)
        requests = (
            (i, [{"role": "user", "content": f"Say the number {i}."}], params) for i in range(40)
        )
        results: Counter[int] = Counter()
        errors = []
        served_before_kill = None
        for key, out in generate_many(model, requests, concurrency=4):
            results[key] += 1
            if not hasattr(out, "text"):
                errors.append((key, out))
            if sum(results.values()) == 10:
                served_before_kill = [s.served for s in model.replica_states()]
                proc_b.kill()
        states = model.replica_states()
        model.close()
    assert errors == []
    assert sorted(results) == list(range(40)) and set(results.values()) == {1}
    assert served_before_kill is not None and all(n > 0 for n in served_before_kill)
    assert not states[1].up and states[1].last_error  # b was seen to fail and backed off
    assert sum(s.served for s in states) == 40
