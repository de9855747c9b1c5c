"""One TRL trainer per method, built from Charter's options and data.

- ``sft``: TRL ``SFTTrainer``. SmolLM2's chat template has no generation
  markers, so TRL's ``assistant_only_loss`` cannot find the assistant tokens;
  instead each ``messages`` row is split into a conversational
  prompt/completion pair (all turns but the last / the last assistant turn),
  and TRL's ``completion_only_loss`` trains on the answer alone - the
  revision, in SL-CAI (Bai et al. 2022, sec. 3). ``loss_on: all`` trains on
  every token instead.
- ``reward``: TRL ``RewardTrainer`` on a 1-output sequence classifier (LoRA
  task ``SEQ_CLS``; the score head is trained in full). ``label_prob`` is used
  as a soft label by default: the loss is the cross-entropy between
  ``label_prob`` and ``sigmoid(r_chosen - r_rejected)``, so a 0.55 pair pulls
  the rewards only slightly apart while a 0.95 pair pulls hard - Bai et al.
  2022 (sec. 4.1) train their preference model on such soft labels. The
  alternative ``margin`` puts ``logit(label_prob)`` into TRL's ``margin``
  column (TRL's loss ``-log sigmoid(r_c - r_r - margin)``, the Llama 2 margin
  idea), which only ever pushes; ``hard`` ignores it.
- ``dpo``: TRL ``DPOTrainer``. With a PEFT model TRL computes the reference
  log-probs with the adapter disabled, i.e. the frozen base. ``label_prob`` is
  used to drop near-ties (``min_label_prob``); DPO has no per-pair soft label,
  but ``label_smoothing`` (conservative DPO) applies a global one.
- ``grpo``: TRL ``GRPOTrainer`` with a trained reward model or a callable.
"""

from __future__ import annotations

import math
from typing import Any

from charter.errors import ConfigError, DatasetError
from charter.train.data import TrainData
from charter.train.options import (
    DPOOptions,
    GRPOOptions,
    RewardOptions,
    SFTOptions,
    TrainOptions,
)

# label_prob is clipped before logit() so a certain label gives a finite margin.
_PROB_EPS = 1e-3


def lora_config(options: TrainOptions, task: str):
    """The PEFT ``LoraConfig`` for ``task`` (``CAUSAL_LM`` or ``SEQ_CLS``)."""
    from peft import LoraConfig

    return LoraConfig(
        r=options.lora.r,
        lora_alpha=options.lora.alpha,
        lora_dropout=options.lora.dropout,
        target_modules=list(options.lora.target_modules),
        task_type=task,
    )


def common_args(options: TrainOptions, checkpoints: str, progress: bool) -> dict[str, Any]:
    """TrainingArguments every method shares (device, schedule, checkpoints, logging)."""
    from charter.train.models import device_args

    return {
        "output_dir": checkpoints,
        "max_steps": options.max_steps,
        "learning_rate": options.learning_rate,
        "lr_scheduler_type": options.lr_scheduler,
        "warmup_steps": options.warmup_steps,
        "per_device_train_batch_size": options.batch_size,
        "gradient_accumulation_steps": options.gradient_accumulation_steps,
        "seed": options.seed,
        "save_strategy": "steps",
        "save_steps": options.save_steps,
        "save_total_limit": options.save_total_limit,
        "logging_steps": options.logging_steps,
        "gradient_checkpointing": options.gradient_checkpointing,
        "report_to": [],
        "dataloader_num_workers": 0,
        # transformers' tqdm bar and raw log dicts interleave with Charter's own bars;
        # the trainer shows progress with Charter's bar instead (trainer._ProgressBar).
        "disable_tqdm": True,
        **device_args(),
    }


def sft_rows(data: TrainData, options: SFTOptions) -> list[dict[str, Any]]:
    """Rows for SFTTrainer: prompt/completion pairs, or whole conversations."""
    if options.loss_on == "all":
        return [{"messages": r["messages"]} for r in data.rows]
    rows = []
    for i, row in enumerate(data.rows):
        if len(row["messages"]) < 2:
            raise DatasetError(
                f"{data.source}: row {i} has only an assistant turn, so there is no prompt to "
                "separate from the answer; add the user turn, or train with loss_on: all."
            )
        rows.append({"prompt": row["messages"][:-1], "completion": row["messages"][-1:]})
    return rows


def reward_rows(data: TrainData, options: RewardOptions) -> list[dict[str, Any]]:
    """Rows for RewardTrainer; ``margin`` carries the soft label or the margin."""
    rows = []
    for row in data.rows:
        out = {k: row[k] for k in ("prompt", "chosen", "rejected")}
        prob = min(max(row["label_prob"], _PROB_EPS), 1 - _PROB_EPS)
        if options.labels == "soft":
            out["margin"] = row["label_prob"]
        elif options.labels == "margin":
            out["margin"] = math.log(prob / (1 - prob))
        rows.append(out)
    return rows


def dpo_rows(data: TrainData) -> list[dict[str, Any]]:
    return [{k: row[k] for k in ("prompt", "chosen", "rejected")} for row in data.rows]


def build_trainer(
    options: TrainOptions,
    model: Any,
    tokenizer: Any,
    data: TrainData,
    checkpoints: str,
    callbacks: list[Any],
    progress: bool = True,
    reward: Any = None,
    reward_tokenizer: Any = None,
):
    """The TRL trainer for ``options.method``, wrapping ``model`` in a new LoRA adapter."""
    import datasets

    base = common_args(options, checkpoints, progress)
    if isinstance(options, SFTOptions):
        from trl import SFTConfig, SFTTrainer

        args = SFTConfig(
            **base,
            max_length=options.max_length,
            completion_only_loss=options.loss_on == "completion",
            packing=False,
        )
        dataset = datasets.Dataset.from_list(sft_rows(data, options))
        return SFTTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(options, "CAUSAL_LM"),
            callbacks=callbacks,
        )
    if isinstance(options, RewardOptions):
        from trl import RewardConfig

        args = RewardConfig(**base, max_length=options.max_length)
        dataset = datasets.Dataset.from_list(reward_rows(data, options))
        trainer_cls = soft_label_reward_trainer() if options.labels == "soft" else _reward_cls()
        return trainer_cls(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(options, "SEQ_CLS"),
            callbacks=callbacks,
        )
    if isinstance(options, DPOOptions):
        from trl import DPOConfig, DPOTrainer

        args = DPOConfig(
            **base,
            max_length=options.max_length,
            beta=options.beta,
            label_smoothing=options.label_smoothing,
        )
        return DPOTrainer(
            model=model,
            args=args,
            train_dataset=datasets.Dataset.from_list(dpo_rows(data)),
            processing_class=tokenizer,
            peft_config=lora_config(options, "CAUSAL_LM"),
            callbacks=callbacks,
        )
    if isinstance(options, GRPOOptions):
        from trl import GRPOConfig, GRPOTrainer

        batch = options.batch_size * options.gradient_accumulation_steps
        if batch % options.num_generations:
            raise ConfigError(
                f"grpo: batch_size x gradient_accumulation_steps ({batch}) must be a multiple of "
                f"num_generations ({options.num_generations}); each step holds whole groups."
            )
        if reward is None:
            raise ConfigError("grpo needs a reward: give reward_model or reward_fn.")
        args = GRPOConfig(
            **base,
            num_generations=options.num_generations,
            max_completion_length=options.max_completion_length,
            temperature=options.temperature,
            beta=options.beta,
        )
        return GRPOTrainer(
            model=model,
            reward_funcs=[reward],
            args=args,
            train_dataset=datasets.Dataset.from_list(data.rows),
            processing_class=tokenizer,
            reward_processing_classes=[reward_tokenizer],
            peft_config=lora_config(options, "CAUSAL_LM"),
            callbacks=callbacks,
        )
    raise ConfigError(f"no trainer for options of type {type(options).__name__}.")


def _reward_cls():
    from trl import RewardTrainer

    return RewardTrainer


def soft_label_reward_trainer():
    """A RewardTrainer whose loss is the cross-entropy with soft labels (Bai et al. 2022).

    The label probability travels in TRL's ``margin`` column (the only extra
    column TRL's reward collator carries). TRL's own loss and metrics are
    computed first (without the margin), then the loss is replaced by
    ``-(p log sigmoid(d) + (1 - p) log sigmoid(-d))`` with ``d = r_chosen - r_rejected``,
    whose minimum is at ``d = logit(p)``: the reward gap matches the labeler's confidence.
    """
    import torch
    from torch.nn.functional import logsigmoid
    from trl import RewardTrainer

    class SoftLabelRewardTrainer(RewardTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            prob = inputs.pop("margin")
            _, outputs = super().compute_loss(
                model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
            )
            chosen, rejected = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
            gap = chosen - rejected
            prob = prob.to(gap.dtype)
            loss = -(prob * logsigmoid(gap) + (1 - prob) * logsigmoid(-gap)).mean()
            return (loss, outputs) if return_outputs else loss

    return SoftLabelRewardTrainer
