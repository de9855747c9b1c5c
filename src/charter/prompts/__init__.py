"""Prompt sets: the shipped red-team and helpfulness sets, and user files."""

from charter.prompts.load import BUILTIN, PromptRecord, load_prompts

__all__ = ["BUILTIN", "PromptRecord", "load_prompts"]
