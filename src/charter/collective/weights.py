"""Influence weights from stake, and how concentrated that influence is.

A wish's *stake* is what its depositor put behind it: ``fee + burn`` credits.
Influence is a transform of stake, so a ledger can choose how much money
speaks:

- ``linear``: influence = stake, as deposited;
- ``sqrt``: influence = sqrt(stake) (quadratic-voting style: 100x the credits
  buys 10x the influence; Lalley and Weyl 2018, "Quadratic Voting");
- ``log1p``: influence = ln(1 + stake), flatter still;
- ``capped``: influence = min(stake, cap), where ``cap`` is an absolute number
  of credits (``cap``) or, when that is not given, ``cap_multiple`` times the
  median stake of the wishes weighed (default 10x the median).

An optional recency half-life multiplies each wish's influence by
``0.5 ** (age_days / half_life_days)``, where age is measured from the
*reference time*: the latest entry timestamp in the set (never the clock), so
the same checkpoint always gives the same weights.

``per_key=True`` applies the transform to each author key's *total* stake and
splits the result over that key's wishes in proportion to their stake. Without
it a concave transform rewards splitting one stake over many wishes (four
wishes of 25 credits get 4 x 5 = 20 sqrt-influence, one of 100 gets 10); with
it the split gains nothing. (Splitting over many *keys* is a Sybil attack no
stake transform can stop; the concentration report at least shows the keys.)

The concentration report (:func:`concentration`) is computed over keys: the
Gini coefficient, the share held by the top 1% and top 10% of keys (the top
``ceil(q * n)`` keys, at least one), the number of keys and the effective
number of keys ``1 / sum(p_k ** 2)`` (the inverse Herfindahl-Hirschman index).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal

import numpy as np

from charter.collective.wishes import WishRecord, WishSet
from charter.errors import ConfigError

Transform = Literal["linear", "sqrt", "log1p", "capped"]
TRANSFORMS: tuple[str, ...] = ("linear", "sqrt", "log1p", "capped")


@dataclass(frozen=True)
class InfluencePolicy:
    """How stake becomes influence (see the module docstring for each option)."""

    transform: Transform = "linear"  # linear | sqrt | log1p | capped
    cap: float | None = None  # capped: the cap in credits; None -> cap_multiple x median
    cap_multiple: float = 10.0  # capped without cap: the cap as a multiple of the median stake
    half_life_days: float | None = None  # recency half-life; None: no decay
    per_key: bool = False  # transform each key's total stake, not each wish's

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ConfigError(
                f"transform {self.transform!r} is unknown; choose one of {', '.join(TRANSFORMS)}."
            )
        if self.cap is not None and self.cap <= 0:
            raise ConfigError(f"cap {self.cap} must be a positive number of credits.")
        if self.cap_multiple <= 0:
            raise ConfigError(f"cap_multiple {self.cap_multiple} must be positive.")
        if self.half_life_days is not None and self.half_life_days <= 0:
            raise ConfigError(f"half_life_days {self.half_life_days} must be positive (or none).")


def transform_stake(
    stakes: Sequence[float] | np.ndarray,
    transform: Transform = "linear",
    cap: float | None = None,
    cap_multiple: float = 10.0,
) -> np.ndarray:
    """Influence for each stake under one transform (float64 array, same length).

    Raises:
        ConfigError: an unknown transform, or a negative stake.
    """
    values = np.asarray(stakes, dtype=np.float64)
    if values.size and values.min() < 0:
        raise ConfigError("stakes must be zero or more credits.")
    if transform == "linear":
        return values.copy()
    if transform == "sqrt":
        return np.sqrt(values)
    if transform == "log1p":
        return np.log1p(values)
    if transform == "capped":
        if cap is None:  # relative to the stakes weighed: the median is robust to a few whales
            cap = cap_multiple * float(np.median(values)) if values.size else 0.0
        return np.minimum(values, cap)
    raise ConfigError(f"transform {transform!r} is unknown; choose one of {', '.join(TRANSFORMS)}.")


def recency_factors(
    timestamps: Sequence[datetime], half_life_days: float | None, reference: datetime | None
) -> np.ndarray:
    """``0.5 ** (age_days / half_life_days)`` per timestamp; ones when there is no half-life.

    A timestamp after ``reference`` counts as age 0 (never more than full weight).
    """
    if half_life_days is None or not timestamps:
        return np.ones(len(timestamps), dtype=np.float64)
    if reference is None:
        reference = max(timestamps)
    ages = np.array([(reference - t).total_seconds() / 86400.0 for t in timestamps])
    return np.power(0.5, np.maximum(ages, 0.0) / half_life_days)


@dataclass(frozen=True)
class Influence:
    """Per-wish influence under a policy.

    Attributes:
        raw: unnormalised influence per wish (transformed stake x recency).
        probabilities: ``raw / raw.sum()``: the sampling distribution over wishes.
        keys: the author key of each wish, in the same order.
        reference_time: the moment ages were measured from.
    """

    raw: np.ndarray
    probabilities: np.ndarray
    keys: tuple[str, ...]
    policy: InfluencePolicy
    reference_time: datetime | None

    def by_key(self) -> dict[str, float]:
        """Total unnormalised influence per author key."""
        totals: dict[str, float] = {}
        for key, value in zip(self.keys, self.raw, strict=True):
            totals[key] = totals.get(key, 0.0) + float(value)
        return totals


def influence(
    wishes: WishSet | Sequence[WishRecord],
    policy: InfluencePolicy | None = None,
    reference_time: datetime | None = None,
) -> Influence:
    """Influence of every wish in a set under ``policy``.

    Args:
        wishes: a wish set (or its records).
        policy: the transform, cap, half-life and aggregation; linear by default.
        reference_time: "now" for the half-life; default: the latest entry time.

    Raises:
        ConfigError: no wish carries any influence (e.g. every stake capped to 0).
    """
    policy = policy or InfluencePolicy()
    records = wishes.records if isinstance(wishes, WishSet) else list(wishes)
    stakes = np.array([r.fee + r.burn for r in records], dtype=np.float64)
    times = [r.timestamp for r in records]
    reference = reference_time or (max(times) if times else None)
    decay = recency_factors(times, policy.half_life_days, reference)
    keys = tuple(r.author_key for r in records)
    if policy.per_key:
        raw = _per_key(stakes, keys, policy) * decay
    else:
        raw = transform_stake(stakes, policy.transform, policy.cap, policy.cap_multiple) * decay
    total = float(raw.sum())
    if records and total <= 0:
        raise ConfigError(
            "no wish has any influence under this policy (all stakes are 0 after the "
            "transform); use another transform or a larger cap."
        )
    probabilities = raw / total if total > 0 else raw
    return Influence(raw, probabilities, keys, policy, reference)


def _per_key(stakes: np.ndarray, keys: tuple[str, ...], policy: InfluencePolicy) -> np.ndarray:
    order = list(dict.fromkeys(keys))
    position = {key: i for i, key in enumerate(order)}
    index = np.array([position[k] for k in keys], dtype=np.int64)
    totals = np.bincount(index, weights=stakes, minlength=len(order))
    transformed = transform_stake(totals, policy.transform, policy.cap, policy.cap_multiple)
    share = np.divide(stakes, totals[index], out=np.zeros_like(stakes), where=totals[index] > 0)
    return transformed[index] * share


@dataclass(frozen=True)
class Concentration:
    """How concentrated influence is over keys (see :func:`concentration`)."""

    keys: int  # number of keys with a wish
    gini: float  # 0: equal; (n-1)/n: one key holds everything
    top1_share: float  # share of the top ceil(1% of keys), at least one key
    top10_share: float  # share of the top ceil(10% of keys)
    effective_keys: float  # 1 / sum(p^2): how many equal keys would be as concentrated
    largest_share: float  # share of the single largest key

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def gini(values: Sequence[float] | np.ndarray) -> float:
    """The Gini coefficient of non-negative values (mean absolute difference / 2 x mean).

    Computed on the ascending sort as ``2 * sum(i * x_i) / (n * sum x) - (n + 1) / n``
    (i from 1), which equals ``sum_ij |x_i - x_j| / (2 n^2 mean)``.
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, total = x.size, float(x.sum())
    if n == 0 or total == 0:
        return 0.0
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(2.0 * np.dot(ranks, x) / (n * total) - (n + 1) / n)


def top_share(values: Sequence[float] | np.ndarray, fraction: float) -> float:
    """The share of the total held by the top ``ceil(fraction * n)`` values (at least one)."""
    x = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    total = float(x.sum())
    if x.size == 0 or total == 0:
        return 0.0
    count = max(1, math.ceil(fraction * x.size - 1e-9))
    return float(x[:count].sum() / total)


def concentration(per_key: dict[str, float] | Sequence[float] | np.ndarray) -> Concentration:
    """Gini, top-1%/10% shares, key count and effective number of keys of per-key totals."""
    values = np.asarray(
        list(per_key.values()) if isinstance(per_key, dict) else per_key, dtype=np.float64
    )
    total = float(values.sum())
    p = values / total if total > 0 else values
    return Concentration(
        keys=int(values.size),
        gini=gini(values),
        top1_share=top_share(values, 0.01),
        top10_share=top_share(values, 0.10),
        effective_keys=float(1.0 / np.sum(p**2)) if total > 0 else 0.0,
        largest_share=float(p.max()) if values.size else 0.0,
    )


def concentration_report(
    wishes: WishSet, policies: Sequence[InfluencePolicy] | None = None
) -> dict[str, dict]:
    """Concentration of raw stake and of influence under each policy, keyed by a label.

    The ``stake`` row is the deposited credits per key; each other row shows
    how much a transform tempers it.
    """
    policies = policies or [InfluencePolicy(t) for t in ("linear", "sqrt", "log1p", "capped")]
    stake: dict[str, float] = {}
    for record in wishes.records:
        stake[record.author_key] = stake.get(record.author_key, 0.0) + record.stake
    report = {"stake": concentration(stake).to_dict()}
    for policy in policies:
        report[policy_label(policy)] = concentration(influence(wishes, policy).by_key()).to_dict()
    return report


def policy_label(policy: InfluencePolicy) -> str:
    """A short, stable name for a policy, e.g. ``sqrt``, ``capped(10x median)+hl30d+per_key``."""
    label = policy.transform
    if policy.transform == "capped":
        label += f"({policy.cap:g})" if policy.cap else f"({policy.cap_multiple:g}x median)"
    if policy.half_life_days:
        label += f"+hl{policy.half_life_days:g}d"
    if policy.per_key:
        label += "+per_key"
    return label
