"""Funding and liquidation of a perpetual position, for replay and sessions (in Decimal).

The rule is the research one (`nzeza.research.perp`, `nzeza.domain.perpetual`): after the fill
at a bar's open, a position whose liquidation price (collateral = cash + position × average
entry) the bar's adverse extreme reaches is closed at that price with the taker fee, as a fill
marked in the ledger's `liquidations`; at each funding time the position held pays or receives
−position × mark × rate, booked as its own ledger entry with the cash it moves (once per time:
a restarted session does not book a time twice).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from nzeza.domain import Costs, Fill, Order, OrderFilled, OrderSubmitted, Perpetual, Side
from nzeza.domain.numbers import ZERO, to_decimal
from nzeza.domain.perpetual import funding_payment

if TYPE_CHECKING:
    from nzeza.engine.trader import Trader
    from nzeza.store import Ledger


@dataclass(frozen=True, slots=True)
class FundingEvent:
    """A funding time (UTC ns), its rate and the mark price to apply it at."""

    ts: int
    rate: Decimal
    mark: Decimal


@dataclass
class FundingClock:
    """A venue's live funding updates → the funding events to book.

    Perp venues stream their current rate and mark (`nzeza.feeds.FundingUpdate`: Binance's rate
    for the coming funding time, Hyperliquid's current and dYdX's predicted hourly rate); what
    is paid at a funding time T is the last rate seen before T, at the last mark seen before
    T. T is the update's `next_funding_ns` where the venue gives it (Binance), else the next
    multiple of the funding interval. An update at or after T emits T's event first. After a
    silence spanning several funding times only the first is booked (a rate is never reused
    for a later time it was not published for)."""

    interval_ns: int
    rate: Decimal | None = None
    mark: Decimal | None = None
    next_ns: int | None = None

    def on_update(self, update: Any) -> list[FundingEvent]:
        ts = getattr(update, "ts_ns", None) or getattr(update, "recv_ns", None)
        if ts is None:
            return []
        out = []
        due = self.next_ns is not None and ts >= self.next_ns
        if due and self.rate is not None and self.mark is not None:
            assert self.next_ns is not None
            out.append(FundingEvent(self.next_ns, self.rate, self.mark))
        self.rate = to_decimal(update.funding_rate, "funding_rate")
        if getattr(update, "mark", None) is not None:
            self.mark = to_decimal(update.mark, "mark")
        given = getattr(update, "next_funding_ns", None)
        self.next_ns = int(given) if given else (ts // self.interval_ns + 1) * self.interval_ns
        return out


@dataclass
class PerpAccount:
    """The perpetual side of one trader's position: funding booked, liquidations taken."""

    spec: Perpetual
    costs: Costs
    trader: Trader
    session_id: str
    ledger: Ledger | None = None
    venue: str = "paper"
    funding: list[dict[str, Any]] = field(default_factory=list)
    liquidations: list[dict[str, Any]] = field(default_factory=list)

    def _state(self) -> tuple[Decimal, Decimal, Decimal]:
        snap = self.trader.portfolio.snapshot()
        pos = snap.position(self.spec.id)
        return pos.quantity, pos.avg_entry_price, snap.cash

    def liquidation_price(self) -> Decimal | None:
        """Where the position held now is liquidated (None: flat, or a long that cannot be)."""
        qty, entry, cash = self._state()
        if qty == 0:
            return None
        return self.spec.liquidation_price(qty, entry, cash + qty * entry)

    def check_liquidation(self, low: Any, high: Any, ts: int) -> Fill | None:
        """Liquidate at the liquidation price if [low, high] reaches it; the fill, or None."""
        qty, entry, cash = self._state()
        if qty == 0:
            return None
        collateral = cash + qty * entry
        price = self.spec.liquidation_price(qty, entry, collateral)
        if price is None:
            return None
        if qty > 0 and to_decimal(low, "low") > price:
            return None
        if qty < 0 and to_decimal(high, "high") < price:
            return None
        n = len(self.liquidations) + 1
        ids = f"{self.session_id}-liq-{ts}"
        side = Side.SELL if qty > 0 else Side.BUY
        size = abs(qty)
        fill = Fill(
            ids, ids, self.spec.id, side, size, price, self.costs.fee_for(size * price),
            self.spec.quote, ts,
        )  # fmt: skip
        order = None
        if self.ledger is not None:
            order = Order(ids, self.spec, side, size)
            order.apply(OrderSubmitted(ts))
        with self.ledger.batch() if self.ledger is not None else contextlib.nullcontext():
            if self.ledger is not None and order is not None:
                self.ledger.record_order(self.session_id, order, "liquidation")
                order.apply(OrderFilled(fill))
            self.trader.apply_fill(fill, order)
            if self.ledger is not None:
                self.ledger.record_liquidation(
                    self.session_id, self.venue, fill.order_id, self.spec.id, ts, qty, entry,
                    collateral, self.spec.maintenance(size * price)[0], price,
                )  # fmt: skip
        self.liquidations.append(
            {"n": n, "ts": ts, "position": qty, "entry_price": entry, "collateral": collateral,
             "price": price, "fee": fill.fee, "trade_id": fill.trade_id}
        )  # fmt: skip
        return fill

    def fund(self, event: FundingEvent) -> Decimal | None:
        """Book the funding of `event` on the position held (None: flat, or already booked)."""
        portfolio = self.trader.portfolio
        qty, _, _ = self._state()
        if qty == 0 or portfolio.has_funding(self.spec.id, event.ts):
            return None
        amount = funding_payment(qty, event.mark, event.rate)
        persist = None
        if self.ledger is not None:
            persist = self.ledger.funding_writer(
                self.session_id, self.spec.id, event.ts, qty, event.mark, event.rate, amount
            )
        if not portfolio.apply_funding(self.spec.id, event.ts, amount, persist=persist):
            return None
        self.funding.append(
            {"ts": event.ts, "position": qty, "mark": event.mark, "rate": event.rate,
             "amount": amount}
        )  # fmt: skip
        return amount

    def book_from_venue(
        self, ts: int, payment: Any, price: Decimal | None = None
    ) -> Decimal | None:
        """Book a venue payment (`venues.VenueFunding`) the session has no row for, at funding
        time `ts`: the venue's exact amount, on the venue's position and rate where it gives
        them (else the position held now and the rate that amount implies at `price`), with
        its `funding_checks` row `source="venue"` in the same transaction. None: already
        booked."""
        portfolio = self.trader.portfolio
        if portfolio.has_funding(self.spec.id, ts):
            return None
        amount = to_decimal(payment.amount, "amount")
        qty = payment.position if payment.position is not None else self._state()[0]
        rate, mark = payment.rate, None
        if rate is not None and qty != 0 and rate != 0:
            mark = -amount / (qty * rate)  # the mark the venue's amount was computed at
        elif qty != 0 and price is not None and price != 0:
            mark = price
            rate = -amount / (qty * price)
        mark = ZERO if mark is None else mark
        rate = ZERO if rate is None else rate
        persist = None
        if self.ledger is not None:
            check = dict(
                source="venue", status="booked", booked_amount=None, venue_amount=amount,
                venue_ts=payment.ts,
            )  # fmt: skip
            persist = self.ledger.funding_writer(
                self.session_id, self.spec.id, ts, qty, mark, rate, amount, check=check
            )
        if not portfolio.apply_funding(self.spec.id, ts, amount, persist=persist):
            return None
        self.funding.append(
            {"ts": ts, "position": qty, "mark": mark, "rate": rate, "amount": amount,
             "source": "venue"}
        )  # fmt: skip
        return amount

    @property
    def total_funding(self) -> Decimal:
        return sum((row["amount"] for row in self.funding), ZERO)


__all__ = ["FundingClock", "FundingEvent", "PerpAccount"]
