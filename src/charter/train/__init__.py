"""Training with TRL + PEFT (LoRA): SFT, reward model, DPO and GRPO on Charter's datasets.

Implements the training steps of Constitutional AI (Bai et al. 2022): supervised
fine-tuning on critique-and-revise data (sec. 3) and, from AI-feedback
preference labels (sec. 4), a preference model, RL against it (here GRPO, Shao
et al. 2024) or DPO (Rafailov et al. 2023). Run it as ``charter train
sft|reward|dpo|grpo``, as ``train_*`` stages of a run config, or from Python::

    from charter.train import SFTOptions, train
    train("sft", "runs/demo/sl", "out/sft", SFTOptions(max_steps=30))

Heavy libraries (torch, transformers, trl, peft) load only when training starts.
"""

from __future__ import annotations

from charter.train.options import (
    DPOOptions,
    GRPOOptions,
    LoraOptions,
    RewardOptions,
    SFTOptions,
    TrainOptions,
    options_for,
)
from charter.train.trainer import TrainResult, train

__all__ = [
    "DPOOptions",
    "GRPOOptions",
    "LoraOptions",
    "RewardOptions",
    "SFTOptions",
    "TrainOptions",
    "TrainResult",
    "options_for",
    "train",
]
