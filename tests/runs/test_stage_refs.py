"""Models trained earlier in a run, referenced as ``stage:<name>``."""

from __future__ import annotations

import json

import pytest
import yaml

from charter.constitution import load_constitution
from charter.errors import ConfigError, RunError
from charter.runs import load_config
from charter.runs.context import RunContext


def _config(tmp_path, models, stages):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "models": models, "stages": stages}))
    return path


GEN = {"name": "gen", "kind": "generate", "model": "trained", "limit": 1}
FIRST = {"name": "first", "kind": "generate", "model": "base", "limit": 1}
MODELS = {
    "base": {"backend": "scripted", "model": "echo"},
    "trained": {"backend": "transformers", "model": "stage:first"},
}


def test_a_reference_must_name_a_stage(tmp_path):
    models = {"trained": {"backend": "transformers", "model": "stage:nope"}}
    with pytest.raises(ConfigError, match=r"models\.trained\.model 'stage:nope' names no stage"):
        load_config(_config(tmp_path, models, [GEN]))


def test_the_trained_stage_must_come_first(tmp_path):
    with pytest.raises(ConfigError, match="trained by stage 'first', which must come earlier"):
        load_config(_config(tmp_path, MODELS, [GEN, FIRST]))


def test_reference_resolves_to_the_stage_model_folder_and_enters_the_fingerprint(tmp_path):
    config, base = load_config(_config(tmp_path, MODELS, [FIRST, GEN]))
    ctx = RunContext(config, base, tmp_path / "out", load_constitution("default"))
    with pytest.raises(RunError, match="stage 'first' has not written its trained model yet"):
        ctx.model("trained")
    folder = tmp_path / "out" / "first" / "model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert ctx.trained_model_dir("first") == folder
    gen = config.stages[1]
    before = ctx.stage_fingerprint(gen)["trained_by"]
    assert before == {"first": None}
    (tmp_path / "out" / "first" / "stage.json").write_text(json.dumps({"fingerprint_hash": "ab"}))
    assert ctx.stage_fingerprint(gen)["trained_by"] == {"first": "ab"}
