"""``charter ledger votes``: simulate, tally, export and verify, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys

from charter.ledger.checkpoint import LogKey, save_key
from charter.ledger.entry import generate_author_key, new_salt, public_key_b64, sign_entry
from charter.ledger.log import Ledger

ORIGIN = "cli.example/wishes"


def charter(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "charter.cli.main", *args], capture_output=True, text=True
    )


def test_simulate_tally_export_verify(tmp_path):
    location, key_path = str(tmp_path / "l.db"), tmp_path / "log.key"
    key = LogKey.generate(ORIGIN)
    save_key(key_path, key)
    with Ledger.create(location, ORIGIN, key) as ledger:
        author = generate_author_key()
        ledger.grant(public_key_b64(author), 10)
        ledger.append(
            [sign_entry({"scenario": f"s{i}", "behaviour": "b"}, 1, 0, author, "me", new_salt())
             for i in range(6)]
        )  # fmt: skip
        ledger.export(tmp_path / "wishes.jsonl")

    args = ["ledger", "votes", "simulate", location, "--voters", "12", "--groups", "2",
            "-k", str(key_path), "--json"]  # fmt: skip
    first = charter(*args)
    assert first.returncode == 0, first.stderr
    added = json.loads(first.stdout)["added"]
    assert added > 0
    again = json.loads(charter(*args).stdout)  # rerun: nothing new, nothing duplicated
    assert again["added"] == 0 and again["skipped"] == added and again["size"] == added

    tally = json.loads(charter("ledger", "votes", "tally", location, "--json").stdout)
    assert tally["vote_log_size"] == added
    assert sum(w["total"] for w in tally["wishes"]) == added

    out = tmp_path / "votes.jsonl"
    assert (
        charter("ledger", "votes", "export", location, str(out), "-k", str(key_path)).returncode
        == 0
    )
    pinned = ["--verifier", key.verifier_string()]
    verified = charter("ledger", "votes", "verify", str(out), "--wishes",
                       str(tmp_path / "wishes.jsonl"), "--json", *pinned)  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["votes_in_force"] == added
    trusted = tmp_path / "trusted-logs"
    trusted.write_text(key.verifier_string() + "\n")  # the wish log's key signs its vote log
    by_file = charter("ledger", "votes", "verify", str(out), "--trusted-logs", str(trusted))
    assert by_file.returncode == 0, by_file.stderr

    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:3] + lines[4:]))  # drop one vote
    unpinned = charter("ledger", "votes", "verify", str(out))
    assert unpinned.returncode == 4 and "--verifier" in unpinned.stderr
    failed = charter("ledger", "votes", "verify", str(out), *pinned)
    assert failed.returncode == 5
    assert "votes were removed" in failed.stderr
    assert "Traceback" not in failed.stderr
