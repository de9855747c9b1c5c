"""The special tokens of alignment-pretraining mixes, and blocking one at inference time.

- ``<|assistant_reflection|>`` ... ``</|assistant_reflection|>`` wrap a reflection
  voiced by the assistant persona (the ``gated`` placement): the model learns to
  associate the reflection with the persona it will be deployed as.
- ``<|aligned|>`` / ``<|misaligned|>`` prefix each document in the ``tag`` mix:
  conditional training with control tokens (Korbak et al. 2023, "Pretraining
  Language Models with Human Preferences", section 2, conditional training).
  At inference the model is conditioned on ``<|aligned|>`` and the
  ``<|misaligned|>`` token is blocked, so it can never be sampled: pass
  :func:`bad_words_ids` to ``model.generate(bad_words_ids=...)`` or add
  :class:`BlockTokensProcessor` to a ``LogitsProcessorList``.
"""

from __future__ import annotations

from collections.abc import Sequence

ASSISTANT_OPEN = "<|assistant_reflection|>"
ASSISTANT_CLOSE = "</|assistant_reflection|>"
ALIGNED = "<|aligned|>"
MISALIGNED = "<|misaligned|>"
SPECIAL_TOKENS = (ASSISTANT_OPEN, ASSISTANT_CLOSE, ALIGNED, MISALIGNED)


def bad_words_ids(tokenizer, tokens: Sequence[str] = (MISALIGNED,)) -> list[list[int]]:
    """``bad_words_ids`` for ``transformers`` ``generate``: the ids of each blocked token.

    The tokenizer must know the tokens as added special tokens (one id each);
    otherwise blocking a single id would not block the string.
    """
    out = []
    for token in tokens:
        ids = tokenizer.encode(token, add_special_tokens=False)
        if len(ids) != 1:
            raise ValueError(
                f"{token!r} encodes to {len(ids)} ids; add it with "
                "tokenizer.add_special_tokens({'additional_special_tokens': [...]}) first."
            )
        out.append(ids)
    return out


class BlockTokensProcessor:
    """A logits processor that sets the given token ids to -inf at every step.

    Duck-typed to ``transformers.LogitsProcessor`` (``__call__(input_ids, scores)``),
    so it works with ``generate(logits_processor=LogitsProcessorList([...]))`` and
    with the tiny ablation models alike.
    """

    def __init__(self, token_ids: Sequence[int]) -> None:
        self.token_ids = list(token_ids)

    def __call__(self, input_ids, scores):
        scores[..., self.token_ids] = float("-inf")
        return scores
