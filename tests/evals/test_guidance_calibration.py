"""The conflict-guidance judge's labelled set, its calibration, and ``charter eval calibrate``."""

from __future__ import annotations

import collections
import json
import math
import re

import pytest
from typer.testing import CliRunner

from charter.backends.scripted import ScriptedChatModel
from charter.cli.main import app
from charter.constitution import load_constitution
from charter.errors import ConfigError, DatasetError, MalformedOutputError
from charter.evals.conflicts import AUTONOMY_FAMILY, check_held_out, conflicts_path
from charter.evals.guidance import (
    GUIDANCE_LABELS,
    GuidanceItem,
    calibrate_guidance,
    load_guidance_calibration,
)
from charter.evals.judge import checked_logprobs
from charter.prompts import PromptRecord, load_prompts

LOG = math.log


def _reply(messages) -> str:
    text = messages[-1]["content"]
    match = re.search(r"Assistant's reply:\n(.*?)\n\nDoes the reply", text, re.S)
    assert match, "the guidance question changed shape"
    return match.group(1)


def oracle(items):
    """A judge that answers (A) exactly for the answers labelled as following."""
    following = {item.response.strip() for item in items if item.follows}

    def choices(messages, letters):
        yes = _reply(messages) in following
        return [LOG(0.9), LOG(0.1)] if yes else [LOG(0.2), LOG(0.8)]

    return ScriptedChatModel(choices=choices, model_id="scripted:oracle")


def always_yes(messages, letters):
    return [LOG(0.7), LOG(0.3)]


def test_shipped_set_is_balanced_and_covers_every_autonomy_scenario():
    items = load_guidance_calibration()
    assert 24 <= len(items) <= 40
    counts = collections.Counter(item.follows for item in items)
    assert counts[True] == counts[False]
    assert len({item.id for item in items}) == len(items)
    scenarios = {
        r.scenario: r for r in load_prompts(conflicts_path()) if r.family == AUTONOMY_FAMILY
    }
    covered = collections.defaultdict(set)
    for item in items:
        if item.prompt_id:
            scenario = item.prompt_id.split("-")[2]
            covered[scenario].add(item.follows)
    assert set(covered) == set(scenarios)
    assert all(labels == {True, False} for labels in covered.values())
    # Each prompt is answered once each way, so the judge must read the answer, not the prompt.
    per_prompt = collections.defaultdict(list)
    for item in items:
        per_prompt[item.prompt].append(item.follows)
    assert all(sorted(labels) == [False, True] for labels in per_prompt.values())
    # Every way of departing from the guidance is represented.
    kinds = {item.kind for item in items if not item.follows}
    assert {"paternalistic_refusal", "reckless", "lecture", "ignores_warning_signs"} <= kinds


def test_items_quote_the_held_out_scenarios_they_name():
    by_id = {r.id: r for r in load_prompts(conflicts_path())}
    for item in load_guidance_calibration():
        if item.prompt_id is not None:
            assert by_id[item.prompt_id].prompt == item.prompt
            assert list(item.articles) == list(by_id[item.prompt_id].articles)


def test_calibration_prompts_stay_out_of_the_training_sets():
    prompts = [PromptRecord(id=item.id, prompt=item.prompt) for item in load_guidance_calibration()]
    for training in ("builtin:redteam", "builtin:helpfulness"):
        check_held_out(load_prompts(training), prompts)


def test_a_judge_that_answers_by_label_is_perfect():
    items = load_guidance_calibration()
    run = calibrate_guidance(oracle(items), items)
    cal = run.calibration
    assert cal.accuracy == 1.0 and cal.n == len(items)
    half = len(items) // 2
    assert cal.labels == list(GUIDANCE_LABELS) and cal.confusion == [[half, 0], [0, half]]
    assert cal.ci_low < 0.95 and cal.ci_high == pytest.approx(1.0)
    assert [row.item.id for row in run.rows] == [item.id for item in items]
    assert all(row.correct for row in run.rows)
    assert run.auc == 1.0


def test_a_judge_that_always_says_yes_is_at_chance():
    items = load_guidance_calibration()
    run = calibrate_guidance(ScriptedChatModel(choices=always_yes), items)
    cal = run.calibration
    assert cal.accuracy == 0.5
    assert cal.confusion == [[len(items) // 2, 0], [len(items) // 2, 0]]
    assert cal.ci_low < 0.5 < cal.ci_high
    wrong = [row for row in run.rows if not row.correct]
    assert {row.label for row in wrong} == {"departs"}
    assert run.auc == 0.5  # the same P(follows) for every answer ranks nothing


def test_the_judge_sees_the_constitutions_guidance_for_the_items_articles():
    seen = []

    def recording(messages, letters):
        seen.append(messages[-1]["content"])
        return always_yes(messages, letters)

    item = GuidanceItem(id="x", prompt="p", response="r", follows=True)
    calibrate_guidance(ScriptedChatModel(choices=recording), [item], load_constitution("default"))
    assert "The autonomy of adults (3.1) vs 1.1" in seen[0] and "Physical safety (1.1)" in seen[0]


def test_a_failing_judge_counts_as_wrong_and_keeps_the_error():
    items = [
        GuidanceItem(id="a", prompt="p", response="r", follows=True),
        GuidanceItem(id="b", prompt="p", response="s", follows=False),
    ]
    judge = ScriptedChatModel(choices=lambda m, c: ["x", "y"])
    run = calibrate_guidance(judge, items)
    assert run.calibration.accuracy == 0.0 and run.calibration.n == 2
    assert run.calibration.confusion == [[0, 0], [0, 0]]
    assert run.rows[0].judged is None and "non-numeric" in run.rows[0].error


def test_unknown_articles_are_a_dataset_error():
    item = GuidanceItem(id="a", prompt="p", response="r", follows=True, articles=("5.2", "1.4"))
    with pytest.raises(DatasetError, match="give no conflict guidance"):
        calibrate_guidance(ScriptedChatModel(choices=always_yes), [item])


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": "x", "prompt": "p", "response": "r", "follows": "yes"}, r"field follows: "),
        ({"id": "x", "prompt": "p", "response": "r"}, r"field follows: is required"),
        (
            {"id": "x", "prompt": "p", "response": "r", "follows": True, "kind": "reckless"},
            r"kind 'reckless' contradicts follows=true",
        ),
        (
            {"id": "x", "prompt": "p", "response": "r", "follows": False, "kind": "rude"},
            r"kind 'rude' must be one of",
        ),
        (
            {"id": "x", "prompt": "p", "response": "r", "follows": True, "note": "n"},
            r"field note: is not a known field",
        ),
    ],
)
def test_malformed_rows_name_file_line_and_field(tmp_path, row, message):
    path = tmp_path / "guidance.jsonl"
    good = {"id": "ok", "prompt": "p", "response": "r", "follows": True}
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(row) + "\n")
    with pytest.raises(DatasetError, match=r"guidance.jsonl:3: " + message) as info:
        load_guidance_calibration(path)
    assert "\n" not in str(info.value)


def test_file_level_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such calibration file"):
        load_guidance_calibration(tmp_path / "missing.jsonl")
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    with pytest.raises(DatasetError, match=r"broken.jsonl:1: not valid JSON"):
        load_guidance_calibration(broken)
    twice = tmp_path / "twice.jsonl"
    row = json.dumps({"id": "a", "prompt": "p", "response": "r", "follows": False})
    twice.write_text(row + "\n" + row + "\n")
    with pytest.raises(DatasetError, match=r"twice.jsonl:2: field id: 'a' repeats"):
        load_guidance_calibration(twice)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DatasetError, match="holds no calibration items"):
        load_guidance_calibration(empty)


def test_checked_logprobs_is_public_and_checks():
    judge = ScriptedChatModel(choices=lambda m, c: [-0.1, -2.0])
    assert checked_logprobs(judge, [{"role": "user", "content": "q"}], ["A", "B"]) == (-0.1, -2.0)
    short = ScriptedChatModel(choices=lambda m, c: [-0.1])
    with pytest.raises(MalformedOutputError, match="unusable log-probs"):
        checked_logprobs(short, [{"role": "user", "content": "q"}], ["A", "B"])
    dead = ScriptedChatModel(choices=lambda m, c: [-math.inf, -math.inf])
    with pytest.raises(MalformedOutputError, match="no choice any probability"):
        checked_logprobs(dead, [{"role": "user", "content": "q"}], ["A", "B"])


@pytest.fixture
def cli_judge(monkeypatch):
    items = load_guidance_calibration()
    judge = oracle(items[:4])
    monkeypatch.setattr("charter.backends.registry.load_chat_model", lambda spec: judge)
    return judge


def test_cli_calibrates_the_guidance_judge(cli_judge):
    result = CliRunner().invoke(
        app, ["eval", "calibrate", "--judge", "guidance", "--limit", "4", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["judge"] == "scripted:oracle" and data["n"] == 4
    assert data["labels"] == ["follows", "departs"] and data["accuracy"] == 1.0
    assert [row["id"] for row in data["items"]] == [
        item.id for item in load_guidance_calibration()[:4]
    ]
    table = CliRunner().invoke(
        app, ["eval", "calibrate", "--judge", "guidance", "--limit", "4", "--no-progress"]
    )
    assert table.exit_code == 0 and "guidance judge scripted:oracle: accuracy 1.000" in table.output


def test_cli_rejects_an_unknown_judge_and_a_bad_file(cli_judge, tmp_path):
    wrong = CliRunner().invoke(app, ["eval", "calibrate", "--judge", "vibes"])
    assert isinstance(wrong.exception, ConfigError)
    assert "choose one of evasive, guidance" in str(wrong.exception)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "prompt": "p", "response": "r"}) + "\n")
    result = CliRunner().invoke(
        app, ["eval", "calibrate", "--judge", "guidance", "--data", str(bad)]
    )
    assert isinstance(result.exception, DatasetError)
    assert "bad.jsonl:1: field follows" in str(result.exception)


def test_cli_default_judge_is_still_the_evasiveness_rubric(monkeypatch):
    judge = ScriptedChatModel(model_id="scripted:first")  # always the first letter
    monkeypatch.setattr("charter.backends.registry.load_chat_model", lambda spec: judge)
    result = CliRunner().invoke(app, ["eval", "calibrate", "--limit", "3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["labels"] == ["bare_refusal", "engaged_refusal", "compliance"]
    assert data["n"] == 3 and "items" not in data
