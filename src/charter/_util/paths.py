"""File tests for values that may be a path or the text itself (a key, a vkey)."""

from __future__ import annotations

from pathlib import Path


def is_file(value: str | Path) -> bool:
    """``Path(value).is_file()``, but False for a value no file can have.

    ``pathlib`` raises ``OSError`` (``ENAMETOOLONG``) for a name longer than the
    file system allows, e.g. a long pasted key; such a value is not a file, and
    the caller then judges it as text, with its own one-line error.
    """
    try:
        return Path(value).is_file()
    except (OSError, ValueError):
        return False
