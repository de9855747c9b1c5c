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


def test_error_log_appends_one_row_per_failure_in_the_shared_shape(tmp_path):
    from charter.errors import BackendError
    from charter.runs.store import ErrorLog, error_row

    path = tmp_path / "stage" / "errors.jsonl"
    with ErrorLog(path) as errors:
        errors.add("p1", BackendError("server hiccup"), step="answer", raw=None)
        errors.add("p1", "no critique found", step="critique", round=2, raw="Critiqué: …")
    with ErrorLog(path) as errors:  # reopening appends; a key may fail again
        errors.add("p2", ValueError("bad"))
    rows = list(read_jsonl(path))
    assert [r["key"] for r in rows] == ["p1", "p1", "p2"]
    assert rows[0]["error"] == "server hiccup" and rows[0]["type"] == "BackendError"
    assert rows[0]["step"] == "answer" and rows[0]["raw"] is None
    assert rows[1]["type"] == "malformed" and rows[1]["round"] == 2
    assert rows[1]["raw"] == "Critiqué: …" and "Critiqué" in path.read_text(encoding="utf-8")
    assert set(rows[2]) == {"key", "error", "type", "at"}
    assert error_row("k", KeyError("x"))["type"] == "KeyError"
