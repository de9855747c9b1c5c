"""File tests for values that may be a path or the text itself (a key, a vkey)."""

from __future__ import annotations

from pathlib import Path

from charter.errors import LedgerError


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


def key_or_file(value: str, option: str) -> str:
    """``value`` itself when it is a key string, else the text of the file it names.

    Keys (C2SP verifier strings) always hold a ``+``; a value without one, or one
    naming an existing file, is read as a file. Raises :class:`LedgerError` in one
    line naming ``option`` when that file cannot be read (as for a malformed key).
    """
    if "+" in value and not is_file(value):
        return value
    try:
        return Path(value).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        problem = f"{option} {value[:80]}: neither a key nor a readable file ({exc})."
        raise LedgerError(problem) from None
