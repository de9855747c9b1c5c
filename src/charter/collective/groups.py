"""Opinion groups among wishes: PCA, then k-means with k chosen by silhouette.

The shape of the collective's intent (issue 4, point 3): wishes are embedded,
reduced with PCA (which also gives the 2-D coordinates of the group map), and
clustered with k-means for each k in a range; the k with the highest mean
silhouette coefficient wins (Rousseeuw 1987). Polis clusters participants the
same way, PCA then k-means, with k by silhouette (Small et al. 2021, "Polis:
Scaling Deliberation by Mapping High Dimensional Opinion Spaces").

Each group is summarised by its size, its share of the total stake, its most
frequent tags, and its representative wishes (those nearest the centroid).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Principal components kept for clustering (capped by the data).
PCA_COMPONENTS = 10
#: k-means restarts per k (the best inertia is kept).
N_INIT = 5


@dataclass(frozen=True)
class Grouping:
    """The result of :func:`find_groups`."""

    labels: np.ndarray  # group of each item, 0..k-1, ordered by group size (largest first)
    k: int
    silhouettes: dict[int, float]  # mean silhouette per k tried
    coords: np.ndarray  # (n, 2): the first two principal components, for the map
    reduced: np.ndarray  # (n, c): the PCA space the clustering ran in
    centroids: np.ndarray  # (k, c): group centres in the PCA space
    explained: tuple[float, ...]  # variance ratio of each kept component


def find_groups(embeddings: np.ndarray, k_min: int = 2, k_max: int = 8, seed: int = 0) -> Grouping:
    """Cluster rows of ``embeddings``; choose k in ``[k_min, k_max]`` by silhouette.

    With fewer than four items, or too few for ``k_min`` groups, every item is
    one group (k = 1, no silhouette).
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits

    x = np.asarray(embeddings, dtype=np.float64)
    n = x.shape[0]
    components = max(1, min(PCA_COMPONENTS, n - 1, x.shape[1])) if n > 1 else 1
    if n > 1:
        pca = PCA(n_components=components, random_state=seed)
        reduced = pca.fit_transform(x)
        explained = tuple(float(r) for r in pca.explained_variance_ratio_)
    else:
        reduced, explained = np.zeros((n, 1)), (1.0,)
    coords = np.zeros((n, 2))
    coords[:, : min(2, reduced.shape[1])] = reduced[:, :2]
    k_hi = min(k_max, n - 1)
    if n < 4 or k_hi < k_min:
        centroid = reduced.mean(axis=0, keepdims=True)
        return Grouping(np.zeros(n, dtype=int), 1, {}, coords, reduced, centroid, explained)
    silhouettes, fits = {}, {}
    # A few hundred points in <= 10 dimensions: one thread is fastest, and on a shared
    # machine OpenMP threads would only spin against each other.
    with threadpool_limits(limits=1):
        for k in range(k_min, k_hi + 1):
            km = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit(reduced)
            if len(set(km.labels_)) < 2:
                continue
            silhouettes[k] = float(silhouette_score(reduced, km.labels_))
            fits[k] = km
    if not fits:
        centroid = reduced.mean(axis=0, keepdims=True)
        return Grouping(np.zeros(n, dtype=int), 1, {}, coords, reduced, centroid, explained)
    best = max(silhouettes, key=lambda k: (silhouettes[k], -k))  # ties: the simpler model
    labels, centroids = _by_size(fits[best].labels_, fits[best].cluster_centers_)
    return Grouping(labels, best, silhouettes, coords, reduced, centroids, explained)


def _by_size(labels: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relabel groups 0, 1, ... from largest to smallest (stable names across runs)."""
    sizes = np.bincount(labels, minlength=len(centroids))
    order = np.argsort(-sizes, kind="stable")
    mapping = np.empty_like(order)
    mapping[order] = np.arange(len(order))
    return mapping[labels], centroids[order]


@dataclass(frozen=True)
class GroupSummary:
    """What one opinion group holds."""

    group: int
    size: int
    stake: float
    stake_share: float
    top_tags: list[tuple[str, int]]
    representatives: list[int]  # item indexes, nearest the centroid first


def summarize_groups(
    grouping: Grouping,
    weights: Sequence[float],
    tags: Sequence[Sequence[str]],
    n_tags: int = 5,
    n_representatives: int = 3,
) -> list[GroupSummary]:
    """Size, stake share, top tags and representative items of each group."""
    w = np.asarray(weights, dtype=np.float64)
    total = float(w.sum()) or 1.0
    out = []
    for g in range(grouping.k):
        members = np.flatnonzero(grouping.labels == g)
        nearest = nearest_to_centroid(grouping, g, n_representatives)
        counts = Counter(t for i in members for t in tags[i])
        stake = float(w[members].sum())
        out.append(
            GroupSummary(
                group=g,
                size=len(members),
                stake=stake,
                stake_share=stake / total,
                top_tags=sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n_tags],
                representatives=nearest,
            )
        )
    return out


def nearest_to_centroid(grouping: Grouping, group: int, n: int) -> list[int]:
    """The ``n`` members of ``group`` nearest its centroid (indexes, nearest first)."""
    members = np.flatnonzero(grouping.labels == group)
    distance = np.linalg.norm(grouping.reduced[members] - grouping.centroids[group], axis=1)
    return [int(i) for i in members[np.argsort(distance, kind="stable")[:n]]]
