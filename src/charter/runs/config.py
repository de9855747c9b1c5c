"""The experiment config: a name, a seed, a constitution, models, and stages.

A config is YAML. Input paths in it (constitution, prompt files) are read
relative to the config file; ``output_dir`` is relative to the working folder.
Stages are looked up by ``kind`` in :data:`charter.runs.stages.STAGE_KINDS`, so
a later capability adds a stage by registering its spec and its runner.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from charter._util.sources import parse_source, scheme_of
from charter._util.validation import describe
from charter.backends.registry import EmbedderSpec, ModelSpec
from charter.errors import ConfigError
from charter.runs.provenance import canonical_hash

if TYPE_CHECKING:
    from charter.runs.estimate import CallEstimate, PlanContext

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _slug(value: str) -> str:
    """Names become folder names: letters, digits, '_', '-', '.' only."""
    if not NAME.match(value):
        raise ValueError(f"name {value!r} must be letters, digits, '_', '-', '.'")
    return value


Slug = Annotated[str, AfterValidator(_slug)]


def stage_reference(model: str) -> str | None:
    """The stage name in a ``stage:<name>`` model reference (a model a training stage wrote).

    Model fields also hold server model names (``llama3:8b``), so anything else is None.
    """
    return parse_source(model).value if scheme_of(model) == "stage" else None


class StageSpec(BaseModel):
    """Fields every stage has; each kind subclasses it with its own options."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: Slug = Field(description="unique within the run; names the output files")
    kind: str

    # Fields that may change between runs without invalidating finished rows.
    RESUMABLE_FIELDS: ClassVar[tuple[str, ...]] = ()
    # Fields that name a key under `models` (checked at load, part of the fingerprint).
    MODEL_FIELDS: ClassVar[tuple[str, ...]] = ("model",)

    def judges(self) -> list[tuple[str, str, str]]:
        """``(judge, method, models key)`` of each calibrated judge this stage relies on."""
        return []

    def estimate(self, ctx: PlanContext) -> list[CallEstimate]:
        """The model calls (or training steps) this stage would make, from its settings.

        Read by ``charter plan`` (:mod:`charter.runs.plan`); loads no model. The
        default, for stages that call no model, is no calls.
        """
        return []

    def model_keys(self) -> list[str]:
        """The `models` keys this stage uses, in field order, without repeats."""
        keys = [getattr(self, f, None) for f in self.MODEL_FIELDS]
        return list(dict.fromkeys(k for k in keys if k))


class RunConfig(BaseModel):
    """A whole experiment."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: Slug = Field(description="names the output folder runs/<name>/")
    seed: int = Field(0, ge=0, description="run seed; every row's seed derives from it")
    output_dir: str | None = Field(None, description="default: runs/<name>")
    constitution: str = Field("default", description="'default' or a YAML path")
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    embedder: EmbedderSpec = Field(default_factory=EmbedderSpec)
    stages: list[StageSpec] = Field(min_length=1)
    min_judge_accuracy: float | None = Field(
        None,
        ge=0,
        le=1,
        description="refuse to run with a judge whose calibration card is missing or below this",
    )
    judge_cards: dict[str, str] = Field(
        default_factory=dict,
        description="judge name -> calibration card file (a judge model with no shipped card)",
    )
    cache: bool = Field(True, description="reuse model calls across reruns: <run>/cache.sqlite")

    # How a run computes, not what: left out of the config hash, so toggling them
    # (or adding them to Charter) keeps the hash that existing rows carry.
    UNHASHED_FIELDS: ClassVar[tuple[str, ...]] = ("cache",)

    @field_validator("stages", mode="before")
    @classmethod
    def _typed_stages(cls, value: Any) -> Any:
        from charter.runs.stages import STAGE_KINDS, stage_kind

        if not isinstance(value, list):
            return value
        typed = []
        for i, stage in enumerate(value):
            if not isinstance(stage, dict):
                raise ValueError(f"stages[{i}] must be a mapping with name and kind")
            kind = stage.get("kind")
            if kind not in STAGE_KINDS:
                raise ValueError(
                    f"stages[{i}].kind {kind!r} is unknown; choose one of "
                    f"{', '.join(sorted(STAGE_KINDS))}"
                )
            try:
                typed.append(stage_kind(kind).spec.model_validate(stage))
            except ValidationError as exc:
                name = stage.get("name", i)
                raise ValueError(f"stage {name!r}, {describe(exc, stage)}") from None
        return typed

    @model_validator(mode="after")
    def _references(self) -> RunConfig:
        names = [s.name for s in self.stages]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"stage name {name!r} appears twice; names must be unique")
        for key, spec in self.models.items():
            source = stage_reference(spec.model)
            if source is not None and source not in names:
                raise ValueError(
                    f"models.{key}.model {spec.model!r} names no stage; "
                    f"stages are: {', '.join(names)}"
                )
        for position, stage in enumerate(self.stages):
            for model in stage.model_keys():
                source = stage_reference(self.models[model].model) if model in self.models else None
                if source is not None and source not in names[:position]:
                    raise ValueError(
                        f"stage {stage.name!r} uses model {model!r}, trained by stage "
                        f"{source!r}, which must come earlier in `stages`"
                    )
                if model not in self.models:
                    known = ", ".join(self.models) or "none defined"
                    raise ValueError(
                        f"stage {stage.name!r} uses model {model!r}, which is not under models "
                        f"(defined: {known})"
                    )
        return self

    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON of the validated config (defaults filled in,
        ``UNHASHED_FIELDS`` left out)."""
        data = self.dump()
        for name in self.UNHASHED_FIELDS:
            data.pop(name, None)
        return canonical_hash(data)

    def dump(self) -> dict[str, Any]:
        """The validated config as JSON data, every stage with its own kind's fields.

        ``serialize_as_any``: ``stages`` is declared as the base ``StageSpec``, and
        pydantic would otherwise serialise only the base fields (name, kind), so the
        hash would not change when a stage's settings do.
        """
        return self.model_dump(mode="json", serialize_as_any=True)


def load_config(path: str | Path) -> tuple[RunConfig, Path]:
    """Read and validate a config; return it and the folder relative paths start from.

    Raises:
        ConfigError: one line naming the file and the field.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{path}:{where}: invalid YAML ({getattr(exc, 'problem', exc)})."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping (name, models, stages).")
    try:
        return RunConfig.model_validate(data), path.resolve().parent
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe(exc, data)}") from None
