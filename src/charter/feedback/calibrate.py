"""Calibrate a registered judge on a gold set, and fit its tunable methods on dev.

:func:`calibrate` asks the judge about every item of one split (``test`` by
default) and returns a :class:`~charter.feedback.card.CalibrationCard` with every
item's verdict; a judge failure on an item counts as wrong (it would be a
missing verdict in an eval). :func:`fit` computes a fitted method's features on
the dev split only, chooses features and penalty by cross-validation on it
(:func:`charter.feedback.fit.fit_selected`) and fits its logistic model, so
nothing a card reports was seen by what it measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter._util.progress import progress_bar
from charter.backends.batch import map_concurrent
from charter.errors import CharterError, ConfigError
from charter.feedback.card import CalibrationCard, build_card
from charter.feedback.choices import require_scorer
from charter.feedback.fit import LogisticModel, fit_selected
from charter.feedback.gold import file_sha256, load_gold
from charter.feedback.registry import JudgeDef, Prediction, fitted_path, forget_fitted


@dataclass(frozen=True)
class ItemVerdict:
    """One gold item, its gold label and the judge's prediction (None: the judge failed)."""

    item: Any
    label: str
    prediction: Prediction | None
    error: str | None = None

    def to_row(self) -> dict[str, Any]:
        p = self.prediction
        return {
            "id": self.item.id,
            "category": self.item.category,
            "label": self.label,
            "judged": p.judged if p else None,
            "confidence": round(p.confidence, 4) if p else None,
            "probs": {k: round(v, 4) for k, v in p.probs.items()} if p else None,
            "flipped": p.flipped if p else None,
            "correct": bool(p and p.judged == self.label),
            "error": self.error,
        }


@dataclass(frozen=True)
class CalibrationRun:
    """A card and the per-item verdicts behind it."""

    card: CalibrationCard
    verdicts: list[ItemVerdict]

    def item_rows(self) -> list[dict[str, Any]]:
        return [v.to_row() for v in self.verdicts]


def _ask_all(
    fn: Any,
    scorer: Any,
    items: Sequence[Any],
    title: str,
    progress: bool,
    concurrency: int | None,
) -> list[tuple[Any, Any]]:
    """``fn(scorer, item)`` for every item, in item order; failures become CharterErrors."""
    results: dict[int, Any] = {}
    limit = getattr(scorer, "max_concurrency", 1)
    with progress_bar(title, len(items), progress) as bar:
        for index, result in map_concurrent(
            lambda item: fn(scorer, item), enumerate(items), concurrency, limit
        ):
            results[index] = result
            bar.advance()
    return [(items[k], results[k]) for k in range(len(items))]


def calibrate(
    judge: JudgeDef,
    scorer: Any,
    path: str | Path | None = None,
    split: str | None = "test",
    method: str | None = None,
    limit: int | None = None,
    progress: bool = False,
    concurrency: int | None = None,
) -> CalibrationRun:
    """The judge's card on one split of a gold set (default: its shipped set, test split).

    A user's file without ``split`` fields is all ``test``.

    Raises:
        ConfigError: the scorer has no choice log-probs, or the method is unknown/unfitted.
        DatasetError: the gold file is malformed (file, line and field named).
    """
    require_scorer(scorer)
    chosen = judge.method(method)
    gold = Path(path) if path else judge.gold()
    items = load_gold(judge.item, gold, split, limit)
    title = f"calibrate {judge.name} ({chosen.name})"
    verdicts = []
    for item, result in _ask_all(chosen.predict, scorer, items, title, progress, concurrency):
        if isinstance(result, CharterError):
            if isinstance(result, ConfigError):
                raise result  # an unfitted method fails the whole run, not each item
            verdicts.append(ItemVerdict(item, judge.truth(item), None, str(result)))
        else:
            verdicts.append(ItemVerdict(item, judge.truth(item), result))
    predictions = [v.prediction for v in verdicts]
    card = build_card(
        judge=judge.name,
        method=chosen.name,
        model_id=getattr(scorer, "model_id", type(scorer).__name__),
        gold=gold,
        gold_sha256=file_sha256(gold),
        split=split or "all",
        labels=judge.labels,
        truths=[v.label for v in verdicts],
        judged=[p.judged if p else None for p in predictions],
        confidences=[p.confidence if p else None for p in predictions],
        positive=judge.positive,
        flips=[bool(p and p.flipped) for p in predictions] if judge.pairwise else None,
        margins=[p.margin or 0.0 for p in predictions if p] if judge.pairwise else None,
        calls=sum(p.calls for p in predictions if p),
    )
    return CalibrationRun(card, verdicts)


def fit(
    judge: JudgeDef,
    scorer: Any,
    method: str | None = None,
    path: str | Path | None = None,
    out: str | Path | None = None,
    limit: int | None = None,
    progress: bool = False,
    concurrency: int | None = None,
) -> LogisticModel:
    """Fit a method's logistic model on the gold set's dev split; save it (default: shipped).

    ``limit`` fits on the first dev items only (a cheaper fit; the card says how many).

    Raises:
        ConfigError: the method has nothing to fit.
    """
    require_scorer(scorer)
    chosen = judge.method(method)
    if chosen.features is None or chosen.fit_rows is None:
        raise ConfigError(f"--method {chosen.name}: nothing to fit; it has no tuned weights.")
    gold = Path(path) if path else judge.gold()
    items = load_gold(judge.item, gold, "dev", limit)
    rows, labels, groups = [], [], []
    title = f"fit {judge.name} ({chosen.name}) on dev"
    for item, result in _ask_all(chosen.features, scorer, items, title, progress, concurrency):
        if isinstance(result, CharterError):
            continue  # an item the judge cannot answer teaches the fit nothing
        for features, label in chosen.fit_rows(result, judge.truth(item)):
            rows.append(features)
            labels.append(label)
            groups.append(item.id)  # both orientations of a pair stay in one fold
    if not rows:
        raise ConfigError(f"{gold}: the judge answered no dev item; nothing to fit.")
    model = fit_selected(
        rows,
        labels,
        chosen.fit_classes,
        groups=groups,
        fitted_on=f"{gold.name} dev ({len(items)} items, sha256 {file_sha256(gold)[:16]}), "
        f"{getattr(scorer, 'model_id', '?')}",
    )
    target = Path(out) if out else fitted_path(judge.name, chosen.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    model.save(target)
    forget_fitted()
    return model
