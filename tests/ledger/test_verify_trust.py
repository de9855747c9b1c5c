"""Offline verification trusts nothing in the bundle: pinned keys, covered entries, one-line
errors for malformed bundles (issue 14, item 1)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from charter.errors import LedgerError
from charter.ledger import Ledger, LogKey, Wish, sign_entry, verify_export
from charter.ledger.checkpoint import Checkpoint, sign_checkpoint, verify_checkpoint
from charter.ledger.entry import generate_author_key, new_salt, public_key_b64
from charter.ledger.verify import load_trusted_logs, pinned_verifier, read_checkpoint_notes
from charter.merkle import leaf_hash, root_hash

ORIGIN = "trust.example/wishes"


def charter(*args):
    return subprocess.run(
        [sys.executable, "-m", "charter.cli.main", "ledger", *args], capture_output=True, text=True
    )


def signed(n, start=0):
    key, salt = generate_author_key(), new_salt()
    author = public_key_b64(key)
    entries = [
        sign_entry(Wish(scenario=f"case {start + i}", behaviour="help"), 1, 0, key, "me", salt)
        for i in range(n)
    ]
    return author, entries


@pytest.fixture
def bundle(tmp_path):
    """An export of 6 entries with checkpoints at 0, 3 and 6, and the log's real key."""
    key = LogKey.generate(ORIGIN)
    author, entries = signed(6)
    with Ledger.create(str(tmp_path / "l.sqlite"), ORIGIN, key) as led:
        led.grant(author, 100)
        led.append(entries[:3])
        led.checkpoint()
        led.append(entries[3:])
        led.checkpoint()
        path = tmp_path / "export.jsonl"
        led.export(path)
        return path, led.verifier, key


def resign_with(path, key: LogKey) -> None:
    """What an attacker does: alter entries, re-sign checkpoints with their own key, and
    ship that key as the bundle's ``.verifier``."""
    _, forged = signed(6, start=100)
    lines = [e.canonical_bytes() for e in forged]
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    leaves = [leaf_hash(line) for line in lines]
    notes = [sign_checkpoint(Checkpoint(ORIGIN, n, root_hash(leaves[:n])), key) for n in (0, 6)]
    path.with_name(path.name + ".checkpoints.jsonl").write_text(
        "".join(json.dumps({"note": n}) + "\n" for n in notes)
    )
    path.with_name(path.name + ".verifier").write_text(key.verifier_string() + "\n")


def test_a_bundle_resigned_by_another_key_fails_against_the_pinned_key(bundle):
    path, verifier, _ = bundle
    resign_with(path, LogKey.generate(ORIGIN))  # same origin, attacker's key
    notes = read_checkpoint_notes(f"{path}.checkpoints.jsonl")
    report = verify_export(path, notes, verifier)
    assert not report.ok and "signature" in report.problems[0]
    # The old behaviour: the bundle's own key would have "verified" it.
    bundled = path.with_name(path.name + ".verifier").read_text().strip()
    assert verify_export(path, notes, bundled).ok
    cli = charter("verify", str(path), "--verifier", verifier)
    assert cli.returncode == 5 and "FAIL" in cli.stdout


def test_verify_without_a_pinned_key_refuses_in_one_line(bundle):
    path, _, _ = bundle
    cli = charter("verify", str(path))
    assert cli.returncode != 0
    assert cli.stderr.count("\n") == 1 and "--verifier" in cli.stderr
    assert "never trusted" in cli.stderr


def test_trusted_logs_file_pins_by_origin(bundle, tmp_path):
    path, verifier, _ = bundle
    trusted = tmp_path / "trusted-logs"
    trusted.write_text(f"# logs I trust\n{verifier}\nother.example/log {verifier}\n")
    assert load_trusted_logs(trusted)[ORIGIN] == verifier
    cli = charter("verify", str(path), "--trusted-logs", str(trusted), "--json")
    assert cli.returncode == 0 and json.loads(cli.stdout)["covered"] == 6
    unknown = tmp_path / "unknown"
    unknown.write_text(LogKey.generate("elsewhere.example/log").verifier_string() + "\n")
    cli = charter("verify", str(path), "--trusted-logs", str(unknown))
    assert cli.returncode == 4 and "not in" in cli.stderr and cli.stderr.count("\n") == 1
    with pytest.raises(LedgerError, match="origins"):
        pinned_verifier([f"{ORIGIN}\n0\nx\n", "b.example\n0\nx\n"], trusted_logs=trusted)


def test_entries_after_the_newest_checkpoint_are_unverified(tmp_path):
    key = LogKey.generate(ORIGIN)
    author, entries = signed(2000)
    with Ledger.create(str(tmp_path / "l.sqlite"), ORIGIN, key) as led:
        led.grant(author, 10_000)
        led.append(entries)  # appended, but no checkpoint signed since the size-0 one
        path = tmp_path / "export.jsonl"
        led.export(path)
        notes, verifier = led.checkpoints(), led.verifier
    report = verify_export(path, notes, verifier)
    assert not report.ok and report.covered == 0
    assert report.unverified_tail == (0, 1999)
    assert "not covered by any signed checkpoint" in report.problems[0]
    allowed = verify_export(path, notes, verifier, allow_unverified_tail=True)
    assert allowed.ok and allowed.warnings and allowed.covered == 0
    cli = charter("verify", str(path), "--verifier", verifier)
    assert cli.returncode == 5 and "0..1999" in cli.stdout
    cli = charter("verify", str(path), "--verifier", verifier, "--allow-unverified-tail")
    assert cli.returncode == 0 and "UNVERIFIED" in cli.stdout


@pytest.mark.parametrize(
    "content",
    [None, "", "garbage\n", '{"nope": 1}\n', '{"note": 5}\n', "\x00\xff junk", '{"note": "x"}\n'],
    ids=["missing", "empty", "junk", "no-note", "not-text", "binary", "bad-note"],
)
def test_malformed_checkpoint_files_get_one_line(bundle, content):
    path, verifier, _ = bundle
    cps = path.with_name(path.name + ".checkpoints.jsonl")
    if content is None:
        cps.unlink()
    else:
        cps.write_text(content, encoding="latin-1")
    cli = charter("verify", str(path), "--verifier", verifier)
    assert cli.returncode != 0
    assert "Traceback" not in cli.stderr
    message = cli.stderr.strip() or cli.stdout.strip()
    assert message.count("\n") == 0, message


@pytest.mark.parametrize(
    "args",
    [
        ["--verifier", "not-a-key"],
        ["--verifier", "/no/such/file"],
        ["--trusted-logs", "/no/such/file"],
    ],
)
def test_bad_keys_get_one_line(bundle, args):
    path, _, _ = bundle
    cli = charter("verify", str(path), *args)
    assert cli.returncode == 4 and cli.stderr.count("\n") == 1 and "Traceback" not in cli.stderr


def test_missing_or_junk_export_gets_one_line(bundle, tmp_path):
    path, verifier, _ = bundle
    cli = charter("verify", str(tmp_path / "none.jsonl"), "--verifier", verifier)
    assert cli.returncode == 4 and "no such export" in cli.stderr
    path.write_bytes(b"\x00\x01\xff not json\n")
    cli = charter("verify", str(path), "--verifier", verifier)
    assert cli.returncode == 5 and "entry 0 (line 1)" in cli.stdout


def test_two_signed_roots_for_one_size_are_a_split_view(bundle):
    path, verifier, key = bundle
    notes = read_checkpoint_notes(f"{path}.checkpoints.jsonl")
    assert verify_checkpoint(notes[1], verifier).size == 3
    fork = sign_checkpoint(Checkpoint(ORIGIN, 3, b"\x01" * 32), key)
    report = verify_export(path, notes, verifier, old_checkpoint=fork)
    assert not report.ok and "split view" in report.problems[0]
