"""One error hierarchy for Charter.

Every error a user can cause carries one sentence that names what is wrong and
how to fix it. The CLI prints that sentence (no traceback unless ``--debug``)
and exits non-zero. Third-party exceptions are translated at the boundary
where they occur, so callers only ever catch ``CharterError`` subclasses.
"""

from __future__ import annotations


class CharterError(Exception):
    """Base class of every error Charter raises on purpose."""

    exit_code: int = 1


class ConfigError(CharterError):
    """An experiment config (or CLI option) is missing, malformed or invalid."""

    exit_code = 2


class ConstitutionError(CharterError):
    """A constitution file cannot be read or does not validate."""

    exit_code = 2


class DatasetError(CharterError):
    """A prompt set or other input dataset cannot be read or does not validate."""

    exit_code = 2


class BackendError(CharterError):
    """A model backend failed: missing dependency, unreachable server, bad reply."""

    exit_code = 3


class ModelNotFoundError(BackendError):
    """A model file, folder or embedded package is missing."""


class ModelIntegrityError(BackendError):
    """A model file's SHA-256 does not match its pinned value."""


class ServerError(BackendError):
    """An OpenAI-compatible server answered with an error or could not be reached."""


class RunError(CharterError):
    """A pipeline stage could not complete (after its retries)."""


def missing_extra(package: str, extra: str) -> BackendError:
    """The error to raise when an optional dependency is not installed."""
    return BackendError(
        f"{package} is not installed; install it with `pip install 'charter[{extra}]'` "
        "(or run `make install`)."
    )
