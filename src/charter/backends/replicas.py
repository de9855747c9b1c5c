"""Several copies of one served model behind one name: routing, failover, back-off.

The ``openai`` backend takes one base URL or a list of them (replicas: the same
model served by several vLLM / llama.cpp servers). A :class:`ReplicaPool`
decides where each request goes:

- **Least loaded.** A request goes to the live replica with the fewest requests
  in flight; ties go round-robin, so an idle pool still spreads its load.
- **Failover.** A request that fails on a replica (connection error, timeout,
  HTTP 429/5xx) is retried at once on a replica it has not tried yet. A 4xx
  that is the caller's fault is not retried anywhere: every replica would
  refuse it alike.
- **Back-off.** A failed replica is marked down for ``backoff`` seconds,
  doubling with each consecutive failure up to ``backoff_max`` (or longer if it
  sent ``Retry-After``). When the back-off has passed, the next request probes
  it; any answer that is not a failure marks it up again.
- **All down.** A request then waits for the soonest back-off to pass (the
  caller's retry budget bounds how often), and finally fails with one error
  naming every replica and what went wrong with it.

A pool of one replica never marks it down: with nowhere to fail over to, the
caller's own retry delays pace the retries, exactly as with one ``base_url``.

The pool is plain synchronous state behind a lock, so it is thread-safe and
testable without an event loop; callers wait (``asyncio.sleep``) on the
seconds :meth:`ReplicaPool.acquire` returns when nothing is live. Which
replica answered never shows in results: :func:`replica_model_id` depends on
the set of URLs only, so request caches and provenance do not change with
routing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from charter.errors import BackendError

DEFAULT_BACKOFF = 1.0  # seconds a replica stays down after its first failure
DEFAULT_BACKOFF_MAX = 30.0  # the cap of the doubling back-off


def replica_urls(base_url: str | Sequence[str]) -> tuple[str, ...]:
    """The replica URLs of a ``base_url`` (one string or a list), without trailing ``/``.

    Raises:
        BackendError: the list is empty, has an empty entry, or repeats a URL.
    """
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    cleaned = tuple(str(u).strip().rstrip("/") for u in urls)
    if not cleaned or not all(cleaned):
        raise BackendError(
            f"base_url {urls!r} needs at least one non-empty URL, e.g. http://localhost:8000/v1."
        )
    repeated = sorted({u for u in cleaned if cleaned.count(u) > 1})
    if repeated:
        # A repeat would silently double one server's share and hide a typo.
        raise BackendError(f"base_url lists {', '.join(repeated)} more than once; list each once.")
    return cleaned


def replica_model_id(model: str, base_url: str | Sequence[str]) -> str:
    """The model id of ``model`` served at ``base_url``, whichever replica answers.

    One URL keeps the id it always had (``openai:<model>@<url>``); several are
    sorted and joined with ``,`` so the same set gives the same id in any order.
    """
    if isinstance(base_url, str):
        return f"openai:{model}@{base_url}"
    urls = replica_urls(base_url)
    if len(urls) == 1:
        return f"openai:{model}@{urls[0]}"
    return f"openai:{model}@{','.join(sorted(urls))}"


@dataclass
class Replica:
    """One server of the pool and what the pool knows about it (guarded by the pool's lock)."""

    url: str
    in_flight: int = 0  # requests sent and not yet answered
    failures: int = 0  # consecutive failures; 0 means up
    down_until: float = 0.0  # clock time before which it gets no requests
    last_error: str = ""  # why it last failed, for the all-down message
    served: int = 0  # requests it answered (any status that is not a failure)

    def live(self, now: float) -> bool:
        """Up, or down with its back-off over (so the next request probes it)."""
        return now >= self.down_until


@dataclass(frozen=True)
class ReplicaState:
    """A snapshot of one replica, for logs, reports and tests."""

    url: str
    in_flight: int
    up: bool
    failures: int
    served: int
    last_error: str


class ReplicaPool:
    """Routes requests over replicas: least loaded first, failed ones backed off.

    Args:
        urls: the replica base URLs (see :func:`replica_urls`).
        backoff: seconds a replica stays down after its first consecutive failure.
        backoff_max: the cap as the back-off doubles with each further failure.
        clock: monotonic seconds; tests pass a fake one.
    """

    def __init__(
        self,
        urls: Sequence[str],
        backoff: float = DEFAULT_BACKOFF,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if backoff <= 0 or backoff_max < backoff:
            raise BackendError("replica back-off must be > 0 and backoff_max >= backoff.")
        self.replicas = [Replica(url) for url in replica_urls(urls)]
        self.backoff = backoff
        self.backoff_max = backoff_max
        self._clock = clock
        self._lock = threading.Lock()
        self._turn = 0  # where the round-robin tie-break starts next

    def __len__(self) -> int:
        return len(self.replicas)

    def acquire(self, tried: Collection[str] = ()) -> Replica | float:
        """Take a slot on the best replica, or say how long until one is live.

        Best: live, not in ``tried`` (URLs this request already failed on) if
        any such is live, fewest in flight, ties round-robin. The caller must
        :meth:`release` the replica it gets.

        Returns:
            The replica (its ``in_flight`` already counted), or the seconds
            until the soonest back-off ends when every replica is down.
        """
        with self._lock:
            now = self._clock()
            live = [i for i, r in enumerate(self.replicas) if r.live(now)]
            if not live:
                return max(0.0, min(r.down_until for r in self.replicas) - now)
            fresh = [i for i in live if self.replicas[i].url not in tried]
            candidates = fresh or live
            least = min(self.replicas[i].in_flight for i in candidates)
            n = len(self.replicas)
            # Among the least loaded, the first at or after the round-robin turn.
            index = min(
                (i for i in candidates if self.replicas[i].in_flight == least),
                key=lambda i: (i - self._turn) % n,
            )
            self._turn = (index + 1) % n
            replica = self.replicas[index]
            replica.in_flight += 1
            return replica

    def release(
        self,
        replica: Replica,
        failure: str | None = None,
        retry_after: float | None = None,
        counted: bool = True,
    ) -> None:
        """Give back a slot; ``failure`` (why, in words) marks the replica down.

        The back-off is ``backoff * 2**(failures-1)`` capped at ``backoff_max``,
        or ``retry_after`` when the server asked for longer. Any answer that is
        not a failure marks the replica up. A pool of one never marks down.
        ``counted=False`` (a cancelled request) frees the slot and judges nothing.
        """
        with self._lock:
            replica.in_flight -= 1
            if not counted:
                return
            if failure is None:
                replica.served += 1
                replica.failures = 0
                replica.down_until = 0.0
                return
            replica.last_error = failure
            if len(self.replicas) == 1:
                return
            replica.failures += 1
            delay = min(self.backoff * 2 ** (replica.failures - 1), self.backoff_max)
            if retry_after is not None:
                delay = max(delay, retry_after)
            replica.down_until = max(replica.down_until, self._clock() + delay)

    def states(self) -> list[ReplicaState]:
        """A consistent snapshot of every replica, in the configured order."""
        with self._lock:
            now = self._clock()
            return [
                ReplicaState(
                    r.url,
                    r.in_flight,
                    r.failures == 0 and r.live(now),
                    r.failures,
                    r.served,
                    r.last_error,
                )
                for r in self.replicas
            ]

    def describe_failures(self) -> str:
        """Each replica with its last error, e.g. ``http://a/v1 (ConnectError); ...``."""
        return "; ".join(f"{s.url} ({s.last_error or 'no error seen'})" for s in self.states())
