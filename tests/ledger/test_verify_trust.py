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


# -- issue 14 review: bundles that mix logs, stale old checkpoints, odd notes and files -----


def test_checkpoints_of_another_log_signed_by_the_same_key_are_refused(bundle):
    # The vote log shares the wish log's key: a valid signature does not make a note this log's.
    path, verifier, key = bundle
    notes = read_checkpoint_notes(f"{path}.checkpoints.jsonl")
    votes_note = sign_checkpoint(Checkpoint(ORIGIN + "/votes", 0, root_hash([])), key)
    report = verify_export(path, [*notes, votes_note], verifier)
    assert not report.ok and "2 origins" in report.problems[0]
    report = verify_export(path, notes, verifier, old_checkpoint=votes_note)
    assert not report.ok and "2 origins" in report.problems[0]


def test_an_old_checkpoint_larger_than_the_bundle_is_a_rollback(bundle):
    path, verifier, _ = bundle
    notes = read_checkpoint_notes(f"{path}.checkpoints.jsonl")
    assert [verify_checkpoint(n, verifier).size for n in notes] == [0, 3, 6]
    report = verify_export(path, notes[:2], verifier, old_checkpoint=notes[2])
    assert not report.ok and "larger than the bundle's newest" in report.problems[0]
    assert verify_export(path, notes, verifier, old_checkpoint=notes[1]).ok


def _signed_text(key: LogKey, text: str) -> str:
    import base64

    signature = key.private_key.sign(text.encode())
    return f"{text}\n\u2014 {key.name} {base64.b64encode(key.key_id + signature).decode()}\n"


@pytest.mark.parametrize("size", ["9" * 5000, str(2**63), "9" * 20])
def test_a_huge_size_line_is_one_refusal_not_a_crash(bundle, size):
    path, verifier, key = bundle
    note = _signed_text(key, f"{ORIGIN}\n{size}\n{'A' * 43}=\n")
    report = verify_export(path, [note], verifier)
    assert not report.ok and "tree size" in report.problems[0]
    cps = path.with_name(path.name + ".checkpoints.jsonl")
    cps.write_text(json.dumps({"note": note}) + "\n")
    cli = charter("verify", str(path), "--verifier", verifier)
    assert cli.returncode == 5 and "Traceback" not in cli.stderr + cli.stdout


def test_trusted_logs_pin_each_origin_once_and_only_to_its_own_logs(bundle, tmp_path):
    path, verifier, _ = bundle
    trusted = tmp_path / "trusted"
    trusted.write_text(
        f"{ORIGIN} {verifier}\n{ORIGIN} {LogKey.generate(ORIGIN).verifier_string()}\n"
    )
    with pytest.raises(LedgerError, match=r":2: log .* pinned twice with different keys"):
        load_trusted_logs(trusted)
    trusted.write_text(f"{ORIGIN} {verifier}\n{ORIGIN} {verifier}\n")  # repeated: harmless
    assert load_trusted_logs(trusted) == {ORIGIN: verifier}
    # A key pinned for another origin does not vouch for this log, although it signed it.
    trusted.write_text(f"other.example/wishes {verifier}\n")
    notes = read_checkpoint_notes(f"{path}.checkpoints.jsonl")
    with pytest.raises(LedgerError, match="is not in"):
        pinned_verifier(notes, trusted_logs=trusted)
    cli = charter("verify", str(path), "--trusted-logs", str(trusted))
    assert cli.returncode == 4 and "Traceback" not in cli.stderr
    # The vote log ("<origin>/votes") inherits its parent's pin, and only that.
    trusted.write_text(f"{ORIGIN} {verifier}\n")
    votes = [n.replace(ORIGIN + "\n", ORIGIN + "/votes\n", 1) for n in notes]
    assert pinned_verifier(votes, trusted_logs=trusted) == verifier


def test_votes_verify_with_a_missing_wish_export_is_one_line(bundle, tmp_path):
    path, verifier, _ = bundle
    cli = charter(
        "votes", "verify", str(path), "--verifier", verifier, "--wishes", str(tmp_path / "none")
    )
    assert cli.returncode != 0 and "Traceback" not in cli.stderr
    assert "--wishes" in cli.stderr and cli.stderr.count("\n") == 1


def test_paths_and_origins_in_cli_output_are_not_rich_markup(tmp_path):
    folder = tmp_path / "[/bold]"
    folder.mkdir(parents=True)  # the folders "[" and "bold]": the path reads "[/bold]"
    location, key = str(folder / "l.sqlite"), folder / "k"
    cli = charter("init", location, "--origin", "m.example/[/red]", "-k", str(key))
    assert cli.returncode == 0, cli.stderr
    assert "[/red]" in cli.stdout
    cli = charter("export", location, str(folder / "e.jsonl"), "-k", str(key))
    assert cli.returncode == 0, cli.stderr
    assert "[/bold]" in cli.stdout


def test_a_key_too_long_to_be_a_file_name_is_judged_as_a_key(bundle):
    # pathlib raises OSError (ENAMETOOLONG) on such a name; it must not become a traceback.
    path, _, _ = bundle
    long_key = "x.example/w+01234567+" + "A" * 5000
    with pytest.raises(LedgerError, match="verifier key"):
        pinned_verifier([], long_key)
    cli = charter("verify", str(path), "--verifier", long_key)
    assert cli.returncode == 4 and cli.stderr.count("\n") == 1 and "Traceback" not in cli.stderr
