"""The tlog-tiles endpoints end to end: a real uvicorn server on loopback, read over HTTP.

The tree is rebuilt from ``/tile/...`` and ``/tile/entries/...`` alone and its root
checked against ``/checkpoint``, verified with the log's verifier key taken from
the ledger (never from the server), as a monitor that trusts only that key would.
"""

from __future__ import annotations

import httpx
import pytest

from charter.errors import RootMismatchError
from charter.ledger.entry import parse_entry
from charter.ledger.log import Ledger
from charter.ledger.tiles import decode_bundle, verify_tiles
from charter.ledger.votelog import VoteLog
from charter.ledger.votes import sign_vote

pytestmark = pytest.mark.server

ORIGIN = "test.example/wishes"  # tests/server/conftest.py's ledger
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options")


def append_wishes(ledger: Ledger, funded, count: int) -> None:
    author = funded(count)
    entries = [author.sign(f"Scenario {ledger.size + i}: a user asks.") for i in range(count)]
    for start in range(0, count, 100):
        ledger.append(entries[start : start + 100])


def fetcher(client: httpx.Client):
    def fetch(path: str) -> bytes:
        reply = client.get("/" + path)
        reply.raise_for_status()
        return reply.content

    return fetch


def test_the_tree_rebuilt_from_tiles_matches_the_signed_checkpoint(live_server, ledger, funded):
    verifier = ledger.verifier  # trusted out of band: the server is not asked for it
    with httpx.Client(base_url=live_server, timeout=30) as client:
        append_wishes(ledger, funded, 300)
        first = client.get("/checkpoint").text
        cp = verify_tiles(first, verifier, fetcher(client), origin=ORIGIN, entries=True)
        assert cp.size == 300 and cp.root == ledger.root(300)

        append_wishes(ledger, funded, 400)  # past two full level-0 tiles
        note = client.get("/checkpoint").text
        cp = verify_tiles(note, verifier, fetcher(client), origin=ORIGIN, entries=True)
        assert cp.size == 700 and cp.root == ledger.root()
        # The older checkpoint still rebuilds: its partial tiles are still served.
        assert verify_tiles(first, verifier, fetcher(client), entries=True).size == 300

        bundle = client.get("/tile/entries/002.p/188").content
        wishes = [parse_entry(data) for data in decode_bundle(bundle)]
        assert [w.id for w in wishes] == [ledger.get(i).id for i in range(512, 700)]

        # A server that lies about one leaf is caught, though the checkpoint is genuine.
        def lying(path: str) -> bytes:
            data = fetcher(client)(path)
            return data[:32] + bytes(32) + data[64:] if path == "tile/0/001" else data

        with pytest.raises(RootMismatchError):
            verify_tiles(note, verifier, lying)


def test_tiles_carry_their_types_and_cache_headers(live_server, ledger, funded):
    append_wishes(ledger, funded, 300)
    with httpx.Client(base_url=live_server, timeout=30) as client:
        full = client.get("/tile/0/000")
        assert full.status_code == 200 and len(full.content) == 256 * 32
        assert full.headers["content-type"] == "application/octet-stream"
        assert full.headers["cache-control"] == "public, max-age=31536000, immutable"

        partial = client.get("/tile/0/001.p/44")
        assert partial.status_code == 200 and len(partial.content) == 44 * 32
        assert partial.headers["cache-control"] == "public, max-age=60"

        checkpoint = client.get("/checkpoint")
        assert checkpoint.headers["content-type"] == "text/plain; charset=utf-8"
        assert checkpoint.headers["cache-control"] == "public, max-age=5"
        assert checkpoint.text.startswith(f"{ORIGIN}\n300\n")

        bundle = client.get("/tile/entries/000", headers={"Accept-Encoding": "gzip"})
        assert bundle.headers["content-encoding"] == "gzip"  # httpx has decoded it
        assert len(decode_bundle(bundle.content)) == 256
        plain = client.get("/tile/entries/000", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.content == bundle.content
        refused = client.get("/tile/entries/000", headers={"Accept-Encoding": "gzip;q=0"})
        assert "content-encoding" not in refused.headers
        assert bundle.headers["cache-control"].endswith("immutable")

        for reply in (full, partial, checkpoint, bundle):
            assert all(name in reply.headers for name in SECURITY_HEADERS)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tile/0/001", 404),  # the second level-0 tile is not full yet
        ("/tile/0/001.p/45", 404),  # wider than the tree
        ("/tile/0/002.p/1", 404),
        ("/tile/1/000", 404),
        ("/tile/1/000.p/2", 404),  # level 1 holds one hash
        ("/tile/2/000.p/1", 404),
        ("/tile/entries/001", 404),
        ("/tile/entries/x999/x999/x999/x999/x999/x999/999", 404),
        ("/tile/63/x999/x999/x999/x999/x999/x999/999.p/255", 404),
        ("/tile/0/1", 400),
        ("/tile/0/x000/001", 400),
        ("/tile/00/000", 400),
        ("/tile/64/000", 400),
        ("/tile/0/000.p/0", 400),
        ("/tile/0/000.p/256", 400),
        ("/tile/0/000.p/abc", 400),
        ("/tile/entries/000.p/-1", 400),
        ("/tile/-1/000", 400),
        ("/tile/0/" + "x123/" * 40 + "456", 400),
        ("/tile/", 400),
        ("/tile/%00/000", 400),
        ("/tile/0/000%0A", 400),
        ("/votes/tile/0/001", 404),
        ("/votes/tile/zz", 400),
    ],
)
def test_bad_and_missing_tiles_answer_4xx_with_security_headers(
    live_server, ledger, funded, path, status
):
    append_wishes(ledger, funded, 300)
    reply = httpx.get(live_server + path, timeout=30)
    assert reply.status_code == status, path
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert reply.headers["cache-control"] == "no-cache"
    assert all(name in reply.headers for name in SECURITY_HEADERS)


def test_the_vote_log_is_served_under_votes(live_server, ledger, funded):
    append_wishes(ledger, funded, 3)
    wish = ledger.get(0).id
    votes = VoteLog.for_ledger(ledger)
    for start in range(0, 300, 100):
        votes.append(
            [
                sign_vote(wish, 1, i.to_bytes(32, "big"), ledger.origin)
                for i in range(start + 1, start + 101)
            ]
        )
    with httpx.Client(base_url=live_server + "/votes", timeout=30) as client:
        note = client.get("/checkpoint").text
        cp = verify_tiles(
            note, ledger.verifier, fetcher(client), origin=votes.log_origin, entries=True
        )
        assert cp.size == 300 and cp.root == votes.root()
        assert len(client.get("/tile/0/000").content) == 256 * 32
        assert client.get("/tile/entries/001.p/44").status_code == 200
    assert httpx.get(live_server + "/tile/0/000").status_code == 404  # 3 wishes, 300 votes
