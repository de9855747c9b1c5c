"""Stake accounting: who pays for a wish, settled in the same transaction as its append.

A depositor pays at least the ledger's minimum fee and may burn more to weigh
the wish more heavily (issue 6). The :class:`~charter.ledger.log.Ledger` asks a
:class:`StakeAccounting` for the debits of a batch just before appending it and
passes them to the store inside the append transaction
(:attr:`~charter.ledger.store.base.AppendBatch.debits`): either the entries are
appended and paid for, or neither happens. Raising :class:`StakeError` refuses
the whole batch before anything is written.

Two ways to pay:

- :class:`LocalCredits` (the default): the operator grants credits to author
  keys with :func:`grant`; fee plus burn is debited from the author's account,
  and the store refuses the batch if any account would go below zero.
- :class:`ExternalReceipts`: the hook for a real payment system or chain. A
  :class:`ReceiptVerifier` checks a receipt for each entry; nothing is debited
  locally because the payment happened elsewhere.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from charter.errors import EntryError, StakeError

if TYPE_CHECKING:
    from charter.ledger.entry import Entry
    from charter.ledger.store.base import LedgerStore


@runtime_checkable
class StakeAccounting(Protocol):
    """Decides what a batch of entries costs, and whom to charge."""

    def debits(self, entries: Sequence[Entry]) -> list[tuple[str, int]]:
        """The ``(account key, amount)`` pairs to debit atomically with the append.

        Raises:
            StakeError: to refuse the batch (nothing is written).
        """
        ...


def stake_of(entry: Entry) -> int:
    """Fee plus burn of an entry, in credits.

    Raises:
        EntryError: the fee or the burn is not a non-negative integer.
    """
    for name in ("fee", "burn"):
        value = getattr(entry, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise EntryError(
                f"field {name}: must be a non-negative integer of credits, not {value!r}."
            )
    return entry.fee + entry.burn


class LocalCredits:
    """Debit fee plus burn from the author key's local credit account.

    The balance check is the store's (``UPDATE`` under the append's lock, with
    ``CHECK (balance >= 0)`` behind it), not this class's: a check here would race
    with other appenders.
    """

    def debits(self, entries: Sequence[Entry]) -> list[tuple[str, int]]:
        charges = ((entry.author_key, stake_of(entry)) for entry in entries)
        return [(key, amount) for key, amount in charges if amount]


def grant(store: LedgerStore, key: str, amount: int) -> int:
    """Give ``amount`` credits to the author key ``key`` (an operator action).

    Args:
        store: the ledger's store.
        key: base64 of a raw 32-byte Ed25519 public key, as in ``Entry.author_key``.
        amount: credits to add, a positive integer.

    Returns:
        The account's new balance.

    Raises:
        StakeError: the key or the amount is malformed.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise StakeError(f"grant amount must be a positive integer of credits, not {amount!r}.")
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise StakeError(
            f"{key!r} is not an author key; give the base64 of a 32-byte Ed25519 public key "
            "(the author_key field of the author's entries)."
        )
    store.grant(key, amount)
    return store.balance(key)


class ReceiptVerifier(Protocol):
    """Checks that a receipt from a payment system pays for one entry.

    Implement this for a real payment provider or chain. For a chain, a receipt
    would be a transaction id: fetch the transaction from a node you trust,
    check its confirmations, that it pays the ledger's address, and that its
    memo (or data field) holds ``entry.id``. Binding the receipt to the entry
    id is what stops reuse: an entry id can be appended only once (the store
    refuses a repeated id), so a receipt pays for exactly one entry. A batch
    refused for another reason can be retried with the same entry and receipt.
    """

    def verify(self, entry: Entry, receipt: str) -> int:
        """Return the credits the receipt paid for ``entry``.

        Raises:
            StakeError: the receipt is invalid, unconfirmed, or for another entry.
        """
        ...


class ExternalReceipts:
    """Stake paid outside the ledger, proven by a receipt per entry.

    Args:
        verifier: checks one receipt against one entry.
        receipt_for: finds an entry's receipt (e.g. from the HTTP request that
            submitted it), or None if there is none.
    """

    def __init__(
        self, verifier: ReceiptVerifier, receipt_for: Callable[[Entry], str | None]
    ) -> None:
        self.verifier = verifier
        self.receipt_for = receipt_for

    def debits(self, entries: Sequence[Entry]) -> list[tuple[str, int]]:
        for entry in entries:
            need = stake_of(entry)
            if not need:
                continue
            receipt = self.receipt_for(entry)
            if receipt is None:
                raise StakeError(
                    f"entry {entry.id} stakes {need} credits but came with no payment receipt; "
                    "pay for it and submit the receipt with the entry."
                )
            paid = self.verifier.verify(entry, receipt)
            if paid < need:
                raise StakeError(
                    f"entry {entry.id} stakes {need} credits but its receipt pays {paid}; "
                    "pay the difference or lower the burn."
                )
        return []  # paid elsewhere: nothing to take from local accounts
