"""Read and check training data in the formats TRL's trainers consume.

Three kinds of input, each from a JSONL file, an HF ``datasets`` folder
(``save_to_disk``), or the folder of a Charter stage that wrote one:

- SFT: rows with ``messages`` (a list of ``{role, content}`` ending with an
  assistant turn), as the ``sl_cai`` stage writes (``sft_dataset/``, ``sft.jsonl``).
- Preferences: rows with ``prompt``, ``chosen``, ``rejected`` and optionally
  ``label_prob``, as ``rl_cai_labels`` writes (``preference_dataset/``,
  ``preferences.jsonl``).
- Prompts (GRPO): ``builtin:redteam`` / ``builtin:helpfulness`` or any prompt
  file :func:`charter.prompts.load_prompts` reads. A set that shares an id or a
  text with the eval's held-out scenarios is refused, as the CAI stages refuse it
  (:func:`charter.prompts.check_held_out`).

Rows are turned into TRL's *conversational* formats (``data_utils.py`` in TRL),
so the model's chat template frames every example exactly as at generation
time. Every loader returns the rows and the SHA-256 of their canonical JSON,
which ``train.json`` records as the dataset's identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter._util.jsonl import iter_objects
from charter.errors import DatasetError, missing_extra
from charter.runs.provenance import canonical_hash

# What a stage folder holds, in the order it is looked for.
SFT_SOURCES = ("sft_dataset", "sft.jsonl")
PREFERENCE_SOURCES = ("preference_dataset", "preferences.jsonl")
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class TrainData:
    """Rows ready for a TRL trainer, where they came from, and their hash."""

    rows: list[dict[str, Any]]
    source: str
    sha256: str
    dropped: int = 0
    constitution_hashes: tuple[str, ...] = ()


def locate(path: str | Path, sources: tuple[str, ...]) -> Path:
    """The file or dataset folder to read: ``path`` itself, or what a stage folder holds.

    Raises:
        DatasetError: nothing there, naming what was looked for.
    """
    path = Path(path)
    if path.is_dir() and not _is_saved_dataset(path):
        for name in sources:
            if (path / name).exists():
                return path / name
        raise DatasetError(
            f"{path}: a folder must be a saved HF dataset or a stage folder holding "
            f"{' or '.join(sources)}."
        )
    if not path.exists():
        raise DatasetError(
            f"{path}: no such dataset; give a .jsonl file, a saved HF dataset folder, "
            f"or a stage folder holding {' or '.join(sources)}."
        )
    return path


def read_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(where, row)`` for every row of a JSONL file or a saved dataset folder."""
    if path.is_dir():
        try:
            import datasets
        except ImportError:
            raise missing_extra("datasets", "train") from None
        try:
            loaded = datasets.load_from_disk(str(path))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: cannot load it as a saved dataset ({exc}).") from None
        if isinstance(loaded, datasets.DatasetDict):
            if "train" not in loaded:
                raise DatasetError(
                    f"{path}: holds splits {', '.join(loaded)} but no 'train'; give one split."
                )
            loaded = loaded["train"]
        return [(f"{path}[{i}]", row) for i, row in enumerate(loaded)]
    if path.suffix != ".jsonl":
        raise DatasetError(f"{path}: training data must be a .jsonl file or a dataset folder.")
    return list(iter_objects(path))


def load_sft(path: str | Path) -> TrainData:
    """SFT rows ``{"messages": [...]}`` from JSONL, a dataset folder or an ``sl_cai`` stage.

    Raises:
        DatasetError: a missing file, a row without valid ``messages``, or no rows.
    """
    source = locate(path, SFT_SOURCES)
    rows = []
    for where, row in read_rows(source):
        rows.append({"messages": _messages(row.get("messages"), where)})
    return _finish(rows, source, "an SFT dataset needs a 'messages' column", _hashes(source))


def load_preferences(path: str | Path, min_label_prob: float = 0.5) -> TrainData:
    """Preference rows as conversational ``prompt/chosen/rejected`` (+ ``label_prob``).

    Pairs whose ``label_prob`` is below ``min_label_prob`` are dropped (counted
    in ``dropped``); rows without ``label_prob`` count as certain (1.0).

    Raises:
        DatasetError: a missing file or column (naming both), a bad ``label_prob``, no rows.
    """
    source = locate(path, PREFERENCE_SOURCES)
    rows, dropped = [], 0
    for where, row in read_rows(source):
        missing = [c for c in ("prompt", "chosen", "rejected") if c not in row]
        if missing:
            raise DatasetError(
                f"{where}: missing column {', '.join(missing)}; a preference dataset needs "
                "prompt, chosen, rejected (and optionally label_prob)."
            )
        prob = row.get("label_prob", 1.0)
        if prob is None:
            prob = 1.0
        if not isinstance(prob, int | float) or not 0 <= prob <= 1 or math.isnan(prob):
            raise DatasetError(f"{where}: label_prob must be a number in [0, 1], got {prob!r}.")
        if prob < min_label_prob:
            dropped += 1
            continue
        prompt = row["prompt"]
        rows.append(
            {
                "prompt": (
                    [{"role": "user", "content": _text(prompt, where, "prompt")}]
                    if isinstance(prompt, str)
                    else _messages(prompt, where, "prompt", final_assistant=False)
                ),
                "chosen": _completion(row["chosen"], where, "chosen"),
                "rejected": _completion(row["rejected"], where, "rejected"),
                "label_prob": float(prob),
            }
        )
    what = "no pair has label_prob >= " + str(min_label_prob) if dropped else "no rows"
    return _finish(rows, source, what, _hashes(source), dropped)


def load_prompt_rows(source: str | Path, limit: int | None = None) -> TrainData:
    """GRPO prompts ``{"prompt": [{"role": "user", ...}]}`` from a prompt set.

    Raises:
        DatasetError: no prompts, or a prompt that overlaps a held-out eval scenario.
    """
    from charter.prompts import check_held_out, load_prompts

    records = load_prompts(source, limit=limit)
    check_held_out(records)  # the eval's held-out scenarios are never trained on
    rows = [{"prompt": [{"role": "user", "content": r.prompt}]} for r in records]
    return _finish(rows, Path(str(source)), "no prompts", ())


def _finish(rows, source: Path, empty: str, hashes, dropped: int = 0) -> TrainData:
    if not rows:
        raise DatasetError(f"{source}: {empty}; there is nothing to train on.")
    return TrainData(rows, str(source), canonical_hash(rows), dropped, tuple(hashes))


def _messages(value: Any, where: str, field: str = "messages", final_assistant: bool = True):
    expected = f"'{field}' must be a list of {{role, content}} objects"
    if not isinstance(value, list) or not value:
        raise DatasetError(f"{where}: {expected}, got {type(value).__name__}.")
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise DatasetError(
                f"{where}: {field}[{i}] needs a role in {', '.join(ROLES)}; {expected}."
            )
        out.append(
            {
                "role": message["role"],
                "content": _text(message.get("content"), where, f"{field}[{i}].content"),
            }
        )
    if final_assistant and out[-1]["role"] != "assistant":
        raise DatasetError(f"{where}: the last of '{field}' must be the assistant's answer.")
    return out


def _completion(value: Any, where: str, field: str) -> list[dict[str, str]]:
    if isinstance(value, str):
        return [{"role": "assistant", "content": _text(value, where, field)}]
    return _messages(value, where, field)


def _text(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: field {field} must be a non-empty string.")
    return value


def _is_saved_dataset(path: Path) -> bool:
    markers = ("dataset_info.json", "state.json", "dataset_dict.json")
    return any((path / name).exists() for name in markers)


def _hashes(source: Path) -> list[str]:
    """Constitution hashes recorded in the rows' provenance (sl_cai and labels write them)."""
    jsonl = source if source.suffix == ".jsonl" else None
    if jsonl is None:
        sibling = source.parent / (source.name.replace("_dataset", "") + ".jsonl")
        alt = source.parent / "preferences.jsonl"
        jsonl = sibling if sibling.exists() else alt if alt.exists() else None
    if jsonl is None:
        return []
    found: dict[str, None] = {}
    for _, row in read_rows(jsonl):
        value = (row.get("provenance") or {}).get("constitution_hash")
        if isinstance(value, str):
            found[value] = None
    return list(found)
