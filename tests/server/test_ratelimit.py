"""Token buckets: burst, refill, Retry-After and bounded memory, on a fake clock."""

from __future__ import annotations

import pytest

from charter.errors import ConfigError
from charter.server.ratelimit import RateLimit, RateLimited, RateLimiter, check, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate():
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate_per_minute=60, burst=3), clock=clock)
    assert [limiter.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("k") == pytest.approx(1.0)  # one token a second
    clock.now = 0.5
    assert limiter.take("k") == pytest.approx(0.5)  # a refused request takes nothing
    clock.now = 1.0
    assert limiter.take("k") == 0.0
    assert limiter.take("other") == 0.0  # buckets are per name


def test_default_burst_is_a_tenth_of_a_minute():
    assert RateLimit(600).capacity == 60
    assert RateLimit(5).capacity == 1


def test_full_buckets_are_dropped_so_memory_stays_bounded():
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate_per_minute=60, burst=1), clock=clock)
    for i in range(1000):
        limiter.take(f"key-{i}")
        clock.now += 0.01
    # A bucket refills in 1 s, so only the last ~100 names can still be below capacity.
    assert len(limiter) <= 101


def test_max_buckets_caps_the_table():
    limiter = RateLimiter(RateLimit(rate_per_minute=1, burst=1), max_buckets=10, clock=Clock())
    for i in range(50):
        limiter.take(f"key-{i}")
    assert len(limiter) == 10


def test_check_raises_with_the_wait_and_none_means_unlimited():
    limiter = RateLimiter(RateLimit(rate_per_minute=6, burst=1), clock=Clock())
    check(limiter, "ip", "IP address")
    with pytest.raises(RateLimited, match="this IP address; wait 10 s") as caught:
        check(limiter, "ip", "IP address")
    assert caught.value.wait == pytest.approx(10.0)
    for _ in range(100):
        check(None, "ip", "IP address")


def test_retry_after_rounds_up_to_whole_seconds():
    assert [retry_after(w) for w in (0.01, 1.0, 1.2)] == ["1", "1", "2"]


def test_limits_are_validated():
    with pytest.raises(ConfigError, match="rate_per_minute must be positive"):
        RateLimit(0)
    with pytest.raises(ConfigError, match="burst"):
        RateLimit(10, burst=0)
