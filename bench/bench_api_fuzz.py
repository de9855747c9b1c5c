"""API fuzzing benchmark: schemathesis against a live wish server, counting 5xx answers.

Run: ``.venv/bin/python bench/bench_api_fuzz.py --minutes 10`` (needs the ``bench``
extra: ``pip install -e '.[bench]'``).

A real ledger (SQLite) with wishes and votes is served by uvicorn on loopback,
rate limits off, behind a counting ASGI wrapper that records every status code
the server sends, and whether each answer carried the security headers. The
``schemathesis`` CLI then fuzzes every operation of ``/openapi.json`` (examples,
coverage, fuzzing and stateful phases) for ``--minutes``. Reported: requests
served, answers by status class, 5xx count (target: 0; the issue found 146 in
34,718 requests), and answers without the security headers (target: 0).
Prints one JSON object; exits 1 if a 5xx or a bare answer was seen.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from charter._util.net import serving
from charter.ledger.checkpoint import LogKey
from charter.ledger.entry import generate_author_key, new_salt, public_key_b64, sign_entry
from charter.ledger.log import Ledger
from charter.ledger.votelog import VoteLog
from charter.ledger.votesim import simulate_votes

ORIGIN = "fuzz.example/wishes"


class Counter:
    """ASGI wrapper: counts the status of every answer and checks its security headers."""

    def __init__(self, app) -> None:
        self.app = app
        self.statuses: collections.Counter[int] = collections.Counter()
        self.bare = 0
        self.samples_5xx: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        async def counting(message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                self.statuses[status] += 1
                names = {name for name, _ in message.get("headers", [])}
                if b"content-security-policy" not in names:
                    self.bare += 1
                if status >= 500 and len(self.samples_5xx) < 20:
                    self.samples_5xx.append(
                        f"{scope['method']} {scope['path']}?{scope['query_string'].decode()}"
                    )
            await send(message)

        await self.app(scope, receive, counting)


def seeded_ledger(folder: Path) -> Ledger:
    key = LogKey.generate(ORIGIN)
    ledger = Ledger.create(str(folder / "wishes.db"), ORIGIN, key)
    author, salt = generate_author_key(), new_salt()
    ledger.grant(public_key_b64(author), 1000)
    wishes = [
        sign_entry({"scenario": f"Case {i}.", "behaviour": "Help."}, 1, 0, author, "me", salt)
        for i in range(40)
    ]
    ledger.append(wishes)
    ledger.checkpoint()
    votes = VoteLog.for_ledger(ledger)
    votes.append(
        simulate_votes([w.id for w in wishes], n_voters=10, seed=1, origin=ORIGIN),
        check_clock=False,
    )
    votes.checkpoint()
    return ledger


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workers", default="2")
    args = parser.parse_args()
    if shutil.which("schemathesis", path=str(Path(sys.executable).parent)) is None:
        print("schemathesis is missing: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    from charter.server import create_app

    with tempfile.TemporaryDirectory() as tmp:
        ledger = seeded_ledger(Path(tmp))
        app = Counter(
            create_app(ledger, rate_per_minute=None, ip_rate_per_minute=None,
                       read_rate_per_minute=None, grant_new_keys=5)
        )  # fmt: skip
        with serving(app, log_level="critical") as base:
            started = time.monotonic()
            command = [
                str(Path(sys.executable).parent / "schemathesis"), "run", f"{base}/openapi.json",
                "--checks", "not_a_server_error", "--max-time", str(int(args.minutes * 60)),
                "--workers", args.workers, "--seed", "14", "--continue-on-failure",
            ]  # fmt: skip
            fuzz = subprocess.run(command, capture_output=True, text=True)
            elapsed = time.monotonic() - started
        ledger.close()
    by_class = collections.Counter(f"{s // 100}xx" for s in app.statuses.elements())
    result = {
        "minutes": round(elapsed / 60, 2),
        "requests": sum(app.statuses.values()),
        "by_class": dict(sorted(by_class.items())),
        "statuses": dict(sorted(app.statuses.items())),
        "server_errors_5xx": by_class.get("5xx", 0),
        "answers_without_security_headers": app.bare,
        "samples_5xx": app.samples_5xx,
        "schemathesis_exit": fuzz.returncode,
        "schemathesis_tail": fuzz.stdout.strip().splitlines()[-12:],
    }
    print(json.dumps(result, indent=2))
    return 1 if result["server_errors_5xx"] or app.bare else 0


if __name__ == "__main__":
    sys.exit(main())
