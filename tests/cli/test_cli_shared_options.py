"""The options `charter reward` and `charter train` commands share reach the library."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import charter.train
from charter.cli.main import app

RUNNER = CliRunner()


def test_reward_weights_reads_the_shared_ledger_and_transform_options():
    result = RUNNER.invoke(
        app, ["reward", "weights", "-l", "builtin:sample", "--transform", "sqrt", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["report"]
    assert set(report) == {"stake", "sqrt"}
    assert report["sqrt"]["gini"] < report["stake"]["gini"]  # sqrt flattens stake


@pytest.mark.parametrize("command", ["score", "serve"])
def test_reward_commands_offer_the_shared_options(command):
    helptext = RUNNER.invoke(app, ["reward", command, "--help"], env={"COLUMNS": "200"}).output
    for flag in ("--scorer", "--top", "--seed", "--no-verify", "--ledger", "--cap"):
        assert flag in helptext, (command, flag)


@pytest.mark.parametrize(
    ("method", "extra", "field", "value"),
    [
        ("reward", ["--min-label-prob", "0.7"], "min_label_prob", 0.7),
        ("dpo", ["--min-label-prob", "0.6", "--beta", "0.2"], "min_label_prob", 0.6),
        ("sft", ["--loss-on", "all"], "loss_on", "all"),
    ],
)
def test_train_options_reach_the_trainer(monkeypatch, tmp_path, method, extra, field, value):
    seen = {}

    def fake_train(method_, data, output, options, **kwargs):
        seen.update(method=method_, data=data, options=options, **kwargs)
        raise SystemExit(0)  # stop before any model loads

    monkeypatch.setattr(charter.train, "train", fake_train)
    args = ["train", method, "--data", "d.jsonl", "--output", str(tmp_path / "o")]
    args += ["--lr", "0.001", "--lora-r", "4", "--max-steps", "3", *extra]
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output
    options = seen["options"]
    assert seen["method"] == method and seen["data"] == "d.jsonl"
    assert getattr(options, field) == value
    assert options.learning_rate == 0.001 and options.max_steps == 3
    assert options.lora.r == 4 and options.lora.alpha == 8
