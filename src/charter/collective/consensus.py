"""Which wishes do people agree on across opinion groups? Consensus and bridging.

Both scores read a vote matrix ``V`` of shape ``(wishes, voters)`` holding +1
(endorse), -1 (oppose) or NaN (no vote), the transpose of what
:func:`charter.ledger.votes.vote_matrix` builds from signed votes, and surface
wishes endorsed *across* groups rather than by one large group (issue 4, point 3):

- **group-aware consensus**, as in Polis (Small et al. 2021, "Polis: Scaling
  Deliberation by Mapping High Dimensional Opinion Spaces"): voters are grouped
  by their votes (PCA + k-means, k by silhouette, :mod:`charter.collective.groups`),
  and a wish's consensus is the product over groups of the Laplace-smoothed
  share who endorse it, ``prod_g (agree_g + 1) / (n_g + 2)``, where ``n_g`` is
  the number of group members who voted on the wish. One group's rejection
  drives the product down however large the other groups are.
- **bridging** by matrix factorisation, as in X's Community Notes (Wojcik et al.
  2022, "Birdwatch: Crowd Wisdom and Bridging Algorithms..."; the published
  "Note ranking algorithm" documentation). Each vote is modelled as
  ``r_uv ~ mu + b_u + b_v + f_u * f_v`` with one-dimensional factors, fitted by
  minimising ``sum (r_uv - r_hat)^2 + lambda_i (b_u^2 + b_v^2 + mu^2) +
  lambda_f (f_u^2 + f_v^2)`` with the published ``lambda_i = 0.15``,
  ``lambda_f = 0.03``. Votes are coded as Community Notes codes ratings:
  endorse 1, oppose 0. The factor term soaks up agreement explained by which
  side a voter is on; the wish intercept ``b_v`` is what remains, the support
  that crosses sides: the bridging score. The intercepts are regularised more
  strongly than the factors, as published, so that polarised support is
  attributed to the factors rather than the intercept. Fitted here by
  alternating least squares (each step a closed-form 2x2 ridge solve).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from charter.collective.groups import find_groups

#: Community Notes' published regularisation of intercepts and of factors.
LAMBDA_INTERCEPT = 0.15
LAMBDA_FACTOR = 0.03


def voter_groups(votes: np.ndarray, k_min: int = 2, k_max: int = 8, seed: int = 0) -> np.ndarray:
    """Group voters by how they vote (missing votes count as 0), as Polis does."""
    profile = np.nan_to_num(np.asarray(votes, dtype=np.float64).T, nan=0.0)
    return find_groups(profile, k_min, k_max, seed).labels


def group_consensus(votes: np.ndarray, groups: Sequence[int]) -> np.ndarray:
    """``prod_g (agree_g + 1) / (n_g + 2)`` for each wish (row of ``votes``)."""
    v = np.asarray(votes, dtype=np.float64)
    g = np.asarray(groups)
    if g.shape != (v.shape[1],):
        raise ValueError(f"{g.shape[0]} group labels for {v.shape[1]} voters")
    score = np.ones(v.shape[0])
    for group in np.unique(g):
        block = v[:, g == group]
        agree = np.sum(block > 0, axis=1)
        seen = np.sum(~np.isnan(block), axis=1)
        score *= (agree + 1.0) / (seen + 2.0)
    return score


@dataclass(frozen=True)
class Bridging:
    """A fitted bridging model."""

    mu: float
    wish_intercept: np.ndarray  # b_v: the bridging score
    wish_factor: np.ndarray  # f_v: which side the wish's support comes from
    voter_intercept: np.ndarray
    voter_factor: np.ndarray
    loss: float


def bridging_scores(
    votes: np.ndarray,
    lambda_intercept: float = LAMBDA_INTERCEPT,
    lambda_factor: float = LAMBDA_FACTOR,
    iterations: int = 200,
    seed: int = 0,
    tol: float = 1e-9,
) -> Bridging:
    """Fit ``r_uv ~ mu + b_u + b_v + f_u f_v`` by alternating least squares.

    Args:
        votes: ``(wishes, voters)`` of +1/-1/NaN; coded 1/0 internally.
        lambda_intercept, lambda_factor: the L2 penalties (Community Notes' values).
        iterations: maximum sweeps.
        seed: initialises the factors.
        tol: stop when the loss improves by less than this.
    """
    v = np.asarray(votes, dtype=np.float64)
    rated = ~np.isnan(v)
    r = np.where(rated, (v > 0).astype(np.float64), 0.0)
    n_wishes, n_voters = v.shape
    rng = np.random.default_rng(seed)
    f_w, f_u = rng.normal(0, 0.1, n_wishes), rng.normal(0, 0.1, n_voters)
    b_w, b_u, mu = np.zeros(n_wishes), np.zeros(n_voters), 0.0
    penalty = np.diag([lambda_intercept, lambda_factor])
    previous = np.inf
    loss = np.inf
    for _ in range(iterations):
        # wishes, given voters and mu
        target = r - mu - b_u[None, :]
        b_w, f_w = _ridge_rows(target, rated, f_u, penalty)
        # voters, given wishes and mu
        target = (r - mu - b_w[:, None]).T
        b_u, f_u = _ridge_rows(target, rated.T, f_w, penalty)
        residual = r - b_w[:, None] - b_u[None, :] - np.outer(f_w, f_u)
        mu = float(residual[rated].sum() / (rated.sum() + lambda_intercept))
        error = (residual - mu)[rated]
        loss = float(
            error @ error
            + lambda_intercept * (b_w @ b_w + b_u @ b_u + mu * mu)
            + lambda_factor * (f_w @ f_w + f_u @ f_u)
        )
        if previous - loss < tol:
            break
        previous = loss
    return Bridging(mu, b_w, f_w, b_u, f_u, loss)


def _ridge_rows(
    target: np.ndarray, rated: np.ndarray, other_factor: np.ndarray, penalty: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ridge solution of ``target ~ b + f * other_factor`` over rated cells."""
    m = rated.astype(np.float64)
    x1 = other_factor[None, :] * m
    # The normal equations of [1, f_other] per row, summed over rated cells only.
    a11 = m.sum(axis=1) + penalty[0, 0]
    a12 = x1.sum(axis=1)
    a22 = (x1 * other_factor[None, :]).sum(axis=1) + penalty[1, 1]
    t = np.where(rated, target, 0.0)
    c1 = t.sum(axis=1)
    c2 = (t * other_factor[None, :]).sum(axis=1)
    det = a11 * a22 - a12 * a12
    intercept = (a22 * c1 - a12 * c2) / det
    factor = (a11 * c2 - a12 * c1) / det
    return intercept, factor


@dataclass(frozen=True)
class ConsensusResult:
    """Per wish: the vote counts, consensus and bridging scores; the voter groups."""

    consensus: np.ndarray
    bridging: np.ndarray
    polarity: np.ndarray  # the wish factor: which side its support leans to
    endorse: np.ndarray
    oppose: np.ndarray
    voter_group: np.ndarray
    voters: int


def analyze_votes(votes: np.ndarray, seed: int = 0, k_max: int = 8) -> ConsensusResult:
    """Group voters, then score every wish by consensus and by bridging."""
    v = np.asarray(votes, dtype=np.float64)
    groups = voter_groups(v, k_max=k_max, seed=seed) if v.shape[1] else np.zeros(0, dtype=int)
    fit = bridging_scores(v, seed=seed)
    return ConsensusResult(
        consensus=group_consensus(v, groups),
        bridging=fit.wish_intercept,
        polarity=fit.wish_factor,
        endorse=np.sum(v > 0, axis=1),
        oppose=np.sum(v < 0, axis=1),
        voter_group=groups,
        voters=v.shape[1],
    )
