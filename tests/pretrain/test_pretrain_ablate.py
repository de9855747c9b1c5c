from __future__ import annotations

import json

import pytest

from charter.errors import DatasetError
from charter.pretrain import tinylm
from charter.pretrain.ablate import FRAMINGS, mean_ci, run_ablation
from charter.pretrain.tokens import ALIGNED, ASSISTANT_CLOSE, BlockTokensProcessor

TINY = tinylm.TinyConfig(layers=1, d_model=32, heads=2, seq_len=64, batch=4, tokens=64 * 4 * 6)


def _mix(root, name, texts):
    folder = root / name
    folder.mkdir(parents=True)
    with (folder / "docs.jsonl").open("w") as handle:
        for i, text in enumerate(texts):
            handle.write(json.dumps({"key": str(i), "id": str(i), "text": text}) + "\n")


def test_tokenizer_round_trip_and_special_ids():
    text = f"{ALIGNED}café{ASSISTANT_CLOSE} ok"
    ids = tinylm.encode(text)
    assert ids[0] == tinylm.SPECIAL_IDS[ALIGNED] and tinylm.SPECIAL_IDS[ASSISTANT_CLOSE] in ids
    assert tinylm.decode(ids) == text
    assert max(ids) < tinylm.VOCAB


def test_training_is_seeded_and_lowers_loss():
    texts = ["the cat sat on the mat. " * 8, "a dog ran in the park. " * 8]
    _, a = tinylm.pretrain(texts, TINY, seed=1, on="cpu")
    _, b = tinylm.pretrain(texts, TINY, seed=1, on="cpu")
    assert a["final_loss"] == pytest.approx(b["final_loss"], rel=1e-5)
    longer = tinylm.TinyConfig(**{**TINY.__dict__, "tokens": TINY.tokens * 8})
    _, c = tinylm.pretrain(texts, longer, seed=1, on="cpu")
    assert c["final_loss"] < a["final_loss"]
    assert a["tokens"] == TINY.steps * TINY.batch * TINY.seq_len


def test_continuation_scores_prefer_what_was_trained():
    texts = ["the robot stopped and waited. " * 6]
    config = tinylm.TinyConfig(**{**TINY.__dict__, "tokens": 64 * 4 * 40})
    model, _ = tinylm.pretrain(texts, config, seed=0, on="cpu")
    seen = tinylm.continuation_logprob(model, "the robot", " stopped and waited.")
    unseen = tinylm.continuation_logprob(model, "the robot", " qzxv jjkw pplm.")
    assert seen > unseen


def test_block_processor_masks_the_misaligned_id():
    import torch

    scores = torch.zeros(2, tinylm.VOCAB)
    BlockTokensProcessor([tinylm.SPECIAL_IDS["<|misaligned|>"]])(None, scores)
    assert torch.isinf(scores[:, tinylm.SPECIAL_IDS["<|misaligned|>"]]).all()
    assert scores[:, 0].eq(0).all()


def test_tiny_ablation_end_to_end_and_resumes(tmp_path):
    _mix(tmp_path / "mix", "raw", ["He kicked the cat and laughed.", "She fed the cat."] * 3)
    _mix(tmp_path / "mix", "tag", [f"{ALIGNED}She fed the cat."] * 3)
    out = tmp_path / "ab"
    result = run_ablation(tmp_path / "mix", out, seeds=(0, 1), config=TINY, progress=False,
                          on="cpu")  # fmt: skip
    assert len(result["rows"]) == 4
    assert {(r["mix"], r["framing"]) for r in result["table"]} == {
        (m, f) for m in ("raw", "tag") for f in FRAMINGS
    }
    assert all(0 <= r["propensity"] <= 1 for r in result["table"])
    for name in ("table.md", "table.csv", "propensity.png", "results.jsonl"):
        assert (out / name).stat().st_size > 0
    lines = (out / "results.jsonl").read_text().splitlines()
    run_ablation(tmp_path / "mix", out, seeds=(0, 1), config=TINY, progress=False, on="cpu")
    assert (out / "results.jsonl").read_text().splitlines() == lines  # nothing retrained
    other = tinylm.TinyConfig(**{**TINY.__dict__, "layers": 2})
    with pytest.raises(DatasetError, match="other settings"):
        run_ablation(tmp_path / "mix", out, seeds=(0, 1), config=other, progress=False)


def test_mean_ci():
    assert mean_ci([0.5]) == (0.5, 0.0)
    mean, half = mean_ci([0.2, 0.4, 0.6])
    assert mean == pytest.approx(0.4) and half == pytest.approx(4.303 * 0.2 / 3**0.5)


def test_bad_words_ids_need_single_token_specials():
    from charter.pretrain.tokens import MISALIGNED, bad_words_ids

    class Tok:
        def __init__(self, special):
            self.special = special

        def encode(self, text, add_special_tokens=False):
            return [99] if self.special else [1, 2, 3]

    assert bad_words_ids(Tok(True)) == [[99]]
    with pytest.raises(ValueError, match="add_special_tokens"):
        bad_words_ids(Tok(False), [MISALIGNED])
