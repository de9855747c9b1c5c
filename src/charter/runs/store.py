"""An append-only JSONL record store keyed by record id: the unit of resumability.

Each record is one line, written with flush and fsync before the write is
acknowledged, so a ``kill -9`` loses at most the line being written. On open,
a torn last line (no trailing newline, or not valid JSON) is cut off; the keys
of the complete lines are the work already done. A rerun skips those keys, so
nothing is lost and nothing is written twice.

A stage's failures go to an :class:`ErrorLog` beside its stores: one row per
failure, in the shape every ``errors.jsonl`` shares (see :func:`error_row`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from charter.errors import RunError


class _AppendFile:
    """An open append handle, closed on ``with`` exit (the base of both writers here)."""

    _handle: Any

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JsonlStore(_AppendFile):
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


MALFORMED = "malformed"  # the ``type`` of a failure given as a message, not an exception


def error_row(key: str, error: object, **context: Any) -> dict[str, Any]:
    """The shape shared by every ``errors.jsonl`` row.

    ``{"key", **context, "error", "type", "at"}``: ``error`` is the message,
    ``type`` the exception's class name (``"malformed"`` when ``error`` is a
    plain message, e.g. a parser's complaint) and ``at`` the UTC time. The
    caller adds what locates the failure (``step``, ``round``, ``raw`` text,
    ``provenance``...) as ``context``.
    """
    kind = type(error).__name__ if isinstance(error, BaseException) else MALFORMED
    return {
        "key": key,
        **context,
        "error": str(error),
        "type": kind,
        "at": datetime.now(UTC).isoformat(),
    }


class ErrorLog(_AppendFile):
    """A stage's ``errors.jsonl``: failure rows appended as they happen.

    Unlike :class:`JsonlStore` it is not keyed: a failed key is retried on the
    next run and may fail again, and each failure is a row of its own.

    Args:
        path: the JSONL file (created with its folder if missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("a", encoding="utf-8")

    def add(self, key: str, error: object, **context: Any) -> dict[str, Any]:
        """Append :func:`error_row` of ``key``, ``error`` and ``context``; return the row."""
        row = error_row(key, error, **context)
        # default=str: a backend's raw output or provenance may hold non-JSON values.
        self._handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        # Flushed, so a reader (or a crash) sees every failure logged so far.
        self._handle.flush()
        return row


def append_error(path: str | Path, key: str, error: object, **context: Any) -> dict[str, Any]:
    """Append one failure row to the ``errors.jsonl`` at ``path`` (opened and closed here)."""
    with ErrorLog(path) as log:
        return log.add(key, error, **context)


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
