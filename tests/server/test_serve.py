"""``charter serve`` as a real process: starts on a ledger, takes a wish, stops cleanly."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from charter.ledger.checkpoint import LogKey, save_key
from charter.ledger.log import Ledger

pytestmark = pytest.mark.server

# The command function alone, so this test does not depend on how main.py mounts it.
SERVE = "import typer; from charter.cli.serve import serve; typer.run(serve)"
ORIGIN = "serve.example/wishes"


def new_ledger(tmp_path) -> tuple[LogKey, list[str]]:
    """A ledger and its key file in ``tmp_path``; returns the key and the serve arguments."""
    key = LogKey.generate(ORIGIN)
    save_key(tmp_path / "log.key", key)
    Ledger.create(str(tmp_path / "w.db"), ORIGIN, key).close()
    return key, [str(tmp_path / "w.db"), "-k", str(tmp_path / "log.key")]


def test_serve_runs_a_ledger_with_the_demo_grant(tmp_path, port, author):
    key, args = new_ledger(tmp_path)
    options = ["--port", str(port), "--grant-new-keys", "3", "--log-level", "warning"]
    server = subprocess.Popen([sys.executable, "-c", SERVE, *args, *options])
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"{base}/key").json()["verifier"] == key.verifier_string()
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.1)
        entry = author.sign("Served by the command line.")
        reply = httpx.post(f"{base}/wishes", content=entry.model_dump_json(exclude_none=True))
        assert reply.status_code == 201 and reply.json() == {"index": 0, "id": entry.id}
    finally:
        server.terminate()
        # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status shows it.
        assert server.wait(timeout=15) in (0, -15)
    with Ledger.open(str(tmp_path / "w.db")) as ledger:
        assert ledger.size == 1 and ledger.balance(entry.author_key) == 2


def test_serve_refuses_a_negative_grant(tmp_path):
    _, args = new_ledger(tmp_path)
    run = subprocess.run(
        [sys.executable, "-c", SERVE, *args, "--grant-new-keys", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "grant_new_keys must be 0 (off) or a positive number" in run.stderr
