"""Synthetic, signed votes from voters in opinion groups: for demos and tests.

Real vote data has the structure Polis (Small et al. 2021, "Polis: Scaling
deliberation by mapping high dimensional opinion spaces") and Community Notes
(Wojcik et al. 2022, "Birdwatch: Crowd wisdom and bridging algorithms can
inform understanding and reduce misinformation") are built to read: people
fall into opinion groups that agree among themselves on divisive items, while
some items are endorsed across groups. :func:`simulate` makes such data with a
known answer, so consensus and bridging scores can be checked against it:

- ``groups`` groups of voters of equal size (voter ``i`` is in group ``i % groups``);
- each wish is *consensus* (every group holds the same stance, mostly endorse)
  with probability ``consensus_share``, otherwise *divisive* (stances per group
  drawn at random, never all equal);
- a voter votes on a wish with probability ``participation`` and follows the
  group's stance with probability ``agreement``.

Everything is derived from ``seed``: the voters' Ed25519 keys, nonces,
timestamps and choices, so the same call gives the same signed votes.

Use: ``votes = simulate_votes(entry_ids, n_voters=60, groups=3, seed=0, origin=ledger.origin)``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from charter.errors import ConfigError
from charter.ledger.entry import Entry, format_timestamp, public_key_b64
from charter.ledger.votes import Vote, sign_vote

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class VoteSimulation:
    """Simulated votes and the truth they were drawn from."""

    votes: list[Vote]
    voter_groups: dict[str, int]  # voter key -> group
    stances: dict[str, tuple[int, ...]]  # entry id -> the stance (+1/-1) of each group
    consensus: list[str] = field(default_factory=list)  # entry ids every group endorses


def voter_seed(seed: int, voter: int) -> bytes:
    """The 32-byte Ed25519 seed of simulated voter ``voter`` under ``seed``."""
    return hashlib.sha256(f"charter-sim-voter\x1f{seed}\x1f{voter}".encode()).digest()


def simulate(
    wishes: Sequence[str | Entry],
    n_voters: int = 60,
    groups: int = 3,
    seed: int = 0,
    *,
    origin: str = "charter.example/quickstart",
    participation: float = 0.6,
    consensus_share: float = 0.3,
    agreement: float = 0.9,
    start: datetime = DEFAULT_START,
) -> VoteSimulation:
    """Simulate signed votes on ``wishes`` (entry ids or entries); see the module docstring.

    Args:
        wishes: the wishes to vote on.
        n_voters: how many synthetic voters.
        groups: how many opinion groups (2 or 3 are typical).
        seed: fixes keys, choices, nonces and timestamps.
        origin: the ledger's origin the votes are signed for.
        participation: chance that a voter votes on a given wish.
        consensus_share: chance that a wish is one every group agrees on.
        agreement: chance that a voter follows the group's stance.
        start: the time of wish 0's votes; wish j, voter i votes at start + (j * n_voters + i) ms.

    Raises:
        ConfigError: a count or probability is out of range.
    """
    if n_voters < 1 or groups < 1 or groups > n_voters:
        raise ConfigError("simulate: need n_voters >= groups >= 1.")
    for name, p in [
        ("participation", participation),
        ("consensus_share", consensus_share),
        ("agreement", agreement),
    ]:
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"simulate: {name} must be a probability in [0, 1], got {p}.")
    ids = [w.id if isinstance(w, Entry) else w for w in wishes]
    stances: dict[str, tuple[int, ...]] = {}
    consensus: list[str] = []
    for entry_id in ids:
        # One generator per wish (and per voter and wish below): adding wishes to the
        # ledger later leaves every earlier wish's stances and votes exactly as they were.
        rng = random.Random(f"charter-sim\x1f{seed}\x1f{entry_id}")
        if groups == 1 or rng.random() < consensus_share:
            stance = 1 if rng.random() < 0.85 else -1  # mostly shared endorsement
            stances[entry_id] = (stance,) * groups
            if stance == 1:
                consensus.append(entry_id)
        else:
            drawn = [rng.choice((1, -1)) for _ in range(groups)]
            if len(set(drawn)) == 1:  # divisive means at least two groups differ
                drawn[rng.randrange(groups)] *= -1
            stances[entry_id] = tuple(drawn)
    keys = [voter_seed(seed, i) for i in range(n_voters)]
    voter_groups = {public_key_b64(key): i % groups for i, key in enumerate(keys)}
    votes: list[Vote] = []
    for j, entry_id in enumerate(ids):
        for i, key in enumerate(keys):
            rng = random.Random(f"charter-sim\x1f{seed}\x1f{entry_id}\x1f{i}")
            if rng.random() >= participation:
                continue
            value = stances[entry_id][i % groups]
            if rng.random() >= agreement:
                value = -value
            moment = start + timedelta(milliseconds=j * n_voters + i)
            nonce = hashlib.sha256(f"{seed}\x1f{i}\x1f{entry_id}".encode()).hexdigest()[:32]
            votes.append(sign_vote(entry_id, value, key, origin, nonce, format_timestamp(moment)))
    return VoteSimulation(votes, voter_groups, stances, consensus)


def simulate_votes(
    wishes: Sequence[str | Entry], n_voters: int = 60, groups: int = 3, seed: int = 0, **options
) -> list[Vote]:
    """Only the votes of :func:`simulate` (same arguments)."""
    return simulate(wishes, n_voters, groups, seed, **options).votes
