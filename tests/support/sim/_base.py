"""What every local exchange simulator shares: an aiohttp server on 127.0.0.1, a request log,
fault injection, a fixed top of book per market and a venue-neutral order store.

Each venue module (`coinbase.py`, `kraken.py`, `hyperliquid.py`) renders these orders and
trades in its exchange's own endpoints and response shapes, so ccxt (pointed at the simulator
with its URL override) runs its real request building and response parsing against it.

Matching is deliberately simple: market orders and marketable limits fill at once at the touch
(buys at the ask, sells at the bid); other limits rest until cancelled. Faults for tests:
`fail_next(status, body)` answers the next matching request with an error, `delay_next_create(s)`
records the next order and answers only after `s` seconds (a response lost to a client timeout).
Client order ids must be unique: a duplicate is refused, as the real venues do.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import web
from support.sim._server import LocalServer


@dataclass
class SimMarket:
    """One market: venue symbol, assets, grid and a fixed top of book."""

    symbol: str
    base: str
    quote: str
    tick: Decimal
    lot: Decimal
    min_qty: Decimal
    min_notional: Decimal
    bid: Decimal
    ask: Decimal


@dataclass
class SimOrder:
    """A venue-neutral order; each simulator renders it in its own shape."""

    oid: str
    cid: str
    symbol: str
    side: str  # "buy" | "sell"
    type: str  # "limit" | "market"
    qty: Decimal
    price: Decimal | None
    tif: str = "GTC"
    status: str = "open"  # "open" | "filled" | "canceled"
    filled: Decimal = Decimal(0)
    avg: Decimal | None = None
    fee: Decimal = Decimal(0)
    ts_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    trade_ids: list[str] = field(default_factory=list)


@dataclass
class SimTrade:
    tid: str
    oid: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    ts_ms: int


def fmt(d: Decimal | None, places: int | None = None) -> str:
    """Decimal → plain text (fixed places when given), the way exchanges print numbers."""
    if d is None:
        return "0"
    if places is not None:
        return f"{d.quantize(Decimal(1).scaleb(-places)):f}"
    return f"{d.normalize():f}" if d == d.to_integral_value() else f"{d:f}"


class SimBase(LocalServer):
    """The shared server and order book of the simulators (see module docstring)."""

    taker_fee = Decimal("0.001")

    def __init__(self, markets: list[SimMarket], balances: dict[str, Decimal]) -> None:
        super().__init__()
        self.markets = {m.symbol: m for m in markets}
        self.balances = dict(balances)
        self.orders: dict[str, SimOrder] = {}
        self.trades: list[SimTrade] = []
        self._ids = itertools.count(1000)
        self._faults: list[tuple[int, Any]] = []
        self._delay = 0.0

    # -- faults ----------------------------------------------------------------------------
    def fail_next(self, status: int, body: Any) -> None:
        """Answer the next private request with `status` and JSON `body`."""
        self._faults.append((status, body))

    def delay_next_create(self, seconds: float) -> None:
        self._delay = seconds

    def take_fault(self) -> web.Response | None:
        if not self._faults:
            return None
        status, body = self._faults.pop(0)
        return web.json_response(body, status=status)

    async def create_delay(self) -> None:
        if self._delay:
            delay, self._delay = self._delay, 0.0
            await asyncio.sleep(delay)

    # -- server ----------------------------------------------------------------------------

    # -- matching --------------------------------------------------------------------------
    def next_id(self) -> str:
        return str(next(self._ids))

    def by_cid(self, cid: str | None) -> SimOrder | None:
        if not cid:
            return None
        return next((o for o in self.orders.values() if o.cid == cid), None)

    def place(
        self,
        symbol: str,
        side: str,
        otype: str,
        qty: Decimal,
        price: Decimal | None,
        cid: str,
        tif: str = "GTC",
        oid: str | None = None,
    ) -> SimOrder:
        """Record an order and fill it at the touch if it is marketable (IOC rests never)."""
        m = self.markets[symbol]
        order = SimOrder(oid or self.next_id(), cid, symbol, side, otype, qty, price, tif)
        self.orders[order.oid] = order
        touch = m.ask if side == "buy" else m.bid
        marketable = (
            otype == "market"
            or (side == "buy" and price is not None and price >= m.ask)
            or (side == "sell" and price is not None and price <= m.bid)
        )
        if marketable:
            fee = qty * touch * self.taker_fee
            trade = SimTrade(
                self.next_id(), order.oid, symbol, side, qty, touch, fee, int(time.time() * 1000)
            )
            self.trades.append(trade)
            order.status, order.filled, order.avg, order.fee = "filled", qty, touch, fee
            order.trade_ids.append(trade.tid)
            sign = 1 if side == "buy" else -1
            self.balances[m.base] = self.balances.get(m.base, Decimal(0)) + sign * qty
            self.balances[m.quote] = self.balances.get(m.quote, Decimal(0)) - sign * qty * touch
            self.balances[m.quote] -= fee
        elif tif in ("IOC", "FOK"):
            order.status = "canceled"
        return order

    def cancel(self, order: SimOrder | None) -> bool:
        if order is None or order.status != "open":
            return False
        order.status = "canceled"
        return True

    def held(self, currency: str) -> Decimal:
        """What resting orders hold of `currency` (quote for buys, base for sells)."""
        total = Decimal(0)
        for o in self.orders.values():
            if o.status != "open":
                continue
            m = self.markets[o.symbol]
            if o.side == "buy" and m.quote == currency and o.price is not None:
                total += (o.qty - o.filled) * o.price
            elif o.side == "sell" and m.base == currency:
                total += o.qty - o.filled
        return total


__all__ = ["SimBase", "SimMarket", "SimOrder", "SimTrade", "fmt"]
