"""Mixes that come out identical say so on their cards; where placement matters, roots differ.

The quickstart (seed 20261122, classify limit 6, reflect limit 2) reflects only
``recipe-lentil-soup`` and ``garden-tomatoes``, and the seeded per-document
coin of the ``both`` placement sends both to the decoupled side, so
``both_explained`` legitimately equals ``decoupled_explained``. The cards must
state it rather than silently share a Merkle root.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from charter.pretrain.manifest import verify_mix
from charter.pretrain.mix import MixDef, MixSpec, run_mix
from charter.pretrain.tokens import ASSISTANT_OPEN
from charter.runs import run_experiment
from charter.runs.provenance import derive_seed
from charter.runs.store import read_jsonl

from .conftest import scripted_choices, scripted_reply

QUICKSTART_SEED = 20261122
# derive_seed(QUICKSTART_SEED, id) % 2 is 1 (decoupled) for the first two, 0 (gated) for the third.
DECOUPLED_IDS = ("recipe-lentil-soup", "garden-tomatoes")
GATED_ID = "match-report-u12"
PLACEMENTS = ("gated", "decoupled", "both")


def _ctx(tmp_path: Path, seed: int) -> SimpleNamespace:
    """The few RunContext attributes run_mix reads."""

    def prepare_stage(spec: MixSpec, restart: bool) -> Path:
        folder = tmp_path / spec.name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    return SimpleNamespace(
        output_dir=tmp_path,
        config=SimpleNamespace(seed=seed),
        constitution=SimpleNamespace(hash="constitution-hash"),
        ledger_checkpoint=None,
        config_hash="config-hash",
        progress=False,
        prepare_stage=prepare_stage,
    )


def _hand_built(tmp_path: Path, ids: tuple[str, ...]) -> dict[str, dict]:
    """Classify and reflect outputs for ``ids`` (all reflected), then the three placements."""
    (tmp_path / "classify").mkdir()
    (tmp_path / "reflect").mkdir()
    classified = [
        {
            "key": i,
            "id": i,
            "text": f"The text of {i}.",
            "label": "benign",
            "classifier": "judge",
            "model": "hand",
            "articles": [{"id": "4.1"}],
        }
        for i in ids
    ]
    reflections = [
        {"key": f"{i}:explained", "reflection": f"Why {i} matters.", "model": "hand", "depth": 0.5}
        for i in ids
    ]
    for path, rows in (
        (tmp_path / "classify" / "classified.jsonl", classified),
        (tmp_path / "reflect" / "reflections.jsonl", reflections),
    ):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = MixSpec(
        name="mix",
        classify="classify",
        reflect="reflect",
        mixes=[
            MixDef(name=p, strategy="contextualize", placement=p, style="explained")
            for p in PLACEMENTS
        ],
    )
    run_mix(spec, _ctx(tmp_path, QUICKSTART_SEED))
    cards = {}
    for p in PLACEMENTS:
        verify_mix(tmp_path / "mix" / p)
        cards[p] = json.loads((tmp_path / "mix" / p / "card.json").read_text())
    return cards


def test_the_hand_built_ids_fall_where_the_tests_assume():
    assert [derive_seed(QUICKSTART_SEED, i) % 2 for i in (*DECOUPLED_IDS, GATED_ID)] == [1, 1, 0]


def test_tiny_identical_mixes_say_so_on_their_cards(tmp_path):
    cards = _hand_built(tmp_path, DECOUPLED_IDS)
    both, decoupled = cards["both"], cards["decoupled"]
    assert both["manifest"]["root"] == decoupled["manifest"]["root"]
    assert both["identical_to"] == ["decoupled"] and decoupled["identical_to"] == ["both"]
    assert "identical to decoupled: placement 'both'" in both["warnings"][0]
    assert "fell on the decoupled side" in both["warnings"][0]
    assert cards["gated"]["identical_to"] == [] and cards["gated"]["warnings"] == []
    md = (tmp_path / "mix" / "both" / "card.md").read_text()
    assert "**Warning:** identical to decoupled" in md


def test_where_placement_matters_every_placement_has_its_own_root(tmp_path):
    cards = _hand_built(tmp_path, (*DECOUPLED_IDS, GATED_ID))
    roots = {p: cards[p]["manifest"]["root"] for p in PLACEMENTS}
    assert len(set(roots.values())) == 3, roots
    assert all(cards[p]["identical_to"] == [] for p in PLACEMENTS)
    assert cards["both"]["counts"]["by_mode"] == {"decoupled": 2, "gated": 1}
    docs = {d["id"]: d for d in read_jsonl(tmp_path / "mix" / "both" / "docs.jsonl")}
    assert ASSISTANT_OPEN in docs[GATED_ID]["text"]
    assert all(ASSISTANT_OPEN not in docs[i]["text"] for i in DECOUPLED_IDS)


@pytest.fixture
def scripted_run(monkeypatch):
    from charter.backends.scripted import ScriptedChatModel

    model = ScriptedChatModel(scripted_reply, scripted_choices, model_id="scripted-judge")
    monkeypatch.setattr("charter.runs.context.load_chat_model", lambda spec: model)
    return model


def test_the_quickstart_pretrain_stages_report_the_identical_mixes(tmp_path, scripted_run):
    # The pretrain stages of configs/quickstart.yaml, on the scripted backend.
    config = {
        "name": "qs",
        "seed": QUICKSTART_SEED,
        "output_dir": str(tmp_path / "run"),
        "models": {"feedback": {"backend": "scripted", "model": "judge"}},
        "embedder": {"backend": "hashing"},
        "stages": [
            {
                "name": "pretrain_classify",
                "kind": "pretrain_classify",
                "model": "feedback",
                "corpus": "builtin:sample",
                "limit": 6,
                "embedding": False,
            },
            {
                "name": "pretrain_reflect",
                "kind": "pretrain_reflect",
                "model": "feedback",
                "source": "pretrain_classify",
                "styles": ["citation", "explained"],
                "limit": 2,
                "max_tokens": 64,
            },
            {
                "name": "pretrain_mix",
                "kind": "pretrain_mix",
                "classify": "pretrain_classify",
                "reflect": "pretrain_reflect",
            },
        ],
    }
    path = tmp_path / "qs.yaml"
    path.write_text(yaml.safe_dump(config))
    summary = run_experiment(path, progress=False)
    roots = summary.stages["pretrain_mix"]["mixes"]
    assert roots["both_explained"] == roots["decoupled_explained"]
    folder = tmp_path / "run" / "pretrain_mix"
    card = json.loads((folder / "both_explained" / "card.json").read_text())
    assert "decoupled_explained" in card["identical_to"]
    assert any(
        w.startswith("identical to decoupled_explained: placement 'both'") for w in card["warnings"]
    )
    # Only the two reflected documents carry a reflection, both decoupled.
    modes = [d["mode"] for d in read_jsonl(folder / "both_explained" / "docs.jsonl")]
    assert sorted(modes) == ["decoupled", "decoupled", "raw", "raw", "raw", "raw"]
    gated = json.loads((folder / "gated_explained" / "card.json").read_text())
    assert gated["identical_to"] == []
