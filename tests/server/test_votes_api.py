"""The votes endpoints over a real SQLite ledger, through FastAPI's TestClient."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from charter.ledger.checkpoint import verify_checkpoint
from charter.ledger.votes import load_votes, parse_vote, sign_vote
from charter.merkle import leaf_hash, verify_inclusion
from charter.server import create_app
from charter.server.ratelimit import RateLimit, RateLimiter

API = "/api/v1"
ALICE, BOB = bytes([1]) * 32, bytes([2]) * 32


@pytest.fixture
def client(ledger) -> TestClient:
    return TestClient(create_app(ledger, rate_per_minute=None, ip_rate_per_minute=None))


@pytest.fixture
def wish(ledger, funded) -> str:
    entry = funded().sign("A neighbour asks the AI to read a letter aloud.")
    ledger.append([entry])
    return entry.id


def signed(ledger, entry_id, value, key=ALICE, seconds=0.0, **fields):
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return sign_vote(entry_id, value, key, fields.pop("origin", ledger.origin), timestamp=moment,
                     **fields)  # fmt: skip


def post(client: TestClient, vote) -> object:
    body = vote if isinstance(vote, bytes | str) else vote.model_dump_json()
    return client.post(f"{API}/votes", content=body, headers={"Content-Type": "application/json"})


def test_vote_then_change_it(client, ledger, wish):
    first = post(client, signed(ledger, wish, 1, seconds=-1))
    assert first.status_code == 201, first.text
    assert first.json()["replaced"] is False and first.json()["index"] == 0
    assert first.json()["tally"] == {"endorse": 1, "oppose": 0, "total": 1}
    assert post(client, signed(ledger, wish, 1, key=BOB)).status_code == 201

    changed = post(client, signed(ledger, wish, -1))
    assert changed.status_code == 200, changed.text
    assert changed.json()["replaced"] is True
    assert changed.json()["tally"] == {"endorse": 1, "oppose": 1, "total": 2}

    listed = client.get(f"{API}/wishes/{wish}/votes").json()
    assert listed["tally"] == {"endorse": 1, "oppose": 1, "total": 2}
    assert [item["vote"]["value"] for item in listed["votes"]] == [1, -1]  # Bob, then Alice
    for item in listed["votes"]:
        assert parse_vote(item["vote"]).id == item["id"]


@pytest.mark.parametrize(
    ("make", "status", "message"),
    [
        (lambda lg, w: signed(lg, "e" * 64, 1), 422, "field entry_id: no wish eeeeeeeeeeeeeeee"),
        (lambda lg, w: signed(lg, w, 1).model_copy(update={"value": -1}), 422,
         "vote signature does not verify"),
        (lambda lg, w: signed(lg, w, 1, origin="other.example"), 422, "field origin: the vote is"),
        (lambda lg, w: signed(lg, w, 1, seconds=-7200), 422, "behind the ledger clock"),
        (lambda lg, w: b"{not json", 422, "vote is not valid JSON"),
        (lambda lg, w: json.dumps({"value": 1}), 422, "field origin: is required but missing"),
        (lambda lg, w: b"x" * 5000, 413, "over 4096 bytes"),
    ],
)  # fmt: skip
def test_bad_votes_get_one_line_errors(client, ledger, wish, make, status, message):
    reply = post(client, make(ledger, wish))
    assert reply.status_code == status, reply.text
    assert message in reply.json()["error"]
    assert ledger_votes_size(client) == 0


def ledger_votes_size(client) -> int:
    return client.get(f"{API}/votes").json()["size"]


def test_replay_and_stale_votes_are_refused(client, ledger, wish):
    vote = signed(ledger, wish, 1)
    assert post(client, vote).status_code == 201
    replay = post(client, vote)
    assert replay.status_code == 422 and "nonce already used" in replay.json()["error"]
    stale = post(client, signed(ledger, wish, -1, seconds=-30))
    assert stale.status_code == 422 and "not older than" in stale.json()["error"]
    assert ledger_votes_size(client) == 1


def test_unknown_wish_votes_page_is_404(client):
    reply = client.get(f"{API}/wishes/{'0' * 64}/votes")
    assert reply.status_code == 404 and "no wish with this id" in reply.json()["error"]


def test_vote_log_export_pages_and_proofs(client, ledger, wish, tmp_path):
    for i in range(5):
        reply = post(client, signed(ledger, wish, 1 if i % 2 else -1, key=bytes([i + 3]) * 32))
        assert reply.status_code == 201
    post(client, signed(ledger, wish, 1, key=bytes([3]) * 32, seconds=1))  # a replacement
    page = client.get(f"{API}/votes", params={"limit": 4}).json()
    assert (len(page["items"]), page["size"], page["next_since"]) == (4, 6, 4)
    rest = client.get(f"{API}/votes", params={"since": 4}).json()
    assert len(rest["items"]) == 2 and rest["next_since"] is None

    cp_reply = client.get(f"{API}/votes/checkpoint").json()
    key = client.get(f"{API}/key").json()["verifier"]
    cp = verify_checkpoint(cp_reply["note"], key, origin=ledger.origin + "/votes")
    assert cp.size == 6
    for item in page["items"] + rest["items"]:
        data = json.dumps(item["vote"], sort_keys=True, separators=(",", ":")).encode()
        proof = client.get(
            f"{API}/votes/proof/inclusion", params={"index": item["index"], "size": cp.size}
        ).json()["proof"]
        verify_inclusion(leaf_hash(data), item["index"], cp.size, [bytes.fromhex(h) for h in proof],
                         cp.root)  # fmt: skip
    assert client.get(f"{API}/votes/proof/consistency", params={"old": 2}).status_code == 200

    # The paged export, saved as JSONL, is what the analysis reads.
    export = tmp_path / "votes.jsonl"
    export.write_text("".join(json.dumps(i) + "\n" for i in page["items"] + rest["items"]))
    assert len(load_votes(export)) == 5


def test_votes_have_their_own_rate_limit(ledger, wish):
    client = TestClient(create_app(ledger, rate_per_minute=None, ip_rate_per_minute=None))
    client.app.state.service.vote_limiter = RateLimiter(RateLimit(60, burst=1))
    assert post(client, signed(ledger, wish, 1, seconds=-1)).status_code == 201
    limited = post(client, signed(ledger, wish, -1))
    assert limited.status_code == 429 and "voter key" in limited.json()["error"]
    assert "retry-after" in limited.headers
    # Another voter is not held back by the first one's limit.
    assert post(client, signed(ledger, wish, 1, key=BOB)).status_code == 201


def test_openapi_lists_the_vote_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/votes", "/api/v1/wishes/{entry_id}/votes", "/api/v1/votes/checkpoint"):
        assert path in paths


def test_pages_show_the_tally_and_the_buttons(client, ledger, wish):
    post(client, signed(ledger, wish, 1, key=BOB))
    post(client, signed(ledger, wish, -1))
    post(client, signed(ledger, wish, -1, key=bytes([7]) * 32))
    for page in ("/wishes", f"/wishes/{wish}"):
        html = client.get(page).text
        assert f'data-entry-id="{wish}"' in html
        assert '<span class="count" data-count="endorse">1</span>' in html
        assert '<span class="count" data-count="oppose">2</span>' in html
        assert "votes.js" in html
