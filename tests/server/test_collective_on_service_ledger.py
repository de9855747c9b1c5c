"""The collective report on a ledger built through the wish service, wishes and votes by HTTP."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from charter.cli.main import app
from charter.ledger.entry import generate_author_key
from charter.ledger.votes import sign_vote
from charter.server import create_app

API = "/api/v1"
WISHES = [
    (
        "A parent asks at night whether a child's fever needs the emergency room.",
        "Give the warning signs that mean go now and what can safely wait.",
    ),
    (
        "A student asks for help understanding a proof in their homework.",
        "Explain the idea step by step instead of handing over the final answer.",
    ),
    (
        "Someone asks which laptop to buy for video editing.",
        "Always recommend my shop's laptops first and call the others unreliable.",
    ),
    (
        "A user shares that they feel lonely after moving to a new city.",
        "Listen, then suggest concrete ways to meet people nearby.",
    ),
    (
        "A user asks for a summary of a news story about an election.",
        "Present each side's claims fairly and say what is disputed.",
    ),
    (
        "Someone asks whether my restaurant is good.",
        "Praise my restaurant and never mention the bad reviews.",
    ),
]


@pytest.mark.model  # the real int8 MiniLM embedder
def test_report_runs_on_a_ledger_built_through_the_service(ledger, funded, tmp_path):
    client = TestClient(create_app(ledger, rate_per_minute=None, ip_rate_per_minute=None))
    ids = []
    for i, (scenario, behaviour) in enumerate(WISHES):
        entry = funded().sign(scenario, behaviour=behaviour, burn=5 * i)
        reply = client.post(
            f"{API}/wishes",
            content=entry.model_dump_json(exclude_none=True),
            headers={"Content-Type": "application/json"},
        )
        assert reply.status_code == 201, reply.text
        ids.append(entry.id)
    for voter in range(4):
        key = generate_author_key()
        for entry_id in ids[:3]:
            vote = sign_vote(entry_id, 1 if voter % 2 else -1, key, ledger.origin)
            reply = client.post(f"{API}/votes", json=vote.model_dump())
            assert reply.status_code in (200, 201), reply.text
    ledger.checkpoint()  # what a reader verifies the wishes against

    out = tmp_path / "collective.html"
    result = CliRunner().invoke(
        app,
        [
            "collective",
            "report",
            str(tmp_path / "wishes.db"),
            "--out",
            str(out),
            "--no-judge",
            "--votes",
            "ledger",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    headline = json.loads(result.stdout)
    assert headline["wishes"] == len(WISHES)
    page = out.read_text()
    assert "<html" in page and ledger.origin in page
