"""In-memory token-bucket rate limiting, per author key and per client IP.

A bucket holds up to ``burst`` tokens and refills at ``rate_per_minute / 60``
tokens a second; a request takes one token or is refused with the number of
seconds until a token is back (the HTTP ``Retry-After`` value, RFC 9110
section 10.2.3). Buckets live in one process: run one server process per
ledger, or put a shared limiter in front when running several.

Memory stays bounded without losing state: a bucket that has refilled to
``burst`` behaves exactly like a missing one, so buckets are kept in
least-recently-used order and the oldest are dropped once they are full again.
A flood of fresh keys can only grow the table to the number of keys seen in
the last ``burst / rate`` seconds, and ``max_buckets`` caps even that.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from charter.errors import ConfigError


@dataclass(frozen=True)
class RateLimit:
    """How fast one key (or IP) may go."""

    rate_per_minute: float  # sustained requests a minute
    burst: int | None = None  # requests allowed at once; default: a tenth of a minute's worth, >= 1

    def __post_init__(self) -> None:
        if self.rate_per_minute <= 0:
            raise ConfigError("rate_per_minute must be positive; pass None to disable a limit.")
        if self.burst is not None and self.burst < 1:
            raise ConfigError("burst must be at least 1.")

    @property
    def capacity(self) -> float:
        if self.burst is not None:
            return float(self.burst)
        return float(max(1, math.ceil(self.rate_per_minute / 10)))

    @property
    def per_second(self) -> float:
        return self.rate_per_minute / 60.0


class RateLimiter:
    """Token buckets by name (an author key, an IP address), thread-safe.

    Args:
        limit: the rate and burst every bucket gets.
        max_buckets: the most buckets kept; beyond it the least recently used
            bucket is dropped even if not yet full (a fail-open bound on memory).
        clock: seconds as a float, monotonic; injectable for tests.
    """

    def __init__(
        self,
        limit: RateLimit,
        *,
        max_buckets: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self._max = max_buckets
        self._clock = clock
        self._lock = threading.Lock()
        # name -> (tokens, time of that count); ordered oldest use first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, name: str) -> float:
        """Take one token from ``name``'s bucket.

        Returns:
            0.0 when the request may go ahead, else the seconds to wait before
            a token is available (nothing is taken then).
        """
        capacity, rate = self.limit.capacity, self.limit.per_second
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.pop(name, (capacity, now))
            tokens = min(capacity, tokens + (now - then) * rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / rate
            self._buckets[name] = (tokens, now)
            self._prune(now, capacity, rate)
            return wait

    def __len__(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float, capacity: float, rate: float) -> None:
        # Oldest first: stop at the first bucket that is still below capacity, since
        # the ones after it were touched later. Amortised O(1) per take.
        while self._buckets:
            name, (tokens, then) = next(iter(self._buckets.items()))
            refilled = tokens + (now - then) * rate >= capacity
            if not refilled and len(self._buckets) <= self._max:
                break
            del self._buckets[name]


def retry_after(wait: float) -> str:
    """The ``Retry-After`` header value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait)))


class RateLimited(Exception):
    """A request was refused by a bucket; the server answers 429 with ``Retry-After``."""

    def __init__(self, what: str, wait: float) -> None:
        super().__init__(
            f"too many requests from this {what}; wait {retry_after(wait)} s and try again."
        )
        self.wait = wait


def check(limiter: RateLimiter | None, name: str, what: str) -> None:
    """Take a token for ``name`` or raise :class:`RateLimited`; no limiter means no limit."""
    if limiter is None:
        return
    wait = limiter.take(name)
    if wait > 0:
        raise RateLimited(what, wait)
