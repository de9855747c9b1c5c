"""Load a constitution from YAML, with errors that name the file and the field."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from charter._util.validation import describe
from charter.constitution.model import Constitution
from charter.errors import ConstitutionError

DEFAULT = "default"


def default_path() -> Path:
    """The path of the constitution shipped with Charter."""
    return Path(str(resources.files("charter.constitution") / "data" / "default.yaml"))


def load_constitution(source: str | Path = DEFAULT) -> Constitution:
    """Load and validate a constitution.

    Args:
        source: a YAML file path, or ``"default"`` for the shipped constitution.

    Raises:
        ConstitutionError: one line naming the file, the field and the fix.
    """
    path = default_path() if str(source) == DEFAULT else Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConstitutionError(
            f"{path}: no such constitution file; pass a YAML path or 'default'."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConstitutionError(f"{path}: cannot read it as UTF-8 text ({exc}).") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConstitutionError(f"{path}:{where}: invalid YAML ({problem}).") from None
    return parse_constitution(data, origin=str(path))


def parse_constitution(data: object, origin: str = "<constitution>") -> Constitution:
    """Validate already-parsed data; errors name ``origin`` and the field path."""
    if not isinstance(data, dict):
        raise ConstitutionError(
            f"{origin}: the top level must be a mapping with 'name' and 'articles'."
        )
    try:
        return Constitution.model_validate(data)
    except ValidationError as exc:
        raise ConstitutionError(f"{origin}: {describe(exc, data)}") from None
