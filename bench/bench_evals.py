"""Eval stage throughput vs the raw backend calls it makes (issue 7 benchmark).

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_evals.py`` (``--help`` for options).

The ``eval`` stage (:func:`charter.evals.stage.run_eval`: answers from two
models, pairwise harmlessness/helpfulness judgements in both orders, the
evasiveness classification, with its stores, fsyncs, Bradley-Terry fit with
bootstrap, result files and the frontier plot) is timed against calling
``generate`` and ``choice_logprobs`` directly with exactly the requests the
stage made, in the same order, on the same model instance. A first, untimed
stage run records those requests through a recording proxy. The embedded
policy model plays both evaluated models and the judge, so a round is cheap
and the ratio measures the stage's overhead, not the judge's speed. Rounds
alternate which side goes first; the figure is the median over rounds of
stage requests/s divided by raw requests/s (target >= 0.95).

Threads default to 1 (a shared 2-core machine; see bench_cai.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from charter.backends import ModelSpec, load_chat_model
from charter.constitution import load_constitution
from charter.evals.stage import EvalSpec, run_eval
from charter.runs import RunConfig
from charter.runs.context import RunContext


class Recorder:
    """A model proxy that records every generate and choice_logprobs request it forwards."""

    def __init__(self, model) -> None:
        self.model = model
        self.model_id = model.model_id
        self.max_concurrency = getattr(model, "max_concurrency", 1)
        self.requests: list[tuple[str, tuple]] = []

    def generate(self, messages, params):
        self.requests.append(("generate", ([dict(m) for m in messages], params)))
        return self.model.generate(messages, params)

    def choice_logprobs(self, messages, choices):
        self.requests.append(("choice_logprobs", ([dict(m) for m in messages], tuple(choices))))
        return self.model.choice_logprobs(messages, choices)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=4, help="harmful and helpful prompts each")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens per answer")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--bootstrap", type=int, default=200, help="Elo bootstrap resamples")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads")
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = parser.parse_args()

    model = load_chat_model(
        ModelSpec(backend="llama_cpp", model="embedded:policy", threads=args.threads)
    )
    spec = EvalSpec(
        name="eval",
        models=["a", "b"],
        judge="judge",
        suites=["pairwise", "evasive"],
        limits={"pairwise": args.prompts, "evasive": args.prompts},
        max_tokens=args.max_tokens,
        bootstrap=args.bootstrap,
    )
    policy = ModelSpec(model="embedded:policy")
    config = RunConfig(
        name="bench",
        seed=0,
        models={"a": policy, "b": policy.model_copy(update={"threads": 1}), "judge": policy},
        stages=[spec.model_dump()],
    )
    constitution = load_constitution()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        runs = iter(range(10**6))

        def stage(target=model) -> float:
            ctx = RunContext(
                config=config,
                base_dir=workdir,
                output_dir=workdir / f"run{next(runs)}",
                constitution=constitution,
                progress=False,
                _models={"a": target, "b": target, "judge": target},
            )
            start = time.perf_counter()
            counts = run_eval(spec, ctx)
            seconds = time.perf_counter() - start
            if counts["failed"] or counts["done"] != counts["total"]:
                raise SystemExit(f"the stage did not finish every judgement: {counts}")
            return seconds

        recorder = Recorder(model)
        stage(recorder)  # untimed: records the requests, warms imports and caches
        requests = recorder.requests

        def raw() -> float:
            start = time.perf_counter()
            for method, call in requests:
                getattr(model, method)(*call)
            return time.perf_counter() - start

        ratios, stage_s, raw_s = [], [], []
        for r in range(args.rounds):
            if r % 2 == 0:
                s, w = stage(), raw()
            else:
                w, s = raw(), stage()
            stage_s.append(s)
            raw_s.append(w)
            ratios.append(w / s)  # (requests / s) / (requests / w)
    n = len(requests)
    result = {
        "bench": "eval stage (pairwise + evasive) vs raw generate/choice_logprobs",
        "model": model.model_id,
        "threads": args.threads,
        "prompts": args.prompts,
        "requests_per_run": n,
        "generate_calls": sum(1 for m, _ in requests if m == "generate"),
        "judge_calls": sum(1 for m, _ in requests if m == "choice_logprobs"),
        "max_tokens": args.max_tokens,
        "bootstrap": args.bootstrap,
        "rounds": args.rounds,
        "stage_requests_per_s": statistics.median(n / s for s in stage_s),
        "raw_requests_per_s": statistics.median(n / s for s in raw_s),
        "ratio_median": statistics.median(ratios),
        "ratios": [round(x, 3) for x in ratios],
    }
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        shown = f"{value:.3f}" if isinstance(value, float) else value
        print(f"{key:>22}: {shown}")
    print("target: ratio_median >= 0.95")


if __name__ == "__main__":
    main()
