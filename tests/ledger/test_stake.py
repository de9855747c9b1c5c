"""Stake accounting: local credits debited with the append, and the external receipt hook."""

from __future__ import annotations

import base64
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest

from charter.errors import EntryError, StakeError
from charter.ledger.stake import (
    ExternalReceipts,
    LocalCredits,
    StakeAccounting,
    grant,
    stake_of,
)
from charter.ledger.store import SqliteStore

_spec = importlib.util.spec_from_file_location(
    "ledger_fixtures", Path(__file__).with_name("conftest.py")
)
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)
AUTHOR_KEY, OTHER_KEY, build_batch = fixtures.AUTHOR_KEY, fixtures.OTHER_KEY, fixtures.build_batch


@dataclass
class Paid:
    """The fields of an Entry that stake accounting reads."""

    author_key: str
    fee: int
    burn: int
    id: str = "ab" * 32


def test_local_credits_charge_fee_plus_burn_to_the_author():
    entries = [Paid(AUTHOR_KEY, 1, 4), Paid(OTHER_KEY, 0, 0), Paid(AUTHOR_KEY, 2, 0)]
    assert LocalCredits().debits(entries) == [(AUTHOR_KEY, 5), (AUTHOR_KEY, 2)]
    assert isinstance(LocalCredits(), StakeAccounting)


@pytest.mark.parametrize(
    "entry, field", [(Paid(AUTHOR_KEY, -1, 0), "fee"), (Paid(AUTHOR_KEY, 1, True), "burn")]
)
def test_negative_or_non_integer_stake_is_refused(entry, field):
    with pytest.raises(EntryError, match=f"field {field}: must be a non-negative integer"):
        LocalCredits().debits([entry])


def test_grant_then_append_debits_atomically(store):
    assert grant(store, AUTHOR_KEY, 10) == 10
    assert grant(store, AUTHOR_KEY, 2) == 12
    entries = [Paid(AUTHOR_KEY, 1, 3), Paid(AUTHOR_KEY, 1, 0)]
    store.append(build_batch(store, 2, debits=LocalCredits().debits(entries)))
    assert store.balance(AUTHOR_KEY) == 7
    greedy = build_batch(store, 1, debits=LocalCredits().debits([Paid(AUTHOR_KEY, 1, 7)]))
    with pytest.raises(StakeError, match="needs 8 credits for this batch but holds 7"):
        store.append(greedy)
    assert store.balance(AUTHOR_KEY) == 7
    assert store.size() == 2


@pytest.mark.parametrize("amount", [0, -3, True, 2.5])
def test_grant_refuses_amounts_that_are_not_positive_integers(tmp_path, amount):
    with SqliteStore(tmp_path / "ledger.db") as store:
        with pytest.raises(StakeError, match="positive integer of credits"):
            grant(store, AUTHOR_KEY, amount)
        assert store.balance(AUTHOR_KEY) == 0


@pytest.mark.parametrize(
    "key", ["not base64!", base64.b64encode(bytes(31)).decode(), AUTHOR_KEY + "AA"]
)
def test_grant_refuses_what_is_not_an_author_key(tmp_path, key):
    with (
        SqliteStore(tmp_path / "ledger.db") as store,
        pytest.raises(StakeError, match="author key"),
    ):
        grant(store, key, 5)


# -- the receipt hook -----------------------------------------------------------------------


class MemoReceipts:
    """A ReceiptVerifier for tests: a receipt reads ``paid <credits> for <entry id>``."""

    def verify(self, entry, receipt: str) -> int:
        _, amount, _, paid_for = receipt.split()
        if paid_for != entry.id:
            raise StakeError(f"receipt pays for entry {paid_for}, not {entry.id}.")
        return int(amount)


def test_receipts_that_cover_the_stake_are_accepted_with_no_local_debit():
    entry = Paid(AUTHOR_KEY, 1, 2, id="cd" * 32)
    receipts = {entry.id: f"paid 3 for {entry.id}"}
    stake = ExternalReceipts(MemoReceipts(), lambda e: receipts.get(e.id))
    assert stake.debits([entry, Paid(AUTHOR_KEY, 0, 0)]) == []  # no stake, no receipt needed
    assert isinstance(stake, StakeAccounting)


@pytest.mark.parametrize(
    "receipt, message",
    [
        (None, "came with no payment receipt"),
        ("paid 2 for " + "cd" * 32, "stakes 3 credits but its receipt pays 2"),
        ("paid 3 for " + "ef" * 32, "receipt pays for entry efef"),  # bound to another entry
    ],
)
def test_missing_short_or_foreign_receipts_are_refused(receipt, message):
    stake = ExternalReceipts(MemoReceipts(), lambda e: receipt)
    with pytest.raises(StakeError, match=message):
        stake.debits([Paid(AUTHOR_KEY, 1, 2, id="cd" * 32)])


def test_stake_of_is_fee_plus_burn():
    assert stake_of(Paid(AUTHOR_KEY, 2, 5)) == 7
