"""Backend benchmarks: wrapper overhead vs the raw library call, and throughput.

Run: ``make bench`` (or ``HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_backends.py``).

Every comparison runs the wrapper and the raw call on the same prompts in the
same process, interleaved A/B then B/A over several rounds, and reports the
median ratio (wrapper time / raw time), because these machines are noisy.
Generation uses greedy decoding with a fixed token budget so both sides do the
same work; the ratio is of seconds per generated token.

Measures:
- llama.cpp wrapper vs ``Llama.create_chat_completion`` (policy and feedback models)
- transformers wrapper vs ``model.generate`` (policy model, GGUF dequantised)
- openai wrapper vs raw ``httpx`` POSTs to a llama.cpp server (same concurrency)
- embedders: wrapper vs raw call, embeddings/s, and int8-vs-float32 agreement
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import numpy as np

from charter._util.net import llama_server
from charter.backends import EmbedderSpec, GenerateParams, ModelSpec, load_chat_model
from charter.backends import embedded as emb
from charter.backends.registry import load_embedder
from charter.constitution import load_constitution
from charter.prompts import load_prompts


def interleaved(a: Callable[[], float], b: Callable[[], float], rounds: int) -> list[float]:
    """Ratios a/b over rounds, alternating which runs first. Each callable returns a cost."""
    ratios = []
    for r in range(rounds):
        if r % 2 == 0:
            ca, cb = a(), b()
        else:
            cb, ca = b(), a()
        ratios.append(ca / cb)
    return ratios


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    n = fn()
    return time.perf_counter() - start, n


def messages_for(prompts):
    return [[{"role": "user", "content": p.prompt}] for p in prompts]


def bench_llama(
    name: str, prompts, max_tokens: int, rounds: int, system: str | None = None, label: str = ""
) -> dict:
    """Raw ``create_chat_completion`` vs the wrapper in both prefix-cache modes.

    Each variant has its own ``Llama`` instance, so none disturbs another's KV cache.
    """
    reproducible = load_chat_model(ModelSpec(backend="llama_cpp", model=f"embedded:{name}"))
    fast = load_chat_model(
        ModelSpec(backend="llama_cpp", model=f"embedded:{name}", prefix_cache="fast")
    )
    raw_llm = load_chat_model(ModelSpec(backend="llama_cpp", model=f"embedded:{name}")).llm
    params = GenerateParams(max_tokens=max_tokens, temperature=0.0, seed=0)
    convos = [
        ([{"role": "system", "content": system}] if system else []) + m
        for m in messages_for(prompts)
    ]

    def wrapper(model) -> Callable[[], tuple[float, int]]:
        return lambda: timed(
            lambda: sum(model.generate(m, params).completion_tokens for m in convos)
        )

    def raw() -> tuple[float, int]:
        def run() -> int:
            total = 0
            for m in convos:
                out = raw_llm.create_chat_completion(
                    messages=m, max_tokens=max_tokens, temperature=0.0, seed=0
                )
                total += out["usage"]["completion_tokens"]
            return total

        return timed(run)

    variants = {"raw": raw, "reproducible": wrapper(reproducible), "fast": wrapper(fast)}
    for fn in variants.values():
        fn()  # warm up: caches hold the shared prefix, as in a long pipeline
    costs: dict[str, list[float]] = {k: [] for k in variants}
    totals: dict[str, list[tuple[float, int]]] = {k: [] for k in variants}
    order = list(variants)
    for r in range(rounds):
        for key in order[r % 3 :] + order[: r % 3]:  # rotate who goes first
            seconds, tokens = variants[key]()
            costs[key].append(seconds / tokens)
            totals[key].append((seconds, tokens))
    ratio = {
        k: statistics.median(c / r for c, r in zip(costs[k], costs["raw"], strict=True))
        for k in ("reproducible", "fast")
    }
    seconds = sum(s for s, _ in totals["reproducible"])
    tokens = sum(t for _, t in totals["reproducible"])
    return {
        "backend": f"llama_cpp ({name}){label}",
        "ratio_median": ratio["reproducible"],
        "ratio_fast_median": ratio["fast"],
        "tokens_per_s": tokens / seconds,
        "prompts": len(convos),
        "max_tokens": max_tokens,
    }


def bench_transformers(prompts, max_tokens: int, rounds: int) -> dict:
    import torch

    model = load_chat_model(ModelSpec(backend="transformers", model="embedded:policy"))
    hf, tok = model.model, model.tokenizer
    params = GenerateParams(max_tokens=max_tokens, temperature=0.0)
    convos = messages_for(prompts)

    def wrapper() -> int:
        return sum(model.generate(m, params).completion_tokens for m in convos)

    def raw() -> int:
        total = 0
        for m in convos:
            ids = tok.apply_chat_template(
                m, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )["input_ids"]
            with torch.inference_mode():
                out = hf.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=max_tokens,
                    do_sample=False,
                    pad_token_id=tok.pad_token_id,
                )
            total += out.shape[1] - ids.shape[1]
        return total

    def cost(fn):
        def run() -> float:
            seconds, tokens = timed(fn)
            return seconds / tokens

        return run

    wrapper()
    ratios = interleaved(cost(wrapper), cost(raw), rounds)
    seconds, tokens = timed(wrapper)
    return {
        "backend": "transformers (policy, GGUF->fp32)",
        "ratio_median": statistics.median(ratios),
        "ratios": ratios,
        "tokens_per_s": tokens / seconds,
        "prompts": len(convos),
        "max_tokens": max_tokens,
    }


def bench_openai(prompts, max_tokens: int, rounds: int, concurrency: int = 2) -> dict:
    from charter.backends import generate_many

    with llama_server(emb.policy_model_path(), "smol") as url:
        model = load_chat_model(
            ModelSpec(backend="openai", model="smol", base_url=url, concurrency=concurrency)
        )
        params = GenerateParams(max_tokens=max_tokens, temperature=0.0, seed=0)
        convos = messages_for(prompts)

        def wrapper() -> float:
            requests = [(i, m, params) for i, m in enumerate(convos)]
            seconds, _ = timed(lambda: len(list(generate_many(model, requests))))
            return seconds

        async def raw_async() -> None:
            sem = asyncio.Semaphore(concurrency)
            async with httpx.AsyncClient(base_url=url, timeout=120) as client:

                async def one(m):
                    async with sem:
                        r = await client.post(
                            "/chat/completions",
                            json={
                                "model": "smol",
                                "messages": m,
                                "max_tokens": max_tokens,
                                "temperature": 0.0,
                                "top_p": 0.95,
                                "seed": 0,
                            },
                        )
                        r.raise_for_status()

                await asyncio.gather(*(one(m) for m in convos))

        def raw() -> float:
            seconds, _ = timed(lambda: asyncio.run(raw_async()) or 0)
            return seconds

        wrapper()
        ratios = interleaved(wrapper, raw, rounds)
        return {
            "backend": f"openai (llama.cpp server, policy, concurrency {concurrency})",
            "ratio_median": statistics.median(ratios),
            "ratios": ratios,
            "prompts": len(convos),
            "max_tokens": max_tokens,
        }


def cold_start(backend: str, model: str) -> float:
    """Seconds from a fresh interpreter to the first embedding (imports included)."""
    code = (
        "import time; t = time.perf_counter(); "
        "from charter.backends.registry import EmbedderSpec, load_embedder; "
        f"load_embedder(EmbedderSpec(backend={backend!r}, model={model!r})).embed(['x']); "
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def bench_embedders(texts: list[str], rounds: int) -> list[dict]:
    import onnxruntime  # noqa: F401  (fail early if missing)

    st = load_embedder(EmbedderSpec(backend="sentence_transformers", model="embedded:minilm"))
    ox = load_embedder(EmbedderSpec(backend="onnx", model="embedded:minilm-int8"))
    results = []
    raw_st = st._model

    def st_wrapper() -> float:
        return timed(lambda: len(st.embed(texts)))[0]

    def st_raw() -> float:
        return timed(
            lambda: len(
                raw_st.encode(
                    texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True
                )
            )
        )[0]

    session, tokenizer = ox._session, ox._tokenizer

    def ox_raw() -> float:
        def run() -> int:
            for start in range(0, len(texts), 64):
                batch = tokenizer.encode_batch(texts[start : start + 64])
                ids = np.array([e.ids for e in batch], dtype=np.int64)
                mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
                hidden = session.run(
                    None,
                    {
                        "input_ids": ids,
                        "attention_mask": mask,
                        "token_type_ids": np.zeros_like(ids),
                    },
                )[0]
                pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
                pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
            return len(texts)

        return timed(run)[0]

    def ox_wrapper() -> float:
        return timed(lambda: len(ox.embed(texts)))[0]

    st_wrapper(), ox_wrapper()  # warm up
    for label, wrapper, raw in (
        ("sentence-transformers float32", st_wrapper, st_raw),
        ("onnx int8", ox_wrapper, ox_raw),
    ):
        ratios = interleaved(wrapper, raw, rounds)
        seconds = statistics.median(wrapper() for _ in range(3))
        results.append(
            {
                "backend": f"embedder {label}",
                "ratio_median": statistics.median(ratios),
                "ratios": ratios,
                "embeddings_per_s": len(texts) / seconds,
            }
        )
    for result, backend, model in (
        (results[0], "sentence_transformers", "embedded:minilm"),
        (results[1], "onnx", "embedded:minilm-int8"),
    ):
        result["cold_start_s"] = statistics.median(cold_start(backend, model) for _ in range(3))
    a, b = st.embed(texts), ox.embed(texts)
    agreement = np.sum(a * b, axis=1)
    sims_a, sims_b = a @ a.T, b @ b.T
    iu = np.triu_indices(len(texts), 1)
    rank_corr = float(
        np.corrcoef(np.argsort(np.argsort(sims_a[iu])), np.argsort(np.argsort(sims_b[iu])))[0, 1]
    )
    results.append(
        {
            "backend": "embedder agreement int8 vs float32",
            "cosine_mean": float(agreement.mean()),
            "cosine_min": float(agreement.min()),
            "pairwise_similarity_spearman": rank_corr,
            "speedup_int8_over_float32": results[1]["embeddings_per_s"]
            / results[0]["embeddings_per_s"],
        }
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--only", nargs="*", default=None, help="policy feedback transformers openai embedders"
    )
    args = parser.parse_args()
    prompts = load_prompts("builtin:helpfulness", limit=args.prompts)
    texts = [p.prompt for p in load_prompts("builtin:redteam")] + [
        p.prompt for p in load_prompts("builtin:helpfulness")
    ]
    wanted = set(args.only or ["policy", "feedback", "transformers", "openai", "embedders"])
    results = []
    # A CAI-style shared prefix: one article's rule and rationale as the system prompt.
    article = load_constitution().articles[0]
    scaffold = f"Follow this principle.\n{article.rule}\n{article.rationale}"
    for name in ("policy", "feedback"):
        if name in wanted:
            results.append(bench_llama(name, prompts, args.max_tokens, args.rounds))
            results.append(
                bench_llama(
                    name,
                    prompts,
                    args.max_tokens,
                    args.rounds,
                    system=scaffold,
                    label=" shared long prefix",
                )
            )
    if "transformers" in wanted:
        results.append(bench_transformers(prompts, args.max_tokens, args.rounds))
    if "openai" in wanted:
        results.append(bench_openai(prompts, args.max_tokens, args.rounds))
    if "embedders" in wanted:
        results.extend(bench_embedders(texts, args.rounds))
    for r in results:
        print(
            json.dumps(
                {
                    k: (
                        round(v, 4)
                        if isinstance(v, float)
                        else [round(x, 4) for x in v]
                        if isinstance(v, list)
                        else v
                    )
                    for k, v in r.items()
                }
            )
        )


if __name__ == "__main__":
    main()
