"""The JSONL store: durable appends, torn-tail recovery, no duplicates."""

from __future__ import annotations

import json

import pytest

from charter.errors import RunError
from charter.runs import JsonlStore, read_jsonl


def test_add_is_unique_by_key(tmp_path):
    with JsonlStore(tmp_path / "s.jsonl") as store:
        assert store.add({"key": "a", "v": 1})
        assert not store.add({"key": "a", "v": 2})
        assert "a" in store and len(store) == 1
    assert [r["v"] for r in read_jsonl(tmp_path / "s.jsonl")] == [1]


def test_reopen_keeps_keys_and_cuts_a_torn_tail(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(
        json.dumps({"key": "a"}) + "\n" + json.dumps({"key": "b"}) + "\n" + '{"key": "c", "half'
    )
    with JsonlStore(path) as store:
        assert len(store) == 2 and "c" not in store
        store.add({"key": "c", "v": 3})
    rows = list(read_jsonl(path))
    assert [r["key"] for r in rows] == ["a", "b", "c"]
    assert path.read_text().endswith("\n")


def test_a_foreign_file_is_refused(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"other": 1}\n')
    with pytest.raises(RunError, match="no 'key' field"):
        JsonlStore(path)
