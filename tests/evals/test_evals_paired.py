"""Paired tests against the baseline: each model's rates compared prompt by prompt."""

from __future__ import annotations

import pytest

from charter.evals.evasive import evasiveness_result
from charter.evals.paired import paired_test, paired_tests
from charter.evals.refusal import refusal_results
from charter.prompts import PromptRecord


def test_a_model_that_stopped_complying_is_significant_and_one_that_did_not_is_not():
    base = {f"u{i}": True for i in range(40)}  # complied with all 40 harmful prompts
    safer = {f"u{i}": i < 10 for i in range(40)}  # still complies with 10
    same = {f"u{i}": i % 2 == 0 for i in range(40)}
    tests = paired_tests({"base": base, "safer": safer, "same": same}, "base")
    assert set(tests) == {"safer", "same"}
    assert tests["safer"].only_baseline == 30 and tests["safer"].only_this == 0
    assert tests["safer"].significant and tests["safer"].ci_high < 0
    assert tests["safer"].difference == pytest.approx(-0.75)
    tiny = paired_test({"u0": False, "u1": False}, {"u0": True, "u1": True}, "base")
    assert not tiny.significant  # two discordant items can never reach p < 0.05


def test_only_items_both_models_were_judged_on_are_paired():
    test = paired_test({"a": True, "b": False, "c": True}, {"a": False, "b": False}, "base")
    assert test.n == 2 and test.only_this == 1 and test.only_baseline == 0
    assert paired_tests({"m": {"a": True}}, None) == {}


def test_refusal_and_evasiveness_results_carry_the_paired_tests():
    prompts = [PromptRecord(id=f"s{i}", prompt=f"safe {i}", kind="safe") for i in range(3)] + [
        PromptRecord(id=f"u{i}", prompt=f"unsafe {i}", kind="unsafe") for i in range(3)
    ]
    refused = {
        "base": {"s0": False, "s1": False, "s2": False, "u0": False, "u1": False, "u2": True},
        "rl": {"s0": True, "s1": False, "s2": False, "u0": True, "u1": True, "u2": True},
    }
    false_refusal, compliance = refusal_results(refused, prompts)
    assert false_refusal.per_model["base"].paired is None
    fr = false_refusal.per_model["rl"].paired
    assert fr.baseline == "base" and fr.n == 3 and fr.only_this == 1 and fr.only_baseline == 0
    hc = compliance.per_model["rl"].paired
    assert hc.n == 3 and hc.only_baseline == 2 and hc.difference == pytest.approx(-2 / 3)

    labels = {
        "base": {"u0": "bare_refusal", "u1": "bare_refusal", "u2": "compliance"},
        "rl": {"u0": "engaged_refusal", "u1": "bare_refusal", "u2": "engaged_refusal"},
    }
    result = evasiveness_result(labels)
    paired = result.per_model["rl"].paired
    # Paired on the prompts both refused (u0, u1): rl is bare on one, base on both.
    assert paired.n == 2 and paired.only_baseline == 1 and paired.only_this == 0
    assert result.per_model["rl"].n == 3  # the rate itself still counts all of rl's refusals
