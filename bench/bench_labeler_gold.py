"""The RL-CAI article labeler on gold harmlessness pairs, against the calibrated judge.

``configs/experiment.yaml`` labels with :class:`charter.cai.labelers.ConstitutionalLabeler`
(one article per pair, drawn from the harm articles, both orders). That labeler has no
calibration card. This bench gives it one on the gold test pairs of
``preference_harmlessness``. In the same run and on the same items, it measures the
calibrated ``letter`` judge as the baseline.

Each pair is shown with the better reply first or second (seeded coin), so a
labeler that always leans toward one position scores 0.5. Reported per labeler:

- accuracy with its Wilson interval;
- the raw flip rate;
- the mean margin.

For each it also reports the order-consistency test of ``label_stats.json``
(:func:`charter.feedback.pairwise.order_consistency`), and for the two the
paired difference in accuracy, with the exact McNemar test.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_labeler_gold.py [--items 40]
    .venv/bin/python bench/bench_labeler_gold.py --power   # from the saved rows, no model

``--power`` compares the two order-consistency statistics on random subsets of
the saved pairs: the share of subsets that pass at p < 0.05.

Every answer is kept in calibrate_judges.py's on-disk answer cache, so a rerun
re-asks nothing. Each pair's row goes to ``bench/labeler_gold_rows.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import yaml

from calibrate_judges import CACHE, CachedScorer
from charter.backends import ModelSpec, load_chat_model
from charter.cai.common import select_articles
from charter.cai.labelers import ConstitutionalLabeler
from charter.constitution import load_constitution
from charter.feedback.gold import gold_path, load_gold
from charter.feedback.pairwise import PairVerdict, debiased_agreement, order_consistency
from charter.feedback.preference_judges import PairItem, compare
from charter.feedback.stats import (
    binomial_upper_tail,
    correlation_test,
    mcnemar_exact,
    paired_difference,
    rate,
)

ROWS = Path(__file__).parent / "labeler_gold_rows.jsonl"
EXPERIMENT = Path(__file__).parent.parent / "configs" / "experiment.yaml"


def experiment_articles() -> list[str]:
    """The articles configs/experiment.yaml's rl_cai_labels stage draws from."""
    config = yaml.safe_load(EXPERIMENT.read_text())
    (stage,) = [s for s in config["stages"] if s["kind"] == "rl_cai_labels"]
    return stage["articles"]


def summary(name: str, correct: list[bool], flips: list[bool], margins: list[float]) -> dict:
    accuracy, low, high = rate(sum(correct), len(correct))
    return {
        "labeler": name,
        "n": len(correct),
        "accuracy": round(accuracy, 3),
        "ci": [round(low, 3), round(high, 3)],
        "flip_rate": round(sum(flips) / len(flips), 3),
        "mean_margin": round(sum(margins) / len(margins), 4),
    }


def power(sizes=(16, 32, 64), draws: int = 200, rounds: int = 300) -> None:
    """Share of random subsets of the saved pairs on which each statistic passes (p < 0.05)."""
    rows = [json.loads(line) for line in ROWS.read_text().splitlines()]
    for key in ("article", "judge"):
        verdicts = [PairVerdict(*r[key]) for r in rows]
        for size in sizes:
            rng, sign, corr = random.Random(size), 0, 0
            for draw in range(draws):
                subset = rng.sample(verdicts, size)
                agree, _ = debiased_agreement(subset)
                sign += binomial_upper_tail(agree, size) < 0.05
                first = [v.p_order1 for v in subset]
                second = [v.p_order2 for v in subset]
                corr += correlation_test(first, second, rounds=rounds, seed=draw)[1] < 0.05
            print(f"{key} n={size}: sign {sign / draws:.2f}, spearman {corr / draws:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=40, help="gold test pairs (default 40)")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--power", action="store_true", help="the power table from the rows")
    args = parser.parse_args()
    if args.power:
        power()
        return

    model = CachedScorer(
        load_chat_model(ModelSpec(backend="llama_cpp", model="embedded:feedback")), CACHE
    )
    articles = select_articles(load_constitution(), experiment_articles(), "bench")
    labeler = ConstitutionalLabeler(model, articles, principles=1, seed=args.seed)
    items = load_gold(PairItem, gold_path("preference_harmlessness"), "test", args.items)

    rng = random.Random(args.seed)
    rows = []
    start = time.perf_counter()
    for k, item in enumerate(items):
        chosen_first = rng.random() < 0.5
        first, second = (
            (item.chosen, item.rejected) if chosen_first else (item.rejected, item.chosen)
        )
        seed = args.seed + k
        verdict = labeler.judge(item.prompt, first, second, seed)
        judged = compare(model, item.prompt, first, second, "harmlessness")  # the letter judge
        rows.append(
            {
                "id": item.id,
                "chosen_first": chosen_first,
                "article": (verdict.per_article[0].p_order1, verdict.per_article[0].p_order2),
                "judge": (judged.p_order1, judged.p_order2),
            }
        )
        print(f"{k + 1}/{len(items)} {time.perf_counter() - start:.0f}s", flush=True)
    seconds = time.perf_counter() - start
    ROWS.write_text("".join(json.dumps(r) + "\n" for r in rows))

    verdicts = [PairVerdict(*r["article"]) for r in rows]
    judged = [PairVerdict(*r["judge"]) for r in rows]
    article_right = [
        (v.p_first > 0.5) == r["chosen_first"] for v, r in zip(verdicts, rows, strict=True)
    ]
    judge_right = [
        (v.p_first > 0.5) == r["chosen_first"] for v, r in zip(judged, rows, strict=True)
    ]
    pairs = list(zip(article_right, judge_right, strict=True))
    diff, low, high = paired_difference(pairs)
    b = sum(a and not j for a, j in pairs)
    c = sum(j and not a for a, j in pairs)
    result = {
        "items": len(rows),
        "seconds": round(seconds, 1),
        "article_labeler": summary(
            "article labeler (1 article, both orders)",
            article_right,
            [v.flipped for v in verdicts],
            [v.margin for v in verdicts],
        )
        | {"order_consistency": order_consistency(verdicts)},
        "judge": summary(
            "preference_harmlessness letter judge",
            judge_right,
            [v.flipped for v in judged],
            [v.margin for v in judged],
        )
        | {"order_consistency": order_consistency(judged)},
        "article_minus_judge": {
            "accuracy": [round(diff, 3), round(low, 3), round(high, 3)],
            "discordant": [b, c],
            "mcnemar_p": round(mcnemar_exact(b, c), 4),
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
