"""Typed data of the run report: one model per thing a section shows.

What a stage writes is read into these models by :mod:`charter.report.stages`
(or into the producing package's own models: :class:`~charter.evals.results.EvalResult`,
:class:`~charter.feedback.card.CalibrationCard`,
:class:`~charter.collective.results.CollectiveResults`), so no section receives
an untyped dict. Unknown fields in the files are ignored, so a producer that
records more stays readable.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from charter.collective.results import CollectiveResults, DraftCitations
from charter.evals.results import EvalResult


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StageRef(_Model):
    name: str
    kind: str | None = None


class RunConfigView(_Model):
    """The part of the run's config the report needs: its stages and their kinds."""

    stages: list[StageRef] = Field(default_factory=list)


class ModelEntry(_Model):
    spec: dict[str, JsonValue] | None = None
    model_id: str | None = None


class RunManifest(_Model):
    """``manifest.json`` as :func:`charter.runs.runner._write_manifest` writes it."""

    name: str | None = None
    config_hash: str | None = None
    constitution_hash: str | None = None
    constitution_name: str | None = None
    seed: int | None = None
    models: dict[str, ModelEntry] = Field(default_factory=dict)
    config: RunConfigView = Field(default_factory=RunConfigView)
    started_at: str | None = None
    updated_at: str | None = None
    charter_version: str | None = None


class StageInfo(_Model):
    """A stage folder: its kind (from the manifest, else recognised) and its files."""

    name: str
    kind: str | None = None
    files: list[str] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)  # rows per JSONL file


class ProvenanceGroup(_Model):
    """Rows sharing one provenance (seeds aside)."""

    model_id: str | None = None
    constitution_hash: str | None = None
    config_hash: str | None = None
    ledger_checkpoint: str | None = None
    rows: int = 0
    seeds: list[int] = Field(default_factory=list)


class TrainPoint(_Model):
    """One row of ``train_log.jsonl`` (:mod:`charter.train.trainer`), TRL's names mapped."""

    step: int
    loss: float | None = None
    margin: float | None = None  # DPO ``rewards/margins``, reward-model ``margin``
    reward: float | None = None  # GRPO mean reward
    accuracy: float | None = None  # DPO ``rewards/accuracies``, reward-model ``accuracy``
    learning_rate: float | None = None


class TrainCurve(_Model):
    stage: str
    kind: str | None = None
    points: list[TrainPoint]
    finished: bool = False  # train.json exists
    final_loss: float | None = None


class ChainStep(_Model):
    round: int | None = None
    article_id: str | None = None
    article_title: str | None = None
    critique: str | None = None
    revision: str | None = None


class RevisionQuality(_Model):
    label: str | None = None
    outcome: str | None = None
    p_harmful: float | None = None


class Revision(_Model):
    """One SL-CAI chain (``steps.jsonl``, :mod:`charter.cai.sl`)."""

    stage: str
    id: str
    status: str = ""
    prompt: str | None = None
    initial_response: str | None = None
    chain: list[ChainStep] = Field(default_factory=list)
    final_response: str | None = None
    quality: RevisionQuality | None = None


class QualitySummary(_Model):
    """``quality.json`` (:func:`charter.cai.sl.quality_summary`)."""

    stage: str
    judged: int = 0
    outcomes: dict[str, int] = Field(default_factory=dict)
    sft_labels: dict[str, int] = Field(default_factory=dict)
    bare_refusal_share: float | None = None
    bare_refusal_ci: tuple[float, float] | None = None
    harmful_share: float | None = None


class PreferenceLabel(_Model):
    """One RL-CAI preference row (``preferences.jsonl``, :mod:`charter.cai.labels`)."""

    stage: str
    id: str | None = None
    prompt: str | None = None
    chosen: str | None = None
    rejected: str | None = None
    label_prob: float | None = None
    p_first: float | None = None
    position_bias: float | None = None
    articles: list[str] = Field(default_factory=list)

    @property
    def margin(self) -> float | None:
        """``|p - 0.5|``: how far the label is from a coin flip."""
        return None if self.p_first is None else abs(self.p_first - 0.5)


class Quantiles(_Model):
    mean: float
    min: float
    p10: float
    median: float
    p90: float
    max: float


class OrderAgreement(_Model):
    """:func:`charter.feedback.pairwise.order_consistency`: both orders, same winner?"""

    agree: int
    pairs: int
    lean: float  # the labeler's mean lean toward (A), removed before comparing
    rho: float | None = None  # Spearman's rho of the two orders across pairs
    test: str = "sign"  # "spearman" (decides when the probabilities vary) or "sign"
    p_value: float


class LabelStats(_Model):
    """``label_stats.json`` (:func:`charter.cai.labels.label_stats`)."""

    stage: str
    pairs: int = 0
    min_margin: float | None = None
    low_margin: int = 0
    dropped_low_margin: int = 0
    margin: Quantiles | None = None
    position_bias: Quantiles | None = None
    article_flip_rate: float | None = None
    order_agreement: OrderAgreement | None = None
    labels_beat_chance: bool | None = None  # None: no pair was labelled in both orders
    consistency_words: str | None = None  # charter.cai.labels.consistency_words, by the reader


class Reflection(_Model):
    stage: str
    id: str
    document: str
    reflection: str


class LedgerSummary(_Model):
    """A ledger stage's ``summary.json`` facts and its signed checkpoint."""

    stage: str
    facts: list[tuple[str, str]]
    checkpoint: str


class MixCounts(_Model):
    documents: int = 0
    words: int = 0
    by_class: dict[str, int] = Field(default_factory=dict)
    by_article: dict[str, int] = Field(default_factory=dict)
    by_style: dict[str, int] = Field(default_factory=dict)
    by_mode: dict[str, int] = Field(default_factory=dict)
    dropped: dict[str, int] = Field(default_factory=dict)
    mean_reflection_depth: float | None = None


class ManifestRef(_Model):
    root: str
    size: int
    file: str = "manifest.json"


class MixCard(_Model):
    """A mix's ``card.json`` (:mod:`charter.pretrain.mix`, :mod:`charter.pretrain.card`)."""

    mix: str
    strategy: str
    placement: str | None = None
    style: str | None = None
    dilemmas: bool | None = None
    description: str = ""
    counts: MixCounts
    models: dict[str, str] = Field(default_factory=dict)
    constitution_hash: str | None = None
    ledger_checkpoint: str | None = None
    config_hash: str | None = None
    seed: int | None = None
    manifest: ManifestRef
    identical_to: list[str] = Field(default_factory=list)  # other mixes with the same root
    warnings: list[str] = Field(default_factory=list)  # e.g. why it is identical to another


class MixManifest(_Model):
    """A mix's ``manifest.json`` (:mod:`charter.pretrain.manifest`); the digests are counted."""

    format: str
    size: int
    root: str
    documents: list[str] = Field(default_factory=list, exclude=True)


class Mix(_Model):
    stage: str
    card: MixCard
    manifest: MixManifest | None = None

    @property
    def manifest_matches(self) -> bool:
        """The card names the manifest's root and size (``charter pretrain verify`` does more)."""
        return self.manifest is not None and (
            (self.manifest.root, self.manifest.size)
            == (self.card.manifest.root, self.card.manifest.size)
        )


class AblationRow(_Model):
    """One row of the ablation table (:func:`charter.pretrain.ablate.summarize`)."""

    mix: str
    framing: str
    seeds: int
    propensity: float
    propensity_ci95: float  # half-width of the 95% t-interval over seeds
    margin: float
    margin_ci95: float
    final_loss: float | None = None


class Verdict(_Model):
    """A comparison put into words: what differs, by how much, and whether that is conclusive."""

    subject: str
    baseline: str
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    conclusive: bool
    words: str


class Ablation(_Model):
    stage: str
    rows: list[AblationRow]
    baseline: str | None = None
    verdicts: list[Verdict] = Field(default_factory=list)


class CollectiveStage(_Model):
    stage: str
    results: CollectiveResults
    citations: DraftCitations | None = None


__all__ = [
    "Ablation",
    "AblationRow",
    "ChainStep",
    "CollectiveStage",
    "LabelStats",
    "LedgerSummary",
    "Mix",
    "MixCard",
    "MixManifest",
    "PreferenceLabel",
    "ProvenanceGroup",
    "QualitySummary",
    "Reflection",
    "Revision",
    "RunManifest",
    "StageInfo",
    "TrainCurve",
    "TrainPoint",
    "Verdict",
]


class ReductionFactor(_Model):
    """Agentic misalignment: ``rate(baseline) / rate(model)`` with its bootstrap interval."""

    model: str
    factor: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    conclusive: bool = False
    words: str = ""


class ResultView(_Model):
    """One eval result as the tables show it: figures, comparisons in words, cautions."""

    result: EvalResult
    baseline: str | None = None
    verdicts: dict[str, Verdict] = Field(default_factory=dict)  # model key -> vs baseline
    cautions: dict[str, str] = Field(default_factory=dict)  # model key -> tiny-n caution
    reduction: list[ReductionFactor] = Field(default_factory=list)
    judge_warnings: list[str] = Field(default_factory=list)  # judges no better than chance


class TrainView(_Model):
    curve: TrainCurve
    svg: str
    last_margin: float | None = None
    last_reward: float | None = None


class CollectiveView(_Model):
    stage: str
    wishes: int
    checkpoint_id: str
    html: str  # the collective's own sections, rendered by charter.collective.report
