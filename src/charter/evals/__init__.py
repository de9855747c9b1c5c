"""Evaluations: harmless/helpful Elo, evasiveness, over-refusal, conflicts and generalization.

Each eval is a suite (:mod:`charter.evals.suites`: one protocol, plan ->
jobs -> results, one module per suite, registered by name), so the ``eval``
run stage (:mod:`charter.evals.stage`), ``charter eval`` and the Inspect AI
tasks (:mod:`charter.evals.inspect_tasks`) share it. What an eval writes is
typed in :mod:`charter.evals.results`; its row keys are built in
:mod:`charter.evals.keys`. See ``docs/evals.md``.
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
