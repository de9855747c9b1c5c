"""Shared fixtures: real embedded models (loaded once per session) and helpers."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def policy_llama():
    """The embedded SmolLM2 policy model on llama.cpp."""
    from charter.backends.registry import ModelSpec, load_chat_model

    return load_chat_model(ModelSpec(backend="llama_cpp", model="embedded:policy", n_ctx=2048))


@pytest.fixture(scope="session")
def feedback_llama():
    """The embedded Qwen2.5-Coder-1.5B feedback model on llama.cpp."""
    from charter.backends.registry import ModelSpec, load_chat_model

    return load_chat_model(ModelSpec(backend="llama_cpp", model="embedded:feedback", n_ctx=2048))
