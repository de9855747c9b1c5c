"""Bradley-Terry strengths from pairwise judgements, on the Elo scale, with bootstrap intervals.

The Bradley-Terry model (Bradley and Terry 1952) says model ``i`` beats ``j``
with probability ``s_i / (s_i + s_j)``. Strengths are fitted by the
minorization-maximization iteration of Hunter (2004, "MM algorithms for
generalized Bradley-Terry models", eq. 3)::

    s_i <- W_i / sum_{j != i} n_ij / (s_i + s_j)

where ``W_i`` is i's (possibly fractional) number of wins and ``n_ij`` the
comparisons between i and j. Soft judgements count as fractional wins: a
judge that gives response A a 0.7 probability of being better adds 0.7 of a
win to A and 0.3 to B, as the CAI paper reads preferences from the judge's
choice probabilities (Bai et al. 2022, section 4.1).

A model that wins every comparison has infinite maximum-likelihood strength,
so each pair gets ``prior`` pseudo-comparisons split evenly (a mild pull toward
equal strength that vanishes as real comparisons accumulate).

Elo: with ``theta = ln s``, ``P(i beats j) = 1 / (1 + 10 ** ((E_j - E_i) / 400))``
when ``E = 400 / ln 10 * theta``, the scale the CAI paper's Elo figures use.
Scores are anchored so the first (base) model is 0. Intervals resample prompts
with replacement (all comparisons of a prompt travel together) and refit.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from charter.feedback.stats import percentile_interval

ELO_PER_NAT = 400.0 / math.log(10.0)


@dataclass(frozen=True)
class Comparison:
    """One judged pair: P(``first`` is better than ``second``), from one prompt."""

    prompt_id: str
    first: str
    second: str
    p_first: float


def fit_bradley_terry(
    models: Sequence[str],
    comparisons: Sequence[Comparison],
    prior: float = 1.0,
    max_iter: int = 10_000,
    tol: float = 1e-10,
) -> dict[str, float]:
    """Bradley-Terry log-strengths ``theta`` (natural log), anchored so ``models[0]`` is 0.

    Args:
        models: every model to rate; the first is the anchor.
        comparisons: judged pairs among them.
        prior: pseudo-comparisons per pair, split evenly (0 turns it off).
        max_iter: MM iterations at most.
        tol: stop when no log-strength moves more than this.

    Raises:
        ValueError: no models, an unknown model in a comparison, or p outside [0, 1].
    """
    if not models:
        raise ValueError("fit_bradley_terry needs at least one model")
    index = {m: k for k, m in enumerate(models)}
    size = len(models)
    wins = [[0.0] * size for _ in range(size)]  # wins[i][j]: i's wins over j
    for c in comparisons:
        if c.first not in index or c.second not in index:
            raise ValueError(f"comparison between unknown models {c.first!r}, {c.second!r}")
        if not 0.0 <= c.p_first <= 1.0:
            raise ValueError(f"p_first {c.p_first} must lie in [0, 1]")
        i, j = index[c.first], index[c.second]
        wins[i][j] += c.p_first
        wins[j][i] += 1.0 - c.p_first
    for i in range(size):
        for j in range(size):
            if i != j:
                wins[i][j] += prior / 2
    games = [[wins[i][j] + wins[j][i] for j in range(size)] for i in range(size)]
    total_wins = [sum(row) for row in wins]
    strength = [1.0] * size
    for _ in range(max_iter):
        new = []
        for i in range(size):
            denominator = sum(
                games[i][j] / (strength[i] + strength[j])
                for j in range(size)
                if j != i and games[i][j] > 0
            )
            # A model with no games keeps its strength (nothing is known about it).
            new.append(total_wins[i] / denominator if denominator > 0 else strength[i])
        # Strengths are defined up to a factor: fix the geometric mean at 1 each step.
        log_mean = sum(math.log(max(s, 1e-300)) for s in new) / size
        new = [max(s, 1e-300) / math.exp(log_mean) for s in new]
        moved = max(abs(math.log(a) - math.log(b)) for a, b in zip(new, strength, strict=True))
        strength = new
        if moved < tol:
            break
    theta = [math.log(s) for s in strength]
    return {m: theta[index[m]] - theta[0] for m in models}


def to_elo(theta: Mapping[str, float]) -> dict[str, float]:
    """Log-strengths (nats) to Elo points (400 / ln 10 per nat)."""
    return {m: ELO_PER_NAT * t for m, t in theta.items()}


def win_probability(elo_a: float, elo_b: float) -> float:
    """P(a beats b) implied by two Elo scores."""
    return 1.0 / (1.0 + 10.0 ** ((elo_b - elo_a) / 400.0))


@dataclass(frozen=True)
class EloFit:
    """Elo per model (anchor = 0) with bootstrap intervals over prompts."""

    elo: dict[str, float]
    ci: dict[str, tuple[float, float]]
    n_prompts: int
    n_comparisons: int
    bootstrap: int


def elo_with_intervals(
    models: Sequence[str],
    comparisons: Sequence[Comparison],
    bootstrap: int = 200,
    seed: int = 0,
    prior: float = 1.0,
    level: float = 0.95,
) -> EloFit:
    """Fit Elo and a percentile interval per model by resampling prompts.

    Args:
        models: models to rate; the first is the anchor (Elo 0, interval [0, 0]).
        comparisons: judged pairs, each tagged with its prompt.
        bootstrap: resamples (0 gives point intervals).
        seed: seeds the resampling, so intervals reproduce.
        prior: see :func:`fit_bradley_terry`.
        level: the interval's coverage.
    """
    elo = to_elo(fit_bradley_terry(models, comparisons, prior))
    by_prompt: dict[str, list[Comparison]] = {}
    for c in comparisons:
        by_prompt.setdefault(c.prompt_id, []).append(c)
    prompts = sorted(by_prompt)
    draws: dict[str, list[float]] = {m: [] for m in models}
    rng = random.Random(seed)
    for _ in range(bootstrap if prompts else 0):
        sample = [c for _ in prompts for c in by_prompt[rng.choice(prompts)]]
        for m, value in to_elo(fit_bradley_terry(models, sample, prior, tol=1e-8)).items():
            draws[m].append(value)
    ci = {m: percentile_interval(draws[m], level) if draws[m] else (elo[m], elo[m]) for m in models}
    return EloFit(elo, ci, len(prompts), len(comparisons), bootstrap if prompts else 0)
