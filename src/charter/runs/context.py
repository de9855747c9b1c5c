"""What a stage sees while it runs: the config, the constitution, models, files.

Every chat model a stage asks for reads through the run's request cache
(``<run>/cache.sqlite``, see :mod:`charter.backends.cache`) unless the config
says ``cache: false``, so a rerun recomputes only the calls whose requests changed.
With a token budget (:mod:`charter.runs.budget`) the calls that reach the model
spend it.

With ``engine="ray"`` (``charter run --engine ray``) each local model
(``llama_cpp``, ``transformers``, ``scripted``) is served by ``ray_actors`` Ray
actors (:class:`charter.backends.ray_pool.RayModelPool`) and the stages keep
that many requests in flight; ``openai`` models stay clients in this process.
The engine is not part of any fingerprint or hash: it cannot change a row, so a
run started on one engine resumes on the other.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from charter._util.sources import resolve_relative
from charter.backends.base import ChatModel, Embedder
from charter.backends.cache import CachedChatModel, RequestCache
from charter.backends.registry import ModelSpec, load_chat_model, load_embedder
from charter.constitution import Constitution
from charter.errors import RunError
from charter.runs.budget import BudgetedChatModel, TokenBudget
from charter.runs.config import RunConfig, StageSpec, stage_reference
from charter.runs.provenance import Provenance, canonical_hash, derive_seed

# Where a training stage writes the merged model that `stage:<name>` references load.
MODEL_DIR = "model"
# The run's request cache, beside its stage folders.
CACHE_FILE = "cache.sqlite"
# Backends a Ray pool serves with --engine ray; the others are clients of a server.
RAY_BACKENDS = frozenset({"llama_cpp", "transformers", "scripted"})
# Model settings that cannot change a reply (how a server is reached, how hard
# to retry); every other setting is part of each cached request's key.
_SPEC_FIELDS_NOT_IN_KEY = frozenset({"api_key_env", "concurrency", "timeout", "max_retries"})


@dataclass
class RunContext:
    """Shared state of one run; models load lazily and once."""

    config: RunConfig
    base_dir: Path
    output_dir: Path
    constitution: Constitution
    progress: bool = True
    ledger_checkpoint: str | None = None
    cards: dict[str, Any] = field(default_factory=dict)  # judge name -> CalibrationCard
    budget: TokenBudget | None = None  # --max-tokens-budget: calls stop once it is used up
    engine: Literal["local", "ray"] = "local"  # ray: local models served by Ray actors
    ray_actors: int = 2  # actors (model copies) per local model with engine ray
    ray_cpus_per_actor: float = 1.0  # Ray CPUs each actor reserves; its threads default to it
    _models: dict[str, ChatModel] = field(default_factory=dict)
    _embedder: Embedder | None = None
    _cache: RequestCache | None = None
    _pools: list[Any] = field(default_factory=list)  # RayModelPools to close at the end

    @property
    def config_hash(self) -> str:
        return self.config.config_hash()

    def model(self, key: str) -> ChatModel:
        """The chat model configured under ``models.<key>`` (loaded on first use)."""
        if key not in self._models:
            spec = self.config.models[key]
            source = stage_reference(spec.model)
            if source is not None:
                spec = spec.model_copy(update={"model": str(self.trained_model_dir(source))})
            model = self._load(spec)
            if self.budget is not None:  # inside the cache: answers read back cost nothing
                model = BudgetedChatModel(model, self.budget)
            if self.config.cache:
                model = CachedChatModel(model, self.request_cache(), _model_identity(spec))
            self._models[key] = model
        return self._models[key]

    def _load(self, spec: ModelSpec) -> ChatModel:
        if self.engine == "local" or spec.backend not in RAY_BACKENDS:
            return load_chat_model(spec)
        from charter.backends.ray_pool import RayModelPool, start_ray

        # A local cluster fits every pool of the run at once (a stage such as
        # sl_cai holds two models, and an idle pool costs no CPU time), plus the
        # Ray Data actors of pretraining stages set to `engine: ray`.
        pools = sum(1 for s in self.config.models.values() if s.backend in RAY_BACKENDS)
        data = sum(getattr(s, "workers", 0) for s in self.config.stages if _on_ray(s))
        start_ray(int(pools * self.ray_actors * self.ray_cpus_per_actor + data + 0.999))
        pool = RayModelPool(spec, self.ray_actors, self.ray_cpus_per_actor)
        self._pools.append(pool)
        return pool

    def close(self) -> None:
        """Release what the run holds outside this process: its Ray actors."""
        while self._pools:
            self._pools.pop().close()

    def request_cache(self) -> RequestCache:
        """The run's request cache, ``<output_dir>/cache.sqlite`` (opened on first use).

        Raises:
            BackendError: the file is not a readable cache (delete it).
        """
        if self._cache is None:
            self._cache = RequestCache(self.output_dir / CACHE_FILE)
        return self._cache

    def cache_stats(self) -> dict[str, int] | None:
        """Hits, misses and uncached calls of this run so far; None if nothing used the cache."""
        return self._cache.stats() if self._cache is not None else None

    def trained_model_dir(self, stage: str) -> Path:
        """The model folder a training stage wrote (``<run>/<stage>/model``).

        Raises:
            RunError: the stage has not finished writing it yet.
        """
        folder = self.output_dir / stage / MODEL_DIR
        if not (folder / "config.json").is_file():
            raise RunError(
                f"{folder}: stage {stage!r} has not written its trained model yet; "
                "run the config from the start (finished stages are skipped)."
            )
        return folder

    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = load_embedder(self.config.embedder)
        return self._embedder

    def resolve(self, path: str) -> str:
        """An input path relative to the config file; other sources (``builtin:``...) pass through.

        Raises:
            DatasetError: an unknown source scheme (``foo:bar``).
        """
        return resolve_relative(path, self.base_dir)

    def seed_for(self, stage: str, row_id: str) -> int:
        return derive_seed(self.config.seed, stage, row_id)

    def provenance(self, model_id: str, seed: int) -> dict[str, Any]:
        return Provenance(
            constitution_hash=self.constitution.hash,
            model_id=model_id,
            seed=seed,
            config_hash=self.config_hash,
            ledger_checkpoint=self.ledger_checkpoint,
        ).model_dump()

    def stage_fingerprint(self, stage: StageSpec) -> dict[str, Any]:
        """What a stage's finished rows depend on (fields that only extend work excluded)."""
        spec = stage.model_dump(mode="json", exclude=set(stage.RESUMABLE_FIELDS))
        return {
            "stage": spec,
            "models": {
                k: self.config.models[k].model_dump(mode="json") for k in stage.model_keys()
            },
            "constitution_hash": self.constitution.hash,
            "seed": self.config.seed,
            # A model trained earlier in the run is identified by its stage's settings,
            # so retraining it with other settings invalidates the rows made with it.
            "trained_by": {
                source: self._fingerprint_hash(source)
                for k in stage.model_keys()
                if (source := stage_reference(self.config.models[k].model)) is not None
            },
        }

    def _fingerprint_hash(self, stage: str) -> str | None:
        meta = self.output_dir / stage / "stage.json"
        return json.loads(meta.read_text()).get("fingerprint_hash") if meta.exists() else None

    def prepare_stage(self, stage: StageSpec, restart: bool) -> Path:
        """The stage's folder; refuse to mix rows made with different settings.

        A stage folder records the fingerprint of the settings it was made
        with. Rerunning with the same settings resumes; with different ones it
        stops with a clear error, unless ``restart`` discards the old rows.
        """
        folder = self.output_dir / stage.name
        meta_path = folder / "stage.json"
        fingerprint = self.stage_fingerprint(stage)
        if meta_path.exists():
            old = json.loads(meta_path.read_text())
            if old.get("fingerprint_hash") != canonical_hash(fingerprint):
                if not restart:
                    raise RunError(
                        f"{folder} was made with different settings for stage {stage.name!r}; "
                        "rerun with --restart to redo it, or give the run a new name."
                    )
                # Only a stage whose settings changed is discarded; the others resume.
                shutil.rmtree(folder)
        elif restart and folder.exists():
            shutil.rmtree(folder)  # rows without a record of their settings: not trusted
        if not meta_path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            meta_path.write_text(
                json.dumps(
                    {"fingerprint_hash": canonical_hash(fingerprint), "fingerprint": fingerprint},
                    indent=2,
                    sort_keys=True,
                )
                + "\n"
            )
        return folder


def _on_ray(stage: StageSpec) -> bool:
    return getattr(stage, "engine", None) == "ray"


def _model_identity(spec: ModelSpec) -> dict[str, Any]:
    """What pins a model's replies beyond its id: its settings and, for local
    weights, their files' SHA-256.

    An embedded model's id already carries its weights' hash, but a local path
    (or a model a training stage wrote) keeps its id when the files change.
    """
    settings = spec.model_dump(mode="json", exclude=set(_SPEC_FIELDS_NOT_IN_KEY))
    return {"spec": settings, "weights": _weights_signature(Path(spec.model))}


def _weights_signature(path: Path) -> list[list[Any]] | None:
    """``[name, sha256]`` of a weights file, or of each file in a model folder.

    Content, not modification time: a model retrained with the same data and seed
    writes the same bytes, and its cached replies stay valid.
    """
    try:
        if path.is_file():
            files = [path]
        elif path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file())
        else:
            return None  # a server's model name or an embedded model: nothing on disk
        return [[p.name, _file_sha256(p, *_stamp(p))] for p in files]
    except OSError:
        return None


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


@functools.cache
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    # Keyed by size and mtime too, so a file rewritten in this process is hashed again.
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
