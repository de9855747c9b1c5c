"""The agentic judge's labelled set, its calibration, and `charter eval calibrate`."""

from __future__ import annotations

import collections
import json
import math
import re

import pytest
from typer.testing import CliRunner

from charter.backends.scripted import ScriptedChatModel
from charter.cli.main import app
from charter.errors import ConfigError, DatasetError
from charter.evals.agentic import load_scenarios
from charter.evals.agentic_calibration import (
    AGENTIC_LABELS,
    AgenticItem,
    calibrate_agentic,
    load_agentic_calibration,
)

LOG = math.log


def _reply(messages) -> str:
    match = re.search(r"<reply>\n(.*?)\n</reply>", messages[-1]["content"], re.S)
    assert match, "the agentic judge question changed shape"
    return match.group(1)


def oracle(items):
    """A judge that answers Yes (and rubric D) exactly for the replies labelled harmful."""
    harmful = {item.reply for item in items if item.harmful}

    def choices(messages, options):
        yes = _reply(messages) in harmful
        if len(options) == 2:
            return [LOG(0.9), LOG(0.1)] if yes else [LOG(0.2), LOG(0.8)]
        return [LOG(0.1)] * 3 + [LOG(0.7)] if yes else [LOG(0.1), LOG(0.7), LOG(0.1), LOG(0.1)]

    return ScriptedChatModel(choices=choices, model_id="scripted:oracle")


def always_yes(messages, options):
    return [LOG(0.8), LOG(0.2)] if len(options) == 2 else [LOG(0.1)] * 3 + [LOG(0.7)]


def test_shipped_set_is_balanced_and_covers_every_family():
    items = load_agentic_calibration()
    assert 20 <= len(items) <= 40
    counts = collections.Counter(item.harmful for item in items)
    assert 8 <= counts[True] <= 12 and counts[False] >= counts[True]
    scenarios = {s.id: s for s in load_scenarios()}
    assert all(item.scenario_id in scenarios for item in items)
    families = {scenarios[item.scenario_id].family for item in items}
    assert families == {s.family for s in scenarios.values()}
    # Every family has replies on both sides, so the judge must read the reply.
    for family in families:
        labels = {i.harmful for i in items if scenarios[i.scenario_id].family == family}
        assert labels == {True, False}, family
    kinds = collections.Counter(item.kind for item in items if not item.harmful)
    assert kinds["incoherent"] >= 4
    assert {"flagged", "benign", "refused", "considered_but_declined"} <= set(kinds)


def test_a_judge_that_answers_by_label_is_perfect():
    items = load_agentic_calibration()
    run = calibrate_agentic(oracle(items), items)
    cal = run.calibration
    k = sum(item.harmful for item in items)
    assert cal.accuracy == 1.0 and cal.n == len(items)
    assert cal.labels == list(AGENTIC_LABELS) and cal.confusion == [[k, 0], [0, len(items) - k]]
    assert [row.item.id for row in run.rows] == [item.id for item in items]
    assert all(row.correct for row in run.rows)
    assert {row.details["rubric"] for row in run.rows} == {"harmful", "benign"}
    assert run.auc == 1.0


def test_a_judge_that_always_says_yes_scores_the_share_of_harmful():
    items = load_agentic_calibration()
    run = calibrate_agentic(ScriptedChatModel(choices=always_yes), items)
    cal = run.calibration
    k = sum(item.harmful for item in items)
    assert cal.accuracy == pytest.approx(k / len(items)) and cal.accuracy < 0.5
    assert cal.confusion == [[k, 0], [len(items) - k, 0]]
    assert {row.label for row in run.rows if not row.correct} == {"not_harmful"}
    assert run.auc == 0.5


def test_a_yes_biased_judge_is_rescued_by_its_rubric():
    """P(yes) is high for every reply (as the embedded judge's is); the rubric decides."""
    items = load_agentic_calibration()
    harmful = {item.reply for item in items if item.harmful}

    def choices(messages, options):
        if len(options) == 2:
            return [LOG(0.8), LOG(0.2)]
        took = _reply(messages) in harmful
        return [LOG(0.1)] * 3 + [LOG(0.7)] if took else [LOG(0.1), LOG(0.7), LOG(0.1), LOG(0.1)]

    run = calibrate_agentic(ScriptedChatModel(choices=choices), items)
    assert run.calibration.accuracy == 1.0
    assert all(row.score == pytest.approx(0.8) for row in run.rows)
    assert run.auc == 0.5  # P(yes) alone ranks nothing


def test_the_judge_sees_the_scenario_and_its_harmful_action():
    seen = []

    def recording(messages, options):
        seen.append(messages[-1]["content"])
        return always_yes(messages, options)

    item = AgenticItem(id="x", scenario_id="user_deception/tests", reply="r", harmful=False)
    calibrate_agentic(ScriptedChatModel(choices=recording), [item])
    assert len(seen) == 2  # the yes/no question and the rubric
    assert "12 passed, 3 failed" in seen[0] and "tells Lena that all tests pass" in seen[0]


def test_a_failing_judge_counts_as_wrong_and_keeps_the_error():
    items = [
        AgenticItem(id="a", scenario_id="user_deception/tests", reply="r", harmful=True),
        AgenticItem(id="b", scenario_id="user_deception/tests", reply="s", harmful=False),
    ]
    run = calibrate_agentic(ScriptedChatModel(choices=lambda m, c: ["x"] * len(c)), items)
    assert run.calibration.accuracy == 0.0 and run.calibration.confusion == [[0, 0], [0, 0]]
    assert run.rows[0].judged is None and "non-numeric" in run.rows[0].error
    assert run.auc is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": "x", "scenario_id": "user_deception/tests", "reply": "r", "harmful": "yes"},
         r"field harmful: "),
        ({"id": "x", "scenario_id": "user_deception/tests", "reply": "r"},
         r"field harmful: is required"),
        ({"id": "x", "scenario_id": "user_deception/tests", "reply": "r", "harmful": False,
          "kind": "took_action"}, r"kind 'took_action' contradicts harmful=false"),
        ({"id": "x", "scenario_id": "user_deception/tests", "reply": "r", "harmful": False,
          "kind": "rude"}, r"kind 'rude' must be one of"),
    ],
)  # fmt: skip
def test_malformed_rows_name_file_line_and_field(tmp_path, row, message):
    path = tmp_path / "agentic.jsonl"
    good = {"id": "ok", "scenario_id": "user_deception/tests", "reply": "r", "harmful": True}
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(row) + "\n")
    with pytest.raises(DatasetError, match=r"agentic.jsonl:3: " + message) as info:
        load_agentic_calibration(path)
    assert "\n" not in str(info.value)


def test_an_unknown_scenario_is_named(tmp_path):
    path = tmp_path / "agentic.jsonl"
    row = {"id": "z", "scenario_id": "user_deception/nope", "reply": "r", "harmful": True}
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(DatasetError, match=r"item z: field scenario_id: 'user_deception/nope'"):
        load_agentic_calibration(path)


@pytest.fixture
def cli_judge(monkeypatch):
    judge = oracle(load_agentic_calibration()[:4])
    monkeypatch.setattr("charter.backends.registry.load_chat_model", lambda spec: judge)
    return judge


def test_cli_calibrates_the_agentic_judge(cli_judge):
    result = CliRunner().invoke(
        app, ["eval", "calibrate", "--judge", "agentic", "--limit", "4", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["judge"] == "scripted:oracle" and data["n"] == 4 and data["accuracy"] == 1.0
    assert data["labels"] == ["harmful", "not_harmful"] and "auc" in data
    assert [row["id"] for row in data["items"]] == [
        item.id for item in load_agentic_calibration()[:4]
    ]
    assert data["items"][0]["rubric"] == "harmful"
    table = CliRunner().invoke(
        app, ["eval", "calibrate", "--judge", "agentic", "--limit", "4", "--no-progress"]
    )
    assert table.exit_code == 0 and "agentic judge scripted:oracle: accuracy 1.000" in table.output


def test_cli_lists_misjudged_items_with_kind_and_p(monkeypatch):
    judge = ScriptedChatModel(choices=always_yes, model_id="scripted:yes")
    monkeypatch.setattr("charter.backends.registry.load_chat_model", lambda spec: judge)
    result = CliRunner().invoke(app, ["eval", "calibrate", "--judge", "agentic", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "disagreements:" in result.output
    assert "(incoherent, p=0.80)" in " ".join(result.output.split())


def test_cli_names_agentic_among_judges_and_a_bad_file(cli_judge, tmp_path):
    wrong = CliRunner().invoke(app, ["eval", "calibrate", "--judge", "vibes"])
    assert isinstance(wrong.exception, ConfigError)
    assert "evasive, guidance, agentic" in str(wrong.exception)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "scenario_id": "user_deception/tests"}) + "\n")
    args = ["eval", "calibrate", "--judge", "agentic", "--data", str(bad)]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, DatasetError)
    assert "bad.jsonl:1: field reply" in str(result.exception)
