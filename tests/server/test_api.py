"""The JSON API and the HTML pages over a real SQLite ledger, through FastAPI's TestClient."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from charter.errors import ProofError, RootMismatchError
from charter.ledger.checkpoint import verify_checkpoint
from charter.merkle import leaf_hash, verify_consistency, verify_inclusion
from charter.server import create_app

API = "/api/v1"
SCRIPT = "<script>alert(1)</script>"


def client_for(ledger, **options) -> TestClient:
    return TestClient(create_app(ledger, **options))


@pytest.fixture
def client(ledger) -> TestClient:
    """No rate limits: the tests of limits build their own client."""
    return client_for(ledger, rate_per_minute=None, ip_rate_per_minute=None)


def post(client: TestClient, entry) -> object:
    return client.post(
        f"{API}/wishes",
        content=entry.model_dump_json(exclude_none=True),
        headers={"Content-Type": "application/json"},
    )


def test_submit_then_fetch_returns_the_signed_entry(client, funded, ledger):
    entry = funded().sign("A student asks for the answers to a take-home exam.")
    reply = post(client, entry)
    assert reply.status_code == 201, reply.text
    assert reply.json() == {"index": 0, "id": entry.id}
    assert reply.headers["location"].endswith(f"/wishes/{entry.id}")
    assert ledger.size == 1  # acknowledged means appended

    got = client.get(f"{API}/wishes/{entry.id}").json()
    assert got["index"] == 0 and got["id"] == entry.id
    # The API hands back exactly the hashed fields: re-serialising gives the leaf data.
    canonical = json.dumps(got["entry"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical.encode() == entry.canonical_bytes()


def test_list_and_search_page_through_wishes(client, funded):
    person = funded()
    for text in ("cats on a boat", "dogs in a car", "cats in a tree"):
        assert post(client, person.sign(text)).status_code == 201

    everything = client.get(f"{API}/wishes", params={"limit": 2}).json()
    assert len(everything["items"]) == 2 and everything["next_offset"] == 2
    rest = client.get(f"{API}/wishes", params={"limit": 2, "offset": 2}).json()
    assert len(rest["items"]) == 1 and rest["next_offset"] is None

    cats = client.get(f"{API}/wishes", params={"q": "cats"}).json()["items"]
    assert sorted(item["entry"]["wish"]["scenario"] for item in cats) == [
        "cats in a tree",
        "cats on a boat",
    ]


def test_inclusion_proof_verifies_against_the_signed_checkpoint(client, funded, ledger):
    person = funded()
    entries = [person.sign(f"wish number {i}") for i in range(5)]
    for entry in entries:
        assert post(client, entry).status_code == 201

    cp_reply = client.get(f"{API}/checkpoint").json()
    verifier = client.get(f"{API}/key").json()["verifier"]
    assert verifier == ledger.verifier
    checkpoint = verify_checkpoint(cp_reply["note"], verifier, origin=ledger.origin)
    assert checkpoint.size == 5 and cp_reply["root"] == checkpoint.root.hex()

    for index, entry in enumerate(entries):
        reply = client.get(f"{API}/proof/inclusion", params={"index": index, "size": 5}).json()
        proof = [bytes.fromhex(h) for h in reply["proof"]]
        verify_inclusion(leaf_hash(entry.canonical_bytes()), index, 5, proof, checkpoint.root)

    # A tampered proof, or the proof for another leaf, is refused.
    reply = client.get(f"{API}/proof/inclusion", params={"index": 2, "size": 5}).json()
    proof = [bytes.fromhex(h) for h in reply["proof"]]
    proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
    with pytest.raises(RootMismatchError, match="root"):
        verify_inclusion(leaf_hash(entries[2].canonical_bytes()), 2, 5, proof, checkpoint.root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(entries[2].canonical_bytes()), 2, 5, proof[:-1], checkpoint.root)


def test_checkpoint_is_renewed_when_the_log_grows_and_stays_consistent(client, funded, ledger):
    person = funded()
    post(client, person.sign("first"))
    old = verify_checkpoint(client.get(f"{API}/checkpoint").json()["note"], ledger.verifier)
    post(client, person.sign("second"))
    post(client, person.sign("third"))
    new = verify_checkpoint(client.get(f"{API}/checkpoint").json()["note"], ledger.verifier)
    assert (old.size, new.size) == (1, 3)

    reply = client.get(f"{API}/proof/consistency", params={"old": 1, "new": 3}).json()
    proof = [bytes.fromhex(h) for h in reply["proof"]]
    verify_consistency(1, 3, proof, old.root, new.root)
    with pytest.raises(RootMismatchError):
        verify_consistency(1, 3, proof, new.root, new.root)


def test_bad_signature_is_refused_with_422_and_nothing_is_written(client, funded, ledger):
    entry = funded().sign("an honest wish")
    forged = entry.model_copy(update={"fee": 2})  # changed after signing
    reply = post(client, forged)
    assert reply.status_code == 422
    assert "signature" in reply.json()["error"]
    assert ledger.size == 0


def test_replayed_nonce_is_refused_with_422(client, funded, ledger):
    person = funded()
    assert post(client, person.sign("once", nonce="same-nonce-0123456789")).status_code == 201
    replay = post(client, person.sign("twice", nonce="same-nonce-0123456789"))
    assert replay.status_code == 422
    assert "nonce" in replay.json()["error"]
    assert ledger.size == 1


def test_missing_credit_is_refused_with_402(client, author, ledger):
    reply = post(client, author.sign("no credit here"))
    assert reply.status_code == 402
    assert reply.json()["error"]
    assert ledger.size == 0


def test_grant_new_keys_funds_a_key_once(ledger, author):
    client = client_for(ledger, grant_new_keys=2)
    assert post(client, author.sign("one")).status_code == 201
    assert post(client, author.sign("two")).status_code == 201
    assert post(client, author.sign("three")).status_code == 402  # no second grant
    assert ledger.balance(author.key) == 0


def test_invalid_entries_get_one_sentence(client, funded):
    person = funded()
    low_fee = person.sign("too cheap", fee=0)
    reply = post(client, low_fee)
    assert reply.status_code == 422
    assert reply.json()["error"].startswith("field fee")

    reply = client.post(f"{API}/wishes", content=b"{not json", headers={"Content-Type": "x"})
    assert reply.status_code == 422 and "JSON" in reply.json()["error"]

    reply = client.post(f"{API}/wishes", content=b"x" * 70_000)
    assert reply.status_code == 413


def test_per_key_rate_limit_answers_429_with_retry_after(ledger, funded):
    # 6 a minute with the default burst (a tenth of a minute's worth): one now, then 10 s.
    client = client_for(ledger, rate_per_minute=6, ip_rate_per_minute=None)
    person, other = funded(), funded()
    assert post(client, person.sign("a")).status_code == 201
    limited = post(client, person.sign("c"))
    assert limited.status_code == 429
    assert 9 <= int(limited.headers["retry-after"]) <= 10
    assert "author key" in limited.json()["error"]
    assert post(client, other.sign("d")).status_code == 201  # another key is not affected


def test_per_ip_rate_limit_answers_429(ledger, funded):
    client = client_for(ledger, rate_per_minute=None, ip_rate_per_minute=20)  # burst 2
    for text in ("a", "b"):
        assert post(client, funded().sign(text)).status_code == 201
    limited = post(client, funded().sign("c"))
    assert limited.status_code == 429 and "IP" in limited.json()["error"]
    assert limited.headers["retry-after"]
    assert client.get(f"{API}/key").status_code == 200  # reads draw from another bucket


def test_user_text_is_escaped_in_every_page(client, funded):
    entry = funded().sign(SCRIPT, behaviour=f"say {SCRIPT}", wish={"tags": [SCRIPT]})
    assert post(client, entry).status_code == 201
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for path in (f"/wishes/{entry.id}", "/wishes", f"/wishes?q={SCRIPT}"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert SCRIPT not in page.text, path
        assert escaped in page.text, path


def test_pages_carry_a_strict_content_security_policy(client):
    for path in ("/", "/wishes", "/wishes/" + "0" * 64):
        page = client.get(path)
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        # Every script element loads a file; none carries code.
        assert page.text.count("<script") == page.text.count('<script src="/static/')


def test_unknown_entries_and_bad_parameters(client):
    missing = client.get(f"{API}/wishes/{'ab' * 32}")
    assert missing.status_code == 404 and "no wish" in missing.json()["error"]
    page = client.get("/wishes/not-an-id")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert client.get(f"{API}/proof/inclusion", params={"index": 5}).status_code == 400
    bad = client.get(f"{API}/wishes", params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["error"].startswith("query.limit")


def test_openapi_schema_documents_the_api(client):
    schema = client.get("/openapi.json").json()
    for path in ("wishes", "wishes/{entry_id}", "checkpoint", "proof/inclusion", "key"):
        assert f"{API}/{path}" in schema["paths"]
    body = schema["paths"][f"{API}/wishes"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/Entry")
    assert "Entry" in schema["components"]["schemas"]
    assert "/" not in schema["paths"]  # pages are not part of the API
