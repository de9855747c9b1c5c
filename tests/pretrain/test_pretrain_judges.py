"""The document judge, the embedding classifier and the depth scorer (scripted)."""

from __future__ import annotations

import math

import pytest

from charter.backends.scripted import HashingEmbedder, ScriptedChatModel
from charter.constitution import load_constitution
from charter.errors import MalformedOutputError
from charter.pretrain.corpus import iter_documents
from charter.pretrain.depth import DepthScorer, load_validation, roc_auc, validate_depth
from charter.pretrain.embed_classifier import EmbeddingClassifier, agreement, held_out
from charter.pretrain.judge import DocumentJudge

from .conftest import scripted_choices


@pytest.fixture(scope="module")
def constitution():
    return load_constitution("default")


def test_judge_reads_labels_from_choice_logprobs(constitution, scripted_model):
    judge = DocumentJudge(scripted_model, constitution, threshold=0.5, top_articles=2)
    docs = {d.meta["gold"]: d for d in iter_documents("builtin:sample", limit=3)}
    harmful = judge.classify(docs["harmful"].text)
    benign = judge.classify(docs["benign"].text)
    assert harmful.label == "harmful" and harmful.p_harmful > 0.9 and harmful.severity == 2
    assert harmful.articles[0][0] == "2.3" and len(harmful.articles) == 2
    assert benign.label == "benign" and benign.articles[0][0] == "4.1"
    assert sum(harmful.severity_probs) == pytest.approx(1.0)
    strict = DocumentJudge(scripted_model, constitution, threshold=0.99)
    assert strict.classify(docs["harmful"].text).label == "benign"  # the threshold decides


def test_judge_puts_the_document_before_the_question(constitution):
    messages = []

    def spy(msgs, choices):
        messages.append(msgs[-1]["content"])
        return scripted_choices(msgs, choices)

    DocumentJudge(ScriptedChatModel(choices=spy), constitution).classify("a short text")
    assert len(messages) == 3
    prefix = messages[0].split("Does this")[0]
    assert all(m.startswith(prefix) and "a short text" in prefix for m in messages)


def test_judge_rejects_unusable_logprobs(constitution):
    bad = ScriptedChatModel(choices=lambda m, c: [-math.inf] * len(c))
    with pytest.raises(MalformedOutputError, match="any probability"):
        DocumentJudge(bad, constitution).classify("text")
    short = ScriptedChatModel(choices=lambda m, c: [-1.0])
    with pytest.raises(MalformedOutputError, match="1 log-probs for 2 choices"):
        DocumentJudge(short, constitution).classify("text")


def test_embedding_classifier_learns_the_judges_labels():
    docs = list(iter_documents("builtin:sample"))
    rows = [
        {"id": d.id, "label": d.meta["gold"], "severity": 2 if d.meta["gold"] == "harmful" else 0,
         "articles": [{"id": "2.3" if d.meta["gold"] == "harmful" else "4.1"}]}
        for d in docs
    ]  # fmt: skip
    train = [(d, r) for d, r in zip(docs, rows, strict=True) if not held_out(d.id, 0.3)]
    test = [(d, r) for d, r in zip(docs, rows, strict=True) if held_out(d.id, 0.3)]
    assert train and test and held_out(docs[0].id, 0.3) == held_out(docs[0].id, 0.3)
    clf = EmbeddingClassifier(HashingEmbedder(dim=256)).fit(
        [d.text for d, _ in train], [r for _, r in train]
    )
    predicted = clf.predict([d.text for d, _ in test])
    result = agreement(predicted, [r for _, r in test])
    base = max(sum(r["label"] == c for _, r in test) for c in ("benign", "harmful")) / len(test)
    assert result["n"] == len(test)
    assert result["accuracy"] >= base  # at least the majority-class rate on held-out docs
    assert set(p["label"] for p in predicted) <= {"benign", "harmful"}


def test_agreement_counts_and_kappa():
    judged = [{"label": "harmful", "articles": [{"id": "1.1"}]}, {"label": "benign"}]
    same = [{"label": "harmful", "articles": [{"id": "1.1"}]}, {"label": "benign"}]
    flipped = [{"label": "benign"}, {"label": "harmful"}]
    assert agreement(same, judged)["accuracy"] == 1.0 and agreement(same, judged)["kappa"] == 1.0
    assert agreement(flipped, judged)["accuracy"] == 0.0
    assert agreement([], [])["accuracy"] is None


def test_roc_auc():
    assert roc_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert roc_auc([0.1], [0.9]) == 0.0
    assert roc_auc([0.5], [0.5]) == 0.5
    with pytest.raises(ValueError):
        roc_auc([], [0.1])


def test_validation_set_pairs_thin_and_deep():
    rows = load_validation()
    assert sum(r["label"] == "thin" for r in rows) >= 20
    assert sum(r["label"] == "deep" for r in rows) >= 20
    assert all(r["document"] for r in rows)
    thin = [len(r["reflection"].split()) for r in rows if r["label"] == "thin"]
    assert max(thin) < 20  # deliberately thin
    assert len(load_validation(limit=2)) == 6  # thin, deep and padded per document


def test_depth_scorer_and_validation_report(scripted_model):
    result = validate_depth(DepthScorer(scripted_model), load_validation(limit=3))
    assert result["auc"] == 1.0 and result["n_deep"] == result["n_thin"] == 3
    assert set(result["criterion_auc"]) == {"identifies", "explains", "weighs", "earnest"}
    blind = ScriptedChatModel(choices=lambda m, c: [-0.7, -0.7])
    assert validate_depth(DepthScorer(blind), load_validation(limit=3))["auc"] == 0.5
