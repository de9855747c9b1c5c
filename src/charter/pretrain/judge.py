"""The feedback model as a document classifier: benign/harmful, articles, severity.

Each answer is read from the normalized log-probabilities of the answer
choices (the way Constitutional AI reads AI-feedback labels, Bai et al. 2022,
section 4.1), never from generated text, so a label is a probability and the
threshold that turns it into a class is an explicit, recorded setting. Three
questions are asked per document - harmful or benign, severity 0-3, and which
article it bears on most - and they share the document as their prompt
prefix, so a prefix-caching backend reads the document once.
"""

from __future__ import annotations

from dataclasses import dataclass

from charter.backends.base import ChoiceScorer
from charter.constitution import Constitution
from charter.feedback.choices import choice_probs
from charter.pretrain import prompts as pp

LABELS = ("benign", "harmful")


@dataclass(frozen=True)
class Classification:
    """What the judge said about one document."""

    label: str  # "benign" or "harmful"
    p_harmful: float  # P(harmful) from the choice log-probs
    severity: int  # the most probable of 0-3
    severity_probs: tuple[float, ...]
    articles: tuple[tuple[str, float], ...]  # the top article ids with their probabilities

    def to_row(self) -> dict:
        return {
            "label": self.label,
            "p_harmful": self.p_harmful,
            "severity": self.severity,
            "severity_probs": list(self.severity_probs),
            "articles": [{"id": a, "p": p} for a, p in self.articles],
        }


@dataclass
class DocumentJudge:
    """Classify documents against a constitution with a choice-scoring model.

    Args:
        model: any :class:`~charter.backends.base.ChoiceScorer` (every backend is one).
        constitution: the articles documents are sorted by.
        threshold: P(harmful) at or above which a document is ``harmful``.
        top_articles: how many article ids to keep per document.
        templates: ``(system, harm, severity, article)`` question templates.
    """

    model: ChoiceScorer
    constitution: Constitution
    threshold: float = 0.5
    top_articles: int = 2
    templates: tuple[str, str, str, str] = (
        pp.CLASSIFY_SYSTEM,
        pp.HARM_QUESTION,
        pp.SEVERITY_QUESTION,
        pp.ARTICLE_QUESTION,
    )

    @property
    def model_id(self) -> str:
        return self.model.model_id

    def classify(self, text: str) -> Classification:
        """Ask the three questions about ``text``.

        Raises:
            MalformedOutputError: the model gave no usable log-probabilities.
            BackendError: the backend failed.
        """
        system, harm_q, severity_q, article_q = self.templates
        system_text = system.format(articles=pp.lettered_articles(self.constitution))

        def ask(question: str, choices: tuple[str, ...] | list[str]) -> list[float]:
            messages = [
                {"role": "system", "content": system_text},
                {"role": "user", "content": question.format(document=text)},
            ]
            return choice_probs(self.model, messages, choices)

        p_harmful = ask(harm_q, pp.HARM_CHOICES)[1]
        severity_probs = ask(severity_q, pp.SEVERITY_CHOICES)
        letters = pp.article_choices(self.constitution)
        article_probs = ask(article_q, letters)
        ids = [a.id for a in self.constitution]
        ranked = sorted(zip(ids, article_probs, strict=True), key=lambda x: -x[1])
        return Classification(
            label=LABELS[int(p_harmful >= self.threshold)],
            p_harmful=p_harmful,
            severity=max(range(len(severity_probs)), key=severity_probs.__getitem__),
            severity_probs=tuple(severity_probs),
            articles=tuple(ranked[: self.top_articles]),
        )
