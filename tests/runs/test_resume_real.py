"""kill -9 in the middle of a real run, then rerun: nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from charter.runs import read_jsonl

pytestmark = pytest.mark.model


def test_kill_9_then_resume(tmp_path):
    out = tmp_path / "out"
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "resume",
                "seed": 1,
                "output_dir": str(out),
                "models": {
                    "policy": {"backend": "llama_cpp", "model": "embedded:policy", "n_ctx": 1024}
                },
                "stages": [
                    {
                        "name": "gen",
                        "kind": "generate",
                        "model": "policy",
                        "limit": 10,
                        "max_tokens": 48,
                    }
                ],
            }
        )
    )
    rows_path = out / "gen" / "generations.jsonl"
    cmd = [sys.executable, "-m", "charter.cli.main", "run", str(config), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        if rows_path.exists() and len(rows_path.read_bytes().splitlines()) >= 3:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = list(read_jsonl(rows_path))
    assert 3 <= len(before) < 10, "the run finished before it could be interrupted"

    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    after = list(read_jsonl(rows_path))
    keys = [r["key"] for r in after]
    assert len(keys) == len(set(keys)) == 10
    assert after[: len(before)] == before  # finished rows untouched
    # Resumed rows are what an uninterrupted run gives: seeds derive from ids.
    fresh_out = tmp_path / "fresh"
    fresh = yaml.safe_load(config.read_text())
    fresh["output_dir"] = str(fresh_out)
    config.write_text(yaml.safe_dump(fresh))
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    by_key = {r["key"]: r["response"] for r in read_jsonl(fresh_out / "gen" / "generations.jsonl")}
    assert {r["key"]: r["response"] for r in after} == by_key
