"""The statistics every figure in Charter carries: intervals, ranking, calibration, correction.

- :func:`wilson_interval` for rates (Wilson 1927; preferred to the normal
  approximation by Brown, Cai and DasGupta 2001), which behaves at 0/n and n/n.
- :func:`bootstrap` and :func:`percentile_interval` for anything else.
- :func:`roc_auc` in its Mann-Whitney form (threshold-free ranking quality).
- :func:`expected_calibration_error` (Naeini et al. 2015; Guo et al. 2017):
  the gap between a judge's confidence and its accuracy, over equal-width bins.
- :func:`macro_f1` and :func:`confusion_matrix` for multi-class judges.
- :func:`rogan_gladen`: a rate measured by an imperfect judge, corrected with
  the judge's sensitivity and specificity (Rogan and Gladen 1978), and
  :func:`corrected_rate_interval`, whose interval also carries the uncertainty
  of those two calibration figures (a parametric bootstrap over their Beta
  posteriors and the observed rate).
- :func:`mcnemar_exact` and :func:`paired_difference` for two models judged on
  the same items: the exact McNemar test on the discordant pairs (McNemar
  1947) and Newcombe's hybrid score interval for the difference of paired
  proportions (Newcombe 1998, method 10).
- :func:`binomial_upper_tail`: the one-sided sign test, e.g. whether a
  labeler's two presentation orders agree more often than a coin would.
- :func:`spearman` and :func:`correlation_test`: rank correlation with a
  one-sided permutation p-value (exact for small n).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Sequence
from typing import TypeVar

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal
T = TypeVar("T")


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``successes / n``; ``(0.0, 1.0)`` when ``n`` is 0.

    Raises:
        ValueError: ``successes`` outside ``[0, n]``.
    """
    if n == 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes {successes} must lie in [0, {n}]")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(count: int, n: int) -> tuple[float, float, float]:
    """``(count / n, wilson low, wilson high)``; 0 with ``[0, 1]`` when ``n`` is 0."""
    low, high = wilson_interval(count, n)
    return (count / n if n else 0.0), low, high


def percentile_interval(samples: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` interval of bootstrap samples (percentile method)."""
    if not samples:
        raise ValueError("percentile_interval needs at least one sample")
    ordered = sorted(samples)
    tail = (1 - level) / 2
    return _quantile(ordered, tail), _quantile(ordered, 1 - tail)


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default method)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def bootstrap(
    items: Sequence[T],
    statistic: Callable[[Sequence[T]], float],
    rounds: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``items`` resampled with replacement."""
    if not items:
        raise ValueError("bootstrap needs at least one item")
    rng = random.Random(seed)
    n = len(items)
    samples = [statistic([items[rng.randrange(n)] for _ in range(n)]) for _ in range(rounds)]
    return percentile_interval(samples, level)


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """P(a random positive scores above a random negative), ties counting one half.

    Raises:
        ValueError: either class is empty.
    """
    if not positives or not negatives:
        raise ValueError("roc_auc needs at least one positive and one negative score")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def confusion_matrix(pairs: Sequence[tuple[str, str]], labels: Sequence[str]) -> list[list[int]]:
    """Counts of ``(true, judged)`` pairs: rows true, columns judged, in ``labels`` order."""
    index = {label: k for k, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for truth, judged in pairs:
        matrix[index[truth]][index[judged]] += 1
    return matrix


def macro_f1(confusion: Sequence[Sequence[int]]) -> float:
    """The unweighted mean of per-class F1 over the classes that occur (as truth or verdict)."""
    scores = []
    for k in range(len(confusion)):
        tp = confusion[k][k]
        truth = sum(confusion[k])
        judged = sum(row[k] for row in confusion)
        if truth == 0 and judged == 0:
            continue
        scores.append(2 * tp / (truth + judged))
    return sum(scores) / len(scores) if scores else 0.0


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """ECE: the sample-weighted mean |accuracy - confidence| over equal-width bins.

    ``confidences`` are the probabilities the judge gave its own verdicts
    (the arg-max class's probability), ``correct`` whether each verdict was right.
    """
    if len(confidences) != len(correct):
        raise ValueError("confidences and correct must have the same length")
    if not confidences:
        return 0.0
    totals = [[0, 0.0, 0] for _ in range(bins)]  # count, confidence sum, correct count
    for conf, ok in zip(confidences, correct, strict=True):
        b = min(int(conf * bins), bins - 1)
        totals[b][0] += 1
        totals[b][1] += conf
        totals[b][2] += int(ok)
    n = len(confidences)
    return sum(abs(c / k - s / k) * k / n for k, s, c in totals if k)


def rogan_gladen(observed: float, sensitivity: float, specificity: float) -> float:
    """The true prevalence behind an ``observed`` positive rate, clipped to ``[0, 1]``.

    ``(observed + specificity - 1) / (sensitivity + specificity - 1)``; when the
    judge is no better than chance (Youden's J <= 0) nothing can be corrected and
    the observed rate is returned unchanged.
    """
    youden = sensitivity + specificity - 1
    if youden <= 0:
        return observed
    return min(1.0, max(0.0, (observed + specificity - 1) / youden))


def corrected_rate_interval(
    positives: int,
    n: int,
    sensitivity: tuple[int, int],
    specificity: tuple[int, int],
    rounds: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """The Rogan-Gladen rate and an interval that includes the calibration's uncertainty.

    Args:
        positives, n: what the judge flagged, out of how many items.
        sensitivity: ``(true positives, positives)`` on the gold test split.
        specificity: ``(true negatives, negatives)`` on the gold test split.

    Returns:
        ``(corrected, low, high)``. Each bootstrap round draws the observed rate,
        the sensitivity and the specificity from their Beta(k + 1/2, n - k + 1/2)
        posteriors (Jeffreys prior) and corrects; the interval is the percentile
        range of the corrected rates. With ``n == 0`` the rate is unknown: ``(0, 0, 1)``.
    """
    if n == 0:
        return 0.0, 0.0, 1.0
    se_k, se_n = sensitivity
    sp_k, sp_n = specificity
    point = rogan_gladen(positives / n, se_k / se_n if se_n else 1.0, sp_k / sp_n if sp_n else 1.0)
    rng = random.Random(seed)

    def draw(k: int, total: int) -> float:
        return rng.betavariate(k + 0.5, total - k + 0.5) if total else 1.0

    samples = [
        rogan_gladen(draw(positives, n), draw(se_k, se_n), draw(sp_k, sp_n)) for _ in range(rounds)
    ]
    low, high = percentile_interval(samples, level)
    return point, min(low, point), max(high, point)


def binomial_upper_tail(k: int, n: int) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, 1/2)``: the one-sided sign test's p-value.

    Raises:
        ValueError: ``k`` outside ``[0, n]``.
    """
    if not 0 <= k <= n:
        raise ValueError(f"k {k} must lie in [0, {n}]")
    return sum(math.comb(n, j) for j in range(k, n + 1)) / 2**n


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts of a paired test.

    ``b``: items positive for the first model only; ``c``: for the second only.
    Under the null each discordant item is a fair coin, so the p-value is twice
    the larger count's upper binomial tail of ``Binomial(b + c, 1/2)`` (at most 1).
    Exact rather than the chi-square form because eval sets give few discordant pairs.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    return min(1.0, 2 * binomial_upper_tail(max(b, c), b + c))


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (ties get their average rank); 0 when either is constant.

    Raises:
        ValueError: the sequences differ in length.
    """
    if len(a) != len(b):
        raise ValueError(f"spearman needs equal lengths, got {len(a)} and {len(b)}")
    return _pearson(_ranks(a), _ranks(b))


def correlation_test(
    a: Sequence[float], b: Sequence[float], rounds: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """``(rho, p)``: Spearman's rho and the one-sided permutation p-value of ``rho > 0``.

    Exact over every permutation of ``b`` when there are at most ``rounds`` of
    them, otherwise ``rounds`` seeded random permutations with the usual ``+1``
    correction (Phipson and Smyth 2010), so ``p`` is never 0.
    """
    if len(a) != len(b):
        raise ValueError(f"correlation_test needs equal lengths, got {len(a)} and {len(b)}")
    ranked_a, ranked_b = _ranks(a), _ranks(b)
    rho = _pearson(ranked_a, ranked_b)
    if len(a) < 2:
        return rho, 1.0
    if math.factorial(len(b)) <= rounds:
        shuffles = [list(p) for p in itertools.permutations(ranked_b)]
        hits = sum(_pearson(ranked_a, s) >= rho - 1e-12 for s in shuffles)
        return rho, hits / len(shuffles)
    rng = random.Random(seed)
    shuffled, hits = list(ranked_b), 0
    for _ in range(rounds):
        rng.shuffle(shuffled)
        hits += _pearson(ranked_a, shuffled) >= rho - 1e-12
    return rho, (hits + 1) / (rounds + 1)


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2
        start = end + 1
    return ranks


def _pearson(a: Sequence[float], b: Sequence[float]) -> float:
    n = len(a)
    if n < 2:
        return 0.0
    mean_a, mean_b = sum(a) / n, sum(b) / n
    spread = math.sqrt(sum((x - mean_a) ** 2 for x in a) * sum((y - mean_b) ** 2 for y in b))
    if spread == 0:
        return 0.0
    return sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b, strict=True)) / spread


def paired_difference(
    pairs: Sequence[tuple[bool, bool]], z: float = Z95
) -> tuple[float, float, float]:
    """``(p1 - p2, low, high)`` for paired binary outcomes ``(first, second)``.

    The interval is Newcombe's hybrid score interval (1998, method 10): the two
    Wilson intervals combined with the (corrected) correlation of the pairs, so it stays
    inside ``[-1, 1]`` and behaves at 0 and n. With no pairs: ``(0, -1, 1)``.
    """
    n = len(pairs)
    if n == 0:
        return 0.0, -1.0, 1.0
    a = sum(1 for x, y in pairs if x and y)
    b = sum(1 for x, y in pairs if x and not y)
    c = sum(1 for x, y in pairs if y and not x)
    d = n - a - b - c
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson_interval(a + b, n, z)
    l2, u2 = wilson_interval(a + c, n, z)
    spread = (a + b) * (c + d) * (a + c) * (b + d)
    # Newcombe's corrected correlation: a positive association is shrunk by n/2,
    # so that concordant-only data do not give a zero-width interval.
    cross = a * d - b * c
    if cross > 0:
        cross = max(cross - n / 2, 0.0)
    phi = cross / math.sqrt(spread) if spread else 0.0
    delta = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    epsilon = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    diff = p1 - p2
    return diff, max(-1.0, diff - delta), min(1.0, diff + epsilon)
