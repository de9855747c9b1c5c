"""Evaluations: harmless/helpful Elo, evasiveness, over-refusal, conflicts and generalization.

The core of each eval is a plain function over models' answers and a judge,
so the ``eval`` run stage (:mod:`charter.evals.stage`), ``charter eval`` and
the Inspect AI tasks share it. What an eval writes is typed in
:mod:`charter.evals.results`. See ``docs/evals.md``.
"""

from __future__ import annotations

from charter.evals.results import (
    EvalReport,
    EvalResult,
    Example,
    FrontierPoint,
    ModelScore,
    read_report,
    read_result,
)

__all__ = [
    "EvalReport",
    "EvalResult",
    "Example",
    "FrontierPoint",
    "ModelScore",
    "read_report",
    "read_result",
]
