"""Benchmarks of the alignment-pretraining path (issue 5).

1. ``throughput``: documents/s through the ``pretrain_classify`` + ``pretrain_reflect``
   stages (stores, provenance, fsync, progress) vs the raw backend calls for the
   very same requests (3 choice-scoring questions + 1 reflection per document),
   on a real embedded model. Target ratio >= 0.95.
2. ``ray``: Ray Data scaling from 1 to 2 actors on a CPU-bound scripted worker
   (pure-Python hashing, ~``--work-ms`` per document), local cluster. Target >= 1.7x.
3. ``train``: training tokens/s of the tiny GPT-2 at its default size: 1 torch
   thread vs torch's default threads on CPU, and CUDA when a GPU is present.

Run::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_pretrain.py --part all
    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_pretrain.py --part train   # on a GPU box
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

import yaml


def bench_throughput(docs: int, model: str) -> dict:
    from charter.backends.base import GenerateParams
    from charter.backends.registry import ModelSpec, load_chat_model
    from charter.constitution import load_constitution
    from charter.pretrain import prompts as pp
    from charter.pretrain.classify import OUTPUT
    from charter.pretrain.corpus import iter_documents
    from charter.pretrain.reflect import KIND_OF_LABEL, ReflectSpec, reflection_messages
    from charter.runs import run_experiment
    from charter.runs.store import read_jsonl

    spec = {"backend": "llama_cpp", "model": f"embedded:{model}", "n_ctx": 4096, "threads": 2}
    with tempfile.TemporaryDirectory() as tmp:
        config = {
            "name": "bench",
            "output_dir": f"{tmp}/run",
            "models": {"m": spec},
            "embedder": {"backend": "hashing"},
            "stages": [
                {"name": "classify", "kind": "pretrain_classify", "model": "m", "limit": docs,
                 "embedding": False},
                {"name": "reflect", "kind": "pretrain_reflect", "model": "m",
                 "styles": ["citation"], "max_tokens": 32, "temperature": 0.0},
            ],
        }  # fmt: skip
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(config))
        # Load the model once outside the timing, as the raw loop does.
        chat = load_chat_model(ModelSpec(**spec))
        import charter.runs.context as context

        original = context.load_chat_model
        context.load_chat_model = lambda s: chat
        try:
            start = time.perf_counter()
            run_experiment(path, progress=False)
            staged = time.perf_counter() - start
        finally:
            context.load_chat_model = original
        rows = list(read_jsonl(Path(tmp) / "run" / "classify" / OUTPUT))

    constitution = load_constitution("default")
    system = pp.CLASSIFY_SYSTEM.format(articles=pp.lettered_articles(constitution))
    letters = pp.article_choices(constitution)
    reflect_spec = ReflectSpec(name="reflect", model="m", max_tokens=32, temperature=0.0)
    texts = [d.text for d in iter_documents("builtin:sample", limit=docs)]
    by_text = {r["text"]: r for r in rows}
    start = time.perf_counter()
    for text in texts:
        for question, choices in (
            (pp.HARM_QUESTION, pp.HARM_CHOICES),
            (pp.SEVERITY_QUESTION, pp.SEVERITY_CHOICES),
            (pp.ARTICLE_QUESTION, letters),
        ):
            messages = [
                {"role": "system", "content": system},
                {"role": "user", "content": question.format(document=text)},
            ]
            chat.choice_logprobs(messages, list(choices))
        row = by_text[text]
        item = {"text": text, "article": row["articles"][0]["id"], "style": "citation",
                "kind": KIND_OF_LABEL[row["label"]]}  # fmt: skip
        chat.generate(
            reflection_messages(reflect_spec, constitution, item),
            GenerateParams(max_tokens=32, temperature=0.0, seed=1),
        )
    raw = time.perf_counter() - start
    return {
        "model": model,
        "documents": docs,
        "stage_docs_per_s": docs / staged,
        "raw_docs_per_s": docs / raw,
        "ratio": raw / staged,
    }


class _Burn:
    """A CPU-bound scripted worker: hash for about ``ms`` milliseconds per document."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds

    def __call__(self):
        rounds = self.rounds

        def fn(text: str) -> dict:
            digest = text.encode()
            for _ in range(rounds):
                digest = hashlib.sha256(digest).digest()
            return {"digest": digest.hex()}

        return fn


def bench_ray(docs: int, work_ms: float) -> dict:
    from charter.pretrain.engine import map_documents, start_ray

    probe = _Burn(20000)()
    start = time.perf_counter()
    probe("calibrate")
    rounds = max(1, int(20000 * work_ms / 1000 / (time.perf_counter() - start)))
    start_ray(2)
    items = [(str(i), f"document {i}") for i in range(docs)]
    out = {"documents": docs, "work_ms": work_ms}
    list(map_documents(_Burn(rounds), items[:4], "ray", workers=2, batch_size=1))  # warm up
    for workers in (1, 2):
        start = time.perf_counter()
        results = list(map_documents(_Burn(rounds), items, "ray", workers=workers, batch_size=2))
        assert len(results) == docs
        out[f"seconds_{workers}"] = time.perf_counter() - start
    out["speedup"] = out["seconds_1"] / out["seconds_2"]
    import ray

    ray.shutdown()
    return out


def bench_train() -> dict:
    import torch

    from charter.pretrain.corpus import iter_documents
    from charter.pretrain.tinylm import TinyConfig, pretrain

    texts = [d.text for d in iter_documents("builtin:sample")]
    config = TinyConfig(tokens=128 * 16 * 40)
    out: dict = {"config": config.__dict__}
    default_threads = torch.get_num_threads()  # read before pretrain() pins it to 1
    _, one = pretrain(texts, config, seed=0, on="cpu", threads=1)
    out["cpu_1_thread_tokens_per_s"] = one["tokens_per_s"]
    _, many = pretrain(texts, config, seed=0, on="cpu", threads=default_threads)
    out[f"cpu_{default_threads}_threads_tokens_per_s"] = many["tokens_per_s"]
    out["ratio_1_thread_over_default"] = one["tokens_per_s"] / many["tokens_per_s"]
    if torch.cuda.is_available():
        big = TinyConfig(tokens=128 * 16 * 400)
        _, gpu = pretrain(texts, big, seed=0, on="cuda")
        out["cuda_tokens_per_s"] = gpu["tokens_per_s"]
        out["cuda_device"] = torch.cuda.get_device_name(0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["all", "throughput", "ray", "train"], default="all")
    parser.add_argument("--docs", type=int, default=8, help="documents (throughput)")
    parser.add_argument("--model", default="policy", choices=["policy", "feedback"])
    parser.add_argument("--ray-docs", type=int, default=40)
    parser.add_argument("--work-ms", type=float, default=100.0)
    args = parser.parse_args()
    results = {}
    if args.part in ("all", "train"):
        results["train"] = bench_train()
        print(json.dumps({"train": results["train"]}, indent=2), flush=True)
    if args.part in ("all", "throughput"):
        results["throughput"] = bench_throughput(args.docs, args.model)
        print(json.dumps({"throughput": results["throughput"]}, indent=2), flush=True)
    if args.part in ("all", "ray"):
        results["ray"] = bench_ray(args.ray_docs, args.work_ms)
        print(json.dumps({"ray": results["ray"]}, indent=2), flush=True)


if __name__ == "__main__":
    main()
