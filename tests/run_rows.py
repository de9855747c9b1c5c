"""Rows of a finished test run, without what differs between two run folders."""

from __future__ import annotations

from pathlib import Path

from charter.runs.store import read_jsonl


def generation_rows(run_dir: Path, stage: str) -> list[dict]:
    """A generate stage's rows minus ``created_at`` and the config hash.

    Two configs that differ only in ``output_dir`` hash differently, so the hash
    is dropped to compare their rows.
    """
    rows = []
    for row in read_jsonl(run_dir / stage / "generations.jsonl"):
        row.pop("created_at")
        row["provenance"].pop("config_hash")
        rows.append(row)
    return rows
