"""The llama.cpp backend (llama-cpp-python): the embedded models' default runtime.

Generation goes through ``Llama.create_chat_completion`` with the chat
template stored in the GGUF. Choice log-probabilities are read directly from
the logits of the last evaluated token: the prompt is evaluated once, then
each choice's tokens are scored one decode step at a time. This gives the
numbers of ``logits_all=True`` (to 1e-2 nats) without its n_ctx x vocab score
matrix (2.5 GB for Qwen2.5's 152k vocabulary at 4k context).

Every call starts from an empty KV cache. llama.cpp's logits shift by up to
~0.02 nats with how a prompt is split into batches, so reusing a cached
prefix would make a score or a sampled reply depend on the requests that came
before it; starting clean keeps each result a function of its own inputs and
seed only (``tests/backends/test_llama_cpp.py`` checks this).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from charter.backends.base import Completion, GenerateParams, Message, check_messages
from charter.errors import BackendError, ModelNotFoundError, missing_extra


class LlamaCppChatModel:
    """Chat model and choice scorer over a GGUF file.

    Args:
        path: the ``.gguf`` file.
        model_id: the id recorded in provenance (default: the file name).
        n_ctx: context window in tokens.
        threads: CPU threads (default: all cores; llama-cpp-python's own default
            is half of them, which halves generation speed on 2 cores).
        logits_all: keep logits for every token (only needed by callers that
            read ``Llama.create_completion(logprobs=...)`` themselves).
    """

    max_concurrency = 1

    def __init__(
        self,
        path: str | Path,
        model_id: str | None = None,
        n_ctx: int = 4096,
        threads: int | None = None,
        logits_all: bool = False,
    ) -> None:
        try:
            from llama_cpp import Llama, llama_chat_format
        except ImportError:
            raise missing_extra("llama-cpp-python", "llama") from None
        path = Path(path)
        if not path.is_file():
            raise ModelNotFoundError(f"{path}: no such GGUF file.")
        threads = threads or os.cpu_count() or 1
        try:
            self.llm = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                logits_all=logits_all,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"{path}: llama.cpp cannot load it ({exc}).") from None
        self.model_id = model_id or f"llama_cpp:{path.name}"
        self.n_vocab = self.llm.n_vocab()
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise BackendError(f"{path}: the GGUF has no chat template; choice scoring needs one.")
        vocab = self.llm._model  # token text of the special tokens the template may print
        self._formatter = llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=vocab.token_get_text(self.llm.token_eos()),
            bos_token=vocab.token_get_text(self.llm.token_bos()),
            add_generation_prompt=True,
        )

    def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        checked = check_messages(messages)
        self.llm.reset()  # no prefix reuse: results must not depend on earlier calls
        try:
            out = self.llm.create_chat_completion(
                messages=checked,
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                seed=params.seed,
                stop=list(params.stop) or None,
            )
        except ValueError as exc:  # e.g. the prompt exceeds the context window
            raise BackendError(f"{self.model_id}: {exc}") from None
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Completion(
            text=(choice["message"]["content"] or "").strip(),
            model_id=self.model_id,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
        )

    # -- choice log-probabilities ------------------------------------------------------
    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        """The tokens of the chat-formatted prompt, ending at the assistant's turn."""
        text = self._formatter(messages=check_messages(messages)).prompt
        return self.llm.tokenize(text.encode("utf-8"), special=True)

    def _continuation(self, prompt: list[int], choice: str) -> list[int]:
        # Tokenize prompt+choice together so merges at the boundary match what the
        # model would produce; fall back to the choice alone if the prefix shifts.
        text = self.llm.detokenize(prompt, special=True) + choice.encode("utf-8")
        full = self.llm.tokenize(text, add_bos=False, special=True)
        bos = prompt[:1] if prompt and full[:1] != prompt[:1] else []
        full = bos + full
        if full[: len(prompt)] == prompt and len(full) > len(prompt):
            return full[len(prompt) :]
        return self.llm.tokenize(choice.encode("utf-8"), add_bos=False, special=False)

    def _eval_prompt(self, tokens: list[int]) -> None:
        if len(tokens) >= self.llm.n_ctx():
            raise BackendError(
                f"{self.model_id}: the prompt has {len(tokens)} tokens, more than the "
                f"context window of {self.llm.n_ctx()}; shorten it or raise n_ctx."
            )
        self.llm.reset()
        self.llm.eval(tokens)

    def _last_logprobs(self) -> np.ndarray:
        logits = np.ctypeslib.as_array(self.llm._ctx.get_logits_ith(-1), shape=(self.n_vocab,))
        logits = logits.astype(np.float64)
        top = logits.max()
        return logits - top - math.log(np.exp(logits - top).sum())

    def choice_logprobs(self, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
        """Total log-probability of each choice's tokens as the start of the reply."""
        if not choices:
            raise BackendError("choices is empty; give at least two answer choices.")
        prompt = self.prompt_tokens(messages)
        self._eval_prompt(prompt)
        first = self._last_logprobs()
        n_prompt = self.llm.n_tokens
        results = []
        for choice in choices:
            tokens = self._continuation(prompt, choice)
            if not tokens:
                results.append(-math.inf)
                continue
            total, logprobs = 0.0, first
            for j, token in enumerate(tokens):
                total += float(logprobs[token])
                if j + 1 < len(tokens):
                    self.llm.eval([token])
                    logprobs = self._last_logprobs()
            self.llm.n_tokens = n_prompt  # drop this choice's tokens, keep the prompt
            results.append(total)
        return results
