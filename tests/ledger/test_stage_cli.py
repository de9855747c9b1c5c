"""The ledger run stage (quickstart) and the `charter ledger` commands."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from charter.runs import run_experiment


def test_ledger_stage_builds_verifies_and_resumes(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "wishes",
                "seed": 3,
                "output_dir": str(tmp_path / "out"),
                "stages": [{"name": "ledger", "kind": "ledger", "limit": 40, "batch_size": 8}],
            }
        )
    )
    first = run_experiment(config, progress=False).stages["ledger"]
    assert first["verified"] and first["done"] == 40 and first["new"] == 40
    assert first["checkpoints"] >= 6
    config.write_text(config.read_text().replace("limit: 40", "limit: 60"))
    second = run_experiment(config, progress=False).stages["ledger"]
    assert second["new"] == 20 and second["done"] == 60 and second["verified"]
    out = tmp_path / "out" / "ledger"
    assert (out / "export.jsonl").read_bytes().count(b"\n") == 60
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "charter.cli.main",
            "ledger",
            "verify",
            str(out / "export.jsonl"),
            "--verifier",
            str(out / "export.jsonl.verifier"),  # the test made this log: its key is known
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0 and json.loads(cli.stdout)["entries"] == 60


def charter(*args):
    return subprocess.run(
        [sys.executable, "-m", "charter.cli.main", "ledger", *args], capture_output=True, text=True
    )


def test_cli_round_trip(tmp_path):
    db, key, author = str(tmp_path / "l.sqlite"), tmp_path / "log.key", tmp_path / "me.json"
    made_log = charter("init", db, "--origin", "cli.example/w", "--key-file", str(key), "--json")
    verifier = json.loads(made_log.stdout)["verifier"]
    made = json.loads(charter("author-key", str(author), "--json").stdout)
    assert (
        charter(
            "wish", db, "--author", str(author), "--scenario", "s", "--behaviour", "b"
        ).returncode
        == 4
    )  # no credit yet: refused, one line
    assert charter("grant", db, made["author_key"], "10").returncode == 0
    added = json.loads(
        charter(
            "wish",
            db,
            "--author",
            str(author),
            "--scenario",
            "A storm",
            "--behaviour",
            "Warn early",
            "--tag",
            "safety",
            "--json",
        ).stdout
    )
    assert added["index"] == 0
    assert "\n1\n" in charter("checkpoint", db, "--key-file", str(key)).stdout
    proof = json.loads(charter("prove", db, "--id", added["id"], "--json").stdout)
    assert proof["index"] == 0 and proof["size"] == 1
    listed = json.loads(charter("show", db, "--search", "storm", "--json").stdout)
    assert listed["entries"][0]["wish"]["tags"] == ["safety"]
    export = tmp_path / "e.jsonl"
    assert charter("export", db, str(export), "--key-file", str(key)).returncode == 0
    assert charter("verify", str(export), "--verifier", verifier).returncode == 0
    export.write_text(export.read_text().replace("A storm", "A flood"))
    failed = charter("verify", str(export), "--verifier", verifier)
    assert failed.returncode == 5 and "entry 0" in failed.stdout
    bad = charter("init", db, "--origin", "x", "--key-file", str(key))
    assert bad.returncode == 4 and bad.stderr.startswith("error: ")
