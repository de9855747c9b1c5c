"""Read the wishes of a ledger as one verified, immutable set: the input of collective analysis.

A :class:`WishSet` is the ledger's content *at a signed checkpoint*: the
wishes of the first ``size`` leaves, the signed note that commits to them
(C2SP tlog-checkpoint), and the RFC 6962 leaf hashes, so any wish can be cited
with an inclusion proof against that checkpoint (RFC 9162 section 2.1.3).
Everything derived from a set (weights, rewards, reports, drafted articles)
records ``checkpoint`` as its provenance.

Sources :func:`load_wishes` accepts:

- a ledger store, as :meth:`charter.ledger.Ledger.open` takes it (a SQLite
  path or a ``postgresql://`` URL): read up to its latest checkpoint, whose
  signature is checked against the log's key and whose root is recomputed
  from the entries read;
- an export written by :meth:`charter.ledger.Ledger.export` (JSONL): checked
  with :func:`charter.ledger.verify.verify_export` against the checkpoints and
  verifier files beside it, when they are there;
- ``builtin:sample``: the shipped sample wishes, signed with keys derived from
  a fixed seed, timestamped deterministically and built into a temporary
  ledger, so the same bytes (and the same root) come out on every machine.

Example::

    from charter.collective.wishes import load_wishes
    wishes = load_wishes("builtin:sample")
    print(len(wishes.records), wishes.checkpoint_id)
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from charter._util.sources import check_builtin, parse_source, path_format, register_builtin
from charter.errors import CharterError, DatasetError, LedgerError, VerificationError
from charter.ledger.checkpoint import Checkpoint, LogKey, verify_checkpoint
from charter.ledger.entry import Entry, Wish, parse_stored_entry, parse_timestamp, sign_entry
from charter.ledger.log import Ledger, checkpoints_path, verifier_path
from charter.ledger.store import open_store
from charter.merkle import inclusion_proof, leaf_hash, root_hash, verify_inclusion

SAMPLE = "builtin:sample"
SAMPLE_ORIGIN = "charter.example/sample"
# The sample is signed with keys derived from this seed (charter.ledger.stage.author_secrets),
# so its entry ids and root are the same everywhere.
SAMPLE_SEED = 0
# Sample wishes are spread over time from this moment, about 19 hours apart, so a
# recency half-life has something to act on.
SAMPLE_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SAMPLE_BATCH = 16  # wishes per append (and per checkpoint), as the ledger stage does
#: The kind the signed sample is registered under in :mod:`charter._util.sources`.
KIND = "ledger"
register_builtin(KIND, parse_source(SAMPLE).value, None)  # built from the sample wishes


@dataclass(frozen=True)
class WishRecord:
    """One wish as the ledger holds it, with its position and stake."""

    index: int  # leaf index in the log
    entry_id: str  # hex RFC 6962 leaf hash of the entry's canonical bytes
    author_key: str  # base64 Ed25519 public key: the pseudonymous depositor
    scenario: str
    behaviour: str
    rationale: str | None
    tags: tuple[str, ...]
    fee: int  # credits paid
    burn: int  # credits burned to scale influence
    timestamp: datetime  # aware, UTC
    parent: str | None  # entry id of the wish this one copies and adapts
    language: str = "en"

    @property
    def text(self) -> str:
        """``"scenario\\nbehaviour"``: the text embedded for this wish."""
        return f"{self.scenario}\n{self.behaviour}"

    @property
    def stake(self) -> int:
        """``fee + burn``: the credits the depositor put behind the wish."""
        return self.fee + self.burn

    @classmethod
    def from_entry(cls, index: int, entry: Entry, entry_id: str | None = None) -> WishRecord:
        wish = entry.wish
        return cls(
            index=index,
            entry_id=entry_id or entry.id,
            author_key=entry.author_key,
            scenario=wish.scenario,
            behaviour=wish.behaviour,
            rationale=wish.rationale,
            tags=tuple(wish.tags),
            fee=entry.fee,
            burn=entry.burn,
            timestamp=parse_timestamp(entry.timestamp),
            parent=wish.parent,
            language=wish.language,
        )


@dataclass
class WishSet:
    """The wishes of a log at one checkpoint, with what is needed to prove each one in it.

    Attributes:
        records: the wishes, in log order (``records[i].index == i``).
        checkpoint: the signed checkpoint note the set was read at (None for an
            unverified export without checkpoints).
        origin: the log's origin line (its name).
        verified: True when the checkpoint's signature (by a key the reader trusts:
            the store's own, or a pinned key for an export) and root were checked.
        annotations: per entry id, metadata that is not in the ledger (for
            ``builtin:sample``: the author pseudonym and the intended
            orientation, ``humanity``/``self``/``mixed``; ground truth for tests).
    """

    records: list[WishRecord]
    checkpoint: str | None
    origin: str
    verified: bool = False
    annotations: dict[str, dict] = field(default_factory=dict)
    _leaves: list[bytes] = field(default_factory=list, repr=False)
    # The entries' stored bytes (the leaf data), kept so a citation can carry the
    # exact bytes its leaf hash commits to (RFC 6962: leaf = SHA-256(0x00 || bytes)).
    _entries: list[bytes] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def size(self) -> int:
        return len(self.records)

    @property
    def root(self) -> bytes:
        """The RFC 6962 root of the set's leaves (equals the checkpoint's root)."""
        return root_hash(self._leaves)

    @property
    def checkpoint_id(self) -> str:
        """``origin@size:root-hex``: the short provenance string (as run stages record it)."""
        return f"{self.origin}@{self.size}:{self.root.hex()}"

    @property
    def reference_time(self) -> datetime | None:
        """The latest entry timestamp: "now" for recency weights, so results are reproducible."""
        return max((r.timestamp for r in self.records), default=None)

    def by_id(self, entry_id: str) -> WishRecord:
        for record in self.records:
            if record.entry_id == entry_id:
                return record
        raise LedgerError(f"no wish {entry_id[:16]}… in this set of {self.size} wishes.")

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The RFC 6962 inclusion proof of wish ``index`` in the tree of ``size`` leaves.

        Check it with ``charter.ledger.verify_inclusion(leaf, index, size, proof, root)``
        where ``root`` is the checkpoint's root.
        """
        if not 0 <= index < self.size:
            raise LedgerError(f"index {index} is not in this set of {self.size} wishes.")
        return inclusion_proof(self._leaves, index)

    def entry_bytes(self, index: int) -> bytes:
        """The stored bytes of wish ``index``: the data its RFC 6962 leaf hash commits to.

        Raises:
            LedgerError: the set was built without its entries' bytes, or ``index``
                is out of range.
        """
        if len(self._entries) != self.size:
            raise LedgerError(
                "this wish set was built without its entries' bytes; read it with "
                "load_wishes() to cite wishes with their leaf data."
            )
        if not 0 <= index < self.size:
            raise LedgerError(f"index {index} is not in this set of {self.size} wishes.")
        return self._entries[index]

    def verify_inclusion(self, index: int, proof: list[bytes]) -> None:
        """Check a proof for wish ``index`` against the set's root (raises if it fails)."""
        verify_inclusion(self._leaves[index], index, self.size, proof, self.root)


def load_wishes(source: str, *, verify: bool = True, verifier: str | None = None) -> WishSet:
    """Read a wish set from a ledger store, an export, or ``builtin:sample``.

    Args:
        source: a SQLite path or ``postgresql://`` URL of a ledger; a JSONL
            export from ``Ledger.export``; or ``builtin:sample``.
        verify: check the checkpoint signature and the root of the entries read
            (for an export: :func:`charter.ledger.verify.verify_export`, when
            its ``.checkpoints.jsonl`` file is present).
        verifier: for an export, the log's pinned verifier key. Without it the
            export is checked against the key it ships with, which shows only that
            its files agree, and the set is not marked ``verified``.

    Raises:
        DatasetError: the source does not exist or is not a ledger or export.
        VerificationError: the entries do not match the signed checkpoint.
    """
    parsed = parse_source(source)
    if parsed.scheme == "builtin":
        check_builtin(KIND, parsed.value)
        return _sample_set()
    if parsed.scheme == "postgres":
        return _from_store(source, verify)
    path = parsed.path
    if not path.is_file():
        raise DatasetError(
            f"{source}: no such ledger or export; give a ledger database, a JSONL export "
            f"or {SAMPLE}."
        )
    if path_format(path) == "sqlite":
        return _from_store(str(path), verify)
    return _from_export(path, verify, verifier)


# -- ledger stores ---------------------------------------------------------------------


def _from_store(location: str, verify: bool) -> WishSet:
    ledger = Ledger(open_store(location), None)
    with ledger:
        note = ledger.latest_checkpoint()
        size = ledger.size
        cp = None
        if note is not None:
            # Entries appended after the latest checkpoint are signed by no one yet: the
            # set stops at the checkpoint so every wish in it can be proven.
            cp = ledger.verify_checkpoint(note) if verify else Checkpoint.from_text(_body(note))
            size = cp.size
        stored = list(ledger.entries(0, size))
        records, leaves = _records(stored, location)
        wishes = WishSet(records, note, ledger.origin, verified=verify and cp is not None)
    wishes._leaves = leaves
    wishes._entries = [bytes(item.data) for item in stored]
    if verify and cp is not None:
        _check_root(wishes, cp, location)
    return wishes


def _records(stored, where: str) -> tuple[list[WishRecord], list[bytes]]:
    records, leaves = [], []
    for item in stored:
        try:
            entry = parse_stored_entry(item.data)
        except CharterError as exc:
            raise DatasetError(f"{where}: entry {item.index}: {exc}") from None
        leaf = leaf_hash(item.data)
        records.append(WishRecord.from_entry(item.index, entry, leaf.hex()))
        leaves.append(leaf)
    return records, leaves


def _body(note: str) -> str:
    """The checkpoint text of a signed note (everything before the blank line)."""
    return note.split("\n\n", 1)[0] + "\n"


def _check_root(wishes: WishSet, cp: Checkpoint, where: str) -> None:
    computed = wishes.root
    if computed != cp.root:
        raise VerificationError(
            f"{where}: the first {cp.size} entries give a different root than the signed "
            "checkpoint; the store was altered. Run `charter ledger verify` to find the entry.",
            expected=cp.root.hex(),
            computed=computed.hex(),
        )


# -- exports ---------------------------------------------------------------------------


def _from_export(path: Path, verify: bool, pinned: str | None) -> WishSet:
    from charter.ledger.verify import read_checkpoint_notes, verify_export

    cps, ver = checkpoints_path(path), verifier_path(path)
    note: str | None = None
    origin = ""
    size: int | None = None
    verified = False
    if cps.is_file() and (pinned or ver.is_file()):
        # The bundle's own key only checks that the files agree; it proves nothing about
        # who signed, so the set counts as verified only against a pinned key.
        verifier = pinned or ver.read_text(encoding="utf-8").strip()
        notes = read_checkpoint_notes(cps)
        if verify and notes:
            # Only the wishes the newest checkpoint covers are read below, so a tail of
            # newer, unsigned entries does not fail the check.
            report = verify_export(path, notes, verifier, allow_unverified_tail=True)
            if not report.ok:
                raise VerificationError(
                    f"{path}: the export does not verify: {report.problems[0]}",
                    expected="entries matching the signed checkpoints",
                    computed=report.problems,
                )
            verified = pinned is not None
        parsed = [
            (verify_checkpoint(n, verifier) if verify else Checkpoint.from_text(_body(n)), n)
            for n in notes
        ]
        if parsed:
            cp, note = max(parsed, key=lambda pair: pair[0].size)
            origin, size = cp.origin, cp.size
    stored = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle):
            if size is not None and number >= size:
                break
            data = line.rstrip(b"\n")
            if data:
                stored.append(_Stored(number, data))
    records, leaves = _records(stored, str(path))
    wishes = WishSet(records, note, origin, verified=verified)
    wishes._leaves = leaves
    wishes._entries = [bytes(item.data) for item in stored]
    return wishes


@dataclass(frozen=True)
class _Stored:
    index: int
    data: bytes


# -- the shipped sample ----------------------------------------------------------------

_sample_lock = threading.Lock()
_sample_cache: dict[int, WishSet] = {}


def sample_timestamp(row: int) -> datetime:
    """The deterministic deposit time of sample row ``row`` (about 19 hours apart, jittered)."""
    jitter = hashlib.sha256(f"charter-sample-time\x1f{row}".encode()).digest()[0] % 300
    return SAMPLE_START + timedelta(hours=19 * row, minutes=jitter)


def _sample_set() -> WishSet:
    with _sample_lock:
        if SAMPLE_SEED not in _sample_cache:
            _sample_cache[SAMPLE_SEED] = _build_sample(SAMPLE_SEED)
        cached = _sample_cache[SAMPLE_SEED]
    # Callers get their own lists; the records themselves are frozen.
    copy = WishSet(
        list(cached.records),
        cached.checkpoint,
        cached.origin,
        cached.verified,
        dict(cached.annotations),
    )
    copy._leaves = list(cached._leaves)
    copy._entries = list(cached._entries)
    return copy


def _build_sample(seed: int) -> WishSet:
    """Sign the sample rows into a temporary ledger and read them back verified."""
    from charter.ledger.stage import SAMPLE as STAGE_SAMPLE
    from charter.ledger.stage import author_secrets
    from charter.ledger.stage import load_wishes as load_rows

    rows = load_rows(STAGE_SAMPLE)
    key = LogKey.from_seed(
        SAMPLE_ORIGIN, hashlib.sha256(f"charter-sample-log\x1f{seed}".encode()).digest()
    )
    with tempfile.TemporaryDirectory(prefix="charter-sample-") as folder:
        location = str(Path(folder) / "sample.sqlite")
        with Ledger.create(location, SAMPLE_ORIGIN, key, min_fee=1) as ledger:
            ids: list[str] = []
            for start in range(0, len(rows), SAMPLE_BATCH):
                entries = []
                for row_index in range(start, min(start + SAMPLE_BATCH, len(rows))):
                    row = rows[row_index]
                    key_seed, salt, identity = author_secrets(seed, row["author"])
                    parent = row.get("parent")
                    wish = Wish(
                        scenario=row["scenario"],
                        behaviour=row["behaviour"],
                        rationale=row.get("rationale"),
                        tags=row.get("tags") or [],
                        language=row.get("language") or "en",
                        parent=ids[parent] if parent is not None else None,
                    )
                    nonce = hashlib.sha256(
                        f"charter-sample-nonce\x1f{seed}\x1f{row_index}".encode()
                    ).hexdigest()[:32]
                    entry = sign_entry(
                        wish,
                        int(row.get("fee", 1)),
                        int(row.get("burn", 0)),
                        key_seed,
                        identity,
                        salt,
                        nonce=nonce,
                        timestamp=sample_timestamp(row_index),
                    )
                    entries.append(entry)
                    ids.append(entry.id)
                need: dict[str, int] = {}
                for entry in entries:
                    need[entry.author_key] = need.get(entry.author_key, 0) + entry.fee + entry.burn
                for author_key, amount in need.items():
                    short = amount - ledger.balance(author_key)
                    if short > 0:
                        ledger.grant(author_key, short)
                ledger.append(entries, check_clock=False)
                ledger.checkpoint()
        wishes = _from_store(location, verify=True)
    wishes.annotations = {
        record.entry_id: {"author": row["author"], "orientation": row.get("orientation")}
        for record, row in zip(wishes.records, rows, strict=True)
    }
    return wishes
