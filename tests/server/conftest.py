"""Fixtures for the wish service: a real SQLite ledger, signed entries, a live server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from charter._util.net import free_port, serving
from charter.ledger.checkpoint import LogKey
from charter.ledger.entry import Entry, generate_author_key, new_salt, public_key_b64, sign_entry
from charter.ledger.log import Ledger

ORIGIN = "test.example/wishes"


@pytest.fixture
def ledger(tmp_path) -> Iterator[Ledger]:
    """An empty ledger in a SQLite file, opened with its log key."""
    key = LogKey.generate(ORIGIN)
    with Ledger.create(str(tmp_path / "wishes.db"), ORIGIN, key, min_fee=1) as opened:
        yield opened


class Author:
    """A pseudonymous author: an Ed25519 key, a salt and an identity, as a browser keeps."""

    def __init__(self) -> None:
        self.private_key = generate_author_key()
        self.key = public_key_b64(self.private_key)
        self.salt = new_salt()

    def sign(self, scenario: str = "A user asks for help.", **fields) -> Entry:
        wish = {
            "scenario": scenario,
            "behaviour": fields.pop("behaviour", "Help plainly and kindly."),
            **fields.pop("wish", {}),
        }
        return sign_entry(
            wish,
            fee=fields.pop("fee", 1),
            burn=fields.pop("burn", 0),
            private_key=self.private_key,
            identity="someone@example.org",
            salt=self.salt,
            **fields,
        )


@pytest.fixture
def author() -> Author:
    return Author()


@pytest.fixture
def funded(ledger: Ledger) -> Callable[[int], Author]:
    """Make an author whose key holds ``credits`` granted by the operator."""

    def make(credits: int = 100) -> Author:
        person = Author()
        ledger.grant(person.key, credits)
        return person

    return make


@pytest.fixture
def port() -> int:
    """A free TCP port on the loopback interface."""
    return free_port()


@pytest.fixture
def live_server(ledger: Ledger) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port in a thread; yields its base URL."""
    from charter.server import create_app

    app = create_app(ledger, grant_new_keys=10)
    with serving(app) as url:
        yield url
