"""Typed views of a collective analysis's files: ``results.json`` and ``draft_citations.json``.

:func:`charter.collective.analysis.analyze` writes ``results.json``;
:func:`charter.collective.draft.write_draft` writes ``draft_citations.json``.
These models are what a reader of those files (the collective's page, the run
report) works with, so no figure travels as an untyped dict. Unknown fields are
ignored: an analysis that records more stays readable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

RESULTS = "results.json"
CITATIONS = "draft_citations.json"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LedgerInfo(_Model):
    """The checkpoint the wishes were read at."""

    origin: str | None = None
    size: int
    root: str
    checkpoint_id: str
    checkpoint: str | None = None
    verified: bool | None = None


class AnalysisModels(_Model):
    embedder: str
    judge: str | None = None


class Concentration(_Model):
    """How concentrated a per-key total is (see :mod:`charter.collective.weights`)."""

    keys: int
    gini: float
    top1_share: float
    top10_share: float
    effective_keys: float
    largest_share: float | None = None


class Influence(_Model):
    transform: str
    concentration: dict[str, Concentration]
    stake_by_key: list[float]
    influence_by_key: list[float]


class Cancellation(_Model):
    """C = ‖Σ wᵢvᵢ‖ / Σ wᵢ‖vᵢ‖ for the self and humanity pulls, in two spaces."""

    self_embedding: float | None = None
    humanity_embedding: float | None = None
    self_scalar: float | None = None
    humanity_scalar: float | None = None
    self_by_author: float | None = None


class TopSelf(_Model):
    index: int
    entry_id: str
    pull: float
    s: float
    weight: float
    orientation: str | None = None
    text: str


class ScorerStats(_Model):
    """One h/s scorer's statistics (projection on all wishes, or the rubric on a sample)."""

    n: int | None = None
    judge: str | None = None
    cancellation: Cancellation
    auc_s: float | None = None
    auc_h: float | None = None
    top_self: list[TopSelf] = Field(default_factory=list)


class Humanity(_Model):
    projection: ScorerStats
    rubric: ScorerStats | None = None


class GroupSummary(_Model):
    group: int
    size: int
    stake: float | None = None
    stake_share: float
    top_tags: list[tuple[str, int]] = Field(default_factory=list)
    representatives: list[int] = Field(default_factory=list)  # wish indexes, nearest first
    representative_texts: list[str] = Field(default_factory=list)
    representative_ids: list[str] = Field(default_factory=list)


class Groups(_Model):
    k: int
    silhouettes: dict[str, float]
    explained_variance: list[float] = Field(default_factory=list)
    summaries: list[GroupSummary]


class VotedWish(_Model):
    entry_id: str
    consensus: float
    bridging: float
    endorse: int
    oppose: int
    text: str


class Consensus(_Model):
    voters: int
    voter_groups: int
    wishes_with_votes: int
    top_consensus: list[VotedWish]
    top_bridging: list[VotedWish]


class ArticleCoverage(_Model):
    article_id: str
    title: str
    wishes: int
    stake: float
    stake_share: float
    mean_similarity: float | None = None


class UncoveredWish(_Model):
    entry_id: str
    similarity: float
    best_article: str
    weight: float
    text: str


class Coverage(_Model):
    threshold: float
    covered_share: float
    covered_stake_share: float
    per_article: list[ArticleCoverage]
    uncovered_count: int
    uncovered: list[UncoveredWish]


class Accuracy(_Model):
    """Reconstruction accuracy with its Wilson 95% interval."""

    n: int
    correct: int
    accuracy: float | None = None
    ci95: tuple[float, float] | None = None


class Reconstruction(_Model):
    overall: Accuracy
    per_article: dict[str, Accuracy] = Field(default_factory=dict)


class Fidelity(_Model):
    constitution: str
    constitution_hash: str | None = None
    collective_similarity: float
    coverage: Coverage
    reconstruction: Reconstruction | None = None


class DraftArticle(_Model):
    id: str
    title: str
    rule: str
    rationale: str = ""
    cites: list[str] = Field(default_factory=list)
    cites_inferred: bool = False
    group: int | None = None


class Draft(_Model):
    """The drafted constitution, or ``failed`` when every draft failed."""

    yaml: str | None = None
    citations: str | None = None
    constitution_hash: str | None = None
    articles: list[DraftArticle] = Field(default_factory=list)
    failed: bool = False
    collective_similarity: float | None = None
    coverage: Coverage | None = None


class WishPoint(_Model):
    """One wish in the plots and the per-wish table: weight, group, h/s, best article."""

    entry_id: str
    index: int
    weight: float
    stake: int | None = None
    group: int
    x: float
    y: float
    h_projection: float
    s_projection: float
    h_rubric: float | None = None
    s_rubric: float | None = None
    orientation: str | None = None
    best_article: str | None = None  # the constitution's article nearest the wish
    coverage_similarity: float | None = None  # cosine to that article


class CollectiveResults(_Model):
    """Everything :func:`~charter.collective.analysis.analyze` writes to ``results.json``."""

    ledger: LedgerInfo
    models: AnalysisModels
    constitution_hash: str
    options: dict[str, Any] = Field(default_factory=dict)  # AnalysisOptions, as recorded
    influence: Influence
    humanity: Humanity
    groups: Groups
    consensus: Consensus | None = None
    fidelity: Fidelity
    draft: Draft | None = None
    wishes: list[WishPoint]
    created_at: str | None = None

    @classmethod
    def load(cls, path: str | Path) -> CollectiveResults:
        """Read and validate a ``results.json`` (pydantic's ValidationError if it is not one)."""
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))

    def to_json(self) -> str:
        """The ``results.json`` text: the fields the analysis set, one-space indent.

        Fields left unset (a scorer without a judge, no rubric sample) stay out
        of the file rather than appearing as ``null``, and non-finite floats are
        written as ``json.dumps`` writes them, so the file reads as it always has.
        """
        data = self.model_dump(mode="json", exclude_unset=True)
        return json.dumps(data, indent=1, ensure_ascii=False) + "\n"

    def write(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path``; return it."""
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        return path


class Citation(_Model):
    """A cited wish with its RFC 6962 inclusion proof, read leniently.

    :class:`charter.collective.draft.Citation` is the strict model of what the
    drafter writes now (with ``entry`` and ``quote_sha256``, binding the
    quoted text to the leaf); this one also reads files written before those
    fields existed, so an old run still shows its proofs.
    """

    entry_id: str
    leaf_index: int
    tree_size: int
    audit_path: list[str]
    scenario: str | None = None
    behaviour: str | None = None
    entry: str | None = None  # the entry's stored bytes (canonical JSON), newer files
    quote_sha256: str | None = None  # newer files


class CitedArticle(_Model):
    article_id: str
    title: str
    group: int | None = None
    cites_inferred: bool = False
    cites: list[Citation]


class DraftCitations(_Model):
    """``draft_citations.json``: every drafted article's sources, proved against one root."""

    checkpoint: str | None = None
    checkpoint_id: str
    origin: str | None = None
    tree_size: int
    root: str
    constitution_hash: str | None = None
    articles: list[CitedArticle]

    @classmethod
    def load(cls, path: str | Path) -> DraftCitations:
        """Read and validate a ``draft_citations.json``."""
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


__all__ = [
    "CITATIONS",
    "RESULTS",
    "Citation",
    "CitedArticle",
    "CollectiveResults",
    "DraftCitations",
]
