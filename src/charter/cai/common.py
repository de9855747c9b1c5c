"""Pieces both Constitutional AI stages use: which articles to draw, saving datasets."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from charter.constitution import Article, Constitution
from charter.errors import ConfigError, missing_extra


def select_articles(
    constitution: Constitution, ids: Sequence[str] | None, stage: str
) -> list[Article]:
    """The articles a stage may draw from: all of them, or the listed ids (deduplicated).

    Raises:
        ConfigError: naming the stage, the unknown ids and the known ones.
    """
    if ids is None:
        return list(constitution.articles)
    known = {a.id for a in constitution}
    unknown = [a for a in ids if a not in known]
    if unknown:
        raise ConfigError(
            f"stage {stage!r} field articles: {', '.join(unknown)} not in the constitution; "
            f"known ids: {', '.join(sorted(known))}."
        )
    return [constitution.article(a) for a in dict.fromkeys(ids)]


def save_dataset(rows: list[dict[str, Any]], folder: Path, features: Any = None) -> int:
    """Save rows as an HF ``datasets`` folder (what TRL trainers load); return the count.

    Written beside the target and swapped in, so a reader never sees half a
    dataset. Nothing is written when there are no rows.
    """
    if not rows:
        return 0
    try:
        import datasets
    except ImportError:
        raise missing_extra("datasets", "train") from None
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # a bar per save is noise beside the stage's own bar
    try:
        datasets.Dataset.from_list(rows, features=features).save_to_disk(str(tmp))
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return len(rows)
