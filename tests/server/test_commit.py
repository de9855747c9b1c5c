"""Group commit: concurrent appends share transactions, and refusals stay per entry."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from charter.errors import EntryError, LedgerError, StakeError
from charter.server.commit import GroupCommit


class SlowLedger:
    """Stands in for Ledger.append: records batches; each commit takes a moment."""

    def __init__(self, ledger, pause: threading.Event | None = None) -> None:
        self.ledger = ledger
        self.batches: list[int] = []
        self.pause = pause

    def append(self, entries):
        if self.pause is not None:
            self.pause.wait(5)  # hold the first commit so that others queue behind it
            self.pause = None
        self.batches.append(len(entries))
        return self.ledger.append(entries)


def test_concurrent_appends_share_commits_and_all_land(ledger, funded):
    person = funded(100)
    entries = [person.sign(f"wish {i}") for i in range(24)]
    gate = threading.Event()
    slow = SlowLedger(ledger, pause=gate)
    commits = GroupCommit(slow.append)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(commits.append, entry) for entry in entries]
        gate.set()
        indexes = [f.result(timeout=10) for f in futures]
    assert sorted(indexes) == list(range(24))
    assert sum(slow.batches) == 24 and len(slow.batches) < 24  # some commits were shared
    for entry, index in zip(entries, indexes, strict=True):
        assert ledger.find(entry.id) == index  # each waiter got its own entry's index


def test_a_refused_entry_fails_alone_in_its_batch(ledger, funded):
    person = funded(100)
    first = person.sign("holds the commit lock while the others queue")
    good = person.sign("good one")
    replay = person.sign("replays the nonce of good", nonce=good.nonce)
    later = person.sign("also fine")
    gate = threading.Event()
    slow = SlowLedger(ledger, pause=gate)
    commits = GroupCommit(slow.append)
    with ThreadPoolExecutor(4) as pool:
        head = pool.submit(commits.append, first)
        while not commits._commit_lock.locked():
            time.sleep(0.01)
        futures = [pool.submit(commits.append, e) for e in (good, replay, later)]
        while len(commits._queue) < 3:
            time.sleep(0.01)
        gate.set()
        assert head.result(timeout=10) == 0
        assert futures[0].result(timeout=10) == 1
        with pytest.raises(EntryError, match="nonce"):
            futures[1].result(timeout=10)
        assert futures[2].result(timeout=10) == 2
    # The first entry alone, the shared batch of three (refused whole), then one by one.
    assert slow.batches == [1, 3, 1, 1, 1]
    assert ledger.size == 3


def test_stake_and_store_errors_reach_the_caller(ledger, author):
    commits = GroupCommit(ledger.append)
    with pytest.raises(StakeError):
        commits.append(author.sign("no credit"))

    def broken(entries):
        raise LedgerError("the disk is full")

    with pytest.raises(LedgerError, match="disk is full"):
        GroupCommit(broken).append(author.sign("never written"))
    assert ledger.size == 0
