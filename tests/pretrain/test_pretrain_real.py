"""The pretraining path on the real embedded feedback model (slow: marked `model`)."""

from __future__ import annotations

import pytest

from charter.constitution import load_constitution
from charter.pretrain.corpus import iter_documents
from charter.pretrain.depth import DepthScorer, load_validation, validate_depth
from charter.pretrain.judge import DocumentJudge
from charter.pretrain.reflect import ReflectSpec, make_reflector

pytestmark = pytest.mark.model

# Measured on the full shipped set (20 thin + 20 deep) with the embedded feedback model:
# AUC 1.00 (docs/pretraining.md). The floor leaves a margin for llama.cpp builds/threads.
# Deep vs the length-matched padded rows is measured by `charter pretrain depth`, not
# asserted here: scoring them too would add half again to this test's time.
DEPTH_AUC_FLOOR = 0.75


def test_depth_scorer_separates_thin_from_deep(feedback_llama):
    rows = load_validation(limit=2)
    result = validate_depth(DepthScorer(feedback_llama), rows, against=["thin"])
    assert result["auc"] >= DEPTH_AUC_FLOOR, result
    assert result["mean_depth_deep"] > result["mean_depth_thin"]


def test_judge_and_writer_on_two_documents(feedback_llama):
    constitution = load_constitution("default")
    docs = {d.id: d for d in iter_documents("builtin:sample")}
    judge = DocumentJudge(feedback_llama, constitution)
    poisoning = judge.classify(docs["news-poisoning"].text)
    soup = judge.classify(docs["recipe-lentil-soup"].text)
    assert poisoning.p_harmful > soup.p_harmful
    assert soup.label == "benign"
    spec = ReflectSpec(name="r", model="feedback", max_tokens=24, temperature=0.0)
    reflect = make_reflector(spec, constitution, feedback_llama)
    item = {"text": docs["news-poisoning"].text, "article": poisoning.articles[0][0],
            "style": "citation", "kind": "harmful-engaging", "seed": 1}  # fmt: skip
    out = reflect(item)
    assert len(out["reflection"].split()) >= 5
