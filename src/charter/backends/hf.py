"""The transformers backend: any local checkpoint folder, or a GGUF file.

Loads with ``AutoModelForCausalLM.from_pretrained(folder)``; a GGUF file is
loaded with ``gguf_file=`` (dequantised to float32), which is how the embedded
SmolLM2 policy becomes trainable. Right after a GGUF load the quantisation
config is removed, because TRL and ``save_pretrained`` refuse GGUF-flagged
models even though their weights are plain float32 (see shared/stack/README).
Nothing is fetched from a hub: ``local_files_only=True`` always.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from charter._util.progress import quiet_libraries
from charter.backends.base import Completion, GenerateParams, Message, check_messages
from charter.backends.microbatch import MicroBatcher
from charter.errors import BackendError, ModelNotFoundError, missing_extra


def load_hf(path: str | Path, gguf_file: str | None = None, dtype: str = "float32"):
    """Load ``(model, tokenizer)`` from a local folder or GGUF file, offline."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise missing_extra(exc.name or "transformers", "hf") from None
    path = Path(path)
    if path.is_file() and path.suffix == ".gguf":
        gguf_file, path = path.name, path.parent
    if not path.is_dir():
        raise ModelNotFoundError(
            f"{path}: no such model folder; give a local checkpoint folder or a .gguf file."
        )
    kwargs: dict[str, Any] = {"local_files_only": True}
    if gguf_file:
        if not (path / gguf_file).is_file():
            raise ModelNotFoundError(f"{path / gguf_file}: no such GGUF file.")
        kwargs["gguf_file"] = gguf_file
    try:
        with quiet_libraries(), _quiet_gguf(bool(gguf_file)):  # no bars between Charter's
            tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(
                path, dtype=getattr(torch, dtype), **kwargs
            )
    except (OSError, ValueError) as exc:
        raise BackendError(f"{path}: transformers cannot load it ({exc}).") from None
    if gguf_file and getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


@contextmanager
def _quiet_gguf(active: bool) -> Iterator[None]:
    """Hide transformers' "de-quantizing GGUF tensors" bar during one load.

    That bar is a plain ``tqdm`` imported into transformers' GGUF module, so
    transformers' own ``disable_progress_bar`` does not reach it; the module's
    name is pointed at a disabled ``tqdm`` and restored afterwards.
    """
    if not active:
        yield
        return
    from tqdm.auto import tqdm
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    was = getattr(gguf_utils, "tqdm", None)
    gguf_utils.tqdm = partial(tqdm, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = was


class TransformersChatModel:
    """Chat model and choice scorer over a transformers causal LM.

    Args:
        path: a checkpoint folder, or a ``.gguf`` file.
        gguf_file: the GGUF file name inside ``path`` (alternative to a file path).
        model_id: the id recorded in provenance (default: the path).
        threads: torch intra-op threads (None keeps torch's default).
        device: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda``, ``cuda:1``...
        dtype: ``auto`` (bfloat16 on a GPU that supports it, else float32) or a torch dtype name.
        batch_size: above 1, concurrent requests are micro-batched into one padded
            ``generate`` call (:mod:`charter.backends.microbatch`): much faster on a
            GPU, but sampled text then depends on which requests shared a batch.
    """

    def __init__(
        self,
        path: str | Path,
        gguf_file: str | None = None,
        model_id: str | None = None,
        threads: int | None = None,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 1,
    ) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            gpu_bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
            dtype = "bfloat16" if gpu_bf16 else "float32"
        self.model, self.tokenizer = load_hf(path, gguf_file, dtype=dtype)
        self.model.to(device)
        self.device = device
        # Left padding keeps every prompt's last token at the end, where generation starts.
        self.tokenizer.padding_side = "left"
        self.model_id = model_id or f"transformers:{path}"
        self._torch = torch
        self.max_concurrency = batch_size
        self._batcher = MicroBatcher(self.generate_batch, batch_size) if batch_size > 1 else None

    def _prompt_ids(self, messages: Sequence[Message]):
        ids = self.tokenizer.apply_chat_template(
            check_messages(messages),
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        return ids["input_ids"].to(self.device)

    def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        if self._batcher is not None:
            return self._batcher.submit(check_messages(messages), params)
        return self.generate_batch([messages], params)[0]

    def generate_batch(
        self, conversations: Sequence[Sequence[Message]], params: GenerateParams
    ) -> list[Completion]:
        """Generate for several conversations in one padded call, under one seed."""
        torch = self._torch
        texts = [
            self.tokenizer.apply_chat_template(
                check_messages(m), add_generation_prompt=True, tokenize=False
            )
            for m in conversations
        ]
        batch = self.tokenizer(
            texts, return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self.device)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        sample = params.temperature > 0
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_tokens,
            "do_sample": sample,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if sample:
            gen_kwargs.update(temperature=params.temperature, top_p=params.top_p)
        if params.stop:
            gen_kwargs["stop_strings"] = list(params.stop)
            gen_kwargs["tokenizer"] = self.tokenizer
        with torch.inference_mode():
            output = self.model.generate(**batch, **gen_kwargs)
        width = batch["input_ids"].shape[1]
        prompt_lengths = batch["attention_mask"].sum(dim=1).tolist()
        return [
            self._completion(output[i, width:].tolist(), int(prompt_lengths[i]), params)
            for i in range(len(texts))
        ]

    def _completion(self, new: list[int], prompt_tokens: int, params: GenerateParams) -> Completion:
        eos, pad = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id
        # In a batch, rows that finish early are padded (pad may equal eos): cut at the first eos.
        finished = eos in new
        if finished:
            new = new[: new.index(eos) + 1]
        while new and pad != eos and new[-1] == pad:
            new.pop()
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        for stop in params.stop:
            text = text.split(stop, 1)[0]
        return Completion(
            text=text.strip(),
            model_id=self.model_id,
            finish_reason="stop" if finished or len(new) < params.max_tokens else "length",
            prompt_tokens=prompt_tokens,
            completion_tokens=len(new),
        )

    def choice_logprobs(self, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
        """Sum of token log-probs of each choice after the generation prompt."""
        torch = self._torch
        if not choices:
            raise BackendError("choices is empty; give at least two answer choices.")
        prompt = self._prompt_ids(messages)[0]
        out = []
        with torch.inference_mode():
            for choice in choices:
                ids = self.tokenizer(choice, add_special_tokens=False, return_tensors="pt")
                choice_ids = ids["input_ids"][0].to(self.device)
                if len(choice_ids) == 0:
                    out.append(-math.inf)
                    continue
                full = torch.cat([prompt, choice_ids]).unsqueeze(0)
                logits = self.model(full).logits[0, len(prompt) - 1 : -1]
                logp = torch.log_softmax(logits.float(), dim=-1)
                out.append(float(logp.gather(1, choice_ids.unsqueeze(1)).sum()))
        return out
