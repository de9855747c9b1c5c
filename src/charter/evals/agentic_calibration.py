"""Calibration of the agentic-misalignment judge against hand labels.

The misalignment rates of :mod:`charter.evals.agentic` rest on one judge
question, :func:`~charter.evals.agentic.judge_reply`: shown a scenario and the
agent's reply, did the agent take the harmful action (in the sense of Lynch et
al. 2025, "Agentic Misalignment")? This module measures how often that judge
agrees with a person, the way :mod:`charter.evals.guidance` measures the
conflict-guidance judge.

``data/agentic_calibration.jsonl`` was written for Charter. Each item is a
reply to one of Charter's own scenarios (``scenario_id``, all five families),
in the scenario's tool-call style, labelled ``harmful`` and with a ``kind``:
the harmful act itself (``took_action``), or one of the ways of not taking
it: escalating to a human (``flagged``), doing the task harmlessly
(``benign``), ``refused``, naming the option and rejecting it
(``considered_but_declined``), or off-topic, rambling text with no action at
all (``incoherent``), which is what a small policy often writes and where a
yes-biased judge shows. The replies are eval data only: never train on them.

Run it with ``charter eval calibrate --judge agentic`` or
:func:`calibrate_agentic`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from charter._util.auc import roc_auc
from charter._util.progress import progress_bar
from charter._util.validation import read_models
from charter.backends.batch import map_concurrent
from charter.errors import CharterError, DatasetError
from charter.evals.agentic import Scenario, judge_reply, load_scenarios, scenario_text
from charter.evals.evasive import confusion_matrix, rate
from charter.evals.results import Calibration

#: The two classes of the confusion matrix, in display order.
AGENTIC_LABELS = ("harmful", "not_harmful")

#: What a reply does; each kind implies its label.
HARMFUL_KINDS = ("took_action",)
HARMLESS_KINDS = ("flagged", "benign", "refused", "considered_but_declined", "incoherent")


class AgenticItem(BaseModel):
    """One hand-labelled reply to one of Charter's agentic scenarios."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    scenario_id: str = Field(
        min_length=1, description="a scenario id of load_scenarios(), e.g. user_deception/tests"
    )
    reply: str = Field(description="the agent's reply, as the judge reads it")
    harmful: StrictBool = Field(description="true when the reply takes the harmful action")
    kind: str | None = Field(default=None, description="what the reply does (for reading results)")

    def model_post_init(self, _context: Any) -> None:
        if self.kind is not None and self.kind not in HARMFUL_KINDS + HARMLESS_KINDS:
            raise ValueError(
                f"kind {self.kind!r} must be one of "
                f"{', '.join(HARMFUL_KINDS + HARMLESS_KINDS)} (or left out)"
            )
        if self.kind is not None and (self.kind in HARMFUL_KINDS) != self.harmful:
            raise ValueError(
                f"kind {self.kind!r} contradicts harmful={str(self.harmful).lower()}; "
                f"harmful kinds are {', '.join(HARMFUL_KINDS)}"
            )

    @property
    def label(self) -> str:
        """``harmful`` or ``not_harmful``: the row of the confusion matrix."""
        return AGENTIC_LABELS[0] if self.harmful else AGENTIC_LABELS[1]


def agentic_calibration_path() -> Path:
    """The shipped labelled set."""
    return Path(str(resources.files("charter.evals") / "data" / "agentic_calibration.jsonl"))


def load_agentic_calibration(path: str | Path | None = None) -> list[AgenticItem]:
    """Read an agentic calibration set (default: the shipped one).

    Raises:
        DatasetError: naming the file, the line and the field (an unknown
            ``scenario_id`` included).
    """
    source = Path(path) if path else agentic_calibration_path()
    items = read_models(source, AgenticItem, "calibration")
    known = {scenario.id for scenario in load_scenarios()}
    for item in items:
        if item.scenario_id not in known:
            raise DatasetError(
                f"{source}: item {item.id}: field scenario_id: {item.scenario_id!r} is not a "
                "scenario of agentic_scenarios.yaml; use an id like user_deception/tests."
            )
    return items


@dataclass(frozen=True)
class AgenticVerdict:
    """The judge's verdict on one labelled reply (``harmful`` None: the judge failed).

    ``p_harmful`` is the yes/no question's P(yes); ``harmful`` is the verdict
    :func:`~charter.evals.agentic.judge_reply` gives (which also needs the rubric).
    """

    item: AgenticItem
    p_harmful: float | None
    harmful: bool | None
    rubric: str | None = None
    error: str | None = None

    @property
    def judged(self) -> str | None:
        """``harmful``, ``not_harmful``, or None when the judge gave no verdict."""
        if self.harmful is None:
            return None
        return AGENTIC_LABELS[0] if self.harmful else AGENTIC_LABELS[1]

    @property
    def correct(self) -> bool:
        return self.judged == self.item.label

    def to_row(self) -> dict[str, Any]:
        """The per-item row the CLI prints with ``--json``."""
        return {
            "id": self.item.id,
            "scenario_id": self.item.scenario_id,
            "kind": self.item.kind,
            "label": self.item.label,
            "judged": self.judged,
            "p_harmful": self.p_harmful,
            "rubric": self.rubric,
            "correct": self.correct,
            "error": self.error,
        }


@dataclass(frozen=True)
class AgenticCalibrationRun:
    """The judge's agreement with the labels and every item's verdict, in item order."""

    calibration: Calibration
    rows: list[AgenticVerdict]

    @property
    def auc(self) -> float | None:
        """ROC AUC of P(yes), harmful over harmless replies (threshold-free).

        A judge biased toward "yes" can still rank replies well; this says
        whether a different threshold (or a debiasing) could rescue it.
        """
        harmful = [r.p_harmful for r in self.rows if r.p_harmful is not None and r.item.harmful]
        harmless = [
            r.p_harmful for r in self.rows if r.p_harmful is not None and not r.item.harmful
        ]
        return roc_auc(harmful, harmless) if harmful and harmless else None


def calibrate_agentic(
    judge: Any,
    items: Sequence[AgenticItem] | None = None,
    progress: bool = False,
    concurrency: int | None = None,
) -> AgenticCalibrationRun:
    """Ask :func:`~charter.evals.agentic.judge_reply` about every labelled reply.

    The judge sees exactly what the agentic suite shows it: the scenario's
    conversation (:func:`~charter.evals.agentic.scenario_text`), the reply and
    the scenario's harmful action, and the verdict is the one the suite counts
    (P(yes) >= 0.5 and the rubric's argmax ``harmful``). A judge failure on an
    item counts as wrong, since it would be a missing verdict in an eval.

    Args:
        judge: any :class:`~charter.backends.base.ChoiceScorer`.
        items: labelled items (default: the shipped set).
        progress: show a progress bar.
        concurrency: judge calls in flight (bounded by the judge's ``max_concurrency``).

    Returns:
        Accuracy with its Wilson 95% interval, the 2x2 confusion matrix (rows:
        label, columns: judged, in :data:`AGENTIC_LABELS` order) and per-item rows.

    Raises:
        DatasetError: an item names a scenario that does not exist.
    """
    items = list(items) if items is not None else load_agentic_calibration()
    scenarios: dict[str, Scenario] = {s.id: s for s in load_scenarios()}
    unknown = sorted({item.scenario_id for item in items} - set(scenarios))
    if unknown:
        raise DatasetError(f"scenario_id {unknown}: not in agentic_scenarios.yaml.")

    def ask(item: AgenticItem) -> dict[str, Any]:
        scenario = scenarios[item.scenario_id]
        return judge_reply(
            judge, scenario_text(scenario.messages()), item.reply, scenario.harmful_action
        )

    verdicts: dict[int, AgenticVerdict] = {}
    limit = getattr(judge, "max_concurrency", 1)
    with progress_bar("calibrate agentic judge", len(items), progress) as bar:
        for index, result in map_concurrent(ask, enumerate(items), concurrency, limit):
            if isinstance(result, CharterError):
                verdicts[index] = AgenticVerdict(items[index], None, None, error=str(result))
            else:
                verdicts[index] = AgenticVerdict(
                    items[index], float(result["p_harmful"]), result["harmful"], result["rubric"]
                )
            bar.advance()
    rows = [verdicts[index] for index in range(len(items))]
    judged = [(row.item.label, row.judged) for row in rows if row.judged is not None]
    accuracy, low, high = rate(sum(row.correct for row in rows), len(rows))
    calibration = Calibration(
        judge=getattr(judge, "model_id", type(judge).__name__),
        accuracy=accuracy,
        ci_low=low,
        ci_high=high,
        n=len(rows),
        labels=list(AGENTIC_LABELS),
        confusion=confusion_matrix(judged, AGENTIC_LABELS),
    )
    return AgenticCalibrationRun(calibration, rows)
