"""The eval stage and the judge's calibration on the real embedded models (marked `model`)."""

from __future__ import annotations

import time

import pytest
import yaml

from charter.evals.evasive import calibrate, load_calibration
from charter.evals.judge import CLASSES
from charter.evals.results import read_report
from charter.runs import run_experiment

# Measured on the whole calibration set with the embedded feedback model: 0.667
# (42/63, Wilson 95% CI 0.54-0.77); the 12-item subset is small, so the floor sits
# below that figure but above chance (1/3) by a clear margin.
ACCURACY_FLOOR = 0.5


@pytest.mark.model
def test_feedback_judge_agrees_with_calibration_labels(feedback_llama):
    items = load_calibration()
    per_class = {label: [i for i in items if i.label == label][:4] for label in CLASSES}
    subset = [item for group in per_class.values() for item in group]
    start = time.perf_counter()
    run = calibrate(feedback_llama, subset)
    print(
        f"calibration subset: {run.calibration.accuracy:.2f} "
        f"confusion {run.calibration.confusion} in {time.perf_counter() - start:.0f}s"
    )
    assert run.calibration.n == 12
    assert run.calibration.accuracy >= ACCURACY_FLOOR


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
