"""Huge or negative numbers are a 422, never a 500, and any 500 still carries the security
headers (issue 14, item 5: 146 of 34,718 schemathesis requests answered 500)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from charter.server import create_app

HOSTILE = [2**63, 2**64, 10**30, -1, -(2**63) - 1]
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options")


@pytest.fixture
def client(ledger, funded) -> TestClient:
    person = funded()
    ledger.append([person.sign(f"case {i}") for i in range(3)])
    app = create_app(ledger, rate_per_minute=None, ip_rate_per_minute=None)
    return TestClient(app, raise_server_exceptions=False)


def integer_queries(client: TestClient) -> list[tuple[str, str]]:
    """Every (GET path, integer query parameter) the API documents, read from its OpenAPI."""
    found = []
    for path, operations in client.app.openapi()["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path:
            continue
        for param in get.get("parameters", []):
            schema = param.get("schema", {})
            types = {schema.get("type"), *(s.get("type") for s in schema.get("anyOf", []))}
            if param["in"] == "query" and "integer" in types:
                found.append((path, param["name"]))
    return found


def test_the_api_documents_its_integer_parameters(client):
    names = {name for _, name in integer_queries(client)}
    assert {"offset", "since", "index", "size", "old"} <= names


@pytest.mark.parametrize("value", HOSTILE)
def test_huge_and_negative_numbers_are_422(client, value):
    for path, name in integer_queries(client):
        params = {"index": 0, "old": 1} | {name: value}
        reply = client.get(path, params=params)
        assert reply.status_code == 422, (path, name, value, reply.status_code, reply.text)
        assert name in reply.json()["error"]
        for header in SECURITY_HEADERS:
            assert header in reply.headers


def test_an_unexpected_error_is_a_500_with_the_security_headers(client, monkeypatch):
    service = client.app.state.service

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(service.ledger, "search", broken)
    reply = client.get("/api/v1/wishes")
    assert reply.status_code == 500
    assert "a bug" not in reply.text and "Traceback" not in reply.text
    assert reply.json()["error"].startswith("internal error")
    for header in SECURITY_HEADERS:
        assert header in reply.headers
    page = client.get("/")  # an HTML page that lists wishes
    if page.status_code == 500:
        assert "content-security-policy" in page.headers


# -- issue 14 review: every route, not only those the OpenAPI document lists -----------------


def _get_routes(routes, prefix: str = ""):
    """(path, APIRoute) of every GET route, through included routers (FastAPI >= 0.1xx nests
    them as ``_IncludedRouter`` objects with ``original_router`` and ``include_context``)."""
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute) and "GET" in route.methods:
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            inner = prefix + route.include_context.prefix
            yield from _get_routes(route.original_router.routes, inner)


def every_integer_query(client: TestClient) -> list[tuple[str, str]]:
    """Every (GET path, integer query parameter) of every route, HTML pages included
    (they are left out of the OpenAPI document, so :func:`integer_queries` misses them)."""
    found = []
    for path, route in _get_routes(client.app.routes):
        if "{" in path:
            continue
        for param in route.dependant.query_params:
            if "int" in str(param.field_info.annotation):
                found.append((path, param.name))
    return found


def test_html_pages_range_check_their_numbers_too(client):
    found = every_integer_query(client)
    assert ("/wishes", "offset") in found and set(integer_queries(client)) <= set(found)
    for path, name in found:
        for value in HOSTILE:
            params = {"index": 0, "old": 1} | {name: value}
            reply = client.get(path, params=params)
            assert reply.status_code == 422, (path, name, value, reply.status_code)
            for header in SECURITY_HEADERS:
                assert header in reply.headers
