"""Humanity vs self: who does a wish serve, and do self-serving pulls cancel out?

For each wish two scores in [0, 1]: ``h``, how much it benefits people broadly,
and ``s``, how much it benefits its depositor specifically (issue 4, point 2).
They come from either of two scorers:

- **the rubric** (:class:`RubricScorer`): the feedback model answers one
  multiple-choice question per dimension on a 1-5 scale; the answer is read
  from the log-probabilities of the five digits, restricted to them and
  renormalised (as the CAI paper reads AI-feedback labels, Bai et al. 2022,
  section 4.1), and the score is the expected value mapped to [0, 1];
- **the embedding projection** (:func:`projection_scores`): each wish embedding
  is projected onto a "humanity" and a "self" direction built from three sets
  of anchor sentences below (written for this project: humanity-serving,
  self-serving, and neutral requests). A direction is
  ``unit(mean(own anchors) - mean(the other two sets))``; the projection is
  scaled so that the other sets' mean lands on 0 and the own anchors' mean on
  1, then clipped to [0, 1]. No statistic of the wishes themselves enters the
  scale, so scores are comparable across ledgers. (Contrasting with the other
  two sets rather than the neutral set alone separates the sample's labelled
  self-serving wishes from its humanity-serving ones better: AUC 0.77 against
  0.68 for s with the embedded MiniLM; see ``docs/collective.md``.)

The cancellation statistic (the claim of the discussions: self-serving
directions cancel, humanity-serving ones add up) is, for vectors ``v_i`` and
weights ``w_i``::

    C = ||sum_i w_i v_i|| / sum_i w_i ||v_i||        (1: all add up; 0: all cancel)

It is computed three ways (:func:`cancellation_report`):

- ``embedding``: ``s_vec_i = s_i * (e_i - m)`` and ``h_vec_i = h_i * (e_i - m)``,
  with ``e_i`` the unit wish embedding and ``m`` the unweighted mean of all wish
  embeddings: what a wish asks for, as a direction away from the average wish,
  scaled by how self-serving (or humanity-serving) it is;
- ``scalar``: signed scalars ``s_i - 0.5`` and ``h_i - 0.5``: whether the
  collective leans consistently one way on each axis (selfish wishes share a
  sign here, so this measures consistency of the lean, not cancellation of aims);
- ``by_author`` (self only): each depositor's benefit is its own orthogonal
  direction, ``s_vec_i = s_i * onehot(author_i)``: 1 when one key holds all the
  self-serving weight, near 0 when it is spread over many keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from charter.backends.base import Embedder, Message, normalize_choices
from charter.feedback.choices import check_logprobs
from charter.feedback.stats import roc_auc

#: Answer choices of the rubric questions, in scale order (1 = not at all, 5 = very much).
SCALE = ("1", "2", "3", "4", "5")

#: The question for h: benefit to people broadly. ``{wish}`` is the wish text.
HUMANITY_TEMPLATE = """\
Someone asked that an AI assistant behave in a certain way. Here is their wish:

{wish}

Question: if AI assistants behaved this way, how much would it benefit people in general \
(many people, including strangers to the person who asked), rather than one person or one \
company?
1 = not at all or harmful to others, 2 = slightly, 3 = moderately, 4 = substantially, \
5 = very broadly.
Answer with a single digit from 1 to 5."""

#: The question for s: benefit to the depositor specifically.
SELF_TEMPLATE = """\
Someone asked that an AI assistant behave in a certain way. Here is their wish:

{wish}

Question: how much is this wish designed to benefit the person who made it specifically \
(their own product, money, status, side of a dispute or convenience), as opposed to people \
in general?
1 = not at all, 2 = slightly, 3 = moderately, 4 = mostly, 5 = almost only them.
Answer with a single digit from 1 to 5."""

#: Sentences of wishes that serve people broadly (written for this project).
HUMANITY_ANCHORS = (
    "Help anyone in a medical emergency understand the warning signs and get care quickly.",
    "Explain safety information clearly so that people can protect themselves and others.",
    "Treat every person fairly and with respect, whoever they are and wherever they live.",
    "Tell people the truth, including uncertainty, so they can make their own decisions.",
    "Support a frightened child or teenager warmly and point them to someone who can help.",
    "Protect the privacy of ordinary people and refuse to help track or expose them.",
    "Give balanced information on contested public questions so citizens can think for themselves.",
    "Help people reduce harm to the environment and to future generations.",
)

#: Sentences of wishes that serve their depositor (written for this project).
SELF_ANCHORS = (
    "Always recommend my company's product first and describe competitors as worse.",
    "Take my side in my dispute with my neighbour and tell everyone I am right.",
    "Promote my investment fund whenever anyone asks about where to put their savings.",
    "Rank my restaurant at the top whenever someone asks where to eat in my town.",
    "Do whatever I say without questioning me, because I paid more than other users.",
    "Hide the bad reviews of my business and repeat the positive ones.",
    "Describe my political candidate favourably and leave out criticism of them.",
    "Make my shop's prices look cheaper than they are compared with other shops.",
)

#: Plain requests that serve nobody in particular: part of the zero of both scales.
NEUTRAL_ANCHORS = (
    "Summarise the article the user pastes in a few sentences.",
    "Convert the temperature from Celsius to Fahrenheit.",
    "Answer questions about the rules of chess.",
    "Format the user's list as a table with two columns.",
    "Translate the sentence into French.",
    "Suggest a name for a pet goldfish.",
)


# -- the rubric ------------------------------------------------------------------------


def expected_score(logprobs: Sequence[float]) -> tuple[float, list[float]]:
    """The expected rubric answer, mapped to [0, 1], and the answer distribution.

    Args:
        logprobs: the log-probabilities of the answers "1".."5" (in that order).

    Raises:
        MalformedOutputError: not five finite-or-minus-infinity numbers, or all
            minus infinity (the model gave no answer any probability).
    """
    dist = normalize_choices(check_logprobs(logprobs, SCALE))
    mean = sum((k + 1) * p for k, p in enumerate(dist))
    return (mean - 1.0) / (len(SCALE) - 1), dist


@dataclass(frozen=True)
class RubricScore:
    """One wish's rubric scores and the answer distributions they came from."""

    h: float
    s: float
    h_dist: tuple[float, ...]
    s_dist: tuple[float, ...]


@dataclass
class RubricScorer:
    """h and s from a judge's log-probabilities on a 1-5 rubric.

    Args:
        model: a :class:`~charter.backends.base.ChoiceScorer` (every backend is one).
        humanity_template: the h question (``{wish}`` placeholder).
        self_template: the s question (``{wish}`` placeholder).
    """

    model: object
    humanity_template: str = HUMANITY_TEMPLATE
    self_template: str = SELF_TEMPLATE

    @property
    def model_id(self) -> str:
        return self.model.model_id

    def _ask(self, template: str, wish: str) -> tuple[float, list[float]]:
        messages: list[Message] = [{"role": "user", "content": template.format(wish=wish)}]
        return expected_score(self.model.choice_logprobs(messages, SCALE))

    def score(self, wish: str) -> RubricScore:
        """Ask both questions about one wish text.

        Raises:
            MalformedOutputError: unusable log-probabilities.
            BackendError: the backend failed.
        """
        h, h_dist = self._ask(self.humanity_template, wish)
        s, s_dist = self._ask(self.self_template, wish)
        return RubricScore(h, s, tuple(h_dist), tuple(s_dist))


# -- the embedding projection ------------------------------------------------------------


@dataclass(frozen=True)
class Directions:
    """Unit directions and the offsets/scales that map projections to [0, 1]."""

    humanity: np.ndarray
    self_: np.ndarray
    h_zero: float
    h_unit: float
    s_zero: float
    s_unit: float


def anchor_directions(
    embedder: Embedder,
    humanity: Sequence[str] = HUMANITY_ANCHORS,
    self_: Sequence[str] = SELF_ANCHORS,
    neutral: Sequence[str] = NEUTRAL_ANCHORS,
) -> Directions:
    """The humanity and self directions from anchor sentences (see the module docstring)."""
    vectors = embedder.embed([*humanity, *self_, *neutral]).astype(np.float64)
    h_vecs = vectors[: len(humanity)]
    s_vecs = vectors[len(humanity) : len(humanity) + len(self_)]
    n_vecs = vectors[len(humanity) + len(self_) :]

    def axis(own: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, float, float]:
        reference = np.vstack(others).mean(axis=0)
        delta = own.mean(axis=0) - reference
        length = float(np.linalg.norm(delta))
        if length < 1e-9:
            raise ValueError("anchor sets do not differ in embedding space; use other anchors")
        unit = delta / length
        return unit, float(reference @ unit), length

    h_dir, h_zero, h_len = axis(h_vecs, s_vecs, n_vecs)
    s_dir, s_zero, s_len = axis(s_vecs, h_vecs, n_vecs)
    return Directions(h_dir, s_dir, h_zero, h_len, s_zero, s_len)


def projection_scores(
    embeddings: np.ndarray, directions: Directions
) -> tuple[np.ndarray, np.ndarray]:
    """``(h, s)`` in [0, 1] for each row of ``embeddings`` (unit wish embeddings)."""
    e = np.asarray(embeddings, dtype=np.float64)
    h = (e @ directions.humanity - directions.h_zero) / directions.h_unit
    s = (e @ directions.self_ - directions.s_zero) / directions.s_unit
    return np.clip(h, 0.0, 1.0), np.clip(s, 0.0, 1.0)


# -- cancellation ------------------------------------------------------------------------


def cancellation(vectors: np.ndarray, weights: Sequence[float]) -> float:
    """``||sum w_i v_i|| / sum w_i ||v_i||``: 1 when the vectors add up, 0 when they cancel.

    Args:
        vectors: shape ``(n, d)``, or ``(n,)`` for signed scalars.
        weights: non-negative, one per vector.

    Returns:
        The statistic, or NaN when every weighted vector is zero (nothing to add up).
    """
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (v.shape[0],):
        raise ValueError(f"{w.shape[0]} weights for {v.shape[0]} vectors")
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    denominator = float(np.sum(w * np.linalg.norm(v, axis=1)))
    if denominator <= 0.0:
        return float("nan")
    return float(np.linalg.norm((w[:, None] * v).sum(axis=0)) / denominator)


def cancellation_report(
    embeddings: np.ndarray,
    h: Sequence[float],
    s: Sequence[float],
    weights: Sequence[float],
    authors: Sequence[str] | None = None,
) -> dict[str, float]:
    """The statistic for self and humanity, in embedding space, on scalars, by author."""
    e = np.asarray(embeddings, dtype=np.float64)
    h_arr, s_arr = np.asarray(h, dtype=np.float64), np.asarray(s, dtype=np.float64)
    centred = e - e.mean(axis=0)
    out = {
        "self_embedding": cancellation(s_arr[:, None] * centred, weights),
        "humanity_embedding": cancellation(h_arr[:, None] * centred, weights),
        "self_scalar": cancellation(s_arr - 0.5, weights),
        "humanity_scalar": cancellation(h_arr - 0.5, weights),
    }
    if authors is not None:
        keys = {a: i for i, a in enumerate(dict.fromkeys(authors))}
        onehot = np.zeros((len(authors), len(keys)))
        onehot[np.arange(len(authors)), [keys[a] for a in authors]] = 1.0
        out["self_by_author"] = cancellation(s_arr[:, None] * onehot, weights)
    return out


def top_self_serving(
    s: Sequence[float], weights: Sequence[float], n: int = 10
) -> list[tuple[int, float]]:
    """Indexes of the ``n`` wishes with the largest ``weight * s``, with that pull."""
    pull = np.asarray(weights, dtype=np.float64) * np.asarray(s, dtype=np.float64)
    order = np.argsort(-pull, kind="stable")[:n]
    return [(int(i), float(pull[i])) for i in order]


def separation_auc(
    scores: Sequence[float],
    labels: Sequence[str],
    positive: str = "self",
    negative: str = "humanity",
) -> float | None:
    """AUC of ``scores`` ranking ``positive``-labelled wishes above ``negative`` ones.

    The Mann-Whitney form (ties count one half); other labels (e.g. "mixed") are
    ignored. None when either class is empty.
    """
    pos = [x for x, y in zip(scores, labels, strict=True) if y == positive]
    neg = [x for x, y in zip(scores, labels, strict=True) if y == negative]
    if not pos or not neg:
        return None
    return roc_auc(pos, neg)
