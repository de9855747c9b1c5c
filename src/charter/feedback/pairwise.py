"""Pairwise judgements asked in both orders, ensembles of them, and the chain-of-thought clamp.

A feedback model asked "which is better, (A) or (B)?" prefers one position
regardless of content. Every pairwise judgement in Charter is therefore asked
twice, with the responses swapped, and the two orders are averaged (Bai et al.
2022, section 4.1, debias their feedback the same way); the difference between
the orders is kept as the judgement's *position bias* and the disagreement of
their verdicts as a *flip*.

- :class:`PairVerdict`: one pair in both orders, with ``p_first``,
  ``position_bias``, ``flipped`` and ``margin``.
- :func:`both_orders`: ask any ``P(shown-first better)`` function twice.
- :func:`ensemble`: the weighted mean of several verdicts on one pair (over
  principles, prompt templates or models).
- :func:`ensemble_label`: the same from bare ``(p_order1, p_order2)`` pairs.
- :func:`clamp_label`: chain-of-thought probabilities are over-confident, so
  they are clamped to a band (Bai et al. 2022, section 4.2: 40-60%).
- :func:`order_consistency`: whether a labeler's verdicts follow the replies
  at all, from its own verdicts (no gold needed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from charter.feedback.stats import binomial_upper_tail, correlation_test


@dataclass(frozen=True)
class PairVerdict:
    """P(first response better), asked with the first shown as (A) and as (B).

    Args:
        p_order1: P(first better) when the first response is shown as (A).
        p_order2: P(first better) when the first response is shown as (B).
        detail: anything worth keeping (raw log-probs, reasoning, the article).
    """

    p_order1: float
    p_order2: float
    detail: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for p in (self.p_order1, self.p_order2):
            if not 0.0 <= p <= 1.0:  # also rejects NaN
                raise ValueError(f"probabilities must lie in [0, 1], got {p}")

    @property
    def p_first(self) -> float:
        """The order-debiased P(first better): the mean of both orders."""
        return (self.p_order1 + self.p_order2) / 2

    @property
    def position_bias(self) -> float:
        """``p_order1 - p_order2``: > 0 leans toward whatever is shown as (A)."""
        return self.p_order1 - self.p_order2

    @property
    def flipped(self) -> bool:
        """The two orders pick different winners (the verdict follows the position)."""
        return (self.p_order1 - 0.5) * (self.p_order2 - 0.5) < 0

    @property
    def margin(self) -> float:
        """``|p_first - 0.5|``: how decided the debiased verdict is (0 to 0.5)."""
        return abs(self.p_first - 0.5)


def both_orders(
    ask: Callable[[str, str], float], first: str, second: str, **detail: Any
) -> PairVerdict:
    """``ask(a, b)`` = P(a better) with ``a`` shown as (A); asked for both orders."""
    return PairVerdict(ask(first, second), 1.0 - ask(second, first), dict(detail))


def ensemble(
    verdicts: Sequence[PairVerdict], weights: Sequence[float] | None = None
) -> PairVerdict:
    """The weighted mean of several verdicts on the same pair, order by order.

    Raises:
        ValueError: no verdicts, or weights that do not match or sum to zero.
    """
    if not verdicts:
        raise ValueError("ensemble needs at least one verdict")
    weights = [1.0] * len(verdicts) if weights is None else list(weights)
    if len(weights) != len(verdicts) or sum(weights) <= 0:
        raise ValueError("ensemble weights must match the verdicts and sum to more than 0")
    total = sum(weights)
    p1 = sum(w * v.p_order1 for w, v in zip(weights, verdicts, strict=True)) / total
    p2 = sum(w * v.p_order2 for w, v in zip(weights, verdicts, strict=True)) / total
    return PairVerdict(min(1.0, max(0.0, p1)), min(1.0, max(0.0, p2)))


def ensemble_label(pairs_of_order_probs: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """``(p, bias)``: the unweighted :func:`ensemble` of bare ``(p_order1, p_order2)`` pairs."""
    if not pairs_of_order_probs:
        raise ValueError("ensemble_label needs at least one (p_order1, p_order2) pair")
    verdict = ensemble([PairVerdict(p1, p2) for p1, p2 in pairs_of_order_probs])
    return verdict.p_first, verdict.position_bias


def clamp_label(p: float, lo: float = 0.4, hi: float = 0.6) -> float:
    """``p`` limited to ``[lo, hi]``: the chain-of-thought clamp (Bai et al. 2022, 4.2)."""
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"clamp band [{lo}, {hi}] must satisfy 0 <= lo <= hi <= 1")
    return min(max(p, lo), hi)


_TIE = 1e-12  # products of debiased sides below this are ties (float rounding of 0)


def debiased_agreement(verdicts: Sequence[PairVerdict]) -> tuple[int, float]:
    """``(agree, lean)``: pairs whose orders pick one winner once the mean lean is removed.

    ``lean`` is half the mean ``position_bias``; a tie (both sides at 0.5) counts
    as not agreeing.
    """
    lean = sum(v.position_bias for v in verdicts) / (2 * len(verdicts)) if verdicts else 0.0
    agree = sum(1 for v in verdicts if (v.p_order1 - lean - 0.5) * (v.p_order2 + lean - 0.5) > _TIE)
    return agree, lean


def order_consistency(verdicts: Sequence[PairVerdict]) -> dict[str, Any] | None:
    """Do a labeler's two presentation orders agree about the pairs? No gold needed.

    A labeler that reads the replies prefers the same reply whichever is shown
    first; one that answers by position or at random does not. Two views:

    - ``rho``: Spearman's correlation, across pairs, of the two orders'
      P(first better). Reading the replies makes them rise and fall together;
      a lean toward (A) that varies by pair pushes them apart; noise leaves them
      unrelated. ``p_value`` is its one-sided permutation test. On 123 gold
      pairs it confirmed a labeler 0.73 accurate at p = 0.002, where the sign
      test below gave p = 0.10 (bench/RESULTS.md).
    - ``agree``: pairs whose two orders pick the same winner once the labeler's
      mean lean (half the mean ``position_bias``) is removed from both (a tie
      counts against). Raw agreement would mislead: a lean larger than the
      content signal flips every verdict even when the averaged label is right.

    The correlation needs the probabilities to vary; where either order's are
    all equal (a scripted labeler, say), ``test`` is ``"sign"`` and
    ``p_value`` is the one-sided sign test of ``agree`` of ``pairs``.
    Consistency is necessary, not sufficient: a labeler can consistently prefer
    the wrong reply, which only a calibration card on gold pairs shows.
    ``None`` without verdicts.
    """
    if not verdicts:
        return None
    n = len(verdicts)
    agree, lean = debiased_agreement(verdicts)
    first, second = [v.p_order1 for v in verdicts], [v.p_order2 for v in verdicts]
    if len(set(first)) > 1 and len(set(second)) > 1:
        rho, p_value = correlation_test(first, second)
        test = "spearman"
    else:
        rho, p_value, test = None, binomial_upper_tail(agree, n), "sign"
    return {
        "agree": agree,
        "pairs": n,
        "lean": lean,
        "rho": rho,
        "test": test,
        "p_value": p_value,
    }
