"""Statistics (ECE, macro-F1, Rogan-Gladen) and logistic models fitted on dev."""

from __future__ import annotations

import random

import pytest

from charter.errors import DatasetError
from charter.feedback.fit import LogisticModel, fit_logistic
from charter.feedback.stats import (
    bootstrap,
    confusion_matrix,
    corrected_rate_interval,
    expected_calibration_error,
    macro_f1,
    rate,
    roc_auc,
    rogan_gladen,
    wilson_interval,
)


def test_wilson_and_rate_agree_at_zero():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert rate(0, 0) == (0.0, 0.0, 1.0)
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.490, abs=1e-3) and high == pytest.approx(0.943, abs=1e-3)


def test_confusion_and_macro_f1():
    pairs = [("a", "a"), ("a", "b"), ("b", "b"), ("b", "b"), ("c", "a")]
    matrix = confusion_matrix(pairs, ("a", "b", "c"))
    assert matrix == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    # F1: a = 2*1/(2+2) = 0.5, b = 2*2/(2+3) = 0.8, c = 0 -> mean 0.433
    assert macro_f1(matrix) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert macro_f1([[3, 0], [0, 0]]) == 1.0  # a class that never occurs is left out


def test_expected_calibration_error():
    assert expected_calibration_error([0.9] * 10, [True] * 9 + [False]) == pytest.approx(0.0)
    assert expected_calibration_error([0.9] * 10, [False] * 10) == pytest.approx(0.9)
    assert expected_calibration_error([], []) == 0.0


def test_rogan_gladen_inverts_a_known_judge_error():
    true_rate, se, sp = 0.3, 0.8, 0.9
    observed = true_rate * se + (1 - true_rate) * (1 - sp)
    assert rogan_gladen(observed, se, sp) == pytest.approx(true_rate)
    assert rogan_gladen(0.5, 0.5, 0.5) == 0.5  # a chance-level judge corrects nothing
    assert rogan_gladen(0.01, 0.8, 0.9) == 0.0  # clipped to [0, 1]


def test_the_corrected_interval_widens_with_an_uncertain_card():
    sharp = corrected_rate_interval(30, 100, (400, 500), (450, 500))
    vague = corrected_rate_interval(30, 100, (8, 10), (9, 10))
    assert sharp[0] == pytest.approx(vague[0])
    assert sharp[1] <= sharp[0] <= sharp[2]
    assert (vague[2] - vague[1]) > (sharp[2] - sharp[1])
    assert corrected_rate_interval(0, 0, (1, 1), (1, 1)) == (0.0, 0.0, 1.0)


def test_bootstrap_and_auc():
    low, high = bootstrap([0, 1] * 50, lambda xs: sum(xs) / len(xs), rounds=300)
    assert low < 0.5 < high
    assert roc_auc([0.9, 0.8], [0.1, 0.8]) == pytest.approx(0.875)


def test_a_fitted_logistic_model_separates_and_round_trips(tmp_path):
    rng = random.Random(0)
    rows, labels = [], []
    for _ in range(80):
        y = rng.random() < 0.5
        rows.append({"signal": (1.5 if y else -1.5) + rng.gauss(0, 0.7), "noise": rng.gauss(0, 1)})
        labels.append("pos" if y else "neg")
    model = fit_logistic(rows, labels, ("pos", "neg"), fitted_on="unit test")
    assert model.probs({"signal": 2.0, "noise": 0.0})["pos"] > 0.9
    assert model.probs({"signal": -2.0, "noise": 0.0})["pos"] < 0.1
    weight = dict(zip(model.features, model.weights[0], strict=True))
    assert abs(weight["signal"]) > abs(weight["noise"])  # the signal weighs more
    path = tmp_path / "m.json"
    model.save(path)
    assert LogisticModel.load(path) == model
    with pytest.raises(DatasetError, match="needs features noise"):
        model.probs({"signal": 1.0})
    with pytest.raises(DatasetError, match="not among the classes"):
        fit_logistic(rows, ["maybe"] * len(rows), ("pos", "neg"))
    with pytest.raises(DatasetError, match="no fitted judge"):
        LogisticModel.load(tmp_path / "missing.json")
