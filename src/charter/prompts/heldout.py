"""The held-out guard: eval prompts and gold-set prompts are never trained on.

Charter's eval data sits below the packages that train (SL-CAI, RL-CAI labels,
SFT/DPO/GRPO data), so each of them can refuse a training set that overlaps
it without importing the evals:

- the held-out conflict scenarios (``prompts/data/conflicts.jsonl``), which
  measure generalization to families never trained on;
- the over-refusal pairs (``over_refusal.jsonl``: harmful prompts and their
  benign lookalikes) and the held-out helpfulness prompts
  (``helpfulness_heldout.jsonl``), on which the CAI experiment measures harmful
  compliance, false refusals and helpfulness Elo;
- every prompt of every judge's gold set (``charter/feedback/gold/*.jsonl``),
  since a judge calibrated on prompts the policy trained on measures nothing.

Texts are compared after lower-casing and collapsing everything but letters
and digits, so a copy with different punctuation is caught too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path

from charter._util.jsonl import iter_objects
from charter._util.sources import builtin_path
from charter.errors import DatasetError
from charter.prompts.load import KIND, PromptRecord, load_prompts


def conflicts_path() -> Path:
    """The shipped held-out scenario families."""
    return builtin_path(KIND, "conflicts")


def over_refusal_path() -> Path:
    """The shipped set of safe/unsafe prompt pairs (the over-refusal suite)."""
    return builtin_path(KIND, "over_refusal")


def helpfulness_heldout_path() -> Path:
    """The shipped helpfulness prompts kept out of training (the experiment's helpfulness Elo)."""
    return builtin_path(KIND, "helpfulness_heldout")


def gold_files() -> list[Path]:
    """Every shipped gold set (read as data: this layer does not import the judges)."""
    folder = resources.files("charter.feedback") / "gold"
    return sorted(Path(str(f)) for f in folder.iterdir() if f.name.endswith(".jsonl"))


def normalized(text: str) -> str:
    """Lower case, everything but letters and digits collapsed to single spaces."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


@cache
def held_out_prompts() -> tuple[PromptRecord, ...]:
    """Every prompt the evals and the judges' gold sets keep out of training."""
    records = [
        *load_prompts(conflicts_path()),
        *load_prompts(over_refusal_path()),
        *load_prompts(helpfulness_heldout_path()),
    ]
    texts = {normalized(r.prompt) for r in records}
    for path in gold_files():
        for _, row in iter_objects(path):
            prompt = row.get("prompt")
            if isinstance(prompt, str) and prompt.strip() and normalized(prompt) not in texts:
                texts.add(normalized(prompt))
                records.append(PromptRecord(id=f"{path.stem}:{row.get('id')}", prompt=prompt))
    return tuple(records)


def check_held_out(
    records: Iterable[PromptRecord], held_out: Sequence[PromptRecord] | None = None
) -> None:
    """Refuse a (training) prompt set that shares an id or a text with held-out prompts.

    Raises:
        DatasetError: naming the overlapping prompt and the held-out one.
    """
    held_out = held_out if held_out is not None else held_out_prompts()
    ids = {r.id: r for r in held_out}
    texts = {normalized(r.prompt): r for r in held_out}
    for record in records:
        clash = ids.get(record.id) or texts.get(normalized(record.prompt))
        if clash is not None:
            raise DatasetError(
                f"prompt {record.id!r} overlaps held-out eval prompt {clash.id!r}; held-out "
                "prompts must never be trained on - remove it from the training set."
            )
