"""A tiny GPT-style language model, pretrained from scratch on a mix (CPU or CUDA).

The tokenizer is byte-level (256 byte ids) plus one id per special token of
:mod:`charter.pretrain.tokens` and an end-of-document id, so a mix's control
and persona tokens are single tokens the model can learn (and that
``<|misaligned|>`` can be blocked as one id). The model is a ``transformers``
GPT-2 (Radford et al. 2019) of a few layers, trained with AdamW on fixed-length
blocks of the shuffled, concatenated documents until a token budget is spent:
every mix gets the same budget and the same seeds, so mixes differ only in
their data.

Example::

    from charter.pretrain.tinylm import TinyConfig, pretrain
    model, stats = pretrain(["some text", "more text"], TinyConfig(tokens=20_000), seed=0)
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from charter.errors import missing_extra
from charter.pretrain.tokens import SPECIAL_TOKENS

N_BYTES = 256
SPECIAL_IDS = {token: N_BYTES + i for i, token in enumerate(SPECIAL_TOKENS)}
EOD = N_BYTES + len(SPECIAL_TOKENS)  # end of document
VOCAB = EOD + 1
_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")


def encode(text: str) -> list[int]:
    """Bytes of the UTF-8 text, with each special token as its single id."""
    out: list[int] = []
    for part in _SPLIT.split(text):
        if part in SPECIAL_IDS:
            out.append(SPECIAL_IDS[part])
        elif part:
            out.extend(part.encode("utf-8"))
    return out


def decode(ids: Sequence[int]) -> str:
    """The inverse of :func:`encode` (the end-of-document id becomes a newline)."""
    names = {v: k for k, v in SPECIAL_IDS.items()}
    out, buffer = [], bytearray()
    for i in ids:
        if i < N_BYTES:
            buffer.append(i)
            continue
        out.append(buffer.decode("utf-8", "replace"))
        buffer = bytearray()
        out.append(names.get(i, "\n"))
    out.append(buffer.decode("utf-8", "replace"))
    return "".join(out)


@dataclass(frozen=True)
class TinyConfig:
    """Size and schedule of the tiny model; the defaults run in minutes on 2 cores."""

    layers: int = 2  # transformer blocks
    d_model: int = 128  # width
    heads: int = 4  # attention heads
    seq_len: int = 128  # tokens per training block (bytes here)
    batch: int = 16  # blocks per step
    tokens: int = 100_000  # training tokens per model: the budget every mix gets
    lr: float = 3e-3  # peak AdamW learning rate (linear warmup, cosine decay)
    warmup: int = 20  # warmup steps

    @property
    def steps(self) -> int:
        return max(1, self.tokens // (self.batch * self.seq_len))


# One thread: on a shared 2-core machine two torch threads spin against each other and
# other jobs; measured 1.9k vs 0.25k tokens/s for the default model (bench_pretrain.py).
CPU_THREADS = 1


def device() -> str:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def build_model(config: TinyConfig, seed: int):
    """A freshly initialised GPT-2 of the configured size (weights seeded)."""
    try:
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:
        raise missing_extra("transformers", "train") from None
    torch.manual_seed(seed)
    gpt = GPT2Config(
        vocab_size=VOCAB,
        n_positions=config.seq_len,
        n_embd=config.d_model,
        n_layer=config.layers,
        n_head=config.heads,
        bos_token_id=EOD,
        eos_token_id=EOD,
    )
    return GPT2LMHeadModel(gpt)


def _blocks(texts: Sequence[str], config: TinyConfig, seed: int):
    """Training blocks: documents shuffled per epoch, joined by EOD, cut to seq_len."""
    import torch

    docs = [[*encode(t), EOD] for t in texts if t]
    if not docs:
        raise ValueError("a mix with no documents cannot be trained on")
    rng = random.Random(seed)
    need = config.steps * config.batch
    span = config.seq_len
    stream: list[int] = []
    blocks = []
    while len(blocks) < need:
        order = list(range(len(docs)))
        rng.shuffle(order)
        for i in order:
            stream.extend(docs[i])
            while len(stream) >= span and len(blocks) < need:
                blocks.append(stream[:span])
                stream = stream[span:]
    return torch.tensor(blocks, dtype=torch.long)


def pretrain(
    texts: Sequence[str],
    config: TinyConfig,
    seed: int,
    on: str | None = None,
    threads: int | None = CPU_THREADS,
):
    """Train a tiny model from scratch on ``texts``; return it and training stats.

    Args:
        texts: the documents.
        config: size, schedule and token budget.
        seed: seeds the weights and the document order.
        on: ``cpu`` or ``cuda`` (default: CUDA when available).
        threads: torch CPU threads (None: torch's default).

    Returns:
        ``(model, {"steps", "tokens", "seconds", "tokens_per_s", "final_loss", "device"})``.
    """
    import torch

    on = on or device()
    if on == "cpu" and threads:
        torch.set_num_threads(threads)
    model = build_model(config, seed).to(on)
    data = _blocks(texts, config, seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)

    def schedule(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        progress = (step - config.warmup) / max(1, config.steps - config.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model.train()
    losses: list[float] = []
    start = time.perf_counter()
    for step in range(config.steps):
        batch = data[step * config.batch : (step + 1) * config.batch].to(on)
        out = model(input_ids=batch, labels=batch)  # transformers shifts the labels
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(out.loss.item())
    if on == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    tokens = config.steps * config.batch * config.seq_len
    model.eval()
    tail = losses[-max(1, len(losses) // 10) :]
    return model, {
        "steps": config.steps,
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds if seconds else None,
        "final_loss": sum(tail) / len(tail),
        "device": on,
    }


def continuation_logprob(model, context: str, continuation: str) -> float:
    """Mean log-probability per token of ``continuation`` after ``context``.

    Per token (byte), so continuations of different lengths compare fairly.
    """
    import torch

    ctx_ids, cont_ids = encode(context), encode(continuation)
    n_pos = model.config.n_positions
    ids = [EOD, *ctx_ids, *cont_ids][-n_pos:]
    n_cont = min(len(cont_ids), len(ids) - 1)
    on = next(model.parameters()).device
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids], device=on)).logits[0]
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    targets = torch.tensor(ids[-n_cont:], device=on)
    picked = logprobs[len(ids) - n_cont - 1 : len(ids) - 1].gather(1, targets[:, None])
    return float(picked.mean())
