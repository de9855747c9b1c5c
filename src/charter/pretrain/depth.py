"""The reflection-depth scorer: does a reflection understand, or only cite?

A criticism of alignment-pretraining reflections is that they name an article
without showing why it holds or how conflicting articles are weighed. This
scorer measures that instead of asserting it: a judge model answers four
yes/no rubric questions about a reflection on its document - identifies the
issue, explains why, weighs conflicts, earnest rather than formulaic - and
each answer is read as P(Yes) from the choice log-probabilities (Bai et al.
2022, section 4.1). The depth is their mean, in [0, 1].

The shipped validation set (``data/depth_validation.jsonl``) gives each of 20
documents three reflections: a deliberately ``deep`` one (~97 words), a
deliberately ``thin`` one (~7 words), and a ``padded`` one as long as the deep
one (within 10% of its word count) but thin in substance - formulaic,
repetitive, restating the article and the document, no specific issue, no
'why', no competing value. :func:`validate_depth` reports how well the scorer
ranks deep above each (ROC AUC, overall and per criterion) and the mean word
count per label: a scorer that only rewards length separates deep from thin
but not deep from padded.

Run it with ``charter pretrain depth [--against thin|padded|both]``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from charter._util.progress import progress_bar
from charter.backends.base import ChoiceScorer
from charter.errors import DatasetError
from charter.feedback.choices import choice_probs, logit, memoized
from charter.feedback.gold import GoldItem
from charter.feedback.registry import JudgeDef, Method, Prediction, fitted_model, register_judge
from charter.feedback.stats import roc_auc
from charter.pretrain import prompts as pp
from charter.pretrain.corpus import SAMPLE, data_path, iter_documents


@dataclass(frozen=True)
class DepthScore:
    """P(Yes) per rubric criterion and their mean."""

    criteria: dict[str, float]

    @property
    def depth(self) -> float:
        return sum(self.criteria.values()) / len(self.criteria)

    def to_row(self) -> dict:
        return {"depth": self.depth, "criteria": dict(self.criteria)}


@dataclass
class DepthScorer:
    """Score reflections with the four-criterion rubric.

    Args:
        model: any choice scorer (the feedback model by default in configs).
        criteria: criterion name -> yes/no question (default: :data:`DEPTH_CRITERIA`).
        system: the grader's instructions.
        template: the question, with ``{document}``, ``{reflection}``, ``{criterion}``.
    """

    model: ChoiceScorer
    criteria: dict[str, str] | None = None
    system: str = pp.DEPTH_SYSTEM
    template: str = pp.DEPTH_TEMPLATE

    @property
    def model_id(self) -> str:
        return self.model.model_id

    def score(self, document: str, reflection: str) -> DepthScore:
        """Ask every criterion about ``reflection`` on ``document``.

        Raises:
            MalformedOutputError: the model gave neither Yes nor No any probability.
        """
        out = {}
        for name, question in (self.criteria or pp.DEPTH_CRITERIA).items():
            messages = [
                {"role": "system", "content": self.system},
                {
                    "role": "user",
                    "content": self.template.format(
                        document=document, reflection=reflection, criterion=question
                    ),
                },
            ]
            out[name] = choice_probs(self.model, messages, pp.DEPTH_CHOICES)[0]
        return DepthScore(out)


#: The label of the reflections the scorer should rank first.
DEEP = "deep"
#: The labels ranked against ``deep``, in report order: short and thin, long and thin.
NEGATIVES = ("thin", "padded")
LABELS = (DEEP, *NEGATIVES)


def load_validation(path: str | None = None, limit: int | None = None) -> list[dict]:
    """The depth validation rows with their document text joined in.

    Args:
        path: a JSONL of ``{"id", "doc_id" or "document", "reflection", "label"}``
            (``label`` is ``deep``, ``thin`` or ``padded``; a file with only thin and
            deep rows still works); default: the shipped set, whose ``doc_id`` points
            into ``builtin:sample``.
        limit: keep the first ``limit`` documents' rows (all their labels together).

    Raises:
        DatasetError: one line naming the file, the line and the field to fix.
    """
    source = data_path("depth_validation.jsonl") if path is None else path
    docs = {d.id: d.text for d in iter_documents(SAMPLE)}
    rows = []
    try:
        lines = Path(source).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{source}: cannot read the validation set ({exc}).") from None
    for number, line in enumerate(lines, start=1):
        if line.strip():
            rows.append(_parse_row(line, f"{source}:{number}", docs))
    if limit is not None:
        keep = list(dict.fromkeys(r["document"] for r in rows))[:limit]
        rows = [r for r in rows if r["document"] in keep]
    return rows


def _parse_row(line: str, where: str, docs: dict[str, str]) -> dict:
    """One validation row with its document joined in; DatasetError naming the field."""
    try:
        row = json.loads(line)
    except ValueError:
        row = None
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: not a JSON object; write one row per line.")
    if row.get("label") not in LABELS:
        raise DatasetError(
            f"{where}: field label is {row.get('label')!r}; use one of "
            f"{', '.join(repr(x) for x in LABELS)}."
        )
    if not isinstance(row.get("reflection"), str) or not row["reflection"].strip():
        raise DatasetError(f"{where}: field reflection must be a non-empty text.")
    document = row.get("document") or docs.get(row.get("doc_id", ""))
    if not document:
        raise DatasetError(f"{where}: give a `document` text or a `doc_id` of {SAMPLE}.")
    return {**row, "document": document}


def _words(text: str) -> int:
    return len(text.split())


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def validate_depth(
    scorer: DepthScorer,
    rows: Sequence[dict],
    against: Iterable[str] | None = None,
    progress: bool = False,
) -> dict:
    """Score the rows; return the AUC of deep over each negative label.

    Args:
        scorer: the depth scorer to validate.
        rows: from :func:`load_validation`.
        against: the labels to rank deep against (``thin``, ``padded``); default:
            every one present. Rows of other labels are not scored.
        progress: show a progress bar (each row is four judge questions).

    Returns:
        ``{"against": {label: {"auc", "criterion_auc"}}, "n", "mean_depth",
        "mean_words", "mean_criteria"`` (each keyed by label) ``, "scorer", "rows"}``,
        plus the flat keys of the thin/deep report (``auc`` and ``criterion_auc``
        of deep over thin, ``n_<label>``, ``mean_depth_<label>``) where thin is scored.

    Raises:
        DatasetError: no deep rows, or a requested label has no rows.
    """
    present = [x for x in NEGATIVES if any(r["label"] == x for r in rows)]
    wanted = present if against is None else list(dict.fromkeys(against))
    for label in wanted:
        if label not in NEGATIVES:
            raise DatasetError(f"against: {label!r} is not one of {', '.join(NEGATIVES)}.")
        if label not in present:
            raise DatasetError(
                f"the validation set has no {label!r} rows to rank deep against; "
                f"choose from {', '.join(present) or 'none'}."
            )
    if not any(r["label"] == DEEP for r in rows):
        raise DatasetError("the validation set has no 'deep' rows; add some.")
    if not wanted:
        raise DatasetError("the validation set has no 'thin' or 'padded' rows; add some.")
    labels = [DEEP, *wanted]
    chosen = [r for r in rows if r["label"] in labels]
    scored = []
    with progress_bar(f"depth: score {len(chosen)} reflections", len(chosen), progress) as bar:
        for r in chosen:
            scored.append((r, scorer.score(r["document"], r["reflection"])))
            bar.advance()
    by_label = {x: [(r, s) for r, s in scored if r["label"] == x] for x in labels}
    names = list(scored[0][1].criteria)

    def auc(label: str, key: Callable[[DepthScore], float]) -> float:
        return roc_auc([key(s) for _, s in by_label[DEEP]], [key(s) for _, s in by_label[label]])

    comparisons = {
        x: {
            "auc": auc(x, lambda s: s.depth),
            "criterion_auc": {n: auc(x, lambda s, n=n: s.criteria[n]) for n in names},
        }
        for x in wanted
    }
    result: dict = {
        "against": comparisons,
        "n": {x: len(pairs) for x, pairs in by_label.items()},
        "mean_depth": {x: _mean([s.depth for _, s in pairs]) for x, pairs in by_label.items()},
        "mean_words": {
            x: _mean([_words(r["reflection"]) for r, _ in pairs]) for x, pairs in by_label.items()
        },
        "mean_criteria": {
            x: {n: _mean([s.criteria[n] for _, s in pairs]) for n in names}
            for x, pairs in by_label.items()
        },
    }
    # The flat keys of the original thin/deep report, kept for its readers.
    for x in labels:
        result[f"n_{x}"] = result["n"][x]
        result[f"mean_depth_{x}"] = result["mean_depth"][x]
    if "thin" in comparisons:
        result.update(comparisons["thin"])
    result["scorer"] = scorer.model_id
    result["rows"] = [
        {"id": r.get("id"), "label": r["label"], "words": _words(r["reflection"]), **s.to_row()}
        for r, s in scored
    ]
    return result


# -- the depth judge, calibrated on its gold set (charter.feedback) ----------------------
DEPTH_LABELS = ("deep", "not_deep")


class DepthItem(GoldItem):
    """A gold reflection on a document: ``deep``, or not (``thin``, ``padded``, ``misread``)."""

    document: str = Field(min_length=1)
    reflection: str = Field(min_length=1)
    label: Literal["deep", "thin", "padded", "misread"]


@memoized
def _scored(scorer: Any, document: str, reflection: str) -> dict[str, float]:
    return DepthScorer(scorer).score(document, reflection).criteria


def _criteria(scorer: Any, item: DepthItem) -> dict[str, float]:
    return _scored(scorer, item.document, item.reflection)


def _depth_prediction(p_deep: float, features: dict[str, float] | None = None) -> Prediction:
    label = DEPTH_LABELS[0] if p_deep >= 0.5 else DEPTH_LABELS[1]
    probs = {DEPTH_LABELS[0]: p_deep, DEPTH_LABELS[1]: 1 - p_deep}
    calls = len(pp.DEPTH_CRITERIA)
    return Prediction(label, probs[label], probs, calls=calls, features=features or {})


def _depth_features(scorer: Any, item: DepthItem) -> dict[str, float]:
    return {name: logit(p) for name, p in _criteria(scorer, item).items()}


def _depth_fitted(scorer: Any, item: DepthItem) -> Prediction:
    features = _depth_features(scorer, item)
    probs = fitted_model("depth", "rubric-lr").probs(features)
    return _depth_prediction(probs[DEPTH_LABELS[0]], features)


DEPTH_JUDGE = register_judge(
    JudgeDef(
        name="depth",
        description="does a reflection understand its document, or only cite",
        item=DepthItem,
        labels=DEPTH_LABELS,
        truth=lambda item: DEPTH_LABELS[0] if item.label == DEEP else DEPTH_LABELS[1],
        methods={
            "rubric-mean": Method(
                "rubric-mean",
                "mean P(yes) of the four depth criteria >= 0.5",
                lambda scorer, item: _depth_prediction(
                    sum(c := list(_criteria(scorer, item).values())) / len(c)
                ),
            ),
            "rubric-lr": Method(
                "rubric-lr",
                "the four criteria's log-odds, logistic model fitted on dev",
                _depth_fitted,
                features=_depth_features,
                fit_rows=lambda f, label: [(f, label)],
                fit_classes=DEPTH_LABELS,
            ),
        },
        default="rubric-mean",
        positive=DEPTH_LABELS[0],
    )
)
