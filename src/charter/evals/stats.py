"""Intervals for eval figures: Wilson score intervals for rates, percentile bootstrap.

The Wilson interval (Wilson 1927; recommended over the normal approximation by
Brown, Cai and DasGupta 2001, "Interval Estimation for a Binomial Proportion")
stays inside [0, 1] and behaves at 0/n and n/n, which small eval sets hit often.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n``.

    Returns ``(0.0, 1.0)`` when ``n`` is 0 (nothing is known).

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
