"""The llama.cpp backend (llama-cpp-python): the embedded models' default runtime.

Prompts are formatted with the chat template stored in the GGUF and tokenized
exactly as llama-cpp-python's chat handler does, so replies equal those of
``Llama.create_chat_completion`` token for token.

**Reproducible prefix reuse.** llama.cpp's logits shift by up to ~0.02 nats
with how a prompt is split into batches, so naive KV-cache reuse makes a reply
or a score depend on the requests that came before it. Here every prompt is
evaluated in blocks at fixed absolute positions (16 tokens wide up to
position 64, then 64 wide), and a cached block is reused only if it and
everything before it match and were computed the same way; a final partial
block is always recomputed. Each result is then a function of its own inputs
and seed only (``tests/backends/test_llama_cpp.py`` checks this), and a
shared system prompt or few-shot scaffold is still paid for once.

Choice log-probabilities are read from the logits of the last evaluated token,
then each choice's tokens are scored one decode step at a time: the numbers of
``logits_all=True`` (to batch-split rounding, < 0.1 nat) without its n_ctx x vocab score matrix
(2.5 GB for Qwen2.5's 152k vocabulary at 4k context).
"""

from __future__ import annotations

import atexit
import math
import os
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

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
        prefix_cache: ``"reproducible"`` (default) reuses only whole fixed blocks,
            so results never depend on earlier requests; ``"fast"`` uses
            llama.cpp's own longest-prefix reuse (a little faster on short
            prompts, but scores may move ~0.02 nats with request history).
    """

    max_concurrency = 1

    def __init__(
        self,
        path: str | Path,
        model_id: str | None = None,
        n_ctx: int = 4096,
        threads: int | None = None,
        logits_all: bool = False,
        prefix_cache: Literal["reproducible", "fast"] = "reproducible",
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
        if prefix_cache not in ("reproducible", "fast"):
            raise BackendError(f"prefix_cache {prefix_cache!r}: use 'reproducible' or 'fast'.")
        _OPEN.add(self)
        self.prefix_cache = prefix_cache
        self._reusable = 0  # prompt tokens whose KV came from whole blocks
        self._block_tokens: list[int] = []
        self._n_after_prefill = -1

    def close(self) -> None:
        """Free the model and its context now (idempotent).

        Left to ``Llama.__del__`` at interpreter exit, the free runs after
        llama_cpp's own module globals are gone and prints a ``TypeError``
        traceback; closing here (or at exit, see :func:`_close_all`) avoids it.
        """
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.close()
        _OPEN.discard(self)

    def __enter__(self) -> LlamaCppChatModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        tokens = self.prompt_tokens(messages)
        if self.prefix_cache == "reproducible":
            # With the whole prompt evaluated, llama.cpp samples from these logits at once.
            self._prefill(tokens)
        try:
            out = self.llm.create_completion(
                prompt=tokens,
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                seed=params.seed,
                stop=list(params.stop) or None,
            )
        except ValueError as exc:  # e.g. the prompt exceeds the context window
            raise BackendError(f"{self.model_id}: {exc}") from None
        self._record_cache_length()
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Completion(
            text=(choice["text"] or "").strip(),
            model_id=self.model_id,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
        )

    # -- prompt evaluation with reproducible block reuse -------------------------------
    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        """The tokens of the chat-formatted prompt, ending at the assistant's turn."""
        text = self._formatter(messages=check_messages(messages)).prompt
        # As llama-cpp-python's chat handler: the template already wrote any BOS.
        tokens = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) >= self.llm.n_ctx():
            raise BackendError(
                f"{self.model_id}: the prompt has {len(tokens)} tokens, more than the "
                f"context window of {self.llm.n_ctx()}; shorten it or raise n_ctx."
            )
        return tokens

    def _prefill(self, tokens: list[int]) -> None:
        """Evaluate ``tokens`` in fixed blocks, reusing matching blocks from the cache."""
        if self.prefix_cache == "fast":
            cached = self.llm.input_ids[: self.llm.n_tokens].tolist()
            keep = next(
                (i for i, (a, b) in enumerate(zip(cached, tokens, strict=False)) if a != b),
                min(len(cached), len(tokens)),
            )
            self.llm.n_tokens = min(keep, len(tokens) - 1)  # evaluate >= 1 token for logits
            self.llm.eval(tokens[self.llm.n_tokens :])
            return
        keep = 0
        if self.llm.n_tokens == self._n_after_prefill:  # nobody else touched the cache
            # The block holding the last token is always recomputed: its logits are
            # the ones read next, and the cache holds logits of a later token.
            limit = min(self._reusable, len(tokens) - 1)
            for start, end in _blocks(len(tokens)):
                if end > limit or self._block_tokens[start:end] != tokens[start:end]:
                    break
                keep = end
        self.llm.n_tokens = keep
        reusable = keep
        for start, end in _blocks(len(tokens)):
            if end <= keep:
                continue
            self.llm.eval(tokens[start:end])
            if end - start == _block_width(start):
                reusable = end
        self._reusable = reusable
        self._block_tokens = list(tokens[:reusable])
        self._n_after_prefill = self.llm.n_tokens

    def _record_cache_length(self) -> None:
        # Generated tokens were decoded one by one past the prompt; blocks up to
        # `_reusable` are still valid, and the cache length now differs, so the
        # next prefill truncates back to them.
        self._n_after_prefill = self.llm.n_tokens

    # -- choice log-probabilities ------------------------------------------------------
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
        self._prefill(prompt)
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
        self._record_cache_length()
        return results


_SMALL, _SMALL_UPTO, _LARGE = 16, 64, 64


def _block_width(start: int) -> int:
    return _SMALL if start < _SMALL_UPTO else _LARGE


def _blocks(n: int) -> list[tuple[int, int]]:
    """``[start, end)`` of the fixed evaluation blocks covering ``n`` tokens."""
    out, start = [], 0
    while start < n:
        end = min(start + _block_width(start), n)
        out.append((start, end))
        start = end
    return out


# Every model still open, closed at exit before the interpreter tears modules down.
_OPEN: weakref.WeakSet[LlamaCppChatModel] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for model in list(_OPEN):
        model.close()
