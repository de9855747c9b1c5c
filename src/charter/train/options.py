"""Training options per method, with CPU-sized defaults for the embedded SmolLM2-135M.

One pydantic model per method (``sft``, ``reward``, ``dpo``, ``grpo``), sharing
:class:`TrainOptions`. The defaults train the embedded policy with a LoRA
adapter (Hu et al. 2021, "LoRA") in minutes on two CPU cores: rank 8, alpha 16
on the attention projections, batch 2, sequences of at most 512 tokens, 30
steps. The same options run unchanged on a GPU (bf16 where supported), and
under ``accelerate launch``.

Learning rates, and why they differ (LoRA needs roughly 10x the learning rate
of full fine-tuning, because only a low-rank update is trained):

- ``sft`` 2e-4: the usual LoRA SFT rate (e.g. the QLoRA paper, Dettmers et
  al. 2023, uses 1e-4 to 2e-4 for small models).
- ``reward`` 1e-4: the score head starts from random, the trunk only shifts.
- ``dpo`` 5e-5: DPO is trained at about 10x below SFT (Rafailov et al. 2023,
  sec. 6, use 1e-6 for full fine-tuning); its loss sharpens fast and a high
  rate collapses the policy onto degenerate text. 5e-5 is that ratio on LoRA.
- ``grpo`` 1e-5: policy-gradient updates from 2 samples per prompt are noisy;
  TRL's full fine-tuning default is 1e-6, again x10 for LoRA.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

Method = Literal["sft", "reward", "dpo", "grpo"]
METHODS: tuple[str, ...] = ("sft", "reward", "dpo", "grpo")


class LoraOptions(BaseModel):
    """The LoRA adapter (Hu et al. 2021): rank, scale, dropout and target modules."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(8, ge=1, description="adapter rank")
    alpha: int = Field(16, ge=1, description="scale: the update is multiplied by alpha / r")
    dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the adapter's input")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        min_length=1,
        description="module names that get an adapter (attention projections by default)",
    )


class TrainOptions(BaseModel):
    """Options every method shares."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    max_steps: int = Field(30, ge=1, description="optimizer steps to train in total")
    learning_rate: float = Field(2e-4, gt=0, description="peak learning rate (AdamW)")
    lr_scheduler: Literal["linear", "cosine", "constant"] = Field(
        "linear", description="learning-rate schedule after warmup"
    )
    warmup_steps: int = Field(0, ge=0, description="steps of linear warmup")
    batch_size: int = Field(2, ge=1, description="sequences (or pairs) per device per step")
    gradient_accumulation_steps: int = Field(1, ge=1, description="micro-batches per step")
    max_length: int = Field(512, ge=16, description="tokens per sequence; longer rows are cut")
    seed: int = Field(0, ge=0, description="seeds data order, dropout and initial weights")
    lora: LoraOptions = Field(default_factory=LoraOptions)
    save_steps: int = Field(10, ge=1, description="write a resumable checkpoint every N steps")
    save_total_limit: int = Field(2, ge=1, description="checkpoints kept (older ones deleted)")
    logging_steps: int = Field(1, ge=1, description="log loss every N steps")
    gradient_checkpointing: bool = Field(
        False, description="recompute activations to save memory (slower; off for small models)"
    )
    threads: int | None = Field(None, ge=1, description="torch CPU threads (None: torch's default)")

    # May change between runs of the same output without invalidating its checkpoints:
    # raising max_steps continues training from the last checkpoint.
    RESUMABLE_FIELDS: ClassVar[tuple[str, ...]] = (
        "max_steps",
        "save_steps",
        "save_total_limit",
        "logging_steps",
        "threads",
    )
    method: ClassVar[str] = ""

    def fingerprint(self) -> dict:
        """The options that decide what a checkpoint contains (resumable ones left out)."""
        return self.model_dump(mode="json", exclude=set(self.RESUMABLE_FIELDS))


class SFTOptions(TrainOptions):
    """Supervised fine-tuning on ``messages`` rows (SL-CAI, Bai et al. 2022, sec. 3)."""

    method: ClassVar[str] = "sft"
    learning_rate: float = Field(2e-4, gt=0, description="peak learning rate (AdamW)")
    loss_on: Literal["completion", "all"] = Field(
        "completion",
        description="train on the last assistant turn only (completion) or on every token (all)",
    )


class PreferenceOptions(TrainOptions):
    """Options of methods that read preference pairs."""

    min_label_prob: float = Field(
        0.5,
        ge=0.5,
        lt=1,
        description="drop pairs whose label_prob is below this (near-ties); 0.5 keeps all",
    )


class RewardOptions(PreferenceOptions):
    """A preference model trained on AI-feedback pairs (Bai et al. 2022, sec. 4.1)."""

    method: ClassVar[str] = "reward"
    learning_rate: float = Field(1e-4, gt=0, description="peak learning rate (AdamW)")
    labels: Literal["soft", "margin", "hard"] = Field(
        "soft",
        description=(
            "how label_prob is used: soft = cross-entropy on the soft label (Bai et al. 2022, "
            "sec. 4.1); margin = TRL's margin column set to logit(label_prob); hard = ignored"
        ),
    )


class DPOOptions(PreferenceOptions):
    """Direct preference optimization (Rafailov et al. 2023) on AI-feedback pairs."""

    method: ClassVar[str] = "dpo"
    learning_rate: float = Field(5e-5, gt=0, description="peak learning rate (AdamW)")
    beta: float = Field(0.1, gt=0, description="strength of the implicit KL to the reference")
    label_smoothing: float = Field(
        0.0,
        ge=0,
        lt=0.5,
        description="conservative DPO: the assumed share of flipped labels (0: plain DPO)",
    )


class GRPOOptions(TrainOptions):
    """Group relative policy optimization (Shao et al. 2024) against a reward."""

    method: ClassVar[str] = "grpo"
    learning_rate: float = Field(1e-5, gt=0, description="peak learning rate (AdamW)")
    num_generations: int = Field(2, ge=2, description="completions sampled per prompt (a group)")
    max_completion_length: int = Field(32, ge=1, description="tokens per sampled completion")
    temperature: float = Field(1.0, gt=0, description="sampling temperature of the completions")
    beta: float = Field(
        0.0, ge=0, description="KL penalty to the reference (0: none, no reference pass)"
    )
    prompt_limit: int | None = Field(None, ge=1, description="use only the first N prompts")


OPTIONS: dict[str, type[TrainOptions]] = {
    "sft": SFTOptions,
    "reward": RewardOptions,
    "dpo": DPOOptions,
    "grpo": GRPOOptions,
}


def options_for(method: str, **values: object) -> TrainOptions:
    """The options model of ``method`` with ``values`` applied (None values are skipped).

    Raises:
        ConfigError: an unknown method, or a value out of range (naming the field).
    """
    from pydantic import ValidationError

    from charter._util.validation import describe
    from charter.errors import ConfigError

    if method not in OPTIONS:
        raise ConfigError(f"method {method!r} is unknown; choose one of {', '.join(METHODS)}.")
    given = {k: v for k, v in values.items() if v is not None}
    try:
        return OPTIONS[method].model_validate(given)
    except ValidationError as exc:
        raise ConfigError(f"{method} options: {describe(exc, given)}") from None
