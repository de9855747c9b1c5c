"""What an evaluation writes: typed results, read back by the report and by Inspect tasks.

Every eval ends in one or more :class:`EvalResult` values: a metric per model
(with a confidence interval and the number of items behind it), a few
examples to browse, and the provenance of the run. An ``eval`` stage writes,
in ``<run>/<stage>/``:

- ``responses.jsonl``: one answer per model per prompt, keyed ``<model>:<prompt id>``.
- ``judgements.jsonl``: every judge call's outcome, keyed by what was asked
  (``pairwise:…``, ``classify:…``, ``guidance:…``; see :mod:`charter.evals.keys`).
- ``errors.jsonl``: failed generations and judgements (retried on the next run).
- ``results.json``: an :class:`EvalReport`: all results of the stage, the
  harmlessness-vs-helpfulness frontier, and the judge's calibration.
- ``<result name>.json``: each :class:`EvalResult` on its own (names below).
- ``frontier.png`` and ``frontier.svg``: the frontier plot (when pairwise ran).

Result names (``EvalResult.name``): ``harmlessness_elo``, ``helpfulness_elo``
(suite ``pairwise``), ``evasiveness`` (suite ``evasive``), ``false_refusal``
and ``harmful_compliance`` (suite ``refusal``), ``paraphrase_consistency`` and
``autonomy_guidance`` (suite ``conflicts``). Other packages (the agentic
scenarios, for example) add their own names with the same model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from charter.errors import DatasetError
from charter.feedback.card import CalibrationCard

RESULTS_FILE = "results.json"
RESPONSES_FILE = "responses.jsonl"
JUDGEMENTS_FILE = "judgements.jsonl"
ERRORS_FILE = "errors.jsonl"
FRONTIER_PNG = "frontier.png"
FRONTIER_SVG = "frontier.svg"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class PairedTest(_Model):
    """A model against the baseline on the items both were judged on (:mod:`charter.evals.paired`).

    ``difference`` is this model's rate minus the baseline's on those items, with
    Newcombe's paired 95% interval; ``p_value`` is the exact McNemar test on the
    discordant items (``only_this`` vs ``only_baseline``).
    """

    baseline: str
    n: int = Field(ge=0, description="items both models were judged on")
    difference: float
    ci_low: float
    ci_high: float
    only_this: int = Field(ge=0, description="items positive for this model only")
    only_baseline: int = Field(ge=0, description="items positive for the baseline only")
    p_value: float = Field(ge=0, le=1, description="exact two-sided McNemar test")
    significant: bool = Field(description="p_value < 0.05")


class ModelScore(_Model):
    """One model's figure on one metric, with its interval and sample size."""

    model: str = Field(description="the key under `models` (or a label for ad-hoc runs)")
    model_id: str | None = Field(None, description="the backend's model id, from provenance")
    value: float = Field(description="the metric: an Elo, a rate in [0, 1], an accuracy")
    ci_low: float | None = Field(None, description="lower end of the 95% interval")
    ci_high: float | None = Field(None, description="upper end of the 95% interval")
    n: int = Field(0, ge=0, description="items behind the figure (prompts, judged answers)")
    counts: dict[str, int] = Field(
        default_factory=dict, description="per-class counts, e.g. {'bare_refusal': 3}"
    )
    corrected: float | None = Field(
        None, description="the rate corrected for the judge's measured error (Rogan-Gladen)"
    )
    corrected_ci_low: float | None = Field(
        None, description="its 95% interval, the calibration's own uncertainty included"
    )
    corrected_ci_high: float | None = None
    paired: PairedTest | None = Field(
        None, description="against the baseline on the same items (rates only)"
    )


class Example(_Model):
    """One judged item to browse in the report."""

    prompt_id: str
    prompt: str
    model: str | None = None
    response: str | None = None
    other_model: str | None = Field(None, description="pairwise: the opponent")
    other_response: str | None = None
    label: str | None = Field(None, description="the judged class or winner")
    score: float | None = Field(None, description="e.g. P(model's response better)")
    detail: dict[str, Any] = Field(default_factory=dict)


class EvalResult(_Model):
    """One metric of one eval over several models.

    ``value``/``ci_low``/``ci_high``/``n`` at the top level hold a single
    figure when the result has one (a judge's accuracy); per-model figures
    live in ``per_model``, keyed by model key, in the order models were given.
    """

    name: str = Field(description="e.g. harmlessness_elo, false_refusal")
    suite: str = Field(description="pairwise | evasive | refusal | conflicts | agentic | ...")
    metric: str = Field(description="elo | rate | accuracy | consistency")
    description: str = Field("", description="one sentence on what the number means")
    higher_is_better: bool = True
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    per_model: dict[str, ModelScore] = Field(default_factory=dict)
    baseline: str | None = Field(None, description="the model key others are compared with")
    examples: list[Example] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict, description="suite-specific extras")
    provenance: dict[str, Any] = Field(default_factory=dict)


class FrontierPoint(_Model):
    """A model's place on the harmlessness-vs-helpfulness plane (Bai et al. 2022, fig. 2)."""

    model: str
    helpfulness_elo: float
    harmlessness_elo: float
    helpfulness_ci: tuple[float, float] | None = None
    harmlessness_ci: tuple[float, float] | None = None


class EvalReport(_Model):
    """Everything one eval stage produced: ``results.json``."""

    stage: str
    models: dict[str, str | None] = Field(description="model key -> backend model id")
    judge: str | None = None
    suites: list[str] = Field(default_factory=list)
    results: list[EvalResult] = Field(default_factory=list)
    frontier: list[FrontierPoint] = Field(default_factory=list)
    cards: dict[str, CalibrationCard] = Field(
        default_factory=dict, description="judge name -> its calibration card (test split)"
    )
    provenance: dict[str, Any] = Field(default_factory=dict)

    def result(self, name: str) -> EvalResult:
        """The result called ``name``; KeyError naming the ones present."""
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(f"no result {name!r}; present: {', '.join(r.name for r in self.results)}")


def write_json(path: Path, model: BaseModel) -> None:
    """Write atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(model.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_report(folder: Path, report: EvalReport) -> Path:
    """Write ``results.json`` and one ``<name>.json`` per result; return results.json's path."""
    for result in report.results:
        write_json(folder / f"{result.name}.json", result)
    write_json(folder / RESULTS_FILE, report)
    return folder / RESULTS_FILE


def read_report(path: str | Path) -> EvalReport:
    """Read ``results.json`` (or the stage folder holding it).

    Raises:
        DatasetError: the file is missing or not an eval report.
    """
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    try:
        return EvalReport.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise DatasetError(
            f"{path}: no eval results here; run an `eval` stage first (charter eval run CONFIG)."
        ) from None
    except (ValueError, ValidationError) as exc:
        raise DatasetError(f"{path}: not an eval results file ({str(exc)[:120]}).") from None


def read_result(path: str | Path) -> EvalResult:
    """Read one ``<name>.json`` result file."""
    path = Path(path)
    try:
        return EvalResult.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such result file.") from None
    except (ValueError, ValidationError) as exc:
        raise DatasetError(f"{path}: not an eval result ({str(exc)[:120]}).") from None
