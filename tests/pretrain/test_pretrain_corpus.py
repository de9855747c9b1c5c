from __future__ import annotations

import json

import pytest

from charter.errors import DatasetError
from charter.pretrain.corpus import iter_documents, text_id


def test_sample_corpus_is_mixed_and_large_enough():
    docs = list(iter_documents("builtin:sample"))
    gold = [d.meta["gold"] for d in docs]
    assert len(docs) >= 60
    assert gold.count("harmful") >= 20 and gold.count("benign") >= 30
    assert len({d.id for d in docs}) == len(docs)


def test_jsonl_ids_meta_and_limit(tmp_path):
    path = tmp_path / "c.jsonl"
    rows = [{"text": "first doc", "source": "web"}, {"id": 7, "text": "second"}, {"text": " "}]
    path.write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n\n")
    docs = list(iter_documents(path))
    assert [d.id for d in docs] == [text_id("first doc"), "7"]
    assert docs[0].meta == {"source": "web"}
    assert len(list(iter_documents(path, limit=1))) == 1
    path.write_text(json.dumps(rows[2]) + "\n")
    with pytest.raises(DatasetError, match=r"c.jsonl:1: field text is missing or empty"):
        list(iter_documents(path))


def test_jsonl_is_streamed_not_loaded(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"text": "ok"}) + "\nnot json\n")
    stream = iter_documents(path)
    assert next(stream).text == "ok"  # the bad line is only met when reached
    with pytest.raises(DatasetError, match=r":2: not valid JSON"):
        next(stream)


def test_parquet_in_batches_and_custom_field(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"body": [f"doc {i}" for i in range(2500)]}), path)
    docs = list(iter_documents(path, text_field="body"))
    assert len(docs) == 2500 and docs[-1].text == "doc 2499"
    with pytest.raises(DatasetError, match="no column 'text'; columns are body"):
        list(iter_documents(path))


def test_folder_of_text_files(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.txt").write_text("alpha\n")
    (tmp_path / "b" / "c.md").write_text("# gamma")
    (tmp_path / "skip.bin").write_bytes(b"\x00")
    (tmp_path / "empty.txt").write_text("  ")
    assert [(d.id, d.text) for d in iter_documents(tmp_path)] == [
        ("a.txt", "alpha"),
        ("b/c.md", "# gamma"),
    ]


def test_bad_sources_say_what_to_do(tmp_path):
    with pytest.raises(DatasetError, match="no such corpus"):
        list(iter_documents(tmp_path / "missing.jsonl"))
    (tmp_path / "x.csv").write_text("a")
    with pytest.raises(DatasetError, match="unsupported corpus format"):
        list(iter_documents(tmp_path / "x.csv"))
    with pytest.raises(DatasetError, match="builtin:sample"):
        list(iter_documents("builtin:other"))
    dup = tmp_path / "d.jsonl"
    dup.write_text("".join(json.dumps({"id": "a", "text": t}) + "\n" for t in "xy"))
    with pytest.raises(DatasetError, match="'a' appears twice"):
        list(iter_documents(dup))
