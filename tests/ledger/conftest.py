"""Ledger test fixtures: a store on each backend (a real PostgreSQL server included).

``store`` / ``store_location`` are parametrised over SQLite and PostgreSQL, so
every test that uses them runs on both. ``postgres_url`` starts one throwaway
PostgreSQL cluster per session from Debian's server binaries
(``/usr/lib/postgresql/<version>/bin``, installed by ``.ci/postgres.sh`` when
missing); each test then gets its own schema in it. Set
``CHARTER_SKIP_POSTGRES=1`` to skip the PostgreSQL cases on a machine that
cannot install the server; otherwise a missing server is a failure, not a skip.

``build_batch`` makes valid append batches (entries as canonical JSON wishes,
RFC 6962 leaf and node hashes) without the rest of the ledger, so the store is
tested on its own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from glob import glob
from pathlib import Path

import pytest

from charter._util.net import free_port
from charter.ledger.store import AppendBatch, LedgerStore, StoredEntry, open_store

REPO = Path(__file__).resolve().parents[2]
AUTHOR_KEY = base64.b64encode(bytes(range(32))).decode()
OTHER_KEY = base64.b64encode(bytes(range(32, 64))).decode()
TIMESTAMP = "2026-11-22T17:00:00.000Z"


# -- RFC 6962 hashes and batches ------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 section 2.1: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 section 2.1: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def completed_nodes(start: int, leaves: Sequence[bytes], store: LedgerStore) -> list:
    """Every node ``((level, index), hash)`` completed by appending ``leaves`` at ``start``.

    ``(l, i)`` covers leaves ``[i * 2**l, (i + 1) * 2**l)`` and completes when its
    last leaf arrives: for level ``l`` that is ``i`` in ``[start >> l, end >> l)``.
    """
    end = start + len(leaves)
    new = {(0, start + k): h for k, h in enumerate(leaves)}
    level = 1
    while (1 << level) <= end:
        wanted = range(start >> level, end >> level)
        children = [(level - 1, c) for i in wanted for c in (2 * i, 2 * i + 1)]
        known = {**store.get_nodes([c for c in children if c not in new]), **new}
        for i in wanted:
            new[(level, i)] = node_hash(known[(level - 1, 2 * i)], known[(level - 1, 2 * i + 1)])
        level += 1
    return sorted(new.items())


def wish_bytes(index: int, scenario: str, behaviour: str, tags: Sequence[str], **fields) -> bytes:
    """Canonical JSON shaped like an ``Entry`` (only the wish text matters to the store)."""
    entry = {
        "version": 1,
        "wish": {"scenario": scenario, "behaviour": behaviour, "tags": list(tags)},
        "timestamp": TIMESTAMP,
        "nonce": f"n{index}",
        **fields,
    }
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def build_batch(
    store: LedgerStore,
    count: int,
    *,
    start: int | None = None,
    author_key: str = AUTHOR_KEY,
    nonce_prefix: str = "nonce-",
    texts: Sequence[tuple[str, str, Sequence[str]]] | None = None,
    debits: Sequence[tuple[str, int]] = (),
    pad: int = 0,
) -> AppendBatch:
    """A valid batch of ``count`` entries continuing the store (or from ``start``).

    Args:
        texts: (scenario, behaviour, tags) per entry; generated if None.
        pad: extra bytes of rationale per entry, to make entries bigger.
    """
    start = store.size() if start is None else start
    entries = []
    for k in range(count):
        index = start + k
        scenario, behaviour, tags = texts[k] if texts else (f"scene {index}", "be kind", ["t"])
        data = wish_bytes(index, scenario, behaviour, tags, author_key=author_key, pad="x" * pad)
        leaf = leaf_hash(data)
        entries.append(StoredEntry(index, leaf.hex(), data, leaf, TIMESTAMP, author_key))
    return AppendBatch(
        entries=entries,
        nodes=completed_nodes(start, [e.leaf_hash for e in entries], store),
        nonces=[(author_key, f"{nonce_prefix}{start + k}") for k in range(count)],
        debits=list(debits),
    )


# -- a real PostgreSQL server ---------------------------------------------------------------


def _postgres_bin() -> Path:
    def newest() -> list[str]:
        found = glob("/usr/lib/postgresql/*/bin/initdb")
        return sorted(found, key=lambda p: [int(n) for n in re.findall(r"\d+", p)])

    if not newest():
        done = subprocess.run([REPO / ".ci" / "postgres.sh"], capture_output=True, text=True)
        if done.returncode != 0 or not newest():
            pytest.fail(f"PostgreSQL is needed for the store tests: {done.stderr.strip()}")
    return Path(newest()[-1]).parent


def _run(cmd: list, what: str, cwd: Path) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=_PG_ENV)
    if done.returncode != 0:
        pytest.fail(f"{what} failed ({done.returncode}): {done.stderr.strip() or done.stdout}")


_PG_ENV = {**os.environ, "LC_ALL": "C", "LANG": "C"}


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a database on a PostgreSQL server started for this test session."""
    if os.environ.get("CHARTER_SKIP_POSTGRES") == "1":
        pytest.skip("CHARTER_SKIP_POSTGRES=1")
    bindir = _postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="charter-pg-"))
    as_server: list[str] = []
    if os.geteuid() == 0:
        # initdb and postgres refuse to run as root: use Debian's `postgres` user.
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _run(["useradd", "--system", "--user-group", "postgres"], "useradd postgres", root)
        shutil.chown(root, "postgres", "postgres")
        as_server = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    _run(
        [*as_server, bindir / "initdb", "-D", data, "-U", "charter", "-A", "trust",
         "-E", "UTF8", "--locale=C", "--no-sync"],
        "initdb", root,
    )  # fmt: skip
    # fsync off: this throwaway cluster tests semantics; SQLite's crash test covers durability.
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    _run(
        [*as_server, bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-t", "60",
         "-o", options, "start"],
        "pg_ctl start", root,
    )  # fmt: skip
    try:
        _run([bindir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "charter",
              "charter_test"], "createdb", root)  # fmt: skip
        yield f"postgresql://charter@127.0.0.1:{port}/charter_test"
    finally:
        subprocess.run(
            [*as_server, bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
            capture_output=True, cwd=root,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


# -- stores ---------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A location for a fresh, empty store: a SQLite file or a PostgreSQL schema URL."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.db")
    import psycopg

    url = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{url}?options=-csearch_path%3D{schema}"


@pytest.fixture
def store(store_location: str) -> Iterator[LedgerStore]:
    """A fresh, empty store on each backend."""
    opened = open_store(store_location)
    yield opened
    opened.close()
