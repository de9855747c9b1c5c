"""Server benchmark: sustained signed submissions over loopback, then a kill -9 and an audit.

Run: ``.venv/bin/python bench/bench_server.py`` (``--duration 60 --threads 8`` by default).

1. Baselines, same run and disk, in this process for a few seconds each:
   ``Ledger.append`` of one entry per call (validation, signature check, one
   durable SQLite commit each: what a server without group commit could reach),
   and of 64 entries per call (the ledger's own ceiling, no HTTP at all).
2. ``charter serve`` in a subprocess on 127.0.0.1 (rate limits off). Entries are
   signed in advance by many author keys the operator funded; a thread pool
   POSTs them with httpx for ``--duration`` seconds. Reported: acknowledged
   wishes a second, errors (target: 0), latency percentiles, and the ratios to
   both baselines.
3. While the submitters are still sending, the server gets SIGKILL. It is
   restarted on the same database; every acknowledged wish must be at its
   acknowledged index with an inclusion proof that verifies (RFC 9162 section
   2.1.3.2) against a fresh checkpoint whose signature verifies (C2SP signed-note).

Prints one JSON object with the figures; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from charter._util.net import free_port
from charter.ledger.checkpoint import LogKey, save_key, verify_checkpoint
from charter.ledger.entry import Entry, generate_author_key, new_salt, sign_entry
from charter.ledger.log import Ledger
from charter.merkle import leaf_hash, verify_inclusion

ORIGIN = "bench.example/wishes"
SERVE = "import typer; from charter.cli.serve import serve; typer.run(serve)"


def sign_many(count: int, authors: int) -> list[Entry]:
    """``count`` entries spread over ``authors`` funded keys, signed ahead of the clock."""
    keys = [generate_author_key() for _ in range(authors)]
    salt = new_salt()
    return [
        sign_entry(
            {"scenario": f"Benchmark scenario {i}.", "behaviour": "Answer briefly.", "tags": ["b"]},
            fee=1,
            burn=0,
            private_key=keys[i % authors],
            identity="bench",
            salt=salt,
        )
        for i in range(count)
    ]


def fund(ledger: Ledger, entries: list[Entry]) -> None:
    for key in {e.author_key for e in entries}:
        ledger.grant(key, len(entries))


def baseline(workdir: Path, seconds: float, batch: int) -> float:
    """Entries a second through ``Ledger.append`` in this process, ``batch`` per call."""
    key = LogKey.generate(ORIGIN)
    entries = sign_many(int(seconds * 5000), 16)
    with Ledger.create(str(workdir / f"baseline-{batch}.db"), ORIGIN, key) as ledger:
        fund(ledger, entries)
        start, done = time.perf_counter(), 0
        while done < len(entries) and time.perf_counter() - start < seconds:
            done += len(ledger.append(entries[done : done + batch]))
        return done / (time.perf_counter() - start)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(db: Path, key_file: Path, port: int) -> subprocess.Popen:
    args = [str(db), "--key-file", str(key_file), "--port", str(port)]
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, *args, "--no-rate-limit", "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/key", timeout=1).raise_for_status()
            return server
        except httpx.HTTPError:
            if server.poll() is not None:
                raise SystemExit(f"the server exited with {server.returncode}") from None
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not answer within 30 s")


class Load:
    """Submitters sharing one stream of pre-signed entries; records every outcome."""

    def __init__(self, base: str, entries: list[Entry]) -> None:
        self.base = base
        self.bodies = [e.model_dump_json(exclude_none=True).encode() for e in entries]
        self.entries = entries
        self._next = itertools.count()
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self.acked: dict[int, int] = {}  # entry number -> acknowledged index
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.after_kill = 0  # requests cut off by the kill (not errors of the run)
        self.killed = threading.Event()

    def worker(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self.stop.is_set():
                number = next(self._next)
                if number >= len(self.bodies):
                    return
                sent = time.perf_counter()
                try:
                    reply = client.post(
                        "/api/v1/wishes",
                        content=self.bodies[number],
                        headers={"Content-Type": "application/json"},
                    )
                except httpx.HTTPError as exc:
                    with self._lock:
                        if self.killed.is_set():
                            self.after_kill += 1
                            return
                        self.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with self._lock:
                    if reply.status_code == 201:
                        self.acked[number] = reply.json()["index"]
                        self.latencies.append(time.perf_counter() - sent)
                    elif not self.killed.is_set():
                        self.errors.append(f"{reply.status_code}: {reply.text[:200]}")


def audit(base: str, verifier: str, load: Load, threads: int) -> dict:
    """Every acknowledged wish is at its index, under a fresh, valid checkpoint."""
    with httpx.Client(base_url=base, timeout=30) as client:
        note = client.get("/api/v1/checkpoint").json()["note"]
    checkpoint = verify_checkpoint(note, verifier, origin=ORIGIN)
    failures: list[str] = []

    def check(chunk: list[tuple[int, int]]) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            for number, index in chunk:
                reply = client.get(
                    "/api/v1/proof/inclusion", params={"index": index, "size": checkpoint.size}
                )
                try:
                    proof = [bytes.fromhex(h) for h in reply.json()["proof"]]
                    leaf = leaf_hash(load.entries[number].canonical_bytes())
                    verify_inclusion(leaf, index, checkpoint.size, proof, checkpoint.root)
                except Exception as exc:
                    failures.append(f"entry {number} at {index}: {exc}")

    acked = sorted(load.acked.items())
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(check, [acked[i::threads] for i in range(threads)]))
    return {
        "size_after_restart": checkpoint.size,
        "acknowledged": len(acked),
        "proofs_verified": len(acked) - len(failures),
        "audit_failures": failures[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds of load.")
    parser.add_argument("--threads", type=int, default=8, help="Concurrent submitters.")
    parser.add_argument("--entries", type=int, default=60_000, help="Entries signed in advance.")
    parser.add_argument("--authors", type=int, default=64, help="Distinct author keys.")
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="charter-bench-") as tmp:
        workdir = Path(tmp)
        single = baseline(workdir, args.baseline_seconds, 1)
        batched = baseline(workdir, args.baseline_seconds, 64)

        key = LogKey.generate(ORIGIN)
        db, key_file = workdir / "wishes.db", workdir / "log.key"
        save_key(key_file, key)
        entries = sign_many(args.entries, args.authors)
        with Ledger.create(str(db), ORIGIN, key) as ledger:
            fund(ledger, entries)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(db, key_file, port)
        load = Load(base, entries)
        workers = [threading.Thread(target=load.worker) for _ in range(args.threads)]
        server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        load.stop.wait(args.duration)
        elapsed = time.perf_counter() - start
        server_cpu = cpu_seconds(server.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
        with load._lock:
            acked_in_run = len(load.acked)
            errors_in_run = list(load.errors)
        load.killed.set()
        os.kill(server.pid, signal.SIGKILL)  # mid-load: requests are still in flight
        server.wait()
        load.stop.set()
        for worker in workers:
            worker.join()

        server = start_server(db, key_file, port)
        try:
            checked = audit(base, key.verifier_string(), load, args.threads)
        finally:
            server.terminate()
            server.wait()

    rate = acked_in_run / elapsed
    lat = sorted(load.latencies)
    result = {
        "duration_s": round(elapsed, 1),
        "threads": args.threads,
        "submissions_per_s": round(rate, 1),
        "errors": len(errors_in_run),
        "first_errors": errors_in_run[:3],
        "latency_ms_p50": round(1000 * statistics.median(lat), 2) if lat else None,
        "latency_ms_p99": round(1000 * lat[int(0.99 * (len(lat) - 1))], 2) if lat else None,
        "server_cpu_ms_per_wish": round(1000 * server_cpu / max(1, acked_in_run), 3),
        "client_cpu_ms_per_wish": round(1000 * client_cpu / max(1, acked_in_run), 3),
        "cpu_cores": os.cpu_count(),
        "baseline_append_1_per_s": round(single, 1),
        "baseline_append_64_per_s": round(batched, 1),
        "ratio_to_append_1": round(rate / single, 3),
        "ratio_to_append_64": round(rate / batched, 3),
        "cut_off_by_kill": load.after_kill,
        "exhausted_presigned": len(load.acked) >= len(entries),
        **checked,
    }
    print(json.dumps(result, indent=2))
    ok = (
        not errors_in_run
        and not checked["audit_failures"]
        and checked["size_after_restart"] >= checked["acknowledged"]
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
