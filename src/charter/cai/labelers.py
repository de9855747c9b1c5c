"""Labelers for RL-CAI: a pair of responses in, P(first is better) out.

The label arithmetic (the two-order ensemble and the chain-of-thought clamp,
Bai et al. 2022, sections 4.1-4.2) lives in :mod:`charter.feedback.pairwise`;
here are the :class:`Labeler` protocol that
any alternative labeler implements (the wish-sampled reward, for example), and
:class:`ConstitutionalLabeler`, which asks a feedback model one multiple-choice
question per principle and reads the answer from the letters' log-probs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from charter.backends.base import GenerateParams, normalize_choices
from charter.cai import label_prompts as lp
from charter.constitution.model import Article
from charter.errors import MalformedOutputError
from charter.feedback.choices import checked_logprobs
from charter.feedback.pairwise import clamp_label, ensemble_label
from charter.runs.provenance import derive_seed

# -- labelers --------------------------------------------------------------------------


@runtime_checkable
class Labeler(Protocol):
    """Anything that says how likely ``response_a`` is the better reply to ``prompt``."""

    def label(self, prompt: str, response_a: str, response_b: str) -> float:
        """P(response_a is better than response_b), in [0, 1]."""
        ...


@dataclass(frozen=True)
class ArticleVerdict:
    """One principle's verdict on a pair, in both orders."""

    article_id: str
    p_order1: float  # P(first response better), first shown as (A)
    p_order2: float  # P(first response better), first shown as (B)
    p: float  # their mean
    logprobs_order1: tuple[float, ...] = ()  # raw letter log-probs (A, B), order 1
    logprobs_order2: tuple[float, ...] = ()
    reasoning_order1: str | None = None  # chain-of-thought text, when used
    reasoning_order2: str | None = None


@dataclass(frozen=True)
class Judgement:
    """A pair's label: P(first response better), position bias, and per-principle detail."""

    p: float
    position_bias: float
    per_article: tuple[ArticleVerdict, ...] = field(default_factory=tuple)


@dataclass
class ConstitutionalLabeler:
    """The default labeler: the feedback model judges by sampled constitutional articles.

    Args:
        model: a chat model that is also a choice scorer (every backend is).
        articles: the pool principles are sampled from.
        principles: how many articles judge each pair (capped by the pool size).
        chain_of_thought: reason first, then score the letter (clamped).
        clamp: the band chain-of-thought probabilities are clamped to.
        rationale: show the gist of each article's rationale.
        templates: ``(comparison, cot, cot_answer)`` template strings.
        reasoning_max_tokens: tokens of reasoning per question.
        seed: seeds article sampling when :meth:`label` is called without one.
    """

    model: Any
    articles: Sequence[Article]
    principles: int = 3
    chain_of_thought: bool = False
    clamp: tuple[float, float] = (0.4, 0.6)
    rationale: bool = True
    templates: tuple[str, str, str] = (
        lp.COMPARISON_TEMPLATE,
        lp.COT_TEMPLATE,
        lp.COT_ANSWER_TEMPLATE,
    )
    reasoning_max_tokens: int = 192
    seed: int = 0

    @property
    def model_id(self) -> str:
        return self.model.model_id

    @property
    def max_concurrency(self) -> int:
        return getattr(self.model, "max_concurrency", 1)

    def sample_articles(self, seed: int) -> list[Article]:
        """``principles`` distinct articles drawn with ``random.Random(seed)``."""
        k = min(self.principles, len(self.articles))
        return random.Random(seed).sample(list(self.articles), k)

    def label(self, prompt: str, response_a: str, response_b: str) -> float:
        """P(response_a better): the :class:`Labeler` protocol over :meth:`judge`."""
        seed = derive_seed(self.seed, prompt, response_a, response_b)
        return self.judge(prompt, response_a, response_b, seed).p

    def judge(self, prompt: str, first: str, second: str, seed: int) -> Judgement:
        """Ask each sampled article in both orders; ensemble the debiased probabilities.

        Raises:
            MalformedOutputError: unusable log-probabilities or empty reasoning.
            BackendError: the backend failed.
        """
        verdicts = []
        for article in self.sample_articles(seed):
            lp1, why1 = self._ask(prompt, article, first, second, seed)
            lp2, why2 = self._ask(prompt, article, second, first, seed)
            p1, p2 = normalize_choices(lp1)[0], normalize_choices(lp2)[1]
            if self.chain_of_thought:
                p1, p2 = clamp_label(p1, *self.clamp), clamp_label(p2, *self.clamp)
            verdicts.append(ArticleVerdict(article.id, p1, p2, (p1 + p2) / 2, lp1, lp2, why1, why2))
        p, bias = ensemble_label([(v.p_order1, v.p_order2) for v in verdicts])
        return Judgement(p, bias, tuple(verdicts))

    def _ask(
        self, prompt: str, article: Article, a: str, b: str, seed: int
    ) -> tuple[tuple[float, ...], str | None]:
        comparison, cot, cot_answer = self.templates
        if not self.chain_of_thought:
            messages = lp.comparison_messages(comparison, prompt, article, a, b, self.rationale)
            return checked_logprobs(self.model, messages, lp.CHOICES), None
        question = lp.comparison_messages(cot, prompt, article, a, b, self.rationale)
        params = GenerateParams(max_tokens=self.reasoning_max_tokens, temperature=0.0, seed=seed)
        reasoning = self.model.generate(question, params).text
        if not reasoning.strip():
            raise MalformedOutputError(
                f"the labeler wrote no reasoning for article {article.id}", raw=reasoning
            )
        messages = lp.cot_answer_messages(question, reasoning, cot_answer)
        return checked_logprobs(self.model, messages, lp.CHOICES), reasoning


def judge_pair(labeler: Labeler, prompt: str, first: str, second: str, seed: int) -> Judgement:
    """A pair's judgement from any labeler, asked in both orders.

    A :class:`ConstitutionalLabeler` gives per-article detail; any other
    :class:`Labeler` (e.g. a reward model) is asked ``label(first, second)`` and
    ``label(second, first)`` and debiased the same way.
    """
    if isinstance(labeler, ConstitutionalLabeler):
        return labeler.judge(prompt, first, second, seed)
    raw = (labeler.label(prompt, first, second), labeler.label(prompt, second, first))
    try:
        forward, backward = (float(v) for v in raw)
    except (TypeError, ValueError):
        raise MalformedOutputError("the labeler returned a non-number", raw=repr(raw)) from None
    if not (0.0 <= forward <= 1.0 and 0.0 <= backward <= 1.0):  # also rejects NaN
        raise MalformedOutputError("the labeler returned a value outside [0, 1]", raw=repr(raw))
    p, bias = ensemble_label([(forward, 1.0 - backward)])
    return Judgement(p, bias)


# -- the stage -------------------------------------------------------------------------
