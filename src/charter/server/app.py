"""The wish service as an ASGI app: pages, the JSON API, security headers, error mapping.

Serve a ledger with ``charter serve LEDGER --key KEYFILE`` or, from Python::

    from charter.ledger.log import Ledger
    from charter.server import create_app
    app = create_app(Ledger.open("wishes.db", key), grant_new_keys=10)
    # uvicorn.run(app, host="127.0.0.1", port=8000)

Every response carries a Content-Security-Policy that allows scripts, styles
and connections from this origin only and no inline script (W3C CSP Level 3),
so even text that escaped the templates' autoescaping could not run. The
interactive API docs at ``/docs`` load Swagger UI from a CDN and so get a
looser policy of their own; ``/openapi.json`` needs nothing.

Errors are one JSON sentence under ``/api`` (``{"error": "..."}``) and a small
HTML page elsewhere: entry or signature problems are 422, missing stake 402,
rate limits 429 with ``Retry-After`` (RFC 9110 section 10.2.3).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import charter
from charter.errors import CharterError, EntryError, LedgerError, StakeError, VerificationError
from charter.ledger.log import Ledger
from charter.server import api, pages, tiles_api
from charter.server.ratelimit import RateLimited, check, retry_after
from charter.server.service import ServerConfig, WishService
from charter.server.witnesses import WitnessEndpoint

_log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
API_PREFIX = "/api/v1"
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# Swagger UI comes from jsDelivr and starts with an inline script; only /docs gets this.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def create_app(
    ledger: Ledger,
    *,
    rate_per_minute: float | None = 30,
    ip_rate_per_minute: float | None = 60,
    read_rate_per_minute: float | None = 1200,
    grant_new_keys: int = 0,
    max_body_bytes: int = 64 * 1024,
    witnesses: Sequence[WitnessEndpoint] = (),
) -> FastAPI:
    """Build the wish service for an open ledger.

    Args:
        ledger: the ledger to serve; open it with its log key so the service can
            sign fresh checkpoints.
        rate_per_minute: wishes a minute per author key; None disables the limit.
        ip_rate_per_minute: wishes a minute per client IP; None disables it.
        read_rate_per_minute: other requests a minute per client IP; None disables it.
        grant_new_keys: credits a key receives the first time it submits to this
            server process (for demos; 0, the default, leaves stake to the operator's
            ``charter ledger grant``).
        max_body_bytes: largest request body accepted (413 beyond it).
        witnesses: witnesses asked to cosign each new checkpoint (C2SP
            tlog-witness); the served checkpoints carry their cosignatures.

    Returns:
        A FastAPI app; the :class:`WishService` is at ``app.state.service``.
    """
    config = ServerConfig(
        rate_per_minute=rate_per_minute,
        ip_rate_per_minute=ip_rate_per_minute,
        read_rate_per_minute=read_rate_per_minute,
        grant_new_keys=grant_new_keys,
        max_body_bytes=max_body_bytes,
        witnesses=tuple(witnesses),
    )
    app = FastAPI(
        title="Charter wish ledger",
        version=charter.__version__,
        description=(
            "Submit signed wishes to a verifiable log (RFC 6962/9162 Merkle tree, C2SP "
            "signed checkpoints) and fetch entries, checkpoints and proofs."
        ),
    )
    app.state.service = WishService(ledger, config)
    app.include_router(api.router, prefix=API_PREFIX)
    app.include_router(tiles_api.router)  # C2SP tlog-tiles: /checkpoint, /tile/...
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(_Guard, service=app.state.service)
    _add_error_handlers(app)
    return app


class _Guard:
    """Per-IP rate limits and security headers, as plain ASGI (no per-request task).

    Submissions (POST) and everything else draw from separate per-IP buckets,
    so browsing cannot use up the allowance for wishes. Static files are free.
    """

    def __init__(self, app: ASGIApp, service: WishService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        policy = DOCS_CSP if path in DOCS_PATHS else CSP
        ip = (scope.get("client") or ("unknown", 0))[0]
        try:
            if scope["method"] == "POST":
                check(self.service.ip_limiter, ip, "IP address")
            elif not path.startswith("/static/"):
                check(self.service.read_limiter, ip, "IP address")
        except RateLimited as exc:
            headers = {"Retry-After": retry_after(exc.wait)}
            response = _error_response(self.service, scope, 429, str(exc), headers)
            await response(scope, receive, _with_headers(send, policy))
            return
        started = False
        guarded = _with_headers(send, policy)

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await guarded(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            # A bug must still answer inside the guard: one sentence, the security
            # headers, no traceback to the client (it is logged for the operator).
            _log.exception("unhandled error on %s %s", scope["method"], path)
            if started:
                raise
            message = "internal error; it was logged. Try again, or report it to the operator."
            response = _error_response(self.service, scope, 500, message)
            await response(scope, receive, guarded)


def _with_headers(send: Send, policy: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers += [
                (b"content-security-policy", policy.encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"referrer-policy", b"no-referrer"),
                (b"x-frame-options", b"DENY"),
            ]
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


def _status_for(exc: CharterError) -> int:
    if isinstance(exc, StakeError):
        return 402
    if isinstance(exc, EntryError | VerificationError):
        return 422
    if isinstance(exc, LedgerError):
        return 400
    return 500


def _add_error_handlers(app: FastAPI) -> None:
    service = app.state.service

    async def charter_error(request: Request, exc: CharterError) -> Response:
        return _error_response(service, request.scope, _status_for(exc), str(exc))

    async def rate_limited(request: Request, exc: RateLimited) -> Response:
        headers = {"Retry-After": retry_after(exc.wait)}
        return _error_response(service, request.scope, 429, str(exc), headers)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "request refused."
        # Starlette's own 404/405 say only "Not Found": name the path and where to look.
        if exc.status_code == 404 and message == "Not Found":
            message = f"nothing is at {request.url.path}; the API is listed at /docs."
        elif exc.status_code == 405 and message == "Method Not Allowed":
            message = f"{request.method} is not allowed on {request.url.path}; see /docs."
        return _error_response(service, request.scope, exc.status_code, message, exc.headers)

    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"])
        return _error_response(service, request.scope, 422, f"{where}: {err['msg']}.")

    app.add_exception_handler(CharterError, charter_error)
    app.add_exception_handler(RateLimited, rate_limited)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)


def _error_response(
    service: WishService,
    scope: Scope,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """``{"error": message}`` for the API, an HTML page (user text escaped) elsewhere."""
    if scope["path"].startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    html = pages.render_error(service, scope.get("root_path", ""), status, message)
    return HTMLResponse(html, status_code=status, headers=headers)
