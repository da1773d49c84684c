"""Token buckets shared across tasks; retries only for retryable failures."""

from __future__ import annotations

import asyncio
import random

import pytest

from nzeza.errors import ConfigError, VenueError
from nzeza.execution.ratelimit import RateLimiter, TokenBucket, VenueLimits
from nzeza.execution.retry import RetryPolicy, with_retries


def test_bucket_refills_and_queues():
    b = TokenBucket(capacity=10, rate=2, now=0)
    assert b.reserve(10, 0) == 0
    assert b.reserve(1, 0) == pytest.approx(0.5)  # one token at 2/s
    assert b.reserve(1, 0) == pytest.approx(1.0)  # queued behind the first
    assert b.reserve(1, 100) == 0  # refilled (capped at capacity)
    with pytest.raises(ConfigError):
        b.reserve(11, 100)


class FakeTime:
    """A virtual clock whose sleep advances it (no wall time in tests)."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.now += s
        await asyncio.sleep(0)


def test_limiter_shared_across_tasks_never_exceeds_budget():
    t = FakeTime()
    lim = RateLimiter({"x": VenueLimits(5, 5, {"heavy": 5, "light": 1})}, t.clock, t.sleep)
    stamps: list[tuple[float, float]] = []

    async def worker(endpoint: str, n: int) -> None:
        for _ in range(n):
            await lim.acquire("x", endpoint)
            stamps.append((t.now, lim.weight("x", endpoint)))

    async def main() -> None:
        await asyncio.gather(worker("light", 20), worker("heavy", 4), worker("light", 10))

    asyncio.run(main())
    total = sum(w for _, w in stamps)
    assert total == 50
    # Budget: capacity 5 + 5/s. Over any prefix ending at time T, weight used ≤ 5 + 5T.
    used = 0.0
    for ts, w in sorted(stamps):
        used += w
        assert used <= 5 + 5 * ts + 1e-9
    assert lim.waited["x"] > 0


def test_unknown_venue_is_a_config_error():
    with pytest.raises(ConfigError):
        asyncio.run(RateLimiter({}).acquire("nope"))


def test_retries_only_retryable_with_exponential_backoff():
    delays: list[float] = []
    calls = {"n": 0}

    async def sleep(s: float) -> None:
        delays.append(s)

    async def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 4:
            raise VenueError("x", "HTTP 503", retryable=True, code="503")
        return "ok"

    policy = RetryPolicy(max_attempts=5, base_delay=0.1, factor=2, jitter=0)
    assert asyncio.run(with_retries(flaky, policy, sleep=sleep)) == "ok"
    assert delays == pytest.approx([0.1, 0.2, 0.4])

    async def reject() -> None:
        calls["n"] += 1
        raise VenueError("x", "insufficient funds", retryable=False)

    calls["n"], delays[:] = 0, []
    with pytest.raises(VenueError):
        asyncio.run(with_retries(reject, policy, sleep=sleep))
    assert calls["n"] == 1 and delays == []


def test_retries_give_up_after_max_attempts_and_jitter_is_bounded():
    async def sleep(s: float) -> None:
        pass

    n = {"c": 0}

    async def down() -> None:
        n["c"] += 1
        raise VenueError("x", "timeout", retryable=True)

    with pytest.raises(VenueError):
        asyncio.run(with_retries(down, RetryPolicy(max_attempts=3), sleep=sleep))
    assert n["c"] == 3
    p = RetryPolicy(base_delay=1, jitter=0.1, max_delay=3)
    rng = random.Random(1)
    for k in range(1, 8):
        d = p.delay(k, rng)
        base = min(3, 2 ** (k - 1))
        assert 0.9 * base <= d <= 1.1 * base
