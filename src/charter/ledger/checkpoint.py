"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, Ed25519 keys.

A checkpoint (c2sp.org/tlog-checkpoint) commits a log to its RFC 6962 tree head.
Its note text is the origin line, the tree size in decimal without leading
zeroes, the base64 root hash, then optional non-empty extension lines, each
ending in a newline:

    example.org/wishes
    42
    3q2+7w...=

A signed note (c2sp.org/signed-note) follows the text with a blank line and
one line per signature, ``— <key name> <base64(key ID || signature)>`` (em dash
U+2014). For Ed25519 (signature type 0x01) the key ID is
``SHA-256(key name || 0x0A || 0x01 || public key)[:4]`` and the signature is
RFC 8032 Ed25519 over the note text (final newline included).

Keys use the text forms of golang.org/x/mod/sumdb/note, so Go tooling reads them:
verifier ``<name>+<8 hex key ID>+<base64(0x01 || public key)>`` and private
``PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 || 32-byte seed)>``.

Use: ``note = sign_checkpoint(Checkpoint(origin, size, root), key)``, then anyone
holding ``key.verifier_string()`` runs ``verify_checkpoint(note, verifier)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.errors import LedgerError, ProofError, SignatureError, VerificationError
from charter.ledger.ed25519 import verify_strict

ED25519 = 0x01  # signed-note signature type byte for Ed25519
HASH_SIZE = 32  # RFC 6962 with SHA-256
MAX_SIGNATURES = 100  # signed-note: verifiers MUST accept at least 16; cap the work per note
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_SIGNATURE_START = "\u2014 "  # em dash, space
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")  # below 2**63 has at most 19 digits
_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # every ASCII control but newline


def _name_problem(name: str) -> str | None:
    """Why ``name`` is not a signed-note key name (non-empty, no spaces, no '+'), or None."""
    if not name:
        return "is empty"
    if "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        return "contains a space, a '+' or a control character"
    return None


def _key_id(name: str, public_key: bytes, sig_type: int = ED25519) -> bytes:
    """signed-note key ID: ``SHA-256(name || 0x0A || signature type || public key)[:4]``."""
    data = name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key
    return hashlib.sha256(data).digest()[:4]


def _b64decode(text: str) -> bytes:
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("not canonical base64")
    return raw


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, RFC 6962 root hash, optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problem = _checkpoint_problem(self.origin, self.size, self.root, self.extensions)
        if problem:
            raise LedgerError(f"checkpoint {problem}.")

    def to_text(self) -> str:
        """The note text (c2sp.org/tlog-checkpoint): one line per field, each ending in newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        return "".join(line + "\n" for line in [*lines, *self.extensions])

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse note text. Call it only on text whose signature was verified.

        Raises:
            ProofError: the text is not a well-formed checkpoint; the message says what.
        """
        if not text.endswith("\n"):
            raise ProofError("checkpoint text does not end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise ProofError(
                f"checkpoint text has {len(lines)} line(s); it needs origin, size and root hash"
            )
        origin, size, root, *extensions = lines
        if not _SIZE.fullmatch(size):
            raise ProofError(
                f"checkpoint tree size {size[:30]!r} is not a decimal below 2**63 without "
                "leading zeroes"
            )
        try:
            root_bytes = _b64decode(root)
        except (binascii.Error, ValueError):
            raise ProofError(
                f"checkpoint root hash {root[:60]!r} is not canonical base64"
            ) from None
        problem = _checkpoint_problem(origin, int(size), root_bytes, tuple(extensions))
        if problem:
            raise ProofError(f"checkpoint {problem}")
        return cls(origin, int(size), root_bytes, tuple(extensions))


def _checkpoint_problem(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...]
) -> str | None:
    if not origin:
        return "origin line is empty"
    for what, line in [("origin", origin), *(("extension line", ext) for ext in extensions)]:
        if "\n" in line or _CONTROL.search(line):
            return f"{what} {line[:60]!r} holds a newline or control character"
    if any(not ext for ext in extensions):
        return "has an empty extension line (c2sp.org/tlog-checkpoint forbids them)"
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**63:
        return f"tree size {size!r} is not an integer in [0, 2**63)"
    if not isinstance(root, bytes) or len(root) != HASH_SIZE:
        got = f"{len(root)} bytes" if isinstance(root, bytes) else type(root).__name__
        return f"root hash is {got}, not {HASH_SIZE} bytes"
    return None


@dataclass(frozen=True)
class NoteVerifier:
    """A public key that checks signed-note signatures: name, 4-byte key ID, Ed25519 key.

    ``sig_type`` is the signed-note signature type byte: 0x01 for a log's
    Ed25519 note signature, 0x04 for a c2sp.org/tlog-cosignature cosigner.
    """

    name: str
    key_id: bytes
    public_key: bytes
    sig_type: int = ED25519

    def verifier_string(self) -> str:
        """``<name>+<8 hex key ID>+<base64(signature type || public key)>``."""
        encoded = base64.b64encode(bytes([self.sig_type]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


@dataclass(frozen=True)
class NoteKey:
    """An Ed25519 signed-note signing key and the name its signatures carry (C2SP signed-note).

    Subclasses set the signature type byte and how the key is named in messages:
    :class:`LogKey` (0x01, a log's checkpoint signatures) and
    :class:`charter.ledger.cosign.WitnessKey` (0x04, tlog-cosignature).
    """

    sig_type: ClassVar[int] = ED25519
    what: ClassVar[str] = "log key"
    example: ClassVar[str] = "example.org/wishes"
    fix: ClassVar[str] = (
        "pass the text that LogKey.private_string() (or Go's note.GenerateKey) wrote"
    )
    create: ClassVar[str] = "create one with `charter ledger init` (or save_key)"

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)  # never printed

    def __post_init__(self) -> None:
        problem = _name_problem(self.name)
        if problem:
            raise LedgerError(f"{self.what} name {self.name!r} {problem}; use e.g. {self.example}")

    @classmethod
    def generate(cls, name: str) -> Self:
        """A new random key named ``name`` (a log key by convention takes the log's origin)."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Self:
        """The key for a 32-byte RFC 8032 seed (deterministic; for tests and fixed vectors)."""
        if len(seed) != 32:
            raise LedgerError(f"{cls.what} seed is {len(seed)} bytes; an Ed25519 seed is 32")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_private_string(cls, text: str) -> Self:
        """Parse ``PRIVATE+KEY+<name>+<key ID>+<base64(signature type || seed)>``.

        Raises:
            LedgerError: the string is malformed or its key ID does not match.
        """
        what, fix = f"private {cls.what}", cls.fix
        if not text.startswith(_PRIVATE_PREFIX):
            raise LedgerError(f"{what} does not start with {_PRIVATE_PREFIX!r}; {fix}.")
        name, key_id, raw = _split_key(text[len(_PRIVATE_PREFIX) :], what, fix, cls.sig_type)
        if len(raw) != 32:
            raise LedgerError(f"{what} holds {len(raw)} seed bytes, not 32; {fix}.")
        key = cls.from_seed(name, raw)
        if key.key_id != key_id:
            raise LedgerError(
                f"{what} ID {key_id.hex()} does not match its name and key "
                f"({key.key_id.hex()}); the string was altered. {fix}."
            )
        return key

    @property
    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes_raw()

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, self.public_key, self.sig_type)

    def private_string(self) -> str:
        """``PRIVATE+KEY+<name>+<8 hex key ID>+<base64(type || seed)>``; keep it secret."""
        seed = self.private_key.private_bytes_raw()
        encoded = base64.b64encode(bytes([self.sig_type]) + seed).decode("ascii")
        return f"{_PRIVATE_PREFIX}{self.name}+{self.key_id.hex()}+{encoded}"

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.key_id, self.public_key, self.sig_type)

    def verifier_string(self) -> str:
        """The public ``<name>+<8 hex key ID>+<base64(type || public key)>`` to publish."""
        return self.verifier().verifier_string()


class LogKey(NoteKey):
    """A log's Ed25519 signing key (signature type 0x01) and the name its signatures carry."""


K = TypeVar("K", bound=NoteKey)


def _split_key(text: str, what: str, fix: str, sig_type: int = ED25519) -> tuple[str, bytes, bytes]:
    """Split ``<name>+<key ID>+<base64(type || key)>`` into name, key ID and key bytes."""
    parts = text.split("+", 2)  # base64 may itself hold '+', so split only twice
    if len(parts) != 3:
        raise LedgerError(f"{what} is not <name>+<key ID>+<base64 key>; {fix}.")
    name, key_id, encoded = parts
    problem = _name_problem(name)
    if problem:
        raise LedgerError(f"{what} name {name!r} {problem}; {fix}.")
    if not _KEY_ID.fullmatch(key_id):
        raise LedgerError(f"{what} ID {key_id[:20]!r} is not 8 hex digits; {fix}.")
    try:
        raw = _b64decode(encoded)
    except (binascii.Error, ValueError):
        raise LedgerError(f"{what} is not canonical base64 after its ID; {fix}.") from None
    if not raw or raw[0] != sig_type:
        raise LedgerError(f"{what} is not an Ed25519 (type 0x{sig_type:02x}) key; {fix}.")
    return name, bytes.fromhex(key_id), raw[1:]


def parse_verifier(text: str, sig_type: int = ED25519) -> NoteVerifier:
    """Parse a verifier key string ``<name>+<8 hex key ID>+<base64(0x01 || public key)>``.

    ``sig_type`` 0x04 parses a tlog-cosignature witness key instead
    (:func:`charter.ledger.cosign.parse_witness_verifier`).

    Raises:
        LedgerError: the string is malformed or its key ID does not match its key.
    """
    fix = "pass the text that LogKey.verifier_string() wrote"
    if sig_type != ED25519:
        fix = "pass the witness vkey that `charter ledger witness-key` printed"
    name, key_id, raw = _split_key(text.strip(), "verifier key", fix, sig_type)
    if len(raw) != 32:
        raise LedgerError(f"verifier key holds {len(raw)} key bytes, not 32; {fix}.")
    if _key_id(name, raw, sig_type) != key_id:
        raise LedgerError(
            f"verifier key ID {key_id.hex()} does not match its name and key "
            f"({_key_id(name, raw, sig_type).hex()}); the string was altered. {fix}."
        )
    return NoteVerifier(name, key_id, raw, sig_type)


def sign_checkpoint(checkpoint: Checkpoint, key: LogKey) -> str:
    """The signed note: checkpoint text, a blank line, one Ed25519 signature line."""
    text = checkpoint.to_text()
    signature = key.private_key.sign(text.encode("utf-8"))
    encoded = base64.b64encode(key.key_id + signature).decode("ascii")
    return f"{text}\n{_SIGNATURE_START}{key.name} {encoded}\n"


def _split_note(note: str | bytes) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """Split a signed note into its text and (key name, key ID, signature) triples."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProofError(f"note is not valid UTF-8 (byte {exc.start})") from None
    try:
        note.encode("utf-8")
    except UnicodeEncodeError:
        raise ProofError("note holds a lone surrogate; it is not valid UTF-8 text") from None
    if _CONTROL.search(note):
        raise ProofError("note holds an ASCII control character other than newline")
    if not note.endswith("\n"):
        raise ProofError("note does not end in a newline")
    split = note.rfind("\n\n")  # the text ends at the note's last blank line
    if split < 0:
        raise ProofError("note has no blank line between its text and its signatures")
    if split + 2 == len(note):
        raise ProofError("note has no signature lines after its blank line")
    text, lines = note[: split + 1], note[split + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise ProofError(f"note has {len(lines)} signature lines; the limit is {MAX_SIGNATURES}")
    signatures = []
    for number, line in enumerate(lines, 1):
        name, _, encoded = line.removeprefix(_SIGNATURE_START).partition(" ")
        if not line.startswith(_SIGNATURE_START) or _name_problem(name) or " " in encoded:
            raise ProofError(
                f"note signature line {number} is not '\u2014 <key name> <base64 signature>': "
                f"{line[:80]!r}"
            )
        try:
            raw = _b64decode(encoded)
        except (binascii.Error, ValueError):
            raise ProofError(f"note signature line {number} is not canonical base64") from None
        if len(raw) < 5:
            raise ProofError(f"note signature line {number} is too short for a key ID")
        signatures.append((name, raw[:4], raw[4:]))
    return text, signatures


def verify_checkpoint(
    note: str | bytes, verifier: str | NoteVerifier, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint note and return the checkpoint it commits to.

    Follows c2sp.org/signed-note: signatures from unknown keys (name or key ID
    differ) are ignored, every signature from the known key must verify, and at
    least one must be present.

    Args:
        note: the signed note.
        verifier: the log's verifier key string (or a parsed :class:`NoteVerifier`).
        origin: when given, the checkpoint's origin line must equal it.

    Raises:
        ProofError: the note or its checkpoint text is malformed; the message says what.
        SignatureError: no signature by the verifier's key, or one fails to verify.
        VerificationError: the origin differs from ``origin``.
        LedgerError: the verifier string itself is malformed.
    """
    known = parse_verifier(verifier) if isinstance(verifier, str) else verifier
    text, signatures = _split_note(note)
    verified = 0
    for name, key_id, signature in signatures:
        if name != known.name or key_id != known.key_id:
            continue  # another key's signature (a witness, a rotated key): not ours to judge
        # Strict (charter.ledger.ed25519): a small-order log key would sign every note.
        verify_strict(
            known.public_key,
            signature,
            text.encode("utf-8"),
            what=f"checkpoint signature by {known.name}",
            mismatch=f"checkpoint signature by {known.name} does not verify: the note was altered",
            expected=known.verifier_string(),
        )
        verified += 1
    if not verified:
        present = ", ".join(sorted({f"{n}+{k.hex()}" for n, k, _ in signatures}))
        raise SignatureError(
            f"checkpoint has no signature by {known.name}+{known.key_id.hex()} "
            f"(signed by: {present}); check you hold this log's verifier key",
            expected=f"{known.name}+{known.key_id.hex()}",
            computed=present,
        )
    checkpoint = Checkpoint.from_text(text)
    if origin is not None and checkpoint.origin != origin:
        raise VerificationError(
            f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}",
            expected=origin,
            computed=checkpoint.origin,
        )
    return checkpoint


def save_key(path: str | Path, key: LogKey, overwrite: bool = False) -> None:
    """Write ``key.private_string()`` to ``path``, readable by its owner only (mode 0600).

    Raises:
        LedgerError: the file exists (and ``overwrite`` is False) or cannot be written.
    """
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise LedgerError(
            f"{path}: a key file already exists; move it away first (losing a log key "
            "means the log can never sign again)"
        ) from None
    except OSError as exc:
        raise LedgerError(f"{path}: cannot write the key file ({exc.strerror}).") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to an existing file
        handle.write(key.private_string() + "\n")


def load_key(path: str | Path) -> LogKey:
    """Read a private log key written by :func:`save_key`."""
    return read_key(path, LogKey)


def read_key(path: str | Path, kind: type[K]) -> K:
    """Read a private key of ``kind`` (:class:`LogKey`, a witness key) written by :func:`save_key`.

    Raises:
        LedgerError: the file is missing, unreadable or malformed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LedgerError(f"{path}: no such {kind.what} file; {kind.create}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LedgerError(f"{path}: cannot read the {kind.what} file ({exc}).") from None
    try:
        return kind.from_private_string(text.strip())
    except LedgerError as exc:
        raise LedgerError(f"{path}: {exc}") from None
