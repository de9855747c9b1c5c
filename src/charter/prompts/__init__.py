"""Prompt sets: the shipped red-team, helpfulness, conflict and over-refusal sets, user files,
and the held-out guard that keeps eval and gold-set prompts out of training."""

from charter.prompts.heldout import (
    check_held_out,
    conflicts_path,
    held_out_prompts,
    over_refusal_path,
)
from charter.prompts.load import (
    BUILTIN,
    PromptRecord,
    load_prompt_sources,
    load_prompts,
    prompt_path,
)

__all__ = [
    "BUILTIN",
    "PromptRecord",
    "check_held_out",
    "conflicts_path",
    "held_out_prompts",
    "load_prompt_sources",
    "load_prompts",
    "over_refusal_path",
    "prompt_path",
]
