"""Charter's backends as an Inspect AI model provider: ``charter/<name>``.

Inspect AI (UK AISI) finds model providers registered with ``@modelapi``.
Importing this module registers the ``charter`` provider; the package's
``[project.entry-points.inspect_ai]`` entry (``charter =
"charter.evals.inspect_provider"``) makes ``inspect eval ... --model
charter/embedded-policy`` work without an import. Names:

- ``charter/embedded-policy``, ``charter/embedded-feedback``: the embedded
  models on llama.cpp (``-M n_ctx=8192`` and ``-M threads=2`` pass through to
  :class:`charter.backends.ModelSpec`).
- ``charter/scripted``: the deterministic scripted backend (echoes the last
  user message), for offline smoke tests.
- ``charter/<name>`` for a model registered in-process with
  :func:`register_chat_model` (how tests and ``charter eval`` hand Inspect a
  model they already loaded).
- ``charter/gguf:<path>``: any GGUF file on llama.cpp.

Every output carries its own token usage (from the backend, else a
characters/4 estimate): Inspect's default counter uses tiktoken, which tries to
download an encoding and fails offline.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from charter.backends.base import ChatModel, GenerateParams, Message
from charter.backends.registry import ModelSpec, load_chat_model
from charter.backends.scripted import ScriptedChatModel
from charter.errors import ConfigError

PROVIDER = "charter"
_REGISTERED: dict[str, ChatModel] = {}
_LOADED: dict[str, ChatModel] = {}
_LOCK = threading.Lock()


_MODEL_LOCKS: dict[int, threading.RLock] = {}


def model_lock(model: object) -> threading.RLock:
    """The one lock every Inspect caller holds while using ``model``.

    A local model's KV cache is not thread-safe, and the same model can be both
    the solver's model and a scorer's judge (or its reference model: the lock
    is reentrant, so a scorer may hold it once per role).
    """
    with _LOCK:
        return _MODEL_LOCKS.setdefault(id(model), threading.RLock())


def register_chat_model(name: str, model: ChatModel) -> str:
    """Make ``model`` reachable in Inspect as ``charter/<name>``; return that full name."""
    _REGISTERED[name] = model
    return f"{PROVIDER}/{name}"


def resolve_chat_model(name: str, **model_args: Any) -> ChatModel:
    """The Charter chat model a ``charter/<name>`` model name stands for (loaded once)."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name == "scripted":
        return ScriptedChatModel(model_id="scripted:echo")
    spec_args = {k: v for k, v in model_args.items() if k in ModelSpec.model_fields}
    if name in ("embedded-policy", "embedded-feedback"):
        spec = ModelSpec(model="embedded:" + name.removeprefix("embedded-"), **spec_args)
    elif name.startswith("gguf:"):
        spec = ModelSpec(model=name.removeprefix("gguf:"), **spec_args)
    else:
        raise ConfigError(
            f"model charter/{name}: use charter/embedded-policy, charter/embedded-feedback, "
            "charter/scripted, charter/gguf:<path>, or register_chat_model() first."
        )
    key = spec.model_dump_json()
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = load_chat_model(spec)
        return _LOADED[key]


def to_messages(chat: list[ChatMessage]) -> list[Message]:
    """Inspect messages as Charter's ``{"role", "content"}`` dicts.

    Tool results have no role in Charter's backends; they are shown to the
    model as user turns, which is what a chat template without tools would do.
    """
    out = []
    for message in chat:
        role = message.role if message.role in ("system", "user", "assistant") else "user"
        out.append({"role": role, "content": message.text})
    return out


def estimate_tokens(text: str) -> int:
    """About four characters per token: Inspect needs a count; tiktoken is not offline."""
    return max(1, len(text) // 4)


class CharterModelAPI(ModelAPI):
    """An Inspect ``ModelAPI`` over any Charter :class:`~charter.backends.ChatModel`."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        self.chat_model = model_args.pop("chat_model", None) or resolve_chat_model(
            model_name, **model_args
        )
        self._lock = model_lock(self.chat_model)

    def max_connections(self) -> int:
        return int(getattr(self.chat_model, "max_concurrency", 1))

    def connection_key(self) -> str:
        return self.model_name

    async def count_text_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        messages = to_messages(input)
        params = GenerateParams(
            max_tokens=config.max_tokens or 256,
            temperature=0.7 if config.temperature is None else config.temperature,
            top_p=0.95 if config.top_p is None else config.top_p,
            seed=config.seed,
            stop=tuple(config.stop_seqs or ()),
        )

        def call() -> Any:
            with self._lock:
                return self.chat_model.generate(messages, params)

        completion = await anyio.to_thread.run_sync(call)
        output = ModelOutput.from_content(
            model=completion.model_id,
            content=completion.text,
            stop_reason="max_tokens" if completion.finish_reason == "length" else "stop",
        )
        prompt_tokens = completion.prompt_tokens or sum(
            estimate_tokens(m["content"]) for m in messages
        )
        output_tokens = completion.completion_tokens or estimate_tokens(completion.text)
        output.usage = ModelUsage(
            input_tokens=prompt_tokens,
            output_tokens=output_tokens,
            total_tokens=prompt_tokens + output_tokens,
        )
        return output


@modelapi(name=PROVIDER)
def charter_provider() -> type[ModelAPI]:
    """The ``charter`` provider (registered on import; see the module docstring)."""
    return CharterModelAPI
