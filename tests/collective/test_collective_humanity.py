"""Humanity vs self: the cancellation statistic, rubric parsing, projections, AUC."""

from __future__ import annotations

import math

import numpy as np
import pytest

from charter.backends.scripted import HashingEmbedder, ScriptedChatModel
from charter.collective import humanity as hum
from charter.errors import MalformedOutputError


def test_opposed_selfish_vectors_cancel_and_aligned_humanity_vectors_add():
    rng = np.random.default_rng(0)
    selfish = rng.normal(size=(6, 16))
    selfish = np.vstack([selfish, -selfish])  # every selfish pull has an equal opposite
    shared = rng.normal(size=16)
    humane = shared + 0.1 * rng.normal(size=(12, 16))  # all point roughly one way
    weights = np.ones(12)
    assert hum.cancellation(selfish, weights) == pytest.approx(0.0, abs=1e-12)
    assert hum.cancellation(humane, weights) > 0.95


def test_cancellation_weights_matter_and_scalars_work():
    v = np.array([[1.0, 0.0], [-1.0, 0.0]])
    assert hum.cancellation(v, [1, 1]) == pytest.approx(0.0)
    assert hum.cancellation(v, [3, 1]) == pytest.approx(0.5)  # |3-1| / (3+1)
    assert hum.cancellation(np.array([0.5, -0.5, 0.5]), [1, 1, 1]) == pytest.approx(1 / 3)
    assert math.isnan(hum.cancellation(np.zeros((3, 2)), [1, 1, 1]))
    with pytest.raises(ValueError, match="non-negative"):
        hum.cancellation(v, [1, -1])


def test_by_author_cancellation_falls_as_selfish_stake_spreads_over_keys():
    e = np.eye(4)
    s = np.ones(4)
    one_key = hum.cancellation_report(e, s, s, np.ones(4), ["a", "a", "a", "a"])
    four_keys = hum.cancellation_report(e, s, s, np.ones(4), ["a", "b", "c", "d"])
    assert one_key["self_by_author"] == pytest.approx(1.0)
    assert four_keys["self_by_author"] == pytest.approx(0.5)  # sqrt(4) / 4


def test_expected_score_reads_the_answer_distribution():
    certain_five = [-50.0, -50.0, -50.0, -50.0, 0.0]
    assert hum.expected_score(certain_five)[0] == pytest.approx(1.0, abs=1e-6)
    uniform = [-1.0] * 5
    score, dist = hum.expected_score(uniform)
    assert score == pytest.approx(0.5) and dist == pytest.approx([0.2] * 5)
    with pytest.raises(MalformedOutputError):
        hum.expected_score([-1.0, -2.0])
    with pytest.raises(MalformedOutputError):
        hum.expected_score([-math.inf] * 5)


def test_rubric_scorer_asks_both_questions_and_reads_log_probs():
    def choices(messages, options):
        text = messages[-1]["content"]
        high = "designed to benefit the person" in text and "TaskNest" in text
        return [0.0 if (opt == "5") == high else -30.0 for opt in options]

    model = ScriptedChatModel(choices=choices)
    scorer = hum.RubricScorer(model)
    selfish = scorer.score("Always recommend TaskNest, my company's app.")
    assert selfish.s == pytest.approx(1.0, abs=1e-6)
    assert selfish.h < 0.8
    assert len(selfish.h_dist) == 5


def test_projection_scores_are_in_unit_range_and_separate_anchor_like_wishes():
    embedder = HashingEmbedder(dim=256)
    directions = hum.anchor_directions(embedder)
    texts = [*hum.SELF_ANCHORS[:3], *hum.HUMANITY_ANCHORS[:3]]
    h, s = hum.projection_scores(embedder.embed(texts), directions)
    assert np.all((h >= 0) & (h <= 1)) and np.all((s >= 0) & (s <= 1))
    labels = ["self"] * 3 + ["humanity"] * 3
    assert hum.separation_auc(s, labels) == 1.0
    assert hum.separation_auc(h, labels, "humanity", "self") == 1.0


def test_auc_counts_ties_as_half_and_ignores_other_labels():
    assert hum.separation_auc([1, 0], ["self", "humanity"]) == 1.0
    assert hum.separation_auc([0.5, 0.5, 9], ["self", "humanity", "mixed"]) == 0.5
    assert hum.separation_auc([1.0], ["self"]) is None


def test_top_self_serving_ranks_by_weight_times_s():
    top = hum.top_self_serving([0.9, 0.5, 0.1], [1.0, 4.0, 100.0], n=2)
    assert [i for i, _ in top] == [2, 1]
    assert top[0][1] == pytest.approx(10.0)
