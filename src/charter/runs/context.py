"""What a stage sees while it runs: the config, the constitution, models, files."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charter.backends.base import ChatModel, Embedder
from charter.backends.registry import load_chat_model, load_embedder
from charter.constitution import Constitution
from charter.errors import RunError
from charter.runs.config import RunConfig, StageSpec, stage_reference
from charter.runs.provenance import Provenance, canonical_hash, derive_seed

# Where a training stage writes the merged model that `stage:<name>` references load.
MODEL_DIR = "model"


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
    _models: dict[str, ChatModel] = field(default_factory=dict)
    _embedder: Embedder | None = None

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
            self._models[key] = load_chat_model(spec)
        return self._models[key]

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
        """An input path relative to the config file (``builtin:`` names pass through)."""
        if path.startswith("builtin:") or Path(path).is_absolute():
            return path
        return str(self.base_dir / path)

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
