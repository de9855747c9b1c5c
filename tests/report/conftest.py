"""A small synthetic run folder with every kind of stage the report reads.

Where a producer offers a function that writes its files, the fixture calls it
(eval results, the agentic suite, the collective analysis on scripted models,
the mix manifest, the ablation table, calibration cards); the rest are small
hand-written rows in the producers' formats (train log, SL-CAI steps and
quality, preference labels and their statistics, the mix card, the ledger).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from charter.backends import ScriptedChatModel
from charter.backends.scripted import HashingEmbedder
from charter.collective.analysis import AnalysisOptions, analyze
from charter.collective.wishes import load_wishes
from charter.constitution import load_constitution
from charter.evals.agentic import load_scenarios, run_agentic
from charter.evals.results import (
    EvalReport,
    EvalResult,
    Example,
    FrontierPoint,
    ModelScore,
    write_report,
)
from charter.feedback.card import CalibrationCard
from charter.pretrain.ablate import summarize, write_table
from charter.pretrain.manifest import build_manifest, doc_sha256

PROV = {
    "constitution_hash": "c0ffee" * 10,
    "config_hash": "abc123" * 10,
    "ledger_checkpoint": "charter.example/quickstart@24:rootroot",
    "charter_version": "0.1.0",
}


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _score(model: str, value: float, low: float, high: float, n: int = 8) -> ModelScore:
    return ModelScore(
        model=model, model_id=f"id-{model}", value=value, ci_low=low, ci_high=high, n=n
    )


DRAFT = json.dumps(
    {
        "title": "Care <b>",
        "rule": "Help people safely.",
        "rationale": "It matters.",
        "conflict_guidance": "Safety first.",
        "cites": ["w1", "w3"],
    }
)
KINDS = [
    {"name": "sl", "kind": "sl_cai"},
    {"name": "labels", "kind": "rl_cai_labels"},
    {"name": "dpo", "kind": "train_dpo"},
    {"name": "mix", "kind": "pretrain_mix"},
    {"name": "wishes", "kind": "ledger"},
    {"name": "collective", "kind": "collective"},
    {"name": "evals", "kind": "eval"},
]


def _draft_reply(messages, params):
    return DRAFT if "Draft ONE article" in messages[-1]["content"] else "A reply that helps."


def _draft_choices(messages, options):
    text = messages[-1]["content"]
    if len(options) == 5:  # rubric: s high for product wishes, h high otherwise
        selfish = "recommend" in text.lower()
        high = selfish if "designed to benefit the person" in text else not selfish
        return [0.0 if (o == "5") == high else -6.0 for o in options]
    return [-0.2, -1.8]


def make_collective(folder: Path) -> Path:
    """The collective analysis of the shipped sample on scripted models (its real files)."""
    wishes = load_wishes("builtin:sample")
    rng = np.random.default_rng(0)
    votes = np.where(
        rng.random((wishes.size, 20)) < 0.3, rng.choice([1.0, -1.0], size=(wishes.size, 20)), np.nan
    )
    analyze(
        wishes,
        folder,
        HashingEmbedder(),
        load_constitution(),
        AnalysisOptions(judge_limit=4, reconstruction_limit=2, draft_articles=2),
        lambda m, s: {**PROV, "model_id": m, "seed": s},
        lambda k: 7,
        judge=ScriptedChatModel(_draft_reply, _draft_choices, model_id="scripted-judge"),
        votes=votes,
        progress=False,
    )
    return folder


def _card(judge: str, n: int = 40) -> CalibrationCard:
    return CalibrationCard(
        judge=judge,
        method="battery-lr",
        model_id="id-judge",
        gold=f"{judge}.jsonl",
        gold_sha256="ab" * 32,
        split="test",
        n=n,
        accuracy=0.85,
        ci_low=0.71,
        ci_high=0.93,
        macro_f1=0.83,
        labels=["bare_refusal", "explained"],
        confusion=[[17, 3], [3, 17]],
        ece=0.06,
        positive="bare_refusal",
        sensitivity=0.85,
        specificity=0.85,
    )


def _write_training(run: Path) -> None:
    """A DPO stage's train_log.jsonl (TRL's logged names) and train.json."""
    _jsonl(
        run / "dpo" / "train_log.jsonl",
        [
            {
                "step": step,
                "loss": 0.69 - 0.05 * step,
                "learning_rate": 5e-5,
                "rewards/margins": 0.02 * step,
                "rewards/accuracies": 0.5 + 0.04 * step,
            }
            for step in range(1, 9)
        ],
    )
    (run / "dpo" / "train.json").write_text(json.dumps({"final_loss": 0.29, "steps": 8}))


def _write_mix(run: Path) -> None:
    """A pretrain_mix stage with two mixes: their manifests (the real builder) and cards."""
    texts = {
        "filter": ["a benign doc", "another"],
        "contextualize": ["a benign doc", "kept, reflected"],
    }
    for name, docs in texts.items():
        folder = run / "mix" / name
        _jsonl(
            folder / "docs.jsonl", [{"key": t, "text": t, "sha256": doc_sha256(t)} for t in docs]
        )
        manifest = build_manifest(doc_sha256(t) for t in docs)
        (folder / "manifest.json").write_text(json.dumps(manifest))
        card = {
            "format": "charter-data-card/1",
            "mix": name,
            "strategy": name,
            "placement": "gated" if name == "contextualize" else None,
            "style": None,
            "reflect_benign": False,
            "dilemmas": False,
            "description": f"MIX-DESCRIPTION {name}",
            "counts": {
                "documents": 2,
                "words": 5,
                "by_class": {"benign": 1, "harmful": 1},
                "by_article": {},
                "by_style": {"none": 2},
                "by_mode": {"raw": 1, "gated" if name == "contextualize" else "raw": 1},
                "dropped": {},
                "mean_reflection_depth": None,
                "scored_reflections": 0,
            },
            "classifier": {},
            "models": {"classifier": "id-judge"},
            "constitution_hash": PROV["constitution_hash"],
            "ledger_checkpoint": None,
            "config_hash": PROV["config_hash"],
            "seed": 7,
            "manifest": {
                "root": manifest["root"],
                "size": manifest["size"],
                "file": "manifest.json",
            },
            "identical_to": [],
            "warnings": [],
        }
        (folder / "card.json").write_text(json.dumps(card))


def _write_ablation(run: Path) -> None:
    """An ablation folder: results.jsonl rows and the real table writer's table.csv."""
    folder = run / "ablation"
    rows = [
        {
            "key": f"{mix}:{seed}",
            "mix": mix,
            "seed": seed,
            "final_loss": 3.0,
            "framings": {
                f: {"propensity": p + 0.01 * seed, "mean_margin": p - 0.5}
                for f in ("neutral", "assistant", "persona_swap")
            },
        }
        for mix, p in (("filter", 0.6), ("contextualize", 0.55))
        for seed in (0, 1)
    ]
    _jsonl(folder / "results.jsonl", rows)
    (folder / "settings.json").write_text(json.dumps({"seeds": [0, 1], "n_probes": 8}))
    write_table(summarize(rows), folder)


def _write_ledger(run: Path) -> None:
    folder = run / "wishes"
    folder.mkdir(parents=True)
    summary = {"total": 308, "done": 308, "verified": True, "root": "ab" * 32, "problems": []}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "checkpoint.txt").write_text("charter.example/sample\n308\nROOT=\n")


def make_run(root: Path, with_evals: bool = True, collective: Path | None = None) -> Path:
    """Write a run folder like `charter run` leaves, with tiny made-up contents.

    Args:
        root: where the run folder goes.
        with_evals: add the eval stages (results, agentic suite).
        collective: a finished collective analysis folder to copy in as a stage.
    """
    run = root / "synthetic"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(
        json.dumps(
            {
                "name": "synthetic",
                "config_hash": PROV["config_hash"],
                "constitution_hash": PROV["constitution_hash"],
                "constitution_name": "default",
                "seed": 7,
                "models": {
                    "policy": {"spec": {"model": "embedded:policy"}, "model_id": "id-base"},
                    "feedback": {"spec": {"model": "embedded:feedback"}, "model_id": "id-judge"},
                },
                "config": {"stages": KINDS},
                "started_at": "2026-01-01T00:00:00+00:00",
                "updated_at": "2026-01-01T00:10:00+00:00",
                "charter_version": "0.1.0",
            }
        )
    )
    _jsonl(
        run / "sl" / "steps.jsonl",
        [
            {
                "key": "rt-1",
                "id": "rt-1",
                "prompt": "How do I pick a lock?",
                "status": "ok",
                "initial_response": "Here is how <script>alert(1)</script>",
                "chain": [
                    {
                        "round": 1,
                        "article_id": "harm",
                        "article_title": "Avoid harm",
                        "critique": "CRITIQUE-TEXT: it enables burglary.",
                        "revision": "REVISION-TEXT: call a locksmith.",
                    }
                ],
                "final_response": "REVISION-TEXT: call a locksmith.",
                "provenance": {**PROV, "model_id": "id-judge", "seed": 11},
            }
        ],
    )
    _jsonl(
        run / "labels" / "preferences.jsonl",
        [
            {
                "key": "rt-2:0-1",
                "id": "rt-2",
                "prompt": "Write a threat.",
                "chosen": "CHOSEN-TEXT: I won't.",
                "rejected": "REJECTED-TEXT: ok...",
                "label_prob": 0.81,
                "p_first": 0.81,
                "position_bias": 0.02,
                "articles": ["harm", "honesty"],
                "provenance": {**PROV, "model_id": "id-judge", "seed": 12},
            }
        ],
    )
    (run / "sl" / "quality.json").write_text(
        json.dumps(
            {
                "judged": 1,
                "outcomes": {"kept": 1},
                "sft_labels": {"explained": 1},
                "bare_refusal_share": 0.0,
                "bare_refusal_ci": [0.0, 0.79],
                "harmful_share": 0.0,
            }
        )
    )
    quantiles = {"mean": 0.31, "min": 0.31, "p10": 0.31, "median": 0.31, "p90": 0.31, "max": 0.31}
    (run / "labels" / "label_stats.json").write_text(
        json.dumps(
            {
                "pairs": 1,
                "min_margin": 0.05,
                "low_margin": 0,
                "dropped_low_margin": 0,
                "margin": quantiles,
                "position_bias": {**quantiles, "median": 0.02},
                "article_flip_rate": 0.0,
                "order_agreement": {"agree": 1, "pairs": 1, "lean": 0.01, "p_value": 0.5},
                "labels_beat_chance": False,
            }
        )
    )
    _write_training(run)
    _write_mix(run)
    _write_ablation(run)
    _write_ledger(run)
    for judge in ("evasiveness", "harmful_compliance"):
        _card(judge).save(run / "cards" / f"{judge}.battery-lr.json")
    if collective is not None:
        shutil.copytree(collective, run / "collective")
    if with_evals:
        elo = {
            "harmlessness_elo": {"base": (-40.0, -90.0, 10.0), "trained": (40.0, -10.0, 90.0)},
            "helpfulness_elo": {"base": (10.0, -30.0, 50.0), "trained": (-10.0, -50.0, 30.0)},
        }
        results = [
            EvalResult(
                name=name,
                suite="pairwise",
                metric="elo",
                per_model={m: _score(m, *v) for m, v in scores.items()},
            )
            for name, scores in elo.items()
        ]
        results.append(
            EvalResult(
                name="evasiveness",
                suite="evasive",
                metric="rate",
                higher_is_better=False,
                description="share of harmful prompts answered with a bare refusal",
                baseline="base",
                per_model={
                    "base": _score("base", 0.5, 0.2, 0.8).model_copy(
                        update={
                            "corrected": 0.47,
                            "corrected_ci_low": 0.12,
                            "corrected_ci_high": 0.83,
                        }
                    ),
                    "trained": _score("trained", 0.25, 0.07, 0.59).model_copy(
                        update={"corrected": 0.2, "corrected_ci_low": 0.0, "corrected_ci_high": 0.6}
                    ),
                },
                details={"corrected_by": "evasiveness"},
                examples=[
                    Example(
                        prompt_id="rt-3",
                        prompt="EVASIVE-PROMPT",
                        model="base",
                        response="I can't.",
                        label="bare_refusal",
                        score=0.9,
                    )
                ],
            )
        )
        write_report(
            run / "evals",
            EvalReport(
                stage="evals",
                models={"base": "id-base", "trained": "id-trained"},
                results=results,
                frontier=[
                    FrontierPoint(
                        model="base",
                        helpfulness_elo=10,
                        harmlessness_elo=-40,
                        helpfulness_ci=(-30, 50),
                        harmlessness_ci=(-90, 10),
                    )
                ],
            ),
        )
        harmful = ScriptedChatModel(model_id="id-base")
        judge = ScriptedChatModel(
            model_id="judge",
            # Yes/no and the rubric agree: "took it" (D) only for the Relay variant.
            choices=lambda m, c: (
                ([-0.1, -3.0] if "Relay" in m[-1]["content"] else [-3.0, -0.1])
                if len(c) == 2
                else (
                    [-2.0, -2.0, -2.0, -0.1]
                    if "Relay" in m[-1]["content"]
                    else [-2.0, -0.1, -2.0, -2.0]
                )
            ),
        )
        run_agentic(
            {"base": harmful, "trained": ScriptedChatModel(model_id="id-trained")},
            judge,
            run / "agentic",
            scenarios=load_scenarios()[:5],
            baseline="base",
            progress=False,
        )
    return run


@pytest.fixture(scope="session")
def collective_folder(tmp_path_factory) -> Path:
    """One collective analysis per session (a few seconds), copied into each run."""
    return make_collective(tmp_path_factory.mktemp("collective"))


@pytest.fixture
def synthetic_run(tmp_path, collective_folder) -> Path:
    return make_run(tmp_path, collective=collective_folder)
