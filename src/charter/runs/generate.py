"""The ``generate`` stage: answers from one model to a prompt set, with provenance.

Rows are keyed by prompt id, so a rerun after an interruption generates only
what is missing. A backend failure becomes a row in ``errors.jsonl`` (with
the message) and the prompt is retried on the next run; it never stops the
batch.

Output: ``<run>/<stage>/generations.jsonl``, one row per prompt::

    {"key", "id", "prompt", "category", "kind", "messages", "response",
     "finish_reason", "usage", "model", "provenance"}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Literal

from pydantic import Field

from charter._util.progress import progress_bar
from charter.backends.base import Completion, GenerateParams
from charter.backends.batch import generate_many
from charter.prompts import PromptRecord, load_prompts
from charter.runs import estimate as est
from charter.runs.config import StageSpec
from charter.runs.context import RunContext
from charter.runs.estimate import CallEstimate, PlanContext
from charter.runs.store import ErrorLog, JsonlStore

OUTPUT = "generations.jsonl"
ERRORS = "errors.jsonl"


class GenerateSpec(StageSpec):
    """Generate one answer per prompt from one model."""

    kind: Literal["generate"] = "generate"
    model: str = Field(description="a key under `models`")
    prompts: str = Field("builtin:redteam", description="builtin:<set> or a .jsonl path")
    limit: int | None = Field(None, ge=1, description="only the first N prompts")
    system: str | None = Field(None, description="an optional system message")
    max_tokens: int = Field(128, ge=1)
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    concurrency: int | None = Field(None, ge=1, description="default: the model's limit")

    # Raising `limit` only adds prompts; finished rows stay valid.
    RESUMABLE_FIELDS: ClassVar[tuple[str, ...]] = ("limit", "concurrency")

    def estimate(self, ctx: PlanContext) -> list[CallEstimate]:
        """One call per prompt, each writing up to ``max_tokens``."""
        prompts = load_prompts(ctx.resolve(self.prompts), limit=self.limit)
        sizes = [est.message_tokens(_prompt_messages(self, p)) for p in prompts]
        return [est.generations(self.model, "answer", sizes, self.max_tokens)]


def run_generate(spec: GenerateSpec, ctx: RunContext, restart: bool = False) -> dict:
    """Run the stage; return counts ``{"done", "new", "failed", "total"}``."""
    folder = ctx.prepare_stage(spec, restart)
    prompts = load_prompts(ctx.resolve(spec.prompts), limit=spec.limit)
    by_id = {p.id: p for p in prompts}
    counts = {"total": len(prompts), "new": 0, "failed": 0}
    with (
        JsonlStore(folder / OUTPUT) as store,
        ErrorLog(folder / ERRORS) as errors,
    ):
        todo = [p for p in prompts if p.id not in store]
        if not todo:
            return {**counts, "done": len(store)}
        model = ctx.model(spec.model)
        requests = (
            (
                p.id,
                _prompt_messages(spec, p),
                GenerateParams(
                    max_tokens=spec.max_tokens,
                    temperature=spec.temperature,
                    top_p=spec.top_p,
                    seed=ctx.seed_for(spec.name, p.id),
                ),
            )
            for p in todo
        )
        with progress_bar(f"{spec.name} ({spec.model})", len(todo), ctx.progress) as bar:
            for prompt_id, result in generate_many(model, requests, spec.concurrency):
                if isinstance(result, Completion):
                    store.add(_row(spec, ctx, by_id[prompt_id], result))
                    counts["new"] += 1
                else:
                    errors.add(prompt_id, result)
                    counts["failed"] += 1
                bar.advance()
        return {**counts, "done": len(store)}


def _prompt_messages(spec: GenerateSpec, p: PromptRecord) -> list[dict[str, str]]:
    system = [{"role": "system", "content": spec.system}] if spec.system else []
    return [*system, {"role": "user", "content": p.prompt}]


def _row(spec: GenerateSpec, ctx: RunContext, p: PromptRecord, result: Completion) -> dict:
    return {
        "key": p.id,
        **p.row_fields(),
        "messages": [*_prompt_messages(spec, p), {"role": "assistant", "content": result.text}],
        "response": result.text,
        "finish_reason": result.finish_reason,
        "usage": {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
        },
        "model": spec.model,
        "created_at": datetime.now(UTC).isoformat(),
        "provenance": ctx.provenance(result.model_id, ctx.seed_for(spec.name, p.id)),
    }
