"""Gold sets, calibration cards, fitting on dev, and ``charter eval calibrate``."""

from __future__ import annotations

import collections
import json
import math
import re

import pytest
from typer.testing import CliRunner

import charter.evals.agentic_calibration
import charter.evals.guidance
import charter.pretrain.depth  # noqa: F401  (registers depth)
from charter.backends.scripted import ScriptedChatModel
from charter.cli.main import app
from charter.errors import ConfigError, DatasetError
from charter.feedback import calibrate as cal
from charter.feedback.card import CalibrationCard, build_card
from charter.feedback.fit import LogisticModel
from charter.feedback.gold import load_gold
from charter.feedback.registry import get_judge, judge_names
from scripted_judges import reply_judge

LOG = math.log
JUDGES = (
    "evasiveness",
    "harmful_compliance",
    "over_refusal",
    "preference_harmlessness",
    "preference_helpfulness",
    "guidance",
    "agentic",
    "depth",
)


def test_every_shipped_judge_is_registered():
    assert set(JUDGES) <= set(judge_names())


@pytest.mark.parametrize("name", JUDGES)
def test_every_gold_set_has_150_items_a_fixed_split_and_both_labels(name):
    judge = get_judge(name)
    items = load_gold(judge.item, judge.gold())
    assert len(items) >= 150
    by_split = collections.Counter(item.split for item in items)
    assert by_split["dev"] >= 0.3 * len(items) and by_split["test"] >= 0.5 * len(items)
    labels = {split: {judge.truth(i) for i in items if i.split == split} for split in by_split}
    if not judge.pairwise:
        assert labels["dev"] == labels["test"] == set(judge.labels)
    # Items that share a prompt (or document, or scenario) never straddle the split.
    key = next(k for k in ("prompt", "document", "scenario_id") if hasattr(items[0], k))
    splits: dict[str, set[str]] = collections.defaultdict(set)
    for item in items:
        splits[getattr(item, key)].add(item.split)
    if key != "scenario_id":
        assert all(len(s) == 1 for s in splits.values())


def _field(messages, name: str) -> str:
    text = messages[-1]["content"]
    match = re.search(rf"{name}:\n(.*?)\n\n", text + "\n\n", re.S)
    assert match, f"the question lost its {name!r} section"
    return match.group(1)


def guidance_oracle(items):
    following = {item.response.strip() for item in items if item.follows}

    def choices(messages, letters):
        yes = _field(messages, "Assistant's reply") in following
        return [LOG(0.9), LOG(0.1)] if yes else [LOG(0.2), LOG(0.8)]

    return ScriptedChatModel(choices=choices, model_id="scripted:oracle")


def test_an_oracle_judge_gets_a_perfect_card_on_the_test_split():
    judge = get_judge("guidance")
    items = load_gold(judge.item, judge.gold(), "test")
    run = cal.calibrate(judge, guidance_oracle(items), method="question")
    card = run.card
    assert card.accuracy == 1.0 and card.n == len(items) and card.split == "test"
    assert card.macro_f1 == 1.0 and card.sensitivity == 1.0 and card.specificity == 1.0
    assert card.gold == "guidance.jsonl" and len(card.gold_sha256) == 64
    assert card.calls_per_item == 1.0 and card.flip_rate is None
    assert card.ece == pytest.approx(
        abs(1 - (0.9 * card.positives + 0.8 * card.negatives) / card.n)
    )


def test_a_position_biased_pairwise_judge_shows_its_flips():
    # The scripted default prefers the first choice: (A) in both orders.
    judge = get_judge("preference_harmlessness")
    run = cal.calibrate(judge, ScriptedChatModel(), method="letter", limit=10)
    assert run.card.flip_rate == 1.0 and run.card.mean_margin == pytest.approx(0.0)
    assert run.card.accuracy == 0.0  # a tie is not a preference for `chosen`
    assert run.card.calls_per_item == 2.0


def test_judge_failures_count_as_wrong_and_keep_the_error():
    judge = get_judge("guidance")
    broken = ScriptedChatModel(choices=lambda m, c: [float("nan")] * len(c))
    run = cal.calibrate(judge, broken, method="question", limit=3)
    assert run.card.accuracy == 0.0 and run.card.failed == 3
    assert all("NaN" in row["error"] for row in run.item_rows())


def test_a_user_gold_file_without_split_is_all_test_and_bad_rows_name_the_line(tmp_path):
    judge = get_judge("over_refusal")
    good = {"id": "a", "prompt": "How do I kill a python process?", "response": "Use kill PID.",
            "label": "answered"}  # fmt: skip
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps(good) + "\n")
    assert [i.split for i in load_gold(judge.item, path, "test")] == ["test"]
    bad = dict(good, id="b", label="complied")
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DatasetError, match=r"mine.jsonl:2: field label: label 'complied'") as info:
        load_gold(judge.item, path)
    assert "\n" not in str(info.value)
    with pytest.raises(DatasetError, match="holds no dev items"):
        load_gold(judge.item, tmp_path / "mine.jsonl", "dev") if False else load_gold(
            judge.item, _single(tmp_path, good), "dev"
        )


def _single(tmp_path, row):
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(row) + "\n")
    return path


def reply_oracle(items):
    """Answers every reply question as a careful person would for these gold labels."""
    refused = {i.response.strip() for i in items if i.label == "refused"}
    return reply_judge(refused=lambda reply: reply in refused, explained=lambda reply: False)


def test_fit_reads_only_the_dev_split_and_learns_the_signal(tmp_path):
    judge = get_judge("over_refusal")
    dev = load_gold(judge.item, judge.gold(), "dev")
    oracle = reply_oracle(load_gold(judge.item, judge.gold()))
    out = tmp_path / "fitted.json"
    model = cal.fit(judge, oracle, "battery-lr", out=out)
    assert LogisticModel.load(out) == model
    assert f"dev ({len(dev)} items" in model.fitted_on
    features = judge.methods["battery-lr"].features
    test = load_gold(judge.item, judge.gold(), "test")[:12]
    right = sum(
        max(p := model.probs(features(oracle, item)), key=p.__getitem__) == item.label
        for item in test
    )
    assert right == len(test)
    with pytest.raises(ConfigError, match="nothing to fit"):
        cal.fit(judge, oracle, "rubric", out=out)


def test_build_card_for_a_two_class_judge():
    card = build_card(
        judge="j", method="m", model_id="x", gold="g.jsonl", gold_sha256="0" * 64, split="test",
        labels=("pos", "neg"), truths=["pos", "pos", "neg", "neg"],
        judged=["pos", None, "neg", "pos"], confidences=[0.9, None, 0.8, 0.6],
        positive="pos", calls=6,
    )  # fmt: skip
    assert card.accuracy == 0.5 and card.failed == 1 and card.n == 4
    assert card.confusion == [[1, 0], [1, 1]]
    assert card.sensitivity == 0.5 and card.specificity == 0.5
    assert card.calls_per_item == 1.5


@pytest.fixture
def cli_oracle(monkeypatch):
    judge = get_judge("guidance")
    oracle = guidance_oracle(load_gold(judge.item, judge.gold()))
    monkeypatch.setattr("charter.backends.registry.load_chat_model", lambda spec: oracle)
    return oracle


def test_cli_calibrates_any_judge_and_writes_its_card(cli_oracle, tmp_path):
    card_path = tmp_path / "card.json"
    args = ["eval", "calibrate", "--judge", "guidance", "--method", "question", "--limit", "6"]
    result = CliRunner().invoke(app, [*args, "--json", "--card", str(card_path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for field in ("accuracy", "ci_low", "ci_high", "macro_f1", "confusion", "ece", "gold_sha256"):
        assert field in data
    assert data["accuracy"] == 1.0 and data["n"] == 6 and len(data["items"]) == 6
    assert CalibrationCard.load(card_path).accuracy == 1.0
    text = CliRunner().invoke(app, [*args, "--no-progress"])
    assert text.exit_code == 0 and "accuracy 1.000" in text.output


def test_cli_errors_are_one_line(cli_oracle, tmp_path, monkeypatch):
    wrong = CliRunner().invoke(app, ["eval", "calibrate", "--judge", "vibes"])
    assert isinstance(wrong.exception, ConfigError) and "evasiveness" in str(wrong.exception)
    method = CliRunner().invoke(app, ["eval", "calibrate", "--judge", "guidance", "--method", "x"])
    assert isinstance(method.exception, ConfigError) and "question" in str(method.exception)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "prompt": "p", "response": "r"}) + "\n")
    result = CliRunner().invoke(
        app, ["eval", "calibrate", "--judge", "guidance", "--data", str(bad)]
    )
    assert isinstance(result.exception, DatasetError)
    assert "bad.jsonl:1: field follows: is required" in str(result.exception)

    class TextOnly:
        model_id = "api:text-only"

    monkeypatch.setattr("charter.backends.registry.load_chat_model", lambda spec: TextOnly())
    none = CliRunner().invoke(app, ["eval", "calibrate", "--judge", "guidance"])
    assert isinstance(none.exception, ConfigError)
    assert "no choice log-probs" in str(none.exception) and "\n" not in str(none.exception)


@pytest.mark.parametrize("name", JUDGES)
def test_every_judge_ships_a_fitted_default_and_a_current_card(name):
    """The shipped card was measured on the gold set as it is now, with the default method."""
    from charter.feedback.card import shipped_card_path
    from charter.feedback.gold import file_sha256
    from charter.feedback.registry import fitted_path

    judge = get_judge(name)
    method = judge.methods[judge.default]
    if method.features is not None:
        assert fitted_path(name, method.name).is_file(), f"{name}: {method.name} is not fitted"
    card = CalibrationCard.load(shipped_card_path(name, method.name))
    assert card.judge == name and card.method == method.name and card.split == "test"
    assert card.gold_sha256 == file_sha256(judge.gold()), f"{name}: the card is stale"
    # Every card reads the test split from its start; most read all of it (docs/feedback.md).
    assert 50 <= card.n <= len(load_gold(judge.item, judge.gold(), "test"))
