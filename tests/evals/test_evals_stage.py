"""The eval stage on scripted models: every suite, provenance, resume, config errors, CLI."""

from __future__ import annotations

import json
import math
import re

import pytest
import yaml
from typer.testing import CliRunner

from charter.backends.scripted import ScriptedChatModel
from charter.errors import ConfigError
from charter.evals.refusal import over_refusal_path
from charter.evals.results import read_report
from charter.prompts import load_prompts
from charter.runs import run_experiment
from charter.runs.config import load_config
from charter.runs.store import read_jsonl

LOG = math.log
BARE = "I can't help with that."
HARMFUL = {
    p.prompt
    for p in [*load_prompts("builtin:redteam"), *load_prompts(over_refusal_path())]
    if p.kind in ("harmful", "unsafe")
}


def careful(messages, params):
    """The better model: explains refusals of risky-sounding prompts, answers the rest."""
    if messages[-1]["content"] in HARMFUL:
        return "I won't help with that because it could hurt someone; here is a safer option."
    return "Here is a clear answer with the steps you need."


def blunt(messages, params):
    return BARE


def _between(text: str, start: str, end: str) -> str:
    match = re.search(re.escape(start) + r"(.*?)" + re.escape(end), text, re.S)
    return match.group(1) if match else ""


def judge_choices(messages, choices):
    """A judge that prefers explanations (harmlessness) and answers (helpfulness)."""
    q = messages[-1]["content"]
    if len(choices) > 3:  # the agentic rubric: no preference
        return [LOG(1 / len(choices))] * len(choices)
    if len(choices) == 3:  # the evasiveness rubric
        reply = _between(q, "Assistant's reply:\n", "\n\nLetter:")
        if reply.startswith("I can't"):
            probs = (0.8, 0.1, 0.1)
        elif "because" in reply:
            probs = (0.1, 0.8, 0.1)
        else:
            probs = (0.1, 0.1, 0.8)
        return [LOG(p) for p in probs]
    if "Does the reply follow the guidance" in q:
        reply = _between(q, "Assistant's reply:\n", "\n\nDoes the reply")
        return [LOG(0.9), LOG(0.1)] if "Here is" in reply else [LOG(0.2), LOG(0.8)]
    a = _between(q, "(A) ", "\n\n(B) ")
    cue = "because" if "more harmless" in messages[0]["content"] else "Here is"
    b = _between(q, "(B) ", "\n\nBetter reply:")
    if (cue in a) == (cue in b):
        return [LOG(0.5), LOG(0.5)]
    return [LOG(0.85), LOG(0.15)] if cue in a else [LOG(0.15), LOG(0.85)]


@pytest.fixture
def served(monkeypatch):
    models = {
        "base": ScriptedChatModel(blunt, model_id="scripted:base"),
        "tuned": ScriptedChatModel(careful, model_id="scripted:tuned"),
        "judge": ScriptedChatModel(choices=judge_choices, model_id="scripted:judge"),
    }
    monkeypatch.setattr("charter.runs.context.load_chat_model", lambda spec: models[spec.model])
    return models


def write_config(tmp_path, **stage) -> str:
    config = {
        "name": "evals",
        "seed": 5,
        "output_dir": str(tmp_path / "out"),
        "models": {
            "base": {"backend": "scripted", "model": "base"},
            "tuned": {"backend": "scripted", "model": "tuned"},
            "feedback": {"backend": "scripted", "model": "judge"},
        },
        "stages": [
            {
                "name": "eval",
                "kind": "eval",
                "models": ["base", "tuned"],
                "judge": "feedback",
                "limits": {"pairwise": 4, "evasive": 4, "refusal": 3, "conflicts": 2},
                "bootstrap": 30,
                **stage,
            }
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def rows(tmp_path, name):
    path = tmp_path / "out" / "eval" / name
    return list(read_jsonl(path)) if path.exists() else []


def test_every_suite_runs_and_separates_the_models(tmp_path, served):
    summary = run_experiment(write_config(tmp_path), progress=False)
    counts = summary.stages["eval"]
    assert counts["failed"] == 0 and counts["new"] == counts["total"] == counts["done"]
    report = read_report(tmp_path / "out" / "eval")
    names = [r.name for r in report.results]
    assert names == [
        "harmlessness_elo",
        "helpfulness_elo",
        "evasiveness",
        "false_refusal",
        "harmful_compliance",
        "paraphrase_consistency",
        "autonomy_guidance",
    ]
    harmless = report.result("harmlessness_elo").per_model
    assert harmless["base"].value == 0.0 and harmless["tuned"].value > 100
    assert report.result("helpfulness_elo").per_model["tuned"].value > 100
    evasive = report.result("evasiveness").per_model
    assert evasive["base"].value == 1.0 and evasive["tuned"].value == 0.0
    assert evasive["base"].counts["bare_refusal"] == 4
    refusal = report.result("false_refusal").per_model
    assert refusal["base"].value == 1.0 and refusal["base"].n == 3
    assert report.result("harmful_compliance").per_model["base"].value == 0.0
    assert report.result("paraphrase_consistency").per_model["base"].value == 1.0
    autonomy = report.result("autonomy_guidance")
    assert autonomy.per_model["tuned"].value == 1.0 and autonomy.per_model["base"].value == 0.0
    assert autonomy.details["articles"] == ["3.1", "1.1"]
    assert [p.model for p in report.frontier] == ["base", "tuned"]
    assert report.models == {"base": "scripted:base", "tuned": "scripted:tuned"}
    folder = tmp_path / "out" / "eval"
    assert (folder / "frontier.png").stat().st_size > 1000
    assert (folder / "frontier.svg").read_text().lstrip().startswith("<?xml")
    assert (folder / "evasiveness.json").exists()
    assert all(r.examples for r in report.results)


def test_every_row_has_provenance_and_unique_keys(tmp_path, served):
    run_experiment(write_config(tmp_path), progress=False)
    config, _ = load_config(tmp_path / "config.yaml")
    for name in ("responses.jsonl", "judgements.jsonl"):
        found = rows(tmp_path, name)
        assert found and len({r["key"] for r in found}) == len(found)
        for row in found:
            assert row["provenance"]["config_hash"] == config.config_hash()
            assert len(row["provenance"]["constitution_hash"]) == 64
    answers = rows(tmp_path, "responses.jsonl")
    # One answer per model per prompt: 4 harmful + 4 helpful + 6 refusal + 6 conflict prompts.
    assert len(answers) == 2 * (4 + 4 + 6 + 6)
    seeds = {r["provenance"]["seed"] for r in answers}
    assert len(seeds) == len(answers)  # seeds derive per row


def test_rerun_resumes_and_a_raised_limit_only_adds(tmp_path, served):
    path = write_config(tmp_path)
    first = run_experiment(path, progress=False).stages["eval"]
    again = run_experiment(path, progress=False).stages["eval"]
    assert again["new"] == 0 and again["done"] == first["done"]
    bigger = write_config(
        tmp_path, limits={"pairwise": 5, "evasive": 4, "refusal": 3, "conflicts": 2}
    )
    more = run_experiment(bigger, progress=False).stages["eval"]
    # One more harmful and helpful prompt: one pair each, plus one classification per model.
    assert more["new"] == 2 + 0 and more["done"] == first["done"] + 2


def test_interrupted_judging_resumes_without_loss_or_duplicates(tmp_path, served):
    calls = {"n": 0}

    def dies_after_five(messages, choices):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return judge_choices(messages, choices)

    served["judge"] = ScriptedChatModel(choices=dies_after_five, model_id="scripted:judge")
    path = write_config(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(path, progress=False)
    partial = rows(tmp_path, "judgements.jsonl")
    assert 0 < len(partial) < 10
    served["judge"] = ScriptedChatModel(choices=judge_choices, model_id="scripted:judge")
    counts = run_experiment(path, progress=False).stages["eval"]
    final = rows(tmp_path, "judgements.jsonl")
    assert len({r["key"] for r in final}) == len(final) == counts["total"]
    assert counts["new"] == counts["total"] - len(partial)


def test_judge_failures_are_rows_and_retried(tmp_path, served):
    def broken(messages, choices):
        return ["x", "y"] if len(choices) == 2 else judge_choices(messages, choices)

    served["judge"] = ScriptedChatModel(choices=broken, model_id="scripted:judge")
    path = write_config(tmp_path, suites=["pairwise"])
    counts = run_experiment(path, progress=False).stages["eval"]
    assert counts["failed"] > 0
    error = rows(tmp_path, "errors.jsonl")[0]
    assert error["step"] == "judge" and error["raw"] == "['x', 'y']"
    served["judge"] = ScriptedChatModel(choices=judge_choices, model_id="scripted:judge")
    assert run_experiment(path, progress=False).stages["eval"]["failed"] == 0


def test_identical_answers_tie_without_asking_the_judge(tmp_path, served):
    served["tuned"] = ScriptedChatModel(blunt, model_id="scripted:tuned")
    run_experiment(write_config(tmp_path, suites=["pairwise"]), progress=False)
    assert not served["judge"].calls
    pairs = rows(tmp_path, "judgements.jsonl")
    assert pairs and all(r["p_first"] == 0.5 for r in pairs)


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ({"models": ["base", "base"]}, "lists base twice"),
        ({"models": ["base", "ghost"]}, "uses model 'ghost', which is not under models"),
        ({"suites": ["pairwise", "vibes"]}, "suites"),
        ({"limits": {"pairwise": 0}}, "limits.pairwise"),
    ],
)
def test_config_errors_name_the_field(tmp_path, stage, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(tmp_path, **stage))


def test_cli_run_and_show(tmp_path, served):
    from charter.cli.main import app

    path = write_config(tmp_path, suites=["evasive"])
    result = CliRunner().invoke(app, ["eval", "run", path, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "evasiveness" in result.output and "tuned" in result.output
    shown = CliRunner().invoke(app, ["eval", "show", str(tmp_path / "out" / "eval"), "--json"])
    assert json.loads(shown.output)["results"][0]["name"] == "evasiveness"
    wrong = CliRunner().invoke(app, ["eval", "run", path, "--stage", "nope"])
    assert wrong.exit_code != 0 and "not an eval stage" in str(wrong.exception)


def test_stage_can_judge_calibration_items_for_the_report(tmp_path, served):
    run_experiment(write_config(tmp_path, suites=["evasive"], calibration=6), progress=False)
    report = read_report(tmp_path / "out" / "eval")
    cal = report.calibration
    assert cal is not None and cal.n == 6 and cal.judge == "scripted:judge"
    # Two items per class; the scripted judge spots bare refusals and "because".
    assert [sum(row) for row in cal.confusion] == [2, 2, 2]
    assert 0.0 <= cal.ci_low <= cal.accuracy <= cal.ci_high <= 1.0
    keys = [r["key"] for r in rows(tmp_path, "judgements.jsonl")]
    assert sum(k.startswith("calibration:") for k in keys) == 6


def test_agentic_suite_runs_in_the_stage_with_provenance(tmp_path, served):
    path = write_config(
        tmp_path,
        suites=["agentic"],
        limits={"pairwise": 4, "evasive": 4, "refusal": 3, "conflicts": 2, "agentic": 2},
    )
    run_experiment(path, progress=False)
    folder = tmp_path / "out" / "eval"
    replies = list(read_jsonl(folder / "agentic.jsonl"))
    assert {r["model"] for r in replies} == {"base", "tuned"}
    assert len({r["item"] for r in replies}) == 2
    assert all(r["provenance"]["config_hash"] for r in replies)
    summary = json.loads((folder / "agentic_summary.json").read_text())
    assert summary["suites"]["charter_agentic"]["baseline"] == "base"
