"""classify -> reflect -> mix through run_experiment, on the scripted backend."""

from __future__ import annotations

import json

import pytest
import yaml

from charter.errors import ConfigError, VerificationError
from charter.pretrain import classify, reflect
from charter.pretrain.manifest import verify_mix
from charter.pretrain.tokens import ALIGNED, ASSISTANT_OPEN, MISALIGNED
from charter.runs import run_experiment
from charter.runs.store import read_jsonl

from .conftest import scripted_choices, scripted_reply

LIMIT = 20  # the first 20 sample documents: benign and harmful both appear


def _config(tmp_path, **classify_extra):
    config = {
        "name": "pt",
        "seed": 3,
        "output_dir": str(tmp_path / "run"),
        "models": {"judge": {"backend": "scripted", "model": "judge"}},
        "embedder": {"backend": "hashing"},
        "stages": [
            {
                "name": "classify",
                "kind": "pretrain_classify",
                "model": "judge",
                "limit": LIMIT,
                **classify_extra,
            },
            {"name": "reflect", "kind": "pretrain_reflect", "model": "judge", "scorer": "judge"},
            {"name": "mix", "kind": "pretrain_mix"},
        ],
    }
    path = tmp_path / "pt.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def scripted_run(tmp_path, monkeypatch):
    """Every model key loads the scripted judge/writer."""
    from charter.backends.scripted import ScriptedChatModel

    model = ScriptedChatModel(scripted_reply, scripted_choices, model_id="scripted-judge")
    monkeypatch.setattr("charter.runs.context.load_chat_model", lambda spec: model)
    return model


def test_whole_path_classifies_reflects_and_mixes(tmp_path, scripted_run):
    summary = run_experiment(_config(tmp_path), progress=False)
    run = tmp_path / "run"
    rows = list(read_jsonl(run / "classify" / classify.OUTPUT))
    assert len(rows) == LIMIT
    gold = {r["id"]: r["meta"]["gold"] for r in rows}
    assert all(r["label"] == gold[r["id"]] for r in rows)
    harmful = [r for r in rows if r["label"] == "harmful"]
    assert harmful and harmful[0]["articles"][0]["id"] == "2.3" and harmful[0]["severity"] == 2
    assert rows[0]["provenance"]["model_id"] == "scripted-judge"
    assert rows[0]["provenance"]["constitution_hash"] == summary.constitution_hash

    refl = list(read_jsonl(run / "reflect" / reflect.OUTPUT))
    assert len(refl) == 3 * LIMIT
    by_style = {s: [r for r in refl if r["style"] == s] for s in reflect.STYLES}
    # the scripted grader scores the long `explained` text deeper than the thin citation
    assert min(r["depth"] for r in by_style["explained"]) > max(
        r["depth"] for r in by_style["citation"]
    )
    assert {r["kind"] for r in refl} == {"harmful-engaging", "benign-appreciative"}

    mixes = summary.stages["mix"]["mixes"]
    assert set(mixes) >= {"raw", "filter", "tag", "gated_explained", "both_explained"}
    for name in mixes:
        assert verify_mix(run / "mix" / name)["root"] == mixes[name]
    docs = {n: list(read_jsonl(run / "mix" / n / "docs.jsonl")) for n in mixes}
    assert len(docs["raw"]) == LIMIT
    assert len(docs["filter"]) == LIMIT - len(harmful)
    assert all(
        d["text"].startswith(MISALIGNED if d["class"] == "harmful" else ALIGNED)
        for d in docs["tag"]
    )
    assert all(ASSISTANT_OPEN in d["text"] for d in docs["gated_explained"])
    assert not any(ASSISTANT_OPEN in d["text"] for d in docs["decoupled_explained"])
    assert {d["mode"] for d in docs["both_explained"]} == {"gated", "decoupled"}
    assert len(docs["decoupled_explained_dilemmas"]) == LIMIT + 8
    card = json.loads((run / "mix" / "gated_explained" / "card.json").read_text())
    assert card["counts"]["by_class"] == {"benign": LIMIT - len(harmful), "harmful": len(harmful)}
    assert card["counts"]["by_style"] == {"explained": LIMIT}
    assert card["counts"]["by_article"]["2.3"] == len(harmful)
    assert card["classifier"]["threshold"] == 0.5
    assert card["constitution_hash"] == summary.constitution_hash
    assert "Merkle root" in (run / "mix" / "gated_explained" / "card.md").read_text()


def test_rerun_resumes_without_duplicates(tmp_path, scripted_run):
    path = _config(tmp_path)
    run_experiment(path, progress=False)
    calls = len(scripted_run.calls)
    second = run_experiment(path, progress=False)
    assert second.stages["classify"]["new"] == 0 and second.stages["reflect"]["new"] == 0
    assert len(scripted_run.calls) == calls  # nothing was asked again
    rows = list(read_jsonl(tmp_path / "run" / "classify" / classify.OUTPUT))
    assert len(rows) == len({r["key"] for r in rows}) == LIMIT


def test_embedding_classifier_labels_past_the_judge_limit(tmp_path, scripted_run):
    run_experiment(_config(tmp_path, judge_limit=12), progress=False)
    rows = list(read_jsonl(tmp_path / "run" / "classify" / classify.OUTPUT))
    assert [r["classifier"] for r in rows].count("judge") == 12
    assert [r["classifier"] for r in rows].count("embedding") == LIMIT - 12
    summary = json.loads((tmp_path / "run" / "classify" / classify.SUMMARY).read_text())
    assert summary["n_train"] + summary["n_heldout"] == 12
    assert summary["n_embedding_labelled"] == LIMIT - 12


def test_tampered_mix_fails_verification(tmp_path, scripted_run):
    run_experiment(_config(tmp_path), progress=False)
    mix = tmp_path / "run" / "mix" / "raw"
    lines = (mix / "docs.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    row["text"] += " (edited)"
    (mix / "docs.jsonl").write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")
    with pytest.raises(VerificationError, match="the text was changed"):
        verify_mix(mix)


def test_contextualize_without_reflect_stage_is_a_config_error(tmp_path, scripted_run):
    path = _config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["stages"] = [config["stages"][0], {"name": "mix", "kind": "pretrain_mix"}]
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="contextualize mixes need a pretrain_reflect"):
        run_experiment(path, progress=False)


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ({"name": "m", "kind": "pretrain_mix",
          "mixes": [{"name": "x", "strategy": "contextualize"}]},
         "contextualize needs placement and style"),
        ({"name": "m", "kind": "pretrain_mix", "mixes": [{"name": "x", "strategy": "raw",
                                                          "style": "citation"}]},
         "placement and style are for contextualize"),
        ({"name": "c", "kind": "pretrain_classify", "model": "judge", "threshold": 1.5},
         "field threshold"),
        ({"name": "c", "kind": "pretrain_classify", "model": "judge",
          "harm_template": "no placeholder"}, r"lacks \{document\}"),
        ({"name": "r", "kind": "pretrain_reflect", "model": "judge", "styles": ["poem"]},
         "field styles"),
    ],
)  # fmt: skip
def test_bad_stage_settings_are_one_line_config_errors(tmp_path, stage, message):
    path = _config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["stages"] = [stage]
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=message) as info:
        run_experiment(path, progress=False)
    assert "\n" not in str(info.value)


def test_reflect_needs_an_earlier_classify_stage(tmp_path, scripted_run):
    path = _config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["stages"] = [config["stages"][1]]
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"field source: 'classify' has no classified\.jsonl"):
        run_experiment(path, progress=False)
