"""Options, trainer inputs, rewards, settings checks, stage specs and the CLI (fast, no model)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import yaml

from charter.errors import BackendError, ConfigError, DatasetError, ModelNotFoundError
from charter.runs.config import load_config
from charter.train import DPOOptions, RewardOptions, SFTOptions, options_for, train
from charter.train.data import load_preferences, load_sft
from charter.train.methods import build_trainer, reward_rows, sft_rows
from charter.train.models import resolve_base
from charter.train.options import GRPOOptions
from charter.train.rewards import load_reward_fn, reward_model_dir


def test_cpu_sized_defaults():
    sft, dpo = SFTOptions(), DPOOptions()
    assert (sft.lora.r, sft.lora.alpha) == (8, 16)
    assert sft.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert sft.batch_size == 2 and sft.max_length == 512 and sft.max_steps == 30
    assert dpo.learning_rate < RewardOptions().learning_rate < sft.learning_rate
    assert GRPOOptions().learning_rate < dpo.learning_rate


def test_options_for_names_the_bad_field():
    assert options_for("dpo", beta=0.2, max_steps=None).beta == 0.2
    with pytest.raises(ConfigError, match="field max_steps"):
        options_for("sft", max_steps=0)
    with pytest.raises(ConfigError, match="field beta: is not a known field"):
        options_for("sft", beta=0.1)
    with pytest.raises(ConfigError, match="method 'ppo' is unknown"):
        options_for("ppo")


def test_fingerprint_leaves_out_resumable_fields():
    a, b = SFTOptions(max_steps=2, save_steps=1), SFTOptions(max_steps=40)
    assert a.fingerprint() == b.fingerprint()
    assert SFTOptions(learning_rate=1e-3).fingerprint() != a.fingerprint()


def test_sft_rows_split_the_last_assistant_turn(sft_file):
    data = load_sft(sft_file)
    split = sft_rows(data, SFTOptions())
    assert split[0]["prompt"] == [{"role": "user", "content": "How do I boil an egg?"}]
    assert split[0]["completion"][0]["role"] == "assistant"
    assert set(sft_rows(data, SFTOptions(loss_on="all"))[0]) == {"messages"}


def test_sft_rows_need_a_prompt_for_completion_loss(tmp_path, rows):
    path = rows.write(
        tmp_path / "a.jsonl", [{"messages": [{"role": "assistant", "content": "hi"}]}]
    )
    with pytest.raises(DatasetError, match="loss_on: all"):
        sft_rows(load_sft(path), SFTOptions())


def test_reward_rows_carry_soft_label_margin_or_nothing(pref_file):
    data = load_preferences(pref_file)
    soft = reward_rows(data, RewardOptions())
    assert soft[0]["margin"] == pytest.approx(0.55)
    margin = reward_rows(data, RewardOptions(labels="margin"))
    assert margin[0]["margin"] == pytest.approx(math.log(0.55 / 0.45))
    assert "margin" not in reward_rows(data, RewardOptions(labels="hard"))[0]


def test_soft_label_loss_is_minimal_at_logit_of_the_label():
    import torch
    from torch.nn.functional import logsigmoid

    p = torch.tensor(0.8)

    def loss(gap: float) -> float:
        g = torch.tensor(gap)
        return float(-(p * logsigmoid(g) + (1 - p) * logsigmoid(-g)))

    best = math.log(0.8 / 0.2)
    assert loss(best) < loss(best - 0.3) and loss(best) < loss(best + 0.3)


def test_grpo_batch_must_hold_whole_groups(tmp_path):
    from charter.train.data import load_prompt_rows

    options = GRPOOptions(batch_size=3, num_generations=2)
    data = load_prompt_rows("builtin:helpfulness", limit=2)
    with pytest.raises(ConfigError, match=r"\(3\) must be a multiple of num_generations \(2\)"):
        build_trainer(options, None, None, data, str(tmp_path), [], reward=len)


def test_reward_fn_targets():
    assert load_reward_fn("math:dist") is math.dist
    with pytest.raises(ConfigError, match="write it as module:attr"):
        load_reward_fn("math.dist")
    with pytest.raises(ConfigError, match="cannot import"):
        load_reward_fn("no_such_module_xyz:f")
    with pytest.raises(ConfigError, match="has no attribute"):
        load_reward_fn("math:nope")
    with pytest.raises(ConfigError, match="not callable"):
        load_reward_fn("math:pi")


def test_reward_model_dir_needs_a_classifier(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no model there"):
        reward_model_dir(tmp_path)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    with pytest.raises(ModelNotFoundError, match="rather than a sequence classifier"):
        reward_model_dir(tmp_path)


def _fake_base(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    (base / "model.safetensors").write_bytes(b"weights")
    return base


def test_base_resolution(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no transformers model there"):
        resolve_base(tmp_path / "missing")
    with pytest.raises(ModelNotFoundError, match="only embedded:policy is trainable"):
        resolve_base("embedded:feedback")
    base = _fake_base(tmp_path)
    ref = resolve_base(base)
    assert ref.folder == base and len(ref.weights_sha256) == 64


def test_other_settings_are_refused_and_finished_output_skipped(tmp_path, sft_file):
    base, out = _fake_base(tmp_path), tmp_path / "out"
    out.mkdir()
    (out / "settings.json").write_text(json.dumps({"method": "sft", "data_sha256": "old"}))
    with pytest.raises(ConfigError, match=r"different .*data_sha256.* --restart"):
        train("sft", sft_file, out, SFTOptions(max_steps=2), base=base)
    # The same settings and a finished output: nothing is loaded or trained.
    (out / "settings.json").unlink()
    with pytest.raises(BackendError, match="cannot load its tokenizer"):  # no real weights
        train("sft", sft_file, out, SFTOptions(max_steps=2), base=base, progress=False)
    assert (out / "settings.json").exists()
    (out / "model").mkdir()
    (out / "model" / "config.json").write_text("{}")
    (out / "train.json").write_text(json.dumps({"steps": 2, "final_loss": 1.5}))
    result = train("sft", sft_file, out, SFTOptions(max_steps=2), base=base)
    assert result.skipped and result.steps == 2 and result.final_loss == 1.5


def test_grpo_needs_exactly_one_reward(tmp_path):
    with pytest.raises(ConfigError, match="exactly one reward"):
        train("grpo", "builtin:redteam", tmp_path, GRPOOptions())
    with pytest.raises(ConfigError, match="takes no reward"):
        train("sft", "x", tmp_path, SFTOptions(), reward_fn="math:dist")


def _config(tmp_path, stages):
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "t",
                "models": {
                    "policy": {"model": "embedded:policy"},
                    "sl": {"backend": "transformers", "model": "stage:sft"},
                },
                "stages": stages,
            }
        )
    )
    return path


def test_stage_specs_parse_flat_options(tmp_path):
    config, _ = load_config(
        _config(
            tmp_path,
            [
                {
                    "name": "sft",
                    "kind": "train_sft",
                    "base": "policy",
                    "data": "x.jsonl",
                    "max_steps": 5,
                    "lora": {"r": 4},
                },
                {"name": "dpo", "kind": "train_dpo", "base": "sl", "data": "p.jsonl", "beta": 0.2},
            ],
        )
    )
    sft, dpo = config.stages
    assert (sft.max_steps, sft.lora.r, sft.learning_rate) == (5, 4, 2e-4)
    assert dpo.beta == 0.2 and dpo.model_keys() == ["sl"]


def test_stage_spec_errors_name_the_field(tmp_path):
    from charter.errors import ConfigError as CE

    bad = [{"name": "sft", "kind": "train_sft", "base": "policy", "data": "x", "bogus": 1}]
    with pytest.raises(CE, match="stage 'sft', field bogus: is not a known field"):
        load_config(_config(tmp_path, bad))
    early = [
        {"name": "dpo", "kind": "train_dpo", "base": "sl", "data": "p"},
        {"name": "sft", "kind": "train_sft", "base": "policy", "data": "x"},
    ]
    with pytest.raises(CE, match="trained by stage 'sft', which must come earlier"):
        load_config(_config(tmp_path, early))


def test_cli_one_line_errors(tmp_path):
    cmd = [sys.executable, "-m", "charter.cli.main", "train"]
    missing = subprocess.run(
        [*cmd, "sft", "--data", str(tmp_path / "none.jsonl"), "--output", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: ") and missing.stderr.count("\n") == 1
    assert "none.jsonl: no such dataset" in missing.stderr
    no_reward = subprocess.run(
        [*cmd, "grpo", "--output", str(tmp_path / "o")], capture_output=True, text=True
    )
    assert no_reward.returncode == 2 and "exactly one reward" in no_reward.stderr
    helptext = subprocess.run([*cmd, "dpo", "--help"], capture_output=True, text=True).stdout
    assert "--max-steps" in helptext and "--beta" in helptext
