"""Sentence embedders: all-MiniLM-L6-v2 in float32 (sentence-transformers) and int8 ONNX.

Both give 384-d, L2-normalised vectors: mean pooling over the last hidden
state with the attention mask, as all-MiniLM-L6-v2 was trained (Reimers and
Gurevych 2019). The ONNX variant runs the int8 export with onnxruntime and the
same ``tokenizer.json``, so it needs neither torch nor transformers.
``bench/bench_backends.py`` measures both and their agreement.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from charter.backends.base import l2_normalize
from charter.errors import BackendError, missing_extra

MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length in sentence-transformers


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder."""

    def __init__(
        self, folder: str | Path, model_id: str | None = None, batch_size: int = 64
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise missing_extra(exc.name or "sentence-transformers", "hf") from None
        folder = Path(folder)
        if not folder.is_dir():
            raise BackendError(f"{folder}: no such sentence-transformers folder.")
        self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        self.dim = int(self._model.get_embedding_dimension())
        self.model_id = model_id or f"sentence-transformers:{folder}"
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class OnnxEmbedder:
    """A BERT-style ONNX encoder with mean pooling (the int8 MiniLM by default)."""

    def __init__(
        self,
        model_path: str | Path,
        tokenizer_path: str | Path,
        model_id: str | None = None,
        batch_size: int = 64,
        threads: int | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise missing_extra(exc.name or "onnxruntime", "onnx") from None
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.dim = int(self._session.get_outputs()[0].shape[-1])
        self.model_id = model_id or f"onnx:{model_path}"
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Batch texts of similar length together (as sentence-transformers does), so
        # little compute goes to padding; the rows are put back in input order.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = self._tokenizer.encode_batch([texts[i] for i in rows])
            ids = np.array([e.ids for e in batch], dtype=np.int64)
            mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[rows] = l2_normalize(pooled)
        return out
