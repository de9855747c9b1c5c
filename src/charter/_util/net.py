"""Small network helpers for local servers (tests, benchmarks, `charter serve`)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextmanager
def llama_server(
    model: Path,
    alias: str,
    n_ctx: int = 2048,
    logits_all: bool = False,
    timeout: float = 60,
    threads: int | None = None,
) -> Iterator[str]:
    """Run llama-cpp-python's OpenAI-compatible server on loopback; yield its base URL.

    Used by the tests and benchmarks that exercise the ``openai`` backend
    against a real server. Raises RuntimeError if it does not answer in time.
    """
    with llama_servers(1, model, alias, n_ctx, logits_all, timeout, threads) as [(url, _)]:
        yield url


@contextmanager
def llama_servers(
    count: int,
    model: Path,
    alias: str,
    n_ctx: int = 2048,
    logits_all: bool = False,
    timeout: float = 60,
    threads: int | None = None,
) -> Iterator[list[tuple[str, subprocess.Popen]]]:
    """Start ``count`` llama.cpp servers at once; yield ``(base URL, process)`` of each.

    The processes are there for tests that kill one (replica failover); all are
    stopped on exit. Raises RuntimeError if one does not answer within ``timeout``.
    """
    servers: list[tuple[str, subprocess.Popen]] = []
    try:
        for _ in range(count):
            port = free_port()
            command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
            command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx)]
            command += ["--model_alias", alias]
            if logits_all:
                command += ["--logits_all", "true"]
            if threads:
                command += ["--n_threads", str(threads), "--n_threads_batch", str(threads)]
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            servers.append((f"http://127.0.0.1:{port}/v1", proc))
        deadline = time.monotonic() + timeout
        for url, proc in servers:
            while True:
                try:
                    if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"llama.cpp server for {model} did not start on {url}")
                time.sleep(0.2)
        yield servers
    finally:
        for _, proc in servers:
            proc.terminate()
        for _, proc in servers:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@contextmanager
def serving(app: object, timeout: float = 20, log_level: str = "warning") -> Iterator[str]:
    """Serve an ASGI ``app`` with uvicorn on a free loopback port in a thread; yield its URL.

    For tests and benchmarks that need a real HTTP server in-process. Raises
    RuntimeError if it does not start within ``timeout`` seconds.
    """
    import threading

    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start within {timeout:g} s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
