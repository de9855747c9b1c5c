"""An append-only JSONL record store keyed by record id: the unit of resumability.

Each record is one line, written with flush and fsync before the write is
acknowledged, so a ``kill -9`` loses at most the line being written. On open,
a torn last line (no trailing newline, or not valid JSON) is cut off; the keys
of the complete lines are the work already done. A rerun skips those keys, so
nothing is lost and nothing is written twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from charter.errors import RunError


class JsonlStore:
    """Records in ``path``, unique by the value of ``key_field``.

    Args:
        path: the JSONL file (created with its folder if missing).
        key_field: the field whose value identifies a record.
    """

    def __init__(self, path: str | Path, key_field: str = "key") -> None:
        self.path = Path(path)
        self.key_field = key_field
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._keys: set[str] = set()
        self._recover()
        self._handle = self.path.open("a", encoding="utf-8")

    def _recover(self) -> None:
        if not self.path.exists():
            return
        good_end = 0
        with self.path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break
                try:
                    record = json.loads(line)
                except ValueError:
                    break
                key = record.get(self.key_field) if isinstance(record, dict) else None
                if key is None:
                    raise RunError(
                        f"{self.path}: a line has no {self.key_field!r} field; this file was not "
                        "written by Charter. Move it away and rerun."
                    )
                self._keys.add(str(key))
                good_end += len(line)
        if good_end < self.path.stat().st_size:
            # A torn tail from an interrupted write: drop it, keep every complete line.
            with self.path.open("r+b") as handle:
                handle.truncate(good_end)

    def __contains__(self, key: object) -> bool:
        return str(key) in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, record: dict[str, Any]) -> bool:
        """Append a record durably; return False (writing nothing) if its key exists."""
        key = record.get(self.key_field)
        if key is None:
            raise RunError(f"record has no {self.key_field!r} field: {str(record)[:80]}")
        if str(key) in self._keys:
            return False
        self._handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._keys.add(str(key))
        return True

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> JsonlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the complete records of a JSONL file (a torn last line is skipped)."""
    with Path(path).open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                return
            try:
                yield json.loads(line)
            except ValueError:
                return
