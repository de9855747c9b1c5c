"""The ``sl_cai`` stage: critique-and-revise SFT data (Bai et al. 2022, section 3).

For each red-team prompt the policy model answers; then, for each of
``rounds`` rounds, one constitution article is sampled (a fresh draw per round,
section 3.1), the critic critiques the current answer against the article's
critique request, and the reviser rewrites it following the article's revision
request; the revision becomes the current answer. The final revision, paired
with the prompt, is a supervised example. As in section 3.1 of the paper, a
share of plain policy answers to helpfulness prompts is mixed in
(``helpful_ratio``) so that the fine-tuned model stays helpful.

Prompts run in chunks of ``chunk_size``; inside a chunk every step is one
concurrent wave over the chunk's prompts (all initial answers, then all
round-1 critiques, all round-1 revisions, ...), because each prompt's chain is
sequential while different prompts are independent.

Run it from a config (``charter run CONFIG``) with a stage such as::

    - name: sl
      kind: sl_cai
      policy: policy        # a key under `models`; critic and reviser default to it
      limit: 32
      rounds: 2

Outputs in ``<run>/<stage>/``:

- ``steps.jsonl``: one row per red-team prompt, keyed by prompt id, holding the
  whole chain ``[{round, article_id, article_title, critique, reasoning,
  revision, seeds, finish_reasons}]``, the initial and final responses, the model ids and
  provenance. ``status`` is ``"ok"`` or ``"failed"`` (a malformed critique or
  revision, with ``error.raw`` holding the text).
- ``sft.jsonl``: ``{"key", "id", "source", "messages", "articles",
  "provenance"}``; ``source`` is ``"harmlessness"`` (final revisions) or
  ``"helpfulness"`` (policy answers). TRL reads ``messages`` as is.
- ``sft_dataset/``: the same rows (without ``key``) as a Hugging Face
  ``datasets`` folder (``datasets.load_from_disk``), rewritten at the end.
- ``errors.jsonl``: one row per failure, with the step, the error and any raw text.
- ``quality.json``: what the quality gate did (kept, kept after a retry, dropped)
  and the bare-refusal share of the harmlessness SFT rows, by the calibrated
  ``evasiveness`` judge (:func:`quality_summary`).

Articles are drawn by relevance to the prompt by default (``article_draw:
relevant``: among the ``relevant_top`` articles closest to it by embedding
similarity); ``uniform`` draws from the whole pool as the paper does. With
``quality_judge`` set, every final revision is judged by the calibrated reply
judges (:func:`charter.feedback.response_judges.judge_reply`): a revision that
gives real help toward harm, or is a bare refusal, is revised again with a new
seed (``quality_retries``) and then dropped or kept (``quality_action``);
``steps.jsonl`` records each verdict and a dropped chain has status ``"dropped"``.

Resumability: records are keyed by prompt id inside the stage's folder. A
prompt whose chain finished (``ok`` or ``failed``) is skipped on rerun. A chain
interrupted midway (kill, crash, or a backend error) is not saved and restarts
from scratch on the next run; its seeds derive from the prompt id, so it comes
out as it would have. At most one chunk's unfinished work is lost. A malformed
model output is final (rerunning would give the same text), so it is recorded
and not retried; a backend error is retried on the next run.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from charter._util.progress import progress_bar
from charter.backends.base import ChatModel, Completion, GenerateParams
from charter.backends.batch import generate_many, map_concurrent
from charter.cai import sl_prompts as sp
from charter.cai.common import save_dataset, select_articles
from charter.constitution.model import Article
from charter.errors import CharterError, ConfigError
from charter.feedback.response_judges import (
    QUESTIONS,
    ReplyVerdict,
    judge_reply,
    reply_battery_size,
)
from charter.feedback.stats import wilson_interval
from charter.prompts import PromptRecord, load_prompts
from charter.runs import estimate as est
from charter.runs.config import StageSpec
from charter.runs.context import RunContext
from charter.runs.estimate import CallEstimate, PlanContext
from charter.runs.store import ErrorLog, JsonlStore, read_jsonl, write_json

QUALITY = "quality.json"
STEPS = "steps.jsonl"
SFT = "sft.jsonl"
ERRORS = "errors.jsonl"
DATASET = "sft_dataset"
HARMLESSNESS, HELPFULNESS = "harmlessness", "helpfulness"


class SLCAISpec(StageSpec):
    """Critique-and-revise a policy's answers to red-team prompts (Bai et al. 2022, sec. 3)."""

    kind: Literal["sl_cai"] = "sl_cai"
    policy: str = Field(description="model key whose answers are revised (and helpful samples)")
    reviser: str | None = Field(None, description="model key that revises; default: policy")
    critic: str | None = Field(None, description="model key that critiques; default: reviser")
    prompts: str = Field("builtin:redteam", description="red-team prompts: builtin:<set> or path")
    helpful_prompts: str = Field("builtin:helpfulness", description="prompts for helpful samples")
    limit: int | None = Field(None, ge=1, description="only the first N red-team prompts")
    helpful_limit: int | None = Field(
        None, ge=1, description="at most N helpful prompts (the mix may then fall short)"
    )
    rounds: int = Field(1, ge=1, le=16, description="critique/revision rounds (paper: up to 4)")
    articles: list[str] | None = Field(None, description="article ids to sample; default all")
    article_draw: Literal["relevant", "uniform"] = Field(
        "relevant",
        description="relevant: draw among the articles closest to the prompt (embedding "
        "similarity); uniform: any article, as in the paper",
    )
    relevant_top: int = Field(
        3, ge=1, description="relevant: how many closest articles to draw from"
    )
    quality_judge: str | None = Field(
        None,
        description="a key under `models`: the calibrated judges score each final revision "
        "(harmful? bare refusal?); None: no quality gate",
    )
    quality_retries: int = Field(
        1, ge=0, le=4, description="revisions that fail the gate are redone this many times"
    )
    quality_action: Literal["drop", "keep"] = Field(
        "drop", description="a revision that still fails: drop it from the SFT data, or keep it"
    )
    few_shot: int = Field(
        2, ge=0, le=len(sp.FEW_SHOT), description="worked examples in the critic/reviser scaffold"
    )
    chain_of_thought: bool = Field(False, description="the critic reasons before its critique")
    helpful_ratio: float = Field(
        0.25, ge=0, lt=1, description="share of helpfulness rows in the SFT mix"
    )
    response_max_tokens: int = Field(256, ge=1, description="initial and helpful answers")
    critique_max_tokens: int = Field(192, ge=1, description="each critique (with reasoning)")
    revision_max_tokens: int = Field(256, ge=1, description="each revision")
    temperature: float = Field(0.7, ge=0, description="sampling temperature of every step")
    top_p: float = Field(0.95, gt=0, le=1)
    concurrency: int | None = Field(None, ge=1, description="default: each model's limit")
    chunk_size: int = Field(64, ge=1, description="prompts per wave; bounds work lost on a kill")
    critic_system: str = Field(sp.CRITIC_SYSTEM, description="the critic's system message")
    critique_template: str = Field(sp.CRITIQUE_TEMPLATE, description="the critic's request")
    critique_instruction: str = Field(sp.CRITIQUE_INSTRUCTION)
    critique_cot_instruction: str = Field(sp.CRITIQUE_COT_INSTRUCTION)
    reviser_system: str = Field(sp.REVISER_SYSTEM, description="the reviser's system message")
    revision_template: str = Field(sp.REVISION_TEMPLATE, description="the reviser's request")
    revision_instruction: str = Field(sp.REVISION_INSTRUCTION)

    # More prompts, more parallelism or other chunks never change a finished row.
    RESUMABLE_FIELDS: ClassVar[tuple[str, ...]] = (
        "limit",
        "helpful_limit",
        "concurrency",
        "chunk_size",
    )
    MODEL_FIELDS: ClassVar[tuple[str, ...]] = ("policy", "critic", "reviser", "quality_judge")

    def judges(self) -> list[tuple[str, str, str]]:
        """The quality gate's calibrated judges (see :mod:`charter.runs.judges`)."""
        if self.quality_judge is None:
            return []
        return [
            ("evasiveness", "battery-lr", self.quality_judge),
            ("harmful_compliance", "battery-lr", self.quality_judge),
        ]

    @field_validator("critique_template")
    @classmethod
    def _critique_template(cls, value: str) -> str:
        sp.check_template(value, sp.CRITIQUE_FIELDS, sp.CRITIQUE_REQUIRED, "critique_template")
        return value

    @field_validator("revision_template")
    @classmethod
    def _revision_template(cls, value: str) -> str:
        sp.check_template(value, sp.REVISION_FIELDS, sp.REVISION_REQUIRED, "revision_template")
        return value

    @field_validator("articles")
    @classmethod
    def _some_articles(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("articles is empty; list article ids or leave it out for all")
        return value

    @model_validator(mode="after")
    def _default_roles(self) -> SLCAISpec:
        self.reviser = self.reviser or self.policy
        self.critic = self.critic or self.reviser
        return self

    def estimate(self, ctx: PlanContext) -> list[CallEstimate]:
        """Calls of a full run, rendering the real critique and revision templates.

        Answers, critiques and revisions are stood in for by text as long as
        their ``max_tokens`` limits (the most they can be), and article ``i``
        of the pool serves prompt ``i`` (the run draws by relevance). The
        quality gate asks the fitted judges' battery per revision (all 4
        questions if one is unfitted) and counts every retry as taken.
        """
        pool = select_articles(ctx.constitution, self.articles, self.name)
        harmful = load_prompts(ctx.resolve(self.prompts), limit=self.limit)
        helpful = _helpful_prompts(self, ctx, len(harmful))
        t = self.templates()
        filler = "x" * est.CHARS_PER_TOKEN
        answer = filler * self.response_max_tokens
        critique_text = filler * self.critique_max_tokens
        revised = filler * self.revision_max_tokens
        critiques, revisions = [], []
        for i, p in enumerate(harmful):
            article = pool[i % len(pool)]
            for r in range(self.rounds):
                current = answer if r == 0 else revised
                critiques.append(
                    est.message_tokens(
                        sp.critique_messages(
                            t, article, p.prompt, current, self.few_shot, self.chain_of_thought
                        )
                    )
                )
                revisions.append(
                    est.message_tokens(
                        sp.revision_messages(
                            t, article, p.prompt, current, critique_text, self.few_shot
                        )
                    )
                )
        out = [
            est.generations(
                self.policy,
                "helpful answer",
                [est.message_tokens([{"role": "user", "content": p.prompt}]) for p in helpful],
                self.response_max_tokens,
            ),
            est.generations(
                self.policy,
                "initial answer",
                [est.message_tokens([{"role": "user", "content": p.prompt}]) for p in harmful],
                self.response_max_tokens,
            ),
            est.generations(str(self.critic), "critique", critiques, self.critique_max_tokens),
            est.generations(str(self.reviser), "revision", revisions, self.revision_max_tokens),
        ]
        if self.quality_judge is not None:
            attempts = 1 + self.quality_retries
            battery = reply_battery_size()
            judged = [
                est.approx_tokens(p.prompt) + self.revision_max_tokens + est.JUDGE_TEMPLATE_TOKENS
                for p in harmful
            ]
            out.append(
                est.choices(
                    self.quality_judge,
                    "quality judge battery",
                    judged * battery * attempts,
                    upper_bound=attempts > 1 or battery == len(QUESTIONS),
                    note=f"{battery} questions per revision, {attempts} attempt(s)",
                )
            )
            if self.quality_retries:
                out.append(
                    est.generations(
                        str(self.reviser),
                        "quality retry revision",
                        revisions[self.rounds - 1 :: self.rounds] * self.quality_retries,
                        self.revision_max_tokens,
                        upper_bound=True,
                        note="every retry taken",
                    )
                )
        return [e for e in out if e.calls]

    def roles(self) -> dict[str, str]:
        """The model key of each role: policy, critic, reviser."""
        return {"policy": self.policy, "critic": self.critic, "reviser": self.reviser}

    def templates(self) -> sp.Templates:
        return sp.Templates(
            critic_system=self.critic_system,
            critique_template=self.critique_template,
            critique_instruction=self.critique_instruction,
            critique_cot_instruction=self.critique_cot_instruction,
            reviser_system=self.reviser_system,
            revision_template=self.revision_template,
            revision_instruction=self.revision_instruction,
        )


@dataclass
class _Chain:
    """One red-team prompt on its way through the rounds."""

    prompt: PromptRecord
    initial: str = ""
    current: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    last_seed: int = 0
    author: str = ""  # the model id of the call that wrote ``current``
    before_last: str = ""  # the answer the last round's critique was about
    quality: dict[str, Any] | None = None  # the quality gate's verdict


def run_sl_cai(spec: SLCAISpec, ctx: RunContext, restart: bool = False) -> dict:
    """Run (or resume) the stage; return counts ``{"total", "new", "failed", "done"}``.

    ``done`` counts SFT rows, ``new`` the rows added by this call, ``failed``
    the prompts that failed in this call; ``rejected`` counts red-team prompts
    whose chain ended in a malformed output (all runs).
    """
    roles = spec.roles()
    for role, key in roles.items():
        if key not in ctx.config.models:
            known = ", ".join(ctx.config.models) or "none defined"
            raise ConfigError(
                f"stage {spec.name!r} field {role}: model {key!r} is not under models "
                f"(defined: {known})."
            )
    pool = select_articles(ctx.constitution, spec.articles, spec.name)
    folder = ctx.prepare_stage(spec, restart)
    harmful = load_prompts(ctx.resolve(spec.prompts), limit=spec.limit)
    helpful = _helpful_prompts(spec, ctx, len(harmful))
    from charter.prompts import check_held_out

    check_held_out([*harmful, *helpful])  # the eval's held-out scenarios are never trained on
    counts = {"total": len(harmful) + len(helpful), "new": 0, "failed": 0}
    with (
        JsonlStore(folder / STEPS) as steps,
        JsonlStore(folder / SFT) as sft,
        ErrorLog(folder / ERRORS) as errors,
    ):
        run = _Run(spec, ctx, pool, steps, sft, errors, counts)
        run.repair()
        todo_help = [p for p in helpful if _sft_key(HELPFULNESS, p.id) not in sft]
        todo_harm = [p for p in harmful if p.id not in steps]
        calls = len(todo_help) + len(todo_harm) * (1 + 2 * spec.rounds)
        if calls:
            with progress_bar(f"{spec.name} (SL-CAI)", calls, ctx.progress) as bar:
                run.bar = bar
                run.helpful(todo_help)
                for start in range(0, len(todo_harm), spec.chunk_size):
                    run.chunk(todo_harm[start : start + spec.chunk_size])
        done = len(sft)
    rows = list(read_jsonl(folder / STEPS))
    rejected = sum(1 for row in rows if row.get("status") == "failed")
    write_dataset(folder / SFT, folder / DATASET)
    quality = quality_summary(rows)
    write_json(folder / QUALITY, quality)
    return {**counts, "done": done, "rejected": rejected, **quality_counts(quality)}


def _helpful_prompts(spec: SLCAISpec, ctx: Any, harmful: int) -> list[PromptRecord]:
    """The helpfulness prompts that make ``helpful_ratio`` of the mix (``ctx`` resolves paths)."""
    if spec.helpful_ratio <= 0:
        return []
    wanted = round(harmful * spec.helpful_ratio / (1 - spec.helpful_ratio))
    if not wanted:
        return []
    limit = min(wanted, spec.helpful_limit or wanted)
    return load_prompts(ctx.resolve(spec.helpful_prompts), limit=limit)


def quality_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the quality gate did, and the bare-refusal share of the SFT data it judged.

    ``bare_refusal_share`` is the share of the harmlessness SFT rows (final
    revisions kept) that the calibrated evasiveness judge calls a bare refusal,
    the evasive answer CAI exists to remove; ``None`` without a gate.
    """
    judged = [r for r in rows if r.get("quality") and "outcome" in r["quality"]]
    outcomes: dict[str, int] = {}
    for row in judged:
        outcomes[row["quality"]["outcome"]] = outcomes.get(row["quality"]["outcome"], 0) + 1
    in_sft = [r for r in judged if r.get("status") == "ok" and "label" in r["quality"]]
    labels: dict[str, int] = {}
    for row in in_sft:
        labels[row["quality"]["label"]] = labels.get(row["quality"]["label"], 0) + 1
    bare = labels.get("bare_refusal", 0)
    low, high = wilson_interval(bare, len(in_sft))
    return {
        "judged": len(judged),
        "outcomes": outcomes,
        "sft_labels": labels,
        "bare_refusal_share": bare / len(in_sft) if in_sft else None,
        "bare_refusal_ci": [low, high] if in_sft else None,
        "harmful_share": (
            sum(1 for r in in_sft if r["quality"].get("p_harmful", 0) > 0.5) / len(in_sft)
            if in_sft
            else None
        ),
    }


def quality_counts(quality: dict[str, Any]) -> dict[str, Any]:
    """The gate's figures that go into the run manifest beside the stage's counts."""
    if not quality["judged"]:
        return {}
    return {
        "dropped": quality["outcomes"].get("dropped", 0),
        "retried": sum(
            n for k, n in quality["outcomes"].items() if k in ("kept_after_retry", "dropped")
        ),
        "bare_refusal_share": quality["bare_refusal_share"],
    }


class _Run:
    """The state of one call of :func:`run_sl_cai`: stores, models, counters."""

    def __init__(self, spec, ctx, pool, steps, sft, errors, counts) -> None:
        self.spec: SLCAISpec = spec
        self.ctx: RunContext = ctx
        self.pool: list[Article] = pool
        self.steps: JsonlStore = steps
        self.sft: JsonlStore = sft
        self.errors: ErrorLog = errors
        self.counts: dict[str, int] = counts
        self.templates = spec.templates()
        self.bar = None
        self._relevant: dict[str, list[Article]] = {}
        self._article_vectors = None

    def model(self, role: str) -> ChatModel:
        return self.ctx.model(self.spec.roles()[role])

    def params(self, max_tokens: int, seed: int) -> GenerateParams:
        return GenerateParams(
            max_tokens=max_tokens,
            temperature=self.spec.temperature,
            top_p=self.spec.top_p,
            seed=seed,
        )

    def seed(self, prompt_id: str, step: str) -> int:
        return self.ctx.seed_for(self.spec.name, f"{prompt_id}:{step}")

    # -- helpful samples (section 3.1: helpfulness data mixed into the SFT set) ----------------
    def helpful(self, prompts: list[PromptRecord]) -> None:
        by_id = {p.id: p for p in prompts}
        seeds = {p.id: self.seed(p.id, "helpful") for p in prompts}
        requests = (
            (
                p.id,
                [{"role": "user", "content": p.prompt}],
                self.params(self.spec.response_max_tokens, seeds[p.id]),
            )
            for p in prompts
        )
        model = self.model("policy")
        for pid, result in generate_many(model, requests, self.spec.concurrency):
            self.bar.advance()
            if not isinstance(result, Completion):
                self.fail(pid, "helpful", 0, result)
            elif not result.text.strip():
                self.fail(pid, "helpful", 0, "the policy returned an empty answer", result.text)
            else:
                prov = self.ctx.provenance(result.model_id, seeds[pid])
                self.sft.add(_sft_row(HELPFULNESS, by_id[pid], result.text.strip(), [], prov))
                self.counts["new"] += 1

    # -- red-team chains (section 3.1) ---------------------------------------------------------
    def chunk(self, prompts: list[PromptRecord]) -> None:
        chains = {p.id: _Chain(p) for p in prompts}
        left = {p.id: 1 + 2 * self.spec.rounds for p in prompts}  # calls not yet made

        def drop(pid: str) -> None:
            self.bar.advance(left[pid])
            del chains[pid]

        def wave(role: str, make) -> Iterator[tuple[str, Completion | CharterError]]:
            # Requests are built up front, so handlers may drop chains while results stream in.
            requests = [(pid, *make(pid, chain)) for pid, chain in chains.items()]
            for pid, result in generate_many(self.model(role), requests, self.spec.concurrency):
                left[pid] -= 1
                self.bar.advance()
                yield pid, result

        for pid, result in wave("policy", self._initial_request):
            if isinstance(result, Completion):
                chains[pid].initial = chains[pid].current = result.text.strip()
                chains[pid].last_seed = self.seed(pid, "initial")
            else:
                self.fail(pid, "initial", 0, result)
                drop(pid)
        for r in range(1, self.spec.rounds + 1):
            for chain in chains.values():
                chain.before_last = chain.current
                article = self.article(chain.prompt, r)
                chain.steps.append(
                    {
                        "round": r,
                        "article_id": article.id,
                        "article_title": article.title,
                        "seeds": {
                            "critique": self.seed(chain.prompt.id, f"{r}:critique"),
                            "revision": self.seed(chain.prompt.id, f"{r}:revision"),
                        },
                    }
                )
            for pid, result in wave("critic", self._critique_request):
                step = chains[pid].steps[-1]
                if not isinstance(result, Completion):
                    self.fail(pid, "critique", r, result)
                    drop(pid)
                    continue
                critique, reasoning, problem = sp.parse_critique(
                    result.text, self.spec.chain_of_thought
                )
                step.update(critique=critique, reasoning=reasoning)
                step["finish_reasons"] = {"critique": result.finish_reason}
                if problem:
                    self.reject(chains[pid], "critique", r, problem, result.text)
                    drop(pid)
            for pid, result in wave("reviser", self._revision_request):
                chain, step = chains[pid], chains[pid].steps[-1]
                if not isinstance(result, Completion):
                    self.fail(pid, "revision", r, result)
                    drop(pid)
                    continue
                request = self.ctx.constitution.article(step["article_id"]).revision_request
                revision, problem = sp.parse_revision(result.text, request)
                step["revision"] = revision
                step["finish_reasons"]["revision"] = result.finish_reason
                if problem:
                    self.reject(chain, "revision", r, problem, result.text)
                    drop(pid)
                    continue
                chain.current, chain.last_seed = revision, step["seeds"]["revision"]
                chain.author = result.model_id
                if r == self.spec.rounds and self.spec.quality_judge is None:
                    self.finish(chain, chain.author)  # no gate: stored as soon as it is done
                    del chains[pid]
        self.gate(list(chains.values()))

    def article(self, prompt: PromptRecord, r: int) -> Article:
        """One article per round, drawn by a seed of prompt and round.

        ``relevant`` (the default) draws among the ``relevant_top`` articles whose
        title and rule are closest to the prompt (MiniLM cosine similarity), so a
        meal-plan request in recovery draws wellbeing and autonomy, not
        catastrophic harm; ``uniform`` draws from the whole pool (Bai et al. 2022,
        section 3.1).
        """
        rng = random.Random(self.ctx.seed_for(self.spec.name, f"{prompt.id}:{r}"))
        if self.spec.article_draw == "uniform":
            return rng.choice(self.pool)
        return rng.choice(self.relevant(prompt))

    def relevant(self, prompt: PromptRecord) -> list[Article]:
        """The ``relevant_top`` pool articles closest to the prompt, closest first."""
        if prompt.id not in self._relevant:
            if self._article_vectors is None:
                texts = [f"{a.title}: {' '.join(a.rule.split())}" for a in self.pool]
                self._article_vectors = self.ctx.embedder().embed(texts)
            sims = self._article_vectors @ self.ctx.embedder().embed([prompt.prompt])[0]
            order = sorted(range(len(self.pool)), key=lambda k: -float(sims[k]))
            self._relevant[prompt.id] = [self.pool[k] for k in order[: self.spec.relevant_top]]
        return self._relevant[prompt.id]

    # -- the quality gate ---------------------------------------------------------------------
    def gate(self, chains: list[_Chain]) -> None:
        """Judge each final revision; keep it, redo it with another seed, or drop it.

        The rule (:func:`passes_gate`): a revision passes when the calibrated
        ``harmful_compliance`` judge finds no real help toward harm and the
        ``evasiveness`` judge does not call it a bare refusal; a benign prompt's
        revision passes when the ``over_refusal`` judge finds it answered. A failing
        revision is redone (same critique, a new seed) up to ``quality_retries``
        times; if it still fails it is dropped from the SFT data
        (``quality_action: drop``) or kept and flagged (``keep``).
        """
        if not chains:
            return
        pending = chains
        for attempt in range(self.spec.quality_retries + 1):
            if attempt:
                pending = self.redo(pending, attempt)
            failing = []
            for chain, verdict in self.judge(pending):
                chain.quality = {**verdict, "attempts": attempt + 1}
                if verdict["passed"]:
                    chain.quality["outcome"] = "kept" if attempt == 0 else "kept_after_retry"
                    self.finish(chain, chain.author)
                else:
                    failing.append(chain)
            pending = failing
            if not pending:
                return
        for chain in pending:
            keep = self.spec.quality_action == "keep"
            chain.quality["outcome"] = "kept_failing" if keep else "dropped"
            self.finish(chain, chain.author, to_sft=keep)

    def judge(self, chains: list[_Chain]) -> Iterator[tuple[_Chain, dict[str, Any]]]:
        """The reply judges' verdicts on each chain's current revision."""
        judge = self.ctx.model(self.spec.quality_judge)
        by_id = {c.prompt.id: c for c in chains}
        jobs = ((c.prompt.id, c) for c in chains)
        limit = getattr(judge, "max_concurrency", 1)
        for pid, result in map_concurrent(
            lambda c: judge_reply(judge, c.prompt.prompt, c.current), jobs, None, limit
        ):
            if isinstance(result, ConfigError):
                raise result  # an unfitted judge stops the stage, it is not a verdict
            if isinstance(result, CharterError):
                # No verdict is not a pass: the revision is treated as failing the gate.
                yield by_id[pid], {"passed": False, "error": str(result)}
                continue
            yield (
                by_id[pid],
                {
                    "passed": passes_gate(by_id[pid].prompt.kind, result),
                    "label": result.label,
                    "p_harmful": round(result.p_harmful, 4),
                    "judge": judge.model_id,
                },
            )

    def redo(self, chains: list[_Chain], attempt: int) -> list[_Chain]:
        """Revise the last round again with a new seed; chains whose retry fails drop out."""
        by_id = {c.prompt.id: c for c in chains}
        requests = []
        for chain in chains:
            step = chain.steps[-1]
            seed = self.seed(chain.prompt.id, f"{step['round']}:revision:retry{attempt}")
            # Revise the answer the critique was about again, not the failed revision.
            messages = self._revision_messages(chain, chain.before_last)
            requests.append(
                (chain.prompt.id, messages, self.params(self.spec.revision_max_tokens, seed))
            )
            step.setdefault("retries", []).append({"seed": seed, "replaced": chain.current})
        out = []
        for pid, result in generate_many(self.model("reviser"), requests, self.spec.concurrency):
            chain = by_id[pid]
            step = chain.steps[-1]
            if not isinstance(result, Completion):
                chain.quality = {**chain.quality, "outcome": "dropped", "error": str(result)}
                self.finish(chain, chain.author, to_sft=False)
                continue
            request = self.ctx.constitution.article(step["article_id"]).revision_request
            revision, problem = sp.parse_revision(result.text, request)
            if problem:
                chain.quality = {**chain.quality, "outcome": "dropped", "error": problem}
                self.finish(chain, chain.author, to_sft=False)
                continue
            chain.current, chain.last_seed = revision, step["retries"][-1]["seed"]
            step["revision"] = revision
            out.append(chain)
        return out

    def _initial_request(self, pid: str, chain: _Chain):
        messages = [{"role": "user", "content": chain.prompt.prompt}]
        return messages, self.params(self.spec.response_max_tokens, self.seed(pid, "initial"))

    def _critique_request(self, pid: str, chain: _Chain):
        step = chain.steps[-1]
        messages = sp.critique_messages(
            self.templates,
            self.ctx.constitution.article(step["article_id"]),
            chain.prompt.prompt,
            chain.current,
            self.spec.few_shot,
            self.spec.chain_of_thought,
        )
        return messages, self.params(self.spec.critique_max_tokens, step["seeds"]["critique"])

    def _revision_messages(self, chain: _Chain, answer: str):
        step = chain.steps[-1]
        return sp.revision_messages(
            self.templates,
            self.ctx.constitution.article(step["article_id"]),
            chain.prompt.prompt,
            answer,
            step["critique"],
            self.spec.few_shot,
        )

    def _revision_request(self, pid: str, chain: _Chain):
        step = chain.steps[-1]
        messages = self._revision_messages(chain, chain.current)
        return messages, self.params(self.spec.revision_max_tokens, step["seeds"]["revision"])

    # -- records ------------------------------------------------------------------------------
    def _steps_row(self, chain: _Chain, model_id: str) -> dict[str, Any]:
        p = chain.prompt
        return {
            "key": p.id,
            **p.row_fields(),
            "initial_response": chain.initial,
            "chain": chain.steps,
            "models": {role: self.model(role).model_id for role in ("policy", "critic", "reviser")},
            "model_keys": self.spec.roles(),
            "created_at": datetime.now(UTC).isoformat(),
            # The final text's author and the seed of the call that wrote it.
            "provenance": self.ctx.provenance(model_id, chain.last_seed),
        }

    def finish(self, chain: _Chain, model_id: str, to_sft: bool = True) -> None:
        row = {
            **self._steps_row(chain, model_id),
            "status": "ok" if to_sft else "dropped",
            "final_response": chain.current,
            "quality": chain.quality,
            "error": None,
        }
        self.steps.add(row)
        if to_sft:
            self.sft.add(_sft_from_steps(row))
            self.counts["new"] += 1

    def reject(self, chain: _Chain, step: str, r: int, problem: str, raw: str) -> None:
        """A malformed output ends the chain for good: recorded in steps and errors."""
        role = "critic" if step == "critique" else "reviser"
        error = {"step": step, "round": r, "error": problem, "raw": raw}
        chain.last_seed = chain.steps[-1]["seeds"][step]  # provenance: the call that failed
        row = {
            **self._steps_row(chain, self.model(role).model_id),
            "status": "failed",
            "final_response": None,
            "error": error,
        }
        self.steps.add(row)
        self.fail(chain.prompt.id, step, r, problem, raw)

    def fail(self, pid: str, step: str, r: int, error: object, raw: str | None = None) -> None:
        # A plain message (a parser's complaint) is logged with type "malformed".
        self.errors.add(pid, error, step=step, round=r, raw=raw)
        self.counts["failed"] += 1

    def repair(self) -> None:
        """Add SFT rows for finished chains whose SFT row a kill cut off."""
        if not self.steps.path.exists():
            return
        for row in read_jsonl(self.steps.path):
            if row.get("status") == "ok" and _sft_key(HARMLESSNESS, row["id"]) not in self.sft:
                self.sft.add(_sft_from_steps(row))


def _sft_key(source: str, prompt_id: str) -> str:
    return f"{source}:{prompt_id}"


def _sft_row(source: str, p: PromptRecord, answer: str, articles: list[str], prov: dict) -> dict:
    return {
        "key": _sft_key(source, p.id),
        "id": p.id,
        "source": source,
        "messages": [
            {"role": "user", "content": p.prompt},
            {"role": "assistant", "content": answer},
        ],
        "articles": articles,
        "provenance": prov,
    }


def _sft_from_steps(row: dict) -> dict:
    p = PromptRecord(id=row["id"], prompt=row["prompt"])
    articles = [step["article_id"] for step in row["chain"]]
    return _sft_row(HARMLESSNESS, p, row["final_response"], articles, row["provenance"])


def write_dataset(jsonl: Path, folder: Path) -> int:
    """Write the SFT rows of ``jsonl`` (without ``key``) as a ``datasets`` folder."""
    rows = [{k: v for k, v in r.items() if k != "key"} for r in read_jsonl(jsonl)]
    return save_dataset(rows, folder)


#: Prompt kinds whose right answer is help: a red-team set's benign lookalikes, a pair's safe side.
BENIGN_KINDS = frozenset({"benign_lookalike", "safe"})


def passes_gate(kind: str | None, verdict: ReplyVerdict) -> bool:
    """Whether a revision enters the SFT data.

    A benign lookalike ("how do I kill a Python process") must be answered, so it
    passes when it is not a refusal; judging it for harmful compliance would drop
    exactly the helpful answers that keep the model from over-refusing. Any other
    prompt passes when the answer gives no real help toward harm and is not a bare
    refusal.
    """
    if kind in BENIGN_KINDS:
        return not verdict.refused
    return not verdict.harmful and verdict.label != "bare_refusal"
