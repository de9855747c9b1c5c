"""Influence weights and concentration, checked against hand-computed values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from charter.collective.weights import (
    InfluencePolicy,
    concentration,
    concentration_report,
    gini,
    influence,
    policy_label,
    recency_factors,
    top_share,
    transform_stake,
)
from charter.collective.wishes import SAMPLE, WishRecord, load_wishes
from charter.errors import ConfigError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(i, key, burn, days=0, fee=1):
    return WishRecord(
        index=i,
        entry_id=f"{i:064x}",
        author_key=key,
        scenario="s",
        behaviour="b",
        rationale=None,
        tags=(),
        fee=fee,
        burn=burn,
        timestamp=T0 + timedelta(days=days),
        parent=None,
    )


def test_gini_by_hand():
    assert gini([1, 1, 1, 1]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)  # (n - 1) / n: one holds all
    # sum over ordered pairs |xi - xj| = 2 * (1+2+3+1+2+1) = 20; / (2 * 16 * 2.5) = 0.25
    assert gini([4, 1, 3, 2]) == pytest.approx(0.25)
    assert gini([]) == 0.0


def test_top_shares_and_effective_keys_by_hand():
    values = [1.0] * 99 + [100.0]  # 100 keys: top 1% is one key, top 10% ten keys
    assert top_share(values, 0.01) == pytest.approx(100 / 199)
    assert top_share(values, 0.10) == pytest.approx(109 / 199)
    assert top_share([5, 1], 0.01) == pytest.approx(5 / 6)  # at least one key
    c = concentration({"a": 1, "b": 1, "c": 2})
    assert c.keys == 3 and c.effective_keys == pytest.approx(1 / (0.0625 + 0.0625 + 0.25))
    assert c.largest_share == pytest.approx(0.5) and c.top10_share == pytest.approx(0.5)
    assert concentration([3, 3, 3]).effective_keys == pytest.approx(3.0)


def test_transforms():
    stakes = [1, 1, 1, 100]
    assert transform_stake(stakes, "linear").tolist() == stakes
    assert transform_stake([4, 9], "sqrt").tolist() == [2, 3]
    assert transform_stake([0, np.e - 1], "log1p") == pytest.approx([0, 1])
    assert transform_stake(stakes, "capped").tolist() == [1, 1, 1, 10]  # 10 x median 1
    assert transform_stake(stakes, "capped", cap_multiple=3).tolist() == [1, 1, 1, 3]
    assert transform_stake(stakes, "capped", cap=50).tolist() == [1, 1, 1, 50]
    with pytest.raises(ConfigError, match="transform 'cube' is unknown"):
        transform_stake(stakes, "cube")
    with pytest.raises(ConfigError, match="zero or more"):
        transform_stake([-1], "sqrt")
    with pytest.raises(ConfigError, match="half_life_days"):
        InfluencePolicy(half_life_days=0)


def test_half_life_uses_the_latest_entry_as_now():
    wishes = [record(0, "a", 9, days=0), record(1, "b", 9, days=30), record(2, "c", 9, days=60)]
    result = influence(wishes, InfluencePolicy(half_life_days=30))
    assert result.reference_time == T0 + timedelta(days=60)
    assert result.raw.tolist() == pytest.approx([2.5, 5.0, 10.0])  # 10 x 0.25, 0.5, 1
    assert result.probabilities.sum() == pytest.approx(1.0)
    later = influence(wishes, InfluencePolicy(half_life_days=30), T0 + timedelta(days=90))
    assert later.raw.tolist() == pytest.approx([1.25, 2.5, 5.0])
    assert recency_factors([T0], None, None).tolist() == [1.0]


def test_per_key_aggregation_removes_the_gain_from_splitting_stake():
    # key a: four wishes of 25 credits; key b: one wish of 100 (fee 0 to keep numbers round)
    wishes = [record(i, "a", 25, fee=0) for i in range(4)] + [record(4, "b", 100, fee=0)]
    split = influence(wishes, InfluencePolicy("sqrt")).by_key()
    assert split == pytest.approx({"a": 20.0, "b": 10.0})
    pooled = influence(wishes, InfluencePolicy("sqrt", per_key=True))
    assert pooled.by_key() == pytest.approx({"a": 10.0, "b": 10.0})
    assert pooled.raw[:4].tolist() == pytest.approx([2.5] * 4)


def test_no_influence_at_all_is_an_error():
    with pytest.raises(ConfigError, match="no wish has any influence"):
        influence([record(0, "a", 0, fee=0)], InfluencePolicy())


def test_sample_concentration_is_visible_and_tempered_by_transforms():
    report = concentration_report(load_wishes(SAMPLE))
    assert report["stake"] == report["linear"]
    assert report["stake"]["gini"] > 0.75 and report["stake"]["top1_share"] > 0.2
    assert report["sqrt"]["gini"] < report["stake"]["gini"]
    assert report["log1p"]["effective_keys"] > report["sqrt"]["effective_keys"]
    assert report["capped(10x median)"]["top10_share"] < report["stake"]["top10_share"]
    assert policy_label(InfluencePolicy("capped", cap=50, half_life_days=7, per_key=True)) == (
        "capped(50)+hl7d+per_key"
    )
