"""The ``collective`` run stage and ``charter collective report``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from charter.backends.scripted import ScriptedChatModel
from charter.constitution import load_constitution
from charter.errors import ConfigError, RunError
from charter.runs import load_config
from charter.runs.context import RunContext
from charter.runs.stages import stage_kind

DRAFT = json.dumps(
    {
        "title": "Be useful",
        "rule": "Help with the task.",
        "rationale": "People need help.",
        "conflict_guidance": "Safety first.",
        "cites": ["w1"],
    }
)


def _reply(messages, params):
    return DRAFT if "Draft ONE article" in messages[-1]["content"] else "A reply."


class CountingJudge(ScriptedChatModel):
    """The scripted judge, counting choice questions as well as generations."""

    def __init__(self) -> None:
        super().__init__(_reply, model_id="scripted-judge")
        self.questions = 0

    def choice_logprobs(self, messages, choices):
        self.questions += 1
        return super().choice_logprobs(messages, choices)


def _config(tmp_path, **collective) -> RunContext:
    stage = {
        "name": "collective",
        "kind": "collective",
        "ledger": "stage:wish_ledger",
        "judge": "feedback",
        "judge_limit": 4,
        "reconstruction_limit": 2,
        "draft_articles": 2,
        "k_max": 4,
        **collective,
    }
    config = {
        "name": "collective-test",
        "seed": 3,
        "models": {"feedback": {"backend": "scripted", "model": "judge"}},
        "embedder": {"backend": "hashing"},
        "stages": [
            {"name": "wish_ledger", "kind": "ledger", "wishes": "builtin:sample", "limit": 48},
            stage,
        ],
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    loaded, base = load_config(path)
    ctx = RunContext(loaded, base, tmp_path / "out", load_constitution(), progress=False)
    ctx._models["feedback"] = CountingJudge()
    return ctx


def _run(ctx: RunContext, names=None) -> dict:
    results = {}
    for spec in ctx.config.stages:
        if names is None or spec.name in names:
            results[spec.name] = stage_kind(spec.kind).run(spec, ctx)
    return results


def test_stage_reads_the_ledger_stage_and_writes_the_report(tmp_path):
    ctx = _config(tmp_path)
    summary = _run(ctx)["collective"]
    folder = tmp_path / "out" / "collective"
    assert summary["total"] == 48 and summary["drafted_articles"] >= 1
    page = (folder / "report.html").read_text()
    assert 'id="group-map"' in page and 'id="draft"' in page
    results = json.loads((folder / "results.json").read_text())
    ledger_summary = json.loads((tmp_path / "out" / "wish_ledger" / "summary.json").read_text())
    assert results["ledger"]["root"] == ledger_summary["root"]
    # Sample labels are matched by text even though the ledger does not hold them.
    assert results["humanity"]["projection"]["auc_s"] is not None
    row = json.loads((folder / "rubric.jsonl").read_text().splitlines()[0])
    assert row["provenance"]["ledger_checkpoint"].endswith(ledger_summary["root"])
    assert row["provenance"]["config_hash"] == ctx.config_hash


def test_stage_resumes_and_widens_limits_without_redoing_rows(tmp_path):
    ctx = _config(tmp_path)
    _run(ctx)
    judge = ctx._models["feedback"]
    calls, questions = len(judge.calls), judge.questions
    _run(ctx, ["collective"])
    assert (len(judge.calls), judge.questions) == (calls, questions)  # everything was stored
    wider = _config(tmp_path, judge_limit=6)
    wider._models["feedback"] = judge
    _run(wider, ["collective"])
    assert len(judge.calls) == calls
    assert judge.questions == questions + 2 * 2  # two more wishes, two questions each
    rows = (tmp_path / "out" / "collective" / "rubric.jsonl").read_text().splitlines()
    assert len(rows) == 6


def test_stage_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="transform"):
        _config(tmp_path, transform="cubic")
    with pytest.raises(ConfigError, match="k_max"):
        _run(_config(tmp_path / "a", k_min=5, k_max=3), ["collective"])
    ctx = _config(tmp_path / "b")
    with pytest.raises(RunError, match="has not built its ledger"):
        _run(ctx, ["collective"])
    with pytest.raises(ConfigError, match="not under models"):
        _config(tmp_path / "c", judge="nobody")


def _charter(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "charter.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cli_report_refuses_a_missing_ledger_in_one_line(tmp_path):
    result = _charter("collective", "report", str(tmp_path / "nope.sqlite"), "--no-judge")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no such ledger" in result.stderr


@pytest.mark.model
def test_cli_report_on_the_sample_with_the_real_models(tmp_path):
    out = tmp_path / "report.html"
    result = _charter(
        "collective",
        "report",
        "builtin:sample",
        "--out",
        str(out),
        "--limit",
        "2",
        "--reconstruction",
        "1",
        "--draft-articles",
        "1",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    headline = json.loads(result.stdout)
    assert headline["wishes"] >= 300 and out.exists()
    results = json.loads((tmp_path / "report_files" / "results.json").read_text())
    assert results["humanity"]["rubric"]["n"] == 2
    assert results["models"]["judge"].startswith("llama_cpp:")
    assert (
        results["fidelity"]["reconstruction"]["overall"]["n"]
        + len((tmp_path / "report_files" / "errors.jsonl").read_text().splitlines())
        >= 1
    )
