"""The transformers backend (policy GGUF dequantised) and both embedders, for real."""

from __future__ import annotations

import numpy as np
import pytest

from charter.backends import (
    EmbedderSpec,
    GenerateParams,
    ModelSpec,
    load_chat_model,
    load_embedder,
    normalize_choices,
)
from charter.errors import ConfigError, ModelNotFoundError

pytestmark = pytest.mark.model

QUESTION = [
    {
        "role": "user",
        "content": "Which of these is a fruit? A) an apple B) a hammer. Answer with the letter.",
    }
]
TEXTS = [
    "How do I keep my houseplants alive in winter?",
    "Tips for caring for indoor plants during the cold months.",
    "The central bank raised interest rates by a quarter point.",
    "A poem about the sea at night.",
]


@pytest.fixture(scope="module")
def hf_policy():
    return load_chat_model(ModelSpec(backend="transformers", model="embedded:policy"))


def test_transformers_loads_the_policy_gguf_and_generates(hf_policy):
    # The GGUF flag is gone, so TRL and save_pretrained accept the model.
    assert getattr(hf_policy.model, "hf_quantizer", None) is None
    out = hf_policy.generate(QUESTION, GenerateParams(max_tokens=12, temperature=0.0))
    assert out.text and out.completion_tokens <= 12
    again = hf_policy.generate(QUESTION, GenerateParams(max_tokens=12, temperature=0.0))
    assert out.text == again.text


def test_transformers_loads_a_saved_checkpoint_folder(hf_policy, tmp_path):
    """save_pretrained works on the dequantised GGUF, and the folder loads back the same."""
    hf_policy.model.save_pretrained(tmp_path)
    hf_policy.tokenizer.save_pretrained(tmp_path)
    reloaded = load_chat_model(ModelSpec(backend="transformers", model=str(tmp_path)))
    params = GenerateParams(max_tokens=12, temperature=0.0)
    assert reloaded.generate(QUESTION, params).text == hf_policy.generate(QUESTION, params).text
    assert reloaded.model_id == f"transformers:{tmp_path}"


def test_transformers_and_llama_cpp_agree_on_choices(hf_policy, policy_llama):
    """Same weights (float32 vs Q4_1): the preferred choice and rough odds agree."""
    hf = normalize_choices(hf_policy.choice_logprobs(QUESTION, ["A", "B"]))
    ll = normalize_choices(policy_llama.choice_logprobs(QUESTION, ["A", "B"]))
    assert (hf[0] > 0.5) == (ll[0] > 0.5)
    assert hf[0] == pytest.approx(ll[0], abs=0.2)


def test_transformers_refuses_what_it_cannot_load(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no such model folder"):
        load_chat_model(ModelSpec(backend="transformers", model=str(tmp_path / "nope")))
    with pytest.raises(ConfigError, match="use backend llama_cpp"):
        load_chat_model(ModelSpec(backend="transformers", model="embedded:feedback"))


def test_both_embedders_agree():
    float32 = load_embedder(EmbedderSpec(backend="sentence_transformers", model="embedded:minilm"))
    int8 = load_embedder(EmbedderSpec())  # the default
    a, b = float32.embed(TEXTS), int8.embed(TEXTS)
    assert a.shape == b.shape == (4, 384)
    assert np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-4)
    agreement = np.sum(a * b, axis=1)
    assert agreement.min() > 0.97, agreement
    # Both rank the paraphrase first for the first text.
    for vectors in (a, b):
        sims = vectors[0] @ vectors[1:].T
        assert int(np.argmax(sims)) == 0
    assert int8.embed([]).shape == (0, 384)


def test_transformers_batched_generation_matches_one_at_a_time(hf_policy):
    """Greedy text is the same whether a prompt runs alone or left-padded in a batch."""
    from concurrent.futures import ThreadPoolExecutor

    batched = load_chat_model(
        ModelSpec(backend="transformers", model="embedded:policy", batch_size=4)
    )
    assert batched.max_concurrency == 4
    params = GenerateParams(max_tokens=10, temperature=0.0)
    convs = [[{"role": "user", "content": t}] for t in TEXTS]
    alone = [hf_policy.generate(c, params).text for c in convs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda c: batched.generate(c, params), convs))
    assert [c.text for c in together] == alone
    assert all(c.completion_tokens <= 10 for c in together)
    assert batched._batcher.batches_run < len(convs)  # they really shared batches


def test_loading_a_gguf_prints_no_bar_of_its_own(capfd):
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    from charter.backends import embedded
    from charter.backends.hf import load_hf

    before = gguf_utils.tqdm
    model, _ = load_hf(embedded.policy_model_path())
    assert model is not None and gguf_utils.tqdm is before  # restored after the load
    assert "de-quantizing" not in capfd.readouterr().err
