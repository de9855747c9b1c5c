"""The reflection-depth scorer: does a reflection understand, or only cite?

A criticism of alignment-pretraining reflections is that they name an article
without showing why it holds or how conflicting articles are weighed. This
scorer measures that instead of asserting it: a judge model answers four
yes/no rubric questions about a reflection on its document - identifies the
issue, explains why, weighs conflicts, earnest rather than formulaic - and
each answer is read as P(Yes) from the choice log-probabilities (Bai et al.
2022, section 4.1). The depth is their mean, in [0, 1].

The shipped validation set (``data/depth_validation.jsonl``) pairs a
deliberately thin and a deliberately deep reflection on each of 20 documents;
:func:`validate_depth` reports how well the scorer separates them (ROC AUC).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from charter.backends.base import ChoiceScorer, normalize_choices
from charter.errors import DatasetError, MalformedOutputError
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
            logprobs = [float(v) for v in self.model.choice_logprobs(messages, pp.DEPTH_CHOICES)]
            if all(v == float("-inf") for v in logprobs):
                raise MalformedOutputError(
                    f"the depth scorer gave neither Yes nor No any probability ({name})",
                    raw=logprobs,
                )
            out[name] = normalize_choices(logprobs)[0]
        return DepthScore(out)


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """P(a random positive scores above a random negative), ties counting one half."""
    if not positives or not negatives:
        raise ValueError("roc_auc needs at least one positive and one negative score")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def load_validation(path: str | None = None, limit: int | None = None) -> list[dict]:
    """The thin/deep validation rows with their document text joined in.

    Args:
        path: a JSONL of ``{"id", "doc_id" or "document", "reflection", "label"}``
            (``label`` is ``thin`` or ``deep``); default: the shipped set, whose
            ``doc_id`` points into ``builtin:sample``.
        limit: keep the first ``limit`` documents' pairs (thin and deep together).
    """
    source = data_path("depth_validation.jsonl") if path is None else path
    docs = {d.id: d.text for d in iter_documents(SAMPLE)}
    rows = []
    with open(source, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("label") not in ("thin", "deep"):
                raise DatasetError(f"{source}:{number}: field label must be 'thin' or 'deep'.")
            document = row.get("document") or docs.get(row.get("doc_id", ""))
            if not document:
                raise DatasetError(
                    f"{source}:{number}: give a `document` text or a `doc_id` of {SAMPLE}."
                )
            rows.append({**row, "document": document})
    if limit is not None:
        keep = list(dict.fromkeys(r["document"] for r in rows))[:limit]
        rows = [r for r in rows if r["document"] in keep]
    return rows


def validate_depth(scorer: DepthScorer, rows: Sequence[dict]) -> dict:
    """Score every row; return the AUC of deep over thin, overall and per criterion."""
    scored = [(r, scorer.score(r["document"], r["reflection"])) for r in rows]
    deep = [s for r, s in scored if r["label"] == "deep"]
    thin = [s for r, s in scored if r["label"] == "thin"]
    names = list(scored[0][1].criteria) if scored else []
    return {
        "n_deep": len(deep),
        "n_thin": len(thin),
        "auc": roc_auc([s.depth for s in deep], [s.depth for s in thin]),
        "mean_depth_deep": sum(s.depth for s in deep) / len(deep),
        "mean_depth_thin": sum(s.depth for s in thin) / len(thin),
        "criterion_auc": {
            n: roc_auc([s.criteria[n] for s in deep], [s.criteria[n] for s in thin]) for n in names
        },
        "scorer": scorer.model_id,
        "rows": [{"id": r.get("id"), "label": r["label"], **s.to_row()} for r, s in scored],
    }
