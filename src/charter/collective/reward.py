"""The wish-sampled reward: score a response against many people's wishes, weighted by stake.

For a (prompt, response) pair the reward draws K wishes at random, with
probability proportional to their influence (:mod:`charter.collective.weights`),
optionally only among the M wishes whose scenarios are most similar to the
prompt, scores the response against each drawn wish, and averages. The draws
are a Monte-Carlo estimate of the influence-weighted mean score over the whole
ledger, so the reward comes with its standard error over the drawn wishes.
Draws are deterministic: the random generator is seeded from the reward's
``seed`` and the (prompt, response) pair (or the prompt alone with
``common_wishes=True``, so every response to a prompt meets the same wishes:
common random numbers, lower variance for comparisons and GRPO groups).

Scorers:

- ``embedding``: alignment ``a_i = cos(e(response), e(behaviour_i))``, the
  draws weighted by relevance ``v_i = exp(cos(e(prompt), e(scenario_i)) / T)``
  (``relevance_temperature`` T, default 0.1; None weighs draws equally). The
  reward is the self-normalised mean ``sum v_i a_i / sum v_i``: a response
  counts as fulfilling the wishes whose scenario fits the prompt, and wishes
  about other situations barely count. Wish embeddings are computed once per
  wish set and embedder (cached by entry id); a batch is scored with one
  matrix product.
- ``judge``: a chat model that can score choices is asked, per drawn wish,
  whether the response does what the wish asks in the wish's scenario; the
  score is P(Yes) read from the normalised log-probabilities of the answers
  "Yes" and "No" (as AI-feedback labels are read, Bai et al. 2022, section 4.1).

The standard error is the delta-method error of the ratio estimator,
``sqrt(K / (K - 1) * sum v_i^2 (a_i - R)^2) / sum v_i``, which is the usual
``std / sqrt(K)`` when all weights are equal.

Use it from TRL (``GRPOTrainer(reward_funcs=[make_reward_fn(...)])``, or the
import string ``charter.collective.reward:wish_reward`` for trainers that take a
reward function by name), over HTTP (``charter reward
serve``), or as an RL-CAI labeler (:mod:`charter.collective.labeler`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from charter.backends.base import Embedder
from charter.backends.batch import map_concurrent
from charter.collective.weights import InfluencePolicy, influence, policy_label
from charter.collective.wishes import WishRecord, WishSet, load_wishes
from charter.errors import BackendError, CharterError, ConfigError
from charter.feedback.choices import choice_probs

Scorer = Literal["embedding", "judge"]
SCORERS = ("embedding", "judge")

#: The question put to a judge for each drawn wish; answered with one word, Yes or No.
JUDGE_TEMPLATE = """\
Someone asked for a behaviour from AI assistants. Judge whether a reply does what they asked.

Their scenario: {scenario}
The behaviour they asked for: {behaviour}

The conversation being judged:
User: {prompt}
Assistant: {response}

Does the assistant's reply do what this person asked for, in a situation like theirs? \
Answer with one word: Yes or No."""
JUDGE_CHOICES = ("Yes", "No")
_PROMPT_CACHE = 4096  # prompt embeddings kept (GRPO repeats each prompt per generation)
_WISH_EMBEDDINGS: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}  # by entry id


@dataclass(frozen=True)
class RewardResult:
    """A reward value, its standard error, and the wishes that drove it."""

    value: float
    stderr: float
    wish_ids: tuple[str, ...]  # entry ids of the K draws, in draw order (repeats possible)
    scores: tuple[float, ...]  # per draw: alignment (embedding) or P(Yes) (judge)
    weights: tuple[float, ...]  # per draw: relevance weight (1.0 when unweighted)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def top_wishes(self, n: int = 5) -> list[tuple[str, float, float]]:
        """``(entry id, share of the weight, score)`` of the draws that weighed most."""
        total = sum(self.weights) or 1.0
        merged: dict[str, list[float]] = {}
        for wish_id, w, s in zip(self.wish_ids, self.weights, self.scores, strict=True):
            entry = merged.setdefault(wish_id, [0.0, s])
            entry[0] += w / total
        ranked = sorted(merged.items(), key=lambda kv: -kv[1][0])[:n]
        return [(wish_id, share, score) for wish_id, (share, score) in ranked]


def weighted_estimate(
    scores: Sequence[float] | np.ndarray, weights: Sequence[float] | np.ndarray | None = None
) -> tuple[float, float]:
    """``(sum w s / sum w, delta-method standard error)`` of drawn scores (see module doc).

    One draw has no spread to measure: its error is reported as ``nan``.
    """
    s = np.asarray(scores, dtype=np.float64)
    w = np.ones_like(s) if weights is None else np.asarray(weights, dtype=np.float64)
    if s.size == 0 or w.sum() <= 0:
        raise ValueError("weighted_estimate needs at least one draw with positive weight")
    value = float(np.dot(w, s) / w.sum())
    k = s.size
    if k < 2:
        return value, math.nan
    stderr = math.sqrt(k / (k - 1) * float(np.sum(w**2 * (s - value) ** 2))) / float(w.sum())
    return value, stderr


def sample_seed(seed: int, *parts: str) -> int:
    """A 64-bit generator seed from the reward seed and text parts (stable across runs)."""
    digest = hashlib.sha256("\x1f".join([str(seed), *parts]).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


class WishReward:
    """The wish-sampled reward over one wish set (see the module docstring).

    Args:
        wishes: the wish set (its checkpoint is recorded in every result).
        embedder: embeds responses, prompts and wishes; required by the
            embedding scorer and by relevance weighting or restriction.
        scorer: ``embedding`` or ``judge``.
        k: wishes drawn per (prompt, response).
        policy: how stake becomes influence (linear by default).
        relevance_top: draw only among the M wishes whose scenarios are most
            similar to the prompt (default 32; None: the whole ledger, where
            most draws are about other situations and the reward is mostly noise).
        relevance_temperature: T in the relevance weight ``exp(cos / T)``; None
            weighs every draw equally. Needs an embedder.
        seed: the reward's seed; with the pair it fixes the draws.
        judge: a chat model with ``choice_logprobs`` (judge scorer only).
        judge_template: the judge's question (fields: scenario, behaviour,
            prompt, response).
        concurrency: judge requests in flight (default: the judge's own limit).
        common_wishes: draw from the prompt alone, so every response to a
            prompt is scored on the same wishes.
    """

    def __init__(
        self,
        wishes: WishSet,
        *,
        embedder: Embedder | None = None,
        scorer: Scorer = "embedding",
        k: int = 64,
        policy: InfluencePolicy | None = None,
        relevance_top: int | None = 32,
        relevance_temperature: float | None = 0.1,
        seed: int = 0,
        judge: Any = None,
        judge_template: str = JUDGE_TEMPLATE,
        concurrency: int | None = None,
        common_wishes: bool = False,
    ) -> None:
        if scorer not in SCORERS:
            raise ConfigError(f"scorer {scorer!r} is unknown; choose embedding or judge.")
        if k < 1:
            raise ConfigError(f"k is {k}; draw at least one wish per response.")
        if relevance_top is not None and relevance_top < 1:
            raise ConfigError(f"relevance_top is {relevance_top}; give a positive number or none.")
        if relevance_temperature is not None and relevance_temperature <= 0:
            raise ConfigError("relevance_temperature must be positive (or none for equal weights).")
        if not wishes.records:
            raise ConfigError(f"the wish set from {wishes.origin or 'its source'} is empty.")
        needs_embedder = scorer == "embedding" or relevance_top or relevance_temperature
        if needs_embedder and embedder is None:
            raise ConfigError(
                "this reward needs an embedder (the embedding scorer, relevance_top or "
                "relevance_temperature); pass one, or set both relevance options to none."
            )
        if scorer == "judge":
            if judge is None or not hasattr(judge, "choice_logprobs"):
                raise ConfigError("the judge scorer needs a chat model with choice_logprobs.")
            try:
                judge_template.format(scenario="", behaviour="", prompt="", response="")
            except (KeyError, IndexError, ValueError) as exc:
                raise ConfigError(
                    f"judge_template: {exc}; use only {{scenario}}, {{behaviour}}, {{prompt}} "
                    "and {response}, and double literal braces."
                ) from None
        self.wishes = wishes
        self.embedder = embedder
        self.scorer = scorer
        self.k = k
        self.policy = policy or InfluencePolicy()
        self.relevance_top = relevance_top
        self.relevance_temperature = relevance_temperature
        self.seed = seed
        self.judge = judge
        self.judge_template = judge_template
        self.concurrency = concurrency
        self.common_wishes = common_wishes
        self.probabilities = influence(wishes, self.policy).probabilities
        self._prompt_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.__name__ = "wish_reward"  # TRL logs reward functions by __name__

    # -- identity and provenance -------------------------------------------------------
    @property
    def model_id(self) -> str:
        """``wish-reward/<scorer>:<embedder or judge id>``."""
        model = self.judge if self.scorer == "judge" else self.embedder
        return f"wish-reward/{self.scorer}:{getattr(model, 'model_id', 'none')}"

    def provenance(self) -> dict[str, Any]:
        """What every result records: the ledger state and the reward's settings."""
        return {
            "ledger_checkpoint": self.wishes.checkpoint_id,
            "ledger_origin": self.wishes.origin,
            "ledger_size": self.wishes.size,
            "ledger_root": self.wishes.root.hex(),
            "ledger_verified": self.wishes.verified,
            "scorer": self.scorer,
            "model_id": self.model_id,
            "embedder": getattr(self.embedder, "model_id", None),
            "judge": getattr(self.judge, "model_id", None),
            "k": self.k,
            "seed": self.seed,
            "influence": policy_label(self.policy),
            "relevance_top": self.relevance_top,
            "relevance_temperature": self.relevance_temperature,
            "common_wishes": self.common_wishes,
        }

    # -- embeddings --------------------------------------------------------------------
    def wish_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """``(behaviour, scenario)`` unit vectors of every wish, computed once and cached."""
        assert self.embedder is not None
        # Keyed by model id and width: two embedders may share an id but not a vector space.
        model = f"{self.embedder.model_id}/{getattr(self.embedder, 'dim', '')}"
        missing = [r for r in self.wishes.records if (model, r.entry_id) not in _WISH_EMBEDDINGS]
        if missing:
            vectors = self.embedder.embed(
                [r.behaviour for r in missing] + [r.scenario for r in missing]
            )
            for i, record in enumerate(missing):
                _WISH_EMBEDDINGS[(model, record.entry_id)] = (
                    vectors[i],
                    vectors[len(missing) + i],
                )
        pairs = [_WISH_EMBEDDINGS[(model, r.entry_id)] for r in self.wishes.records]
        return np.stack([b for b, _ in pairs]), np.stack([s for _, s in pairs])

    def _prompt_vectors(self, prompts: Sequence[str]) -> np.ndarray:
        assert self.embedder is not None
        todo = list(dict.fromkeys(p for p in prompts if p not in self._prompt_cache))
        if todo:
            for text, vector in zip(todo, self.embedder.embed(todo), strict=True):
                self._prompt_cache[text] = vector
                if len(self._prompt_cache) > _PROMPT_CACHE:
                    self._prompt_cache.popitem(last=False)
        for p in prompts:
            self._prompt_cache.move_to_end(p)
        return np.stack([self._prompt_cache[p] for p in prompts])

    # -- drawing wishes ----------------------------------------------------------------
    def draw(self, prompt: str, response: str, relevance: np.ndarray | None = None) -> np.ndarray:
        """The K wish indexes drawn for a pair (influence-weighted, with replacement)."""
        p, candidates = self.probabilities, None
        if self.relevance_top is not None and relevance is not None:
            m = min(self.relevance_top, len(p))
            candidates = np.argsort(-relevance, kind="stable")[:m]
            p = p[candidates]
            total = p.sum()
            p = p / total if total > 0 else np.full(m, 1.0 / m)
        parts = (prompt,) if self.common_wishes else (prompt, response)
        rng = np.random.default_rng(sample_seed(self.seed, *parts))
        picks = rng.choice(len(p), size=self.k, replace=True, p=p)
        return candidates[picks] if candidates is not None else picks

    def _weights(self, relevance: np.ndarray | None, draws: np.ndarray) -> np.ndarray:
        if self.relevance_temperature is None or relevance is None:
            return np.ones(len(draws))
        r = relevance[draws]
        return np.exp((r - r.max()) / self.relevance_temperature)  # scale-free: max weight 1

    # -- scoring -----------------------------------------------------------------------
    def score(self, prompt: str, response: str) -> RewardResult:
        """The reward of one response to one prompt."""
        return self.score_batch([prompt], [response])[0]

    def score_batch(self, prompts: Sequence[str], responses: Sequence[str]) -> list[RewardResult]:
        """Rewards for pairs ``(prompts[i], responses[i])``; embeddings in one pass each.

        Raises:
            ConfigError: the lists differ in length.
            BackendError: the embedder or the judge failed.
        """
        if len(prompts) != len(responses):
            raise ConfigError(
                f"{len(prompts)} prompts but {len(responses)} responses; give one prompt "
                "per response."
            )
        if not prompts:
            return []
        relevance = None
        if self.embedder is not None and (self.relevance_top or self.relevance_temperature):
            _, scenarios = self.wish_embeddings()
            unique = list(dict.fromkeys(prompts))
            rows = {p: i for i, p in enumerate(unique)}
            rel_unique = self._prompt_vectors(unique) @ scenarios.T
            relevance = rel_unique[[rows[p] for p in prompts]]
        draws = [
            self.draw(p, r, None if relevance is None else relevance[i])
            for i, (p, r) in enumerate(zip(prompts, responses, strict=True))
        ]
        if self.scorer == "embedding":
            behaviours, _ = self.wish_embeddings()
            alignment = self.embedder.embed(list(responses)) @ behaviours.T  # (B, N): one product
            scores = [alignment[i, d] for i, d in enumerate(draws)]
        else:
            scores = self._judge_scores(prompts, responses, draws)
        base = self.provenance()
        results = []
        for i, (p, r) in enumerate(zip(prompts, responses, strict=True)):
            weights = self._weights(None if relevance is None else relevance[i], draws[i])
            value, stderr = weighted_estimate(scores[i], weights)
            parts = (p,) if self.common_wishes else (p, r)
            results.append(
                RewardResult(
                    value=value,
                    stderr=stderr,
                    wish_ids=tuple(self.wishes.records[j].entry_id for j in draws[i]),
                    scores=tuple(float(s) for s in scores[i]),
                    weights=tuple(float(w) for w in weights),
                    provenance={**base, "sample_seed": sample_seed(self.seed, *parts)},
                )
            )
        return results

    def _judge_scores(
        self, prompts: Sequence[str], responses: Sequence[str], draws: list[np.ndarray]
    ) -> list[np.ndarray]:
        """P(Yes) per draw; each distinct (pair, wish) is asked once, concurrently."""
        jobs = {(i, int(j)) for i, d in enumerate(draws) for j in d}
        items = (
            ((i, j), (prompts[i], responses[i], self.wishes.records[j])) for i, j in sorted(jobs)
        )
        limit = getattr(self.judge, "max_concurrency", 1)
        found: dict[tuple[int, int], float] = {}
        for key, result in map_concurrent(self._judge_one, items, self.concurrency, limit):
            if isinstance(result, CharterError):
                raise BackendError(f"the judge failed on wish {key[1]}: {result}") from result
            found[key] = result
        return [np.array([found[(i, int(j))] for j in d]) for i, d in enumerate(draws)]

    def _judge_one(self, job: tuple[str, str, WishRecord]) -> float:
        prompt, response, wish = job
        question = self.judge_template.format(
            scenario=wish.scenario, behaviour=wish.behaviour, prompt=prompt, response=response
        )
        return choice_probs(self.judge, [{"role": "user", "content": question}], JUDGE_CHOICES)[0]

    # -- TRL ---------------------------------------------------------------------------
    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        **_: Any,
    ) -> list[float]:
        """TRL reward-function signature: one float per completion.

        Prompts and completions may be strings or chat-message lists (TRL's
        conversational format); the last user message is the prompt and the
        assistant messages are the response.
        """
        if completions is None:
            raise ConfigError("the reward needs completions (TRL passes them by keyword).")
        prompts = list(prompts) if prompts is not None else [""] * len(completions)
        texts = [prompt_text(p) for p in prompts]
        return [r.value for r in self.score_batch(texts, [completion_text(c) for c in completions])]


# -- chat formats ------------------------------------------------------------------------


def _content(message: Any) -> str:
    content = message.get("content", "") if isinstance(message, dict) else message
    if isinstance(content, list):  # multimodal parts: keep the text ones
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def prompt_text(prompt: Any) -> str:
    """A prompt as text: a string as is; for messages, the last user message."""
    if isinstance(prompt, str):
        return prompt
    messages = list(prompt or [])
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return _content(users[-1]) if users else "\n".join(_content(m) for m in messages)


def completion_text(completion: Any) -> str:
    """A completion as text: a string as is; for messages, the assistant messages joined."""
    if isinstance(completion, str):
        return completion
    messages = list(completion or [])
    said = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    return "\n".join(_content(m) for m in (said or messages))


# -- factory -----------------------------------------------------------------------------


def wish_reward(
    prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **kwargs: Any
) -> list[float]:
    """A ready-made reward *function*, for trainers configured with a ``module:function`` string.

    ``charter.collective.reward:wish_reward`` scores completions against the wishes
    of ``$CHARTER_WISHES`` (a ledger, an export, or ``builtin:sample``, the
    default) with the defaults of :func:`make_reward_fn`, built on the first call
    and reused. :func:`make_reward_fn` itself is a factory: call it for other
    settings, then pass the result.
    """
    return _default_wish_reward()(prompts=prompts, completions=completions, **kwargs)


@functools.cache
def _default_wish_reward() -> WishReward:
    return make_reward_fn(os.environ.get("CHARTER_WISHES", "builtin:sample"))


def make_reward_fn(
    source: str = "builtin:sample",
    *,
    embedder: Embedder | None = None,
    judge: Any = None,
    transform: str = "linear",
    half_life_days: float | None = None,
    per_key: bool = False,
    cap: float | None = None,
    verify: bool = True,
    **options: Any,
) -> WishReward:
    """A :class:`WishReward` over a ledger source, with the embedded models by default.

    A factory: call it and pass the result (for a ``module:function`` string use
    :func:`wish_reward`, which is the function itself). The embedder defaults to the int8
    ONNX MiniLM; the judge (``scorer="judge"``) to the embedded feedback model.
    Other keyword options go to :class:`WishReward`.
    """
    wishes = load_wishes(source, verify=verify)
    scorer = options.get("scorer", "embedding")
    relevance = options.get("relevance_top", 32) or options.get("relevance_temperature", 0.1)
    if embedder is None and (scorer == "embedding" or relevance):
        from charter.backends.registry import load_embedder

        embedder = load_embedder()
    if scorer == "judge" and judge is None:
        from charter.backends.registry import ModelSpec, load_chat_model

        judge = load_chat_model(ModelSpec(backend="llama_cpp", model="embedded:feedback"))
    policy = InfluencePolicy(transform, cap=cap, half_life_days=half_life_days, per_key=per_key)
    return WishReward(wishes, embedder=embedder, judge=judge, policy=policy, **options)
