"""Rewards for GRPO: a trained preference model, or any Python callable.

TRL's ``GRPOTrainer`` takes reward functions with the signature
``(prompts, completions, **kwargs) -> list[float]`` (TRL ``rewards/``), or a
sequence-classification model that scores the chat-formatted prompt and
completion. Charter passes either through unchanged:

- ``reward_model``: the folder a ``charter train reward`` run wrote (its
  ``model/``), loaded as a 1-output classifier with its own tokenizer.
- ``reward_fn``: ``"wish:<ledger>"`` for the wish-sampled reward of the
  collective package, or any ``"module:attr"``, imported and checked to be callable.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from charter._util.sources import parse_source, scheme_of
from charter.errors import ConfigError, ModelNotFoundError


def load_reward_fn(target: str) -> Callable[..., list[float]]:
    """Import ``module:attr`` and check it is callable.

    ``wish:<ledger>`` (a SQLite path, a ``postgresql://`` URL, an export, or
    ``builtin:sample``) is the wish-sampled reward over that ledger with its
    defaults (:func:`charter.collective.reward.make_reward_fn`).

    Raises:
        ConfigError: a malformed target, a module or attribute that does not exist.
    """
    if scheme_of(target) == "wish":  # else module:attr, which is no source
        from charter.runs.plugins import plugin

        return plugin("reward", "wish")(parse_source(target).ledger().text)
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"reward_fn {target!r}: write it as module:attr, e.g. mypkg.rewards:length_reward."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"reward_fn {target!r}: cannot import {module_name} ({exc}).") from None
    value: Any = module
    for part in attr.split("."):
        if not hasattr(value, part):
            raise ConfigError(f"reward_fn {target!r}: {module_name} has no attribute {attr!r}.")
        value = getattr(value, part)
    if not callable(value):
        raise ConfigError(
            f"reward_fn {target!r} is not callable; it must be a function "
            "(prompts, completions, **kwargs) -> list[float]."
        )
    return value


def reward_model_dir(path: str | Path) -> Path:
    """The classifier folder of a reward-training output (``<out>/model``) or a model folder.

    Raises:
        ModelNotFoundError: no model there, or it is not a sequence classifier.
    """
    import json

    folder = Path(path)
    if (folder / "model" / "config.json").is_file():
        folder = folder / "model"
    config = folder / "config.json"
    if not config.is_file():
        raise ModelNotFoundError(
            f"reward model {path}: no model there; give the output folder of "
            "`charter train reward` (or its model/ folder)."
        )
    architectures = json.loads(config.read_text()).get("architectures") or []
    if not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise ModelNotFoundError(
            f"reward model {folder}: it is a {', '.join(architectures) or 'model'} rather than a "
            "sequence classifier; train one with `charter train reward`."
        )
    return folder


def load_reward_model(path: str | Path) -> tuple[Any, Any, Path]:
    """``(model, tokenizer, folder)`` of a trained reward model, in eval mode."""
    from charter.train.models import load_model, load_tokenizer

    folder = reward_model_dir(path)
    tokenizer = load_tokenizer(folder)
    model = load_model(folder, "reward", tokenizer)
    model.eval()
    return model, tokenizer, folder
