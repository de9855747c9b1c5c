"""The ``pretrain_reflect`` stage: reflections on classified documents, in three styles.

For each classified document a writer model (the feedback model by default)
writes a short reflection on the document's top article, in each requested
style:

- ``citation``: names the article (the thin style criticised in the issue);
- ``explained``: why the article holds here and how a conflicting article is
  weighed (the prompt shows the article's rationale and conflict guidance);
- ``character``: earnest first-person engagement by the assistant persona.

The kind follows the class: ``harmful-engaging`` for harmful documents,
``benign-appreciative`` for benign ones (alignment pretraining, Tice et al.
2026, annotates both). With ``scorer`` set, each reflection is scored by the
depth rubric (:mod:`charter.pretrain.depth`), so styles can be compared by
measured depth.

Config::

    - {name: reflect, kind: pretrain_reflect, model: feedback, scorer: feedback,
       source: classify, styles: [citation, explained, character]}

Each style's instruction (:data:`charter.pretrain.prompts.STYLE_INSTRUCTIONS`)
can be replaced per style with ``style_instructions: {explained: "..."}``; the
effective instructions are resolved into the spec when it is read, so they are
part of the stage fingerprint and a changed instruction never mixes with rows
written under the old one.

Output ``<run>/<stage>/reflections.jsonl``, keyed ``<doc id>:<style>``:
``{"key", "id", "style", "kind", "label", "article", "reflection", "depth",
"criteria", "model", "scorer", "created_at", "provenance"}``; failures go to
``errors.jsonl`` and are retried on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from charter._util.progress import progress_bar
from charter.backends.base import GenerateParams
from charter.backends.registry import ModelSpec, load_chat_model
from charter.constitution import Constitution
from charter.errors import ConfigError, MalformedOutputError, RunError
from charter.pretrain import prompts as pp
from charter.pretrain.classify import OUTPUT as CLASSIFIED
from charter.pretrain.corpus import iter_documents
from charter.pretrain.depth import DepthScorer
from charter.pretrain.engine import WorkerFactory, map_documents
from charter.runs import estimate as est
from charter.runs.config import StageSpec
from charter.runs.context import RunContext
from charter.runs.estimate import CallEstimate, PlanContext
from charter.runs.store import ErrorLog, JsonlStore, read_jsonl

OUTPUT = "reflections.jsonl"
ERRORS = "errors.jsonl"
STYLES = ("citation", "explained", "character")
KIND_OF_LABEL = {"harmful": "harmful-engaging", "benign": "benign-appreciative"}

Style = Literal["citation", "explained", "character"]


class ReflectSpec(StageSpec):
    """Write reflections on the documents a classify stage labelled."""

    kind: Literal["pretrain_reflect"] = "pretrain_reflect"
    MODEL_FIELDS: ClassVar[tuple[str, ...]] = ("model", "scorer")

    model: str = Field(description="a key under `models`: the model that writes reflections")
    scorer: str | None = Field(None, description="a key under `models`: the depth scorer")
    source: str = Field("classify", description="the pretrain_classify stage to read")
    styles: list[Style] = Field(default_factory=lambda: list(STYLES), min_length=1)
    labels: list[Literal["harmful", "benign"]] = Field(
        default_factory=lambda: ["harmful", "benign"],
        min_length=1,
        description="which classes get reflections (kinds follow: engaging/appreciative)",
    )
    limit: int | None = Field(None, ge=1, description="only the first N classified documents")
    max_tokens: int = Field(160, ge=8, description="tokens per reflection")
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    engine: Literal["local", "ray"] = Field("local", description="where the writer runs")
    workers: int = Field(2, ge=1, description="Ray actors (engine ray), one model each")
    concurrency: int | None = Field(None, ge=1, description="default: the model's limit")
    system: str = Field(pp.REFLECT_SYSTEM, description="the writer's instructions")
    template: str = Field(pp.REFLECT_TEMPLATE, description="the request per document")
    style_instructions: dict[Style, str] | None = Field(
        None,
        validate_default=True,
        description="style -> its instruction; a partial map overrides only the styles "
        "it names (default: prompts.STYLE_INSTRUCTIONS); resolved in full when read",
    )

    RESUMABLE_FIELDS: ClassVar[tuple[str, ...]] = ("limit", "engine", "workers", "concurrency")

    def estimate(self, ctx: PlanContext) -> list[CallEstimate]:
        """One reflection per document (of the ``source`` stage's judged ones) and style.

        Documents are read from the source stage's corpus and the real template
        rendered; with ``scorer``, each reflection is asked every depth question.
        """
        return _estimate(self, ctx)

    @field_validator("template")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        required = ["document", "article", "kind_instruction", "style_instruction"]
        return pp.check_template(value, required, "template")

    @field_validator("style_instructions", mode="before")
    @classmethod
    def _resolve_styles(cls, value: Any) -> dict[str, str]:
        # Resolving the defaults here puts the effective instructions in the dump the
        # run fingerprints, so editing a default in code also invalidates old rows.
        if value is None:
            return dict(pp.STYLE_INSTRUCTIONS)
        if not isinstance(value, dict):
            raise ValueError("give a mapping of style to instruction, e.g. {explained: '...'}")
        unknown = [str(k) for k in value if k not in STYLES]
        if unknown:
            raise ValueError(
                f"unknown style {', '.join(repr(k) for k in unknown)}; "
                f"choose from {', '.join(STYLES)}"
            )
        blank = [k for k, v in value.items() if not isinstance(v, str) or not v.strip()]
        if blank:
            raise ValueError(f"the instruction for {', '.join(blank)} must be a non-empty text")
        return {**pp.STYLE_INSTRUCTIONS, **value}


def _estimate(spec: ReflectSpec, ctx: PlanContext) -> list[CallEstimate]:
    """See :meth:`ReflectSpec.estimate`."""
    source = ctx.stages.get(spec.source)
    if source is None or not hasattr(source, "judged"):
        return []
    limit = source.judged()
    if spec.limit is not None:
        limit = spec.limit if limit is None else min(limit, spec.limit)
    docs = list(iter_documents(ctx.resolve(source.corpus), limit, source.text_field))
    articles = list(ctx.constitution.articles)
    kind = KIND_OF_LABEL[spec.labels[0]]
    writes, scores = [], []
    for i, doc in enumerate(docs):
        for style in spec.styles:
            item = {
                "text": doc.text,
                "kind": kind,
                "style": style,
                "article": articles[i % len(articles)].id,
            }
            writes.append(est.message_tokens(reflection_messages(spec, ctx.constitution, item)))
            scores.append(
                est.approx_tokens(pp.DEPTH_SYSTEM + pp.DEPTH_TEMPLATE + doc.text)
                + spec.max_tokens
                + 2 * est.MESSAGE_OVERHEAD
            )
    note = "every document counted, whatever its label (an upper bound)"
    out = [
        est.generations(
            spec.model, "reflection", writes, spec.max_tokens, upper_bound=True, note=note
        )
    ]
    if spec.scorer:
        out.append(
            est.choices(
                spec.scorer,
                "depth score",
                scores * len(pp.DEPTH_CRITERIA),
                upper_bound=True,
                note=f"{len(pp.DEPTH_CRITERIA)} questions per reflection",
            )
        )
    return out


def reflection_messages(
    spec: ReflectSpec, constitution: Constitution, item: dict
) -> list[dict[str, str]]:
    """The writer's prompt for one document, style and kind."""
    article = constitution.article(item["article"])
    user = spec.template.format(
        document=item["text"],
        article=pp.describe_article(article, constitution, deep=item["style"] == "explained"),
        kind_instruction=pp.KIND_INSTRUCTIONS[item["kind"]],
        style_instruction=(spec.style_instructions or pp.STYLE_INSTRUCTIONS)[item["style"]],
    )
    return [{"role": "system", "content": spec.system}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class ReflectWorker:
    """A picklable worker factory: loads the writer (and scorer) where it runs."""

    spec: ReflectSpec
    constitution: Constitution
    model: dict[str, Any]  # ModelSpec dumps
    scorer: dict[str, Any] | None = None

    def __call__(self):
        writer = load_chat_model(ModelSpec.model_validate(self.model))
        same = self.scorer is not None and self.scorer == self.model
        judge = writer if same else self.scorer and load_chat_model(ModelSpec(**self.scorer))
        return make_reflector(self.spec, self.constitution, writer, judge)


def make_reflector(spec: ReflectSpec, constitution: Constitution, writer, scorer=None):
    """The per-item function: write the reflection, then score its depth if asked."""
    depth = DepthScorer(scorer) if scorer is not None else None

    def reflect(item: dict) -> dict:
        params = GenerateParams(
            max_tokens=spec.max_tokens,
            temperature=spec.temperature,
            top_p=spec.top_p,
            seed=item["seed"],
        )
        completion = writer.generate(reflection_messages(spec, constitution, item), params)
        text = completion.text.strip()
        if not text:
            raise MalformedOutputError("the writer returned an empty reflection", raw=text)
        out = {"reflection": text, "model_id": completion.model_id, "depth": None}
        if depth is not None:
            out.update(depth.score(item["text"], text).to_row(), scorer_id=depth.model_id)
        return out

    return reflect


def run_reflect(
    spec: ReflectSpec,
    ctx: RunContext,
    restart: bool = False,
    worker: WorkerFactory | None = None,
) -> dict:
    """Run the stage; return counts ``{"total", "new", "failed", "done"}``."""
    source = ctx.output_dir / spec.source / CLASSIFIED
    if not source.exists():
        raise ConfigError(
            f"stage {spec.name!r} field source: {spec.source!r} has no {CLASSIFIED}; "
            "name a pretrain_classify stage that runs earlier."
        )
    folder = ctx.prepare_stage(spec, restart)
    counts = {"total": 0, "new": 0, "failed": 0}
    with (
        JsonlStore(folder / OUTPUT) as store,
        ErrorLog(folder / ERRORS) as errors,
    ):
        items: dict[str, dict] = {}
        for n, row in enumerate(read_jsonl(source)):
            if spec.limit is not None and n >= spec.limit:
                break
            if row["label"] not in spec.labels:
                continue
            article = _article(row, ctx.constitution)
            for style in spec.styles:
                key = f"{row['id']}:{style}"
                counts["total"] += 1
                if key not in store:
                    items[key] = {
                        "id": row["id"],
                        "text": row["text"],
                        "label": row["label"],
                        "kind": KIND_OF_LABEL[row["label"]],
                        "style": style,
                        "article": article,
                        "seed": ctx.seed_for(spec.name, key),
                    }
        if items:
            _write(spec, ctx, items, worker, store, errors, counts)
        return {**counts, "done": len(store)}


def _article(row: dict, constitution: Constitution) -> str:
    """The document's top article (the first article when the classifier named none)."""
    known = {a.id for a in constitution}
    for entry in row.get("articles") or []:
        if entry.get("id") in known:
            return entry["id"]
    return constitution.articles[0].id


def _write(spec, ctx, items: dict[str, dict], worker, store: JsonlStore, errors, counts) -> None:
    if worker is None and spec.engine == "local":
        writer = ctx.model(spec.model)
        scorer = ctx.model(spec.scorer) if spec.scorer else None

        def worker():
            return make_reflector(spec, ctx.constitution, writer, scorer)

    elif worker is None:
        models = ctx.config.models
        worker = ReflectWorker(
            spec,
            ctx.constitution,
            models[spec.model].model_dump(mode="json"),
            models[spec.scorer].model_dump(mode="json") if spec.scorer else None,
        )
    limit = getattr(ctx._models.get(spec.model), "max_concurrency", 1)
    label = f"{spec.name}: reflect ({spec.model}, {spec.engine})"
    with progress_bar(label, len(items), ctx.progress) as bar:
        results = map_documents(
            worker, items.items(), spec.engine, spec.workers, spec.concurrency, limit
        )
        for key, result in results:
            item = items[key]
            if isinstance(result, dict):
                store.add(_row(spec, ctx, key, item, result))
                counts["new"] += 1
            else:
                errors.add(
                    key,
                    result,
                    raw=getattr(result, "raw", None),
                    provenance=ctx.provenance(spec.model, item["seed"]),
                )
                counts["failed"] += 1
            bar.advance()


def _row(spec, ctx, key: str, item: dict, result: dict) -> dict:
    if "reflection" not in result:
        raise RunError(f"the reflect worker returned no reflection for {key}")
    return {
        "key": key,
        "id": item["id"],
        "style": item["style"],
        "kind": item["kind"],
        "label": item["label"],
        "article": item["article"],
        "reflection": result["reflection"],
        "depth": result.get("depth"),
        "criteria": result.get("criteria"),
        "model": result.get("model_id", spec.model),
        "scorer": result.get("scorer_id"),
        "created_at": _now(),
        "provenance": ctx.provenance(result.get("model_id", spec.model), item["seed"]),
    }


def _now() -> str:
    return datetime.now(UTC).isoformat()
