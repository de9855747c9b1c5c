"""The length-matched `padded` reflections: the depth validation set can catch length."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from charter.backends.scripted import ScriptedChatModel
from charter.errors import DatasetError
from charter.pretrain.depth import DepthScorer, load_validation, validate_depth

from .conftest import scripted_choices

VALIDATION = load_validation()
PAIRS = {(r["doc_id"], r["label"]): r["reflection"] for r in VALIDATION}


def _words(text: str) -> int:
    return len(text.split())


def _reflection(messages) -> str:
    content = messages[-1]["content"]
    return content.split("Reflection:\n<<<\n", 1)[1].split("\n>>>", 1)[0]


def length_only(messages, choices):
    """A grader that only counts words: P(Yes) rises smoothly with length."""
    p = _words(_reflection(messages)) / (_words(_reflection(messages)) + 40)
    return [math.log(p), math.log(1 - p)]


DEEP_TEXTS = {r["reflection"] for r in VALIDATION if r["label"] == "deep"}


def knows_depth(messages, choices):
    """A grader that recognises the deep reflections whatever their length."""
    return [-0.1, -3.0] if _reflection(messages) in DEEP_TEXTS else [-3.0, -0.1]


def test_every_document_has_a_length_matched_padded_reflection():
    docs = {doc for doc, _ in PAIRS}
    assert len(docs) == 20
    for doc in docs:
        deep, padded = PAIRS[(doc, "deep")], PAIRS[(doc, "padded")]
        assert abs(_words(padded) / _words(deep) - 1) <= 0.15, doc
        assert _words(PAIRS[(doc, "thin")]) < 20
    # written one by one, not one template with the topic swapped in
    openings = {" ".join(PAIRS[(d, "padded")].split()[:3]) for d in docs}
    assert len(openings) >= 15


def test_length_only_scorer_separates_thin_but_not_padded():
    result = validate_depth(DepthScorer(ScriptedChatModel(choices=length_only)), VALIDATION)
    assert result["against"]["thin"]["auc"] == 1.0
    assert result["against"]["padded"]["auc"] <= 0.7
    assert all(v <= 0.7 for v in result["against"]["padded"]["criterion_auc"].values())
    words = result["mean_words"]
    assert words["thin"] < 20 and abs(words["padded"] / words["deep"] - 1) <= 0.15
    assert result["n"] == {"deep": 20, "thin": 20, "padded": 20}


def test_threshold_length_scorer_ties_deep_and_padded(scripted_model):
    # the shared scripted grader calls anything over 30 words deep
    result = validate_depth(DepthScorer(scripted_model), load_validation(limit=4))
    assert result["against"]["thin"]["auc"] == 1.0
    assert result["against"]["padded"]["auc"] == 0.5


def test_a_depth_aware_scorer_separates_both():
    result = validate_depth(DepthScorer(ScriptedChatModel(choices=knows_depth)), VALIDATION)
    assert result["against"]["thin"]["auc"] == result["against"]["padded"]["auc"] == 1.0
    assert result["mean_depth"]["deep"] > result["mean_depth"]["padded"]


def test_against_scores_only_the_requested_labels():
    asked = []

    def counting(messages, choices):
        asked.append(_reflection(messages))
        return scripted_choices(messages, choices)

    rows = load_validation(limit=2)
    result = validate_depth(DepthScorer(ScriptedChatModel(choices=counting)), rows, ["padded"])
    assert list(result["against"]) == ["padded"]
    assert "auc" not in result  # the flat thin/deep keys only where thin was scored
    assert len(asked) == 4 * 4  # 2 deep + 2 padded, four criteria each
    with pytest.raises(DatasetError, match="'poem' is not one of"):
        validate_depth(DepthScorer(ScriptedChatModel(choices=counting)), rows, ["poem"])


def test_thin_deep_only_files_keep_the_old_report(tmp_path, scripted_model):
    path = tmp_path / "old.jsonl"
    old = [r for r in load_validation(limit=3) if r["label"] != "padded"]
    fields = ("id", "doc_id", "reflection", "label")
    path.write_text("".join(json.dumps({k: r[k] for k in fields}) + "\n" for r in old))
    result = validate_depth(DepthScorer(scripted_model), load_validation(str(path)))
    assert list(result["against"]) == ["thin"]
    assert result["auc"] == 1.0 and result["n_deep"] == result["n_thin"] == 3
    assert set(result["criterion_auc"]) == {"identifies", "explains", "weighs", "earnest"}
    assert result["mean_depth_deep"] > result["mean_depth_thin"]
    with pytest.raises(DatasetError, match="no 'padded' rows"):
        validate_depth(DepthScorer(scripted_model), load_validation(str(path)), ["padded"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"doc_id": "news-poisoning", "reflection": "x", "label": "shallow"}',
         r"old\.jsonl:2: field label is 'shallow'; use one of 'deep', 'thin', 'padded'"),
        ('{"doc_id": "news-poisoning", "reflection": "", "label": "padded"}',
         "field reflection must be a non-empty text"),
        ('{"doc_id": "no-such-doc", "reflection": "x", "label": "padded"}', "give a `document`"),
        ("not json", "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
    ],
)  # fmt: skip
def test_malformed_rows_are_one_line_dataset_errors(tmp_path, line, message):
    path = tmp_path / "old.jsonl"
    good = '{"doc_id": "news-poisoning", "reflection": "Deep.", "label": "deep"}'
    path.write_text(good + "\n" + line + "\n")
    with pytest.raises(DatasetError, match=message) as info:
        load_validation(str(path))
    assert "\n" not in str(info.value)


def test_missing_file_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="cannot read the validation set"):
        load_validation(str(tmp_path / "absent.jsonl"))


def test_cli_prints_both_comparisons(monkeypatch):
    from charter.cli.main import app

    model = ScriptedChatModel(choices=length_only, model_id="length-only")
    monkeypatch.setattr("charter.backends.registry.load_chat_model", lambda spec: model)
    result = CliRunner().invoke(app, ["pretrain", "depth", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert "AUC deep > thin: 1.000" in result.output
    assert "AUC deep > padded:" in result.output and "words" in result.output
    thin = CliRunner().invoke(app, ["pretrain", "depth", "--limit", "2", "--against", "thin"])
    assert "padded" not in thin.output
    wrong = CliRunner().invoke(app, ["pretrain", "depth", "--against", "long"])
    assert wrong.exit_code != 0
