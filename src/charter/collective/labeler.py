"""The wish-sampled reward as an RL-CAI preference labeler.

RL-CAI (Bai et al. 2022, section 4) needs P(response A is better than B) for
a prompt. This labeler reads it from the wish reward with a Bradley-Terry link:

    P(A better) = sigmoid((r_A - r_B) / tau)

Both responses are scored on the *same* drawn wishes (the draws are seeded by
the prompt alone: common random numbers), so the difference reflects the
responses, not which wishes each happened to draw. ``tau`` sets how sharp the
labels are: embedding rewards differ by a few hundredths of a cosine between
close responses, so the default 0.05 turns a difference of 0.05 into
P = 0.73 and 0.15 into P = 0.95; for the judge scorer (rewards are
probabilities) 0.1 to 0.2 gives a similar spread.

Use it in the ``rl_cai_labels`` stage with ``labeler_kind: wish_reward``, or
pass it to :func:`charter.cai.labels.run_labels` as ``labeler``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from charter.collective.reward import RewardResult, WishReward
from charter.errors import ConfigError

_CACHE = 1024  # rewards kept: the stage asks each pair in both orders


class WishRewardLabeler:
    """A :class:`charter.cai.labelers.Labeler` backed by a :class:`WishReward`.

    Args:
        reward: the wish reward (its ``common_wishes`` is forced on).
        tau: the temperature of the Bradley-Terry link (see the module docstring).
    """

    def __init__(self, reward: WishReward, tau: float = 0.05) -> None:
        if tau <= 0:
            raise ConfigError(f"tau is {tau}; give a positive temperature such as 0.05.")
        reward.common_wishes = True
        self.reward = reward
        self.tau = tau
        self._cache: OrderedDict[tuple[str, str], RewardResult] = OrderedDict()

    @property
    def model_id(self) -> str:
        return self.reward.model_id

    @property
    def max_concurrency(self) -> int:
        return 1  # the reward runs its own judge requests concurrently

    def rewards(self, prompt: str, *responses: str) -> list[RewardResult]:
        """The reward of each response to ``prompt`` (cached; new ones scored in one batch)."""
        todo = [r for r in dict.fromkeys(responses) if (prompt, r) not in self._cache]
        if todo:
            for response, result in zip(
                todo, self.reward.score_batch([prompt] * len(todo), todo), strict=True
            ):
                self._cache[(prompt, response)] = result
                if len(self._cache) > _CACHE:
                    self._cache.popitem(last=False)
        return [self._cache[(prompt, r)] for r in responses]

    def label(self, prompt: str, response_a: str, response_b: str) -> float:
        """P(response_a is better) = sigmoid((r_a - r_b) / tau)."""
        a, b = self.rewards(prompt, response_a, response_b)
        return 1.0 / (1.0 + math.exp(-(a.value - b.value) / self.tau))


def stage_labeler(spec: Any, ctx: Any) -> tuple[WishRewardLabeler, Any]:
    """The labeler an ``rl_cai_labels`` stage with ``labeler_kind: wish_reward`` uses.

    Returns the labeler and a copy of the run context whose provenance names
    the wish set's checkpoint (``origin@size:root``), so every preference row
    records which ledger state labelled it.
    """
    from charter.collective.weights import InfluencePolicy
    from charter.collective.wishes import load_wishes

    wishes = load_wishes(ctx.resolve(spec.wishes))
    options = dict(spec.wish_reward)
    policy = InfluencePolicy(
        options.pop("transform", "linear"),
        cap=options.pop("cap", None),
        half_life_days=options.pop("half_life_days", None),
        per_key=options.pop("per_key", False),
    )
    tau = options.pop("tau", 0.05)
    scorer = options.get("scorer", "embedding")
    if scorer == "judge" and spec.labeler is None:
        raise ConfigError(f"stage {spec.name!r}: the judge scorer needs `labeler` (a model key).")
    judge = ctx.model(spec.labeler) if scorer == "judge" else None
    try:
        reward = WishReward(
            wishes,
            embedder=ctx.embedder(),
            judge=judge,
            policy=policy,
            seed=options.pop("seed", ctx.config.seed),
            **options,
        )
    except TypeError as exc:
        raise ConfigError(f"stage {spec.name!r}: wish_reward: {exc}.") from None
    return WishRewardLabeler(reward, tau=tau), replace(ctx, ledger_checkpoint=wishes.checkpoint_id)
