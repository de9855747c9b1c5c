"""One resolver for every source string a stage, loader or CLI option takes.

A source names where data or a model comes from. Its scheme is its prefix:

- ``builtin:<name>``: a data set Charter ships; which names exist depends on
  the kind of data asked for (prompt sets, the sample corpus, the sample wish
  file, the signed sample ledger). Domain packages register their names here
  with :func:`register_builtin`; this module imports none of them.
- ``embedded:<name>``: an embedded default model (:mod:`charter.backends.embedded`).
- ``stage:<name>``: what an earlier stage of the same run wrote (a trained
  model, a ledger).
- ``wish:<ledger>``: the wish-sampled reward over a ledger source
  (``wish:`` alone means ``wish:builtin:sample``).
- ``postgresql://...`` or ``postgres://...``: a PostgreSQL ledger store.
- anything else without a scheme is a path: absolute, relative, or a Windows
  drive path (``C:\\data\\x.jsonl``); its format comes from its suffix, the
  SQLite header, or the markers of a folder ``datasets`` saved.

``foo:bar`` (a scheme of two or more letters that is none of the above) is an
error, not a relative path, so a typo never becomes "no such file". See
``docs/sources.md`` for which stage fields accept which schemes.

Usage::

    source = parse_source("builtin:redteam")
    path = builtin_path("prompts", source.value)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from charter.errors import DatasetError

Scheme = Literal["builtin", "embedded", "stage", "wish", "postgres", "path"]
Format = Literal["jsonl", "parquet", "hf_dataset", "sqlite", "folder", "other"]

#: Prefixes of the named schemes, in the order they are tried.
PREFIXES: tuple[tuple[str, Scheme], ...] = (
    ("builtin:", "builtin"),
    ("embedded:", "embedded"),
    ("stage:", "stage"),
    ("wish:", "wish"),
    ("postgresql://", "postgres"),
    ("postgres://", "postgres"),
)
#: Files a folder written by ``datasets``' ``save_to_disk`` holds (any one of them).
HF_DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
#: The first bytes of every SQLite database file.
SQLITE_MAGIC = b"SQLite format 3\x00"
#: The ledger ``wish:`` means when it names none.
DEFAULT_WISH_LEDGER = "builtin:sample"

_SCHEME_LIKE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-_]+):")
_SUFFIX_FORMATS: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".parquet": "parquet",
    ".sqlite": "sqlite",
    ".sqlite3": "sqlite",
    ".db": "sqlite",
}
_HINT = "use builtin:, embedded:, stage:, wish:, postgresql://, or a path"

# kind -> name -> shipped file (None for a builtin that is built, not read).
_BUILTINS: dict[str, dict[str, Path | None]] = {}


@dataclass(frozen=True)
class Source:
    """A parsed source string.

    Attributes:
        text: the string as given.
        scheme: which kind of reference it is.
        value: what follows the prefix (``builtin``, ``embedded``, ``stage``,
            ``wish``), or the whole text (``postgres``, ``path``).
    """

    text: str
    scheme: Scheme
    value: str

    @property
    def path(self) -> Path:
        """The path a ``path`` source names.

        Raises:
            DatasetError: the source is not a path.
        """
        if self.scheme != "path":
            raise DatasetError(f"{self.text}: a {self.scheme} source, not a path.")
        return Path(self.value)

    @property
    def format(self) -> Format:
        """The format of a ``path`` source (see :func:`path_format`)."""
        return path_format(self.path)

    def ledger(self) -> Source:
        """The ledger source a ``wish:`` source scores against.

        Raises:
            DatasetError: the source is not ``wish:``, or its ledger part is malformed.
        """
        if self.scheme != "wish":
            raise DatasetError(f"{self.text}: not a wish: source.")
        return parse_source(self.value or DEFAULT_WISH_LEDGER)


def scheme_of(text: str | Path) -> Scheme | None:
    """The named scheme ``text`` starts with, or None (a path, or not a source at all).

    Never raises: for fields that also take other strings (a server's model
    name such as ``llama3:8b``, a ``module:attr`` reward function).
    """
    if isinstance(text, Path):
        return None
    for prefix, scheme in PREFIXES:
        if text.startswith(prefix):
            return scheme
    return None


def parse_source(text: str | Path) -> Source:
    """Parse a source string into a :class:`Source`.

    Raises:
        DatasetError: in one line, for an empty source or an unknown scheme
            (``foo:bar``; a one-letter drive such as ``C:`` is a path).
    """
    if isinstance(text, Path):
        return Source(str(text), "path", str(text))
    if not text.strip():
        raise DatasetError(f"empty source; {_HINT}.")
    for prefix, scheme in PREFIXES:
        if text.startswith(prefix):
            value = text if scheme == "postgres" else text.removeprefix(prefix)
            return Source(text, scheme, value)
    unknown = _SCHEME_LIKE.match(text)
    if unknown is not None:
        raise DatasetError(f"unknown source scheme '{unknown.group(1)}:' in {text!r}; {_HINT}.")
    return Source(text, "path", text)


def path_format(path: Path) -> Format:
    """What a path holds, judged from the file system where it exists, else the suffix.

    A folder with a ``save_to_disk`` marker is ``hf_dataset``, any other folder
    ``folder``; an existing file is ``sqlite`` when it starts with the SQLite
    header; otherwise the suffix decides (``.jsonl``, ``.parquet``,
    ``.sqlite``/``.sqlite3``/``.db``), and anything else is ``other``.
    """
    if path.is_dir():
        if any((path / name).exists() for name in HF_DATASET_MARKERS):
            return "hf_dataset"
        return "folder"
    if path.is_file():
        with path.open("rb") as handle:
            if handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC:
                return "sqlite"
        fmt = _SUFFIX_FORMATS.get(path.suffix, "other")
        return "other" if fmt == "sqlite" else fmt
    return _SUFFIX_FORMATS.get(path.suffix, "other")


def is_postgres(text: str | Path) -> bool:
    """Whether ``text`` is a ``postgresql://`` or ``postgres://`` URL."""
    return scheme_of(text) == "postgres"


def register_builtin(kind: str, name: str, path: Path | None) -> None:
    """Make ``builtin:<name>`` valid for ``kind``.

    Args:
        kind: the kind of data (``prompts``, ``corpus``, ``wishes``, ``ledger``).
        name: the name after ``builtin:``.
        path: the shipped file it reads, or None for one that is built in code.
    """
    _BUILTINS.setdefault(kind, {})[name] = path


def builtin_names(kind: str) -> tuple[str, ...]:
    """The ``builtin:`` names registered for ``kind``, in registration order."""
    return tuple(_BUILTINS.get(kind, {}))


def builtin_path(kind: str, name: str) -> Path:
    """The shipped file ``builtin:<name>`` names for ``kind``.

    Raises:
        DatasetError: no such builtin for this kind (the error lists the known ones),
            or that builtin is built in code and has no file.
    """
    check_builtin(kind, name)
    path = _BUILTINS[kind][name]
    if path is None:
        raise DatasetError(f"builtin:{name} ({kind}) is built in code and has no file.")
    return path


def check_builtin(kind: str, name: str) -> None:
    """Raise unless ``builtin:<name>`` is registered for ``kind``.

    Raises:
        DatasetError: naming the kind and listing its builtins.
    """
    known = builtin_names(kind)
    if name not in known:
        choices = ", ".join(f"builtin:{n}" for n in known) or "none"
        raise DatasetError(f"no built-in {kind} {name!r}; the {kind} builtins are {choices}.")


def resolve_relative(text: str, base_dir: Path) -> str:
    """A path source made relative to ``base_dir``; every other source unchanged.

    Raises:
        DatasetError: an unknown scheme (see :func:`parse_source`).
    """
    source = parse_source(text)
    if source.scheme != "path" or Path(text).is_absolute():
        return text
    return str(base_dir / text)
