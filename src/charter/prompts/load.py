"""Load prompt sets: ``builtin:redteam``, ``builtin:helpfulness``, JSONL, Parquet, saved datasets.

Each prompt gets a stable id (its own ``id`` field, or a hash of its text),
because resumable stages key their records by it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from charter._util.jsonl import iter_objects
from charter._util.sources import builtin_path, parse_source, path_format, register_builtin
from charter.errors import DatasetError, missing_extra

#: The prompt sets Charter ships (``prompts/data/<name>.jsonl``), each usable as ``builtin:<name>``.
#: ``over_refusal``, ``helpfulness_heldout`` and ``conflicts`` are evaluation sets: the
#: held-out guard (:mod:`charter.prompts.heldout`) keeps them out of training.
BUILTIN = ("redteam", "helpfulness", "helpfulness_heldout", "over_refusal", "conflicts")
#: The kind prompt sets are registered under in :mod:`charter._util.sources`.
KIND = "prompts"
_DATA = Path(str(resources.files("charter.prompts") / "data"))
for _name in BUILTIN:
    register_builtin(KIND, _name, _DATA / f"{_name}.jsonl")


class PromptRecord(BaseModel):
    """One prompt and what the set says about it."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    category: str | None = None
    kind: str | None = None

    def row_fields(self) -> dict[str, str | None]:
        """The fields every stage copies into its output rows."""
        return {"id": self.id, "prompt": self.prompt, "category": self.category, "kind": self.kind}


def prompt_path(source: str | Path) -> Path:
    """The file or folder a prompt source names (``builtin:<set>`` or a path).

    Raises:
        DatasetError: an unknown scheme or built-in set, or a source that is no path.
    """
    parsed = parse_source(source)
    return builtin_path(KIND, parsed.value) if parsed.scheme == "builtin" else parsed.path


def load_prompts(
    source: str | Path, limit: int | None = None, prompt_field: str = "prompt"
) -> list[PromptRecord]:
    """Read a prompt set.

    Args:
        source: ``builtin:redteam``, ``builtin:helpfulness``, a ``.jsonl`` or
            ``.parquet`` file, or a folder written by ``datasets``'
            ``save_to_disk``, whose rows have a prompt column (and optionally ``id``).
        limit: keep only the first ``limit`` prompts.
        prompt_field: the column holding the prompt text.

    Raises:
        DatasetError: naming the file, the row and the field.
    """
    path = prompt_path(source)
    records: list[PromptRecord] = []
    seen: set[str] = set()
    for where, row in _rows(path):
        if not isinstance(row.get(prompt_field), str) or not row[prompt_field].strip():
            raise DatasetError(
                f"{where}: field {prompt_field} is missing or empty; every row needs a "
                f"non-empty '{prompt_field}' string."
            )
        row = {**row, "prompt": row[prompt_field]}
        if row.get("id") is None:
            row["id"] = "p-" + hashlib.sha256(row["prompt"].encode()).hexdigest()[:12]
        row["id"] = str(row["id"])
        try:
            record = PromptRecord.model_validate(row)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise DatasetError(f"{where}: field {field}: {err['msg']}.") from None
        if record.id in seen:
            raise DatasetError(f"{where}: id {record.id!r} appears twice.")
        seen.add(record.id)
        records.append(record)
        if limit is not None and len(records) >= limit:
            break
    if not records:
        raise DatasetError(f"{path}: holds no prompts.")
    return records


def load_prompt_sources(
    sources: str | Path | Sequence[str | Path],
    resolve: Callable[[str], str | Path] = str,
    limit: int | None = None,
) -> list[PromptRecord]:
    """Read one prompt set, or several concatenated in order (ids must stay unique).

    Args:
        sources: one source as :func:`load_prompts` takes, or a list of them.
        resolve: maps a configured source to a loadable one (a run's ``ctx.resolve``).
        limit: keep only the first ``limit`` prompts of the concatenation.

    Raises:
        DatasetError: a source fails to load, or two sources share an id.
    """
    many = [sources] if isinstance(sources, str | Path) else list(sources)
    records: list[PromptRecord] = []
    where: dict[str, str] = {}
    for source in many:
        left = None if limit is None else limit - len(records)
        if left is not None and left <= 0:
            break
        for record in load_prompts(resolve(str(source)), limit=left):
            if record.id in where:
                raise DatasetError(
                    f"{source}: prompt id {record.id!r} is also in {where[record.id]}; "
                    "ids must be unique across the listed prompt sets."
                )
            where[record.id] = str(source)
            records.append(record)
    return records


def _rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, row)`` for each row of a JSONL file, a Parquet file or a datasets folder."""
    fmt = path_format(path)
    if fmt == "folder":
        raise DatasetError(f"{path}: a folder must be an HF dataset saved with save_to_disk.")
    if fmt == "hf_dataset":
        try:
            import datasets
        except ImportError:
            raise missing_extra("datasets", "train") from None
        try:
            dataset = datasets.load_from_disk(str(path))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: cannot load it as a saved dataset ({exc}).") from None
        if isinstance(dataset, datasets.DatasetDict):
            raise DatasetError(
                f"{path}: holds several splits ({', '.join(dataset)}); give one split's folder."
            )
        for number, row in enumerate(dataset):
            yield f"{path}[{number}]", row
        return
    if not path.is_file():
        raise DatasetError(
            f"{path}: no such prompt file; give a .jsonl or .parquet file, a saved dataset "
            "folder, or builtin:redteam."
        )
    if fmt == "parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise missing_extra("pyarrow", "train") from None
        try:
            parquet = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise DatasetError(f"{path}: not a readable Parquet file ({exc}).") from None
        number = 0
        for batch in parquet.iter_batches(batch_size=1024):  # streamed: any size
            for row in batch.to_pylist():
                number += 1
                yield f"{path}[{number - 1}]", row
        return
    if fmt != "jsonl":
        raise DatasetError(f"{path}: prompt files must be .jsonl or .parquet.")
    yield from iter_objects(path)
