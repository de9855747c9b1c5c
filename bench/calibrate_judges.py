"""Calibrate every shipped judge on the embedded feedback model: fit on dev, card on test.

For each judge: fit its fitted methods on the gold set's dev split, calibrate
every method on the test split, write each card to
``src/charter/feedback/cards/<judge>.<method>.json`` (the cards runs carry), and
print the table of what each method buys (accuracy, its interval, macro-F1,
ECE, flip rate, calls per item). Answers are memoized per reply, so methods
that share questions share calls.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/calibrate_judges.py [--judge NAME ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import charter.evals.agentic_calibration
import charter.evals.guidance
import charter.pretrain.depth  # noqa: F401  (registers depth)
from charter.backends.registry import ModelSpec, load_chat_model
from charter.feedback import calibrate as cal
from charter.feedback.card import shipped_card_path
from charter.feedback.registry import get_judge, judge_names

OUT = Path(__file__).parent / "judge_methods.jsonl"
CACHE = Path.home() / ".cache" / "charter" / "bench-judge-answers.jsonl"


class CachedScorer:
    """The scorer with its answers kept on disk, so a refit or another method never re-asks.

    Keyed by the model id, the messages and the choices; a bench convenience (the
    answers are deterministic for one model file), not part of the library.
    """

    def __init__(self, scorer, path: Path) -> None:
        self.scorer, self.path = scorer, path
        self.model_id = scorer.model_id
        self.max_concurrency = getattr(scorer, "max_concurrency", 1)
        self.answers: dict[str, list[float]] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                row = json.loads(line)
                self.answers[row["k"]] = row["v"]
        path.parent.mkdir(parents=True, exist_ok=True)

    def choice_logprobs(self, messages, choices):
        key = hashlib.sha256(
            json.dumps([self.model_id, list(messages), list(choices)]).encode()
        ).hexdigest()
        if key not in self.answers:
            value = [float(v) for v in self.scorer.choice_logprobs(messages, choices)]
            self.answers[key] = value
            with self.path.open("a") as out:
                out.write(json.dumps({"k": key, "v": value}) + "\n")
        return self.answers[key]

    def generate(self, messages, params):
        return self.scorer.generate(messages, params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge", action="append", help="judge name (repeatable; default all)")
    parser.add_argument("--method", action="append", help="only these methods")
    parser.add_argument("--no-fit", action="store_true", help="use the shipped fitted weights")
    parser.add_argument("--fit-limit", type=int, help="fit on the first N dev items only")
    parser.add_argument("--limit", type=int, help="card on the first N test items only")
    args = parser.parse_args()
    # Fast prefix reuse: every question about one item shares its prefix. Logits
    # differ from the reproducible mode by ~0.02 nats at most (backends/llama_cpp.py).
    scorer = CachedScorer(
        load_chat_model(
            ModelSpec(backend="llama_cpp", model="embedded:feedback", prefix_cache="fast")
        ),
        CACHE,
    )
    for name in args.judge or judge_names():
        judge = get_judge(name)
        for method in judge.methods.values():
            if args.method and method.name not in args.method:
                continue
            began = time.perf_counter()
            if method.features is not None and not args.no_fit:
                cal.fit(judge, scorer, method.name, progress=True, limit=args.fit_limit)
            run = cal.calibrate(judge, scorer, method=method.name, limit=args.limit, progress=True)
            run.card.save(shipped_card_path(name, method.name))
            seconds = time.perf_counter() - began
            print(run.card.summary(), f"({seconds:.0f} s)", flush=True)
            with OUT.open("a", encoding="utf-8") as out:
                row = run.card.model_dump(mode="json") | {"seconds": round(seconds, 1)}
                out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
