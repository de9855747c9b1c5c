"""Reading and checking SFT, preference and prompt data (fast, no model)."""

from __future__ import annotations

import json

import pytest

from charter.cai.common import save_dataset
from charter.errors import DatasetError
from charter.train.data import load_preferences, load_prompt_rows, load_sft


def test_sft_from_jsonl_keeps_only_messages(sft_file):
    data = load_sft(sft_file)
    assert len(data.rows) == 4
    assert set(data.rows[0]) == {"messages"}
    assert data.rows[0]["messages"][-1]["role"] == "assistant"
    assert data.constitution_hashes == ("c0ffee",)


def test_sft_from_stage_folder_prefers_the_saved_dataset(tmp_path, rows):
    folder = tmp_path / "sl"
    rows.write(folder / "sft.jsonl", rows.sft(2))  # the dataset below holds 3 rows
    save_dataset(
        [{k: v for k, v in r.items() if k != "key"} for r in rows.sft(3)], folder / "sft_dataset"
    )
    data = load_sft(folder)
    assert data.source.endswith("sft_dataset")
    assert len(data.rows) == 3


def test_sft_hash_follows_content(tmp_path, rows):
    a = load_sft(rows.write(tmp_path / "a.jsonl", rows.sft(3)))
    b = load_sft(rows.write(tmp_path / "b.jsonl", rows.sft(3)))
    changed = rows.sft(3)
    changed[1]["messages"][1]["content"] = "Lyon."
    c = load_sft(rows.write(tmp_path / "c.jsonl", changed))
    assert a.sha256 == b.sha256 != c.sha256


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ({"text": "hi"}, r"'messages' must be a list"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "last of 'messages' must be"),
        ({"messages": [{"role": "bot", "content": "hi"}]}, r"messages\[0\] needs a role"),
        ({"messages": [{"role": "assistant", "content": ""}]}, "non-empty string"),
    ],
)
def test_sft_bad_rows_name_the_line(tmp_path, rows, row, match):
    path = rows.write(tmp_path / "bad.jsonl", [*rows.sft(1), row])
    with pytest.raises(DatasetError, match=match) as info:
        load_sft(path)
    assert "bad.jsonl:2" in str(info.value)


def test_missing_and_empty_and_wrong_folder(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset"):
        load_sft(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DatasetError, match="nothing to train on"):
        load_sft(tmp_path / "empty.jsonl")
    (tmp_path / "stage").mkdir()
    with pytest.raises(DatasetError, match=r"sft_dataset or sft\.jsonl"):
        load_sft(tmp_path / "stage")
    (tmp_path / "x.jsonl").write_text("{not json\n")
    with pytest.raises(DatasetError, match=r"x.jsonl:1: not valid JSON"):
        load_sft(tmp_path / "x.jsonl")


def test_preferences_become_conversational(pref_file):
    data = load_preferences(pref_file.parent)  # the stage folder
    row = data.rows[0]
    assert row["prompt"] == [{"role": "user", "content": "How do I boil an egg?"}]
    assert row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant"
    assert row["label_prob"] == pytest.approx(0.55)


def test_preferences_min_label_prob_drops_near_ties(pref_file):
    data = load_preferences(pref_file, min_label_prob=0.7)
    assert [round(r["label_prob"], 2) for r in data.rows] == [0.75, 0.85]
    assert data.dropped == 2
    with pytest.raises(DatasetError, match=r"no pair has label_prob >= 0.9"):
        load_preferences(pref_file, min_label_prob=0.9)


def test_preferences_missing_column_names_file_and_columns(tmp_path, rows):
    bad = rows.prefs(2)
    del bad[1]["rejected"]
    path = rows.write(tmp_path / "p.jsonl", bad)
    with pytest.raises(DatasetError, match=r"p.jsonl:2: missing column rejected; .*prompt, chosen"):
        load_preferences(path)


def test_preferences_bad_label_prob(tmp_path, rows):
    bad = rows.prefs(1)
    bad[0]["label_prob"] = 1.5
    with pytest.raises(DatasetError, match="label_prob must be a number in"):
        load_preferences(rows.write(tmp_path / "p.jsonl", bad))


def test_preferences_without_label_prob_count_as_certain(tmp_path, rows):
    plain = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows.prefs(2)]
    data = load_preferences(rows.write(tmp_path / "p.jsonl", plain), min_label_prob=0.9)
    assert [r["label_prob"] for r in data.rows] == [1.0, 1.0]


def test_prompt_rows_from_builtin():
    data = load_prompt_rows("builtin:helpfulness", limit=3)
    assert len(data.rows) == 3
    assert data.rows[0]["prompt"][0]["role"] == "user"


def test_prompt_rows_refuse_a_held_out_eval_scenario(tmp_path):
    from charter.prompts import conflicts_path, load_prompts

    held_out = load_prompts(conflicts_path())[0]
    path = tmp_path / "grpo.jsonl"
    lines = [
        {"id": "mine-1", "prompt": "How do I bake sourdough bread at home?"},
        {"id": "mine-2", "prompt": held_out.prompt.upper()},  # same text, other case
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(DatasetError, match=f"overlaps held-out eval prompt '{held_out.id}'"):
        load_prompt_rows(path)
    assert len(load_prompt_rows(path, limit=1).rows) == 1  # the clean prompt alone is fine
