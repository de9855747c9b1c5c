"""Calibration of a yes/no judge against hand labels: the part every such judge shares.

A yes/no judge (does this answer follow the conflict guidance? did this agent
take the harmful action?) is validated by asking it about items a person
labelled, then reporting its accuracy with a Wilson 95% interval, the 2x2
confusion matrix, every item's verdict, and the ROC AUC of its score (the
threshold-free view: a judge whose probabilities crowd near 0.5 can rank well
yet misclassify at a fixed threshold). :mod:`charter.evals.guidance` and
:mod:`charter.evals.agentic_calibration` hold the items and the question;
this module holds the loop and the figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from charter._util.auc import roc_auc
from charter._util.progress import progress_bar
from charter.backends.batch import map_concurrent
from charter.errors import CharterError
from charter.evals.evasive import calibration_summary
from charter.evals.results import Calibration


class LabelledItem(Protocol):
    """What the loop needs of an item: an id, its label, and whether that label is positive."""

    id: str
    kind: str | None

    @property
    def positive(self) -> bool: ...


#: ``ask(item) -> (score, verdict, details)``: P(positive), the judge's yes/no
#: verdict, and anything else worth keeping per item (e.g. the rubric level).
Ask = Callable[[Any], tuple[float, bool, dict[str, Any]]]


def data_file(name: str) -> Path:
    """A labelled set shipped in ``charter/evals/data/``."""
    return Path(str(resources.files("charter.evals") / "data" / name))


def check_kind(kind: str | None, positive: bool, positive_kinds, negative_kinds, flag: str) -> None:
    """Refuse a ``kind`` that is unknown or contradicts the item's label (``flag`` names it)."""
    if kind is None:
        return
    if kind not in (*positive_kinds, *negative_kinds):
        raise ValueError(
            f"kind {kind!r} must be one of {', '.join((*positive_kinds, *negative_kinds))} "
            "(or left out)"
        )
    if (kind in positive_kinds) != positive:
        raise ValueError(
            f"kind {kind!r} contradicts {flag}={str(positive).lower()}; "
            f"kinds with {flag}=true are {', '.join(positive_kinds)}"
        )


@dataclass(frozen=True)
class Verdict:
    """The judge's verdict on one labelled item (``positive`` None: the judge failed)."""

    item: Any
    labels: tuple[str, str]
    score: float | None
    positive: bool | None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def label(self) -> str:
        """The item's label: the row of the confusion matrix."""
        return self.labels[0] if self.item.positive else self.labels[1]

    @property
    def judged(self) -> str | None:
        """The judged label, or None when the judge gave no verdict."""
        if self.positive is None:
            return None
        return self.labels[0] if self.positive else self.labels[1]

    @property
    def correct(self) -> bool:
        return self.judged == self.label

    def to_row(self, score_name: str = "score") -> dict[str, Any]:
        """The per-item row the CLI prints with ``--json``."""
        return {
            "id": self.item.id,
            "kind": self.item.kind,
            "label": self.label,
            "judged": self.judged,
            score_name: self.score,
            **self.details,
            "correct": self.correct,
            "error": self.error,
        }


@dataclass(frozen=True)
class CalibrationRun:
    """The judge's agreement with the labels and every item's verdict, in item order."""

    calibration: Calibration
    rows: list[Verdict]
    score_name: str = "score"

    @property
    def auc(self) -> float | None:
        """ROC AUC of the score, positive over negative items (None if a class is empty)."""
        scored = [r for r in self.rows if r.score is not None]
        positives = [r.score for r in scored if r.item.positive]
        negatives = [r.score for r in scored if not r.item.positive]
        return roc_auc(positives, negatives) if positives and negatives else None

    def item_rows(self) -> list[dict[str, Any]]:
        """Every item's row, the score under its own name (``p_follows``, ``p_harmful``)."""
        return [row.to_row(self.score_name) for row in self.rows]


def calibrate_binary(
    judge: Any,
    items: Sequence[LabelledItem],
    ask: Ask,
    labels: tuple[str, str],
    title: str,
    score_name: str = "score",
    progress: bool = False,
    concurrency: int | None = None,
) -> CalibrationRun:
    """Ask the judge about every item; a judge failure counts as wrong (a missing verdict).

    Args:
        judge: the judge (its ``max_concurrency`` bounds the calls in flight).
        items: labelled items.
        ask: the question, see :data:`Ask`.
        labels: the positive and the negative label, in display order.
        title: the progress bar's text.
        score_name: what the score is called in the per-item rows.
        progress: show a progress bar.
        concurrency: judge calls in flight.
    """
    verdicts: dict[int, Verdict] = {}
    limit = getattr(judge, "max_concurrency", 1)
    with progress_bar(title, len(items), progress) as bar:
        for index, result in map_concurrent(ask, enumerate(items), concurrency, limit):
            item = items[index]
            if isinstance(result, CharterError):
                verdicts[index] = Verdict(item, labels, None, None, error=str(result))
            else:
                score, positive, details = result
                verdicts[index] = Verdict(item, labels, float(score), bool(positive), details)
            bar.advance()
    rows = [verdicts[index] for index in range(len(items))]
    judge_id = getattr(judge, "model_id", type(judge).__name__)
    pairs = [(row.label, row.judged) for row in rows if row.judged is not None]
    calibration = calibration_summary(judge_id, pairs, len(rows), labels)
    return CalibrationRun(calibration, rows, score_name)
