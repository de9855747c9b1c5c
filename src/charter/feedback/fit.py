"""Logistic models over judge features, fitted on a gold set's dev split.

A small feedback model's answer to one question is a noisy signal; several
short questions about the same item (and, optionally, an embedding classifier's
score) are combined by a multinomial logistic regression whose weights are
fitted on the dev split only. The fitted model is plain data (feature names,
class names, weights, feature means and scales), stored as JSON beside the
gold sets, so applying it needs nothing but numpy and a reader can see what
each question weighs.

Fitting is L2-regularised maximum likelihood by gradient descent on
standardised features (deterministic, no random restarts).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from charter.errors import DatasetError


class LogisticModel(BaseModel):
    """A fitted multinomial logistic regression (binary is the two-class case)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: list[str]
    classes: list[str]
    weights: list[list[float]] = Field(description="one row per class, one column per feature")
    bias: list[float]
    mean: list[float]
    scale: list[float]
    l2: float
    fitted_on: str = Field("", description="what it was fitted on, e.g. the gold set's dev split")

    def probs(self, features: Mapping[str, float]) -> dict[str, float]:
        """P(each class) for one item's features.

        Raises:
            DatasetError: a feature the model needs is missing.
        """
        missing = [name for name in self.features if name not in features]
        if missing:
            raise DatasetError(f"the fitted judge needs features {', '.join(missing)}")
        x = (np.array([features[n] for n in self.features]) - self.mean) / self.scale
        z = np.array(self.weights) @ x + np.array(self.bias)
        p = _softmax(z[None, :])[0]
        return dict(zip(self.classes, (float(v) for v in p), strict=True))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> LogisticModel:
        try:
            return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise DatasetError(f"{path}: no fitted judge here; fit one on the dev split.") from None
        except ValueError as exc:
            raise DatasetError(f"{path}: not a fitted judge ({str(exc)[:100]}).") from None


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_logistic(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    classes: Sequence[str],
    features: Sequence[str] | None = None,
    l2: float = 1.0,
    steps: int = 3000,
    lr: float = 0.5,
    fitted_on: str = "",
) -> LogisticModel:
    """Fit P(class | features) by L2-regularised maximum likelihood.

    Args:
        rows: one feature mapping per item.
        labels: each item's class.
        classes: the class names, in output order.
        features: which features to use (default: the first row's keys, sorted).
        l2: the penalty on the weights (on standardised features), per item.

    Raises:
        DatasetError: no rows, or a label not in ``classes``.
    """
    if not rows:
        raise DatasetError("fit_logistic needs at least one labelled item")
    names = list(features) if features is not None else sorted(rows[0])
    index = {c: k for k, c in enumerate(classes)}
    unknown = sorted({label for label in labels if label not in index})
    if unknown:
        raise DatasetError(f"labels {unknown} are not among the classes {list(classes)}")
    x = np.array([[row[n] for n in names] for row in rows], dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    x = (x - mean) / scale
    y = np.zeros((len(rows), len(classes)))
    y[np.arange(len(rows)), [index[label] for label in labels]] = 1.0
    w = np.zeros((len(classes), len(names)))
    b = np.log((y.sum(axis=0) + 1) / (len(rows) + len(classes)))
    n = len(rows)
    for _ in range(steps):
        p = _softmax(x @ w.T + b)
        grad_w = (p - y).T @ x / n + l2 * w / n
        grad_b = (p - y).mean(axis=0)
        w -= lr * grad_w
        b -= lr * grad_b
    return LogisticModel(
        features=names,
        classes=list(classes),
        weights=w.round(6).tolist(),
        bias=b.round(6).tolist(),
        mean=mean.round(6).tolist(),
        scale=scale.round(6).tolist(),
        l2=l2,
        fitted_on=fitted_on,
    )


def cross_validated_accuracy(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    classes: Sequence[str],
    features: Sequence[str],
    l2: float,
    folds: int = 5,
    groups: Sequence[str] | None = None,
) -> float:
    """Accuracy of :func:`fit_logistic` by ``folds``-fold cross-validation on these rows.

    ``groups`` keeps rows of one group (e.g. both orientations of one pair) in one fold.
    """
    keys = list(groups) if groups is not None else [str(k) for k in range(len(rows))]
    order = list(dict.fromkeys(keys))
    fold_of = {key: k % folds for k, key in enumerate(order)}
    hits = 0
    for fold in range(folds):
        train = [k for k, key in enumerate(keys) if fold_of[key] != fold]
        held = [k for k, key in enumerate(keys) if fold_of[key] == fold]
        if not train or not held or len({labels[k] for k in train}) < 2:
            continue
        model = fit_logistic(
            [rows[k] for k in train], [labels[k] for k in train], classes, features, l2, 800
        )
        for k in held:
            probs = model.probs(rows[k])
            hits += max(probs, key=probs.__getitem__) == labels[k]
    return hits / len(rows)


def fit_selected(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    classes: Sequence[str],
    l2_grid: Sequence[float] = (0.3, 1.0, 3.0),
    groups: Sequence[str] | None = None,
    fitted_on: str = "",
) -> LogisticModel:
    """Choose features and penalty by cross-validation on these (dev) rows, then fit.

    Forward selection: start from no features, add the one that raises the
    cross-validated accuracy most, stop when none does; each step tries every
    penalty in ``l2_grid``. A small judge's answers to some questions are noise
    on some judges, and a smaller model generalises better to text it has not
    seen; the choice never looks at the test split.
    """
    cv = cross_validated_accuracy
    candidates = sorted(rows[0])
    chosen: list[str] = []
    best = (-1.0, l2_grid[0])
    while True:
        trials = [
            (cv(rows, labels, classes, [*chosen, f], l2, groups=groups), l2, f)
            for f in candidates
            if f not in chosen
            for l2 in l2_grid
        ]
        if not trials:
            break
        score, l2, feature = max(trials, key=lambda t: (t[0], -abs(t[1] - 1.0)))
        if score <= best[0] + 1e-9:
            break
        chosen.append(feature)
        best = (score, l2)
    note = f"{fitted_on}; features chosen by 5-fold CV on it (accuracy {best[0]:.3f})"
    return fit_logistic(rows, labels, classes, chosen, best[1], fitted_on=note)
