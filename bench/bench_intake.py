"""Wish intake benchmark: full entry validation vs bare Ed25519 verification.

Run: ``.venv/bin/python bench/bench_intake.py`` (``--entries 20000 --authors 1000 --rounds 5``).

Intake is what the ledger does with each submitted wish before it is appended:
``validate_entry(parse_entry(json_bytes), EntryPolicy(), now)`` (UTF-8 and JSON
parsing, pydantic validation, NFC, sizes, stake, nonce shape, clock skew, the
canonical signing bytes and the Ed25519 signature). The baseline is
``Ed25519PublicKey.verify`` from ``cryptography`` over the same signatures and
messages with the keys already loaded: the floor intake cannot beat. Both run
on the same pre-signed entries in the same process, alternating which goes
first each round; the reported ratio (intake rate / bare rate) is the median
over rounds. Target (issue 6): >= 0.5.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import time
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from charter.ledger.entry import EntryPolicy, Wish, parse_entry, sign_entry, validate_entry

NOW = datetime(2026, 11, 22, 17, 0, 0, tzinfo=UTC)
SCENARIO = (
    "Someone asks the assistant whether a mushroom they found in the forest is safe to eat, "
    "and sends a blurry photo."
)
BEHAVIOUR = (
    "Say plainly that no photo can establish that, name the dangerous look-alikes, and "
    "advise asking a local expert before eating any of it."
)


def make_entries(count: int, authors: int) -> list[bytes]:
    """``count`` signed entries as JSON bytes, spread over ``authors`` keys."""
    keys = [Ed25519PrivateKey.generate() for _ in range(authors)]
    salt = bytes(32)
    entries = []
    for i in range(count):
        wish = Wish(
            scenario=f"{SCENARIO} (case {i})",
            behaviour=BEHAVIOUR,
            rationale="Poisonings are common and irreversible.",
            tags=("safety", "food", "caf\u00e9"),
        )
        entry = sign_entry(
            wish,
            fee=1,
            burn=i % 7,
            private_key=keys[i % authors],
            identity=f"person-{i % authors}@example.org",
            salt=salt,
            nonce=f"bench-nonce-{i:012d}",
            timestamp=NOW,
        )
        entries.append(entry.canonical_bytes())
    return entries


def intake(entries: list[bytes]) -> float:
    policy = EntryPolicy()
    start = time.perf_counter()
    for data in entries:
        validate_entry(parse_entry(data), policy, now=NOW)
    return time.perf_counter() - start


def bare_inputs(entries: list[bytes]) -> list[tuple[Ed25519PublicKey, bytes, bytes]]:
    """Loaded keys, raw signatures and signed messages: everything but the verify call."""
    loaded: dict[str, Ed25519PublicKey] = {}
    inputs = []
    for data in entries:
        entry = parse_entry(data)
        if entry.author_key not in loaded:
            raw = base64.b64decode(entry.author_key)
            loaded[entry.author_key] = Ed25519PublicKey.from_public_bytes(raw)
        signature = base64.b64decode(entry.signature)
        inputs.append((loaded[entry.author_key], signature, entry.signing_bytes()))
    return inputs


def bare_verify(inputs: list[tuple[Ed25519PublicKey, bytes, bytes]]) -> float:
    start = time.perf_counter()
    for key, signature, message in inputs:
        key.verify(signature, message)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000, help="pre-signed entries")
    parser.add_argument("--authors", type=int, default=1_000, help="distinct author keys")
    parser.add_argument("--rounds", type=int, default=5, help="A/B rounds (median reported)")
    args = parser.parse_args()

    entries = make_entries(args.entries, args.authors)
    inputs = bare_inputs(entries)
    size = statistics.mean(len(e) for e in entries)
    print(f"{args.entries} entries ({size:.0f} bytes each), {args.authors} author keys")

    ratios, intake_rates, bare_rates = [], [], []
    for r in range(args.rounds):
        if r % 2 == 0:
            t_intake, t_bare = intake(entries), bare_verify(inputs)
        else:
            t_bare, t_intake = bare_verify(inputs), intake(entries)
        intake_rates.append(args.entries / t_intake)
        bare_rates.append(args.entries / t_bare)
        ratios.append(t_bare / t_intake)
        print(
            f"round {r + 1}: intake {intake_rates[-1]:,.0f}/s, bare verify "
            f"{bare_rates[-1]:,.0f}/s, ratio {ratios[-1]:.3f}"
        )
    ratio = statistics.median(ratios)
    print(
        f"median: intake {statistics.median(intake_rates):,.0f} entries/s, bare Ed25519 verify "
        f"{statistics.median(bare_rates):,.0f}/s, ratio {ratio:.3f} "
        f"(target >= 0.5: {'met' if ratio >= 0.5 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
