"""Both CAI phases end to end against a real OpenAI-compatible server on loopback.

llama-cpp-python's server serves the embedded policy; every role (policy,
critic, reviser, labeler) goes through the ``openai`` backend, so the whole
pipeline - generation, critique parsing, revision, choice log-probs for the
labels - runs over HTTP exactly as it would against vLLM or a hosted API.
"""

from __future__ import annotations

import math

import pytest
import yaml

from charter._util.net import llama_server
from charter.backends.embedded import policy_model_path
from charter.runs import read_jsonl, run_experiment

pytestmark = [pytest.mark.model, pytest.mark.server]


def test_sl_and_rl_cai_through_a_real_server(tmp_path):
    with llama_server(policy_model_path(), "smol", n_ctx=4096, logits_all=True) as url:
        served = {"backend": "openai", "model": "smol", "base_url": url, "concurrency": 2}
        config = {
            "name": "cai-server",
            "seed": 4,
            "output_dir": str(tmp_path / "out"),
            "models": {"served": served},
            "stages": [
                {
                    "name": "sl",
                    "kind": "sl_cai",
                    "policy": "served",
                    "limit": 2,
                    "rounds": 1,
                    "few_shot": 1,
                    "helpful_ratio": 0,
                    "response_max_tokens": 24,
                    "critique_max_tokens": 32,
                    "revision_max_tokens": 32,
                },
                {
                    "name": "labels",
                    "kind": "rl_cai_labels",
                    "policy": "served",
                    "labeler": "served",
                    "limit": 2,
                    "max_tokens": 16,
                    "principles": 1,
                    "rationale": False,
                },
            ],
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        summary = run_experiment(str(path), progress=False)

    out = tmp_path / "out"
    sl = summary.stages["sl"]
    assert sl["done"] + sl.get("rejected", 0) >= 1, list(read_jsonl(out / "sl/errors.jsonl"))
    for row in read_jsonl(out / "sl/steps.jsonl"):
        assert row["provenance"]["model_id"].startswith("openai:smol@http://127.0.0.1")
        if row["status"] == "ok":
            step = row["chain"][0]
            assert step["article_id"] and step["critique"] and step["revision"]
    labels = summary.stages["labels"]
    assert labels["done"] + labels["skipped"] == 2, list(read_jsonl(out / "labels/errors.jsonl"))
    for row in read_jsonl(out / "labels/preferences.jsonl"):
        assert 0.5 <= row["label_prob"] <= 1.0
        assert all(math.isfinite(x) for x in row["per_article"][0]["logprobs_order1"])
