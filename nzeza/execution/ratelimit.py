"""Token-bucket rate limiting per venue, with endpoint weights, shared by all tasks.

`TokenBucket` is the sans-I/O core: `reserve(weight, now)` takes tokens and returns how long
the caller must wait before its request may go (0 when it may go now). Reservations queue in
order: a heavy request reserves ahead and lighter ones behind it wait their turn, so nobody
starves. `RateLimiter` is the asyncio shell: one per process, keyed by venue, used by every
task that talks to that venue (`await limiter.acquire("binance", "order")`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from nzeza.errors import ConfigError


class TokenBucket:
    """`capacity` tokens, refilled at `rate` tokens per second (time in seconds)."""

    def __init__(self, capacity: float, rate: float, now: float = 0.0) -> None:
        if capacity <= 0 or rate <= 0:
            raise ConfigError("rate_limit", f"capacity {capacity} and rate {rate} must be > 0")
        self.capacity = float(capacity)
        self.rate = float(rate)
        self.tokens = float(capacity)
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def reserve(self, weight: float, now: float) -> float:
        """Take `weight` tokens (possibly going negative = queued); return seconds to wait."""
        if weight > self.capacity:
            raise ConfigError("rate_limit", f"weight {weight} exceeds capacity {self.capacity}")
        self._refill(now)
        self.tokens -= weight
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


@dataclass(frozen=True)
class VenueLimits:
    """A venue's budget: `capacity` weight units refilled at `rate` per second; endpoint
    weights (unknown endpoints weigh `default_weight`). Binance spot: 6000 weight / minute."""

    capacity: float
    rate: float
    weights: Mapping[str, float] = field(default_factory=dict)
    default_weight: float = 1.0


# Published request-weight budgets (conservative: a margin below each venue's stated limit).
DEFAULT_LIMITS: dict[str, VenueLimits] = {
    "binance": VenueLimits(
        5000,
        5000 / 60,
        {
            "order": 1,
            "cancel": 1,
            "fetch_order": 4,
            "open_orders": 6,
            "balance": 20,
            "my_trades": 20,
            "markets": 20,
        },
    ),
    "coinbase": VenueLimits(25, 25, {}),
    "kraken": VenueLimits(15, 0.33, {"order": 0, "cancel": 0, "my_trades": 2}),
    "hyperliquid": VenueLimits(1000, 1000 / 60, {"order": 1, "markets": 20, "balance": 2}),
    "dydx": VenueLimits(100, 10, {}),
    "paper": VenueLimits(1_000_000, 1_000_000, {}),
}


class RateLimiter:
    """Per-venue token buckets shared across asyncio tasks. Clock and sleep are injectable."""

    def __init__(
        self,
        limits: Mapping[str, VenueLimits] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self.clock = clock
        self.sleep = sleep
        self._buckets: dict[str, TokenBucket] = {}
        self.waited: dict[str, float] = {}  # total seconds waited, per venue (for metrics)

    def weight(self, venue: str, endpoint: str) -> float:
        lim = self._limits(venue)
        return lim.weights.get(endpoint, lim.default_weight)

    def _limits(self, venue: str) -> VenueLimits:
        try:
            return self.limits[venue]
        except KeyError:
            raise ConfigError(f"rate_limit[{venue}]", "no limits configured") from None

    async def acquire(self, venue: str, endpoint: str = "") -> float:
        """Wait until `endpoint` of `venue` may be called; returns the seconds waited."""
        weight = self.weight(venue, endpoint)
        if weight <= 0:
            return 0.0
        bucket = self._buckets.get(venue)
        if bucket is None:
            lim = self._limits(venue)
            bucket = self._buckets[venue] = TokenBucket(lim.capacity, lim.rate, self.clock())
        # reserve() is synchronous, so concurrent tasks queue in call order without a lock.
        wait = bucket.reserve(weight, self.clock())
        if wait > 0:
            self.waited[venue] = self.waited.get(venue, 0.0) + wait
            await self.sleep(wait)
        return wait
