"""Experiment runs: configs, resumable stages, provenance, the run folder."""

from charter.runs.config import RunConfig, StageSpec, load_config
from charter.runs.provenance import Provenance, canonical_hash, derive_seed
from charter.runs.runner import RunSummary, run_experiment
from charter.runs.store import JsonlStore, read_jsonl

__all__ = [
    "JsonlStore",
    "Provenance",
    "RunConfig",
    "RunSummary",
    "StageSpec",
    "canonical_hash",
    "derive_seed",
    "load_config",
    "read_jsonl",
    "run_experiment",
]
