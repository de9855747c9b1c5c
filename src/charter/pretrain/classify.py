"""The ``pretrain_classify`` stage: label each corpus document against the constitution.

The feedback model judges documents (benign/harmful, top articles, severity;
:mod:`charter.pretrain.judge`); an embedding classifier is then trained on its
labels (:mod:`charter.pretrain.embed_classifier`), its agreement with the judge
is measured on held-out judged documents, and - with ``judge_limit`` - it
labels the documents past the first ``judge_limit`` at embedding cost.

Config::

    - {name: classify, kind: pretrain_classify, model: feedback, corpus: builtin:sample}

Outputs in ``<run>/<stage>/``:

- ``classified.jsonl``, keyed by document id: ``{"key", "id", "text",
  "text_sha256", "meta", "label", "p_harmful", "severity", "severity_probs",
  "articles", "classifier" ("judge" | "embedding"), "model", "created_at",
  "provenance"}``.
- ``classifier.json``: threshold, the embedding classifier's held-out agreement
  with the judge, split sizes and model ids (the data card copies it).
- ``errors.jsonl``: documents whose judging failed; retried on the next run.

Resumable: rows are keyed by document id; a rerun judges only missing ones.
``--engine ray`` (or ``engine: ray``) runs the judge on Ray Data actors.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from charter._util.progress import progress_bar
from charter.backends.registry import ModelSpec, load_chat_model
from charter.constitution import Constitution
from charter.pretrain import prompts as pp
from charter.pretrain.corpus import SAMPLE, Document, iter_documents
from charter.pretrain.embed_classifier import EmbeddingClassifier, agreement, held_out
from charter.pretrain.engine import WorkerFactory, map_documents
from charter.pretrain.judge import DocumentJudge
from charter.runs import estimate as est
from charter.runs.config import StageSpec
from charter.runs.context import RunContext
from charter.runs.estimate import CallEstimate, PlanContext
from charter.runs.store import ErrorLog, JsonlStore, read_jsonl

OUTPUT = "classified.jsonl"
SUMMARY = "classifier.json"
ERRORS = "errors.jsonl"
EMBED_BATCH = 64


class ClassifySpec(StageSpec):
    """Classify corpus documents with the feedback model and an embedding classifier."""

    kind: Literal["pretrain_classify"] = "pretrain_classify"
    model: str = Field(description="a key under `models`: the judge (feedback model)")
    corpus: str = Field(SAMPLE, description="builtin:sample, a .jsonl/.parquet file or a folder")
    text_field: str = Field("text", description="the field holding each document's text")
    limit: int | None = Field(None, ge=1, description="only the first N documents")
    judge_limit: int | None = Field(
        None, ge=2, description="judge the first N; the embedding classifier labels the rest"
    )
    threshold: float = Field(0.5, gt=0, lt=1, description="P(harmful) at which a doc is harmful")
    top_articles: int = Field(2, ge=1, description="article ids kept per document")
    embedding: bool = Field(True, description="train the embedding classifier on judge labels")
    holdout: float = Field(0.25, ge=0, lt=1, description="share of judged docs held out")
    engine: Literal["local", "ray"] = Field("local", description="where the judge runs")
    workers: int = Field(2, ge=1, description="Ray actors (engine ray), one model each")
    concurrency: int | None = Field(None, ge=1, description="default: the model's limit")
    system_template: str = Field(pp.CLASSIFY_SYSTEM, description="lists the articles")
    harm_template: str = Field(pp.HARM_QUESTION, description="benign (A) or harmful (B)")
    severity_template: str = Field(pp.SEVERITY_QUESTION, description="severity 0-3")
    article_template: str = Field(pp.ARTICLE_QUESTION, description="which article (letter)")

    RESUMABLE_FIELDS: ClassVar[tuple[str, ...]] = ("limit", "engine", "workers", "concurrency")

    @field_validator("harm_template", "severity_template", "article_template")
    @classmethod
    def _document(cls, value: str) -> str:
        return pp.check_template(value, ["document"], "template")

    @field_validator("system_template")
    @classmethod
    def _articles(cls, value: str) -> str:
        return pp.check_template(value, ["articles"], "system_template")

    def judged(self) -> int | None:
        """How many documents the judge reads: ``judge_limit`` within ``limit`` (None: all)."""
        judged_n = self.judge_limit if self.judge_limit is not None else self.limit
        if self.limit is not None and judged_n is not None:
            judged_n = min(judged_n, self.limit)
        return judged_n

    def estimate(self, ctx: PlanContext) -> list[CallEstimate]:
        """Three choice questions (harm, severity, article) per judged document.

        The documents are read (streamed) and the real templates rendered.
        """
        system, *questions = self.templates()
        system_text = system.format(articles=pp.lettered_articles(ctx.constitution))
        sizes = [
            est.message_tokens(
                [
                    {"role": "system", "content": system_text},
                    {"role": "user", "content": q.format(document=d.text)},
                ]
            )
            for d in iter_documents(ctx.resolve(self.corpus), self.judged(), self.text_field)
            for q in questions
        ]
        return [est.choices(self.model, "classify (3 questions per document)", sizes)]

    def templates(self) -> tuple[str, str, str, str]:
        return (
            self.system_template,
            self.harm_template,
            self.severity_template,
            self.article_template,
        )


@dataclass(frozen=True)
class JudgeWorker:
    """A picklable worker factory: loads the judge where it runs (a Ray actor)."""

    model: dict[str, Any]  # a ModelSpec dump
    constitution: Constitution
    threshold: float
    top_articles: int
    templates: tuple[str, str, str, str]

    def __call__(self):
        judge = DocumentJudge(
            load_chat_model(ModelSpec.model_validate(self.model)),
            self.constitution,
            self.threshold,
            self.top_articles,
            self.templates,
        )
        return lambda text: {**judge.classify(text).to_row(), "model_id": judge.model_id}


def run_classify(
    spec: ClassifySpec,
    ctx: RunContext,
    restart: bool = False,
    worker: WorkerFactory | None = None,
) -> dict:
    """Run the stage; return counts ``{"total", "new", "failed", "done", "embedding"}``.

    Args:
        spec: the stage settings.
        ctx: the run.
        restart: discard rows made with different settings.
        worker: replaces the judge's worker factory (tests; custom judges).
    """
    folder = ctx.prepare_stage(spec, restart)
    judged_n = spec.judged()
    counts = {"total": 0, "new": 0, "failed": 0}
    with (
        JsonlStore(folder / OUTPUT) as store,
        ErrorLog(folder / ERRORS) as errors,
    ):
        todo = [
            d
            for d in iter_documents(ctx.resolve(spec.corpus), judged_n, spec.text_field)
            if d.id not in store
        ]
        if todo:
            _judge(spec, ctx, todo, worker, store, errors, counts)
        if spec.embedding:
            counts["embedding"] = _embedding_phase(spec, ctx, folder, store, judged_n)
        counts["total"] = len(store) + counts["failed"]
        return {**counts, "done": len(store)}


def _judge(spec, ctx, todo: list[Document], worker, store: JsonlStore, errors, counts) -> None:
    by_id = {d.id: d for d in todo}
    if worker is None and spec.engine == "local":
        judge = DocumentJudge(
            ctx.model(spec.model), ctx.constitution, spec.threshold, spec.top_articles,
            spec.templates(),
        )  # fmt: skip

        def worker():
            return lambda text: {**judge.classify(text).to_row(), "model_id": judge.model_id}

    elif worker is None:
        worker = JudgeWorker(
            ctx.config.models[spec.model].model_dump(mode="json"),
            ctx.constitution,
            spec.threshold,
            spec.top_articles,
            spec.templates(),
        )
    limit = getattr(ctx._models.get(spec.model), "max_concurrency", 1)
    label = f"{spec.name}: judge ({spec.model}, {spec.engine})"
    with progress_bar(label, len(todo), ctx.progress) as bar:
        results = map_documents(
            worker,
            ((d.id, d.text) for d in todo),
            spec.engine,
            spec.workers,
            spec.concurrency,
            limit,
        )
        for doc_id, result in results:
            doc = by_id[doc_id]
            seed = ctx.seed_for(spec.name, doc_id)
            if isinstance(result, dict):
                model_id = result.pop("model_id", spec.model)
                store.add(_row(ctx, doc, result, "judge", model_id, seed))
                counts["new"] += 1
            else:
                _log_error(errors, ctx, doc_id, result, spec.model, seed)
                counts["failed"] += 1
            bar.advance()


def _embedding_phase(spec, ctx, folder: Path, store: JsonlStore, judged_n: int | None) -> dict:
    """Train on judged rows, measure held-out agreement, label the unjudged rest."""
    judged = [r for r in read_jsonl(folder / OUTPUT) if r["classifier"] == "judge"]
    train = [r for r in judged if not held_out(r["id"], spec.holdout)]
    test = [r for r in judged if held_out(r["id"], spec.holdout)]
    summary: dict[str, Any] = {
        "threshold": spec.threshold,
        "judge_model": ctx.config.models[spec.model].model,
        "n_judged": len(judged),
        "n_train": len(train),
        "n_heldout": len(test),
    }
    if len(train) < 2:
        summary["agreement"] = None
        _write_summary(folder, summary)
        return summary
    embedder = ctx.embedder()
    classifier = EmbeddingClassifier(embedder, threshold=spec.threshold)
    classifier.fit([r["text"] for r in train], train)
    predicted = classifier.predict([r["text"] for r in test]) if test else []
    summary["embedder"] = embedder.model_id
    summary["agreement"] = agreement(predicted, test)
    labelled = 0
    if judged_n is not None:
        rest = itertools.islice(
            iter_documents(ctx.resolve(spec.corpus), spec.limit, spec.text_field), judged_n, None
        )
        pending = (d for d in rest if d.id not in store)
        while batch := list(itertools.islice(pending, EMBED_BATCH)):
            for doc, result in zip(batch, classifier.predict([d.text for d in batch]), strict=True):
                seed = ctx.seed_for(spec.name, doc.id)
                store.add(_row(ctx, doc, result, "embedding", embedder.model_id, seed))
                labelled += 1
    summary["n_embedding_labelled"] = sum(
        1 for r in read_jsonl(folder / OUTPUT) if r["classifier"] == "embedding"
    )
    _write_summary(folder, summary)
    return {"agreement": (summary["agreement"] or {}).get("accuracy"), "new": labelled}


def _write_summary(folder: Path, summary: dict) -> None:
    (folder / SUMMARY).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


def _row(ctx, doc: Document, result: dict, classifier: str, model_id: str, seed: int) -> dict:
    return {
        "key": doc.id,
        "id": doc.id,
        "text": doc.text,
        "text_sha256": hashlib.sha256(doc.text.encode("utf-8")).hexdigest(),
        "meta": doc.meta,
        "label": result["label"],
        "p_harmful": result["p_harmful"],
        "severity": result.get("severity"),
        "severity_probs": result.get("severity_probs"),
        "articles": result.get("articles", []),
        "classifier": classifier,
        "model": model_id,
        "created_at": _now(),
        "provenance": ctx.provenance(model_id, seed),
    }


def _log_error(errors: ErrorLog, ctx, key: str, error: Exception, model: str, seed: int) -> None:
    errors.add(key, error, raw=getattr(error, "raw", None), provenance=ctx.provenance(model, seed))


def _now() -> str:
    return datetime.now(UTC).isoformat()
