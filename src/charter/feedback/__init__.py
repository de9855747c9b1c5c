"""The one place where a model's judgement becomes a number, and where its worth is measured.

- :mod:`~charter.feedback.choices`: checked choice log-probs -> probabilities.
- :mod:`~charter.feedback.pairwise`: both orders, position bias, ensembles, the CoT clamp.
- :mod:`~charter.feedback.rubric`: pointwise rubrics and batteries of yes/no questions.
- :mod:`~charter.feedback.stats`: Wilson, bootstrap, AUC, ECE, macro-F1, Rogan-Gladen.
- :mod:`~charter.feedback.elo`: Bradley-Terry strengths on the Elo scale.
- :mod:`~charter.feedback.gold`, :mod:`~charter.feedback.card`,
  :mod:`~charter.feedback.calibrate`, :mod:`~charter.feedback.fit`: gold sets
  with dev/test splits, calibration cards, and methods fitted on dev.
- :mod:`~charter.feedback.registry`: the judges Charter ships, by name.
"""

from __future__ import annotations

from charter.feedback.card import CalibrationCard
from charter.feedback.choices import checked_logprobs, choice_probs, require_scorer
from charter.feedback.pairwise import (
    PairVerdict,
    both_orders,
    clamp_label,
    ensemble,
    ensemble_label,
)
from charter.feedback.registry import JudgeDef, Prediction, get_judge, judge_names, register_judge
from charter.feedback.stats import rate, wilson_interval

__all__ = [
    "CalibrationCard",
    "JudgeDef",
    "PairVerdict",
    "Prediction",
    "both_orders",
    "checked_logprobs",
    "choice_probs",
    "clamp_label",
    "ensemble",
    "ensemble_label",
    "get_judge",
    "judge_names",
    "rate",
    "register_judge",
    "require_scorer",
    "wilson_interval",
]
