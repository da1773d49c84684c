"""Token-bucket rate limiting per venue, with endpoint weights, shared by all tasks.

`TokenBucket` is the sans-I/O core: `reserve(weight, now)` takes tokens and returns how long
the caller must wait before its request may go (0 when it may go now). Reservations queue in
order: a heavy request reserves ahead and lighter ones behind it wait their turn, so nobody
starves. `RateLimiter` is the asyncio shell, keyed by venue, used by every task that talks to
that venue (`await limiter.acquire("binance", "submit")`). Every venue adapter takes it before
each request it sends (`nzeza.venues.base.Venue.limiter`): the endpoints are `ENDPOINTS`, each
weighted per venue in `DEFAULT_LIMITS` (a margin below each venue's published budget). Every
reservation is counted per (venue, endpoint) in `reservations`; `export_to(metrics)` keeps the
`nzeza_rate_limiter_tokens` gauge current.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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


# The calls a venue adapter makes, by what they do (`Venue` methods). Requests an adapter
# sends on its own (ccxt loading currencies, a fetch after a create) count under the method
# that needed them.
ENDPOINTS = (
    "load_markets",
    "submit",
    "cancel",
    "fetch_order",
    "open_orders",
    "balances",
    "positions",
    "my_trades",
)

# Published request budgets, with a margin (weights per request of each endpoint):
# - Binance spot: REQUEST_WEIGHT 6000 / minute; order 1, cancel 1, query order 4, open orders
#   (one symbol) 6, account 20, myTrades 20, exchangeInfo 20.
# - Coinbase Advanced Trade: 30 private requests / second.
# - Kraken (starter tier): a counter of at most 15 decaying 0.33 / second; trade history +2,
#   other calls +1. AddOrder / CancelOrder do not count on it (Kraken meters trading per pair
#   on its own counter), so they weigh 0 here.
# - Hyperliquid: 1200 weight / minute per IP; exchange actions 1, info requests 2 (order
#   status, clearinghouse state) or 20 (meta, open orders, user fills).
# - dYdX v4: the public indexer allows 100 requests / 10 s per IP; the node's gateway less
#   strictly; one bucket for both.
# - paper: local, effectively unlimited (the gauge still shows it working).
DEFAULT_LIMITS: dict[str, VenueLimits] = {
    "binance": VenueLimits(
        5000,
        5000 / 60,
        {
            "submit": 1,
            "cancel": 1,
            "fetch_order": 4,
            "open_orders": 6,
            "balances": 20,
            "my_trades": 20,
            "load_markets": 20,
        },
    ),
    "coinbase": VenueLimits(25, 25, {}),
    "kraken": VenueLimits(15, 0.33, {"submit": 0, "cancel": 0, "my_trades": 2}),
    "hyperliquid": VenueLimits(
        1000,
        1000 / 60,
        {
            "submit": 1,
            "cancel": 1,
            "fetch_order": 2,
            "balances": 2,
            "positions": 2,
            "load_markets": 20,
            "open_orders": 20,
            "my_trades": 20,
        },
        default_weight=20,
    ),
    "dydx": VenueLimits(90, 9, {}),
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
        self.reservations: Counter[tuple[str, str]] = Counter()  # (venue, endpoint) → calls
        self._listeners: list[Callable[[str, float], None]] = []

    def add_limits(self, venue: str, limits: VenueLimits) -> None:
        """Budget of a venue without one (an exchange ccxt knows and nzeza does not)."""
        self.limits.setdefault(venue, limits)

    def tokens(self, venue: str) -> float:
        """Tokens left in `venue`'s bucket now (negative: requests are queued)."""
        bucket = self._bucket(venue)
        bucket._refill(self.clock())
        return bucket.tokens

    def export_to(self, metrics: Any) -> None:
        """Keep `metrics.rate_limiter_tokens{venue}` current (set now and after each call)."""

        def export(venue: str, tokens: float) -> None:
            metrics.rate_limiter_tokens.labels(venue).set(tokens)

        self._listeners.append(export)
        for venue in self._buckets:
            export(venue, self._buckets[venue].tokens)

    def weight(self, venue: str, endpoint: str) -> float:
        lim = self._limits(venue)
        return lim.weights.get(endpoint, lim.default_weight)

    def _limits(self, venue: str) -> VenueLimits:
        try:
            return self.limits[venue]
        except KeyError:
            raise ConfigError(f"rate_limit[{venue}]", "no limits configured") from None

    def _bucket(self, venue: str) -> TokenBucket:
        bucket = self._buckets.get(venue)
        if bucket is None:
            lim = self._limits(venue)
            bucket = self._buckets[venue] = TokenBucket(lim.capacity, lim.rate, self.clock())
        return bucket

    async def acquire(self, venue: str, endpoint: str = "") -> float:
        """Wait until `endpoint` of `venue` may be called; returns the seconds waited."""
        weight = self.weight(venue, endpoint)
        self.reservations[(venue, endpoint)] += 1
        if weight <= 0:
            return 0.0
        bucket = self._bucket(venue)
        # reserve() is synchronous, so concurrent tasks queue in call order without a lock.
        wait = bucket.reserve(weight, self.clock())
        for listener in self._listeners:
            listener(venue, bucket.tokens)
        if wait > 0:
            self.waited[venue] = self.waited.get(venue, 0.0) + wait
            await self.sleep(wait)
        return wait


__all__ = [
    "DEFAULT_LIMITS",
    "ENDPOINTS",
    "RateLimiter",
    "TokenBucket",
    "VenueLimits",
]
