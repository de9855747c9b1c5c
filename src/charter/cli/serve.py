"""``charter serve``: run the wish service (pages + JSON API) over a ledger with uvicorn.

Example::

    charter ledger init wishes.db --origin example.org/wishes --key-file log.key
    charter ledger grant wishes.db AUTHOR_KEY 100               # the operator funds a key
    charter serve wishes.db --key-file log.key                  # http://127.0.0.1:8000/
    charter serve wishes.db -k log.key --grant-new-keys 10      # a demo anyone can try
    charter serve wishes.db -k log.key --witness http://127.0.0.1:8001=$(cat w1.vkey)

The JSON API is under /api/v1 (schema at /openapi.json, docs at /docs).

One process serves one ledger: the rate limits and the demo grant live in its
memory, and the ledger's write lock is per process. Beyond localhost, put it
behind HTTPS (a reverse proxy, with ``--forwarded-allow-ips``): browsers offer
WebCrypto, which signs wishes and checks proofs, only to secure pages.
"""

from __future__ import annotations

from pathlib import Path

import typer

from charter.errors import missing_extra


def serve(
    location: str = typer.Argument(..., help="The ledger: a SQLite file or a postgresql:// URL."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8000, help="TCP port to listen on."),
    key: Path = typer.Option(
        ..., "--key-file", "-k", help="The log's private key file, to sign fresh checkpoints."
    ),
    grant_new_keys: int = typer.Option(
        0,
        help="Demo stake: credits a signing key gets with its first wish to this server "
        "(0: off; the operator grants credits with `charter ledger`).",
    ),
    rate_per_minute: float = typer.Option(30, help="Wishes a minute per author key."),
    ip_rate_per_minute: float = typer.Option(60, help="Wishes a minute per client IP."),
    read_rate_per_minute: float = typer.Option(1200, help="Other requests a minute per IP."),
    no_rate_limit: bool = typer.Option(
        False, "--no-rate-limit", help="Disable every rate limit (for benchmarks)."
    ),
    forwarded_allow_ips: str = typer.Option(
        None,
        help="Proxy IPs trusted to set X-Forwarded-For (the client IP the limits use); "
        "leave unset unless a reverse proxy sits in front.",
    ),
    log_level: str = typer.Option("info", help="uvicorn log level."),
    witness: list[str] = typer.Option(
        [],
        "--witness",
        help="A witness to collect cosignatures from, as URL=VERIFIER (its submission "
        "prefix and vkey, or a file holding it); repeatable (C2SP tlog-witness).",
    ),
) -> None:
    """Serve the wish submission pages and JSON API for a ledger."""
    try:
        import uvicorn

        from charter.server import create_app
    except ImportError as exc:
        raise missing_extra(exc.name or "fastapi", "server") from None
    from charter.ledger.checkpoint import load_key
    from charter.ledger.log import Ledger
    from charter.server.witnesses import WitnessEndpoint

    witnesses = [WitnessEndpoint.parse(text) for text in witness]
    ledger = Ledger.open(location, load_key(key))
    try:
        app = create_app(
            ledger,
            rate_per_minute=None if no_rate_limit else rate_per_minute,
            ip_rate_per_minute=None if no_rate_limit else ip_rate_per_minute,
            read_rate_per_minute=None if no_rate_limit else read_rate_per_minute,
            grant_new_keys=grant_new_keys,
            witnesses=witnesses,
        )
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            proxy_headers=forwarded_allow_ips is not None,
            forwarded_allow_ips=forwarded_allow_ips,
        )
    finally:
        ledger.close()
