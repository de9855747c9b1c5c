"""Gold sets: hand-labelled items a judge is calibrated on, with a fixed dev/test split.

Every judge Charter ships has a gold set in ``charter/feedback/gold/<judge>.jsonl``,
written for this project. Each row carries ``split``: anything tuned (prompts,
thresholds, the weights of a fitted combination) is fitted on ``dev`` only, and
calibration cards report ``test`` only, so the figures a run believes were never
seen by what they measure. Items that share a prompt share a split.

A user's own gold file has the same fields; without ``split`` every row counts
as ``test`` (nothing was tuned on it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from charter._util.validation import read_models
from charter.errors import DatasetError

SPLITS = ("dev", "test")
Split = Literal["dev", "test"]


class GoldItem(BaseModel):
    """The fields every gold row has; each judge adds its own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    split: Split = Field("test", description="dev (tuning) or test (reporting)")
    category: str | None = Field(None, description="the red-team category or topic")


G = TypeVar("G", bound=GoldItem)


def gold_path(judge: str) -> Path:
    """The shipped gold set of ``judge``."""
    return Path(str(resources.files("charter.feedback") / "gold" / f"{judge}.jsonl"))


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes: a gold set's version id on a calibration card."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_gold(
    model: type[G], path: str | Path, split: str | None = None, limit: int | None = None
) -> list[G]:
    """Read and validate a gold set; keep one split (``dev``, ``test``) or all (None).

    Raises:
        DatasetError: naming the file, the line and the field; or an empty split.
    """
    if split is not None and split not in SPLITS:
        raise DatasetError(f"split {split!r}: use dev or test (or leave it out for both).")
    items = read_models(Path(path), model, "gold")
    chosen = [item for item in items if split is None or item.split == split]
    if not chosen:
        raise DatasetError(f'{path}: holds no {split} items; label some rows "split": "{split}".')
    return chosen[:limit] if limit else chosen


def split_counts(items: Sequence[GoldItem]) -> dict[str, int]:
    """Items per split."""
    return {s: sum(1 for item in items if item.split == s) for s in SPLITS}


def check_kind(
    kind: str | None,
    positive: bool,
    positive_kinds: Sequence[str],
    negative_kinds: Sequence[str],
    flag: str,
) -> None:
    """Refuse a ``kind`` that is unknown or contradicts the item's label (``flag`` names it)."""
    if kind is None:
        return
    if kind not in (*positive_kinds, *negative_kinds):
        raise ValueError(
            f"kind {kind!r} must be one of {', '.join((*positive_kinds, *negative_kinds))} "
            "(or left out)"
        )
    if (kind in positive_kinds) != positive:
        raise ValueError(
            f"kind {kind!r} contradicts {flag}={str(positive).lower()}; "
            f"kinds with {flag}=true are {', '.join(positive_kinds)}"
        )
