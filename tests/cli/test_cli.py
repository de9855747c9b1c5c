"""The charter command: help everywhere, --json, one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

COMMANDS = [
    [],
    ["constitution"],
    ["constitution", "show"],
    ["constitution", "validate"],
    ["constitution", "diff"],
    ["models"],
    ["models", "list"],
    ["models", "check"],
    ["models", "generate"],
    ["models", "embed"],
    ["run"],
    ["export"],
    ["ledger", "verify"],
    ["ledger", "witness"],
    ["ledger", "witness-key"],
]


def charter(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "charter.cli.main", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=600,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "charter")
def test_every_command_has_help(command):
    result = charter(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_constitution_show_json_and_validate():
    shown = json.loads(charter("constitution", "show", "--json").stdout)
    assert len(shown["hash"]) == 64 and len(shown["articles"]) >= 16
    one = json.loads(charter("constitution", "show", "--article", "3.1", "--json").stdout)
    assert one["id"] == "3.1" and one["conflicts"]
    from charter.constitution import default_path

    result = charter("constitution", "validate", str(default_path()), "--json")
    assert json.loads(result.stdout)[0]["hash"] == shown["hash"]


def test_bad_constitution_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "articles": [{"id": "1.1", "title": "t"}]}))
    result = charter("constitution", "validate", str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "rule: is required" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    debug = charter("--debug", "constitution", "validate", str(bad))
    assert "Traceback" in debug.stderr


def test_bad_config_and_missing_file(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"name": "x", "stages": [{"name": "a", "kind": "zap"}]}))
    result = charter("run", str(config))
    assert result.returncode == 2 and "kind 'zap' is unknown" in result.stderr
    assert "Traceback" not in result.stderr
    missing = charter("run", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "no such config file" in missing.stderr


def test_unreachable_server_exit_3():
    result = charter(
        "models",
        "generate",
        "hi",
        "--backend",
        "openai",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "x",
    )
    assert result.returncode == 3
    assert "cannot reach http://127.0.0.1:9/v1" in result.stderr
    assert "Traceback" not in result.stderr


def test_scripted_generate_json_and_choices():
    out = json.loads(
        charter("models", "generate", "hello", "--backend", "scripted", "--json").stdout
    )
    assert out["text"].startswith("[scripted reply to: hello")
    probs = json.loads(
        charter(
            "models", "generate", "q", "--backend", "scripted", "--choices", "A,B", "--json"
        ).stdout
    )
    assert probs["probs"][0] > probs["probs"][1]


def test_run_json(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "cli",
                "output_dir": str(tmp_path / "out"),
                "models": {"m": {"backend": "scripted"}},
                "stages": [{"name": "g", "kind": "generate", "model": "m", "limit": 3}],
            }
        )
    )
    summary = json.loads(charter("run", str(config), "--json").stdout)
    assert summary["stages"]["g"]["done"] == 3


@pytest.mark.model
def test_models_check_and_embed():
    checked = json.loads(charter("models", "check", "policy", "minilm-int8", "--json").stdout)
    assert [c["ok"] for c in checked] == [True, True]
    embedded = json.loads(charter("models", "embed", "a cat", "a kitten", "--json").stdout)
    assert embedded["dim"] == 384 and len(embedded["vectors"]) == 2
    assert charter("models", "check", "gpt-9").returncode == 2
