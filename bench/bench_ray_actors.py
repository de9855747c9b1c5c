"""Scaling of ``charter run --engine ray`` from 1 to 2 model actors (issue 15).

The same batch of generations of an embedded model (the built-in red-team
prompts, temperature 0.7, one seed per request) goes through a
:class:`~charter.backends.ray_pool.RayModelPool` of 1 actor, then of 2 actors,
each actor running llama.cpp on 1 thread (a local Ray cluster of 2 CPUs). Model
loading and one warm-up request per actor are outside the timing. The replies
must be identical between the two pools (llama.cpp is reproducible per
request); the speedup is ``seconds_1 / seconds_2``. Target: >= 1.7x on an idle
2-core machine, with enough work that one actor takes ~60-90 s (the defaults).

Run::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_ray_actors.py
    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_ray_actors.py --model feedback \\
        --requests 24 --max-tokens 48
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def _requests(n: int, max_tokens: int) -> list:
    from charter.backends import GenerateParams
    from charter.prompts import load_prompts

    prompts = load_prompts("builtin:redteam")
    return [
        (i, [{"role": "user", "content": prompts[i % len(prompts)].prompt}],
         GenerateParams(max_tokens=max_tokens, temperature=0.7, seed=1000 + i))
        for i in range(n)
    ]  # fmt: skip


def run_pool(model: str, actors: int, requests: list, n_ctx: int) -> tuple[float, dict, int]:
    """Seconds for ``requests`` through a pool of ``actors``, the replies, tokens generated."""
    from charter.backends import generate_many
    from charter.backends.ray_pool import RayModelPool
    from charter.backends.registry import ModelSpec

    spec = ModelSpec(backend="llama_cpp", model=f"embedded:{model}", n_ctx=n_ctx, threads=1)
    with RayModelPool(spec, actors=actors, cpus_per_actor=1) as pool:
        warm = [(f"w{i}", msgs, params) for i, msgs, params in requests[:actors]]
        list(generate_many(pool, warm))  # not timed: first-call allocations
        start = time.perf_counter()
        out = dict(generate_many(pool, requests))
        seconds = time.perf_counter() - start
    failed = {k: str(v) for k, v in out.items() if isinstance(v, Exception)}
    if failed:
        raise SystemExit(f"failed requests: {failed}")
    tokens = sum(c.completion_tokens or 0 for c in out.values())
    return seconds, {k: c.text for k, c in out.items()}, tokens


def run_local(model: str, requests: list, n_ctx: int) -> float:
    """Seconds for ``requests`` in this process, one model on 2 threads (no Ray)."""
    from charter.backends import generate_many
    from charter.backends.registry import ModelSpec, load_chat_model

    llm = load_chat_model(
        ModelSpec(backend="llama_cpp", model=f"embedded:{model}", n_ctx=n_ctx, threads=2)
    )
    list(generate_many(llm, requests[:1]))  # not timed, as in the pools
    start = time.perf_counter()
    list(generate_many(llm, requests))
    seconds = time.perf_counter() - start
    llm.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=32, help="generations per pool")
    parser.add_argument("--max-tokens", type=int, default=128, help="max tokens per generation")
    parser.add_argument("--model", choices=["policy", "feedback"], default="policy")
    parser.add_argument("--n-ctx", type=int, default=1024, help="llama.cpp context per actor")
    args = parser.parse_args()

    import ray

    from charter.backends.ray_pool import start_ray

    requests = _requests(args.requests, args.max_tokens)
    local = run_local(args.model, requests, args.n_ctx)  # the no-Ray reference on both cores
    start_ray(2)
    try:
        one, texts_1, tokens = run_pool(args.model, 1, requests, args.n_ctx)
        two, texts_2, _ = run_pool(args.model, 2, requests, args.n_ctx)
    finally:
        ray.shutdown()
    identical = texts_1 == texts_2
    result = {
        "model": args.model,
        "requests": args.requests,
        "max_tokens": args.max_tokens,
        "completion_tokens": tokens,
        "seconds_1": round(one, 2),
        "seconds_2": round(two, 2),
        "speedup": round(one / two, 3),
        "seconds_in_process_2_threads": round(local, 2),
        "two_actors_vs_in_process": round(local / two, 3),
        "identical": identical,
    }
    print(json.dumps(result, indent=2))
    command = (
        f"bench_ray_actors.py --model {args.model} --requests {args.requests} "
        f"--max-tokens {args.max_tokens}"
    )
    print(
        f"| Ray pool 1 -> 2 actors, {args.requests} x {args.model} generations "
        f"({tokens} tokens), 1 thread each | **{one / two:.2f}x** "
        f"({one:.1f} s -> {two:.1f} s; replies identical: {identical}; in-process on 2 "
        f"threads {local:.1f} s, {local / two:.2f}x) | `{command}` |"
    )
    if not identical:
        sys.exit("the replies differ between 1 and 2 actors")


if __name__ == "__main__":
    main()
