"""The ``ledger_votes`` run stage: synthetic signed votes on a ledger's wishes, verified.

Real votes come through the service (``POST /api/v1/votes``). For demos and
tests this stage fills a ledger built by an earlier ``ledger`` stage with
votes from synthetic voters in opinion groups (:mod:`charter.ledger.votesim`),
so the collective analysis has Polis-style structure to find. It then exports
the vote log and verifies the export against its signed checkpoints, as a
third party would, and writes the simulation's truth (voter groups, stances)
beside it for checking consensus and bridging scores.

Resumable: votes are derived from the run seed, and a rerun adds only those
not already in the vote log.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from charter._util.progress import progress_bar
from charter._util.sources import parse_source
from charter.errors import RunError
from charter.ledger.checkpoint import load_key
from charter.ledger.log import Ledger
from charter.ledger.votelog import VoteLog, verify_vote_export
from charter.ledger.votes import tally
from charter.ledger.votesim import simulate
from charter.runs.config import StageSpec
from charter.runs.context import RunContext

SIMULATOR_ID = "charter.ledger.votesim"  # stands in for a model id in the provenance
_BATCH = 2000


class VotesSpec(StageSpec):
    """Simulated endorse/oppose votes on the wishes of a ``ledger`` stage."""

    kind: Literal["ledger_votes"] = "ledger_votes"
    ledger: str = Field("stage:wish_ledger", description="stage:<name> of a ledger stage")
    voters: int = Field(60, ge=1, description="synthetic voters")
    groups: int = Field(3, ge=1, description="opinion groups (voter i is in group i % groups)")
    participation: float = Field(0.6, ge=0, le=1, description="chance a voter votes on a wish")
    consensus_share: float = Field(0.3, ge=0, le=1, description="share of consensus wishes")
    agreement: float = Field(0.9, ge=0, le=1, description="chance a voter follows its group")


def run_votes(spec: VotesSpec, ctx: RunContext, restart: bool = False) -> dict:
    """Run the stage; return counts and the verification result."""
    folder = ctx.prepare_stage(spec, restart)
    ledger_ref = parse_source(spec.ledger)
    if ledger_ref.scheme != "stage":
        raise RunError(f"stage {spec.name}: ledger must be stage:<name> of a ledger stage.")
    source = ctx.output_dir / ledger_ref.value
    location, key_path = source / "ledger.sqlite", source / "log.key"
    if not location.exists() or not key_path.exists():
        raise RunError(
            f"stage {spec.name}: {location} is missing; put the ledger stage before this one."
        )
    seed = ctx.seed_for(spec.name, "votes")
    with Ledger.open(str(location), load_key(key_path)) as ledger:
        wishes = [ledger.get(i).id for i in range(ledger.size)]
        sim = simulate(
            wishes, spec.voters, spec.groups, seed, origin=ledger.origin,
            participation=spec.participation, consensus_share=spec.consensus_share,
            agreement=spec.agreement,
        )  # fmt: skip
        votes = VoteLog.for_ledger(ledger)
        seen = votes.used_nonces()
        todo = [v for v in sim.votes if (v.voter_key, v.nonce) not in seen]
        with progress_bar(f"{spec.name} (votes)", len(todo), ctx.progress) as bar:
            for start in range(0, len(todo), _BATCH):
                part = todo[start : start + _BATCH]
                votes.append(part, check_clock=False)  # signed at simulated times
                votes.checkpoint()
                bar.advance(len(part))
        votes.checkpoint()
        export = folder / "votes.jsonl"
        votes.export(export)
        current = verify_vote_export(export, votes.checkpoints(), ledger.verifier, wishes)
        size = votes.size
    truth = {
        "provenance": ctx.provenance(SIMULATOR_ID, seed),
        "voter_groups": sim.voter_groups,
        "stances": {e: list(s) for e, s in sim.stances.items()},
        "consensus": sim.consensus,
    }
    (folder / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    counts = tally(current)
    summary = {
        "total": len(sim.votes),
        "done": size,
        "new": len(todo),
        "failed": 0,
        "verified": True,
        "votes_in_force": len(current),
        "wishes_voted_on": len(counts),
        "consensus_wishes": len(sim.consensus),
        "provenance": truth["provenance"],
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
