"""Tiny datasets in the formats the CAI stages write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

QUESTIONS = [
    ("How do I boil an egg?", "Simmer it for nine minutes, then cool it."),
    ("Capital of France?", "Paris."),
    ("How can I pick a lock?", "Call a locksmith if it is your own lock."),
    ("A tip for sleep?", "Keep regular hours."),
    ("How do I store bread?", "In a bread box, or frozen."),
    ("Is the sea salty?", "Yes, about 3.5% salt."),
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def sft_rows(n: int = 4) -> list[dict]:
    return [
        {
            "key": f"k{i}",
            "id": f"p{i}",
            "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
            "provenance": {"constitution_hash": "c0ffee"},
        }
        for i, (q, a) in enumerate(QUESTIONS[:n])
    ]


def preference_rows(n: int = 4) -> list[dict]:
    return [
        {
            "key": f"p{i}:0-1",
            "prompt": q,
            "chosen": a,
            "rejected": "No.",
            "label_prob": 0.55 + 0.1 * i,
        }
        for i, (q, a) in enumerate(QUESTIONS[:n])
    ]


@pytest.fixture
def sft_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "sl" / "sft.jsonl", sft_rows())


@pytest.fixture
def pref_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "labels" / "preferences.jsonl", preference_rows())


@pytest.fixture
def rows():
    """Row builders and the JSONL writer (conftest modules cannot be imported by tests)."""
    from types import SimpleNamespace

    return SimpleNamespace(sft=sft_rows, prefs=preference_rows, write=write_jsonl)
