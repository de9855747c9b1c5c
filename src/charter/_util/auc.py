"""ROC AUC in its Mann-Whitney form: how well a score ranks one class above another."""

from __future__ import annotations

from collections.abc import Sequence


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """P(a random positive scores above a random negative), ties counting one half.

    Raises:
        ValueError: either class is empty.
    """
    if not positives or not negatives:
        raise ValueError("roc_auc needs at least one positive and one negative score")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))
