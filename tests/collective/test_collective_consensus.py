"""Consensus and bridging on vote matrices where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from charter.collective.consensus import analyze_votes, bridging_scores, group_consensus


def _row(rng, p_a, p_b, n=25, missing_b=False):
    a = np.where(rng.random(n) < p_a, 1.0, -1.0)
    b = np.where(rng.random(n) < p_b, 1.0, -1.0)
    if missing_b:
        b[:] = np.nan
    return np.concatenate([a, b])


def _polarised(seed=0):
    """Two camps of 25 voters; wish 0 bridges, 1 is A's, 2 is B's, 3 A's with B silent."""
    rng = np.random.default_rng(seed)
    rows = [
        _row(rng, 0.9, 0.9),
        _row(rng, 0.95, 0.05),
        _row(rng, 0.05, 0.95),
        _row(rng, 0.95, 0.0, missing_b=True),
    ]
    rows += [_row(rng, 0.9, 0.1) if i % 2 else _row(rng, 0.1, 0.9) for i in range(12)]
    return np.array(rows)


def test_group_consensus_is_the_laplace_smoothed_product():
    votes = np.array([[1, 1, -1, np.nan], [1, np.nan, np.nan, np.nan]])
    groups = [0, 0, 1, 1]
    expected0 = (2 + 1) / (2 + 2) * (0 + 1) / (1 + 2)
    expected1 = (1 + 1) / (1 + 2) * (0 + 1) / (0 + 2)
    assert group_consensus(votes, groups) == pytest.approx([expected0, expected1])
    with pytest.raises(ValueError):
        group_consensus(votes, [0, 1])


def test_a_wish_endorsed_across_camps_outranks_one_camps_wish():
    for seed in range(3):
        result = analyze_votes(_polarised(seed), seed=seed)
        assert len(set(result.voter_group.tolist())) == 2
        assert result.bridging[0] > max(result.bridging[1:])
        assert result.consensus[0] > max(result.consensus[1:])


def test_bridging_factor_carries_the_polarity():
    fit = bridging_scores(_polarised())
    # Camp A's and camp B's wishes load on opposite ends of the factor.
    assert np.sign(fit.wish_factor[1]) == -np.sign(fit.wish_factor[2])
    assert abs(fit.wish_factor[0]) < min(abs(fit.wish_factor[1]), abs(fit.wish_factor[2]))


def test_bridging_handles_unvoted_wishes_and_converges():
    votes = _polarised()
    votes = np.vstack([votes, np.full(votes.shape[1], np.nan)])
    fit = bridging_scores(votes)
    assert fit.wish_intercept[-1] == pytest.approx(0.0)
    assert np.isfinite(fit.loss)
