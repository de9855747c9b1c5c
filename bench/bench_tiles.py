"""Tile serving benchmark: C2SP tlog-tiles over HTTP on loopback, against baselines of the same run.

Run: ``.venv/bin/python bench/bench_tiles.py`` (``--entries 20000 --seconds 5
--rounds 3 --threads 4`` by default).

1. A ledger of ``--entries`` signed wishes is built through ``Ledger.append``
   and served by ``charter serve`` in a subprocess on 127.0.0.1 (rate limits off).
2. Rounds; in each, for ``--seconds`` apiece and in turn, ``--threads`` client
   threads (one keep-alive httpx client each) fetch:
   - ``/tile/0/<N>``: full level-0 tiles (8,192 bytes), cycling over all of them;
   - ``/tile/entries/<N>``: full entry bundles, uncompressed (``identity``);
   - ``/static/ledger.js``: a 9.7 kB static file, the server's cheapest response
     (the HTTP floor: Starlette ``StaticFiles``, same middleware);
   - ``/api/v1/checkpoint``: the JSON checkpoint endpoint.
   Reported per kind: requests a second and MB/s (median over rounds), and the
   ratio of tiles/s to the static file and to the JSON checkpoint.
3. In this process: ``read_tile`` straight from the store (``get_nodes``), the
   cost of a tile without HTTP, and the time for a monitor to check the whole
   log from tiles alone (:func:`charter.ledger.tiles.verify_tiles` with entry
   bundles) over HTTP.

Prints one JSON object; exits 1 if any request failed or the log did not verify.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from charter._util.net import free_port
from charter.ledger.checkpoint import LogKey, save_key
from charter.ledger.entry import generate_author_key, new_salt, sign_entry
from charter.ledger.log import Ledger
from charter.ledger.tiles import Tile, encode_index, read_tile, verify_tiles

sys.path.insert(0, str(Path(__file__).parent))
from bench_server import start_server

ORIGIN = "bench.example/wishes"


def build_ledger(db: Path, key: LogKey, count: int) -> None:
    """``count`` signed wishes from 16 funded authors, appended 500 at a time."""
    authors = [generate_author_key() for _ in range(16)]
    salt = new_salt()
    with Ledger.create(str(db), ORIGIN, key) as ledger:
        entries = [
            sign_entry(
                {"scenario": f"Benchmark scenario {i}.", "behaviour": "Answer briefly."},
                fee=1,
                burn=0,
                private_key=authors[i % 16],
                identity="bench",
                salt=salt,
            )
            for i in range(count)
        ]
        for key_b64 in {e.author_key for e in entries}:
            ledger.grant(key_b64, count)
        for start in range(0, count, 500):
            ledger.append(entries[start : start + 500])


def hammer(base: str, paths: list[str], seconds: float, threads: int) -> dict:
    """Requests a second and MB/s for ``threads`` clients cycling over ``paths``."""
    counter = itertools.count()
    lock = threading.Lock()
    totals = {"requests": 0, "bytes": 0, "errors": 0}
    stop = time.perf_counter() + seconds

    def worker() -> None:
        done = size = errors = 0
        headers = {"Accept-Encoding": "identity"}
        with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
            while time.perf_counter() < stop:
                reply = client.get(paths[next(counter) % len(paths)])
                if reply.status_code != 200:
                    errors += 1
                done += 1
                size += len(reply.content)
        with lock:
            totals["requests"] += done
            totals["bytes"] += size
            totals["errors"] += errors

    start = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    return {
        "per_s": totals["requests"] / elapsed,
        "mb_per_s": totals["bytes"] / elapsed / 1e6,
        "errors": totals["errors"],
    }


def in_process_tiles(db: Path, seconds: float) -> float:
    """Full level-0 tiles a second from ``read_tile`` on the store, no HTTP."""
    with Ledger.open(str(db)) as ledger:
        size, full = ledger.size, ledger.size // 256
        start, done = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            read_tile(Tile(0, done % full), size, ledger.store)
            done += 1
        return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=20_000, help="Wishes in the log.")
    parser.add_argument("--seconds", type=float, default=5.0, help="Seconds per kind per round.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds (medians are reported).")
    parser.add_argument("--threads", type=int, default=4, help="Concurrent client threads.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="charter-bench-tiles-") as tmp:
        workdir = Path(tmp)
        key = LogKey.generate(ORIGIN)
        db, key_file = workdir / "wishes.db", workdir / "log.key"
        save_key(key_file, key)
        built = time.perf_counter()
        build_ledger(db, key, args.entries)
        built = time.perf_counter() - built
        full = args.entries // 256
        kinds = {
            "tiles": [f"/tile/0/{encode_index(n)}" for n in range(full)],
            "bundles": [f"/tile/entries/{encode_index(n)}" for n in range(full)],
            "static": ["/static/ledger.js"],
            "json_checkpoint": ["/api/v1/checkpoint"],
        }
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(db, key_file, port)
        try:
            rounds: dict[str, list[dict]] = {kind: [] for kind in kinds}
            for _ in range(args.rounds):
                for kind, paths in kinds.items():
                    rounds[kind].append(hammer(base, paths, args.seconds, args.threads))
            with httpx.Client(base_url=base, timeout=30) as client:
                started = time.perf_counter()
                note = client.get("/checkpoint").text

                def fetch(path: str) -> bytes:
                    reply = client.get("/" + path)
                    reply.raise_for_status()
                    return reply.content

                checked = verify_tiles(note, key.verifier_string(), fetch, entries=True)
                verify_s = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait()
        raw_tiles_per_s = in_process_tiles(db, args.seconds)

    def median(kind: str, field: str) -> float:
        return statistics.median(r[field] for r in rounds[kind])

    result = {
        "entries": args.entries,
        "build_s": round(built, 1),
        "threads": args.threads,
        "seconds_per_kind": args.seconds,
        "rounds": args.rounds,
        "cpu_cores": os.cpu_count(),
        **{
            f"{kind}_{field}": round(median(kind, field), 1)
            for kind in kinds
            for field in ("per_s", "mb_per_s")
        },
        "tiles_per_s_by_round": [round(r["per_s"], 1) for r in rounds["tiles"]],
        "static_per_s_by_round": [round(r["per_s"], 1) for r in rounds["static"]],
        "ratio_tiles_to_static": round(median("tiles", "per_s") / median("static", "per_s"), 3),
        "ratio_tiles_to_json_checkpoint": round(
            median("tiles", "per_s") / median("json_checkpoint", "per_s"), 3
        ),
        "read_tile_in_process_per_s": round(raw_tiles_per_s, 1),
        "verify_whole_log_from_tiles_s": round(verify_s, 2),
        "verified_size": checked.size,
        "errors": sum(r["errors"] for kind in rounds for r in rounds[kind]),
    }
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["errors"] == 0 and checked.size == args.entries else 1)


if __name__ == "__main__":
    main()
