"""A few steps of each method on the embedded SmolLM2-135M: outputs, reload, resume, stages."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import yaml

from charter.train import DPOOptions, GRPOOptions, SFTOptions, train

pytestmark = pytest.mark.model

# One thread: on a shared 2-core machine a second thread mostly spin-waits (2-4x slower).
TINY = {"max_length": 64, "save_steps": 1, "threads": 1}


def _log_steps(out):
    lines = (out / "train_log.jsonl").read_text().splitlines()
    return [row["step"] for row in map(json.loads, lines) if "loss" in row]


@pytest.fixture(scope="module")
def sft_out(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sft")
    data = folder / "sft.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            )
            + "\n"
            for q, a in [("Hi?", "Hello."), ("2+2?", "4."), ("Sky?", "Blue."), ("Sea?", "Wet.")]
        )
    )
    result = train("sft", data, folder / "out", SFTOptions(max_steps=2, **TINY), progress=False)
    return folder / "out", data, result


def test_sft_writes_a_loadable_model(sft_out):
    from charter.backends.base import GenerateParams
    from charter.backends.hf import TransformersChatModel

    out, _, result = sft_out
    assert result.steps == 2 and not result.skipped and math.isfinite(result.final_loss)
    for name in ("adapter/adapter_config.json", "model/config.json", "model/chat_template.jinja"):
        assert (out / name).is_file(), name
    record = json.loads((out / "train.json").read_text())
    assert record["method"] == "sft" and record["steps"] == 2
    assert record["base_sha256"].startswith("b179c952")
    assert len(record["dataset"]["sha256"]) == 64 and record["versions"]["trl"]
    assert _log_steps(out) == [1, 2]
    model = TransformersChatModel(out / "model")
    reply = model.generate([{"role": "user", "content": "Hi?"}], GenerateParams(max_tokens=4))
    assert reply.completion_tokens > 0


def test_rerun_resumes_from_the_last_checkpoint(sft_out):
    out, data, _ = sft_out
    again = train("sft", data, out, SFTOptions(max_steps=2, **TINY), progress=False)
    assert again.skipped  # finished and max_steps unchanged: nothing to do
    more = train("sft", data, out, SFTOptions(max_steps=3, **TINY), progress=False)
    assert (more.resumed_from, more.steps, more.new_steps) == (2, 3, 1)
    assert _log_steps(out) == [1, 2, 3]  # continued, nothing logged twice
    assert json.loads((out / "train.json").read_text())["resumed_from"] == 2


def test_dpo_starts_from_the_sft_model(sft_out, pref_file):
    out, _, _ = sft_out
    result = train(
        "dpo",
        pref_file,
        out.parent / "dpo",
        DPOOptions(max_steps=2, **TINY),
        base=out / "model",
        progress=False,
    )
    assert math.isfinite(result.final_loss)
    record = json.loads((out.parent / "dpo" / "train.json").read_text())
    assert record["base_model"] == str(out / "model")
    assert record["constitution_hash"] is None and record["dataset"]["rows"] == 4


def test_reward_model_then_grpo_against_it(tmp_path, pref_file):
    import torch

    from charter.train.rewards import load_reward_model

    # Through the CLI, so its success path (and --json) is covered too.
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "charter.cli.main",
            "train",
            "reward",
            "--data",
            str(pref_file),
            "--output",
            str(tmp_path / "rm"),
            "--max-steps",
            "2",
            "--max-length",
            "64",
            "--save-steps",
            "1",
            "--threads",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert cli.returncode == 0, cli.stderr[-2000:]
    rm = json.loads(cli.stdout)
    assert rm["steps"] == 2 and math.isfinite(rm["final_loss"])
    assert json.loads((tmp_path / "rm" / "train.json").read_text())["options"]["labels"] == "soft"
    model, tokenizer, _ = load_reward_model(tmp_path / "rm")
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        tokenize=False,
    )
    with torch.inference_mode():
        score = model(**tokenizer(text, return_tensors="pt")).logits
    assert score.shape == (1, 1) and torch.isfinite(score).all()
    grpo = train(
        "grpo",
        "builtin:helpfulness",
        tmp_path / "grpo",
        GRPOOptions(max_steps=2, prompt_limit=2, max_completion_length=8, **TINY),
        reward_model=tmp_path / "rm",
        progress=False,
    )
    assert grpo.steps == 2 and math.isfinite(grpo.final_loss)
    assert (tmp_path / "grpo" / "model" / "config.json").is_file()


def test_stage_chain_trains_then_generates_with_the_trained_model(tmp_path, sft_file):
    from charter.runs import read_jsonl, run_experiment

    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "train-stage",
                "output_dir": str(tmp_path / "run"),
                "models": {
                    "policy": {"model": "embedded:policy"},
                    "sl": {"backend": "transformers", "model": "stage:sft"},
                },
                "stages": [
                    {
                        "name": "sft",
                        "kind": "train_sft",
                        "base": "policy",
                        "data": str(sft_file),
                        "max_steps": 1,
                        **TINY,
                    },
                    {
                        "name": "gen",
                        "kind": "generate",
                        "model": "sl",
                        "prompts": "builtin:helpfulness",
                        "limit": 1,
                        "max_tokens": 4,
                    },
                ],
            }
        )
    )
    summary = run_experiment(config, progress=False)
    assert summary.stages["sft"]["done"] == 1
    rows = list(read_jsonl(tmp_path / "run" / "gen" / "generations.jsonl"))
    assert len(rows) == 1 and "sft/model" in rows[0]["provenance"]["model_id"]
    again = run_experiment(config, progress=False)
    assert again.stages["sft"]["new"] == 0  # finished training is skipped


def test_grpo_with_the_wish_sampled_reward(tmp_path):
    """The TRL reward function of the collective plugs into GRPOTrainer unchanged."""
    grpo = train(
        "grpo",
        "builtin:helpfulness",
        tmp_path / "grpo",
        GRPOOptions(max_steps=2, prompt_limit=2, max_completion_length=8, **TINY),
        reward_fn="wish:builtin:sample",
        progress=False,
    )
    assert grpo.steps == 2 and math.isfinite(grpo.final_loss)
    record = json.loads((tmp_path / "grpo" / "train.json").read_text())
    assert "wish:builtin:sample" in json.dumps(record)
    rewards = [
        json.loads(line)
        for line in (tmp_path / "grpo" / "train_log.jsonl").read_text().splitlines()
        if "reward" in line
    ]
    assert rewards, "GRPO logged no rewards"


def test_training_progress_is_one_charter_bar_with_the_loss(tmp_path):
    """Issue 15: TRL's raw log dicts and tqdm bars interleaved with Charter's rich bars. With
    progress on, stdout stays clean and stderr shows Charter's bar with the loss."""
    data = tmp_path / "sft.jsonl"
    row = {
        "messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]
    }
    data.write_text((json.dumps(row) + "\n") * 2)
    script = (
        "from charter.train import SFTOptions, train\n"
        f"train('sft', {str(data)!r}, {str(tmp_path / 'out')!r}, "
        f"SFTOptions(max_steps=2, **{TINY!r}), progress=True)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "{'loss'" not in result.stdout and "{'loss'" not in result.stderr
    assert "it/s]" not in result.stderr  # no tqdm bar
    assert "train sft" in result.stderr and "loss" in result.stderr
