"""The paper venue: simulated matching, fees and latency, behind the `Venue` interface.

Two modes:
- `book`: orders match against the last book given with `set_book` (live or replayed) and the
  public trades given with `on_trade` (docs/orders.md). Market orders walk the book (partial
  fills by depth; the rest is cancelled, IOC-style) as takers. A limit order takes what
  crosses when it arrives (taker), then rests (GTC). A post-only order that would take anything
  at arrival is rejected. A resting order fills only when the market trades through it: a
  public trade strictly beyond its limit fills it (up to the trade's size) at its limit, as
  maker; a trade at its limit fills it once the size visible ahead of it at that price when it
  started resting has traded (`queue_position=True`, the default; False puts it first in the
  queue). The book moving through a resting order is not evidence: only trades are. A stop
  (`type="stop"`, `price` = the trigger) triggers on a trade at or beyond its price and then
  walks the book as a market order (taker; at the trade's price if no book is known). Fees are
  `maker_fee`/`taker_fee` × notional in quote, per fill, and each `Fill` says its liquidity.
  A trade's size is shared: orders further through the price take from it first.
- `bar`: research's fill convention exactly (`Costs`): a market order submitted during bar t
  fills at the open of bar t+1 (`on_bar`) at open × (1 ± slippage), fee = `costs.fee` ×
  notional; limit, post-only and stop orders meet each later bar's range by the research bar
  rule (`nzeza.research.orders`), maker or taker fee per fill.

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
from nzeza.domain.costs import MAKER, TAKER
from nzeza.domain.numbers import ZERO, to_decimal
from nzeza.errors import ValidationError, VenueError
from nzeza.research.orders import FILL, REJECT, bar_outcome
from nzeza.venues.base import (
    Balance,
    OrderRequest,
    Venue,
    VenueFunding,
    VenueOrder,
    VenuePosition,
)
from nzeza.venues.paper.matching import filled, size_at, take_liquidity, trades_through


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
    resting: bool = False  # past its arrival: fills only on trades through it
    queue_ahead: Decimal = ZERO  # visible size at its price when it started resting

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
        queue_position: bool = True,
    ) -> None:
        super().__init__(limiter)
        self.queue_position = bool(queue_position)
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
        self.funding: list[VenueFunding] = []  # credited by the session (`credit_funding`)

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
                if w.status.is_open and w.active_ns <= self.clock() and not w.resting:
                    out += self._match(w)
        return out

    def on_trade(
        self, instrument_id: str, price: Any, size: Any, now_ns: int | None = None
    ) -> list[Fill]:
        """A public trade on the venue (from the feed): fills resting orders it traded
        through and triggers stops (see the module docstring). Returns the new fills."""
        if self.mode != "book":
            raise ValidationError("mode", self.mode, "on_trade is for book mode")
        out = self.advance(now_ns)  # orders that became due first meet the book
        px, left = to_decimal(price, "price"), to_decimal(size, "size")
        live = [
            w
            for w in self.orders.values()
            if w.request.instrument_id == instrument_id
            and w.status.is_open
            and w.active_ns <= self.clock()
        ]
        for side in (Side.BUY, Side.SELL):
            out += self._rest_fills(
                [w for w in live if w.resting and w.request.side is side], px, left
            )
        for w in live:
            r = w.request
            trigger = r.price
            if r.type is not OrderType.STOP or trigger is None or not w.status.is_open:
                continue
            if px >= trigger if r.side is Side.BUY else px <= trigger:
                out += self._trigger(w, px)
        return out

    def _rest_fills(self, resting: list[_Working], px: Decimal, size: Decimal) -> list[Fill]:
        """One trade's size shared by the resting orders of one side, best price first."""
        sign = 1 if resting and resting[0].request.side is Side.BUY else -1
        out = []
        for w in sorted(resting, key=lambda w: (-sign * (w.request.price or ZERO), w.ts)):
            r = w.request
            if size <= 0 or r.price is None:
                break
            if trades_through(r.side, r.price, px):
                avail = size
            elif px == r.price:
                ahead = min(w.queue_ahead, size)
                w.queue_ahead -= ahead  # the queue in front trades first
                avail = size - ahead
            else:
                continue
            qty = min(avail, r.quantity - w.filled_qty)
            if qty <= 0:
                continue
            size -= qty
            out.append(self._fill(w, r.price, qty, r.price * qty * self.maker_fee, MAKER))
        return out

    def _trigger(self, w: _Working, px: Decimal) -> list[Fill]:
        """A stop's trigger: a market order from here (taker), the unfilled rest cancelled.
        It walks the book, but no slice is better than the trade that triggered it: a depth
        stream lags the trades (Binance sends diffs every 100 ms), and the stop fills after
        the market traded at `px`, never before (the bar rule's max(stop, open) likewise)."""
        r = w.request
        book = self.books.get(r.instrument_id)
        remaining = r.quantity - w.filled_qty
        if book is None:
            slices = [(px, remaining)]
        else:
            opposite = "asks" if r.side is Side.BUY else "bids"
            taken = take_liquidity(iter_side(book, opposite), r.side, remaining)
            worse = max if r.side is Side.BUY else min
            slices = [(worse(p, px), q) for p, q in taken]
        out = [self._fill(w, p, q, p * q * self.taker_fee, TAKER) for p, q in slices]
        if w.status.is_open:
            w.status = OrderStatus.CANCELED
            self.publish(w.view())
        return out

    def on_bar(
        self, instrument_id: str, bar_open: Any, ts: int, high: Any = None, low: Any = None
    ) -> list[Fill]:
        """Bar mode: the bar that opens at `ts` meets every order submitted before it. Market
        orders fill at its open; limit, post-only (`time_in_force="post_only"`) and stop
        orders (`price` = the limit or trigger) need the bar's `high` and `low` and are filled
        — or a post-only one rejected, on its first bar — by the research rule
        (`nzeza.research.orders.bar_outcome`), with the maker or taker fee per fill; an order
        the bar does not reach keeps working until it is cancelled."""
        if self.mode != "bar" or self.costs is None:
            raise ValidationError("mode", self.mode, "on_bar is for bar mode")
        self._now = max(self._now, ts)
        open_ = to_decimal(bar_open, "bar_open")
        out = []
        for w in list(self.orders.values()):
            r = w.request
            if r.instrument_id != instrument_id or not w.status.is_open or w.ts >= ts:
                continue
            if r.type is OrderType.MARKET:
                price = self.costs.fill_price(r.side.value, open_)
                fee = self.costs.fee_for(price * r.quantity)
                out.append(self._fill(w, price, r.quantity, fee))
                continue
            kind = {OrderType.LIMIT: "limit", OrderType.STOP: "stop"}.get(r.type)
            if kind is None or r.price is None:
                raise ValidationError(
                    "type", r.type, "bar mode fills market, limit and stop orders"
                )
            if high is None or low is None:
                raise ValidationError(
                    "high", high, f"a {r.type} order needs the bar's high and low"
                )
            if r.time_in_force is TimeInForce.POST_ONLY:
                kind = "post_only"
            first = not w.resting
            w.resting = True
            hit = bar_outcome(
                kind, r.side.value, r.price, open_, to_decimal(high, "high"),
                to_decimal(low, "low"), first, self.costs.slippage_dec,
            )  # fmt: skip
            if hit.status == REJECT:
                w.status = OrderStatus.REJECTED  # it would have crossed at placement
                self.publish(w.view())
            elif hit.status == FILL:
                fee = self.costs.fee_for(hit.price * r.quantity, hit.liquidity)
                out.append(self._fill(w, hit.price, r.quantity, fee, hit.liquidity))
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

    def credit_funding(self, payment: VenueFunding) -> None:
        """A paper account is credited exactly what the session booked (it has no funding of
        its own): what `funding_payments` gives back, so the two never differ."""
        self.funding.append(payment)

    async def funding_payments(
        self, instrument_id: str, since_ns: int | None = None
    ) -> list[VenueFunding] | None:
        await self.throttle("my_trades")
        return [
            f
            for f in self.funding
            if f.instrument_id == instrument_id and (since_ns is None or f.ts >= since_ns)
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
        if book is None or r.type is OrderType.STOP:
            return []  # a stop waits for a trade at its price (on_trade)
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
        out = [self._fill(w, px, qty, px * qty * self.taker_fee, TAKER) for px, qty in slices]
        if w.status.is_open and (
            r.type is OrderType.MARKET or r.time_in_force in (TimeInForce.IOC, TimeInForce.FOK)
        ):
            w.status = OrderStatus.CANCELED  # the unfilled rest of a market/IOC order
            self.publish(w.view())
        elif w.status.is_open and r.price is not None:
            # it rests from here, behind what the book shows at its price
            w.resting = True
            if self.queue_position:
                w.queue_ahead = size_at(iter_side(book, _own(r.side)), r.side, r.price)
        return out

    def _fill(
        self, w: _Working, price: Decimal, qty: Decimal, fee: Decimal, liquidity: str = TAKER
    ) -> Fill:
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
            liquidity,
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


def _own(side: Side) -> str:
    return "bids" if side is Side.BUY else "asks"


__all__ = [
    "PaperVenue",
]
