"""Paired tests: each model against the baseline on the same judged items.

Every model of an eval stage answers the same prompts, so two rates are not
independent samples: the right comparison counts the items on which the two
models disagree. For each model and each binary outcome (refused a safe prompt,
complied with a harmful one, refused barely rather than engaging) this gives
the paired difference with Newcombe's interval and the exact McNemar test on
the discordant items (:mod:`charter.feedback.stats`). A model's figure then
reads "significant" only when ``p < ALPHA``; otherwise the report calls it
inconclusive at that ``n``.
"""

from __future__ import annotations

from collections.abc import Mapping

from charter.evals.results import PairedTest
from charter.feedback.stats import mcnemar_exact, paired_difference

ALPHA = 0.05


def paired_test(
    outcomes: Mapping[str, bool], baseline: Mapping[str, bool], baseline_key: str
) -> PairedTest:
    """One model's outcomes against the baseline's, on the items both have (keyed by prompt id)."""
    shared = [item for item in outcomes if item in baseline]
    pairs = [(outcomes[item], baseline[item]) for item in shared]
    only_this = sum(1 for mine, theirs in pairs if mine and not theirs)
    only_baseline = sum(1 for mine, theirs in pairs if theirs and not mine)
    difference, low, high = paired_difference(pairs)
    p_value = mcnemar_exact(only_this, only_baseline)
    return PairedTest(
        baseline=baseline_key,
        n=len(pairs),
        difference=difference,
        ci_low=low,
        ci_high=high,
        only_this=only_this,
        only_baseline=only_baseline,
        p_value=p_value,
        significant=p_value < ALPHA,
    )


def paired_tests(
    outcomes: Mapping[str, Mapping[str, bool]], baseline: str | None
) -> dict[str, PairedTest]:
    """Every model but the baseline against it: model key -> its paired test."""
    if baseline is None or baseline not in outcomes:
        return {}
    return {
        model: paired_test(items, outcomes[baseline], baseline)
        for model, items in outcomes.items()
        if model != baseline
    }
