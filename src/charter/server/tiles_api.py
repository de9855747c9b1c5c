"""The ledger as a C2SP tlog-tiles log, beside the JSON API (https://c2sp.org/tlog-tiles).

Standard transparency tooling (monitors, mirrors, witnesses) reads a log as
static resources; this router serves them at the root of the site, and the
vote log's under ``/votes``:

- ``GET /checkpoint``: the latest signed checkpoint (C2SP tlog-checkpoint in a
  signed note), ``text/plain; charset=utf-8``, cached a few seconds at most
  (tlog-tiles, "Checkpoints"); a new one is signed if the log grew.
- ``GET /tile/<L>/<N>[.p/<W>]``: hash tiles, ``application/octet-stream``.
- ``GET /tile/entries/<N>[.p/<W>]``: entry bundles, the canonical bytes of
  each entry with a big-endian uint16 length; gzip-compressed when the client
  accepts it (tlog-tiles, "Log entries").
- ``GET /votes/checkpoint``, ``/votes/tile/...``: the same for the vote log
  (origin ``<log origin>/votes``).

Full tiles and bundles never change and are cached for a year as immutable;
partial ones are cached briefly. A malformed path answers 400 and a tile the
tree does not hold yet 404, both as one line of text. The bytes come from
:mod:`charter.ledger.tiles`; a client checks them with
:func:`charter.ledger.tiles.verify_tiles`.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.ledger.tiles import (
    TileNotFound,
    TilePathError,
    parse_tile_path,
    read_entry_bundle,
    read_tile,
)
from charter.ledger.tree import NodeReader
from charter.server.service import WishService

router = APIRouter(tags=["tlog-tiles"])

FULL_CACHE = "public, max-age=31536000, immutable"  # full tiles never change
PARTIAL_CACHE = "public, max-age=60"  # superseded by wider ones as the log grows
CHECKPOINT_CACHE = "public, max-age=5"  # tlog-tiles: no caching beyond a few seconds
MISSING_CACHE = "no-cache"  # a tile beyond the tree may exist a moment later
OCTETS = "application/octet-stream"


@dataclass(frozen=True)
class _TiledLog:
    """What serving one log as tiles needs."""

    size: Callable[[], int]
    nodes: NodeReader
    entries: Callable[[int, int], Iterable[bytes]]
    checkpoint: Callable[[], str]


def _wish_log(service: WishService) -> _TiledLog:
    store = service.ledger.store
    return _TiledLog(
        size=lambda: service.ledger.size,
        nodes=store,
        entries=lambda start, stop: (e.data for e in store.entries(start, stop)),
        checkpoint=service.checkpoint,
    )


def _vote_log(service: WishService) -> _TiledLog:
    storage = service.votes.log.storage  # the vote log in the shared store
    return _TiledLog(
        size=storage.size,
        nodes=storage,
        entries=storage.leaf_data,
        checkpoint=service.votes.checkpoint,
    )


def _text(status: int, message: str) -> Response:
    return Response(
        message + "\n",
        status_code=status,
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": MISSING_CACHE},
    )


def _checkpoint(log: _TiledLog) -> Response:
    return Response(
        log.checkpoint(),
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": CHECKPOINT_CACHE},
    )


def _tile(log: _TiledLog, path: str, request: Request) -> Response:
    try:
        # Starlette's route pattern ends in "$", which also matches before a final
        # newline and leaves it out of ``path``: judge the path that was asked for.
        if not request.scope["path"].endswith("/tile/" + path):
            raise TilePathError("a tile path holds digits, x, '.p' and '/' only.")
        tile = parse_tile_path("tile/" + path)
        size = log.size()
        if tile.entries:
            body = read_entry_bundle(tile, size, log.entries)
        else:
            body = read_tile(tile, size, log.nodes)
    except TilePathError as exc:
        return _text(400, str(exc))
    except TileNotFound as exc:
        return _text(404, str(exc))
    headers = {"Cache-Control": PARTIAL_CACHE if tile.partial else FULL_CACHE}
    if tile.entries:
        headers["Vary"] = "Accept-Encoding"
        if _accepts_gzip(request.headers.get("accept-encoding", "")):
            body = gzip.compress(body, compresslevel=6, mtime=0)
            headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=OCTETS, headers=headers)


def _accepts_gzip(header: str) -> bool:
    """Whether an ``Accept-Encoding`` header admits gzip (RFC 9110 section 12.5.3)."""
    for item in header.split(","):
        name, _, params = item.partition(";")
        if name.strip().lower() in ("gzip", "x-gzip"):
            q = params.strip().lower().removeprefix("q=")
            return not params.strip() or q.rstrip("0").rstrip(".") not in ("0", "")
    return False


def _service(request: Request) -> WishService:
    return request.app.state.service


@router.get("/checkpoint", response_class=Response)
def wish_checkpoint(request: Request) -> Response:
    """The wish log's latest signed checkpoint note (C2SP tlog-checkpoint)."""
    return _checkpoint(_wish_log(_service(request)))


@router.get("/tile/{path:path}", response_class=Response)
def wish_tile(request: Request, path: str) -> Response:
    """A hash tile ``<L>/<N>[.p/<W>]`` or entry bundle ``entries/<N>[.p/<W>]`` of the wish log."""
    return _tile(_wish_log(_service(request)), path, request)


@router.get("/votes/checkpoint", response_class=Response)
def vote_checkpoint(request: Request) -> Response:
    """The vote log's latest signed checkpoint note (origin ``<log origin>/votes``)."""
    return _checkpoint(_vote_log(_service(request)))


@router.get("/votes/tile/{path:path}", response_class=Response)
def vote_tile(request: Request, path: str) -> Response:
    """A hash tile or entry bundle of the vote log, named as for the wish log."""
    return _tile(_vote_log(_service(request)), path, request)
