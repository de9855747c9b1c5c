"""Group commit: concurrent submissions share one durable ledger transaction.

Each :meth:`Ledger.append` is one store transaction, and on SQLite (WAL,
``synchronous=FULL``) one fsync, a few milliseconds that dominate a single
wish's cost. Requests that arrive while a commit is running queue up; the next
thread to get the commit lock appends the whole queue in one call, then every
waiter returns its own index. This is the classic group commit of database
logs: nobody is acknowledged before the transaction holding their entry
committed, and no thread waits on a timer.

A batch is all-or-nothing (the ledger writes nothing if any entry is refused),
so when a batch fails for a reason that belongs to one entry (a replayed nonce,
a missing parent, too little credit), its entries are appended again one by
one and each waiter gets its own answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from charter.errors import EntryError, StakeError, VerificationError
from charter.ledger.entry import Entry

# Refusals caused by one entry: retry the batch's entries alone to find whose it is.
_PER_ENTRY = (EntryError, StakeError, VerificationError)


@dataclass
class _Slot:
    entry: Entry
    index: int | None = None
    error: BaseException | None = None
    done: bool = False  # written and read under the commit lock


class GroupCommit:
    """Funnel single appends from many threads into batched ``append`` calls.

    Args:
        append: appends a batch atomically and returns the indexes
            (:meth:`Ledger.append`).
        max_batch: most entries in one transaction; bounds a commit's latency.
    """

    def __init__(self, append: Callable[[Sequence[Entry]], list[int]], max_batch: int = 256):
        self._append = append
        self._max = max_batch
        self._queue: list[_Slot] = []
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()

    def append(self, entry: Entry) -> int:
        """Append one entry; return its index once its transaction committed.

        Raises:
            whatever the ledger raised for this entry (nothing of it was written).
        """
        slot = _Slot(entry)
        with self._queue_lock:
            self._queue.append(slot)
        while not slot.done:
            with self._commit_lock:
                if slot.done:  # a batch led by another thread carried this entry
                    break
                with self._queue_lock:
                    batch, self._queue = self._queue[: self._max], self._queue[self._max :]
                self._commit(batch)
        if slot.error is not None:
            raise slot.error
        assert slot.index is not None
        return slot.index

    def _commit(self, batch: list[_Slot]) -> None:
        try:
            indexes = self._append([slot.entry for slot in batch])
        except _PER_ENTRY as exc:
            if len(batch) == 1:
                self._finish(batch[0], error=exc)
                return
            for slot in batch:
                try:
                    (index,) = self._append([slot.entry])
                except _PER_ENTRY as one:
                    self._finish(slot, error=one)
                except Exception as other:
                    self._finish(slot, error=other)
                else:
                    self._finish(slot, index=index)
        except Exception as exc:  # the store failed: nobody in this batch is acknowledged
            for slot in batch:
                self._finish(slot, error=exc)
        else:
            for slot, index in zip(batch, indexes, strict=True):
                self._finish(slot, index=index)

    @staticmethod
    def _finish(slot: _Slot, index: int | None = None, error: BaseException | None = None) -> None:
        slot.index, slot.error, slot.done = index, error, True
