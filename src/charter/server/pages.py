"""HTML pages of the wish service: submit, browse and search, one entry with its proof.

Each wish, in the list and on its page, shows its vote tally with endorse/oppose
buttons; ``static/votes.js`` signs the votes in the browser.

Rendered with Jinja2 with autoescaping on for every template, so all user text
(wishes, tags, the search query) reaches the page as text, never markup. The
pages carry no inline script; ``static/charter.js`` signs wishes in the browser
and verifies each entry's inclusion proof against the latest signed
checkpoint (RFC 9162 section 2.1.3.2, C2SP signed-note), trusting only the
log's verifier key.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from charter.ledger.votes import Tally
from charter.server.service import MAX_INDEX, WishService

TEMPLATE_DIR = Path(__file__).parent / "templates"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TITLES = {
    400: "Bad request",
    402: "Credit needed",
    404: "Not found",
    413: "Too large",
    422: "Not accepted",
    429: "Slow down",
}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    autoescape=True,  # every template, whatever its name: user text is always escaped
    undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
    trim_blocks=True,
    lstrip_blocks=True,
)

router = APIRouter(include_in_schema=False)


def render(service: WishService, root_path: str, template: str, **context: object) -> str:
    """Render a page with the context every page shares (log name, key, links)."""
    ledger = service.ledger
    shared = {
        "origin": ledger.origin,
        "verifier": ledger.verifier,
        "size": ledger.size,
        "pages_base": root_path,
        "api_base": f"{root_path}/api/v1",
        "static_base": f"{root_path}/static",
        "docs_url": f"{root_path}/docs",
    }
    return _env.get_template(template).render(**shared, **context)


def render_error(service: WishService, root_path: str, status: int, message: str) -> str:
    """The HTML error page; ``message`` is escaped like any other text."""
    title = _TITLES.get(status, "Something went wrong")
    return render(
        service, root_path, "error.html", status_code=status, title=title, message=message
    )


def _service(request: Request) -> WishService:
    return request.app.state.service


@router.get("/", response_class=HTMLResponse)
def submit_page(request: Request, parent: str = "") -> HTMLResponse:
    """The form where a person writes, signs (in the browser) and submits a wish."""
    service = _service(request)
    policy = service.ledger.policy
    html = render(
        service,
        request.scope.get("root_path", ""),
        "submit.html",
        min_fee=policy.min_fee,
        max_text=max(policy.max_scenario, policy.max_behaviour, policy.max_rationale),
        grant_new_keys=service.config.grant_new_keys,
        parent=parent if _HEX64.fullmatch(parent) else "",
    )
    return HTMLResponse(html)


@router.get("/wishes", response_class=HTMLResponse)
def wishes_page(
    request: Request,
    q: str = Query("", max_length=200),
    offset: int = Query(0, ge=0, le=MAX_INDEX),
) -> HTMLResponse:
    """Browse the wishes, or search them with ``q``, a page at a time."""
    service = _service(request)
    size = service.config.page_size
    # One extra row tells whether a next page exists without counting the matches.
    rows = service.ledger.search(q, limit=size + 1, offset=offset)
    counts = service.votes.tallies([entry.id for _, entry in rows[:size]])
    html = render(
        service,
        request.scope.get("root_path", ""),
        "wishes.html",
        q=q,
        items=rows[:size],
        tallies={entry.id: counts.get(entry.id, Tally()) for _, entry in rows[:size]},
        offset=offset,
        has_more=len(rows) > size,
        prev_query=urlencode({"q": q, "offset": max(0, offset - size)}),
        next_query=urlencode({"q": q, "offset": offset + size}),
    )
    return HTMLResponse(html)


@router.get("/wishes/{entry_id}", response_class=HTMLResponse)
def entry_page(request: Request, entry_id: str) -> HTMLResponse:
    """One wish, its index, and its inclusion proof checked by the browser."""
    service = _service(request)
    if not _HEX64.fullmatch(entry_id):
        raise HTTPException(404, "a wish id is 64 lowercase hex characters; check the link.")
    index = service.ledger.find(entry_id)
    if index is None:
        raise HTTPException(404, "no wish with this id is in the log.")
    entry = service.ledger.get(index)
    html = render(
        service,
        request.scope.get("root_path", ""),
        "entry.html",
        entry=entry,
        entry_id=entry_id,
        index=index,
        tally=service.votes.tally(entry_id),
    )
    return HTMLResponse(html)
