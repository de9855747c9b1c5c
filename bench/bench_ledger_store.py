"""The log layer on a durable store: batched append and proofs after a restart.

Run: ``.venv/bin/python bench/bench_ledger_store.py`` (``--quick`` for a smoke run).

(a) Durable append (issue 6: "entries already validated, e.g. importing an
    exported log"): 100k entries of about 700 bytes go into a fresh SQLite
    store in batches of 10k — leaf hashes, the tree nodes each batch completes
    (``tree.new_nodes``), nonces, one fsynced transaction per batch — against
    the pure-hashlib RFC 6962 root of the same entries (bench_merkle's
    baseline). Interleaved rounds, median ratio of rates (target >= 0.3). A
    bare ``executemany`` of the same rows into a one-table SQLite file, same
    settings, shows what the disk allows at all.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_merkle import hashlib_root
from charter.ledger.store import AppendBatch, StoredEntry, open_store
from charter.ledger.tree import new_nodes
from charter.merkle import leaf_hash


def make_entries(n: int, size: int = 700) -> list[bytes]:
    rng = random.Random(7)
    return [
        (b'{"i":%d,"t":"' % i) + rng.randbytes(size // 2).hex().encode()[: size - 20] + b'"}'
        for i in range(n)
    ]


def append_all(location: str, entries: list[bytes], batch: int) -> float:
    store = open_store(location)
    start = time.perf_counter()
    size = 0
    for lo in range(0, len(entries), batch):
        chunk = entries[lo : lo + batch]
        leaves = [leaf_hash(e) for e in chunk]
        stored = [
            StoredEntry(
                index=size + i,
                entry_id=leaves[i].hex(),
                data=e,
                leaf_hash=leaves[i],
                timestamp="2026-11-22T00:00:00Z",
                author_key="k",
            )
            for i, e in enumerate(chunk)
        ]
        store.append(
            AppendBatch(
                entries=stored,
                nodes=new_nodes(size, leaves, store),
                nonces=[("k", f"nonce-{size + i:012d}") for i in range(len(chunk))],
                debits=[],
            )
        )
        size += len(chunk)
    seconds = time.perf_counter() - start
    store.close()
    return seconds


def bare_insert(path: str, entries: list[bytes], batch: int) -> float:
    db = sqlite3.connect(path, isolation_level=None)
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


def bench_append(n: int, batch: int, rounds: int) -> None:
    entries = make_entries(n)
    ratios, bare_ratios, rates = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            runs = {}
            order = ["store", "hashlib", "bare"] if r % 2 == 0 else ["bare", "hashlib", "store"]
            for name in order:
                if name == "store":
                    runs[name] = append_all(f"{tmp}/s{r}.sqlite", entries, batch)
                elif name == "bare":
                    runs[name] = bare_insert(f"{tmp}/b{r}.sqlite", entries, batch)
                else:
                    t = time.perf_counter()
                    hashlib_root(entries)
                    runs[name] = time.perf_counter() - t
            ratios.append(runs["hashlib"] / runs["store"])
            bare_ratios.append(runs["hashlib"] / runs["bare"])
            rates.append((n / runs["store"], n / runs["hashlib"], n / runs["bare"]))
    print(f"(a) durable append of {n} entries in batches of {batch}, {rounds} rounds")
    print(
        f"    store / pure-hashlib rate: median {statistics.median(ratios):.3f} "
        f"(rounds {', '.join(f'{x:.3f}' for x in ratios)})"
    )
    print(f"    bare executemany / pure-hashlib: median {statistics.median(bare_ratios):.3f}")
    store_rate, hash_rate, bare_rate = (statistics.median(x) for x in zip(*rates, strict=True))
    print(
        f"    rates: store {store_rate:,.0f}/s, hashlib {hash_rate:,.0f}/s, "
        f"bare insert {bare_rate:,.0f}/s"
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
