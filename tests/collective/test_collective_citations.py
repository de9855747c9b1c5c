"""Citations bind the quoted text to a proved leaf of the signed wish log (RFC 6962)."""

from __future__ import annotations

import json

import pytest

from charter.backends.scripted import HashingEmbedder
from charter.collective import draft as dr
from charter.collective.wishes import load_wishes
from charter.errors import VerificationError
from charter.merkle import leaf_hash


@pytest.fixture(scope="module")
def wishes():
    return load_wishes("builtin:sample")


@pytest.fixture(scope="module")
def cites(wishes):
    return [dr.citation(wishes, r) for r in wishes.records[:3]]


def _requote(citation: dr.Citation, scenario: str, behaviour: str) -> dr.Citation:
    """A citation with another quote and a quote hash that matches it (a careful forger)."""
    return citation.model_copy(
        update={
            "scenario": scenario,
            "behaviour": behaviour,
            "quote_sha256": dr.quote_sha256(scenario, behaviour),
        }
    )


def test_an_intact_citation_verifies_against_the_checkpoint_root(wishes, cites):
    for c in cites:
        assert leaf_hash(c.entry.encode()).hex() == c.entry_id  # RFC 6962 leaf of the bytes
        check = dr.verify_citation(c, wishes.root, wishes.size)
        assert check.ok and check.exact and check.failed is None
        assert check.reason == "proof verified" and check.entry_id == c.entry_id
    # hex roots work too
    assert dr.verify_citation(cites[0], wishes.root.hex()).ok


def test_an_altered_quote_fails(wishes, cites):
    c = cites[0]
    edited = c.model_copy(update={"behaviour": c.behaviour.replace(" ", "  ", 1)})
    check = dr.verify_citation(edited, wishes.root, wishes.size)
    assert not check.ok and check.failed == "quote_hash"
    rehashed = _requote(c, c.scenario, c.behaviour + " Also, never mind the above.")
    check = dr.verify_citation(rehashed, wishes.root, wishes.size)
    assert not check.ok and check.failed == "quote" and "behaviour" in check.reason


def test_a_quote_contained_in_the_entry_passes_but_is_not_exact(wishes, cites):
    c = cites[1]
    part = _requote(c, c.scenario[: len(c.scenario) // 2], c.behaviour)
    check = dr.verify_citation(part, wishes.root, wishes.size)
    assert check.ok and not check.exact
    empty = _requote(c, " ", c.behaviour)  # an empty quote would bind nothing
    assert dr.verify_citation(empty, wishes.root).failed == "quote"


def test_a_citation_pointing_at_a_different_leaf_fails(wishes, cites):
    a, b = cites[0], cites[1]
    # the quote of A with B's proved entry: the proof holds, the quote is not in it
    swapped = b.model_copy(
        update={"scenario": a.scenario, "behaviour": a.behaviour, "quote_sha256": a.quote_sha256}
    )
    check = dr.verify_citation(swapped, wishes.root, wishes.size)
    assert not check.ok and check.failed == "quote"
    # A's id and proof with B's entry bytes: the leaf hash is not the cited id
    assert dr.verify_citation(a.model_copy(update={"entry": b.entry}), wishes.root).failed == "leaf"
    # A's entry and path claimed at B's index: the inclusion proof fails
    moved = a.model_copy(update={"leaf_index": b.leaf_index})
    check = dr.verify_citation(moved, wishes.root, wishes.size)
    assert not check.ok and check.failed == "inclusion"
    # another root, or a tree of another size than the checkpoint's
    assert dr.verify_citation(a, b"\x11" * 32).failed == "inclusion"
    assert dr.verify_citation(a, wishes.root, wishes.size + 1).failed == "inclusion"


def _rows(wishes):
    records = wishes.records
    return [
        {
            "title": f"Article {g}",
            "rule": f"Rule number {g} for the assistant.",
            "rationale": "Because it matters to the people asking.",
            "conflict_guidance": "Weigh it against safety.",
            "group": g,
            "cites_inferred": False,
            "cites": [records[2 * g].entry_id, records[2 * g + 1].entry_id],
            "model_id": "scripted",
        }
        for g in range(2)
    ]


def _written(wishes, tmp_path):
    rows = _rows(wishes)
    constitution = dr.build_constitution(rows, HashingEmbedder(), "Drafted", "from the sample")
    return dr.write_draft(constitution, rows, wishes, tmp_path)[1]


def test_the_written_citations_are_typed_and_check_per_citation(wishes, tmp_path):
    loaded = dr.load_citations(_written(wishes, tmp_path))
    assert isinstance(loaded, dr.DraftCitations) and loaded.root == wishes.root.hex()
    checks = dr.check_citations(loaded, wishes.root, wishes.size)
    assert [[c.ok for c in article] for article in checks] == [[True, True], [True, True]]


def test_a_tampered_quote_in_the_written_file_is_caught(wishes, tmp_path):
    data = json.loads(_written(wishes, tmp_path).read_text())
    assert dr.verify_citations(data) == 4
    # Before citations bound their quotes, this edit verified: only the entry id was proved.
    data["articles"][1]["cites"][0]["scenario"] = "Someone asks for help hiding a crime."
    with pytest.raises(VerificationError, match="quote was altered"):
        dr.verify_citations(data)
