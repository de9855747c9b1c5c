"""Provenance: what every generated row records about how it was made."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

import charter


class Provenance(BaseModel):
    """Constitution hash, model id, seed, config hash, and the ledger checkpoint if used."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    constitution_hash: str
    model_id: str
    seed: int
    config_hash: str
    ledger_checkpoint: str | None = None
    charter_version: str = charter.__version__


def canonical_hash(data: Any) -> str:
    """SHA-256 (hex) of the canonical JSON form of ``data``."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from the run seed and the names of a stage and a row."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
