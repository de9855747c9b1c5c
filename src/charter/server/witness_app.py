"""The witness over HTTP: C2SP tlog-witness ``POST /add-checkpoint`` as an ASGI app.

Run it with ``charter ledger witness`` or, from Python::

    from charter.ledger.witness import Witness
    from charter.server.witness_app import create_witness_app
    app = create_witness_app(Witness(key, {origin: log_vkey}, "witness.json"))
    # uvicorn.run(app, host="127.0.0.1", port=8001)

Status codes follow c2sp.org/tlog-witness: 200 with the cosignature line(s)
(``text/plain``), 400 malformed request or old size above the size, 403 no
valid signature by the log's pinned key, 404 unknown log, 409 old size is not
the witness's (body: its size and a newline, ``Content-Type:
text/x.tlog.size``), 422 bad consistency proof or a fork. Errors other than
409 answer one plain-text sentence.

``GET /<hex SHA-256 of origin>/checkpoint`` serves the latest cosigned
checkpoint of a log (the spec's monitoring endpoint), 404 if none.
"""

from __future__ import annotations

import hashlib

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

import charter
from charter.errors import CharterError, LedgerError, SignatureError, VerificationError
from charter.ledger.witness import (
    SizeConflictError,
    UnknownLogError,
    Witness,
    WitnessRequestError,
    parse_add_checkpoint,
)

MAX_BODY_BYTES = 64 * 1024  # 63 proof lines and a checkpoint with signatures fit easily
SIZE_CONTENT_TYPE = "text/x.tlog.size"


def _status_for(exc: CharterError) -> int:
    """The tlog-witness status code for a refusal."""
    for kind, status in (
        (SizeConflictError, 409),
        (UnknownLogError, 404),
        (WitnessRequestError, 400),
        (SignatureError, 403),
        (VerificationError, 422),
        (LedgerError, 400),
    ):
        if isinstance(exc, kind):
            return status
    return 500


def create_witness_app(witness: Witness) -> FastAPI:
    """An app serving ``witness``; the witness is at ``app.state.witness``."""
    app = FastAPI(
        title="Charter witness",
        version=charter.__version__,
        description="A C2SP tlog-witness: POST /add-checkpoint returns cosignatures.",
    )
    app.state.witness = witness
    by_hash = {hashlib.sha256(o.encode("utf-8")).hexdigest(): o for o in witness.logs}

    @app.post("/add-checkpoint", response_class=PlainTextResponse)
    async def add_checkpoint(request: Request) -> Response:
        """Verify a checkpoint and its consistency proof; answer the cosignature line(s)."""
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return PlainTextResponse(
                    f"request body over {MAX_BODY_BYTES} bytes; send one checkpoint.\n", 413
                )
        try:
            old_size, proof, note = parse_add_checkpoint(body)
            lines = await run_in_threadpool(witness.add_checkpoint, old_size, proof, note)
        except SizeConflictError as exc:
            return PlainTextResponse(f"{exc.size}\n", 409, media_type=SIZE_CONTENT_TYPE)
        except CharterError as exc:
            return PlainTextResponse(f"{exc}\n", _status_for(exc))
        return PlainTextResponse(lines)

    @app.get("/{origin_hash}/checkpoint", response_class=PlainTextResponse)
    def checkpoint(origin_hash: str) -> Response:
        """The latest cosigned checkpoint of the log whose origin hashes to ``origin_hash``."""
        origin = by_hash.get(origin_hash.lower())
        note = witness.latest(origin) if origin else None
        if note is None:
            return PlainTextResponse("this witness has cosigned no checkpoint of that log.\n", 404)
        return PlainTextResponse(note)

    return app
