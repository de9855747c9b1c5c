"""The log layer on a durable store: batched append and proofs after a restart.

Run: ``.venv/bin/python bench/bench_ledger_store.py`` (``--quick`` for a smoke run).

(a) Durable append (issue 6: "entries already validated, e.g. importing an
    exported log"): 100k entries of about 700 bytes go into a fresh SQLite
    store in batches of 10k through the signed-log core
    (:class:`~charter.ledger.signedlog.SignedLog`: leaf hashes, the tree nodes
    each batch completes, then the store's one fsynced transaction with the
    entries, nodes and nonces). Signature checks are not included (they are
    bench_intake.py's). Against (i) a bare ``executemany`` of the same rows into
    a one-table SQLite file with the same durability settings (WAL,
    ``synchronous=FULL``, one commit per batch), SQLite's default page size:
    what the disk allows at all (issue 14 target: store / bare >= 0.5); the
    same bare insert with the store's 16 KiB pages is shown too; and (ii) the
    pure-hashlib RFC 6962 root of the same entries (bench_merkle's baseline;
    issue 6 target >= 0.3). Interleaved rounds, medians of per-round ratios.
(b) Proofs at 10^6 entries from stored nodes: the store is filled once, then a
    fresh Python process opens it and times its very first inclusion proof
    (no rebuild, cold caches) and the median of many more; consistency proofs
    likewise; verification times from ``merkle.verify_*``.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_merkle import hashlib_root
from charter.ledger.record import RecordType
from charter.ledger.signedlog import PreparedBatch, SignedLog
from charter.ledger.store import WISH_LOG, AppendBatch, StoredEntry, open_store
from charter.merkle import leaf_hash

RAW = RecordType("entry", lambda data: RawRecord(data), lambda record: None)


def make_entries(n: int, size: int = 700) -> list[bytes]:
    rng = random.Random(7)
    return [
        (b'{"i":%d,"t":"' % i) + rng.randbytes(size // 2).hex().encode()[: size - 20] + b'"}'
        for i in range(n)
    ]


@dataclass(frozen=True)
class RawRecord:
    """Bytes already validated (an import of an exported log): the record is its bytes."""

    data: bytes

    def canonical_bytes(self) -> bytes:
        return self.data

    @property
    def id(self) -> str:
        return leaf_hash(self.data).hex()


def append_all(location: str, entries: list[bytes], batch: int) -> float:
    """Append through the signed-log core: leaves, completed nodes, one store transaction."""
    store = open_store(location)
    log: SignedLog[RawRecord] = SignedLog(store.log(WISH_LOG), "bench", "", None, RAW)

    def write(prepared: PreparedBatch) -> None:
        start = prepared.start
        stored = [
            StoredEntry(start + i, leaf.hex(), data, leaf, "2026-11-22T00:00:00Z", "k")
            for i, (data, leaf) in enumerate(zip(prepared.data, prepared.leaves, strict=True))
        ]
        store.append(AppendBatch(stored, prepared.nodes, nonces[start : start + len(stored)], []))

    # The input, as an import reads it: records and their (author key, nonce) pairs.
    records = [RawRecord(e) for e in entries]
    nonces = [("k", f"nonce-{i:012d}") for i in range(len(entries))]
    start = time.perf_counter()
    for lo in range(0, len(records), batch):
        log.append(records[lo : lo + batch], write)
    seconds = time.perf_counter() - start
    store.close()
    return seconds


def bare_insert(path: str, entries: list[bytes], batch: int, page_size: int = 0) -> float:
    """A one-table ``executemany`` of the same rows, durable as the store is (0: default pages)."""
    db = sqlite3.connect(path, isolation_level=None)
    if page_size:
        db.execute(f"PRAGMA page_size={page_size}")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (i INTEGER PRIMARY KEY, data BLOB, h BLOB)")
    start = time.perf_counter()
    for lo in range(0, len(entries), batch):
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO t VALUES (?, ?, ?)",
            [(lo + i, e, b"\0" * 32) for i, e in enumerate(entries[lo : lo + batch])],
        )
        db.execute("COMMIT")
    seconds = time.perf_counter() - start
    db.close()
    return seconds


TESSERA_RATE = 2_900  # entries/s, Tessera's published POSIX-storage figure (12-core VM)


def bench_append(n: int, batch: int, rounds: int) -> None:
    entries = make_entries(n)
    runs: dict[str, list[float]] = {"store": [], "hashlib": [], "bare": [], "bare16k": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            order = list(runs) if r % 2 == 0 else list(reversed(runs))
            for name in order:
                if name == "store":
                    seconds = append_all(f"{tmp}/s{r}.sqlite", entries, batch)
                elif name == "bare":
                    seconds = bare_insert(f"{tmp}/b{r}.sqlite", entries, batch)
                elif name == "bare16k":
                    seconds = bare_insert(f"{tmp}/p{r}.sqlite", entries, batch, 16384)
                else:
                    t = time.perf_counter()
                    hashlib_root(entries)
                    seconds = time.perf_counter() - t
                runs[name].append(seconds)

    def ratio(fast: str, slow: str) -> tuple[float, str]:
        values = [f / s for f, s in zip(runs[fast], runs[slow], strict=True)]
        return statistics.median(values), ", ".join(f"{x:.3f}" for x in values)

    rate = {name: statistics.median(n / s for s in seconds) for name, seconds in runs.items()}
    print(f"(a) durable append of {n} entries in batches of {batch}, {rounds} rounds")
    for label, (fast, slow) in {
        "store / bare executemany (SQLite defaults)": ("bare", "store"),
        "store / bare executemany (16 KiB pages)": ("bare16k", "store"),
        "store / pure-hashlib": ("hashlib", "store"),
        "bare executemany / pure-hashlib": ("hashlib", "bare"),
    }.items():
        median, rounds_text = ratio(fast, slow)
        print(f"    {label}: median {median:.3f} (rounds {rounds_text})")
    print(
        f"    rates: store {rate['store']:,.0f}/s, bare insert {rate['bare']:,.0f}/s "
        f"(16 KiB pages {rate['bare16k']:,.0f}/s), hashlib {rate['hashlib']:,.0f}/s"
    )
    print(
        f"    store vs Tessera's ~{TESSERA_RATE:,}/s (POSIX, 12-core VM; another machine): "
        f"{rate['store'] / TESSERA_RATE:.1f}x"
    )


PROBE = r"""
import random, statistics, sys, time
from charter.ledger.store import open_store
from charter.ledger.tree import tree_inclusion_proof, tree_consistency_proof, tree_root
from charter.merkle import verify_inclusion, verify_consistency
store = open_store(sys.argv[1]); n = store.size(); rng = random.Random(1)
t = time.perf_counter_ns(); proof = tree_inclusion_proof(n // 3, n, store)
first = time.perf_counter_ns() - t
root = tree_root(n, store)
leaf = next(iter(store.entries(n // 3, n // 3 + 1))).leaf_hash
gen, ver, cgen, cver = [], [], [], []
def timed(out, fn):
    t = time.perf_counter_ns(); value = fn(); out.append(time.perf_counter_ns() - t)
    return value
for _ in range(2000):
    i, old = rng.randrange(n), rng.randrange(1, n)
    p = timed(gen, lambda: tree_inclusion_proof(i, n, store))
    lh = store.get_nodes([(0, i)])[(0, i)]
    timed(ver, lambda: verify_inclusion(lh, i, n, p, root))
    c = timed(cgen, lambda: tree_consistency_proof(old, n, store))
    oroot = tree_root(old, store)
    timed(cver, lambda: verify_consistency(old, n, c, oroot, root))
med = lambda xs: statistics.median(xs) / 1000
print(f"    first inclusion proof after restart: {first / 1000:.0f} us")
print(f"    inclusion: generate median {med(gen):.0f} us, verify median {med(ver):.1f} us")
print(f"    consistency: generate median {med(cgen):.0f} us, verify median {med(cver):.1f} us")
"""


def bench_proofs(n: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        location = f"{tmp}/big.sqlite"
        entries = make_entries(n, size=200)
        seconds = append_all(location, entries, batch)
        del entries
        print(f"(b) {n} entries stored in {seconds:.1f} s; proofs from a fresh process:")
        out = subprocess.run(
            [sys.executable, "-c", PROBE, location],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ},
        )
        print(out.stdout, end="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        bench_append(10_000, 1_000, 2)
        bench_proofs(20_000, 5_000)
    else:
        bench_append(100_000, 10_000, 3)
        bench_proofs(1_000_000, 20_000)


if __name__ == "__main__":
    main()
