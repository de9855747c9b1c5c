"""The JSON API, mounted at ``/api/v1`` (schema at ``/openapi.json``).

Hashes are lowercase hex; checkpoints are C2SP signed notes (tlog-checkpoint)
as text. A client that trusts only the log's verifier key (``GET /key``)
checks a wish by recomputing its id (RFC 6962 section 2.1 leaf hash of the
canonical JSON), verifying the checkpoint note, and verifying the inclusion
proof against the checkpoint's root (RFC 9162 section 2.1.3.2); consistency
proofs (section 2.1.4) show that a newer checkpoint extends an older one.

``POST /wishes`` answers only after the ledger's store transaction committed.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from charter.ledger.checkpoint import verify_checkpoint
from charter.ledger.entry import Entry, parse_entry
from charter.server.service import MAX_INDEX, WishService

router = APIRouter(tags=["wishes"])


class ErrorReply(BaseModel):
    error: str = Field(description="One sentence: what is wrong and how to fix it.")


_ERRORS: dict[int | str, dict] = {
    status: {"model": ErrorReply, "description": text}
    for status, text in {
        400: "A size or index is outside the log.",
        402: "Not enough credit for the fee and burn.",
        422: "The entry, its signature or a parameter is invalid.",
        429: "Rate limited; see Retry-After.",
    }.items()
}


class Appended(BaseModel):
    index: int = Field(description="Position of the wish in the log (0-based).")
    id: str = Field(description="Hex RFC 6962 leaf hash of the entry's canonical JSON.")


class WishRecord(BaseModel):
    index: int
    id: str
    entry: Entry


class WishPage(BaseModel):
    items: list[WishRecord]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")


class CheckpointReply(BaseModel):
    note: str = Field(description="The C2SP signed note; verify it before using the fields.")
    origin: str
    size: int
    root: str = Field(description="Hex root hash (as in the note, where it is base64).")


class InclusionProof(BaseModel):
    index: int
    size: int
    proof: list[str] = Field(description="Hex hashes, leaf to root (RFC 9162 section 2.1.3).")


class ConsistencyProof(BaseModel):
    old: int
    new: int
    proof: list[str] = Field(description="Hex hashes (RFC 9162 section 2.1.4).")


class LogKeyReply(BaseModel):
    origin: str
    verifier: str = Field(description="C2SP signed-note verifier key of the log (Ed25519).")


def _service(request: Request) -> WishService:
    return request.app.state.service


def _record(index: int, entry: Entry) -> dict:
    # The canonical bytes themselves, parsed: exactly the fields that were hashed.
    return {"index": index, "id": entry.id, "entry": json.loads(entry.canonical_bytes())}


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the request body is over {limit} bytes; send one entry.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"the request body is over {limit} bytes; send one entry.")
    return bytes(body)


@router.post(
    "/wishes",
    status_code=201,
    response_model=Appended,
    responses={**_ERRORS, 413: {"model": ErrorReply, "description": "Body too large."}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Entry"}}},
        }
    },
)
async def submit_wish(request: Request) -> JSONResponse:
    """Append a signed entry (see ``charter.ledger.entry.Entry``); answers once durable."""
    service = _service(request)
    body = await _read_body(request, service.config.max_body_bytes)
    entry = parse_entry(body)
    # Signature checks and the SQLite commit block; keep them off the event loop.
    index = await run_in_threadpool(service.submit, entry)
    return JSONResponse(
        {"index": index, "id": entry.id},
        status_code=201,
        headers={"Location": f"{request.scope.get('root_path', '')}/api/v1/wishes/{entry.id}"},
    )


@router.get("/wishes", response_model=WishPage, responses=_ERRORS)
def list_wishes(
    request: Request,
    q: str = Query("", max_length=200, description="Text to search for; empty lists all."),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=MAX_INDEX),
) -> JSONResponse:
    """List or search wishes, a page at a time."""
    rows = _service(request).ledger.search(q, limit=limit + 1, offset=offset)
    more = len(rows) > limit
    return JSONResponse(
        {
            "items": [_record(i, e) for i, e in rows[:limit]],
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if more else None,
        }
    )


@router.get(
    "/wishes/{entry_id}",
    response_model=WishRecord,
    responses={404: {"model": ErrorReply, "description": "No such wish."}},
)
def get_wish(request: Request, entry_id: str) -> JSONResponse:
    """One wish by its id (hex leaf hash), with its index."""
    ledger = _service(request).ledger
    index = ledger.find(entry_id.lower())
    if index is None:
        raise HTTPException(404, "no wish with this id is in the log; ids are 64 hex characters.")
    return JSONResponse(_record(index, ledger.get(index)))


@router.get("/checkpoint", response_model=CheckpointReply)
def get_checkpoint(request: Request) -> JSONResponse:
    """The latest signed checkpoint; a new one is signed first if the log grew."""
    service = _service(request)
    note = service.checkpoint()
    cp = verify_checkpoint(note, service.ledger.verifier)
    return JSONResponse({"note": note, "origin": cp.origin, "size": cp.size, "root": cp.root.hex()})


@router.get("/proof/inclusion", response_model=InclusionProof, responses=_ERRORS)
def inclusion(
    request: Request,
    index: int = Query(ge=0, le=MAX_INDEX, description="The entry's index."),
    size: int | None = Query(
        None, ge=1, le=MAX_INDEX, description="Tree size; default: the current size."
    ),
) -> JSONResponse:
    """Inclusion proof of entry ``index`` in the tree of ``size`` entries."""
    ledger = _service(request).ledger
    size = ledger.size if size is None else size
    proof = ledger.inclusion_proof(index, size)
    return JSONResponse({"index": index, "size": size, "proof": [h.hex() for h in proof]})


@router.get("/proof/consistency", response_model=ConsistencyProof, responses=_ERRORS)
def consistency(
    request: Request,
    old: int = Query(ge=1, le=MAX_INDEX, description="The older tree size."),
    new: int | None = Query(
        None, ge=1, le=MAX_INDEX, description="The newer size; default: current."
    ),
) -> JSONResponse:
    """Consistency proof that the tree of ``old`` entries is a prefix of the one of ``new``."""
    ledger = _service(request).ledger
    new = ledger.size if new is None else new
    proof = ledger.consistency_proof(old, new)
    return JSONResponse({"old": old, "new": new, "proof": [h.hex() for h in proof]})


@router.get("/key", response_model=LogKeyReply)
def log_key(request: Request) -> JSONResponse:
    """The log's origin and verifier key: the only thing a verifier needs to trust."""
    ledger = _service(request).ledger
    return JSONResponse({"origin": ledger.origin, "verifier": ledger.verifier})


# The votes endpoints share this router (and its /api/v1 prefix) from their own module.
from charter.server import votes_api  # noqa: E402

router.include_router(votes_api.router)
