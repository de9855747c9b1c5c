"""Model backends behind small protocols: chat generation, choice scoring, embeddings.

Backends: ``llama_cpp`` (the embedded defaults), ``transformers`` (any local
checkpoint or GGUF), ``openai`` (any OpenAI-compatible server) and
``scripted`` (deterministic, for tests). An ``openai`` model may list several
replicas of one served model (:mod:`charter.backends.replicas`). Build one from a spec with
:func:`load_chat_model` / :func:`load_embedder`.
"""

from charter.backends.base import (
    ChatModel,
    ChoiceScorer,
    Completion,
    Embedder,
    GenerateParams,
    Message,
    normalize_choices,
)
from charter.backends.batch import generate_many
from charter.backends.cache import CachedChatModel, RequestCache
from charter.backends.registry import EmbedderSpec, ModelSpec, load_chat_model, load_embedder
from charter.backends.replicas import ReplicaPool, ReplicaState
from charter.backends.scripted import HashingEmbedder, ScriptedChatModel

__all__ = [
    "CachedChatModel",
    "ChatModel",
    "ChoiceScorer",
    "Completion",
    "Embedder",
    "EmbedderSpec",
    "GenerateParams",
    "HashingEmbedder",
    "Message",
    "ModelSpec",
    "ReplicaPool",
    "ReplicaState",
    "RequestCache",
    "ScriptedChatModel",
    "generate_many",
    "load_chat_model",
    "load_embedder",
    "normalize_choices",
]
