"""What a stage would cost before it runs: model calls and their tokens.

Each stage spec answers :meth:`charter.runs.config.StageSpec.estimate` with a
list of :class:`CallEstimate`: per model key and purpose, how many calls, how
many prompt tokens they read and how many completion tokens they may write.
Nothing is loaded and nothing is generated: prompts are rendered from the
stage's real templates and prompt sets where that is cheap, and tokens are
counted approximately (:func:`approx_tokens`, about four characters a token,
the usual rule of thumb for English with BPE tokenizers).

Completion tokens are the ``max_tokens`` limits, so they are an upper bound;
choice log-prob calls (judges, labelers) generate nothing and count 0.
:mod:`charter.runs.plan` sums the estimates and turns them into time and cost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from charter._util.sources import resolve_relative
from charter.constitution import Constitution

CHARS_PER_TOKEN = 4  # rule of thumb for English text and BPE tokenizers
MESSAGE_OVERHEAD = 4  # chat-template tokens around each message (role, separators)
# The judges' and labelers' question templates are not rendered by the plan: a
# question about a prompt and an answer is estimated as their tokens plus this.
JUDGE_TEMPLATE_TOKENS = 150


class CallEstimate(BaseModel):
    """Calls of one kind a stage makes to one model (or, for training, its steps)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(description="the key under `models`")
    purpose: str = Field(description="what the calls are for, e.g. 'critique', 'judge battery'")
    call: Literal["generate", "choices", "train"] = Field(
        "generate", description="generate text, score answer choices, or optimizer steps"
    )
    calls: int = Field(0, ge=0, description="model calls (0 for training)")
    prompt_tokens: int = Field(0, ge=0, description="tokens read, summed over the calls")
    completion_tokens: int = Field(
        0, ge=0, description="tokens written: the max_tokens limits, an upper bound"
    )
    steps: int | None = Field(None, ge=0, description="training: optimizer steps")
    sequences: int | None = Field(None, ge=0, description="training: sequences (or pairs) seen")
    upper_bound: bool = Field(
        False, description="calls counted at their most (retries, early exits not taken)"
    )
    note: str = ""


@dataclass(frozen=True)
class PlanContext:
    """What an estimate may read: the config's folder, the constitution, the other stages.

    It offers the two things stages read from a
    :class:`~charter.runs.context.RunContext` when they plan (``resolve`` and
    ``constitution``), so code that plans prompts from a context runs on it too.
    ``stages`` (name -> spec) lets a stage that reads an earlier stage's rows
    size itself from that stage's settings.
    """

    base_dir: Path
    constitution: Constitution
    stages: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self, path: str) -> str:
        """An input path relative to the config file; other sources (``builtin:``...) pass through.

        Raises:
            DatasetError: an unknown source scheme (``foo:bar``).
        """
        return resolve_relative(path, self.base_dir)


def approx_tokens(text: str) -> int:
    """About how many tokens ``text`` is: ``ceil(len / CHARS_PER_TOKEN)``."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def message_tokens(messages: Sequence[dict[str, str]]) -> int:
    """Approximate prompt tokens of a conversation, chat-template overhead included."""
    return sum(approx_tokens(m["content"]) + MESSAGE_OVERHEAD for m in messages)


def generations(
    model: str,
    purpose: str,
    prompts: Iterable[int],
    max_tokens: int,
    *,
    upper_bound: bool = False,
    note: str = "",
) -> CallEstimate:
    """One generate call per prompt size in ``prompts``, each writing up to ``max_tokens``."""
    sizes = list(prompts)
    return CallEstimate(
        model=model,
        purpose=purpose,
        calls=len(sizes),
        prompt_tokens=sum(sizes),
        completion_tokens=len(sizes) * max_tokens,
        upper_bound=upper_bound,
        note=note,
    )


def choices(
    model: str,
    purpose: str,
    prompts: Iterable[int],
    *,
    upper_bound: bool = False,
    note: str = "",
) -> CallEstimate:
    """One choice log-prob call per prompt size in ``prompts`` (nothing generated)."""
    sizes = list(prompts)
    return CallEstimate(
        model=model,
        purpose=purpose,
        call="choices",
        calls=len(sizes),
        prompt_tokens=sum(sizes),
        upper_bound=upper_bound,
        note=note,
    )


def training(model: str, purpose: str, steps: int, sequences: int, note: str = "") -> CallEstimate:
    """Optimizer steps of a training stage (no model calls)."""
    return CallEstimate(
        model=model, purpose=purpose, call="train", steps=steps, sequences=sequences, note=note
    )
