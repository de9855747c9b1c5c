"""Calibrated judging vs the raw calls it makes (issue 12 benchmark).

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_feedback.py`` (``--help`` for options).

:func:`charter.feedback.calibrate.calibrate` on the ``evasiveness`` judge's
default method (the 4-question battery and the fitted logistic model, with
the gold-set loading, checks, card statistics and per-item rows) is timed
against calling ``choice_logprobs`` directly with exactly the requests it made,
in the same order, on the same model instance. A first, untimed run records
those requests through a recording proxy; its memo is cleared before each
timed round so every round asks the model. Rounds alternate which side goes
first; the figure is the median over rounds of judged requests/s divided by raw
requests/s (target >= 0.95). The embedded policy model plays the judge, so a
round is cheap and the ratio measures the feedback layer's overhead, not the
judge's speed.
"""

from __future__ import annotations

import argparse
import statistics
import time

from charter.backends import ModelSpec, load_chat_model
from charter.feedback import calibrate as cal
from charter.feedback import response_judges
from charter.feedback.registry import get_judge


class Recorder:
    """A model proxy that records every choice_logprobs request it forwards."""

    def __init__(self, model) -> None:
        self.model = model
        self.model_id = model.model_id
        self.max_concurrency = getattr(model, "max_concurrency", 1)
        self.requests: list[tuple[list, tuple]] = []

    def choice_logprobs(self, messages, choices):
        self.requests.append(([dict(m) for m in messages], tuple(choices)))
        return self.model.choice_logprobs(messages, choices)


def _forget() -> None:
    # The judges memoize answers per scorer; a timed round must ask the model again.
    for fn in (response_judges._answer, response_judges.rubric_probs):
        fn.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=12, help="gold test items per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads")
    args = parser.parse_args()
    model = load_chat_model(
        ModelSpec(backend="llama_cpp", model="embedded:policy", threads=args.threads)
    )
    judge = get_judge("evasiveness")
    recorder = Recorder(model)
    cal.calibrate(judge, recorder, limit=args.items)
    requests = recorder.requests

    def judged() -> float:
        _forget()
        start = time.perf_counter()
        cal.calibrate(judge, model, limit=args.items)
        return time.perf_counter() - start

    def raw() -> float:
        start = time.perf_counter()
        for messages, choices in requests:
            model.choice_logprobs(messages, choices)
        return time.perf_counter() - start

    ratios = []
    for k in range(args.rounds):
        first, second = (judged, raw) if k % 2 == 0 else (raw, judged)
        a, b = first(), second()
        t_judged, t_raw = (a, b) if first is judged else (b, a)
        ratios.append(t_raw / t_judged)  # judged requests/s over raw requests/s
        print(f"round {k + 1}: judged {t_judged:.2f}s raw {t_raw:.2f}s ratio {ratios[-1]:.3f}")
    print(
        f"{len(requests)} requests per round ({args.items} items x "
        f"{len(requests) / args.items:.0f}); median ratio {statistics.median(ratios):.3f} "
        "(target >= 0.95)"
    )


if __name__ == "__main__":
    main()
