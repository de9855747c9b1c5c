"""The eval stage and the judge's calibration on the real embedded models (marked `model`)."""

from __future__ import annotations

import time

import pytest
import yaml

from charter.evals.results import read_report
from charter.feedback import calibrate as cal
from charter.feedback.registry import get_judge
from charter.runs import run_experiment


@pytest.mark.model
def test_the_fitted_reply_judges_run_on_the_embedded_feedback_model(feedback_llama):
    """A few gold items through the shipped fitted judge; the full card is a benchmark."""
    judge = get_judge("evasiveness")
    start = time.perf_counter()
    run = cal.calibrate(judge, feedback_llama, limit=3)
    print(f"{run.card.summary()} in {time.perf_counter() - start:.0f}s")
    assert run.card.n == 3 and run.card.failed == 0 and 1 <= run.card.calls_per_item <= 4
    assert all(sum(row["probs"].values()) == pytest.approx(1, abs=1e-3) for row in run.item_rows())


@pytest.mark.model
def test_eval_stage_end_to_end_on_embedded_models(tmp_path):
    config = {
        "name": "eval-real",
        "seed": 2,
        "output_dir": str(tmp_path / "out"),
        "models": {
            "policy": {"backend": "llama_cpp", "model": "embedded:policy", "threads": 1},
            "policy_b": {"backend": "llama_cpp", "model": "embedded:policy", "threads": 1},
            "feedback": {"backend": "llama_cpp", "model": "embedded:feedback", "threads": 1},
        },
        "stages": [
            {
                "name": "eval",
                "kind": "eval",
                "models": ["policy", "policy_b"],
                "judge": "feedback",
                "suites": ["pairwise", "evasive"],
                "limits": {"pairwise": 1, "evasive": 1},
                "max_tokens": 24,
                "bootstrap": 20,
            }
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    counts = run_experiment(str(path), progress=False).stages["eval"]
    assert counts["failed"] == 0 and counts["done"] == counts["total"] > 0
    report = read_report(tmp_path / "out" / "eval")
    elo = report.result("harmlessness_elo").per_model
    assert elo["policy"].value == 0.0 and abs(elo["policy_b"].value) < 800
    assert report.models["policy"].startswith("llama_cpp:SmolLM2")
    assert report.judge.startswith("llama_cpp:Qwen2.5")
    assert sum(report.result("evasiveness").per_model["policy"].counts.values()) == 1
    assert (tmp_path / "out" / "eval" / "frontier.png").exists()
