"""Read a pretraining corpus as a stream of documents: JSONL, Parquet or folders of text.

Corpora are large, so nothing here loads a whole corpus: JSONL is read line by
line, Parquet in pyarrow record batches, folders file by file (sorted, so the
order is stable). Each document gets a stable id - its own ``id`` field, the
file's relative path, or a hash of its text - because resumable stages key
their rows by it.

Sources:

- ``builtin:sample``: the small mixed corpus shipped with Charter (benign
  everyday texts and harmful-topic documents, written for this project).
- ``path/to/corpus.jsonl``: one JSON object per line, field ``text``
  (configurable), optional ``id`` and ``meta``.
- ``path/to/corpus.parquet``: a ``text`` column, optional ``id``.
- ``path/to/folder``: every ``.txt`` and ``.md`` file below it.

Example::

    from charter.pretrain.corpus import iter_documents
    for doc in iter_documents("builtin:sample", limit=5):
        print(doc.id, doc.text[:40])
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from charter._util.jsonl import iter_objects
from charter._util.sources import builtin_path, parse_source, path_format, register_builtin
from charter.errors import DatasetError, missing_extra

SAMPLE = "builtin:sample"
TEXT_SUFFIXES = (".txt", ".md")
PARQUET_BATCH_ROWS = 1024
#: The kind the shipped corpus is registered under in :mod:`charter._util.sources`.
KIND = "corpus"


class Document(BaseModel):
    """One pretraining document."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, description="stable id; rows of every stage are keyed by it")
    text: str = Field(min_length=1)
    meta: dict[str, Any] = Field(default_factory=dict, description="anything else the row had")


def data_path(name: str) -> Path:
    """A file shipped in ``charter/pretrain/data``."""
    return Path(str(resources.files("charter.pretrain") / "data" / name))


register_builtin(KIND, parse_source(SAMPLE).value, data_path("sample_corpus.jsonl"))


def text_id(text: str) -> str:
    """The id of a document that brings none: ``doc-`` and 16 hex digits of its SHA-256."""
    return "doc-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def iter_documents(
    source: str | Path, limit: int | None = None, text_field: str = "text"
) -> Iterator[Document]:
    """Yield the documents of a corpus, streamed, in a stable order.

    Args:
        source: ``builtin:sample``, a ``.jsonl``/``.parquet`` file, or a folder of text.
        limit: stop after this many documents.
        text_field: the field (column) holding the text in JSONL and Parquet.

    Raises:
        DatasetError: a missing source, a bad row (naming file, line and field),
            or a duplicated id.
    """
    parsed = parse_source(source)
    path = builtin_path(KIND, parsed.value) if parsed.scheme == "builtin" else parsed.path
    fmt = path_format(path)
    if fmt in ("folder", "hf_dataset"):
        rows = _folder(path)
    elif fmt == "jsonl" and path.is_file():
        rows = _jsonl(path, text_field)
    elif fmt == "parquet" and path.is_file():
        rows = _parquet(path, text_field)
    elif not path.exists():
        raise DatasetError(
            f"{path}: no such corpus; give a .jsonl, .parquet, a folder or {SAMPLE}."
        )
    else:
        raise DatasetError(
            f"{path}: unsupported corpus format; use .jsonl, .parquet or a folder of .txt/.md."
        )
    seen: set[str] = set()
    for doc in itertools.islice(rows, limit):
        if doc.id in seen:
            raise DatasetError(
                f"{path}: document id {doc.id!r} appears twice; ids must be unique "
                "(drop the `id` field to use text hashes)."
            )
        seen.add(doc.id)
        yield doc


def _jsonl(path: Path, text_field: str) -> Iterator[Document]:
    for where, row in iter_objects(path):
        yield _document(row, text_field, where)


def _parquet(path: Path, text_field: str) -> Iterator[Document]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise missing_extra("pyarrow", "train") from None
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DatasetError(f"{path}: not a readable Parquet file ({exc}).") from None
    if text_field not in parquet.schema_arrow.names:
        raise DatasetError(
            f"{path}: no column {text_field!r}; columns are "
            f"{', '.join(parquet.schema_arrow.names)} (set text_field)."
        )
    row_number = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        for row in batch.to_pylist():
            row_number += 1
            yield _document(row, text_field, f"{path} row {row_number}")


def _folder(path: Path) -> Iterator[Document]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES)
    for file in files:
        try:
            body = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DatasetError(f"{file}: not UTF-8 text; convert it or remove it.") from None
        if not body.strip():
            continue  # an empty file holds no document
        yield Document(id=file.relative_to(path).as_posix(), text=body.strip())


def _document(row: dict[str, Any], text_field: str, where: str) -> Document:
    body = row.get(text_field)
    if not isinstance(body, str) or not body.strip():
        raise DatasetError(
            f"{where}: field {text_field} is missing or empty; every row needs a "
            f"non-empty {text_field!r} string."
        )
    ident = row.get("id")
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    extra = {k: v for k, v in row.items() if k not in ("id", text_field, "meta")}
    return Document(
        id=str(ident) if ident not in (None, "") else text_id(body),
        text=body.strip(),
        meta={**extra, **meta},
    )
