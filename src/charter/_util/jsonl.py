"""Read a JSONL file of objects, one line at a time, with errors that name the line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from charter.errors import DatasetError


def iter_objects(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``("<path>:<line>", object)`` for every non-blank line (streamed: any size).

    Raises:
        DatasetError: a line that is not JSON, or not a JSON object, naming the line.
    """
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise DatasetError(
                    f"{path}:{number}: not valid JSON ({getattr(exc, 'msg', exc)}); "
                    "write one object a line."
                ) from None
            if not isinstance(row, dict):
                raise DatasetError(f"{path}:{number}: each line must be a JSON object.")
            yield f"{path}:{number}", row
