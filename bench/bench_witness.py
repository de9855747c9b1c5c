"""Witness benchmark: cosign latency over HTTP on loopback (C2SP tlog-witness add-checkpoint).

Run: ``.venv/bin/python bench/bench_witness.py`` (``--rounds 300 --batch 16 --start 100000``).

``charter ledger witness`` runs in a subprocess on 127.0.0.1 with a fresh key
and state file, witnessing one log. The log (an in-memory RFC 6962 tree of
``--start`` leaves, :class:`charter.ledger.tree.MemoryNodes`) grows by
``--batch`` leaves a round; each round, timed end to end from the client:

- the consistency proof from the witness's size (RFC 9162 section 2.1.4.1),
- the request body, ``POST /add-checkpoint`` over one keep-alive connection,
- the witness's checks (log signature, proof, durable state write: fsync +
  rename) and cosignature, and the client's check of the returned cosignature.

The log's own checkpoint signature is made outside the timed span (the log
signs it anyway). Baselines in the same run, alternating with the rounds so
the machine's state is shared: a no-op round trip to the same server
(``GET`` of an unknown log's checkpoint: 404, no disk, no crypto) and a bare
Ed25519 checkpoint signature. Prints one JSON object; the ratio is the
add-checkpoint median over the no-op round-trip median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from charter._util.net import free_port
from charter.ledger.checkpoint import Checkpoint, LogKey, save_key, sign_checkpoint
from charter.ledger.cosign import WitnessKey, verify_cosignature
from charter.ledger.tree import MemoryNodes, new_nodes, tree_consistency_proof, tree_root
from charter.ledger.witness import format_add_checkpoint
from charter.merkle import leaf_hash

ORIGIN = "bench.example/wishes"
WITNESS = "import typer; from charter.cli.ledger import witness; typer.run(witness)"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def grow(nodes: MemoryNodes, size: int, count: int) -> int:
    """Append ``count`` leaves to the tree of ``size``; return the new size."""
    leaves = [leaf_hash(f"bench leaf {size + i}".encode()) for i in range(count)]
    nodes.put(new_nodes(size, leaves, nodes))
    return size + count


def wait_for(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url)
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the witness did not start") from None
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=300, help="add-checkpoint calls timed")
    parser.add_argument("--batch", type=int, default=16, help="leaves appended per round")
    parser.add_argument("--start", type=int, default=100_000, help="log size before round 1")
    args = parser.parse_args()

    log_key = LogKey.generate(ORIGIN)
    witness_key = WitnessKey.generate("bench.example/witness")
    vkey = witness_key.verifier()
    nodes = MemoryNodes()
    size = grow(nodes, 0, args.start)
    with tempfile.TemporaryDirectory() as tmp:
        save_key(Path(tmp) / "w.key", witness_key)
        port = free_port()
        command = [sys.executable, "-c", WITNESS, "-k", f"{tmp}/w.key", "--state"]
        command += [f"{tmp}/state.json", "--log", f"{ORIGIN}={log_key.verifier_string()}"]
        command += ["--port", str(port), "--log-level", "warning"]
        process = subprocess.Popen(command)
        base = f"http://127.0.0.1:{port}"
        noop_url = f"{base}/{'0' * 64}/checkpoint"
        try:
            wait_for(noop_url, process)
            cosign_ms, noop_ms, sign_ms = [], [], []
            with httpx.Client(timeout=30) as client:
                held = 0
                for round_ in range(-10, args.rounds):  # 10 warm-up rounds, not recorded
                    size = grow(nodes, size, args.batch)
                    checkpoint = Checkpoint(ORIGIN, size, tree_root(size, nodes))
                    started = time.perf_counter()
                    note = sign_checkpoint(checkpoint, log_key)
                    signed = time.perf_counter()
                    proof = tree_consistency_proof(held, size, nodes) if held else []
                    reply = client.post(
                        f"{base}/add-checkpoint", content=format_add_checkpoint(held, proof, note)
                    )
                    if reply.status_code != 200:
                        raise SystemExit(f"witness refused: {reply.status_code} {reply.text}")
                    verify_cosignature(note + reply.text, vkey)
                    done = time.perf_counter()
                    noop_start = time.perf_counter()
                    if client.get(noop_url).status_code != 404:
                        raise SystemExit("the no-op request did not answer 404")
                    noop_done = time.perf_counter()
                    held = size
                    if round_ >= 0:
                        cosign_ms.append((done - signed) * 1000)
                        sign_ms.append((signed - started) * 1000)
                        noop_ms.append((noop_done - noop_start) * 1000)
        finally:
            process.terminate()
            process.wait(timeout=15)
    result = {
        "rounds": args.rounds,
        "batch": args.batch,
        "log_size_start": args.start,
        "log_size_end": size,
        "add_checkpoint_ms": {
            "median": round(statistics.median(cosign_ms), 3),
            "p95": round(percentile(cosign_ms, 0.95), 3),
        },
        "noop_round_trip_ms": {
            "median": round(statistics.median(noop_ms), 3),
            "p95": round(percentile(noop_ms, 0.95), 3),
        },
        "checkpoint_signature_ms": {"median": round(statistics.median(sign_ms), 3)},
        "ratio_add_checkpoint_to_noop": round(
            statistics.median(cosign_ms) / statistics.median(noop_ms), 2
        ),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
