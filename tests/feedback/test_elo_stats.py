"""Bradley-Terry and Elo: known strengths are recovered; intervals cover them and reproduce."""

from __future__ import annotations

import math
import random

import pytest

from charter.feedback.elo import (
    ELO_PER_NAT,
    Comparison,
    elo_with_intervals,
    fit_bradley_terry,
    to_elo,
    win_probability,
)
from charter.feedback.stats import percentile_interval, wilson_interval

TRUE = {"base": 0.0, "sl": 0.8, "rl": -0.6, "other": 1.5}


def synthetic(n_prompts: int, seed: int = 1, soft: bool = False) -> list[Comparison]:
    """Every pair judged on every prompt; outcomes drawn from the true Bradley-Terry model."""
    rng = random.Random(seed)
    models = list(TRUE)
    out = []
    for k in range(n_prompts):
        for i, a in enumerate(models):
            for b in models[i + 1 :]:
                p = 1.0 / (1.0 + math.exp(TRUE[b] - TRUE[a]))
                out.append(Comparison(f"p{k}", a, b, p if soft else float(rng.random() < p)))
    return out


def test_mm_recovers_known_strengths_from_hard_outcomes():
    theta = fit_bradley_terry(list(TRUE), synthetic(1500), prior=0.0)
    for model, value in TRUE.items():
        assert theta[model] == pytest.approx(value, abs=0.08), model


def test_soft_outcomes_recover_strengths_exactly():
    theta = fit_bradley_terry(list(TRUE), synthetic(3, soft=True), prior=0.0)
    for model, value in TRUE.items():
        assert theta[model] == pytest.approx(value, abs=1e-6)


def test_elo_scale_anchor_and_win_probability():
    elo = to_elo(fit_bradley_terry(list(TRUE), synthetic(3, soft=True), prior=0.0))
    assert elo["base"] == 0.0
    assert elo["sl"] == pytest.approx(0.8 * ELO_PER_NAT, abs=1e-3)
    # The Elo difference implies the same win probability as the strengths.
    assert win_probability(elo["sl"], elo["base"]) == pytest.approx(1 / (1 + math.exp(-0.8)))


def test_prior_keeps_a_clean_sweep_finite():
    sweep = [Comparison(f"p{k}", "a", "b", 1.0) for k in range(5)]
    theta = fit_bradley_terry(["a", "b"], sweep, prior=1.0)
    # 5.5 wins to 0.5: the MLE of the two-player model is ln(11).
    assert theta["b"] == pytest.approx(-math.log(11), abs=1e-6)


def test_bootstrap_intervals_cover_truth_and_reproduce():
    data = synthetic(300)
    fit = elo_with_intervals(list(TRUE), data, bootstrap=60, seed=7, prior=0.0)
    again = elo_with_intervals(list(TRUE), data, bootstrap=60, seed=7, prior=0.0)
    assert fit.ci == again.ci
    assert fit.ci["base"] == (0.0, 0.0) and fit.n_prompts == 300
    for model in ("sl", "rl", "other"):
        low, high = fit.ci[model]
        assert low < TRUE[model] * ELO_PER_NAT < high, (model, fit.ci[model])
        assert high - low < 120


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown models"):
        fit_bradley_terry(["a"], [Comparison("p", "a", "z", 0.5)])
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        fit_bradley_terry(["a", "b"], [Comparison("p", "a", "b", 1.5)])


def test_wilson_interval_known_values():
    low, high = wilson_interval(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_percentile_interval():
    low, high = percentile_interval(list(range(101)))
    assert low == pytest.approx(2.5) and high == pytest.approx(97.5)


def test_mcnemar_exact_matches_the_binomial_tail():
    from charter.feedback.stats import mcnemar_exact

    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    # 0 vs 6 discordant: 2 * 0.5**6
    assert abs(mcnemar_exact(0, 6) - 2 / 64) < 1e-12
    assert abs(mcnemar_exact(6, 0) - mcnemar_exact(0, 6)) < 1e-12
    # 2 vs 10: 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * 79 / 4096
    assert abs(mcnemar_exact(2, 10) - 2 * 79 / 4096) < 1e-12
    assert mcnemar_exact(3, 12) < 0.05 < mcnemar_exact(4, 9)


def test_binomial_upper_tail_is_the_one_sided_sign_test():
    from charter.feedback.stats import binomial_upper_tail

    assert binomial_upper_tail(0, 0) == 1.0 == binomial_upper_tail(0, 7)
    assert binomial_upper_tail(6, 6) == pytest.approx(1 / 64)
    assert binomial_upper_tail(5, 6) == pytest.approx(7 / 64)
    assert binomial_upper_tail(3, 6) == pytest.approx(42 / 64)
    with pytest.raises(ValueError):
        binomial_upper_tail(7, 6)


def test_spearman_and_its_permutation_test():
    from charter.feedback.stats import correlation_test, spearman

    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 1, 2], [3, 2, 1]) == pytest.approx(-math.sqrt(3) / 2)  # average ranks
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0  # a constant has no ranks to correlate
    # Exact for 4 items: only the identity permutation reaches rho = 1, so p = 1/24.
    assert correlation_test([1, 2, 3, 4], [5, 6, 7, 8]) == (pytest.approx(1.0), 1 / 24)
    assert correlation_test([1, 2, 3, 4], [8, 7, 6, 5])[1] == 1.0
    rho, p = correlation_test(list(range(20)), list(range(20)), rounds=500, seed=1)
    assert rho == pytest.approx(1.0) and p == 1 / 501  # never 0 (the +1 correction)
    with pytest.raises(ValueError):
        spearman([1, 2], [1])
    with pytest.raises(ValueError):
        correlation_test([1, 2], [1])


def test_paired_difference_is_a_newcombe_interval():
    import math

    from charter.feedback.stats import mcnemar_exact, paired_difference, wilson_interval

    # (a, b, c, d) = (12, 9, 2, 21): the first model is positive on 21 items, the second on 14.
    pairs = [(True, True)] * 12 + [(True, False)] * 9 + [(False, True)] * 2 + [(False, False)] * 21
    diff, low, high = paired_difference(pairs)
    assert abs(diff - 7 / 44) < 1e-9
    assert -1 < low < diff < high < 1
    # Correlated pairs give a narrower interval than treating the two samples as independent.
    l1, u1 = wilson_interval(21, 44)
    l2, u2 = wilson_interval(14, 44)
    p1, p2 = 21 / 44, 14 / 44
    independent = (diff - math.hypot(p1 - l1, u2 - p2), diff + math.hypot(u1 - p1, p2 - l2))
    assert independent[0] < low and high < independent[1]
    assert mcnemar_exact(9, 2) > 0.05  # borderline: the exact test does not reject at 9 vs 2
    assert paired_difference([]) == (0.0, -1.0, 1.0)
    same = [(True, True)] * 5 + [(False, False)] * 5
    d, lo, hi = paired_difference(same)
    assert d == 0 and lo < 0 < hi
    all_moved = [(True, False)] * 30
    d, lo, hi = paired_difference(all_moved)
    assert d == 1 and 0.8 < lo <= 1 and hi == 1
