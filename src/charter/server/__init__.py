"""The wish service: a web page and JSON API for submitting and checking wishes (issue 6).

``create_app(ledger)`` returns a FastAPI app; ``charter serve`` runs it with
uvicorn. See :mod:`charter.server.app` for the pages, API and security policy.
"""

from __future__ import annotations

from charter.server.app import create_app
from charter.server.service import ServerConfig, WishService

__all__ = ["ServerConfig", "WishService", "create_app"]
