"""A killed import resumes: entries already in the ledger are skipped, nothing is
duplicated, and a bad line is named by its number (issue 14, item 7)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from charter.errors import EntryError
from charter.ledger import Ledger, LogKey, Wish, sign_entry
from charter.ledger.entry import generate_author_key, new_salt, public_key_b64

ORIGIN = "import.example/wishes"


@pytest.fixture
def source(tmp_path):
    """An exported log of ``n`` entries by one author; returns (export, author key, root)."""

    def make(n: int):
        key, salt = generate_author_key(), new_salt()
        author = public_key_b64(key)
        entries = [
            sign_entry(Wish(scenario=f"case {i}", behaviour="help"), 1, 0, key, "me", salt)
            for i in range(n)
        ]
        with Ledger.create(str(tmp_path / "src.sqlite"), ORIGIN, LogKey.generate(ORIGIN)) as led:
            led.grant(author, n)
            led.append(entries)
            path = tmp_path / "export.jsonl"
            led.export(path)
            return path, author, led.root()

    return make


def target(tmp_path, author, credits):
    led = Ledger.create(str(tmp_path / "dst.sqlite"), ORIGIN, LogKey.generate(ORIGIN))
    led.grant(author, credits)
    return led


def test_rerun_after_a_partial_import_appends_only_the_rest(tmp_path, source):
    path, author, root = source(300)
    partial = tmp_path / "partial.jsonl"
    partial.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:110]))
    with target(tmp_path, author, 300) as led:
        first = led.import_(partial, batch_size=50)
        assert (first.appended, first.skipped) == (110, 0)
        again = led.import_(path, batch_size=50)
        assert (again.appended, again.skipped) == (190, 110)
        assert led.size == 300 and led.root() == root
        assert led.balance(author) == 0  # nothing charged twice
        noop = led.import_(path)
        assert (noop.appended, noop.skipped) == (0, 300) and led.size == 300


def test_a_bad_line_is_named_by_its_number(tmp_path, source):
    path, author, _ = source(5)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[3] = lines[3].replace(b"case 3", b"case X")  # the signature no longer matches
    path.write_bytes(b"".join(lines))
    with target(tmp_path, author, 5) as led:
        with pytest.raises(Exception, match=r"export\.jsonl:4: ") as caught:
            led.import_(path, batch_size=2)
        assert "signature" in str(caught.value)
        assert led.size == 2  # the batches before the bad line are kept
    lines[3] = b"{not json\n"
    path.write_bytes(b"".join(lines))
    with Ledger.open(str(tmp_path / "dst.sqlite")) as led, pytest.raises(EntryError, match=":4: "):
        led.import_(path)


def test_cli_import_killed_mid_run_resumes_exactly(tmp_path, source):
    total = 3000
    path, author, root = source(total)
    db = str(tmp_path / "dst.sqlite")
    target(tmp_path, author, total).close()
    cmd = [sys.executable, "-m", "charter.cli.main", "ledger", "append", db, str(path)]
    proc = subprocess.Popen([*cmd, "--batch-size", "25"], start_new_session=True)
    size = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        with Ledger.open(db) as led:
            size = led.size
        if size >= 100:
            break
        time.sleep(0.02)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < size < total, "the import was not caught mid-run"
    rerun = subprocess.run([*cmd, "--json"], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    assert result["size"] == total
    assert result["appended"] + result["skipped"] == total and result["skipped"] >= size
    with Ledger.open(db) as led:
        assert led.root() == root and led.balance(author) == 0
