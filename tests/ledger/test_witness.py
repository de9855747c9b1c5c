"""Cosignatures (C2SP tlog-cosignature) and the witness (C2SP tlog-witness), without HTTP."""

from __future__ import annotations

import base64
import json
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.errors import (
    ConfigError,
    LedgerError,
    ProofError,
    RootMismatchError,
    SignatureError,
    VerificationError,
)
from charter.ledger import Ledger, LogKey, Wish, sign_entry
from charter.ledger.checkpoint import Checkpoint, save_key, sign_checkpoint, verify_checkpoint
from charter.ledger.cosign import (
    SplitViewError,
    WitnessKey,
    cosign,
    detect_split_view,
    load_witness_key,
    parse_witness_verifier,
    read_witness_verifiers,
    verify_cosignature,
    verify_cosignatures,
)
from charter.ledger.entry import generate_author_key, new_salt, public_key_b64
from charter.ledger.witness import (
    EMPTY_ROOT,
    SizeConflictError,
    UnknownLogError,
    Witness,
    WitnessRequestError,
    format_add_checkpoint,
    parse_add_checkpoint,
    parse_log_option,
)
from charter.merkle import consistency_proof, leaf_hash, root_hash

ORIGIN = "test.example/wishes"
T0 = 1_700_000_000


@pytest.fixture
def log_key() -> LogKey:
    return LogKey.from_seed(ORIGIN, bytes(range(32)))


@pytest.fixture
def witness_key() -> WitnessKey:
    return WitnessKey.from_seed("witness.example/w1", bytes(range(1, 33)))


def leaves(n: int, tag: str = "") -> list[bytes]:
    return [leaf_hash(f"wish {i}{tag}".encode()) for i in range(n)]


def note_for(key: LogKey, hashes: list[bytes], origin: str = ORIGIN) -> str:
    return sign_checkpoint(Checkpoint(origin, len(hashes), root_hash(hashes)), key)


def make_witness(tmp_path, witness_key: WitnessKey, log_key: LogKey) -> Witness:
    return Witness(
        witness_key, {ORIGIN: log_key.verifier_string()}, tmp_path / "w.json", lambda: T0
    )


# -- cosignatures ---------------------------------------------------------------------------


def test_cosignature_follows_the_spec_byte_for_byte(log_key, witness_key):
    cp = Checkpoint(ORIGIN, 3, root_hash(leaves(3)))
    line = cosign(cp, witness_key, timestamp=1679315147)
    assert line.startswith("\u2014 witness.example/w1 ") and line.endswith("\n")
    blob = base64.b64decode(line.split(" ")[2])
    assert len(blob) == 4 + 8 + 64
    # key ID: SHA-256(name || 0x0A || 0x04 || public key)[:4], not the 0x01 note key ID
    import hashlib

    expected_id = hashlib.sha256(b"witness.example/w1\n\x04" + witness_key.public_key).digest()[:4]
    assert blob[:4] == expected_id == witness_key.key_id
    assert struct.unpack(">Q", blob[4:12]) == (1679315147,)
    message = b"cosignature/v1\ntime 1679315147\n" + cp.to_text().encode()
    Ed25519PublicKey.from_public_bytes(witness_key.public_key).verify(blob[12:], message)


def test_cosignature_round_trip_and_keys(tmp_path, log_key, witness_key):
    note = note_for(log_key, leaves(5))
    cosigned = note + cosign(verify_checkpoint(note, log_key.verifier_string()), witness_key, T0)
    assert verify_cosignature(cosigned, witness_key.verifier_string()).timestamp == T0
    # The log's own signature still verifies beside the cosignature.
    assert verify_checkpoint(cosigned, log_key.verifier_string()).size == 5
    vkey = witness_key.verifier_string()
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04
    assert parse_witness_verifier(vkey).verifier_string() == vkey
    again = WitnessKey.from_private_string(witness_key.private_string())
    assert again.verifier_string() == vkey
    save_key(tmp_path / "w.key", witness_key)
    assert load_witness_key(tmp_path / "w.key").verifier_string() == vkey
    with pytest.raises(LedgerError, match="type 0x04"):
        parse_witness_verifier(log_key.verifier_string())
    with pytest.raises(LedgerError, match="type 0x01"):
        verify_checkpoint(cosigned, vkey)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda note: note.replace("\n5\n", "\n6\n", 1),  # the checkpoint text
        lambda note: _edit_blob(note, lambda b: b[:4] + struct.pack(">Q", T0 + 1) + b[12:]),
        lambda note: _edit_blob(note, lambda b: b[:-1] + bytes([b[-1] ^ 1])),
        lambda note: _edit_blob(note, lambda b: b[:-8]),
        lambda note: _edit_blob(note, lambda b: b[:4] + bytes(8) + b[12:]),  # timestamp 0
    ],
    ids=["text", "timestamp", "signature", "truncated", "zero-time"],
)
def test_tampered_cosignatures_are_refused(log_key, witness_key, tamper):
    note = note_for(log_key, leaves(5))
    cosigned = note + cosign(Checkpoint.from_text(note.split("\n\n")[0] + "\n"), witness_key, T0)
    with pytest.raises(SignatureError, match=r"cosignature by witness.example/w1"):
        verify_cosignature(tamper(cosigned), witness_key.verifier_string())


def _edit_blob(note: str, edit) -> str:
    lines = note.rstrip("\n").split("\n")
    dash, name, encoded = lines[-1].split(" ")
    blob = edit(base64.b64decode(encoded))
    lines[-1] = f"{dash} {name} {base64.b64encode(blob).decode()}"
    return "\n".join(lines) + "\n"


def test_k_of_n(log_key):
    note = note_for(log_key, leaves(4))
    cp = Checkpoint.from_text(note.split("\n\n")[0] + "\n")
    w1, w2, w3 = (WitnessKey.generate(f"w{i}.example") for i in (1, 2, 3))
    cosigned = note + cosign(cp, w1, T0) + cosign(cp, w2, T0)
    vkeys = [w.verifier_string() for w in (w1, w2, w3)]
    assert verify_cosignatures(cosigned, vkeys, 2) == vkeys[:2]
    assert verify_cosignatures(cosigned, vkeys[:1], 1) == vkeys[:1]
    with pytest.raises(SignatureError, match=r"1 valid cosignature.* of the 2 required; missing"):
        verify_cosignatures(note + cosign(cp, w1, T0), vkeys, 2)
    with pytest.raises(SignatureError, match=r"missing: w3.example"):
        verify_cosignatures(cosigned, vkeys, 3)
    with pytest.raises(ConfigError, match="cannot be met by 1 named"):
        verify_cosignatures(cosigned, [vkeys[0], vkeys[0]], 2)  # one witness named twice
    with pytest.raises(ConfigError):
        verify_cosignatures(cosigned, vkeys, 0)


def test_witness_verifiers_from_values_and_files(tmp_path, witness_key, log_key):
    other = WitnessKey.generate("w2.example").verifier_string()
    (tmp_path / "ws.txt").write_text(f"# pinned witnesses\n{other}\n\n")
    vkey = witness_key.verifier_string()
    assert read_witness_verifiers([vkey, str(tmp_path / "ws.txt")]) == [vkey, other]
    with pytest.raises(LedgerError, match="neither a key nor a readable file"):
        read_witness_verifiers([str(tmp_path / "missing")])
    with pytest.raises(LedgerError, match="type 0x04"):
        read_witness_verifiers([log_key.verifier_string()])


# -- the witness ----------------------------------------------------------------------------


def test_witness_cosigns_a_growing_log_and_persists(tmp_path, log_key, witness_key):
    witness = make_witness(tmp_path, witness_key, log_key)
    hashes = leaves(13)
    first = note_for(log_key, hashes[:5])
    line = witness.add_checkpoint(0, [], first)
    verify_cosignature(first + line, witness_key.verifier_string())
    second = note_for(log_key, hashes)
    line = witness.add_checkpoint(5, consistency_proof(hashes, 5), second)
    assert verify_cosignature(second + line, witness_key.verifier_string()).timestamp == T0
    # Re-opened from its state file, it remembers size 13.
    reopened = make_witness(tmp_path, witness_key, log_key)
    assert reopened.size(ORIGIN) == 13
    assert reopened.latest(ORIGIN) == second + line
    state = json.loads((tmp_path / "w.json").read_text())
    assert state["logs"][ORIGIN]["size"] == 13
    # The same checkpoint again (old size = size, same root) is cosigned again.
    reopened.add_checkpoint(13, [], second)


def test_witness_refuses_bad_requests(tmp_path, log_key, witness_key):
    witness = make_witness(tmp_path, witness_key, log_key)
    hashes = leaves(8)
    with pytest.raises(SignatureError, match="no signature by"):
        witness.add_checkpoint(0, [], note_for(LogKey.generate(ORIGIN), hashes))
    forged = note_for(log_key, hashes).replace("\n8\n", "\n9\n", 1)
    with pytest.raises(SignatureError, match="does not verify"):
        witness.add_checkpoint(0, [], forged)
    with pytest.raises(UnknownLogError, match=r"does not witness log 'other.example/log'"):
        witness.add_checkpoint(0, [], note_for(log_key, hashes, origin="other.example/log"))
    with pytest.raises(WitnessRequestError, match="old size 9 is above"):
        witness.add_checkpoint(9, [], note_for(log_key, hashes))
    with pytest.raises(ProofError, match="from size 0 must be empty"):
        witness.add_checkpoint(0, [hashes[0]], note_for(log_key, hashes))
    empty = sign_checkpoint(Checkpoint(ORIGIN, 0, hashes[0]), log_key)
    with pytest.raises(VerificationError, match="empty tree's root"):
        witness.add_checkpoint(0, [], empty)
    witness.add_checkpoint(0, [], sign_checkpoint(Checkpoint(ORIGIN, 0, EMPTY_ROOT), log_key))
    assert witness.size(ORIGIN) == 0


def test_witness_answers_a_stale_old_size_with_its_size(tmp_path, log_key, witness_key):
    witness = make_witness(tmp_path, witness_key, log_key)
    hashes = leaves(10)
    witness.add_checkpoint(0, [], note_for(log_key, hashes[:6]))
    with pytest.raises(SizeConflictError, match="resend with old 6") as caught:
        witness.add_checkpoint(0, [], note_for(log_key, hashes))
    assert caught.value.size == 6
    with pytest.raises(SizeConflictError):
        witness.add_checkpoint(4, consistency_proof(hashes, 4), note_for(log_key, hashes))
    witness.add_checkpoint(6, consistency_proof(hashes, 6), note_for(log_key, hashes))


def test_witness_refuses_an_inconsistent_proof_and_keeps_evidence(tmp_path, log_key, witness_key):
    witness = make_witness(tmp_path, witness_key, log_key)
    hashes = leaves(10)
    witness.add_checkpoint(0, [], note_for(log_key, hashes[:6]))
    rewritten = hashes[:3] + leaves(7, tag="-rewritten")  # history changed below size 6
    proof = consistency_proof(rewritten, 6)
    with pytest.raises(RootMismatchError, match="proof from size 6 to 10 does not verify"):
        witness.add_checkpoint(6, proof, note_for(log_key, rewritten))
    with pytest.raises(ProofError):  # a proof of the wrong length
        witness.add_checkpoint(6, proof[:1], note_for(log_key, hashes))
    assert witness.size(ORIGIN) == 6
    assert [row["kind"] for row in witness.evidence()] == ["inconsistent", "inconsistent"]


def test_add_checkpoint_body_round_trip(log_key):
    hashes = leaves(9)
    note = note_for(log_key, hashes)
    proof = consistency_proof(hashes, 4)
    body = format_add_checkpoint(4, proof, note)
    assert body.decode().startswith("old 4\n") and "\n\n" + note in body.decode()
    assert parse_add_checkpoint(body) == (4, proof, note)
    for bad, match in [
        (b"old 04\n\n" + note.encode(), "not 'old <size>'"),
        (b"old 4\nnot-base64\n\n" + note.encode(), "line 2 is not a base64"),
        (b"old 4\n", "no blank line"),
        (b"old 1\n" + b"AAAA\n" * 64 + b"\n" + note.encode(), "at most 63"),
        (b"\xff\n\n", "not UTF-8"),
    ]:
        with pytest.raises(WitnessRequestError, match=match):
            parse_add_checkpoint(bad)
    assert parse_log_option(f"{ORIGIN}={log_key.verifier_string()}")[0] == ORIGIN
    with pytest.raises(LedgerError, match="not ORIGIN=VERIFIER"):
        parse_log_option(ORIGIN)


# -- a split view: two diverging logs with one origin and one key ---------------------------


def _ledger_with(location: str, key: LogKey, scenarios: list[str]) -> Ledger:
    author = generate_author_key()
    salt = new_salt()
    ledger = Ledger.create(location, ORIGIN, key)
    ledger.grant(public_key_b64(author), 100)
    ledger.append(
        [
            sign_entry(Wish(scenario=s, behaviour="help"), 1, 0, author, "someone", salt)
            for s in scenarios
        ]
    )
    return ledger


def test_split_view_is_caught_by_the_witness_and_by_a_client(tmp_path, log_key, witness_key):
    honest = _ledger_with(str(tmp_path / "a.db"), log_key, ["shared", "for everyone"])
    forked = _ledger_with(str(tmp_path / "b.db"), log_key, ["shared", "for one victim"])
    try:
        note_a, note_b = honest.checkpoint(), forked.checkpoint()
        cp_a = verify_checkpoint(note_a, log_key.verifier_string())
        cp_b = verify_checkpoint(note_b, log_key.verifier_string())
        assert cp_a.size == cp_b.size == 2 and cp_a.root != cp_b.root
        witness = make_witness(tmp_path, witness_key, log_key)
        witness.add_checkpoint(0, [], note_a)
        with pytest.raises(SplitViewError, match=r"split view: log test.example/wishes") as caught:
            witness.add_checkpoint(2, [], note_b)
        assert caught.value.evidence[1] == note_b
        assert [row["kind"] for row in witness.evidence()] == ["split-view"]
        assert witness.evidence()[0]["offered"] == note_b
        # A client that saw both notes (say, one from a friend) proves the fork.
        detect_split_view([note_a], log_key.verifier_string())
        with pytest.raises(SplitViewError, match="two roots for size 2") as seen:
            detect_split_view([note_a, note_b], log_key.verifier_string())
        assert set(seen.value.evidence) == {note_a, note_b}
        # Notes not signed by the log prove nothing and are refused.
        with pytest.raises(SignatureError):
            detect_split_view(
                [note_a, note_for(LogKey.generate(ORIGIN), leaves(2))], log_key.verifier_string()
            )
    finally:
        honest.close()
        forked.close()


# -- issue 14 review: sizes past 2**63 are one 400-class refusal, never a crash --------------


@pytest.mark.parametrize("old", ["1" * 5000, str(2**64), "9" * 20])
def test_a_huge_old_size_is_a_request_error(log_key, old):
    body = f"old {old}\n\n{note_for(log_key, leaves(3))}".encode()
    with pytest.raises(WitnessRequestError, match="is not 'old <size>'"):
        parse_add_checkpoint(body)


def test_a_note_with_a_huge_size_signed_by_the_log_is_refused(tmp_path, log_key, witness_key):
    text = f"{ORIGIN}\n{'9' * 5000}\n{base64.b64encode(EMPTY_ROOT).decode()}\n"
    signature = log_key.private_key.sign(text.encode())
    blob = base64.b64encode(log_key.key_id + signature).decode()
    note = f"{text}\n\u2014 {log_key.name} {blob}\n"
    witness = make_witness(tmp_path, witness_key, log_key)
    with pytest.raises(WitnessRequestError, match="tree size"):
        witness.add_checkpoint(0, [], note)
    with pytest.raises(ProofError, match="below 2\\*\\*63"):
        verify_checkpoint(note, log_key.verifier_string())


def test_one_witness_key_under_two_names_counts_once():
    # The cosigned message holds no name, so one key's line verifies under any name it is given.
    note = note_for(LogKey.from_seed(ORIGIN, bytes(range(32))), leaves(4))
    cp = Checkpoint.from_text(note.split("\n\n")[0] + "\n")
    seed = bytes(range(7, 39))
    w1, alias = WitnessKey.from_seed("w1.example", seed), WitnessKey.from_seed("w2.example", seed)
    cosigned = note + cosign(cp, w1, T0) + cosign(cp, alias, T0)
    vkeys = [w1.verifier_string(), alias.verifier_string()]
    assert vkeys[0] != vkeys[1]
    with pytest.raises(ConfigError, match="cannot be met by 1 named"):
        verify_cosignatures(cosigned, vkeys, 2)


def test_values_too_long_to_be_file_names_are_judged_as_keys():
    long_key = "w.example/w+01234567+" + "A" * 5000
    with pytest.raises(LedgerError, match=r"--log o\.example"):
        parse_log_option(f"o.example={long_key}")
    with pytest.raises(LedgerError):
        read_witness_verifiers([long_key])


def test_the_served_note_keeps_only_the_log_signature_and_this_cosignature(
    tmp_path, log_key, witness_key
):
    # A submitter adds a junk line under another witness's name; served on, it would make
    # the note fail for every client that pins that witness (signed-note rules).
    other = WitnessKey.from_seed("w2.example", bytes(range(9, 41)))
    junk = base64.b64encode(other.key_id + bytes(72)).decode()
    note = note_for(log_key, leaves(4)) + f"\u2014 {other.name} {junk}\n"
    witness = make_witness(tmp_path, witness_key, log_key)
    line = witness.add_checkpoint(0, [], note)
    served = witness.latest(ORIGIN)
    assert served == note_for(log_key, leaves(4)) + line
    assert junk not in served
    verify_checkpoint(served, log_key.verifier_string())
    verify_cosignature(served, witness_key.verifier_string())


def test_evidence_of_one_signed_note_is_kept_once(tmp_path, log_key, witness_key):
    # Signed checkpoints are public: resubmitting one with junk proofs must not fill the disk.
    witness = make_witness(tmp_path, witness_key, log_key)
    hashes = leaves(10)
    witness.add_checkpoint(0, [], note_for(log_key, hashes[:6]))
    for junk in range(5):
        with pytest.raises(VerificationError):
            witness.add_checkpoint(6, [bytes([junk]) * 32] * 3, note_for(log_key, hashes))
    assert [row["kind"] for row in witness.evidence()] == ["inconsistent"]
    again = make_witness(tmp_path, witness_key, log_key)  # a restarted witness remembers
    with pytest.raises(VerificationError):
        again.add_checkpoint(6, [bytes(32)] * 3, note_for(log_key, hashes))
    assert len(again.evidence()) == 1
