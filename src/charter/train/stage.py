"""Training as run stages: ``train_sft``, ``train_reward``, ``train_dpo``, ``train_grpo``.

Each stage trains into ``<run>/<stage>/`` with the layout of
:mod:`charter.train.trainer`, so a later stage can use the result as a model:
``models: {sl: {backend: transformers, model: "stage:<train stage>"}}``. The
``base`` field names a key under ``models`` whose ``model`` is
``embedded:policy``, a folder, or ``stage:<earlier train stage>`` - so DPO can
start from the SFT-merged model. ``data`` is the name of an earlier stage
(``sl_cai`` for SFT, ``rl_cai_labels`` for reward/DPO) or a path. A stage
without ``seed`` uses the run's seed.

Example (the quickstart's training steps)::

    models:
      policy: {backend: llama_cpp, model: "embedded:policy"}
      sl: {backend: transformers, model: "stage:sft"}
    stages:
      - {name: sl, kind: sl_cai, policy: policy, limit: 32}
      - {name: sft, kind: train_sft, base: policy, data: sl, max_steps: 30}
      - {name: labels, kind: rl_cai_labels, policy: sl, labeler: feedback, limit: 16}
      - {name: dpo, kind: train_dpo, base: sl, data: labels, max_steps: 30}
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from charter._util.sources import scheme_of
from charter.errors import ConfigError
from charter.runs import estimate as est
from charter.runs.config import StageSpec, stage_reference
from charter.runs.context import RunContext
from charter.runs.estimate import CallEstimate, PlanContext
from charter.train.options import (
    OPTIONS,
    DPOOptions,
    GRPOOptions,
    RewardOptions,
    SFTOptions,
    TrainOptions,
)

_MODEL_FIELDS = ("base",)


class _TrainStage(StageSpec):
    base: str = Field(description="a key under `models`: embedded:policy, a folder or stage:<name>")
    data: str = Field(description="an earlier stage's name, or a dataset path")
    seed: int | None = Field(None, ge=0, description="default: the run's seed")

    MODEL_FIELDS: ClassVar[tuple[str, ...]] = _MODEL_FIELDS
    RESUMABLE_FIELDS: ClassVar[tuple[str, ...]] = TrainOptions.RESUMABLE_FIELDS
    METHOD: ClassVar[str] = ""

    def estimate(self, ctx: PlanContext) -> list[CallEstimate]:
        """Optimizer steps and the sequences (or pairs) they see; no model calls.

        GRPO's sampling happens inside the trainer and is counted here as
        sequences (``num_generations`` completions per prompt in each batch).
        """
        per_step = self.batch_size * self.gradient_accumulation_steps
        sequences = self.max_steps * per_step
        note = f"{per_step} per step, up to {self.max_length} tokens each"
        if self.METHOD == "grpo":
            sequences *= getattr(self, "num_generations", 1)
            note = "completions sampled by the trainer, " + note
        return [est.training(self.base, f"{self.METHOD} steps", self.max_steps, sequences, note)]


class SFTStageSpec(_TrainStage, SFTOptions):
    """Supervised fine-tuning on an ``sl_cai`` stage's SFT data."""

    kind: Literal["train_sft"] = "train_sft"
    METHOD: ClassVar[str] = "sft"


class RewardStageSpec(_TrainStage, RewardOptions):
    """A preference model trained on an ``rl_cai_labels`` stage's pairs."""

    kind: Literal["train_reward"] = "train_reward"
    METHOD: ClassVar[str] = "reward"


class DPOStageSpec(_TrainStage, DPOOptions):
    """DPO on an ``rl_cai_labels`` stage's pairs."""

    kind: Literal["train_dpo"] = "train_dpo"
    METHOD: ClassVar[str] = "dpo"


class GRPOStageSpec(_TrainStage, GRPOOptions):
    """GRPO on prompts against a trained reward model (a stage) or a reward function."""

    kind: Literal["train_grpo"] = "train_grpo"
    METHOD: ClassVar[str] = "grpo"
    data: str = Field("builtin:redteam", description="prompts: builtin:<set>, a path or a stage")
    reward_model: str | None = Field(
        None, description="an earlier train_reward stage's name, or a reward-model folder"
    )
    reward_fn: str | None = Field(
        None, description="wish:<ledger> or module:attr of a TRL reward function"
    )


def run_train(spec: _TrainStage, ctx: RunContext, restart: bool = False) -> dict:
    """Train (or resume, or skip when finished); return ``{"done", "new", "failed", "total"}``.

    ``done`` and ``total`` count optimizer steps; ``final_loss`` is the last logged loss.
    """
    from charter.train.trainer import train

    folder = ctx.prepare_stage(spec, restart)
    option_cls: type[TrainOptions] = OPTIONS[spec.METHOD]
    values = spec.model_dump(include=set(option_cls.model_fields))
    if spec.seed is None:
        values["seed"] = ctx.config.seed
    options = option_cls.model_validate(values)
    reward_model = getattr(spec, "reward_model", None)
    result = train(
        spec.METHOD,
        _data_path(spec, ctx, spec.data),
        folder,
        options,
        base=_base_path(spec, ctx),
        reward_model=_data_path(spec, ctx, reward_model) if reward_model else None,
        reward_fn=getattr(spec, "reward_fn", None),
        constitution_hash=ctx.constitution.hash,
        progress=ctx.progress,
    )
    return {
        "done": result.steps,
        "new": result.new_steps,
        "failed": 0,
        "total": options.max_steps,
        "final_loss": result.final_loss,
    }


def _base_path(spec: _TrainStage, ctx: RunContext) -> str:
    model = ctx.config.models[spec.base]
    source = stage_reference(model.model)
    if source is not None:
        return str(ctx.trained_model_dir(source))
    if scheme_of(model.model) == "embedded":
        return model.model
    if model.gguf_file:
        raise ConfigError(
            f"stage {spec.name!r} base {spec.base!r}: training needs a transformers folder or "
            "embedded:policy, not a GGUF file."
        )
    return ctx.resolve(model.model)


def _data_path(spec: _TrainStage, ctx: RunContext, data: str) -> str:
    """An earlier stage's folder when ``data`` names one, else the path or builtin set."""
    names = [s.name for s in ctx.config.stages]
    if data in names:
        if names.index(data) >= names.index(spec.name):
            raise ConfigError(
                f"stage {spec.name!r} reads stage {data!r}, which must come earlier in `stages`."
            )
        folder = ctx.output_dir / data
        if not folder.is_dir():
            raise ConfigError(
                f"stage {spec.name!r} reads stage {data!r}, which has not run yet; run the "
                "config without --stage (finished stages are skipped)."
            )
        return str(folder)
    resolved = ctx.resolve(data)
    if scheme_of(resolved) != "builtin" and not Path(resolved).exists():
        raise ConfigError(
            f"stage {spec.name!r} field data: {data!r} is neither an earlier stage "
            f"({', '.join(names)}) nor an existing path."
        )
    return resolved
