"""Load prompt sets: ``builtin:redteam``, ``builtin:helpfulness``, JSONL files.

Each prompt gets a stable id (its own ``id`` field, or a hash of its text),
because resumable stages key their records by it.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from charter.errors import DatasetError

BUILTIN = ("redteam", "helpfulness")


class PromptRecord(BaseModel):
    """One prompt and what the set says about it."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    category: str | None = None
    kind: str | None = None


def _builtin_path(name: str) -> Path:
    if name not in BUILTIN:
        raise DatasetError(
            f"no built-in prompt set {name!r}; choose builtin:{' or builtin:'.join(BUILTIN)}."
        )
    return Path(str(resources.files("charter.prompts") / "data" / f"{name}.jsonl"))


def load_prompts(source: str | Path, limit: int | None = None) -> list[PromptRecord]:
    """Read a prompt set.

    Args:
        source: ``builtin:redteam``, ``builtin:helpfulness`` or a ``.jsonl`` path
            whose rows have a ``prompt`` field (and optionally ``id``).
        limit: keep only the first ``limit`` prompts.

    Raises:
        DatasetError: naming the file, the line and the field.
    """
    text = str(source)
    path = (
        _builtin_path(text.removeprefix("builtin:")) if text.startswith("builtin:") else Path(text)
    )
    if not path.is_file():
        raise DatasetError(f"{path}: no such prompt file; give a .jsonl path or builtin:redteam.")
    if path.suffix != ".jsonl":
        raise DatasetError(f"{path}: prompt files must be JSON Lines (.jsonl).")
    records: list[PromptRecord] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg}).") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{path}:{number}: each line must be a JSON object.")
            if not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
                raise DatasetError(
                    f"{path}:{number}: field prompt is missing or empty; every row needs "
                    "a non-empty 'prompt' string."
                )
            if "id" not in row:
                row["id"] = "p-" + hashlib.sha256(row["prompt"].encode()).hexdigest()[:12]
            try:
                record = PromptRecord.model_validate(row)
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"])
                raise DatasetError(f"{path}:{number}: field {field}: {err['msg']}.") from None
            if record.id in seen:
                raise DatasetError(f"{path}:{number}: id {record.id!r} appears twice.")
            seen.add(record.id)
            records.append(record)
            if limit is not None and len(records) >= limit:
                break
    if not records:
        raise DatasetError(f"{path}: holds no prompts.")
    return records
