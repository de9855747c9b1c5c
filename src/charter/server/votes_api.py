"""The votes part of the JSON API (mounted with the rest at ``/api/v1``).

A vote (:class:`charter.ledger.votes.Vote`) is signed by the voter in the
browser or any client. The server checks the signature, that the wish exists,
the nonce is fresh and the vote is newer than the voter's vote in force, then
appends it to the vote log (:mod:`charter.ledger.votelog`), an RFC 6962 log
with its own signed checkpoints (origin ``<log origin>/votes``). A reader
verifies a vote like a wish: recompute its id (leaf hash of the canonical
JSON), check the checkpoint note with the log's verifier key, and check the
inclusion proof (RFC 9162 section 2.1.3.2) against the checkpoint's root.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from charter.ledger.checkpoint import verify_checkpoint
from charter.ledger.votes import Vote, parse_vote
from charter.server.service import MAX_INDEX, WishService

router = APIRouter(tags=["votes"])
_MAX_VOTE_BYTES = 4096  # a vote is about 400 bytes


class Tallied(BaseModel):
    endorse: int
    oppose: int
    total: int


class VoteAccepted(BaseModel):
    index: int = Field(description="Position of the vote in the vote log.")
    id: str = Field(description="Hex RFC 6962 leaf hash of the vote's canonical JSON.")
    entry_id: str
    replaced: bool = Field(description="True if it superseded the voter's earlier vote (200).")
    tally: Tallied = Field(description="The wish's tally after this vote.")


class VoteRecord(BaseModel):
    index: int
    id: str
    vote: Vote


class WishVotes(BaseModel):
    entry_id: str
    tally: Tallied
    votes: list[VoteRecord] = Field(description="The votes in force, oldest first.")
    limit: int
    offset: int
    next_offset: int | None


class VotePage(BaseModel):
    items: list[VoteRecord] = Field(description="Every accepted vote, in vote-log order.")
    since: int
    limit: int
    size: int = Field(description="Votes in the log now.")
    next_since: int | None = Field(description="Index to ask for next; null at the end.")


class VoteCheckpoint(BaseModel):
    note: str = Field(description="C2SP signed note; origin is the log's origin + '/votes'.")
    origin: str
    size: int
    root: str


def _service(request: Request) -> WishService:
    return request.app.state.service


def _record(index: int, vote: Vote) -> dict:
    return {"index": index, "id": vote.id, "vote": json.loads(vote.canonical_bytes())}


async def _read_vote(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_VOTE_BYTES:
            raise HTTPException(413, f"the request body is over {_MAX_VOTE_BYTES} bytes; "
                                "send one vote.")  # fmt: skip
    return bytes(body)


@router.post(
    "/votes",
    status_code=201,
    response_model=VoteAccepted,
    responses={
        200: {"model": VoteAccepted, "description": "Replaced the voter's earlier vote."},
        422: {"description": "Bad vote, signature, unknown wish, replay or stale vote."},
        429: {"description": "Rate limited; see Retry-After."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Vote"}}},
        }
    },
)
async def submit_vote(request: Request) -> JSONResponse:
    """Record a signed endorse (+1), oppose (-1) or withdraw (0) vote on a wish."""
    service = _service(request)
    vote = parse_vote(await _read_vote(request))
    receipt = await run_in_threadpool(service.submit_vote, vote)
    tally = service.votes.tally(vote.entry_id).to_dict()
    return JSONResponse(
        {
            "index": receipt.index,
            "id": receipt.vote_id,
            "entry_id": vote.entry_id,
            "replaced": receipt.replaced,
            "tally": tally,
        },
        status_code=200 if receipt.replaced else 201,
    )


@router.get(
    "/wishes/{entry_id}/votes",
    response_model=WishVotes,
    responses={404: {"description": "No such wish."}},
)
def wish_votes(
    request: Request,
    entry_id: str,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_INDEX),
) -> JSONResponse:
    """The tally of one wish and the votes in force on it (withdrawals included)."""
    service = _service(request)
    entry_id = entry_id.lower()
    if service.ledger.find(entry_id) is None:
        raise HTTPException(404, "no wish with this id is in the log; ids are 64 hex characters.")
    votes = service.votes.votes_on(entry_id)
    page = votes[offset : offset + limit]
    return JSONResponse(
        {
            "entry_id": entry_id,
            "tally": service.votes.tally(entry_id).to_dict(),
            "votes": [_record(i, v) for i, v in page],
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if offset + limit < len(votes) else None,
        }
    )


@router.get("/votes", response_model=VotePage)
def export_votes(
    request: Request,
    since: int = Query(0, ge=0, le=MAX_INDEX, description="First vote-log index to return."),
    limit: int = Query(500, ge=1, le=5000),
) -> JSONResponse:
    """The vote log a page at a time, superseded votes included (to recompute tallies)."""
    votes = _service(request).votes
    items = votes.page(since, limit)
    size = votes.size
    end = since + len(items)
    return JSONResponse(
        {
            "items": [_record(i, v) for i, v in items],
            "since": since,
            "limit": limit,
            "size": size,
            "next_since": end if end < size else None,
        }
    )


@router.get("/votes/checkpoint", response_model=VoteCheckpoint)
def vote_checkpoint(request: Request) -> JSONResponse:
    """The latest signed checkpoint of the vote log (signed now if the log grew)."""
    service = _service(request)
    note = service.votes.checkpoint()
    cp = verify_checkpoint(note, service.ledger.verifier)
    return JSONResponse({"note": note, "origin": cp.origin, "size": cp.size, "root": cp.root.hex()})


@router.get("/votes/proof/inclusion")
def vote_inclusion(
    request: Request,
    index: int = Query(ge=0, le=MAX_INDEX),
    size: int | None = Query(
        None, ge=1, le=MAX_INDEX, description="Vote-log size; default: current."
    ),
) -> JSONResponse:
    """Inclusion proof of vote ``index`` in the vote log of ``size`` votes."""
    votes = _service(request).votes
    size = votes.size if size is None else size
    proof = votes.inclusion_proof(index, size)
    return JSONResponse({"index": index, "size": size, "proof": [h.hex() for h in proof]})


@router.get("/votes/proof/consistency")
def vote_consistency(
    request: Request,
    old: int = Query(ge=1, le=MAX_INDEX),
    new: int | None = Query(None, ge=1, le=MAX_INDEX),
) -> JSONResponse:
    """Consistency proof between two sizes of the vote log (RFC 9162 section 2.1.4)."""
    votes = _service(request).votes
    new = votes.size if new is None else new
    proof = votes.consistency_proof(old, new)
    return JSONResponse({"old": old, "new": new, "proof": [h.hex() for h in proof]})
