"""``charter run CONFIG``: run every stage of an experiment, resumably.

The run folder holds ``config.yaml`` (as given), ``manifest.json``
(config hash, constitution hash, models, per-stage counts, versions) and one
folder per stage. Rerunning the same config resumes where it stopped.

With ``max_tokens_budget`` the run stops cleanly once its model calls have
used that many tokens (:mod:`charter.runs.budget`): the stage in progress
starts no more calls, the manifest is written, and the summary says where it
stopped; a rerun resumes from the rows already written.

With ``engine="ray"`` the local models are served by Ray actors
(:mod:`charter.backends.ray_pool`, docs/ray.md). The engine enters no hash or
fingerprint, so a run resumes on either engine.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import charter
from charter.constitution import load_constitution
from charter.errors import ConfigError
from charter.runs.budget import BudgetExhausted, TokenBudget
from charter.runs.config import RunConfig, load_config
from charter.runs.context import RunContext
from charter.runs.judges import carry_cards
from charter.runs.stages import stage_kind


@dataclass(frozen=True)
class RunSummary:
    """What a run did: where, with which hashes, and counts per stage."""

    name: str
    output_dir: Path
    config_hash: str
    constitution_hash: str
    stages: dict[str, dict]
    # With a token budget: {"limit", "used", "stopped_in"} (the stage cut short, or None).
    budget: dict | None = None

    @property
    def stopped_at_budget(self) -> bool:
        """Whether the run stopped early because its token budget was used up."""
        return bool(self.budget and self.budget.get("stopped_in"))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "output_dir": str(self.output_dir),
            "config_hash": self.config_hash,
            "constitution_hash": self.constitution_hash,
            "stages": self.stages,
            "budget": self.budget,
        }


def output_dir_for(config: RunConfig) -> Path:
    return Path(config.output_dir) if config.output_dir else Path("runs") / config.name


def run_experiment(
    config_path: str | Path,
    restart: bool = False,
    progress: bool = True,
    only: list[str] | None = None,
    max_tokens_budget: int | None = None,
    engine: str = "local",
    actors: int = 2,
    cpus_per_actor: float = 1.0,
) -> RunSummary:
    """Run (or resume) every stage of the config at ``config_path``.

    Args:
        config_path: the YAML experiment config.
        restart: discard stage outputs made with different settings and redo them.
        progress: show progress bars on stderr.
        only: run just these stage names (in config order).
        max_tokens_budget: stop once this invocation's model calls have used this
            many tokens (prompt + completion); the summary's ``budget`` says where.
        engine: ``local`` (models in this process) or ``ray`` (each local model
            served by ``actors`` Ray actors; server models stay clients here).
        actors: Ray actors (model copies) per local model, with engine ``ray``.
        cpus_per_actor: Ray CPUs each actor reserves (its threads, unless the
            model spec sets ``threads``), with engine ``ray``.
    """
    if max_tokens_budget is not None and max_tokens_budget < 1:
        raise ConfigError(f"--max-tokens-budget {max_tokens_budget}: give a positive number.")
    if engine not in ("local", "ray"):
        raise ConfigError(f"--engine {engine!r}: use local or ray.")
    if actors < 1:
        raise ConfigError(f"--actors {actors}: give at least 1.")
    if cpus_per_actor <= 0:
        raise ConfigError(f"--cpus-per-actor {cpus_per_actor}: give a positive number.")
    config, base_dir = load_config(config_path)
    if only:
        unknown = sorted(set(only) - {s.name for s in config.stages})
        if unknown:
            raise ConfigError(
                f"--stage {', '.join(unknown)}: no such stage; the config has "
                f"{', '.join(s.name for s in config.stages)}."
            )
    constitution_source = config.constitution
    if constitution_source != "default" and not Path(constitution_source).is_absolute():
        constitution_source = str(base_dir / constitution_source)
    constitution = load_constitution(constitution_source)
    out = output_dir_for(config)
    out.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(
        config=config,
        base_dir=base_dir,
        output_dir=out,
        constitution=constitution,
        progress=progress,
        budget=TokenBudget(max_tokens_budget) if max_tokens_budget is not None else None,
        engine=engine,  # type: ignore[arg-type]  # checked above
        ray_actors=actors,
        ray_cpus_per_actor=cpus_per_actor,
    )
    try:
        return _run_stages(ctx, config_path, only, restart)
    finally:
        ctx.close()


def _run_stages(
    ctx: RunContext, config_path: str | Path, only: list[str] | None, restart: bool
) -> RunSummary:
    config, out = ctx.config, ctx.output_dir
    shutil.copyfile(config_path, out / "config.yaml")
    carry_cards(ctx, [s for s in config.stages if not only or s.name in only])
    started = datetime.now(UTC).isoformat()
    results: dict[str, dict] = {}
    seconds: dict[str, float] = {}
    stopped_in = None
    for stage in config.stages:
        if only and stage.name not in only:
            continue
        began = time.perf_counter()
        try:
            results[stage.name] = stage_kind(stage.kind).run(stage, ctx, restart=restart)
        except BudgetExhausted:
            stopped_in = stage.name
            results[stage.name] = {"stopped": "token budget"}
        # Wall time of this invocation (a resumed stage reports only the resumed part).
        seconds[stage.name] = round(time.perf_counter() - began, 1)
        _write_manifest(ctx, results, seconds, started)
        if stopped_in is not None:
            break
    budget = None
    if ctx.budget is not None:
        budget = {"limit": ctx.budget.limit, "used": ctx.budget.used, "stopped_in": stopped_in}
    return RunSummary(config.name, out, ctx.config_hash, ctx.constitution.hash, results, budget)


def _write_manifest(
    ctx: RunContext, results: dict[str, dict], seconds: dict[str, float], started: str
) -> None:
    manifest = {
        "name": ctx.config.name,
        "config_hash": ctx.config_hash,
        "constitution_hash": ctx.constitution.hash,
        "constitution_name": ctx.constitution.name,
        "seed": ctx.config.seed,
        "models": {
            key: {
                "spec": spec.model_dump(mode="json"),
                "model_id": ctx._models[key].model_id if key in ctx._models else None,
            }
            for key, spec in ctx.config.models.items()
        },
        "stages": {name: {**counts, "seconds": seconds[name]} for name, counts in results.items()},
        # Where this invocation's local models ran (never part of a hash: rows are the same).
        "engine": (
            {"kind": "ray", "actors": ctx.ray_actors, "cpus_per_actor": ctx.ray_cpus_per_actor}
            if ctx.engine == "ray"
            else {"kind": "local"}
        ),
        # Model calls of this invocation read back from <run>/cache.sqlite vs computed.
        "cache": ctx.cache_stats(),
        # --max-tokens-budget: the limit and the tokens this invocation's calls used.
        "token_budget": (
            {"limit": ctx.budget.limit, "used": ctx.budget.used, "exhausted": ctx.budget.exhausted}
            if ctx.budget is not None
            else None
        ),
        "started_at": started,
        "updated_at": datetime.now(UTC).isoformat(),
        "charter_version": charter.__version__,
        "python": platform.python_version(),
        "config": ctx.config.dump(),
    }
    path = ctx.output_dir / "manifest.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
