"""Benchmarks of the alignment-pretraining path (issue 5).

1. ``throughput``: documents/s through the ``pretrain_classify`` + ``pretrain_reflect``
   stages (stores, provenance, fsync, progress) vs the raw backend calls for the
   very same requests in the same order (3 choice-scoring questions per document,
   then 1 reflection per document),
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


def bench_throughput(docs: int, model: str, rounds: int = 3, threads: int = 1) -> dict:
    import statistics

    from charter.backends.registry import ModelSpec, load_chat_model

    spec = {"backend": "llama_cpp", "model": f"embedded:{model}", "n_ctx": 4096,
            "threads": threads}  # fmt: skip
    # Load the model once outside the timing, as the raw loop does; the stages get it
    # through a patched loader.
    chat = load_chat_model(ModelSpec(**spec))
    import charter.runs.context as context

    original = context.load_chat_model
    context.load_chat_model = lambda s: chat
    try:
        # An untimed run warms the model and gives the raw loop its articles.
        _, rows = _staged(spec, docs)
        by_text = {r["text"]: r for r in rows}
        staged, raw = [], []
        interleaved = _raw(chat, docs, by_text, interleaved=True)
        for r in range(rounds):
            # Alternate which side goes first, so drift on a noisy machine cancels.
            for side in ("staged", "raw") if r % 2 == 0 else ("raw", "staged"):
                if side == "staged":
                    staged.append(_staged(spec, docs)[0])
                else:
                    raw.append(_raw(chat, docs, by_text))
    finally:
        context.load_chat_model = original
    ratios = [r / s for s, r in zip(staged, raw, strict=True)]
    return {
        "model": model,
        "documents": docs,
        "threads": threads,
        "rounds": rounds,
        "stage_docs_per_s": [docs / s for s in staged],
        "raw_docs_per_s": [docs / r for r in raw],
        "ratios": ratios,
        "ratio_median": statistics.median(ratios),
        "ratio_of_totals": sum(raw) / sum(staged),
        "raw_interleaved_docs_per_s": docs / interleaved,
    }


def _staged(spec: dict, docs: int) -> tuple[float, list[dict]]:
    """Time ``pretrain_classify`` + ``pretrain_reflect`` in a fresh run folder."""
    from charter.pretrain.classify import OUTPUT
    from charter.runs import run_experiment
    from charter.runs.store import read_jsonl

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
        start = time.perf_counter()
        run_experiment(path, progress=False)
        seconds = time.perf_counter() - start
        return seconds, list(read_jsonl(Path(tmp) / "run" / "classify" / OUTPUT))


def _raw(chat, docs: int, by_text: dict[str, dict], interleaved: bool = False) -> float:
    """Time the same requests made directly: 3 choice questions + 1 reflection per document.

    By default in the stages' order (every document's questions, then every
    reflection); ``interleaved`` asks each document's reflection right after its
    questions, which loses llama.cpp's prompt-prefix reuse between requests.
    """
    from charter.backends.base import GenerateParams
    from charter.constitution import load_constitution
    from charter.pretrain import prompts as pp
    from charter.pretrain.corpus import iter_documents
    from charter.pretrain.reflect import KIND_OF_LABEL, ReflectSpec, reflection_messages

    constitution = load_constitution("default")
    system = pp.CLASSIFY_SYSTEM.format(articles=pp.lettered_articles(constitution))
    letters = pp.article_choices(constitution)
    reflect_spec = ReflectSpec(name="reflect", model="m", max_tokens=32, temperature=0.0)
    texts = [d.text for d in iter_documents("builtin:sample", limit=docs)]

    def classify(text: str) -> None:
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

    def reflect(text: str) -> None:
        row = by_text[text]
        item = {"text": text, "article": row["articles"][0]["id"], "style": "citation",
                "kind": KIND_OF_LABEL[row["label"]]}  # fmt: skip
        chat.generate(
            reflection_messages(reflect_spec, constitution, item),
            GenerateParams(max_tokens=32, temperature=0.0, seed=1),
        )

    start = time.perf_counter()
    if interleaved:
        for text in texts:
            classify(text)
            reflect(text)
    else:
        for text in texts:
            classify(text)
        for text in texts:
            reflect(text)
    return time.perf_counter() - start


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
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (throughput)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (throughput)")
    parser.add_argument("--ray-docs", type=int, default=96)
    parser.add_argument("--work-ms", type=float, default=250.0)
    args = parser.parse_args()
    results = {}
    if args.part in ("all", "train"):
        results["train"] = bench_train()
        print(json.dumps({"train": results["train"]}, indent=2), flush=True)
    if args.part in ("all", "throughput"):
        results["throughput"] = bench_throughput(args.docs, args.model, args.rounds, args.threads)
        print(json.dumps({"throughput": results["throughput"]}, indent=2), flush=True)
    if args.part in ("all", "ray"):
        results["ray"] = bench_ray(args.ray_docs, args.work_ms)
        print(json.dumps({"ray": results["ray"]}, indent=2), flush=True)


if __name__ == "__main__":
    main()
