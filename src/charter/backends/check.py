"""Prove each embedded model is installed, intact, loadable and answering.

``charter models check`` calls :func:`check_embedded`: for each model, verify
its pinned SHA-256, load it, and ask it something whose answer can be checked
(a reply and a two-choice score for chat models; 384-d unit vectors that put
paraphrases closer than unrelated text for embedders).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from charter.backends import embedded as emb
from charter.backends.base import GenerateParams, normalize_choices
from charter.backends.registry import EmbedderSpec, ModelSpec, load_chat_model, load_embedder
from charter.errors import CharterError


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    seconds: float
    detail: str


_CHAT_PROBE = [{"role": "user", "content": "Is water wet? Answer with one word: Yes or No."}]
_EMBED_PROBE = [
    "The cat sat on the mat.",
    "A cat was sitting on a rug.",
    "Quarterly tax filing deadlines for small businesses.",
]


def check_one(name: str) -> CheckResult:
    """Check one embedded model by name (feedback, policy, minilm, minilm-int8)."""
    start = time.perf_counter()
    try:
        info = emb.EMBEDDED[name]
        emb.embedded_path(name, verify=True)
        if info.backend == "llama_cpp":
            model = load_chat_model(ModelSpec(backend="llama_cpp", model=f"embedded:{name}"))
            reply = model.generate(_CHAT_PROBE, GenerateParams(max_tokens=8, temperature=0.0))
            probs = normalize_choices(model.choice_logprobs(_CHAT_PROBE, ["Yes", "No"]))
            if not reply.text.strip():
                raise CharterError("the model returned an empty reply")
            detail = f"replied {reply.text.strip()[:30]!r}; P(Yes)={probs[0]:.2f}"
        else:
            backend = "onnx" if info.backend == "onnx" else "sentence_transformers"
            embedder = load_embedder(EmbedderSpec(backend=backend, model=f"embedded:{name}"))
            vectors = embedder.embed(_EMBED_PROBE)
            norms = np.linalg.norm(vectors, axis=1)
            near, far = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
            if vectors.shape != (3, 384) or not np.allclose(norms, 1, atol=1e-3) or near <= far:
                raise CharterError(
                    f"unexpected vectors: shape {vectors.shape}, paraphrase {near:.2f} "
                    f"vs unrelated {far:.2f}"
                )
            detail = f"384-d; paraphrase cos {near:.2f} > unrelated {far:.2f}"
        return CheckResult(name, True, time.perf_counter() - start, detail)
    except CharterError as exc:
        return CheckResult(name, False, time.perf_counter() - start, str(exc))


def check_embedded(names: list[str] | None = None) -> list[CheckResult]:
    """Check the named embedded models (default: all of them)."""
    return [check_one(name) for name in (names or list(emb.EMBEDDED))]
