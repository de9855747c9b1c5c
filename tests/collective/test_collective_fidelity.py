"""Constitution fidelity: distance, coverage, Wilson intervals, reconstruction."""

from __future__ import annotations

import pytest

from charter.backends.scripted import HashingEmbedder, ScriptedChatModel
from charter.collective import fidelity as fid
from charter.collective.reconstruction import (
    reconstruct_wish,
    reconstruction_accuracy,
    run_reconstruction,
)
from charter.collective.wishes import load_wishes
from charter.constitution import load_constitution, parse_constitution
from charter.errors import MalformedOutputError
from charter.runs.store import JsonlStore, read_jsonl


def _article(i: str, title: str, rule: str) -> dict:
    return {
        "id": i,
        "title": title,
        "rule": rule,
        "rationale": rule,
        "critique_request": "c",
        "revision_request": "r",
    }


TOY = parse_constitution(
    {
        "name": "toy",
        "articles": [
            _article("1", "Cats", "cats cats whiskers purr meow"),
            _article("2", "Rain", "rain umbrella storm cloud wet"),
        ],
    }
)


def test_coverage_finds_best_article_and_lists_uncovered_wishes():
    embedder = HashingEmbedder(dim=256)
    wishes = [
        "cats purr and meow with whiskers",
        "umbrella in the storm rain",
        "quantum tax accountant spreadsheet",
    ]
    e = embedder.embed(wishes)
    cov = fid.coverage(e, [1, 2, 7], TOY, fid.embed_articles(TOY, embedder), threshold=0.3)
    assert cov.best_article[:2] == ["1", "2"]
    assert cov.uncovered == [2]
    assert [a.wishes for a in cov.per_article] == [1, 1]
    assert cov.per_article[1].stake_share == pytest.approx(0.2)
    assert cov.covered_stake_share == pytest.approx(0.3)


def test_collective_similarity_follows_the_stake():
    embedder = HashingEmbedder(dim=256)
    e = embedder.embed(["cats purr meow whiskers", "rain umbrella storm wet"])
    only_cats = parse_constitution({"name": "c", "articles": [TOY.articles[0].model_dump()]})
    arts = fid.embed_articles(only_cats, embedder)
    toward_cats = fid.collective_similarity(e, [10, 1], arts)
    toward_rain = fid.collective_similarity(e, [1, 10], arts)
    assert toward_cats > toward_rain


def _judge_prefers(marker: str):
    """A judge that prefers whichever reply contains ``marker``."""

    def choices(messages, options):
        text = messages[-1]["content"]
        a = text.split("(A)", 1)[1].split("(B)", 1)[0]
        return [0.0, -5.0] if marker in a else [-5.0, 0.0]

    return choices


def _writer(messages, params):
    return "FULFIL reply" if "must do the following" in messages[-1]["content"] else "other"


def test_reconstruction_reads_both_orders_and_scores_correctness():
    wish = load_wishes("builtin:sample").records[0]
    good = ScriptedChatModel(choices=_judge_prefers("FULFIL"))
    row = reconstruct_wish(wish, ScriptedChatModel(_writer), good, "Article 1: x", seed=1)
    assert row["correct"] and row["p_order1"] > 0.9 and row["p_order2"] > 0.9
    contrary = ScriptedChatModel(choices=_judge_prefers("other"))
    row = reconstruct_wish(wish, ScriptedChatModel(_writer), contrary, "Article 1: x", seed=1)
    assert not row["correct"]
    with pytest.raises(MalformedOutputError):
        reconstruct_wish(wish, ScriptedChatModel(["", ""]), good, "x", seed=1)


def test_reconstruction_is_resumable_and_reports_accuracy(tmp_path):
    wishes = load_wishes("builtin:sample").records[:3]
    judge = ScriptedChatModel(choices=_judge_prefers("FULFIL"))
    writer = ScriptedChatModel(_writer)
    kwargs = dict(
        constitution=load_constitution(),
        embedder=HashingEmbedder(),
        writer=writer,
        judge=judge,
        errors_path=tmp_path / "errors.jsonl",
        seed_for=lambda k: 3,
        provenance=lambda m, s: {"model_id": m, "seed": s},
        progress=False,
    )
    with JsonlStore(tmp_path / "rec.jsonl") as store:
        assert run_reconstruction(wishes[:2], store=store, **kwargs) == 0
    calls = len(writer.calls)
    with JsonlStore(tmp_path / "rec.jsonl") as store:
        run_reconstruction(wishes, store=store, **kwargs)
    assert len(writer.calls) == calls + 2  # only the third wish was new
    rows = list(read_jsonl(tmp_path / "rec.jsonl"))
    assert len(rows) == 3 and all(r["provenance"]["model_id"] == "scripted" for r in rows)
    acc = reconstruction_accuracy(rows, {r["key"]: "1.1" for r in rows})
    assert acc["overall"]["accuracy"] == 1.0 and acc["per_article"]["1.1"]["n"] == 3
