"""The one venue interface: every adapter (paper, ccxt, dydx) implements `Venue`.

Values crossing it are venue-neutral: `OrderRequest` in, `VenueOrder`, `Fill`, `Balance` and
`VenuePosition` out, instruments keyed by `venue:symbol`. Updates (order state changes and
fills) are published on an asyncio queue that `updates()` iterates.

Rate limits: every adapter takes its venue's budget (`Venue.limiter`, one
`nzeza.execution.ratelimit.RateLimiter`, shared by every adapter the process builds) before each
request it sends, under the endpoint of the `Venue` method that needs it (`endpoint(name)`;
`throttle()`): load_markets, submit, cancel, fetch_order, open_orders, balances, positions,
my_trades. Requests a method sends on the way (a fetch after a create, ccxt loading currencies)
count under that method's endpoint unless they name their own.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nzeza.domain import Fill, Instrument, OrderStatus, OrderType, Side, TimeInForce
from nzeza.domain.numbers import ZERO, to_decimal
from nzeza.errors import ValidationError


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order to send, already risk-checked, on the instrument's grid.

    `reference_price` (quote) is the current mid for a market order on a venue that prices
    market orders itself (Hyperliquid sends an IOC limit at mid ± slippage, Coinbase sizes
    market buys in quote); other venues ignore it.
    """

    client_order_id: str
    instrument_id: str
    side: Side
    quantity: Decimal
    type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    reference_price: Decimal | None = None

    def __post_init__(self) -> None:
        # Accept plain strings and numbers at the boundary; store enums and Decimals.
        for name, cls in (("side", Side), ("type", OrderType), ("time_in_force", TimeInForce)):
            try:
                object.__setattr__(self, name, cls(getattr(self, name)))
            except ValueError:
                raise ValidationError(name, getattr(self, name), "is not valid") from None
        object.__setattr__(self, "quantity", to_decimal(self.quantity, "quantity"))
        if self.price is not None:
            object.__setattr__(self, "price", to_decimal(self.price, "price"))
        if self.reference_price is not None:
            object.__setattr__(
                self, "reference_price", to_decimal(self.reference_price, "reference_price")
            )

    @classmethod
    def from_intent(
        cls, intent: Any, client_order_id: str, reference_price: Any = None
    ) -> OrderRequest:
        """From a `nzeza.risk.OrderIntent` (validated) and its client order id."""
        return cls(
            client_order_id,
            intent.instrument_id,
            Side(intent.side),
            Decimal(intent.quantity),
            OrderType(intent.type),
            intent.price,
            TimeInForce(intent.time_in_force),
            bool(intent.reduce_only),
            reference_price,
        )


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """The venue's view of an order at one moment. `ts` in UTC ns."""

    client_order_id: str
    venue_order_id: str
    instrument_id: str
    side: Side
    type: OrderType
    quantity: Decimal
    price: Decimal | None
    status: OrderStatus
    filled_qty: Decimal = ZERO
    avg_price: Decimal | None = None
    ts: int = 0
    time_in_force: TimeInForce = TimeInForce.GTC


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    free: Decimal
    used: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.used


@dataclass(frozen=True, slots=True)
class VenuePosition:
    """A derivatives position (or a spot holding) as the venue reports it; signed quantity."""

    instrument_id: str
    quantity: Decimal
    entry_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class VenueFunding:
    """One funding payment as the venue credited it: `ts` (UTC ns, the venue's stamp, usually
    the funding time plus a few ms), `amount` in the settle currency (+ received, − paid), and
    the rate and signed position it was computed on where the venue says (None otherwise:
    Binance's income history gives neither)."""

    instrument_id: str
    ts: int
    amount: Decimal
    rate: Decimal | None = None
    position: Decimal | None = None


Update = VenueOrder | Fill

# The endpoint the current request is made for (set by the Venue method that makes it; a
# contextvar, so concurrent tasks on one adapter never see each other's)
_ENDPOINT: ContextVar[str] = ContextVar("nzeza_venue_endpoint", default="other")


class Venue(ABC):
    """Async venue adapter. Errors are `VenueError(retryable=...)`; `fetch_order` returns None
    for an order the venue does not know (the idempotent submit relies on that).

    `limiter` (a `RateLimiter`, default: one of the adapter's own with the published budgets)
    is taken before every request; `limit_key` names the budget (the venue's name; "paper" for
    the simulated venues, whatever venue they stand in for).
    """

    name: str = "venue"
    limit_key: str | None = None

    def __init__(self, limiter: Any = None) -> None:
        from nzeza.execution.ratelimit import RateLimiter

        self._updates: asyncio.Queue[Update] | None = None
        self._published_fills: set[str] = set()
        self.limiter = limiter if limiter is not None else RateLimiter()

    # -- rate limits -------------------------------------------------------------------------
    @contextmanager
    def endpoint(self, name: str) -> Iterator[None]:
        """Requests made inside count under endpoint `name` (unless they name their own)."""
        token = _ENDPOINT.set(name)
        try:
            yield
        finally:
            _ENDPOINT.reset(token)

    async def throttle(self, endpoint: str | None = None) -> None:
        """Wait for the venue's budget before one request to `endpoint` (default: the current
        method's)."""
        if self.limiter is not None:
            key = self.limit_key or self.name
            await self.limiter.acquire(key, endpoint or _ENDPOINT.get())

    # -- lifecycle ---------------------------------------------------------------------------
    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    async def __aenter__(self) -> Venue:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the interface -----------------------------------------------------------------------
    @abstractmethod
    async def load_markets(self) -> dict[str, Instrument]: ...

    @abstractmethod
    async def submit(self, request: OrderRequest) -> VenueOrder: ...

    @abstractmethod
    async def cancel(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> VenueOrder: ...

    @abstractmethod
    async def fetch_order(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> VenueOrder | None: ...

    @abstractmethod
    async def fetch_open_orders(self, instrument_id: str | None = None) -> list[VenueOrder]: ...

    @abstractmethod
    async def balances(self) -> dict[str, Balance]: ...

    async def positions(self) -> list[VenuePosition]:
        """Derivatives positions; spot venues report none."""
        return []

    async def funding_payments(
        self, instrument_id: str, since_ns: int | None = None
    ) -> list[VenueFunding] | None:
        """The funding the venue credited or debited on `instrument_id` since `since_ns`,
        oldest first; None where the venue keeps no such record (spot venues), so there is
        nothing to reconcile against."""
        return None

    @abstractmethod
    async def my_trades(self, instrument_id: str, since_ns: int | None = None) -> list[Fill]: ...

    # -- updates -----------------------------------------------------------------------------
    def _queue(self) -> asyncio.Queue[Update]:
        if self._updates is None:
            self._updates = asyncio.Queue()
        return self._updates

    def publish(self, update: Update) -> None:
        if isinstance(update, Fill):
            self._published_fills.add(update.trade_id)
        self._queue().put_nowait(update)

    async def poll_fills(self, instrument_id: str, since_ns: int | None = None) -> list[Fill]:
        """Publish the venue's fills of `instrument_id` not published yet; return them.

        For REST venues (ccxt, dYdX's indexer) this is what feeds `updates()` with fills: call
        it on a timer or after each submit. Fills are told apart by trade id, so polling again,
        or polling a venue that publishes its own fills (paper), never publishes one twice.
        """
        new = []
        for fill in await self.my_trades(instrument_id, since_ns):
            if fill.trade_id not in self._published_fills:
                self.publish(fill)
                new.append(fill)
        return new

    async def updates(self) -> AsyncIterator[Update]:
        """Order updates and fills, in the order the venue produced them."""
        q = self._queue()
        while True:
            yield await q.get()

    def drain_updates(self) -> list[Update]:
        """Everything published so far, without waiting (sans-I/O drivers and tests)."""
        q, out = self._queue(), []
        while not q.empty():
            out.append(q.get_nowait())
        return out


__all__ = [
    "Balance",
    "OrderRequest",
    "Update",
    "Venue",
    "VenueFunding",
    "VenueOrder",
    "VenuePosition",
]
