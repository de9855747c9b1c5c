"""Checkpoints: C2SP tlog-checkpoint text, signed-note signatures, key strings and key files."""

from __future__ import annotations

import base64
import hashlib
import stat

import pytest

from charter.errors import LedgerError, ProofError, SignatureError, VerificationError
from charter.ledger.checkpoint import (
    Checkpoint,
    LogKey,
    load_key,
    parse_verifier,
    save_key,
    sign_checkpoint,
    verify_checkpoint,
)

ORIGIN = "example.org/wishes"
SEED = bytes(range(32))
KEY = LogKey.from_seed(ORIGIN, SEED)
ROOT = hashlib.sha256(b"").digest()
CHECKPOINT = Checkpoint(ORIGIN, 42, ROOT)

# Fixed vector: RFC 8032 signatures are deterministic, so seed 00..1f pins the whole note.
PRIVATE = "PRIVATE+KEY+example.org/wishes+57e41b21+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
VERIFIER = "example.org/wishes+57e41b21+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
NOTE = (
    "example.org/wishes\n"
    "42\n"
    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    "\n"
    "\u2014 example.org/wishes V+QbIQw+o5V74wjJZb+RgaxWszJCnJFjeXZDLh05t8NDqpr2oPfZqcr4Wc2As"
    "k0Oj9r9pQ0eyyhEOvcFjiwFpgmlNQI=\n"
)


def sign_text(text: str, key: LogKey = KEY) -> str:
    """A signed note over arbitrary text, to reach the checkpoint parser with bad bodies."""
    signature = key.private_key.sign(text.encode())
    return f"{text}\n\u2014 {key.name} {base64.b64encode(key.key_id + signature).decode()}\n"


def test_fixed_seed_gives_the_pinned_keys_and_note():
    assert KEY.private_string() == PRIVATE
    assert KEY.verifier_string() == VERIFIER
    assert KEY.key_id == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + KEY.public_key).digest()[:4]
    assert sign_checkpoint(CHECKPOINT, KEY) == NOTE
    assert verify_checkpoint(NOTE, VERIFIER) == CHECKPOINT


def test_round_trip_with_extensions_and_an_empty_tree():
    key = LogKey.generate(ORIGIN)
    for checkpoint in (
        Checkpoint(ORIGIN, 0, ROOT),
        Checkpoint(ORIGIN, 2**63 - 1, bytes(range(32)), ("ext one", "\u00e9t\u00e9 2")),
    ):
        note = sign_checkpoint(checkpoint, key)
        assert verify_checkpoint(note, key.verifier_string(), origin=ORIGIN) == checkpoint
        assert verify_checkpoint(note.encode(), key.verifier()) == checkpoint
        assert Checkpoint.from_text(checkpoint.to_text()) == checkpoint


def test_key_strings_round_trip():
    key = LogKey.generate("log.example/a")
    again = LogKey.from_private_string(key.private_string())
    assert again.public_key == key.public_key and again.name == key.name
    assert parse_verifier(key.verifier_string()) == key.verifier()
    assert parse_verifier(key.verifier_string()).verifier_string() == key.verifier_string()
    assert PRIVATE[-20:] not in repr(KEY)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("example.org/wishes\n42", "example.org/wisher\n42"),  # origin
        ("\n42\n", "\n43\n"),  # size
        ("\n42\n", "\n4\n"),  # size, shorter
        ("47DEQpj8", "47DEQpj9"),  # root
        ("uFU=\n\n", "uFU=\next\n\n"),  # an extension line slipped in
    ],
)
def test_tampering_with_a_text_line_breaks_the_signature(old, new):
    tampered = NOTE.replace(old, new, 1)
    assert tampered != NOTE
    with pytest.raises(SignatureError, match="does not verify: the note was altered"):
        verify_checkpoint(tampered, VERIFIER)


def test_tampering_with_the_signature_bytes_is_detected():
    line = NOTE.split("\n")[4]
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[-1] ^= 0x01
    tampered = NOTE.replace(line.split(" ")[2], base64.b64encode(raw).decode())
    with pytest.raises(SignatureError, match="does not verify"):
        verify_checkpoint(tampered, VERIFIER)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\u2014 example.org/wishes V+Qb", "\u2014 example.org/wishez V+Qb"),  # key name
        ("V+QbIQw+", "V+QbIAw+"),  # key ID
    ],
)
def test_a_signature_under_another_name_or_key_id_counts_as_missing(old, new):
    with pytest.raises(SignatureError, match=r"no signature by example\.org/wishes\+57e41b21"):
        verify_checkpoint(NOTE.replace(old, new), VERIFIER)


def test_wrong_key_is_refused():
    other = LogKey.generate(ORIGIN)
    with pytest.raises(SignatureError, match="no signature by") as caught:
        verify_checkpoint(NOTE, other.verifier_string())
    assert caught.value.computed == "example.org/wishes+57e41b21"
    # Same name and forged key ID: a collision can only fail verification, never pass.
    imposter = LogKey(ORIGIN, LogKey.generate(ORIGIN).private_key)
    forged = sign_checkpoint(CHECKPOINT, imposter)
    forged = forged.replace(
        forged.split(" ")[-1].strip(),
        base64.b64encode(KEY.key_id + base64.b64decode(forged.split(" ")[-1])[4:]).decode(),
    )
    with pytest.raises(SignatureError, match="does not verify"):
        verify_checkpoint(forged, VERIFIER)


def test_unknown_signatures_are_ignored_but_a_bad_known_one_rejects_the_note():
    witness = LogKey.generate("witness.example")
    extra = sign_checkpoint(CHECKPOINT, witness).split("\n\n")[1]
    assert verify_checkpoint(NOTE + extra, VERIFIER) == CHECKPOINT
    assert verify_checkpoint(NOTE + extra, witness.verifier_string()) == CHECKPOINT
    good_line = NOTE.split("\n\n")[1]
    bad_line = good_line.replace("NQI=", "NQA=")
    with pytest.raises(SignatureError, match="does not verify"):
        verify_checkpoint(NOTE + bad_line, VERIFIER)


def test_origin_must_match_when_given():
    with pytest.raises(VerificationError, match=r"for log 'example\.org/wishes', not 'other'"):
        verify_checkpoint(NOTE, VERIFIER, origin="other")


@pytest.mark.parametrize(
    ("note", "message"),
    [
        (NOTE[:-1], "does not end in a newline"),
        (NOTE.replace("\n\n", "\n"), "no blank line"),
        (NOTE.split("\u2014")[0], "no signature lines"),
        (NOTE.replace("42", "4\t2"), "control character"),
        (NOTE.replace("42", "4\r2"), "control character"),
        (NOTE.replace("\u2014", "-"), "signature line 1 is not"),
        (NOTE.replace("\u2014 ", "\u2014"), "signature line 1 is not"),
        (NOTE.replace("NQI=\n", "NQI= x\n"), "signature line 1 is not"),
        (NOTE.replace("V+QbIQw+", "V+Qb!Qw+"), "signature line 1 is not canonical base64"),
        (NOTE.replace("NQI=", "NQJ="), "signature line 1 is not canonical base64"),
        (NOTE.split("V+Qb")[0] + "AAAA\n", "too short for a key ID"),
        (NOTE + NOTE.split("\n\n")[1] * 100, "101 signature lines; the limit is 100"),
        (NOTE.encode().replace(b"42", b"\xff"), r"not valid UTF-8 \(byte 19\)"),
        (NOTE.replace("42", "\ud800"), "lone surrogate"),
    ],
)
def test_malformed_notes_say_what_is_wrong(note, message):
    with pytest.raises(ProofError, match=message):
        verify_checkpoint(note, VERIFIER)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("example.org/wishes\n42\n", "has 2 line"),
        ("example.org/wishes\n042\n" + base64.b64encode(ROOT).decode() + "\n", "leading zeroes"),
        ("example.org/wishes\n-1\n" + base64.b64encode(ROOT).decode() + "\n", "tree size '-1'"),
        ("example.org/wishes\n+1\n" + base64.b64encode(ROOT).decode() + "\n", "tree size"),
        ("example.org/wishes\n1\n" + base64.b64encode(ROOT[:31]).decode() + "\n", "31 bytes"),
        ("example.org/wishes\n1\n" + "not base64!" + "\n", "not canonical base64"),
        (
            "example.org/wishes\n" + "9" * 20 + "\n" + base64.b64encode(ROOT).decode() + "\n",
            r"2\*\*63",
        ),
        ("\n1\n" + base64.b64encode(ROOT).decode() + "\nx\n", "origin line is empty"),
    ],
)
def test_malformed_checkpoint_text_under_a_valid_signature(text, message):
    with pytest.raises(ProofError, match=message):
        verify_checkpoint(sign_text(text), VERIFIER)


def test_checkpoint_values_are_checked_on_construction():
    with pytest.raises(LedgerError, match="origin line is empty"):
        Checkpoint("", 1, ROOT)
    with pytest.raises(LedgerError, match="holds a newline"):
        Checkpoint("a\nb", 1, ROOT)
    with pytest.raises(LedgerError, match="empty extension line"):
        Checkpoint(ORIGIN, 1, ROOT, ("",))
    with pytest.raises(LedgerError, match="tree size -1"):
        Checkpoint(ORIGIN, -1, ROOT)
    with pytest.raises(LedgerError, match="root hash is str, not 32 bytes"):
        Checkpoint(ORIGIN, 1, "ab" * 32)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("verifier", "message"),
    [
        ("example.org/wishes+57e41b21", "is not <name>"),
        ("example.org/wishes+57e41b2+AQOh", "ID '57e41b2' is not 8 hex digits"),
        ("example org+57e41b21+" + VERIFIER.split("+", 2)[2], "contains a space"),
        (VERIFIER.replace("57e41b21", "57e41b22"), "does not match its name and key"),
        (VERIFIER.replace("AQOh", "AgOh"), r"not an Ed25519 \(type 0x01\) key"),
        (VERIFIER[:-4], "holds 29 key bytes, not 32"),
        (VERIFIER[:-1], "not canonical base64"),
        (VERIFIER.replace("+AQOh", "+AQO"), "not canonical base64"),
    ],
)
def test_malformed_verifier_keys_are_refused(verifier, message):
    with pytest.raises(LedgerError, match=message):
        verify_checkpoint(NOTE, verifier)


@pytest.mark.parametrize(
    ("private", "message"),
    [
        (PRIVATE.removeprefix("PRIVATE+KEY+"), "does not start with 'PRIVATE\\+KEY\\+'"),
        (PRIVATE.replace("57e41b21", "57e41b20"), "does not match its name and key"),
        (PRIVATE.replace("wishes", "wishez"), "does not match its name and key"),
        (PRIVATE[:-4], "holds 29 seed bytes, not 32"),
        (PRIVATE[:-1], "not canonical base64"),
    ],
)
def test_malformed_private_keys_are_refused(private, message):
    with pytest.raises(LedgerError, match=message):
        LogKey.from_private_string(private)


def test_key_names_follow_the_signed_note_rules():
    for name in ("", "has space", "has+plus", "tab\tname", "nbsp\u00a0name"):
        with pytest.raises(LedgerError, match="log key name"):
            LogKey.from_seed(name, SEED)
    with pytest.raises(LedgerError, match="seed is 31 bytes"):
        LogKey.from_seed(ORIGIN, SEED[:31])


def test_key_files_are_private_and_round_trip(tmp_path):
    path = tmp_path / "log.key"
    save_key(path, KEY)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == PRIVATE + "\n"
    assert load_key(path).private_string() == PRIVATE
    with pytest.raises(LedgerError, match="already exists"):
        save_key(path, LogKey.generate(ORIGIN))
    path.chmod(0o644)
    other = LogKey.generate(ORIGIN)
    save_key(path, other, overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path).private_string() == other.private_string()


def test_key_file_errors_name_the_file(tmp_path):
    with pytest.raises(LedgerError, match="no such log key file"):
        load_key(tmp_path / "missing.key")
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n")
    with pytest.raises(LedgerError, match=r"bad\.key: private log key does not start"):
        load_key(bad)
    with pytest.raises(LedgerError, match="cannot write"):
        save_key(tmp_path / "no" / "dir" / "log.key", KEY)
