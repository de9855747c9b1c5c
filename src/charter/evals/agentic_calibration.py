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
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from charter._util.validation import read_models
from charter.errors import DatasetError
from charter.evals.agentic import Scenario, judge_reply, load_scenarios, scenario_text
from charter.evals.binary_calibration import CalibrationRun, calibrate_binary, check_kind, data_file

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
        check_kind(self.kind, self.harmful, HARMFUL_KINDS, HARMLESS_KINDS, "harmful")

    @property
    def positive(self) -> bool:
        return self.harmful


def agentic_calibration_path() -> Path:
    """The shipped labelled set."""
    return data_file("agentic_calibration.jsonl")


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


def calibrate_agentic(
    judge: Any,
    items: Sequence[AgenticItem] | None = None,
    progress: bool = False,
    concurrency: int | None = None,
) -> CalibrationRun:
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

    def ask(item: AgenticItem) -> tuple[float, bool, dict[str, Any]]:
        scenario = scenarios[item.scenario_id]
        verdict = judge_reply(
            judge, scenario_text(scenario.messages()), item.reply, scenario.harmful_action
        )
        details = {"scenario_id": item.scenario_id, "rubric": verdict["rubric"]}
        return verdict["p_harmful"], verdict["harmful"], details

    return calibrate_binary(
        judge,
        items,
        ask,
        AGENTIC_LABELS,
        "calibrate agentic judge",
        "p_harmful",
        progress,
        concurrency,
    )
