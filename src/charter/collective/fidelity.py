"""Constitution fidelity: how much of what the collective asked for a constitution captures.

Three measures (issue 4, point 4), cheapest first:

(a) **distance**: cosine between the stake-weighted collective wish embedding
    (the weighted mean of unit wish embeddings) and the constitution embedding
    (the mean of its article embeddings, each article embedded as
    ``title + rule + rationale``), as proposed in the discussions the project
    grew from;
(b) **coverage**: each wish's best-matching article and its cosine similarity;
    a wish whose best similarity is under a threshold is *uncovered*:
    information the constitution loses. Per article: how many wishes, how much
    stake it covers. The default threshold is a fixed value
    (:data:`COVERAGE_THRESHOLD`), chosen on the shipped sample with the
    embedded MiniLM embedder (see ``docs/collective.md``): a fixed value, not a
    percentile, so two constitutions can be compared on the same wishes;
(c) **reconstruction** (:mod:`charter.collective.reconstruction`): can a judge
    that sees only the constitution pick the response that fulfils a wish?
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from charter.backends.base import Embedder, l2_normalize
from charter.constitution import Article, Constitution

#: Wishes whose best article similarity is below this are uncovered (MiniLM cosine).
COVERAGE_THRESHOLD = 0.25


def article_text(article: Article) -> str:
    """What an article is embedded as: its title, rule and rationale."""
    return f"{article.title}. {article.rule} {article.rationale}"


def embed_articles(constitution: Constitution, embedder: Embedder) -> np.ndarray:
    """Unit embeddings of the articles, in constitution order."""
    return l2_normalize(embedder.embed([article_text(a) for a in constitution.articles]))


def weighted_centroid(embeddings: np.ndarray, weights: Sequence[float] | None = None) -> np.ndarray:
    """The (weighted) mean of unit-normalised rows; not renormalised."""
    e = l2_normalize(np.asarray(embeddings, dtype=np.float32)).astype(np.float64)
    w = np.ones(len(e)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.sum() <= 0:
        raise ValueError("weights sum to zero; nothing to average")
    return (w[:, None] * e).sum(axis=0) / w.sum()


def collective_similarity(
    wish_embeddings: np.ndarray, weights: Sequence[float], article_embeddings: np.ndarray
) -> float:
    """Cosine between the stake-weighted wish centroid and the article centroid: measure (a)."""
    a = weighted_centroid(wish_embeddings, weights)
    b = weighted_centroid(article_embeddings)
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / denominator) if denominator > 0 else float("nan")


@dataclass(frozen=True)
class ArticleCoverage:
    """The wishes whose best match is one article."""

    article_id: str
    title: str
    wishes: int  # covered wishes that match this article best
    stake: float  # their total weight
    stake_share: float
    mean_similarity: float | None


@dataclass(frozen=True)
class Coverage:
    """Measure (b): per wish, per article, and what is lost."""

    best_article: list[str]  # per wish: the id of its best-matching article
    similarity: np.ndarray  # per wish: the cosine to that article
    threshold: float
    uncovered: list[int]  # wish indexes under the threshold, lowest similarity first
    per_article: list[ArticleCoverage]
    covered_share: float  # share of wishes at or above the threshold
    covered_stake_share: float  # share of weight at or above the threshold


def coverage(
    wish_embeddings: np.ndarray,
    weights: Sequence[float],
    constitution: Constitution,
    article_embeddings: np.ndarray,
    threshold: float = COVERAGE_THRESHOLD,
) -> Coverage:
    """Best article per wish, uncovered wishes, and coverage per article."""
    e = l2_normalize(np.asarray(wish_embeddings, dtype=np.float32))
    sims = e @ l2_normalize(article_embeddings).T
    best = np.argmax(sims, axis=1)
    best_sim = sims[np.arange(len(e)), best].astype(np.float64)
    w = np.asarray(weights, dtype=np.float64)
    total = float(w.sum()) or 1.0
    covered = best_sim >= threshold
    per_article = []
    for j, article in enumerate(constitution.articles):
        mine = (best == j) & covered
        per_article.append(
            ArticleCoverage(
                article_id=article.id,
                title=article.title,
                wishes=int(mine.sum()),
                stake=float(w[mine].sum()),
                stake_share=float(w[mine].sum()) / total,
                mean_similarity=float(best_sim[mine].mean()) if mine.any() else None,
            )
        )
    low = np.flatnonzero(~covered)
    return Coverage(
        best_article=[constitution.articles[j].id for j in best],
        similarity=best_sim,
        threshold=threshold,
        uncovered=[int(i) for i in low[np.argsort(best_sim[low], kind="stable")]],
        per_article=per_article,
        covered_share=float(covered.mean()) if len(e) else float("nan"),
        covered_stake_share=float(w[covered].sum()) / total,
    )


def fidelity_summary(
    wish_embeddings: np.ndarray,
    weights: Sequence[float],
    constitution: Constitution,
    embedder: Embedder,
    threshold: float = COVERAGE_THRESHOLD,
) -> tuple[float, Coverage]:
    """Measures (a) and (b) of one constitution on one set of wishes."""
    articles = embed_articles(constitution, embedder)
    return (
        collective_similarity(wish_embeddings, weights, articles),
        coverage(wish_embeddings, weights, constitution, articles, threshold),
    )
