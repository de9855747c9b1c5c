"""Wish-reward throughput against the raw model calls it is built on.

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_reward.py`` (``--real-judge`` adds the
judge comparison on the embedded feedback model, slow on CPU).

(a) Embedding scorer, K=64 draws, vs the raw int8 ONNX MiniLM encoder embedding
    the same responses: responses/s ratio (target >= 0.9). Batches are laid out
    as in GRPO: P prompts x G completions. Wish embeddings are cached (computed
    once, as in training); prompt embeddings are *not* carried between rounds
    (each GRPO step brings new prompts). Also reported: the reward without
    relevance (no prompt embeddings at all).
(b) Judge scorer vs raw ``choice_logprobs`` requests at the same concurrency:
    requests/s ratio (target >= 0.8). By default the judge is the scripted
    backend with a fixed per-request delay (a stand-in for a server backend
    with ``max_concurrency`` requests in flight); ``--real-judge`` uses the
    embedded feedback model (llama.cpp, one request at a time).

Each comparison alternates A/B then B/A for several rounds and reports the
median ratio, because the shared machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from charter.backends.batch import map_concurrent
from charter.backends.registry import load_embedder
from charter.backends.scripted import ScriptedChatModel
from charter.collective.reward import JUDGE_CHOICES, JUDGE_TEMPLATE, WishReward
from charter.collective.wishes import load_wishes
from charter.prompts import load_prompts


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(a, b, rounds: int) -> list[float]:
    """Per round, time(a) / time(b), alternating which runs first."""
    ratios = []
    for r in range(rounds):
        if r % 2:
            tb, ta = timed(b), timed(a)
        else:
            ta, tb = timed(a), timed(b)
        ratios.append(ta / tb)
    return ratios


def batch(wishes, prompts: int, group: int) -> tuple[list[str], list[str]]:
    """GRPO-shaped batch: each prompt with ``group`` different completions."""
    asks = [p.prompt for p in load_prompts("builtin:helpfulness")][:prompts]
    texts = [r.behaviour for r in wishes.records]
    out_p, out_r = [], []
    for i, ask in enumerate(asks):
        for g in range(group):
            out_p.append(ask)
            out_r.append(f"{texts[(i * group + g) % len(texts)]} ({g})")
    return out_p, out_r


def bench_embedding(rounds: int, prompts: int, group: int) -> dict:
    wishes = load_wishes("builtin:sample")
    embedder = load_embedder()
    ps, rs = batch(wishes, prompts, group)
    results = {}
    for label, options in [
        ("relevance_top=32", {}),
        ("no relevance", {"relevance_top": None, "relevance_temperature": None}),
    ]:
        reward = WishReward(wishes, embedder=embedder, k=64, **options)
        reward.score_batch(ps[:1], rs[:1])  # warm: wish embeddings computed once

        def run_reward(reward=reward):
            reward._prompt_cache.clear()  # new prompts every step
            reward.score_batch(ps, rs)

        ratios = interleaved(lambda: embedder.embed(rs), run_reward, rounds)
        results[label] = round(statistics.median(ratios), 3)  # raw time / reward time
    return {
        "batch": f"{prompts} prompts x {group} completions = {len(rs)} responses, K=64",
        "throughput_ratio_reward_over_raw": results,
        "target": 0.9,
    }


class DelayedJudge(ScriptedChatModel):
    """Scripted choice scorer that takes ``delay`` seconds per request, like a server."""

    def __init__(self, delay: float, concurrency: int) -> None:
        super().__init__(choices=lambda m, c: [-0.3, -1.4], model_id="scripted:delayed")
        self.delay, self.max_concurrency, self.requests = delay, concurrency, 0

    def choice_logprobs(self, messages, choices):
        time.sleep(self.delay)
        self.requests += 1
        return super().choice_logprobs(messages, choices)


def bench_judge(rounds: int, judge, pairs: int, k: int, concurrency: int) -> dict:
    wishes = load_wishes("builtin:sample")
    reward = WishReward(
        wishes,
        scorer="judge",
        judge=judge,
        k=k,
        relevance_top=None,
        relevance_temperature=None,
        concurrency=concurrency,
    )
    ps = [f"Question {i}: what should I do about my noisy neighbour?" for i in range(pairs)]
    rs = [f"Talk to them calmly first ({i})." for i in range(pairs)]
    counts = []

    def run_reward():
        before = getattr(judge, "requests", 0)
        reward.score_batch(ps, rs)
        counts.append(getattr(judge, "requests", 0) - before)

    # Raw: the same number of requests (distinct pair-wish questions), same concurrency.
    draws = [reward.draw(p, r) for p, r in zip(ps, rs, strict=True)]
    questions = [
        JUDGE_TEMPLATE.format(
            scenario=wishes.records[j].scenario,
            behaviour=wishes.records[j].behaviour,
            prompt=ps[i],
            response=rs[i],
        )
        for i, d in enumerate(draws)
        for j in sorted(set(int(x) for x in d))
    ]

    def run_raw():
        items = ((n, q) for n, q in enumerate(questions))
        ask = lambda q: judge.choice_logprobs([{"role": "user", "content": q}], JUDGE_CHOICES)  # noqa: E731
        for _ in map_concurrent(ask, items, concurrency, getattr(judge, "max_concurrency", 1)):
            pass

    ratios = interleaved(run_raw, run_reward, rounds)
    return {
        "judge": judge.model_id,
        "requests_per_round": len(questions),
        "concurrency": concurrency,
        "requests_per_s_ratio_reward_over_raw": round(statistics.median(ratios), 3),
        "target": 0.8,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--real-judge", action="store_true")
    args = parser.parse_args()
    out = {"embedding": bench_embedding(args.rounds, args.prompts, args.group)}
    out["judge_scripted_20ms"] = bench_judge(args.rounds, DelayedJudge(0.02, 8), 8, 16, 8)
    if args.real_judge:
        from charter.backends.registry import ModelSpec, load_chat_model

        feedback = load_chat_model(ModelSpec(backend="llama_cpp", model="embedded:feedback"))
        out["judge_embedded_feedback"] = bench_judge(2, feedback, 2, 3, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
