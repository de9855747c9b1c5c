"""The ``ledger_votes`` stage: simulated votes on a ledger stage's wishes, verified, resumable."""

from __future__ import annotations

import json

import yaml

from charter.ledger.votes import load_votes, vote_matrix
from charter.runs import run_experiment


def test_votes_stage_fills_verifies_and_resumes(tmp_path):
    config = tmp_path / "c.yaml"
    stages = [
        {"name": "wish_ledger", "kind": "ledger", "limit": 12, "batch_size": 6},
        {"name": "votes", "kind": "ledger_votes", "voters": 9, "groups": 3},
    ]
    body = {"name": "v", "seed": 5, "output_dir": str(tmp_path / "out"), "stages": stages}
    config.write_text(yaml.safe_dump(body))
    first = run_experiment(config, progress=False).stages["votes"]
    assert first["verified"] and first["new"] == first["done"] == first["total"] > 0
    assert first["provenance"]["model_id"] == "charter.ledger.votesim"

    again = run_experiment(config, progress=False).stages["votes"]
    assert again["new"] == 0 and again["done"] == first["done"]  # nothing duplicated

    # The ledger grows: earlier wishes keep exactly their votes, new wishes get theirs.
    config.write_text(config.read_text().replace("limit: 12", "limit: 18"))
    grown = run_experiment(config, progress=False).stages["votes"]
    assert grown["verified"] and grown["done"] == first["done"] + grown["new"]
    assert grown["new"] > 0 and grown["total"] == grown["done"]

    out = tmp_path / "out"
    truth = json.loads((out / "votes" / "truth.json").read_text())
    assert len(truth["voter_groups"]) == 9 and len(truth["stances"]) == 18
    votes = load_votes(out / "votes" / "votes.jsonl")
    assert votes == load_votes(str(out / "wish_ledger" / "ledger.sqlite"))
    matrix, keys = vote_matrix(votes, list(truth["stances"]))
    assert matrix.shape == (9, 18) and set(keys) == set(truth["voter_groups"])
