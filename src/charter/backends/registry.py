"""Choose a backend by name from config: model specs and the factories behind them.

A spec is the part of an experiment config (or CLI flags) that says which
backend and which weights. ``embedded:<name>`` names one of the embedded
defaults (see :mod:`charter.backends.embedded`). Heavy libraries are imported
inside the factory that needs them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from charter._util.sources import parse_source, scheme_of
from charter.backends import embedded as emb
from charter.backends.base import ChatModel, Embedder
from charter.backends.replicas import replica_urls
from charter.errors import BackendError, ConfigError

DEFAULT_EMBEDDER = "minilm-int8"  # chosen by bench/bench_backends.py (see bench/RESULTS.md)


class ModelSpec(BaseModel):
    """Which chat model to use, and how to reach it."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    backend: Literal["llama_cpp", "transformers", "openai", "scripted"] = "llama_cpp"
    model: str = Field(
        "embedded:policy",
        description="embedded:policy | embedded:feedback | a local path | a server model name",
    )
    base_url: str | list[str] | None = Field(
        None,
        description="OpenAI-compatible server, e.g. .../v1, or a list of replicas of the "
        "same model (least-loaded routing, failover)",
    )
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(8, ge=1, description="requests in flight per replica (openai backend)")
    timeout: float = Field(120.0, gt=0, description="seconds per request (openai backend)")
    max_retries: int = Field(5, ge=0, description="retries on 429/5xx (openai backend)")
    choice_ignore_case: bool = Field(
        False, description="openai: match top tokens to choices ignoring case ('a' is 'A')"
    )
    choice_constraint: Literal["auto", "vllm", "grammar", "none"] = Field(
        "auto",
        description="openai: how to re-ask for a choice missing from top_logprobs "
        "(auto tries vllm structured_outputs, guided_choice, then a GBNF grammar)",
    )
    n_ctx: int = Field(4096, ge=256, description="context window (llama_cpp backend)")
    threads: int | None = Field(None, ge=1, description="CPU threads (local backends)")
    prefix_cache: Literal["reproducible", "fast"] = Field(
        "reproducible", description="llama_cpp KV reuse: results independent of history, or fast"
    )
    gguf_file: str | None = Field(None, description="GGUF file inside `model` (transformers)")
    device: str = Field("auto", description="transformers: auto (CUDA if present) | cpu | cuda")
    dtype: str = Field("auto", description="transformers: auto (bf16 on GPU) | float32 | ...")
    batch_size: int = Field(
        1, ge=1, description="transformers: micro-batch concurrent requests (not reproducible)"
    )

    @field_validator("base_url")
    @classmethod
    def _check_replicas(cls, value: str | list[str] | None) -> str | list[str] | None:
        # A list is checked here so a config typo (empty, repeated URL) fails at load.
        if isinstance(value, list):
            try:
                replica_urls(value)
            except BackendError as exc:
                raise ValueError(str(exc)) from None
        return value


class EmbedderSpec(BaseModel):
    """Which embedder to use."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    backend: Literal["onnx", "sentence_transformers", "hashing"] = "onnx"
    model: str = Field(
        "embedded:" + DEFAULT_EMBEDDER,
        description="embedded:minilm-int8 | embedded:minilm | a local .onnx file or folder",
    )
    tokenizer: str | None = Field(None, description="tokenizer.json for a custom .onnx model")


def _embedded_name(model: str) -> str | None:
    """The name in ``embedded:<name>``; None for a path or a server's model name (``llama3:8b``)."""
    return parse_source(model).value if scheme_of(model) == "embedded" else None


def _embedded_id(name: str) -> str:
    info = emb.EMBEDDED[name]
    return f"{info.model_id}@sha256:{info.sha256[:12]}"


def load_chat_model(spec: ModelSpec) -> ChatModel:
    """Build the chat model a spec names (loading weights now)."""
    name = _embedded_name(spec.model)
    if name is not None and name not in ("policy", "feedback"):
        raise ConfigError(
            f"model {spec.model!r}: chat models are embedded:policy or embedded:feedback."
        )
    if spec.backend == "llama_cpp":
        from charter.backends.llama_cpp import LlamaCppChatModel

        path = emb.embedded_path(name) if name else spec.model
        return LlamaCppChatModel(
            path,
            model_id=f"llama_cpp:{_embedded_id(name)}" if name else None,
            n_ctx=spec.n_ctx,
            threads=spec.threads,
            prefix_cache=spec.prefix_cache,
        )
    if spec.backend == "transformers":
        from charter.backends.hf import TransformersChatModel

        if name == "feedback":
            raise ConfigError(
                "embedded:feedback is a Q4_K_M GGUF that transformers cannot dequantise "
                "reliably; use backend llama_cpp for it."
            )
        path = emb.embedded_path(name) if name else spec.model
        return TransformersChatModel(
            path,
            gguf_file=spec.gguf_file,
            threads=spec.threads,
            model_id=f"transformers:{_embedded_id(name)}" if name else None,
            device=spec.device,
            dtype=spec.dtype,
            batch_size=spec.batch_size,
        )
    if spec.backend == "openai":
        from charter.backends.openai_compat import OpenAIChatModel

        if not spec.base_url:
            raise ConfigError(
                "backend openai needs base_url, e.g. http://localhost:8000/v1 (or a list of "
                "replicas)."
            )
        if name:
            raise ConfigError("backend openai needs the server's model name, not embedded:*.")
        return OpenAIChatModel(
            spec.model,
            base_url=spec.base_url,
            api_key_env=spec.api_key_env,
            concurrency=spec.concurrency,
            timeout=spec.timeout,
            max_retries=spec.max_retries,
            choice_ignore_case=spec.choice_ignore_case,
            choice_constraint=spec.choice_constraint,
        )
    from charter.backends.scripted import ScriptedChatModel

    return ScriptedChatModel(model_id=f"scripted:{spec.model}")


def load_embedder(spec: EmbedderSpec | None = None) -> Embedder:
    """Build the embedder a spec names (the default: the int8 ONNX MiniLM)."""
    spec = spec or EmbedderSpec()
    name = _embedded_name(spec.model)
    if spec.backend == "hashing":
        from charter.backends.scripted import HashingEmbedder

        return HashingEmbedder()
    if spec.backend == "onnx":
        from charter.backends.embedders import OnnxEmbedder

        if name not in (None, "minilm-int8"):
            raise ConfigError(
                f"embedder {spec.model!r}: the onnx backend runs embedded:minilm-int8."
            )
        if name:
            return OnnxEmbedder(
                emb.minilm_int8_path(),
                emb.minilm_dir(verify=False) / "tokenizer.json",
                model_id=_embedded_id("minilm-int8"),
            )
        if not spec.tokenizer:
            raise ConfigError(f"embedder {spec.model!r}: a custom .onnx model needs `tokenizer`.")
        return OnnxEmbedder(spec.model, spec.tokenizer)
    from charter.backends.embedders import SentenceTransformerEmbedder

    if name not in (None, "minilm"):
        raise ConfigError(
            f"embedder {spec.model!r}: sentence_transformers runs embedded:minilm or a folder."
        )
    folder = emb.minilm_dir() if name else spec.model
    return SentenceTransformerEmbedder(folder, model_id=_embedded_id("minilm") if name else None)
