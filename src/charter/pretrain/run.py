"""Run an experiment config with its pretraining stages on another engine (``--engine ray``).

The stages themselves read ``engine``/``workers`` from their spec; this helper
rewrites those fields for every ``pretrain_classify`` and ``pretrain_reflect``
stage and runs the config. The two fields do not enter a stage's fingerprint,
so a run started locally resumes on Ray (and back) without redoing rows.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from charter._util.sources import resolve_relative
from charter.errors import ConfigError
from charter.runs import run_experiment
from charter.runs.runner import RunSummary

ENGINE_KINDS = ("pretrain_classify", "pretrain_reflect")


def run_with_engine(
    config_path: str | Path,
    engine: str | None = None,
    workers: int | None = None,
    restart: bool = False,
    progress: bool = True,
    only: list[str] | None = None,
) -> RunSummary:
    """Run ``config_path``, overriding the pretraining stages' engine and workers."""
    path = Path(config_path)
    if engine is None and workers is None:
        return run_experiment(path, restart=restart, progress=progress, only=only)
    if engine not in (None, "local", "ray"):
        raise ConfigError(f"--engine {engine!r}: use local or ray.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("stages"), list):
        raise ConfigError(f"{path}: the config needs a `stages` list.")
    base = path.resolve().parent
    for stage in data["stages"]:
        if isinstance(stage, dict) and stage.get("kind") in ENGINE_KINDS:
            if engine is not None:
                stage["engine"] = engine
            if workers is not None:
                stage["workers"] = workers
        corpus = stage.get("corpus") if isinstance(stage, dict) else None
        if isinstance(corpus, str):
            stage["corpus"] = resolve_relative(corpus, base)  # the copy lives elsewhere
    constitution = data.get("constitution", "default")
    if constitution != "default" and not Path(constitution).is_absolute():
        data["constitution"] = str(base / constitution)
    with tempfile.TemporaryDirectory(prefix="charter-engine-") as tmp:
        copy = Path(tmp) / path.name
        copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return run_experiment(copy, restart=restart, progress=progress, only=only)
