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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from charter.backends.base import Completion, GenerateParams, Message, check_messages
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
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype), **kwargs)
    except (OSError, ValueError) as exc:
        raise BackendError(f"{path}: transformers cannot load it ({exc}).") from None
    if gguf_file and getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


class TransformersChatModel:
    """Chat model and choice scorer over a transformers causal LM.

    Args:
        path: a checkpoint folder, or a ``.gguf`` file.
        gguf_file: the GGUF file name inside ``path`` (alternative to a file path).
        model_id: the id recorded in provenance (default: the path).
        threads: torch intra-op threads (None keeps torch's default).
    """

    max_concurrency = 1

    def __init__(
        self,
        path: str | Path,
        gguf_file: str | None = None,
        model_id: str | None = None,
        threads: int | None = None,
    ) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.model, self.tokenizer = load_hf(path, gguf_file)
        self.model_id = model_id or f"transformers:{path}"
        self._torch = torch

    def _prompt_ids(self, messages: Sequence[Message]):
        ids = self.tokenizer.apply_chat_template(
            check_messages(messages),
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        return ids["input_ids"]

    def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        torch = self._torch
        input_ids = self._prompt_ids(messages)
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
            output = self.model.generate(
                input_ids, attention_mask=torch.ones_like(input_ids), **gen_kwargs
            )
        new = output[0, input_ids.shape[1] :]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        for stop in params.stop:
            text = text.split(stop, 1)[0]
        finished = bool(len(new)) and int(new[-1]) == self.tokenizer.eos_token_id
        return Completion(
            text=text.strip(),
            model_id=self.model_id,
            finish_reason="stop" if finished or len(new) < params.max_tokens else "length",
            prompt_tokens=int(input_ids.shape[1]),
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
                choice_ids = ids["input_ids"][0]
                if len(choice_ids) == 0:
                    out.append(-math.inf)
                    continue
                full = torch.cat([prompt, choice_ids]).unsqueeze(0)
                logits = self.model(full).logits[0, len(prompt) - 1 : -1]
                logp = torch.log_softmax(logits.float(), dim=-1)
                out.append(float(logp.gather(1, choice_ids.unsqueeze(1)).sum()))
        return out
