"""Drafting articles from wishes: parsing, the strict retry, proofs that verify."""

from __future__ import annotations

import json

import numpy as np
import pytest

from charter.backends.scripted import HashingEmbedder, ScriptedChatModel
from charter.collective import draft as dr
from charter.collective.groups import find_groups
from charter.collective.wishes import load_wishes
from charter.constitution import load_constitution
from charter.errors import MalformedOutputError, VerificationError
from charter.runs.store import JsonlStore, read_jsonl

GOOD = json.dumps(
    {
        "title": "Safety first",
        "rule": "Give people the safety information they need.",
        "rationale": "People act on what they are told; withholding it harms them.",
        "conflict_guidance": "Prefer safety when it collides with brevity.",
        "cites": ["w2", "w1", "w99", "w2"],
    }
)


@pytest.fixture(scope="module")
def wishes():
    return load_wishes("builtin:sample")


def test_parse_draft_maps_labels_to_ids_and_drops_unknown(wishes):
    shown = wishes.records[:3]
    article = dr.parse_draft("Sure! ```json\n" + GOOD + "\n```", shown)
    assert article.cites == [shown[1].entry_id, shown[0].entry_id]
    assert not article.cites_inferred
    no_cites = dr.parse_draft(GOOD.replace('"w2", "w1", "w99", "w2"', ""), shown)
    assert no_cites.cites_inferred and no_cites.cites == [w.entry_id for w in shown]


@pytest.mark.parametrize("bad", ["no json here", "{not json}", '{"title": "x"}', "[1, 2]"])
def test_parse_draft_rejects_malformed_output(wishes, bad):
    with pytest.raises(MalformedOutputError) as info:
        dr.parse_draft(bad, wishes.records[:2])
    assert info.value.raw == bad


def test_draft_article_retries_once_with_the_stricter_prompt(wishes):
    model = ScriptedChatModel(["I think the article should be about safety.", GOOD])
    article, attempts, raws = dr.draft_article(model, wishes.records[:3], seed=1)
    assert attempts == 2 and article.title == "Safety first" and len(raws) == 2
    assert "could not be read" in model.calls[1][-1]["content"]
    failing = ScriptedChatModel(["nope", "still nope"])
    with pytest.raises(MalformedOutputError) as info:
        dr.draft_article(failing, wishes.records[:3], seed=1)
    assert info.value.raw == ["nope", "still nope"]


def test_drafted_constitution_validates_and_every_citation_proof_verifies(tmp_path, wishes):
    embedder = HashingEmbedder()
    e = embedder.embed([r.text for r in wishes.records])
    grouping = find_groups(e, 3, 3)
    weights = np.ones(wishes.size)
    # The second group's first reply is malformed twice: an error row, retried next run.
    replies = [GOOD, "bad", "bad again", GOOD]
    model = ScriptedChatModel(replies)
    prov = lambda m, s: {"model_id": m, "seed": s}  # noqa: E731
    with JsonlStore(tmp_path / "drafts.jsonl") as store:
        failed = dr.run_drafting(
            wishes,
            grouping,
            weights,
            model,
            store,
            tmp_path / "errors.jsonl",
            lambda k: 5,
            prov,
            progress=False,
        )
    assert failed == 1
    error = json.loads((tmp_path / "errors.jsonl").read_text().splitlines()[0])
    assert error["raw"] == ["bad", "bad again"]
    rows = list(read_jsonl(tmp_path / "drafts.jsonl"))
    assert len(rows) == 2
    with JsonlStore(tmp_path / "drafts.jsonl") as store:  # rerun: only the failed group
        retry = ScriptedChatModel([GOOD])
        assert (
            dr.run_drafting(
                wishes,
                grouping,
                weights,
                retry,
                store,
                tmp_path / "errors.jsonl",
                lambda k: 5,
                prov,
                progress=False,
            )
            == 0
        )
    rows = list(read_jsonl(tmp_path / "drafts.jsonl"))
    assert len(rows) == 3
    constitution = dr.build_constitution(rows, embedder, "Drafted", "from the sample")
    yaml_path, cite_path = dr.write_draft(constitution, rows, wishes, tmp_path)
    assert load_constitution(yaml_path).hash == constitution.hash
    assert all(a.conflicts and a.conflicts[0].with_ != a.id for a in constitution.articles)
    citations = json.loads(cite_path.read_text())
    assert citations["root"] == wishes.root.hex()
    assert dr.verify_citations(citations) == sum(len(r["cites"]) for r in rows)
    # A tampered audit path is caught by the ledger's own verifier.
    first = citations["articles"][0]["cites"][0]
    first["audit_path"][0] = "00" * 32
    with pytest.raises(VerificationError):
        dr.verify_citations(citations)
