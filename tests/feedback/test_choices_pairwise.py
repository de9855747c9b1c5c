"""The one rule for choice log-probs, and pairwise verdicts in both orders."""

from __future__ import annotations

import math

import pytest

from charter.backends.scripted import ScriptedChatModel
from charter.errors import ConfigError, MalformedOutputError
from charter.feedback.choices import check_logprobs, checked_logprobs, choice_probs, require_scorer
from charter.feedback.pairwise import (
    PairVerdict,
    both_orders,
    clamp_label,
    ensemble,
    ensemble_label,
)

LOG = math.log


def test_minus_infinity_for_some_choices_is_allowed():
    assert check_logprobs([-0.1, -math.inf], ("A", "B")) == (-0.1, -math.inf)
    judge = ScriptedChatModel(choices=lambda m, c: [LOG(0.25), LOG(0.75)])
    assert choice_probs(judge, [{"role": "user", "content": "q"}], ("A", "B")) == pytest.approx(
        [0.25, 0.75]
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([float("nan"), -1.0], "NaN or \\+inf"),
        ([math.inf, -1.0], "NaN or \\+inf"),
        ([-1.0], "1 log-probs for 2 choices"),
        ([-math.inf, -math.inf], "none of the choices \\(A, B\\) any probability"),
        (["x", "y"], "non-numeric"),
        (None, "non-numeric"),
    ],
)
def test_unusable_log_probs_are_one_malformed_output_error(raw, message):
    with pytest.raises(MalformedOutputError, match=message) as info:
        check_logprobs(raw, ("A", "B"))
    assert info.value.raw == repr(raw)


def test_checked_logprobs_asks_the_scorer_for_exactly_the_choices():
    seen = []

    def choices(messages, options):
        seen.append(list(options))
        return [-0.1, -2.0]

    judge = ScriptedChatModel(choices=choices)
    assert checked_logprobs(judge, [{"role": "user", "content": "q"}], ("Yes", "No")) == (
        -0.1,
        -2.0,
    )
    assert seen == [["Yes", "No"]]


def test_a_model_without_log_probs_is_refused_in_one_line():
    class TextOnly:
        model_id = "api:text-only"

    with pytest.raises(ConfigError, match="api:text-only: gives no choice log-probs") as info:
        require_scorer(TextOnly())
    assert "\n" not in str(info.value)


def test_both_orders_reports_bias_flip_and_margin():
    # The judge always prefers whatever is shown as (A): a pure position bias.
    verdict = both_orders(lambda a, b: 0.8, "x", "y")
    assert verdict.p_order1 == 0.8 and verdict.p_order2 == pytest.approx(0.2)
    assert verdict.p_first == pytest.approx(0.5) and verdict.margin == pytest.approx(0.0)
    assert verdict.position_bias == pytest.approx(0.6) and verdict.flipped
    # A judge that reads content agrees with itself across orders.
    steady = both_orders(lambda a, b: 0.9 if a == "good" else 0.2, "good", "bad")
    assert not steady.flipped and steady.p_first == pytest.approx(0.85)
    assert steady.margin == pytest.approx(0.35)


def test_ensembles_weight_verdicts_and_reject_bad_input():
    a, b = PairVerdict(0.9, 0.7), PairVerdict(0.3, 0.5)
    assert ensemble([a, b]).p_first == pytest.approx(0.6)
    assert ensemble([a, b], [3, 1]).p_order1 == pytest.approx(0.75)
    assert ensemble_label([(0.8, 0.4)]) == pytest.approx((0.6, 0.4))
    with pytest.raises(ValueError):
        ensemble([])
    with pytest.raises(ValueError):
        ensemble([a], [0])
    with pytest.raises(ValueError):
        PairVerdict(1.2, 0.5)
    with pytest.raises(ValueError):
        ensemble_label([])


def test_clamp_label():
    assert clamp_label(0.93) == 0.6 and clamp_label(0.02) == 0.4 and clamp_label(0.55) == 0.55
    assert clamp_label(0.9, 0.3, 0.8) == 0.8
    with pytest.raises(ValueError):
        clamp_label(0.5, 0.7, 0.6)


def test_order_consistency_removes_the_lean_before_comparing_orders():
    from charter.feedback.pairwise import PairVerdict, order_consistency

    assert order_consistency([]) is None
    # Leans 0.1 toward (A) and reads the replies: every raw verdict flips, none debiased.
    reads = [PairVerdict(0.55 + 0.1, 0.55 - 0.1)] * 6
    assert all(v.flipped for v in reads)
    result = order_consistency(reads)
    assert result == {
        "agree": 6, "pairs": 6, "lean": pytest.approx(0.1), "rho": None, "test": "sign",
        "p_value": 1 / 64,
    }  # fmt: skip
    # Position only: nothing is left once the lean is gone (ties count against).
    position = order_consistency([PairVerdict(0.6, 0.4)] * 6)
    assert position["agree"] == 0 and position["p_value"] == 1.0
    # Noise: the debiased orders disagree about as often as they agree.
    noise = [PairVerdict(0.5 + a, 0.5 + b) for a, b in [(0.1, -0.1), (-0.1, 0.1), (0.1, 0.1)]]
    assert order_consistency(noise)["agree"] == 1


def test_order_consistency_correlates_the_orders_when_they_vary():
    from charter.feedback.pairwise import PairVerdict, order_consistency

    # Reads the replies (q varies by pair, either side of 0.5) and leans 0.1 toward (A).
    q = [0.3, 0.35, 0.4, 0.45, 0.55, 0.6, 0.65, 0.7]
    result = order_consistency([PairVerdict(x + 0.1, x - 0.1) for x in q])
    assert result["test"] == "spearman" and result["rho"] == pytest.approx(1.0)
    assert result["p_value"] < 0.001 and result["agree"] == 8
    # A lean that varies by pair and nothing else pushes the orders apart.
    lean_only = order_consistency([PairVerdict(0.5 + b, 0.5 - b) for b in (0.01, 0.05, 0.1, 0.2)])
    assert lean_only["rho"] == pytest.approx(-1.0) and lean_only["p_value"] == 1.0
