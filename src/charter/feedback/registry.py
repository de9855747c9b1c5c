"""The judges Charter ships, registered by name, each with one or more methods.

A :class:`JudgeDef` names a judge (``evasiveness``, ``harmful_compliance``,
``preference_harmlessness``, ...), the gold item it is calibrated on, its labels
and its methods. A :class:`Method` turns ``(scorer, item)`` into a
:class:`Prediction`; a method backed by a fitted logistic model
(:mod:`charter.feedback.fit`) also exposes the features it fits on.

Judges defined in this package register themselves on import; judges whose
questions belong to a domain package (conflict guidance, the agentic action,
reflection depth) are registered by that package, the way stage kinds are, so
``charter eval calibrate`` finds every judge without the feedback layer
importing upward.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from charter.errors import ConfigError
from charter.feedback.fit import LogisticModel
from charter.feedback.gold import GoldItem, gold_path


@dataclass(frozen=True)
class Prediction:
    """A judge's verdict on one gold item.

    Args:
        judged: the label the judge gives.
        confidence: the probability it gives that label (for calibration error).
        probs: the probability of each label (when it has them).
        calls: model calls this took.
        flipped: pairwise only: the two presentation orders disagreed.
        margin: pairwise only: ``|p - 0.5|``.
        features: what a fitted method read (kept for inspection).
    """

    judged: str
    confidence: float
    probs: Mapping[str, float] = field(default_factory=dict)
    calls: int = 1
    flipped: bool | None = None
    margin: float | None = None
    features: Mapping[str, float] = field(default_factory=dict)


Predict = Callable[[Any, Any], Prediction]
Features = Callable[[Any, Any], dict[str, float]]


@dataclass(frozen=True)
class Method:
    """One way a judge decides.

    Args:
        name: e.g. ``rubric``, ``battery-lr``.
        description: one line for the CLI and the bench table.
        predict: ``(scorer, item) -> Prediction``.
        features: for fitted methods, ``(scorer, item) -> features`` the fit reads.
        fit_rows: for fitted methods, turns ``(features, gold label)`` into training
            rows (pairwise judges add the swapped orientation).
    """

    name: str
    description: str
    predict: Predict
    features: Features | None = None
    fit_rows: Callable[[dict[str, float], str], list[tuple[dict[str, float], str]]] | None = None
    fit_classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class JudgeDef:
    """A judge: its gold item, labels, truth and methods."""

    name: str
    description: str
    item: type[GoldItem]
    labels: tuple[str, ...]
    truth: Callable[[Any], str]
    methods: Mapping[str, Method]
    default: str
    positive: str | None = None
    pairwise: bool = False

    def method(self, name: str | None) -> Method:
        """The named method (default: the judge's default); ConfigError listing them."""
        name = name or self.default
        if name not in self.methods:
            raise ConfigError(
                f"--method {name!r}: judge {self.name} has methods {', '.join(self.methods)}."
            )
        return self.methods[name]

    def gold(self) -> Path:
        """The shipped gold set."""
        return gold_path(self.name)


_JUDGES: dict[str, JudgeDef] = {}


def register_judge(judge: JudgeDef) -> JudgeDef:
    """Add (or replace) a judge under its name."""
    _JUDGES[judge.name] = judge
    return judge


def judge_names() -> list[str]:
    """Every registered judge, in registration order."""
    _load_builtin()
    return list(_JUDGES)


def get_judge(name: str) -> JudgeDef:
    """The registered judge ``name``; ConfigError listing the known ones."""
    _load_builtin()
    if name not in _JUDGES:
        raise ConfigError(f"--judge {name!r}: choose one of {', '.join(_JUDGES)}.")
    return _JUDGES[name]


def _load_builtin() -> None:
    # The judges this package defines register on import (late: they import this module).
    from charter.feedback import preference_judges, response_judges  # noqa: F401


def fitted_path(judge: str, method: str) -> Path:
    """Where the shipped fitted model of ``judge``'s ``method`` lives."""
    return Path(str(resources.files("charter.feedback") / "fitted" / f"{judge}.{method}.json"))


_FITTED: dict[Path, LogisticModel] = {}


def fitted_model(judge: str, method: str) -> LogisticModel:
    """The fitted model of a method (cached); DatasetError saying how to fit it if absent."""
    path = fitted_path(judge, method)
    if path not in _FITTED:
        if not path.is_file():
            raise ConfigError(
                f"{path}: judge {judge} method {method} is not fitted yet; run "
                f"`charter eval calibrate --judge {judge} --method {method} --fit`."
            )
        _FITTED[path] = LogisticModel.load(path)
    return _FITTED[path]


def forget_fitted() -> None:
    """Drop cached fitted models (after a refit)."""
    _FITTED.clear()
