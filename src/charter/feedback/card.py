"""Calibration cards: what a judge is worth, measured on a gold set's test split.

A card is the evidence behind every number a judge produces. It names the
judge, its method and model, the gold set (file name and SHA-256) and split,
and reports accuracy with a Wilson 95% interval, macro-F1, the per-class
confusion, expected calibration error and, for two-class judges, sensitivity
and specificity (what :func:`charter.feedback.stats.corrected_rate_interval`
needs to correct an eval rate for the judge's error). Pairwise judges add the
flip rate (the two presentation orders pick different winners) and the mean
margin ``|p - 0.5|``.

Runs carry one card per judge (``<run>/cards/<judge>.json``); a config's
``min_judge_accuracy`` refuses a judge whose card is missing or falls short.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from charter.errors import DatasetError
from charter.feedback.stats import (
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
    wilson_interval,
)


class CalibrationCard(BaseModel):
    """One judge's calibration on one gold split."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    judge: str = Field(description="the judge's name, e.g. evasiveness")
    method: str = Field(description="how the judge decides, e.g. battery-lr")
    model_id: str = Field(description="the feedback model behind it")
    gold: str = Field(description="the gold set's file name")
    gold_sha256: str
    split: str = Field(description="the split measured: test, unless a user's file has none")
    n: int = Field(description="items judged, failures included (a failure counts as wrong)")
    failed: int = 0
    accuracy: float
    ci_low: float
    ci_high: float
    macro_f1: float
    labels: list[str]
    confusion: list[list[int]] = Field(description="rows: gold label, columns: judged label")
    ece: float = Field(description="expected calibration error of the judge's confidence")
    positive: str | None = Field(None, description="two-class judges: the positive label")
    sensitivity: float | None = None
    specificity: float | None = None
    true_positives: int | None = None
    positives: int | None = None
    true_negatives: int | None = None
    negatives: int | None = None
    flip_rate: float | None = Field(None, description="pairwise: the orders disagree")
    mean_margin: float | None = Field(None, description="pairwise: mean |p - 0.5|")
    calls_per_item: float = Field(0.0, description="judge model calls per gold item")

    def summary(self) -> str:
        """One line: accuracy, its interval, n, and the pairwise figures when present."""
        text = (
            f"{self.judge} ({self.method}, {self.model_id}): accuracy {self.accuracy:.3f} "
            f"[{self.ci_low:.3f}, {self.ci_high:.3f}] on {self.n} {self.split} items, "
            f"macro-F1 {self.macro_f1:.3f}, ECE {self.ece:.3f}"
        )
        if self.flip_rate is not None:
            text += f", flip rate {self.flip_rate:.3f}, mean margin {self.mean_margin:.3f}"
        return text

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> CalibrationCard:
        """Read a card.

        Raises:
            DatasetError: missing or not a card, with the fix.
        """
        try:
            return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise DatasetError(
                f"{path}: no calibration card; make one with "
                "`charter eval calibrate --judge NAME --card FILE`."
            ) from None
        except ValueError as exc:
            raise DatasetError(f"{path}: not a calibration card ({str(exc)[:100]}).") from None


def build_card(
    *,
    judge: str,
    method: str,
    model_id: str,
    gold: str | Path,
    gold_sha256: str,
    split: str,
    labels: Sequence[str],
    truths: Sequence[str],
    judged: Sequence[str | None],
    confidences: Sequence[float | None],
    positive: str | None = None,
    flips: Sequence[bool] | None = None,
    margins: Sequence[float] | None = None,
    calls: int = 0,
) -> CalibrationCard:
    """Compute a card from each item's gold label, verdict (None: failed) and confidence."""
    n = len(truths)
    pairs = [(t, j) for t, j in zip(truths, judged, strict=True) if j is not None]
    correct = sum(1 for t, j in pairs if t == j)
    low, high = wilson_interval(correct, n)
    confusion = confusion_matrix(pairs, labels)
    scored = [
        (c, t == j) for t, j, c in zip(truths, judged, confidences, strict=True) if c is not None
    ]
    ece = expected_calibration_error([c for c, _ in scored], [ok for _, ok in scored])
    binary: dict = {}
    if positive is not None and len(labels) == 2:
        k = list(labels).index(positive)
        tp, pos = confusion[k][k], sum(1 for t in truths if t == positive)
        tn, neg = confusion[1 - k][1 - k], sum(1 for t in truths if t != positive)
        binary = {
            "positive": positive,
            "true_positives": tp,
            "positives": pos,
            "true_negatives": tn,
            "negatives": neg,
            "sensitivity": tp / pos if pos else None,
            "specificity": tn / neg if neg else None,
        }
    pairwise: dict = {}
    if flips is not None and margins is not None:
        pairwise = {
            "flip_rate": sum(flips) / len(flips) if flips else 0.0,
            "mean_margin": sum(margins) / len(margins) if margins else 0.0,
        }
    return CalibrationCard(
        judge=judge,
        method=method,
        model_id=model_id,
        gold=Path(gold).name,
        gold_sha256=gold_sha256,
        split=split,
        n=n,
        failed=sum(1 for j in judged if j is None),
        accuracy=correct / n if n else 0.0,
        ci_low=low,
        ci_high=high,
        macro_f1=macro_f1(confusion),
        labels=list(labels),
        confusion=confusion,
        ece=ece,
        calls_per_item=calls / n if n else 0.0,
        **binary,
        **pairwise,
    )


def shipped_card_path(judge: str, method: str) -> Path:
    """Where the card of a shipped judge on the embedded feedback model lives."""
    from importlib import resources

    return Path(str(resources.files("charter.feedback") / "cards" / f"{judge}.{method}.json"))


def find_card(
    judge: str, method: str, model_id: str, user_card: str | Path | None = None
) -> CalibrationCard | None:
    """The card for ``judge``/``method`` on ``model_id``: the user's file, else the shipped one.

    A shipped card counts only when it was measured on the same model.

    Raises:
        DatasetError: the user's card is unreadable, or is for another judge, method or model.
    """
    if user_card is not None:
        card = CalibrationCard.load(user_card)
        if (card.judge, card.method, card.model_id) != (judge, method, model_id):
            raise DatasetError(
                f"{user_card}: a card for {card.judge}/{card.method} on {card.model_id}, but the "
                f"run uses {judge}/{method} on {model_id}; calibrate that judge for this run."
            )
        return card
    path = shipped_card_path(judge, method)
    if not path.is_file():
        return None
    card = CalibrationCard.load(path)
    return card if card.model_id == model_id else None
