"""Comparisons put into words, so a figure never claims more than its interval allows.

A difference whose 95% interval includes no difference is written
"inconclusive at n=…" beside the figure; so is any rate resting on fewer than
:data:`TINY_N` items. The intervals:

- two rates judged on the same items: the eval's paired test
  (:mod:`charter.evals.paired`: Newcombe's paired interval and the exact
  McNemar test); "significant" needs ``p < 0.05``;
- two rates without a paired test (older runs): Newcombe's hybrid score
  interval for a difference of independent proportions, built from each
  rate's Wilson interval (Newcombe 1998, *Statistics in Medicine* 17, method 10);
- two Elo ratings (or other figures with only their own intervals): the
  intervals overlapping is taken as inconclusive (conservative: two intervals
  may overlap a little while the difference's interval excludes 0);
- ablation means over seeds: mean ± t half-width, the same overlap rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from charter.errors import ConfigError
from charter.evals.results import EvalResult, ModelScore, PairedTest
from charter.evals.suites import get_suite
from charter.feedback.card import CalibrationCard
from charter.report.models import AblationRow, Verdict

TINY_N = 30  # below this many items a rate is shown, but not read as a conclusion


def _n(score: ModelScore) -> int:
    return score.n


def rate_difference(a: ModelScore, b: ModelScore) -> tuple[float, float, float] | None:
    """``a - b`` with Newcombe's 95% interval from the two Wilson intervals (None without them)."""
    if None in (a.ci_low, a.ci_high, b.ci_low, b.ci_high):
        return None
    diff = a.value - b.value
    low = diff - math.sqrt((a.value - a.ci_low) ** 2 + (b.ci_high - b.value) ** 2)
    high = diff + math.sqrt((a.ci_high - a.value) ** 2 + (b.value - b.ci_low) ** 2)
    return diff, low, high


def _overlap(a_low: float, a_high: float, b_low: float, b_high: float) -> bool:
    return a_low <= b_high and b_low <= a_high


def compare_to_baseline(result: EvalResult) -> list[Verdict]:
    """Each model against the result's baseline (or its first model), in words."""
    if len(result.per_model) < 2:
        return []
    base_key = (
        result.baseline if result.baseline in result.per_model else next(iter(result.per_model))
    )
    base = result.per_model[base_key]
    verdicts = []
    for key, score in result.per_model.items():
        if key == base_key:
            continue
        verdicts.append(_verdict(result, key, score, base_key, base))
    return verdicts


def _verdict(result: EvalResult, key: str, a: ModelScore, base_key: str, b: ModelScore) -> Verdict:
    n = f"n={_n(a)} vs {_n(b)}"
    if result.metric == "rate" and a.paired is not None and a.paired.baseline == base_key:
        return _paired_verdict(result, key, a.paired)
    if result.metric == "rate":
        found = rate_difference(a, b)
        if found is None:
            return Verdict(
                subject=key,
                baseline=base_key,
                conclusive=False,
                words=f"inconclusive at {n}: no intervals to compare",
            )
        diff, low, high = found
        if low <= 0 <= high or min(_n(a), _n(b)) < TINY_N:
            why = (
                "the difference's 95% interval includes 0" if low <= 0 <= high else "too few items"
            )
            return Verdict(
                subject=key,
                baseline=base_key,
                difference=diff,
                ci_low=low,
                ci_high=high,
                conclusive=False,
                words=f"inconclusive at {n}: {why}",
            )
        better = (diff > 0) == result.higher_is_better
        return Verdict(
            subject=key,
            baseline=base_key,
            difference=diff,
            ci_low=low,
            ci_high=high,
            conclusive=True,
            words=f"{'better' if better else 'worse'} than {base_key} by {abs(diff):.3f} "
            f"[{low:+.3f}, {high:+.3f}] ({n})",
        )
    diff = a.value - b.value
    # An Elo anchored at the baseline has a zero-width interval there, and a bootstrap
    # over a handful of prompts is itself unreliable: below TINY_N it is never a finding.
    why = None
    if min(_n(a), _n(b)) < TINY_N:
        why = "too few prompts for the bootstrap interval to mean much"
    elif None in (a.ci_low, a.ci_high, b.ci_low, b.ci_high) or _overlap(
        a.ci_low, a.ci_high, b.ci_low, b.ci_high
    ):
        why = "the 95% intervals overlap"
    if why is not None:
        return Verdict(
            subject=key,
            baseline=base_key,
            difference=diff,
            conclusive=False,
            words=f"inconclusive at {n}: {why}",
        )
    better = (diff > 0) == result.higher_is_better
    return Verdict(
        subject=key,
        baseline=base_key,
        difference=diff,
        conclusive=True,
        words=f"{'better' if better else 'worse'} than {base_key} by {abs(diff):.1f} ({n}; "
        "95% intervals apart)",
    )


def _paired_verdict(result: EvalResult, key: str, test: PairedTest) -> Verdict:
    interval = f"[{test.ci_low:+.3f}, {test.ci_high:+.3f}]"
    tail = (
        f"paired n={test.n}; discordant: {test.only_this} only {key}, "
        f"{test.only_baseline} only {test.baseline}; McNemar p={test.p_value:.3g}"
    )
    common = {
        "subject": key,
        "baseline": test.baseline,
        "difference": test.difference,
        "ci_low": test.ci_low,
        "ci_high": test.ci_high,
    }
    if not test.significant:
        return Verdict(
            **common, conclusive=False, words=f"inconclusive at n={test.n}: {interval} ({tail})"
        )
    better = (test.difference > 0) == result.higher_is_better
    return Verdict(
        **common,
        conclusive=True,
        words=f"{'better' if better else 'worse'} than {test.baseline} by "
        f"{abs(test.difference):.3f} {interval} ({tail})",
    )


def judge_warnings(result: EvalResult, cards: Sequence[CalibrationCard]) -> list[str]:
    """A warning for each judge behind ``result`` that its own calibration cannot tell from chance.

    The judges are those of the result's suite (for pairwise Elo, the preference
    judge of its criterion); chance is one over the card's number of labels.
    """
    try:
        judges = [name for name, _ in get_suite(result.suite).judges]
    except ConfigError:
        return []
    criterion = f"preference_{result.name.removesuffix('_elo')}"
    if criterion in judges:
        judges = [criterion]
    out = []
    for card in cards:
        chance = 1 / max(2, len(card.labels))
        if card.judge in judges and card.ci_low <= chance:
            out.append(
                f"judge {card.judge} ({card.method}) scored {card.accuracy:.2f} "
                f"[{card.ci_low:.2f}, {card.ci_high:.2f}] on its gold test split, an interval "
                f"that includes chance ({chance:.2f}): read this result as noise"
            )
    return out


def rate_reading(score: ModelScore) -> str:
    """A caution for a rate on too few items; empty when ``n`` is enough to read."""
    if score.n < TINY_N:
        return f"n={score.n}: too few items to read as a conclusion"
    return ""


def ablation_verdicts(rows: list[AblationRow], baseline: str) -> list[Verdict]:
    """Each mix against ``baseline`` in the same framing: misaligned propensity, over seeds."""
    base = {r.framing: r for r in rows if r.mix == baseline}
    verdicts = []
    for row in rows:
        other = base.get(row.framing)
        if row.mix == baseline or other is None:
            continue
        diff = row.propensity - other.propensity
        n = f"n={row.seeds} vs {other.seeds} seeds"
        subject = f"{row.mix} ({row.framing})"
        apart = not _overlap(
            row.propensity - row.propensity_ci95,
            row.propensity + row.propensity_ci95,
            other.propensity - other.propensity_ci95,
            other.propensity + other.propensity_ci95,
        )
        if min(row.seeds, other.seeds) < 2 or not apart:
            why = (
                "one seed has no interval"
                if min(row.seeds, other.seeds) < 2
                else "the 95% intervals overlap"
            )
            verdicts.append(
                Verdict(
                    subject=subject,
                    baseline=baseline,
                    difference=diff,
                    conclusive=False,
                    words=f"inconclusive at {n}: {why}",
                )
            )
        else:
            verdicts.append(
                Verdict(
                    subject=subject,
                    baseline=baseline,
                    difference=diff,
                    conclusive=True,
                    words=f"{'less' if diff < 0 else 'more'} misaligned than {baseline} by "
                    f"{abs(diff):.3f} ({n})",
                )
            )
    return verdicts


__all__ = [
    "TINY_N",
    "ablation_verdicts",
    "compare_to_baseline",
    "judge_warnings",
    "rate_difference",
    "rate_reading",
]
