"""The paper venue: simulated matching, fees and latency, behind the `Venue` interface.

Two modes:
- `book`: orders match against the last book given with `set_book` (live or replayed). Market
  orders walk the book (partial fills by depth; the rest is cancelled, IOC-style); limit orders
  take what crosses, then rest (GTC) and fill at their limit price, as maker, when a later book
  trades through them (no queue position is modelled: a resting order fills once the opposite
  best price reaches its limit). Taker/maker fees are fractions of notional, in quote.
- `bar`: research's fill convention exactly (`Costs`): an order submitted during bar t fills at
  the open of bar t+1 (`on_bar`) at open × (1 ± slippage), fee = `costs.fee` × notional.

Latency: an order submitted at clock time t becomes active at t + `latency_ns` and is matched at
the first `set_book`/`advance` at or after that time. The clock is injected (UTC ns).
Balances and positions are a domain `Portfolio` fed by the venue's own fills.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from nzeza.domain import (
    Costs,
    Fill,
    Instrument,
    OrderStatus,
    OrderType,
    Portfolio,
    Side,
    TimeInForce,
)
from nzeza.domain.booklike import iter_side
from nzeza.domain.numbers import ZERO, to_decimal
from nzeza.errors import ValidationError, VenueError
from nzeza.venues.base import Balance, OrderRequest, Venue, VenueOrder, VenuePosition
from nzeza.venues.paper.matching import filled, take_liquidity


@dataclass
class _Working:
    request: OrderRequest
    venue_order_id: str
    active_ns: int
    status: OrderStatus = OrderStatus.ACCEPTED
    filled_qty: Decimal = ZERO
    notional: Decimal = ZERO
    ts: int = 0
    fills: list[Fill] = field(default_factory=list)

    def view(self) -> VenueOrder:
        r = self.request
        avg = self.notional / self.filled_qty if self.filled_qty else None
        return VenueOrder(
            r.client_order_id,
            self.venue_order_id,
            r.instrument_id,
            r.side,
            r.type,
            r.quantity,
            r.price,
            self.status,
            self.filled_qty,
            avg,
            self.ts,
        )


class PaperVenue(Venue):
    """Simulated venue. Construct with `PaperVenue.book_mode(...)` or `PaperVenue.bar_mode(...)`."""

    limit_key = "paper"  # a local simulation: the paper budget, whatever venue it is named

    def __init__(
        self,
        instruments: Iterable[Instrument],
        *,
        mode: str = "book",
        balances: Mapping[str, Any] | None = None,
        currency: str = "USDT",
        maker_fee: Any = "0.0002",
        taker_fee: Any = "0.0005",
        costs: Costs | None = None,
        latency_ns: int = 0,
        clock: Callable[[], int] | None = None,
        name: str = "paper",
        limiter: Any = None,
    ) -> None:
        super().__init__(limiter)
        if mode not in ("book", "bar"):
            raise ValidationError("mode", mode, "must be book or bar")
        if mode == "bar" and costs is None:
            raise ValidationError("costs", None, "bar mode needs the research Costs")
        self.name = name
        self.mode = mode
        self.instruments = {i.id: i for i in instruments}
        self.costs = costs
        self.maker_fee = to_decimal(maker_fee, "maker_fee")
        self.taker_fee = to_decimal(taker_fee, "taker_fee")
        self.latency_ns = int(latency_ns)
        self._now = 0
        self.clock = clock or (lambda: self._now)
        self.portfolio = Portfolio(
            currency, balances or {currency: 0}, list(self.instruments.values())
        )
        self.books: dict[str, Any] = {}
        self.orders: dict[str, _Working] = {}  # by client order id
        self._by_venue_id: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._trades = itertools.count(1)
        self.submissions = 0  # orders accepted, ever (tests count duplicates with it)
        self._faults: list[str] = []

    def inject_fault(self, fault: str) -> None:
        """Make the next submit fail like a network would (chaos testing):
        "timeout_after_accept" — the order is taken but the caller sees a timeout;
        "timeout_before_accept" — the request is lost and the caller sees a timeout."""
        if fault not in ("timeout_after_accept", "timeout_before_accept"):
            raise ValidationError("fault", fault, "unknown fault")
        self._faults.append(fault)

    @classmethod
    def book_mode(cls, instruments: Iterable[Instrument], **kw: Any) -> PaperVenue:
        return cls(instruments, mode="book", **kw)

    @classmethod
    def bar_mode(cls, instruments: Iterable[Instrument], costs: Costs, **kw: Any) -> PaperVenue:
        return cls(instruments, mode="bar", costs=costs, **kw)

    # -- market data in ------------------------------------------------------------------------
    def set_book(self, instrument_id: str, book: Any, now_ns: int | None = None) -> list[Fill]:
        """A new book for `instrument_id`; matches due and resting orders. Returns new fills."""
        self.books[instrument_id] = book
        return self.advance(now_ns)

    def advance(self, now_ns: int | None = None) -> list[Fill]:
        """Move the simulated clock to `now_ns` and match whatever became due."""
        if now_ns is not None:
            self._now = max(self._now, now_ns)
        out: list[Fill] = []
        if self.mode == "book":
            for w in list(self.orders.values()):
                if w.status.is_open and w.active_ns <= self.clock():
                    out += self._match(w)
        return out

    def on_bar(self, instrument_id: str, bar_open: Any, ts: int) -> list[Fill]:
        """Bar mode: the bar that opens at `ts` fills every order submitted before it."""
        if self.mode != "bar" or self.costs is None:
            raise ValidationError("mode", self.mode, "on_bar is for bar mode")
        self._now = max(self._now, ts)
        open_ = to_decimal(bar_open, "bar_open")
        out = []
        for w in list(self.orders.values()):
            r = w.request
            if r.instrument_id != instrument_id or not w.status.is_open or w.ts >= ts:
                continue
            price = self.costs.fill_price(r.side.value, open_)
            fee = self.costs.fee_for(price * r.quantity)
            out.append(self._fill(w, price, r.quantity, fee))
        return out

    # -- Venue interface -----------------------------------------------------------------------
    async def load_markets(self) -> dict[str, Instrument]:
        await self.throttle("load_markets")
        return dict(self.instruments)

    async def submit(self, request: OrderRequest) -> VenueOrder:
        await self.throttle("submit")
        return self.submit_now(request)

    def submit_now(self, request: OrderRequest) -> VenueOrder:
        """Synchronous submit (sans-I/O drivers, benchmarks)."""
        fault = self._faults.pop(0) if self._faults else None
        if fault == "timeout_before_accept":
            raise VenueError(self.name, "request timed out", retryable=True, code="timeout")
        inst = self.instruments.get(request.instrument_id)
        if inst is None:
            raise VenueError(
                self.name, f"unknown instrument {request.instrument_id}", retryable=False
            )
        if request.client_order_id in self.orders:
            raise VenueError(
                self.name,
                f"duplicate client order id {request.client_order_id}",
                retryable=False,
                code="duplicate",
            )
        try:
            inst.check_qty(request.quantity)
            if request.price is not None:
                inst.check_price(request.price)
        except ValidationError as exc:
            raise VenueError(self.name, str(exc), retryable=False, code="invalid_order") from None
        now = self.clock()
        vid = f"P{next(self._ids)}"
        w = _Working(request, vid, now + self.latency_ns, ts=now)
        self.orders[request.client_order_id] = w
        self._by_venue_id[vid] = request.client_order_id
        self.submissions += 1
        if self.mode == "book" and self.latency_ns == 0:
            self._match(w)
        self.publish(w.view())
        if fault == "timeout_after_accept":
            raise VenueError(self.name, "request timed out", retryable=True, code="timeout")
        return w.view()

    async def cancel(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> VenueOrder:
        await self.throttle("cancel")
        w = self._find(client_order_id, venue_order_id)
        if w is None:
            raise VenueError(self.name, "order not found", retryable=False, code="not_found")
        if w.status.is_open:
            w.status = OrderStatus.CANCELED
            self.publish(w.view())
        return w.view()

    async def fetch_order(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> VenueOrder | None:
        await self.throttle("fetch_order")
        w = self._find(client_order_id, venue_order_id)
        return w.view() if w else None

    async def fetch_open_orders(self, instrument_id: str | None = None) -> list[VenueOrder]:
        await self.throttle("open_orders")
        return [
            w.view()
            for w in self.orders.values()
            if w.status.is_open and instrument_id in (None, w.request.instrument_id)
        ]

    async def balances(self) -> dict[str, Balance]:
        await self.throttle("balances")
        snap = self.portfolio.snapshot()
        out = {c: Balance(c, v) for c, v in snap.balances.items()}
        for iid, pos in snap.positions.items():
            base = self.instruments[iid].base
            out[base] = Balance(base, out.get(base, Balance(base, ZERO)).free + pos.quantity)
        return out

    async def positions(self) -> list[VenuePosition]:
        await self.throttle("positions")
        return [
            VenuePosition(iid, p.quantity, p.avg_entry_price)
            for iid, p in self.portfolio.snapshot().open_positions().items()
        ]

    async def my_trades(self, instrument_id: str, since_ns: int | None = None) -> list[Fill]:
        await self.throttle("my_trades")
        return [
            f
            for w in self.orders.values()
            for f in w.fills
            if f.instrument_id == instrument_id and (since_ns is None or f.ts >= since_ns)
        ]

    # -- internals -----------------------------------------------------------------------------
    def _find(self, cid: str | None, vid: str | None) -> _Working | None:
        if cid is None and vid is not None:
            cid = self._by_venue_id.get(vid)
        return self.orders.get(cid) if cid is not None else None

    def _match(self, w: _Working) -> list[Fill]:
        r = w.request
        book = self.books.get(r.instrument_id)
        if book is None:
            return []
        opposite = "asks" if r.side is Side.BUY else "bids"
        remaining = r.quantity - w.filled_qty
        first_pass = w.status is OrderStatus.ACCEPTED and w.filled_qty == 0 and not w.fills
        post_only = r.type is OrderType.LIMIT and r.time_in_force is TimeInForce.POST_ONLY
        if (
            post_only
            and first_pass
            and take_liquidity(iter_side(book, opposite), r.side, remaining, r.price)
        ):
            w.status = OrderStatus.REJECTED  # it would have taken liquidity
            self.publish(w.view())
            return []
        slices = take_liquidity(iter_side(book, opposite), r.side, remaining, r.price)
        if r.time_in_force is TimeInForce.FOK and filled(slices) < remaining:
            slices = []
        resting = not first_pass  # a resting limit is the maker once the book trades through
        out = []
        for price, qty in slices:
            px = r.price if resting and r.price is not None else price
            fee = px * qty * (self.maker_fee if resting else self.taker_fee)
            out.append(self._fill(w, px, qty, fee))
        if w.status.is_open and (
            r.type is OrderType.MARKET or r.time_in_force in (TimeInForce.IOC, TimeInForce.FOK)
        ):
            w.status = OrderStatus.CANCELED  # the unfilled rest of a market/IOC order
            self.publish(w.view())
        return out

    def _fill(self, w: _Working, price: Decimal, qty: Decimal, fee: Decimal) -> Fill:
        r = w.request
        quote = self.instruments[r.instrument_id].quote
        fill = Fill(
            f"{self.name}-{next(self._trades)}",
            r.client_order_id,
            r.instrument_id,
            r.side,
            qty,
            price,
            fee,
            quote,
            self.clock(),
        )
        self.portfolio.apply_fill(fill)
        w.fills.append(fill)
        w.filled_qty += qty
        w.notional += qty * price
        w.status = (
            OrderStatus.FILLED if w.filled_qty >= r.quantity else OrderStatus.PARTIALLY_FILLED
        )
        self.publish(fill)
        self.publish(w.view())
        return fill


__all__ = [
    "PaperVenue",
]
