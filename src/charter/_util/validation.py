"""Turn a pydantic ValidationError into one line naming the field and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def describe(exc: ValidationError, data: object) -> str:
    """Render the first error as ``field <path>: <message>.``

    List items are shown with their ``id`` or ``name`` when they have one, so
    ``articles[3] (id 2.1).rationale`` points at the article a person knows.
    """
    err = exc.errors()[0]
    parts: list[str] = []
    node: object = data
    for loc in err["loc"]:
        if isinstance(loc, int) and isinstance(node, list) and loc < len(node):
            node = node[loc]
            ident = None
            if isinstance(node, dict):
                ident = node.get("id", node.get("name"))
            parts.append(f"[{loc}]" + (f" ({ident})" if ident is not None else ""))
        else:
            node = node.get(loc) if isinstance(node, dict) else None
            parts.append(("." if parts else "") + str(loc))
    field = "".join(parts)
    message = err["msg"]
    if err["type"] == "missing":
        message = "is required but missing; add it"
    elif err["type"] == "extra_forbidden":
        message = "is not a known field; remove it or fix its spelling"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return f"field {field}: {message}." if field else f"{message}."


def read_models(path: Path, model: type[M], what: str = "data") -> list[M]:
    """Validate every line of a JSONL file as ``model``; ids (when present) must be unique.

    Raises:
        DatasetError: naming the file, the line and the field (or that it holds nothing).
    """
    from charter._util.jsonl import iter_objects
    from charter.errors import DatasetError

    if not path.is_file():
        raise DatasetError(f"{path}: no such {what} file; give a .jsonl file.")
    items: list[M] = []
    seen: set[str] = set()
    for where, data in iter_objects(path):
        try:
            item = model.model_validate(data)
        except ValidationError as exc:
            raise DatasetError(f"{where}: {describe(exc, data)}") from None
        ident = getattr(item, "id", None)
        if ident is not None:
            if ident in seen:
                raise DatasetError(f"{where}: field id: {ident!r} repeats; make it unique.")
            seen.add(ident)
        items.append(item)
    if not items:
        raise DatasetError(f"{path}: holds no {what} items.")
    return items
