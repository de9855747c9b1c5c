"""Prompt sets: the shipped sets and user files, with clear errors."""

from __future__ import annotations

import pytest

from charter.errors import DatasetError
from charter.prompts import load_prompts


def test_shipped_redteam_set():
    prompts = load_prompts("builtin:redteam")
    assert len(prompts) >= 200
    kinds = {p.kind for p in prompts}
    assert kinds == {"harmful", "benign_lookalike", "conflict"}
    by_id = {p.id: p for p in prompts}
    pairs = [p for p in prompts if getattr(p, "pair", None)]
    assert len(pairs) >= 80
    for p in pairs:  # dual-use pairs point at each other, one harmful, one benign
        other = by_id[p.pair]
        assert other.pair == p.id
        assert {p.kind, other.kind} == {"harmful", "benign_lookalike"}


def test_shipped_helpfulness_set_and_limit():
    assert len(load_prompts("builtin:helpfulness")) >= 100
    assert len(load_prompts("builtin:helpfulness", limit=5)) == 5


def test_user_jsonl_gets_stable_ids(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "hello"}\n\n{"prompt": "bye", "id": "x"}\n')
    first = load_prompts(path)
    assert [p.id for p in first][1] == "x"
    assert first[0].id == load_prompts(path)[0].id


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"prompt": "a"}\nnot json\n', r"p\.jsonl:2: not valid JSON"),
        ('{"text": "a"}\n', r"p\.jsonl:1: field prompt"),
        ('{"prompt": "a", "id": "1"}\n{"prompt": "b", "id": "1"}\n', "appears twice"),
        ("", "holds no prompts"),
    ],
)
def test_bad_prompt_files(tmp_path, content, message):
    path = tmp_path / "p.jsonl"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_prompts(path)


def test_unknown_sources(tmp_path):
    with pytest.raises(DatasetError, match=r"no built-in prompts 'nope'; the prompts builtins are"):
        load_prompts("builtin:nope")
    with pytest.raises(DatasetError, match="no such prompt file"):
        load_prompts(tmp_path / "missing.jsonl")


def test_parquet_and_saved_dataset_inputs(tmp_path):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"question": f"How do I store solvent {i} safely?", "id": i, "category": "safety"}
        for i in range(5)
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p.parquet")
    from_parquet = load_prompts(tmp_path / "p.parquet", prompt_field="question", limit=3)
    assert [p.id for p in from_parquet] == ["0", "1", "2"]
    assert from_parquet[0].prompt == rows[0]["question"] and from_parquet[0].category == "safety"
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    from_disk = load_prompts(tmp_path / "saved", prompt_field="question")
    assert [p.prompt for p in from_disk] == [r["question"] for r in rows]
    with pytest.raises(DatasetError, match=r"p\.parquet\[0\]: field prompt is missing"):
        load_prompts(tmp_path / "p.parquet")
    splits = datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)})
    splits.save_to_disk(str(tmp_path / "splits"))
    with pytest.raises(DatasetError, match="several splits"):
        load_prompts(tmp_path / "splits")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DatasetError, match="not a readable Parquet file"):
        load_prompts(tmp_path / "bad.parquet")
    (tmp_path / "folder").mkdir()
    with pytest.raises(DatasetError, match="saved with save_to_disk"):
        load_prompts(tmp_path / "folder")


def test_prompt_sources_concatenate_in_order_and_refuse_a_shared_id(tmp_path):
    from charter.prompts import load_prompt_sources

    both = load_prompt_sources(["builtin:redteam", "builtin:helpfulness"])
    redteam = load_prompts("builtin:redteam")
    assert [r.id for r in both[: len(redteam)]] == [r.id for r in redteam]
    assert len(both) == len(redteam) + len(load_prompts("builtin:helpfulness"))
    assert len(load_prompt_sources(["builtin:redteam", "builtin:helpfulness"], limit=260)) == 260
    assert load_prompt_sources("builtin:redteam", limit=3) == redteam[:3]
    with pytest.raises(DatasetError, match="also in builtin:redteam"):
        load_prompt_sources(["builtin:redteam", "builtin:redteam"])


def test_every_shipped_eval_set_is_a_builtin_and_held_out():
    from charter.prompts import BUILTIN, check_held_out

    for name in BUILTIN:
        assert load_prompts(f"builtin:{name}")
    for name in ("over_refusal", "helpfulness_heldout", "conflicts"):
        with pytest.raises(DatasetError, match="held-out"):
            check_held_out(load_prompts(f"builtin:{name}", limit=1))
    check_held_out(load_prompts("builtin:redteam"))
    check_held_out(load_prompts("builtin:helpfulness"))
