"""SL-CAI pipeline throughput vs the raw backend calls it makes (Bai et al. 2022, section 3).

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_cai.py`` (``--help`` for options).

The pipeline (:func:`charter.cai.sl.run_sl_cai`, one critique/revision round:
initial answer, critique, revision per prompt, with its stores, fsyncs,
parsing, progress accounting and the final ``datasets`` folder) is timed
against calling ``model.generate`` directly with exactly the requests the
pipeline made, in the same order, on the same model instance. A first,
untimed pipeline run records those requests through a recording proxy. The
embedded policy model plays every role, so a round is cheap. Rounds
alternate which side goes first; the figure is the median over rounds of
pipeline prompts/s divided by raw prompts/s (target >= 0.95).

Threads default to 1: on a shared 2-core machine llama.cpp's spinning threads
slow down several-fold whenever another process holds a core, which swamps
the ratio with noise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from charter.backends import GenerateParams, ModelSpec, load_chat_model
from charter.cai.sl import SLCAISpec, run_sl_cai
from charter.constitution import load_constitution
from charter.runs import RunConfig, read_jsonl
from charter.runs.context import RunContext


class Recorder:
    """A chat model proxy that records every request it forwards."""

    def __init__(self, model) -> None:
        self.model = model
        self.model_id = model.model_id
        self.max_concurrency = getattr(model, "max_concurrency", 1)
        self.requests: list[tuple[list[dict], GenerateParams]] = []
        self.texts: list[str] = []

    def generate(self, messages, params):
        self.requests.append(([dict(m) for m in messages], params))
        out = self.model.generate(messages, params)
        self.texts.append(out.text)
        return out


def pipeline_runner(model, stage: dict, workdir: Path):
    """A function that runs the stage into a fresh folder and returns its seconds."""
    config = RunConfig(
        name="bench",
        seed=0,
        models={"policy": ModelSpec(model="embedded:policy")},
        stages=[stage],
    )
    spec = SLCAISpec.model_validate(stage)
    constitution = load_constitution()
    runs = iter(range(10**6))

    def run(target=model) -> float:
        ctx = RunContext(
            config=config,
            base_dir=workdir,
            output_dir=workdir / f"run{next(runs)}",
            constitution=constitution,
            progress=False,
            _models={"policy": target},
        )
        start = time.perf_counter()
        counts = run_sl_cai(spec, ctx)
        seconds = time.perf_counter() - start
        if counts["done"] + counts["failed"] != counts["total"]:
            raise SystemExit(f"pipeline did not finish every prompt: {counts}")
        return seconds

    return run


def finals(run: Path) -> list[str]:
    """A run's final responses, sorted (rows land in completion order)."""
    return sorted(json.dumps(r["final_response"]) for r in read_jsonl(run / "sl/steps.jsonl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=6, help="red-team prompts per run")
    parser.add_argument("--max-tokens", type=int, default=48, help="for every step")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--few-shot", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads")
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = parser.parse_args()

    model = load_chat_model(
        ModelSpec(backend="llama_cpp", model="embedded:policy", threads=args.threads)
    )
    stage = {
        "name": "sl",
        "kind": "sl_cai",
        "policy": "policy",
        "limit": args.prompts,
        "rounds": 1,
        "few_shot": args.few_shot,
        "helpful_ratio": 0,
        "response_max_tokens": args.max_tokens,
        "critique_max_tokens": args.max_tokens,
        "revision_max_tokens": args.max_tokens,
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        pipeline = pipeline_runner(model, stage, workdir)
        recorder = Recorder(model)
        pipeline(recorder)  # untimed: records the requests and warms imports and caches
        requests = recorder.requests
        recorded = finals(workdir / "run0")
        raw_texts: list[str] = []

        def raw() -> float:
            start = time.perf_counter()
            texts = [model.generate(messages, params).text for messages, params in requests]
            seconds = time.perf_counter() - start
            raw_texts[:] = texts
            return seconds

        ratios, pipe_s, raw_s = [], [], []
        for r in range(args.rounds):
            if r % 2 == 0:
                p, w = pipeline(), raw()
            else:
                w, p = raw(), pipeline()
            pipe_s.append(p)
            raw_s.append(w)
            ratios.append(w / p)  # (prompts / p) / (prompts / w)
        last = finals(workdir / f"run{args.rounds}")
    result = {
        "bench": "sl_cai pipeline vs raw model.generate (1 critique/revision round)",
        "model": model.model_id,
        "threads": args.threads,
        "prompts": args.prompts,
        "calls_per_run": len(requests),
        "max_tokens": args.max_tokens,
        "few_shot": args.few_shot,
        "rounds": args.rounds,
        "pipeline_prompts_per_s": statistics.median(args.prompts / s for s in pipe_s),
        "raw_prompts_per_s": statistics.median(args.prompts / s for s in raw_s),
        "ratio_median": statistics.median(ratios),
        "ratios": [round(x, 3) for x in ratios],
        # Both sides did the same work: same final answers, same raw replies.
        "pipeline_outputs_stable": recorded == last,
        "raw_outputs_match_pipeline": raw_texts == recorder.texts,
    }
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        shown = f"{value:.3f}" if isinstance(value, float) else value
        print(f"{key:>26}: {shown}")
    print("target: ratio_median >= 0.95")


if __name__ == "__main__":
    main()
