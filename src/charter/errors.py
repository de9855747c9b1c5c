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


class MalformedOutputError(BackendError):
    """A model's output cannot be used (no label, empty revision); ``raw`` keeps what it said.

    Pipelines record it as a failure row with the raw text and move on.
    """

    def __init__(self, message: str, raw: object = None) -> None:
        super().__init__(message)
        self.raw = raw


class RunError(CharterError):
    """A pipeline stage could not complete (after its retries)."""


def missing_extra(package: str, extra: str) -> BackendError:
    """The error to raise when an optional dependency is not installed."""
    return BackendError(
        f"{package} is not installed; install it with `pip install 'charter[{extra}]'` "
        "(or run `make install`)."
    )


class LedgerError(CharterError):
    """The wish ledger refused an operation (invalid entry, store failure, bad state)."""

    exit_code = 4


class EntryError(LedgerError):
    """A wish or ledger entry failed validation; the message names the field and the fix."""


class StakeError(LedgerError):
    """A depositor lacks the credit for an entry's fee and burn; nothing was written."""


class VerificationError(CharterError):
    """A proof, checkpoint or signature did not verify.

    Verifiers raise this (never return False), carrying what was expected and
    what was computed, as transparency-dev/merkle's ``RootMismatchError`` does.
    """

    exit_code = 5

    def __init__(self, message: str, expected: object = None, computed: object = None) -> None:
        super().__init__(message)
        self.expected = expected
        self.computed = computed


class ProofError(VerificationError):
    """A proof is malformed: wrong length, bad hash size, index or sizes out of range."""


class RootMismatchError(VerificationError):
    """A proof is well formed but leads to a different root than the one given."""


class SignatureError(VerificationError):
    """A signature (on an entry or a checkpoint) is missing or does not verify."""
