"""Experiment runs: config errors, provenance, resume, settings changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from charter.errors import ConfigError, RunError
from charter.runs import load_config, read_jsonl, run_experiment

SCRIPTED = {"backend": "scripted", "model": "echo"}


def write_config(tmp_path, **overrides) -> str:
    config = {
        "name": "t",
        "seed": 5,
        "output_dir": str(tmp_path / "out"),
        "models": {"m": SCRIPTED},
        "stages": [{"name": "gen", "kind": "generate", "model": "m", "limit": 6}],
    }
    config.update(overrides)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def rows(tmp_path, stage="gen"):
    return list(read_jsonl(tmp_path / "out" / stage / "generations.jsonl"))


def test_run_writes_rows_with_provenance_and_a_manifest(tmp_path):
    summary = run_experiment(write_config(tmp_path), progress=False)
    assert summary.stages["gen"] == {"total": 6, "new": 6, "failed": 0, "done": 6}
    out = rows(tmp_path)
    assert len(out) == 6
    config, _ = load_config(tmp_path / "config.yaml")
    for row in out:
        prov = row["provenance"]
        assert prov["config_hash"] == config.config_hash()
        assert prov["constitution_hash"] == summary.constitution_hash
        assert prov["model_id"] == "scripted:echo"
        assert isinstance(prov["seed"], int)
        assert row["messages"][-1] == {"role": "assistant", "content": row["response"]}
    assert len({r["provenance"]["seed"] for r in out}) == 6  # per-row seeds differ
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["config_hash"] == config.config_hash()
    assert manifest["stages"]["gen"]["done"] == 6
    assert manifest["stages"]["gen"]["seconds"] >= 0  # wall time per stage


def test_rerun_is_a_no_op_and_raising_limit_extends(tmp_path):
    path = write_config(tmp_path)
    run_experiment(path, progress=False)
    first = rows(tmp_path)
    assert run_experiment(path, progress=False).stages["gen"]["new"] == 0
    path = write_config(
        tmp_path, stages=[{"name": "gen", "kind": "generate", "model": "m", "limit": 9}]
    )
    assert run_experiment(path, progress=False).stages["gen"]["new"] == 3
    again = rows(tmp_path)
    assert again[:6] == first and len({r["key"] for r in again}) == 9


def test_changed_settings_need_restart(tmp_path):
    run_experiment(write_config(tmp_path), progress=False)
    changed = write_config(
        tmp_path,
        stages=[{"name": "gen", "kind": "generate", "model": "m", "limit": 6, "temperature": 0.1}],
    )
    with pytest.raises(RunError, match=r"different settings.*--restart"):
        run_experiment(changed, progress=False)
    assert run_experiment(changed, progress=False, restart=True).stages["gen"]["new"] == 6


def test_restart_redoes_only_the_stages_whose_settings_changed(tmp_path):
    stage = {"name": "gen", "kind": "generate", "model": "m", "limit": 6}
    other = {"name": "other", "kind": "generate", "model": "m", "limit": 4}
    run_experiment(write_config(tmp_path, stages=[stage, other]), progress=False)
    kept = rows(tmp_path, "other")
    changed = write_config(tmp_path, stages=[{**stage, "temperature": 0.1}, other])
    summary = run_experiment(changed, progress=False, restart=True)
    assert summary.stages["gen"]["new"] == 6  # redone
    assert summary.stages["other"]["new"] == 0  # resumed: nothing discarded
    assert rows(tmp_path, "other") == kept


def test_backend_failures_are_recorded_and_retried(tmp_path, monkeypatch):
    from charter.backends import scripted
    from charter.errors import BackendError

    calls = {"n": 0}
    original = scripted.ScriptedChatModel.generate

    def flaky(self, messages, params):
        calls["n"] += 1
        if calls["n"] in (2, 4):
            raise BackendError("server hiccup")
        return original(self, messages, params)

    monkeypatch.setattr(scripted.ScriptedChatModel, "generate", flaky)
    path = write_config(tmp_path)
    summary = run_experiment(path, progress=False)
    assert summary.stages["gen"]["failed"] == 2 and summary.stages["gen"]["done"] == 4
    errors = list(read_jsonl(tmp_path / "out" / "gen" / "errors.jsonl"))
    assert [e["error"] for e in errors] == ["server hiccup"] * 2
    assert run_experiment(path, progress=False).stages["gen"]["done"] == 6
    assert len(rows(tmp_path)) == 6


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"stages": [{"name": "g", "kind": "nope"}]}, r"stages\[0\]\.kind 'nope' is unknown"),
        (
            {"stages": [{"name": "g", "kind": "generate", "model": "zzz"}]},
            "uses model 'zzz', which is not under models",
        ),
        (
            {"stages": [{"name": "g", "kind": "generate", "model": "m", "limit": 0}]},
            r"field stages: stage 'g', field limit: Input should be greater than or equal to 1",
        ),
        ({"models": {"m": {"backend": "gpt"}}}, r"field models\.m\.backend"),
        ({"name": "bad name!"}, "must be letters"),
        ({"stages": [{"name": "g", "kind": "generate", "model": "m"}] * 2}, "appears twice"),
        ({"surprise": 1}, "surprise: is not a known field"),
    ],
)
def test_config_errors_name_the_field(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(tmp_path, **overrides))


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)


def test_unknown_stage_filter(tmp_path):
    with pytest.raises(ConfigError, match="no such stage"):
        run_experiment(write_config(tmp_path), progress=False, only=["other"])


def test_quickstart_config_validates():
    config, _ = load_config("configs/quickstart.yaml")
    assert {k for s in config.stages for k in s.model_keys()} == {
        "policy",
        "feedback",
        "base",
        "sl",
        "rl",
    }
    # Every capability joins the quickstart.
    assert {s.kind for s in config.stages} == {
        "generate",
        "ledger",
        "ledger_votes",
        "collective",
        "sl_cai",
        "train_sft",
        "rl_cai_labels",
        "train_dpo",
        "eval",
        "pretrain_classify",
        "pretrain_reflect",
        "pretrain_mix",
    }
    # The report compares base and trained models on every eval suite.
    suites = {x for s in config.stages if s.kind == "eval" for x in s.suites}
    assert suites == {"pairwise", "evasive", "refusal", "conflicts", "agentic"}


def test_pretrain_config_validates():
    config, _ = load_config("configs/pretrain.yaml")
    kinds = [s.kind for s in config.stages]
    assert kinds == ["pretrain_classify", "pretrain_reflect", "pretrain_mix"]


def test_the_config_hash_sees_every_stage_setting(tmp_path):
    config, _ = load_config("configs/pretrain.yaml")
    assert config.dump()["stages"][0]["judge_limit"] == 40  # a field of the stage's own kind
    text = Path("configs/pretrain.yaml").read_text()
    changed = tmp_path / "pretrain.yaml"
    changed.write_text(text.replace("judge_limit: 40", "judge_limit: 41"))
    assert load_config(changed)[0].config_hash() != config.config_hash()
