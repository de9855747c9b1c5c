"""The shipped eval data: over-refusal pairs, held-out conflict scenarios, rates."""

from __future__ import annotations

import collections
import json

import pytest

from charter.constitution import load_constitution
from charter.errors import DatasetError
from charter.evals.conflicts import (
    conflict_guidance,
    consistency_result,
    load_scenarios,
    pairwise_agreement,
)
from charter.evals.evasive import evasiveness_result
from charter.evals.refusal import load_pairs, refusal_results
from charter.feedback.gold import gold_path
from charter.prompts import (
    PromptRecord,
    check_held_out,
    conflicts_path,
    load_prompts,
    over_refusal_path,
)


def test_over_refusal_set_pairs_safe_with_unsafe():
    rows = load_prompts(over_refusal_path())
    safe = [r for r in rows if r.kind == "safe"]
    unsafe = [r for r in rows if r.kind == "unsafe"]
    assert len(safe) >= 80 and len(unsafe) >= 80
    by_id = {r.id: r for r in rows}
    for record in safe:
        partner = by_id[record.pair]
        assert partner.kind == "unsafe" and partner.pair == record.id
        assert partner.category == record.category
    categories = {r.category for r in safe}
    assert {"homonym", "antidote", "fiction", "history", "risky_hobby"} <= categories
    # Written for this project: no prompt repeats the red-team set.
    redteam = {p.prompt for p in load_prompts("builtin:redteam")}
    assert not redteam & {r.prompt for r in rows}


def test_load_pairs_spreads_over_categories():
    pairs = load_pairs(limit=5)
    assert len(pairs) == 10 and [p.kind for p in pairs[:2]] == ["safe", "unsafe"]
    assert len({p.category for p in pairs}) == 5


def test_refusal_rates_and_wilson_intervals():
    prompts = [
        PromptRecord(id=f"s{k}", prompt="p", kind="safe", category="c") for k in range(4)
    ] + [PromptRecord(id=f"u{k}", prompt="p", kind="unsafe", category="c") for k in range(4)]
    refused = {
        "m": {
            "s0": True,
            "s1": False,
            "s2": False,
            "s3": False,
            "u0": True,
            "u1": True,
            "u2": False,
            "u3": True,
        }
    }
    false_refusal, compliance = refusal_results(refused, prompts)
    assert false_refusal.per_model["m"].value == 0.25 and compliance.per_model["m"].value == 0.25
    assert false_refusal.per_model["m"].n == 4 and 0 < false_refusal.per_model["m"].ci_low < 0.25


def test_evasiveness_is_the_bare_share_of_refusals():
    result = evasiveness_result(
        {"m": ["bare_refusal", "engaged_refusal", "compliance", "bare_refusal"]}
    )
    score = result.per_model["m"]
    assert score.value == pytest.approx(2 / 3) and score.n == 3
    assert result.details["class_shares"]["m"]["compliance"] == 0.25


def test_conflict_scenarios_are_held_out_and_paraphrased():
    rows = load_scenarios()  # checks disjointness from the training sets itself
    assert all(r.held_out for r in rows)
    per_scenario = collections.Counter((r.family, r.scenario) for r in rows)
    assert min(per_scenario.values()) >= 3 and len({f for f, _ in per_scenario}) >= 5
    limited = load_scenarios(limit=2)
    assert len({r.family for r in limited}) == 2


def test_check_held_out_refuses_an_overlapping_training_set():
    scenario = load_prompts(conflicts_path())[0]
    leaked = PromptRecord(id="train-1", prompt=scenario.prompt.upper() + "!")
    with pytest.raises(DatasetError, match="overlaps held-out eval prompt"):
        check_held_out([leaked])
    check_held_out([PromptRecord(id="train-2", prompt="An unrelated prompt.")])


def test_every_gold_set_prompt_is_held_out_too():
    row = json.loads(gold_path("guidance").read_text().splitlines()[0])
    with pytest.raises(DatasetError, match="overlaps held-out eval prompt 'guidance:"):
        check_held_out([PromptRecord(id="train-3", prompt=row["prompt"])])
    row = json.loads(gold_path("evasiveness").read_text().splitlines()[0])
    with pytest.raises(DatasetError, match="overlaps held-out eval prompt 'evasiveness:"):
        check_held_out([PromptRecord(id="train-4", prompt=row["prompt"] + "  ")])


def test_paraphrase_consistency():
    assert pairwise_agreement(["a", "a", "b"]) == pytest.approx(1 / 3)
    prompts = [PromptRecord(id=f"x{k}", prompt="p", family="f", scenario="s") for k in range(3)]
    result = consistency_result({"m": {"x0": "a", "x1": "a", "x2": "a"}}, prompts, bootstrap=10)
    assert result.per_model["m"].value == 1.0 and result.per_model["m"].n == 1


def test_autonomy_guidance_comes_from_the_constitution():
    text = conflict_guidance(load_constitution("default"), ["3.1", "1.1"])
    assert "(3.1) vs 1.1" in text and "(1.1) vs 3.1" in text
    with pytest.raises(DatasetError, match="give no conflict guidance"):
        conflict_guidance(load_constitution("default"), ["5.2", "1.4"])
