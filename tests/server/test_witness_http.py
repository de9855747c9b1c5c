"""Witnessing end to end over HTTP on loopback: a real witness server and a real wish server.

The witness (C2SP tlog-witness) and the wish service each run under uvicorn in
a thread on a free 127.0.0.1 port; wishes go in through the JSON API and the
served checkpoint must come back carrying a valid cosignature
(C2SP tlog-cosignature) that a k-of-n policy accepts.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from charter._util.net import free_port, serving
from charter.errors import ConfigError, SignatureError
from charter.ledger.checkpoint import LogKey, save_key, sign_checkpoint, verify_checkpoint
from charter.ledger.cosign import WitnessKey, verify_cosignatures
from charter.ledger.witness import Witness, format_add_checkpoint
from charter.merkle import consistency_proof
from charter.server import create_app
from charter.server.witness_app import create_witness_app
from charter.server.witnesses import WitnessEndpoint

pytestmark = pytest.mark.server

ORIGIN = "test.example/wishes"  # the ledger fixture's origin (tests/server/conftest.py)


@pytest.fixture
def witness_key() -> WitnessKey:
    return WitnessKey.generate("witness.test/w1")


@pytest.fixture
def witness(tmp_path, ledger, witness_key) -> Witness:
    return Witness(witness_key, {ledger.origin: ledger.verifier}, tmp_path / "witness.json")


@pytest.fixture
def witness_url(witness) -> Iterator[str]:
    with serving(create_witness_app(witness)) as url:
        yield url


def wish_app(ledger, witnesses):
    """The wish service without rate limits (these tests post quickly), with witnesses."""
    return create_app(
        ledger,
        rate_per_minute=None,
        ip_rate_per_minute=None,
        grant_new_keys=100,
        witnesses=witnesses,
    )


def post_wishes(base: str, author, count: int, start: int = 0) -> None:
    for i in range(count):
        entry = author.sign(f"Witnessed wish {start + i}.")
        reply = httpx.post(f"{base}/api/v1/wishes", content=entry.model_dump_json())
        assert reply.status_code == 201, reply.text


def served_note(base: str) -> str:
    reply = httpx.get(f"{base}/api/v1/checkpoint")
    assert reply.status_code == 200, reply.text
    return reply.json()["note"]


def test_served_checkpoints_carry_cosignatures(ledger, author, witness, witness_url, witness_key):
    vkey = witness_key.verifier_string()
    app = wish_app(ledger, [WitnessEndpoint(witness_url, vkey)])
    with serving(app) as base:
        post_wishes(base, author, 3)
        note = served_note(base)
        assert verify_checkpoint(note, ledger.verifier).size == 3
        assert verify_cosignatures(note, [vkey], 1) == [vkey]
        # The log grows: the next checkpoint goes with a consistency proof from 3.
        post_wishes(base, author, 4, start=3)
        note = served_note(base)
        assert verify_checkpoint(note, ledger.verifier).size == 7
        assert verify_cosignatures(note, [vkey], 1) == [vkey]
        assert note.count("\u2014 witness.test/w1 ") == 1
        assert witness.size(ORIGIN) == 7
        # Stored with the cosignature: every later request serves the same note.
        assert served_note(base) == note == ledger.latest_checkpoint()
    # k of n: one named witness cosigned; two are required, or the only one named is unknown.
    other = WitnessKey.generate("witness.test/w2").verifier_string()
    with pytest.raises(SignatureError, match="1 valid cosignature"):
        verify_cosignatures(note, [vkey, other], 2)
    with pytest.raises(SignatureError, match=r"missing: witness\.test/w2"):
        verify_cosignatures(note, [other], 1)
    with pytest.raises(ConfigError):
        verify_cosignatures(note, [vkey], 2)


def test_a_restarted_log_catches_up_from_the_witness_size(ledger, author, witness, witness_url):
    endpoint = WitnessEndpoint(witness_url, witness.key.verifier_string())
    with serving(wish_app(ledger, [endpoint])) as base:
        post_wishes(base, author, 2)
        served_note(base)
    # A new process starts at old size 0; the witness answers 409 with its size 2.
    with serving(wish_app(ledger, [endpoint])) as base:
        post_wishes(base, author, 3, start=2)
        note = served_note(base)
    verify_cosignatures(note, [endpoint.verifier], 1)
    assert witness.size(ORIGIN) == 5


def test_a_witness_that_is_down_never_blocks_intake(ledger, author, witness_key):
    down = WitnessEndpoint(f"http://127.0.0.1:{free_port()}", witness_key.verifier_string())
    with serving(wish_app(ledger, [down])) as base:
        post_wishes(base, author, 2)
        started = time.monotonic()
        note = served_note(base)
        assert time.monotonic() - started < 5
        assert verify_checkpoint(note, ledger.verifier).size == 2
        assert "witness.test/w1" not in note
        post_wishes(base, author, 1, start=2)  # intake still works


def test_witness_http_status_codes(ledger, author, witness, witness_url):
    ledger.grant(author.key, 10)
    ledger.append([author.sign(f"wish {i}") for i in range(4)])
    note = ledger.checkpoint()
    url = f"{witness_url}/add-checkpoint"

    def post(body: bytes) -> httpx.Response:
        return httpx.post(url, content=body)

    first = post(format_add_checkpoint(0, [], note))
    assert first.status_code == 200 and first.text.startswith("\u2014 witness.test/w1 ")
    verify_cosignatures(note + first.text, [witness.key.verifier_string()], 1)
    stale = post(format_add_checkpoint(0, [], note))
    assert stale.status_code == 409 and stale.text == "4\n"
    assert stale.headers["content-type"].startswith("text/x.tlog.size")
    other_log = sign_checkpoint(verify_checkpoint(note, ledger.verifier), LogKey.generate(ORIGIN))
    assert post(format_add_checkpoint(4, [], other_log)).status_code == 403
    stranger = LogKey.generate("stranger.example/log")
    unknown = sign_checkpoint(verify_checkpoint(note, ledger.verifier), stranger)
    unknown = unknown.replace(ORIGIN, "stranger.example/log", 1)
    assert post(format_add_checkpoint(0, [], unknown)).status_code == 404
    assert post(b"old x\n\n" + note.encode()).status_code == 400
    assert post(format_add_checkpoint(9, [], note)).status_code == 400
    # Grow the log, then send a proof for the wrong sizes: 422, and nothing changes.
    ledger.append([author.sign(f"more {i}") for i in range(3)])
    new = ledger.checkpoint()
    wrong = consistency_proof([bytes(32)] * 7, 4)
    assert post(format_add_checkpoint(4, wrong, new)).status_code == 422
    assert post(format_add_checkpoint(4, ledger.consistency_proof(4, 7), new)).status_code == 200
    assert witness.size(ORIGIN) == 7
    # The monitoring endpoint serves the latest cosigned checkpoint.
    import hashlib

    origin_hash = hashlib.sha256(ORIGIN.encode()).hexdigest()
    latest = httpx.get(f"{witness_url}/{origin_hash}/checkpoint")
    assert latest.status_code == 200 and latest.text.startswith(new.split("\n\n")[0])
    assert httpx.get(f"{witness_url}/{'0' * 64}/checkpoint").status_code == 404


def test_witness_command_serves_and_cosigns(tmp_path, ledger, witness_key):
    """``charter ledger witness`` as a real process: key file, --log, add-checkpoint."""
    save_key(tmp_path / "w.key", witness_key)
    port = free_port()
    command = "import typer; from charter.cli.ledger import witness; typer.run(witness)"
    args = ["-k", str(tmp_path / "w.key"), "--state", str(tmp_path / "s.json")]
    args += ["--log", f"{ledger.origin}={ledger.verifier}", "--port", str(port)]
    process = subprocess.Popen([sys.executable, "-c", command, *args, "--log-level", "warning"])
    note = ledger.checkpoint()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                reply = httpx.post(
                    f"http://127.0.0.1:{port}/add-checkpoint",
                    content=format_add_checkpoint(0, [], note),
                )
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.1)
        assert reply.status_code == 200
        verify_cosignatures(note + reply.text, [witness_key.verifier_string()], 1)
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_serve_command_collects_cosignatures(tmp_path, author, witness_key):
    """``charter serve --witness URL=VERIFIER`` as a real process, with a witness in a thread."""
    from charter.ledger.log import Ledger

    key = LogKey.generate(ORIGIN)
    save_key(tmp_path / "log.key", key)
    Ledger.create(str(tmp_path / "w.db"), ORIGIN, key).close()
    (tmp_path / "w1.vkey").write_text(witness_key.verifier_string() + "\n")
    witness = Witness(witness_key, {ORIGIN: key.verifier_string()}, tmp_path / "witness.json")
    port = free_port()
    serve = "import typer; from charter.cli.serve import serve; typer.run(serve)"
    with serving(create_witness_app(witness)) as witness_url:
        args = [str(tmp_path / "w.db"), "-k", str(tmp_path / "log.key"), "--port", str(port)]
        args += ["--grant-new-keys", "5", "--log-level", "warning"]
        args += ["--witness", f"{witness_url}={tmp_path / 'w1.vkey'}"]
        process = subprocess.Popen([sys.executable, "-c", serve, *args])
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{base}/api/v1/key")
                    break
                except httpx.TransportError:
                    assert process.poll() is None and time.monotonic() < deadline, "no start"
                    time.sleep(0.1)
            post_wishes(base, author, 1)
            note = served_note(base)
        finally:
            process.terminate()
            process.wait(timeout=15)
    assert verify_checkpoint(note, key.verifier_string()).size == 1
    assert verify_cosignatures(note, [witness_key.verifier_string()], 1)


def test_offline_verify_requires_k_of_n_witnesses(tmp_path, ledger, author, witness, witness_url):
    """``charter ledger verify --witness ... --min-witnesses K`` on an export of a witnessed log."""
    vkey = witness.key.verifier_string()
    with serving(wish_app(ledger, [WitnessEndpoint(witness_url, vkey)])) as base:
        post_wishes(base, author, 3)
        served_note(base)
    ledger.export(tmp_path / "out.jsonl")
    (tmp_path / "w1.vkey").write_text(vkey + "\n")
    other = WitnessKey.generate("witness.test/w2").verifier_string()

    def verify(*options: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "charter.cli.main", "ledger", "verify"]
        command += [str(tmp_path / "out.jsonl"), "--verifier", ledger.verifier, *options]
        run = subprocess.run(command, capture_output=True, text=True, timeout=120)
        run.stdout = " ".join(run.stdout.split())  # undo the console's line wrapping
        return run

    passed = verify("--witness", str(tmp_path / "w1.vkey"), "--min-witnesses", "1")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "cosigned by 1 witness" in passed.stdout
    two = verify("--witness", vkey, "--witness", other, "--min-witnesses", "2")
    assert two.returncode == 5 and "1 valid cosignature(s) of the 2 required" in two.stdout
    unknown = verify("--witness", other, "--min-witnesses", "1")
    assert unknown.returncode == 5 and "missing: witness.test/w2" in unknown.stdout
    assert "Traceback" not in unknown.stderr
    no_k = verify("--witness", vkey)
    assert no_k.returncode == 2 and "--witness needs --min-witnesses" in no_k.stderr + no_k.stdout


def test_hostile_add_checkpoint_bodies_get_one_line_never_a_500(tmp_path, ledger, witness_key):
    from fastapi.testclient import TestClient

    key = LogKey.generate(ORIGIN)
    witness = Witness(witness_key, {ORIGIN: key.verifier_string()}, tmp_path / "w.json")
    client = TestClient(create_witness_app(witness), raise_server_exceptions=False)
    note = sign_checkpoint(_empty(ORIGIN), key)
    bodies = {
        "huge old": f"old {'9' * 5000}\n\n{note}".encode(),
        "old past 2**64": f"old {2**64}\n\n{note}".encode(),
        "negative old": f"old -1\n\n{note}".encode(),
        "unicode digits": f"old \u0661\n\n{note}".encode(),
        "CRLF": format_add_checkpoint(0, [], note).replace(b"\n", b"\r\n"),
        "proof line of 33 bytes": b"old 0\n" + b"A" * 44 + b"\n\n" + note.encode(),
        "not UTF-8": b"\xff\xfe",
        "empty": b"",
        "oversized": b"old 0\n\n" + b"x" * 70_000,
    }
    for name, body in bodies.items():
        reply = client.post("/add-checkpoint", content=body)
        assert 400 <= reply.status_code < 500, (name, reply.status_code, reply.text)
        assert reply.text.count("\n") == 1 and "Traceback" not in reply.text, name
    assert witness.size(ORIGIN) == 0 and witness.latest(ORIGIN) is None


def _empty(origin: str):
    from charter.ledger.checkpoint import Checkpoint
    from charter.merkle import EMPTY_ROOT

    return Checkpoint(origin, 0, EMPTY_ROOT)
