"""The one source resolver: schemes, formats, builtins per kind, and the stages using it."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from charter._util.sources import (
    Source,
    builtin_names,
    builtin_path,
    parse_source,
    path_format,
    resolve_relative,
    scheme_of,
)
from charter.errors import DatasetError


@pytest.mark.parametrize(
    ("text", "scheme", "value"),
    [
        ("builtin:redteam", "builtin", "redteam"),
        ("embedded:policy", "embedded", "policy"),
        ("stage:sft", "stage", "sft"),
        ("wish:builtin:sample", "wish", "builtin:sample"),
        ("postgresql://u@host/wishes", "postgres", "postgresql://u@host/wishes"),
        ("postgres://u@host/wishes", "postgres", "postgres://u@host/wishes"),
        ("data/prompts.jsonl", "path", "data/prompts.jsonl"),
        ("/abs/corpus.parquet", "path", "/abs/corpus.parquet"),
        ("C:\\data\\prompts.jsonl", "path", "C:\\data\\prompts.jsonl"),
        ("d:/runs/ledger.sqlite", "path", "d:/runs/ledger.sqlite"),
        ("./odd:name.jsonl", "path", "./odd:name.jsonl"),
    ],
)
def test_each_scheme_parses(text: str, scheme: str, value: str) -> None:
    assert parse_source(text) == Source(text, scheme, value)  # type: ignore[arg-type]


def test_a_path_object_is_a_path() -> None:
    assert parse_source(Path("x.jsonl")).scheme == "path"


@pytest.mark.parametrize("text", ["foo:bar", "http://example.org/x.jsonl", "bultin:redteam"])
def test_unknown_scheme_is_one_clear_error(text: str) -> None:
    scheme = text.split(":")[0]
    with pytest.raises(DatasetError, match=f"unknown source scheme '{scheme}:'") as info:
        parse_source(text)
    message = str(info.value)
    assert "\n" not in message
    assert "use builtin:, embedded:, stage:, wish:, postgresql://, or a path" in message


def test_empty_source_is_an_error() -> None:
    with pytest.raises(DatasetError, match="empty source"):
        parse_source("  ")


def test_scheme_of_never_raises() -> None:
    assert scheme_of("llama3:8b") is None  # a server model name
    assert scheme_of("mypkg.rewards:length") is None  # a module:attr reward
    assert scheme_of("embedded:feedback") == "embedded"


def test_wish_names_its_ledger() -> None:
    assert parse_source("wish:").ledger() == parse_source("builtin:sample")
    assert parse_source("wish:/tmp/l.sqlite").ledger().scheme == "path"
    with pytest.raises(DatasetError, match="not a wish"):
        parse_source("stage:x").ledger()
    with pytest.raises(DatasetError, match="not a path"):
        _ = parse_source("stage:x").path


def test_formats(tmp_path: Path) -> None:
    assert path_format(tmp_path / "a.jsonl") == "jsonl"
    assert path_format(tmp_path / "a.parquet") == "parquet"
    assert path_format(tmp_path / "a.sqlite") == "sqlite"
    assert path_format(tmp_path / "a.csv") == "other"
    assert path_format(tmp_path) == "folder"
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "state.json").write_text("{}")
    assert path_format(saved) == "hf_dataset"
    db = tmp_path / "ledger.bin"
    db.write_bytes(b"SQLite format 3\x00" + bytes(84))
    assert path_format(db) == "sqlite"
    export = tmp_path / "export.db"
    export.write_text(json.dumps({"a": 1}) + "\n")
    assert path_format(export) == "other"  # an existing file: the header decides


def test_builtins_per_kind() -> None:
    # Each package registers its builtins when imported.
    for module in ("charter.collective.wishes", "charter.ledger.stage", "charter.pretrain.corpus"):
        importlib.import_module(module)
    importlib.import_module("charter.prompts")

    assert builtin_names("prompts") == (
        "redteam",
        "helpfulness",
        "helpfulness_heldout",
        "over_refusal",
        "conflicts",
    )
    assert builtin_names("corpus") == ("sample",)
    assert builtin_names("wishes") == ("sample",)
    assert builtin_names("ledger") == ("sample",)
    assert builtin_path("prompts", "redteam").is_file()
    assert builtin_path("corpus", "sample").is_file()
    assert builtin_path("wishes", "sample").is_file()


def test_unknown_builtin_lists_the_known_ones() -> None:
    importlib.import_module("charter.prompts")
    with pytest.raises(DatasetError, match="builtin:redteam, builtin:helpfulness") as info:
        builtin_path("prompts", "sample")
    assert "no built-in prompts 'sample'" in str(info.value)
    with pytest.raises(DatasetError, match="the nope builtins are none"):
        builtin_path("nope", "x")


def test_resolve_relative(tmp_path: Path) -> None:
    assert resolve_relative("data/x.jsonl", tmp_path) == str(tmp_path / "data" / "x.jsonl")
    for text in ("builtin:redteam", "stage:sft", "postgresql://h/db", str(tmp_path / "a")):
        assert resolve_relative(text, tmp_path) == text
    with pytest.raises(DatasetError, match="unknown source scheme"):
        resolve_relative("foo:bar", tmp_path)


def test_each_kind_still_loads_its_builtin_default() -> None:
    from charter.collective.wishes import load_wishes
    from charter.ledger.stage import load_wishes as load_wish_rows
    from charter.pretrain.corpus import iter_documents
    from charter.prompts import BUILTIN, load_prompts

    for name in BUILTIN:
        assert load_prompts(f"builtin:{name}", limit=2)
    assert list(iter_documents("builtin:sample", limit=2))
    assert load_wish_rows("builtin:sample")
    assert load_wishes("builtin:sample").size > 0
    with pytest.raises(DatasetError, match="the corpus builtins are builtin:sample"):
        list(iter_documents("builtin:redteam"))
    with pytest.raises(DatasetError, match="the ledger builtins are builtin:sample"):
        load_wishes("builtin:redteam")
    with pytest.raises(DatasetError, match="unknown source scheme 'foo:'"):
        load_prompts("foo:bar")
