"""RL-CAI preference labels from AI feedback (Bai et al. 2022, sections 4.1-4.2).

For each prompt the policy samples several responses (temperatures cycled over
the samples). Each pair of responses is put to a feedback model as a
multiple-choice question per constitutional principle; the label is read from
the normalized log-probabilities of the answer letters (a soft label, section
4.1), asked in both orders to cancel position bias, and averaged over several
principles sampled per pair (the ensemble, section 4.1). The chain-of-thought
variant (section 4.2) lets the feedback model reason first at temperature 0,
scores the letter after that reasoning, and clamps the probability to a band
(40-60% by default) because the paper found chain-of-thought probabilities
overconfident.

Which pairs: with two samples, the one pair. With more, ``pairing:
consecutive`` (default) compares samples (0, 1), (1, 2), ... - k-1 comparisons,
each response used at most twice, labelling cost linear in k - and ``pairing:
all`` compares every pair, k(k-1)/2 comparisons.

Run it as the ``rl_cai_labels`` stage of an experiment config::

    models:
      policy: {backend: llama_cpp, model: "embedded:policy"}
      feedback: {backend: llama_cpp, model: "embedded:feedback"}
    stages:
      - {name: labels, kind: rl_cai_labels, policy: policy, labeler: feedback, limit: 32}

Outputs in ``<run>/<stage>/``:

- ``responses.jsonl``: the policy's samples, keyed ``<prompt id>:<sample>``.
- ``preferences.jsonl``: one row per labelled pair, keyed ``<prompt id>:<i>-<j>``:
  ``{"key", "id", "prompt", "category", "kind", "pair", "chosen", "rejected",
  "chosen_index", "rejected_index", "label_prob", "p_first", "articles",
  "per_article", "position_bias", "chain_of_thought", "responses", "policy",
  "labeler", "created_at", "provenance"}``. ``label_prob`` is P(chosen is
  better) and is >= 0.5 by construction.
- ``skipped.jsonl``: pairs that cannot be labelled (identical responses), or
  whose label margin fell below ``min_margin`` with ``drop_low_margin`` on,
  keyed like the preferences, so a rerun does not ask again.
- ``label_stats.json``: the label-margin and position-bias distributions, the
  low-margin count, the per-article flip rate, and whether the labeler's two
  presentation orders agree about the pairs more than chance would
  (:func:`label_stats`).
- ``errors.jsonl``: failures (backend errors, malformed labeler output with the
  raw text); those samples and pairs are retried on the next run.
- ``preference_dataset/``: an HF ``datasets`` folder with ``prompt``,
  ``chosen``, ``rejected`` and ``label_prob``, the columns TRL's DPO trainer reads.

Resumable: samples and labels are stored as they finish, keyed as above; a rerun
samples only missing responses and labels only missing pairs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from charter._util.progress import progress_bar
from charter.backends.base import Completion, GenerateParams
from charter.backends.batch import generate_many, map_concurrent
from charter.cai import label_prompts as lp
from charter.cai.common import save_dataset, select_articles
from charter.cai.labelers import (
    ConstitutionalLabeler,
    Judgement,
    Labeler,
    judge_pair,
)
from charter.constitution import Article, Constitution
from charter.errors import (
    ConfigError,
)
from charter.feedback.pairwise import PairVerdict, ensemble, order_consistency
from charter.feedback.preference_judges import JudgeLabeler
from charter.feedback.stats import binomial_upper_tail
from charter.prompts import PromptRecord, load_prompt_sources
from charter.runs import estimate as est
from charter.runs.config import StageSpec
from charter.runs.context import RunContext
from charter.runs.estimate import CallEstimate, PlanContext
from charter.runs.plugins import plugin
from charter.runs.store import ErrorLog, JsonlStore, read_jsonl, write_json

RESPONSES = "responses.jsonl"
PREFERENCES = "preferences.jsonl"
STATS = "label_stats.json"
SKIPPED = "skipped.jsonl"
ERRORS = "errors.jsonl"
DATASET = "preference_dataset"
DATASET_COLUMNS = ("prompt", "chosen", "rejected", "label_prob")


class LabelSpec(StageSpec):
    """Sample responses from a policy and label pairs with constitutional AI feedback."""

    kind: Literal["rl_cai_labels"] = "rl_cai_labels"
    MODEL_FIELDS: ClassVar[tuple[str, ...]] = ("policy", "labeler")

    policy: str = Field(description="a key under `models`: the model that samples responses")
    labeler: str | None = Field(
        None, description="a key under `models`: the feedback model (or the wish-reward judge)"
    )
    labeler_kind: Literal["constitution", "wish_reward", "judge"] = Field(
        "constitution",
        description="label by the constitution, by the wish-sampled reward over a ledger, or "
        "by a calibrated pairwise judge (`judge`)",
    )
    judge: str = Field(
        "preference_harmlessness",
        description="labeler_kind judge: the calibrated judge (charter eval calibrate --judge)",
    )
    wishes: str = Field(
        "builtin:sample", description="wish_reward: ledger, export or builtin:sample"
    )
    wish_reward: dict[str, Any] = Field(
        default_factory=dict, description="wish_reward: scorer, k, transform, relevance_top, tau..."
    )
    prompts: str | list[str] = Field(
        "builtin:redteam", description="builtin:<set> or a path, or a list of them (concatenated)"
    )
    limit: int | None = Field(None, ge=1, description="only the first N prompts")
    samples: int = Field(2, ge=2, description="responses sampled per prompt")
    temperatures: list[float] = Field(
        default_factory=lambda: [0.7, 1.0], min_length=1, description="cycled over the samples"
    )
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus mass for the samples")
    max_tokens: int = Field(128, ge=1, description="tokens per sampled response")
    pairing: Literal["consecutive", "all"] = Field(
        "consecutive", description="compare samples (0,1),(1,2),... or every pair"
    )
    principles: int = Field(3, ge=1, description="articles sampled per pair: the ensemble")
    articles: list[str] | None = Field(
        None, min_length=1, description="sample principles only from these article ids"
    )
    rationale: bool = Field(True, description="show the gist of each article's rationale")
    chain_of_thought: bool = Field(False, description="reason first, then score the letter")
    clamp: tuple[float, float] = Field(
        (0.4, 0.6), description="band for chain-of-thought probabilities (not applied otherwise)"
    )
    reasoning_max_tokens: int = Field(192, ge=1, description="tokens of chain-of-thought")
    comparison_template: str = Field(lp.COMPARISON_TEMPLATE, description="the question")
    cot_template: str = Field(lp.COT_TEMPLATE, description="the question, reasoning first")
    cot_answer_template: str = Field(lp.COT_ANSWER_TEMPLATE, description="asks for the letter")
    concurrency: int | None = Field(None, ge=1, description="default: each model's limit")
    dataset: bool = Field(True, description="also write preference_dataset/ (needs `datasets`)")
    min_margin: float = Field(
        0.05,
        ge=0,
        le=0.5,
        description="pairs whose label margin |p - 0.5| is below this are reported as low-margin",
    )
    drop_low_margin: bool = Field(
        False, description="leave low-margin pairs out of the preference data (skipped.jsonl)"
    )

    # Raising `limit` only adds prompts; the others do not change finished rows.
    RESUMABLE_FIELDS: ClassVar[tuple[str, ...]] = ("limit", "concurrency", "dataset")

    @model_validator(mode="after")
    def _labeler_needed(self) -> LabelSpec:
        if self.labeler is None and self.labeler_kind in ("constitution", "judge"):
            raise ValueError("labeler is required (a key under `models`: the feedback model)")
        return self

    def estimate(self, ctx: PlanContext) -> list[CallEstimate]:
        """Samples from the policy, then labels: per pair, each principle in both orders.

        Label questions are rendered from the real comparison template with
        answers as long as ``max_tokens``; ``wish_reward`` and ``judge``
        labelers are counted like the constitution labeler (2 orders per
        principle), an approximation.
        """
        prompts = load_prompt_sources(self.prompts, ctx.resolve, limit=self.limit)
        pairs = pair_indices(self.samples, self.pairing)
        pool = article_pool(self, ctx.constitution)
        answer = "x" * est.CHARS_PER_TOKEN * self.max_tokens
        template = self.cot_template if self.chain_of_thought else self.comparison_template
        samples = [
            est.message_tokens([{"role": "user", "content": p.prompt}])
            for p in prompts
            for _ in range(self.samples)
        ]
        questions = [
            est.message_tokens(
                lp.comparison_messages(
                    template, p.prompt, pool[(i + k) % len(pool)], answer, answer, self.rationale
                )
            )
            for i, p in enumerate(prompts)
            for _ in pairs
            for k in range(self.principles)
            for _order in range(2)
        ]
        labeler = self.labeler or self.policy
        out = [est.generations(self.policy, "sample", samples, self.max_tokens)]
        if self.chain_of_thought:
            out.append(
                est.generations(labeler, "label reasoning", questions, self.reasoning_max_tokens)
            )
            questions = [q + self.reasoning_max_tokens + 20 for q in questions]
        out.append(
            est.choices(
                labeler,
                "label (principles x 2 orders)",
                questions,
                note=f"{len(pairs)} pair(s) per prompt, {self.principles} principle(s), 2 orders",
            )
        )
        return out

    def judges(self) -> list[tuple[str, str, str]]:
        """The calibrated judge that labels, with ``labeler_kind: judge``."""
        if self.labeler_kind != "judge" or self.labeler is None:
            return []
        from charter.feedback.registry import get_judge

        return [(self.judge, get_judge(self.judge).default, self.labeler)]

    @field_validator("temperatures")
    @classmethod
    def _temperatures(cls, value: list[float]) -> list[float]:
        if any(t < 0 for t in value):
            raise ValueError("temperatures must all be >= 0")
        return value

    @field_validator("clamp")
    @classmethod
    def _clamp(cls, value: tuple[float, float]) -> tuple[float, float]:
        lo, hi = value
        if not 0.0 <= lo <= 0.5 <= hi <= 1.0:
            raise ValueError(f"clamp {list(value)} must satisfy 0 <= lo <= 0.5 <= hi <= 1")
        return value

    @field_validator("comparison_template", "cot_template")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        lp.check_template(value)
        return value


def pair_indices(samples: int, pairing: str = "consecutive") -> list[tuple[int, int]]:
    """Which samples are compared: ``(0,1),(1,2),...`` or every ``(i, j)`` with ``i < j``."""
    if pairing == "all":
        return [(i, j) for i in range(samples) for j in range(i + 1, samples)]
    return [(i, i + 1) for i in range(samples - 1)]


def article_pool(spec: LabelSpec, constitution: Constitution) -> list[Article]:
    """The articles principles are drawn from; ConfigError on unknown ids or too few."""
    pool = select_articles(constitution, spec.articles, spec.name)
    if spec.principles > len(pool):
        raise ConfigError(
            f"stage {spec.name!r}: principles is {spec.principles} but only {len(pool)} "
            "articles are available; lower principles or widen articles."
        )
    return pool


def run_labels(
    spec: LabelSpec, ctx: RunContext, restart: bool = False, labeler: Labeler | None = None
) -> dict:
    """Run the stage; return counts ``{"total", "new", "failed", "done", "skipped"}``.

    Args:
        spec: the stage settings.
        ctx: the run.
        restart: discard rows made with different settings.
        labeler: replaces the constitutional labeler (e.g. a reward model).
    """
    # Model keys were checked when the config loaded (StageSpec.MODEL_FIELDS).
    pool = article_pool(spec, ctx.constitution)
    if labeler is None and spec.labeler_kind == "judge":
        labeler = JudgeLabeler(ctx.model(spec.labeler), spec.judge)
    if labeler is None and spec.labeler_kind == "wish_reward":
        # The copied context records the wish set's checkpoint in every row's provenance.
        labeler, ctx = plugin("labeler", "wish_reward")(spec, ctx)
    folder = ctx.prepare_stage(spec, restart)
    prompts = load_prompt_sources(spec.prompts, ctx.resolve, limit=spec.limit)
    from charter.prompts import check_held_out

    check_held_out(prompts)  # the eval's held-out scenarios are never trained on
    pairs = pair_indices(spec.samples, spec.pairing)
    counts = {"total": len(prompts) * len(pairs), "new": 0, "failed": 0}
    with (
        JsonlStore(folder / RESPONSES) as responses,
        JsonlStore(folder / PREFERENCES) as preferences,
        JsonlStore(folder / SKIPPED) as skipped,
        ErrorLog(folder / ERRORS) as errors,
    ):
        todo = [
            (p, i, j)
            for p in prompts
            for i, j in pairs
            if _pair_key(p.id, i, j) not in preferences and _pair_key(p.id, i, j) not in skipped
        ]
        if todo:
            _sample(spec, ctx, todo, responses, errors)
            samples = {r["key"]: r for r in read_jsonl(folder / RESPONSES)}
            jobs = []
            for p, i, j in todo:
                a, b = samples.get(_sample_key(p.id, i)), samples.get(_sample_key(p.id, j))
                if a is None or b is None:  # its sampling failed; errors.jsonl says why
                    counts["failed"] += 1
                elif a["text"].strip() == b["text"].strip():
                    skipped.add(_tie_row(spec, ctx, p, i, j, a))
                    counts["failed"] += 1
                else:
                    jobs.append((p, i, j, a, b))
            if jobs:
                _label(spec, ctx, pool, jobs, labeler, preferences, errors, counts, skipped)
        done = len(preferences)
    if spec.dataset and (counts["new"] or not (folder / DATASET).exists()):
        write_preference_dataset(folder / PREFERENCES, folder / DATASET)
    stats = label_stats(
        list(read_jsonl(folder / PREFERENCES)) if (folder / PREFERENCES).exists() else [],
        list(read_jsonl(folder / SKIPPED)) if (folder / SKIPPED).exists() else [],
        spec.min_margin,
    )
    write_json(folder / STATS, stats)
    margin = stats["margin"] or {}
    result = {
        **counts,
        "done": done,
        "skipped": len(skipped),
        "low_margin": stats["low_margin"],
        "median_margin": margin.get("median"),
    }
    warnings = label_warnings(stats)
    return result | {"warnings": warnings} if warnings else result


def _pair_key(prompt_id: str, i: int, j: int) -> str:
    return f"{prompt_id}:{i}-{j}"


def _sample_key(prompt_id: str, index: int) -> str:
    return f"{prompt_id}:{index}"


def _sample(spec, ctx, todo, responses: JsonlStore, errors: ErrorLog) -> None:
    """Sample every response the pending pairs need and the store lacks."""
    needed: dict[str, tuple[PromptRecord, int]] = {}
    for p, i, j in todo:
        for k in (i, j):
            if _sample_key(p.id, k) not in responses:
                needed[_sample_key(p.id, k)] = (p, k)
    if not needed:
        return
    policy = ctx.model(spec.policy)

    def params(p: PromptRecord, k: int) -> GenerateParams:
        return GenerateParams(
            max_tokens=spec.max_tokens,
            temperature=spec.temperatures[k % len(spec.temperatures)],
            top_p=spec.top_p,
            seed=ctx.seed_for(spec.name, f"{p.id}:sample:{k}"),
        )

    requests = (
        (key, [{"role": "user", "content": p.prompt}], params(p, k))
        for key, (p, k) in needed.items()
    )
    with progress_bar(f"{spec.name}: sample ({spec.policy})", len(needed), ctx.progress) as bar:
        for key, result in generate_many(policy, requests, spec.concurrency):
            p, k = needed[key]
            seed = ctx.seed_for(spec.name, f"{p.id}:sample:{k}")
            if isinstance(result, Completion):
                responses.add(
                    {
                        "key": key,
                        "id": p.id,
                        "index": k,
                        "text": result.text,
                        "temperature": params(p, k).temperature,
                        "seed": seed,
                        "finish_reason": result.finish_reason,
                        "model_id": result.model_id,
                        "created_at": _now(),
                        "provenance": ctx.provenance(result.model_id, seed),
                    }
                )
            else:
                _log_error(errors, ctx, key, p.id, "sample", result, policy.model_id, seed)
            bar.advance()


def _low(spec: LabelSpec, judgement: Judgement) -> bool:
    return abs(judgement.p - 0.5) < spec.min_margin


def _low_margin_row(spec, ctx, p, i, j, judgement: Judgement, labeler_id: str) -> dict:
    error = (
        f"label margin {abs(judgement.p - 0.5):.3f} is below min_margin {spec.min_margin}; "
        "the pair is left out (drop_low_margin)"
    )
    seed = ctx.seed_for(spec.name, f"{p.id}:pair:{i}-{j}")
    extra = {"p_first": judgement.p, "position_bias": judgement.position_bias}
    return _skip_row(p, i, j, "low_margin", error, ctx.provenance(labeler_id, seed), **extra)


def label_stats(rows: list[dict], skipped: list[dict], min_margin: float) -> dict:
    """The distributions a reader needs to trust the labels: margins, position bias, flips.

    ``margin`` is ``|p - 0.5|`` of each stored label (low-margin pairs that were
    dropped are counted separately); ``position_bias`` is the labeler's lean
    toward whichever reply was shown as (A); ``article_flip_rate`` is the share of
    per-article verdicts whose two orders picked different winners.

    ``order_agreement`` asks whether the labels follow the replies at all
    (:func:`charter.feedback.pairwise.order_consistency`, per pair, its articles'
    verdicts averaged per order); ``labels_beat_chance`` is its test's
    ``p < 0.05``, or ``None`` when no pair was labelled in both orders.
    """
    margins = [abs(r["p_first"] - 0.5) for r in rows]
    biases = [r["position_bias"] for r in rows]
    verdicts = [v for r in rows for v in r.get("per_article", [])]
    flips = [(v["p_order1"] - 0.5) * (v["p_order2"] - 0.5) < 0 for v in verdicts]
    dropped = sum(1 for r in skipped if r.get("reason") == "low_margin")
    agreement = order_agreement(rows)
    return {
        "pairs": len(rows),
        "min_margin": min_margin,
        "low_margin": sum(1 for m in margins if m < min_margin),
        "dropped_low_margin": dropped,
        "margin": _quantiles(margins),
        "position_bias": _quantiles(biases),
        "article_flip_rate": sum(flips) / len(flips) if flips else None,
        "order_agreement": agreement,
        "labels_beat_chance": None if agreement is None else agreement["p_value"] < 0.05,
    }


def order_agreement(rows: list[dict]) -> dict | None:
    """:func:`order_consistency` over the rows' per-article verdicts, one verdict per pair."""
    return order_consistency(
        [
            ensemble([PairVerdict(v["p_order1"], v["p_order2"]) for v in row["per_article"]])
            for row in rows
            if row.get("per_article")
        ]
    )


def consistency_words(agreement: dict, beats_chance: bool) -> str:
    """The order-consistency test in words, with its verdict (the console and the report)."""
    n, p = agreement["pairs"], agreement["p_value"]
    lean = f"mean lean toward (A) ({agreement['lean']:+.3f}) removed"
    if agreement.get("test") == "spearman":
        evidence = (
            f"the labeler's two orders' probabilities correlate at Spearman rho = "
            f"{agreement['rho']:+.2f} across pairs (one-sided permutation p = {p:.2g}); with its "
            f"{lean}, they picked the same winner in {agreement['agree']} of {n} pairs"
        )
    else:
        # At n <= 4 even n of n has p >= 1/16: no result could pass, so say so.
        small = f"; no result on {n} pairs could pass" if binomial_upper_tail(n, n) >= 0.05 else ""
        evidence = (
            f"with the labeler's {lean}, its two orders picked the same winner in "
            f"{agreement['agree']} of {n} pairs (one-sided sign test p = {p:.2g}{small})"
        )
    if beats_chance:
        return (
            f"{evidence}: the labels follow the replies (whether they pick the better one is "
            "the labeler's calibration card)"
        )
    return (
        f"{evidence}: order consistency inconclusive at n={n}, so nothing shows these labels "
        "follow the replies rather than chance; check the labeler's calibration card before "
        "training on them"
    )


def label_warnings(stats: dict) -> list[str]:
    """One sentence per reason not to train on these labels (empty when there is none)."""
    agreement = stats.get("order_agreement")
    if stats.get("labels_beat_chance") is not False or not agreement:
        return []
    return [consistency_words(agreement, beats_chance=False)]


def _quantiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    last = len(ordered) - 1
    pick = {q: ordered[min(last, round(q * last))] for q in (0.1, 0.5, 0.9)}
    return {
        "mean": sum(values) / len(values),
        "min": ordered[0],
        "p10": pick[0.1],
        "median": pick[0.5],
        "p90": pick[0.9],
        "max": ordered[-1],
    }


def _label(
    spec, ctx, pool, jobs, labeler, preferences: JsonlStore, errors: ErrorLog, counts, skipped
) -> None:
    """Judge each pending pair and store a preference row (or an error row)."""
    if labeler is None:
        labeler = ConstitutionalLabeler(
            ctx.model(spec.labeler),
            pool,
            principles=spec.principles,
            chain_of_thought=spec.chain_of_thought,
            clamp=spec.clamp,
            rationale=spec.rationale,
            templates=(spec.comparison_template, spec.cot_template, spec.cot_answer_template),
            reasoning_max_tokens=spec.reasoning_max_tokens,
            seed=ctx.config.seed,
        )
    labeler_id = getattr(labeler, "model_id", type(labeler).__name__)

    def seed_of(p: PromptRecord, i: int, j: int) -> int:
        return ctx.seed_for(spec.name, f"{p.id}:pair:{i}-{j}")

    def judge(job) -> Judgement:
        p, i, j, a, b = job
        return judge_pair(labeler, p.prompt, a["text"], b["text"], seed_of(p, i, j))

    keyed = ((_pair_key(job[0].id, job[1], job[2]), job) for job in jobs)
    by_key = {_pair_key(job[0].id, job[1], job[2]): job for job in jobs}
    limit = getattr(labeler, "max_concurrency", 1)
    with progress_bar(
        f"{spec.name}: label ({spec.labeler or spec.labeler_kind})", len(jobs), ctx.progress
    ) as bar:
        for key, result in map_concurrent(judge, keyed, spec.concurrency, limit):
            p, i, j, a, b = by_key[key]
            seed = seed_of(p, i, j)
            if isinstance(result, Judgement) and _low(spec, result) and spec.drop_low_margin:
                skipped.add(_low_margin_row(spec, ctx, p, i, j, result, labeler_id))
            elif isinstance(result, Judgement):
                preferences.add(_preference_row(spec, ctx, p, i, j, a, b, result, labeler_id))
                counts["new"] += 1
            else:
                _log_error(errors, ctx, key, p.id, "label", result, labeler_id, seed)
                counts["failed"] += 1
            bar.advance()


def _preference_row(spec, ctx, p, i, j, a, b, judgement: Judgement, labeler_id: str) -> dict:
    first_wins = judgement.p >= 0.5
    chosen, rejected = (a, b) if first_wins else (b, a)
    return {
        "key": _pair_key(p.id, i, j),
        **p.row_fields(),
        "pair": [i, j],
        "chosen": chosen["text"],
        "rejected": rejected["text"],
        "chosen_index": chosen["index"],
        "rejected_index": rejected["index"],
        "label_prob": judgement.p if first_wins else 1.0 - judgement.p,
        "p_first": judgement.p,
        "articles": [v.article_id for v in judgement.per_article],
        "per_article": [
            {
                "article_id": v.article_id,
                "p_order1": v.p_order1,
                "p_order2": v.p_order2,
                "p": v.p,
                "logprobs_order1": list(v.logprobs_order1),
                "logprobs_order2": list(v.logprobs_order2),
                "reasoning_order1": v.reasoning_order1,
                "reasoning_order2": v.reasoning_order2,
            }
            for v in judgement.per_article
        ],
        "position_bias": judgement.position_bias,
        "chain_of_thought": spec.chain_of_thought,
        "responses": [_response_summary(a), _response_summary(b)],
        "policy": a["model_id"],
        "labeler": labeler_id,
        "created_at": _now(),
        "provenance": ctx.provenance(labeler_id, ctx.seed_for(spec.name, f"{p.id}:pair:{i}-{j}")),
    }


def _response_summary(sample: dict) -> dict:
    return {k: sample[k] for k in ("index", "text", "temperature", "seed", "model_id")}


def _tie_row(spec, ctx, p, i, j, sample: dict) -> dict:
    error = (
        f"samples {i} and {j} are identical, so no preference can be read from them; "
        "the pair is skipped"
    )
    provenance = ctx.provenance(sample["model_id"], sample["seed"])
    return _skip_row(p, i, j, "tie", error, provenance, raw=sample["text"])


def _skip_row(p, i, j, reason: str, error: str, provenance: dict, **extra) -> dict:
    """A ``skipped.jsonl`` row: the pair, why it was left out, and its provenance."""
    return {
        "key": _pair_key(p.id, i, j),
        "id": p.id,
        "pair": [i, j],
        "reason": reason,
        "error": error,
        **extra,
        "created_at": _now(),
        "provenance": provenance,
    }


def _log_error(errors: ErrorLog, ctx, key, prompt_id, step, error, model_id, seed) -> None:
    errors.add(
        key,
        error,
        id=prompt_id,
        step=step,
        raw=getattr(error, "raw", None),  # a malformed labeler output keeps its text
        provenance=ctx.provenance(model_id, seed),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()


def write_preference_dataset(rows_path: str | Path, folder: str | Path) -> int:
    """Save ``prompt/chosen/rejected/label_prob`` as an HF ``datasets`` folder (TRL's DPO)."""
    import datasets

    rows = list(read_jsonl(rows_path)) if Path(rows_path).exists() else []
    features = datasets.Features(
        {
            "prompt": datasets.Value("string"),
            "chosen": datasets.Value("string"),
            "rejected": datasets.Value("string"),
            "label_prob": datasets.Value("float64"),
        }
    )
    table = [{col: row[col] for col in DATASET_COLUMNS} for row in rows]
    return save_dataset(table, Path(folder), features)
