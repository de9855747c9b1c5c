"""Evaluations: harmless/helpful Elo, evasiveness, over-refusal, conflicts and generalization.

The core of each eval is a plain function over models' answers and a judge,
so the ``eval`` run stage (:mod:`charter.evals.stage`), ``charter eval`` and
the Inspect AI tasks share it. What an eval writes is typed in
:mod:`charter.evals.results`. See ``docs/evals.md``.
"""

from __future__ import annotations

from charter.evals.elo import Comparison, elo_with_intervals, fit_bradley_terry, to_elo
from charter.evals.judge import Classification, PairVerdict, classify, compare, follows_guidance
from charter.evals.results import (
    Calibration,
    EvalReport,
    EvalResult,
    Example,
    FrontierPoint,
    ModelScore,
    read_report,
    read_result,
)
from charter.evals.stats import percentile_interval, wilson_interval

__all__ = [
    "Calibration",
    "Classification",
    "Comparison",
    "EvalReport",
    "EvalResult",
    "Example",
    "FrontierPoint",
    "ModelScore",
    "PairVerdict",
    "classify",
    "compare",
    "elo_with_intervals",
    "fit_bradley_terry",
    "follows_guidance",
    "percentile_interval",
    "read_report",
    "read_result",
    "to_elo",
    "wilson_interval",
]
