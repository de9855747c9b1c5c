"""Opinion groups: k chosen by silhouette on well-separated blobs; summaries."""

from __future__ import annotations

import numpy as np

from charter.collective.groups import find_groups, nearest_to_centroid, summarize_groups


def _blobs(k: int, per: int = 20, dim: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(k, dim))
    x = np.vstack([c + rng.normal(scale=0.3, size=(per, dim)) for c in centres])
    return x, np.repeat(np.arange(k), per)


def test_silhouette_picks_the_true_number_of_blobs():
    for k in (2, 3, 5):
        x, truth = _blobs(k)
        grouping = find_groups(x, 2, 8, seed=1)
        assert grouping.k == k
        # Each found group is exactly one true blob.
        for g in range(k):
            assert len(set(truth[grouping.labels == g])) == 1
        assert grouping.coords.shape == (len(x), 2)


def test_groups_are_numbered_by_size():
    rng = np.random.default_rng(3)
    big = rng.normal(size=(30, 5))
    small = rng.normal(size=(8, 5)) + 40
    grouping = find_groups(np.vstack([small, big]), 2, 4)
    assert (grouping.labels == 0).sum() == 30


def test_tiny_inputs_form_one_group():
    grouping = find_groups(np.eye(3), 2, 8)
    assert grouping.k == 1 and list(grouping.labels) == [0, 0, 0]


def test_summaries_report_stake_share_tags_and_representatives():
    x, _ = _blobs(2, per=5)
    grouping = find_groups(x, 2, 3)
    weights = [1.0] * 5 + [3.0] * 5
    tags = [["a", "b"]] * 5 + [["c"]] * 5
    summaries = summarize_groups(grouping, weights, tags)
    assert sum(s.size for s in summaries) == 10
    assert sum(s.stake_share for s in summaries) == 1.0
    heavy = max(summaries, key=lambda s: s.stake)
    assert heavy.stake_share == 0.75 and heavy.top_tags == [("c", 5)]
    assert heavy.representatives == nearest_to_centroid(grouping, heavy.group, 3)
