"""The eval stage on scripted models: every suite, provenance, resume, config errors, CLI."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from charter.backends.scripted import ScriptedChatModel
from charter.errors import ConfigError
from charter.evals.results import EvalResult, ModelScore, read_report
from charter.evals.suites import InspectSpec, Job, Plan, SampleInput, Suite, Verdict
from charter.prompts import load_prompts, over_refusal_path
from charter.runs import run_experiment
from charter.runs.config import load_config
from charter.runs.store import read_jsonl
from scripted_judges import reply_battery

pytestmark = pytest.mark.usefixtures("scripted_fits")

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


_BATTERY = reply_battery(
    refused=lambda reply: reply.startswith(("I can't", "I won't")),
    explained=lambda reply: "because" in reply,
    harmful=lambda reply, prompt: (
        not reply.startswith(("I can't", "I won't")) and prompt in HARMFUL
    ),
)


def judge_choices(messages, choices):
    """A judge that prefers explanations (harmlessness) and answers (helpfulness)."""
    q = messages[-1]["content"]
    if len(choices) > 3:  # the agentic rubric: no preference
        return [LOG(1 / len(choices))] * len(choices)
    if "\n\nQuestion:" in q:
        return _BATTERY(messages, choices)
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


def _card(tmp_path, judge: str, method: str, accuracy: float = 0.9):
    from charter.feedback.card import CalibrationCard

    path = tmp_path / f"{judge}.json"
    tp, tn = round(accuracy * 50), round(accuracy * 50)
    CalibrationCard(
        judge=judge, method=method, model_id="scripted:judge", gold=f"{judge}.jsonl",
        gold_sha256="0" * 64, split="test", n=100, accuracy=accuracy, ci_low=accuracy - 0.1,
        ci_high=min(1.0, accuracy + 0.05), macro_f1=accuracy, labels=["pos", "neg"],
        confusion=[[tp, 50 - tp], [50 - tn, tn]], ece=0.05, positive="pos",
        sensitivity=tp / 50, specificity=tn / 50, true_positives=tp, positives=50,
        true_negatives=tn, negatives=50,
    ).save(path)  # fmt: skip
    return str(path)


def _with_run_fields(path: str, **fields) -> str:
    config = yaml.safe_load(Path(path).read_text())
    config.update(fields)
    Path(path).write_text(yaml.safe_dump(config))
    return path


def test_the_run_carries_cards_and_corrects_rates_for_the_judges_error(tmp_path, served):
    cards = {
        "harmful_compliance": _card(tmp_path, "harmful_compliance", "battery-lr", 0.8),
        "over_refusal": _card(tmp_path, "over_refusal", "battery-lr", 0.9),
    }
    path = _with_run_fields(write_config(tmp_path, suites=["refusal"]), judge_cards=cards)
    run_experiment(path, progress=False)
    report = read_report(tmp_path / "out" / "eval")
    assert set(report.cards) == {"harmful_compliance", "over_refusal"}
    assert (tmp_path / "out" / "cards" / "over_refusal.battery-lr.json").exists()
    refusal = report.result("false_refusal")
    base = refusal.per_model["base"]
    assert base.value == 1.0  # the blunt base model refuses everything
    # A judge with specificity 0.9 flags 10% of answers wrongly, so 1.0 stays 1.0 at most,
    # and the interval carries the card's uncertainty.
    assert base.corrected == pytest.approx(1.0) and base.corrected_ci_low < 1.0
    assert "over_refusal (battery-lr" in refusal.details["corrected_by"]


def test_min_judge_accuracy_refuses_a_judge_without_a_card_or_below_the_bar(tmp_path, served):
    from charter.errors import RunError

    path = _with_run_fields(write_config(tmp_path, suites=["refusal"]), min_judge_accuracy=0.85)
    with pytest.raises(RunError, match="has no calibration card") as info:
        run_experiment(path, progress=False)
    assert "charter eval calibrate --judge evasiveness" in str(info.value)
    assert not (tmp_path / "out" / "eval").exists()  # nothing ran
    cards = {
        name: _card(tmp_path, name, "battery-lr", 0.9)
        for name in ("evasiveness", "harmful_compliance", "over_refusal")
    }
    cards["over_refusal"] = _card(tmp_path, "over_refusal", "battery-lr", 0.7)
    _with_run_fields(path, judge_cards=cards)
    with pytest.raises(RunError, match=r"over_refusal .* accuracy 0.700 .* below min_judge_acc"):
        run_experiment(path, progress=False)
    cards["over_refusal"] = _card(tmp_path, "over_refusal", "battery-lr", 0.9)
    _with_run_fields(path, judge_cards=cards)
    assert run_experiment(path, progress=False).stages["eval"]["failed"] == 0


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


class LengthSuite(Suite):
    """A suite from outside the package: is each answer longer than 25 characters?"""

    name = "length"
    inspect_task = "answer_length"
    description = "answers longer than 25 characters"
    default_limit = 2
    opt_in = True
    judges = ()

    def plan(self, spec, ctx):
        return Plan({self.name: load_prompts("builtin:helpfulness", limit=spec.limit(self.name))})

    def jobs(self, spec, ctx, plan, answers):
        return [
            Job(f"length:{m}:{p.id}", lambda judge, t=text: {"long": len(t) > 25}, {"model": m})
            for p in plan.group(self.name)
            for m in spec.models
            if (text := answers.text(m, p.id)) is not None
        ]

    def results(self, plan, judged):
        rows = [r for r in judged.rows.values() if r["key"].startswith("length:")]
        per_model = {
            m: ModelScore(model=m, value=sum(r["long"] for r in mine) / len(mine), n=len(mine))
            for m in judged.models
            if (mine := [r for r in rows if r["model"] == m])
        }
        return [
            EvalResult(name="long_answers", suite=self.name, metric="rate", per_model=per_model)
        ]

    def inspect(self, limit: int | None = None, judge: str = "scripted") -> InspectSpec:
        return InspectSpec(
            name=self.inspect_task,
            samples=[SampleInput(p.id, p.prompt) for p in load_prompts("builtin:helpfulness")][
                :limit
            ],
            scorer="length",
            score=lambda models, sample: Verdict(value=float(len(sample.reply) > 25)),
            models={"judge": judge},
            inspect_metrics=("mean",),
        )


@pytest.fixture
def length_suite(monkeypatch):
    from charter.evals import suites

    monkeypatch.setattr(suites, "_REGISTERED", {s.name: s for s in suites.all_suites()})
    return suites.register(LengthSuite())


def test_a_registered_suite_runs_in_the_stage_the_cli_and_inspect(tmp_path, served, length_suite):
    from inspect_ai import eval as inspect_eval

    from charter.cli.main import app
    from charter.evals import inspect_tasks

    path = write_config(tmp_path, suites=["evasive", "length"], limits={"length": 2})
    counts = run_experiment(path, progress=False).stages["eval"]
    assert counts["failed"] == 0
    report = read_report(tmp_path / "out" / "eval")
    assert [r.name for r in report.results] == ["evasiveness", "long_answers"]
    long_answers = report.result("long_answers").per_model
    assert long_answers["tuned"].value == 1.0 and long_answers["base"].value == 0.0  # BARE
    assert long_answers["base"].n == 2
    listed = CliRunner().invoke(app, ["eval", "suites", "--json"])
    assert {"name": "length", "inspect_task": "answer_length"}.items() <= next(
        s for s in json.loads(listed.output)["suites"] if s["name"] == "length"
    ).items()
    log = inspect_eval(
        inspect_tasks.answer_length(limit=1),
        model="charter/scripted",
        log_dir=str(tmp_path / "logs"),
        display="none",
    )[0]
    assert log.status == "success", log.error
