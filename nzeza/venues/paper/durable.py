"""A paper exchange whose state outlives the session that trades on it.

A real exchange keeps its orders and trades when our process dies; reconciliation after a crash
is only meaningful against state we did not write ourselves. `DurablePaperVenue` keeps its
orders and trades in its own SQLite file (not the session's ledger). It fills market orders at
the last traded price it has seen × (1 ± slippage) with fee × notional — the research `Costs`
convention, so a session whose orders arrive at each bar's first trade executes exactly at the
bar's open — and it is idempotent by client order id: submitting an id it knows returns the
existing order and creates nothing (counted in `duplicate_submits`).

It never persists a trade that is not a valid `Fill` (a positive, finite price and quantity of
sane magnitude): a price from the feed that is not one is ignored (`invalid_prices`), and an
order that would fill at an invalid price is refused (`VenueError`, code `invalid_price`).
A file written by an older nzeza may already hold such a trade (a recorded price of 0 or
1E-999999999 once became a stored price of 0): every later session on the file failed to
reconcile. On open such trades are moved to the `quarantined_trades` table (with the reason)
and their orders marked rejected with nothing filled, in one transaction, with a warning that
names the file and the table; nothing else changes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from nzeza.domain import Costs, Fill, Instrument, OrderStatus, OrderType, Side
from nzeza.errors import ValidationError, VenueError
from nzeza.ops.logging import get_logger
from nzeza.ops.walcheckpoint import WalCheckpointer, defer_checkpoints
from nzeza.venues.base import Balance, OrderRequest, Venue, VenueOrder

log = get_logger(__name__)

# A price, quantity or fee is "sane" between 1e-30 and 1e31 in magnitude: the bounds the feed
# parsers enforce. Outside them, Decimal arithmetic under- or overflows (1E-999999999 × 1.0005
# is 0 in the default context).
_MIN_ADJUSTED, _MAX_ADJUSTED = -30, 30

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, venue_order_id TEXT NOT NULL, instrument_id TEXT NOT NULL,
    side TEXT NOT NULL, quantity TEXT NOT NULL, status TEXT NOT NULL, filled_qty TEXT NOT NULL,
    avg_price TEXT, ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS trades (
    trade_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL, instrument_id TEXT NOT NULL,
    side TEXT NOT NULL, quantity TEXT NOT NULL, price TEXT NOT NULL, fee TEXT NOT NULL,
    fee_currency TEXT NOT NULL, ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS trades_by_order ON trades (client_order_id);
CREATE INDEX IF NOT EXISTS trades_by_time ON trades (instrument_id, ts);
CREATE TABLE IF NOT EXISTS quarantined_trades (
    trade_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL, instrument_id TEXT NOT NULL,
    side TEXT NOT NULL, quantity TEXT NOT NULL, price TEXT NOT NULL, fee TEXT NOT NULL,
    fee_currency TEXT NOT NULL, ts INTEGER NOT NULL, reason TEXT NOT NULL,
    quarantined_ns INTEGER NOT NULL);
"""


def sane_decimal(value: Any, field: str, *, positive: bool) -> Decimal:
    """`value` as a finite Decimal of sane magnitude (> 0 when `positive`), else
    `ValidationError(field, value, why)`."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError(field, value, "is not a decimal number") from None
    if not number.is_finite():
        raise ValidationError(field, value, "must be finite")
    if positive and number <= 0:
        raise ValidationError(field, value, "must be positive")
    if number and not _MIN_ADJUSTED <= number.adjusted() <= _MAX_ADJUSTED:
        raise ValidationError(field, value, "is out of range (1e-30 .. 1e31)")
    return number


def _fill_of(row: tuple) -> Fill:
    """A stored trade row as a Fill; ValidationError naming the bad field otherwise."""
    t, c, i, s, q, p, f, fc, ts = row
    return Fill(
        t,
        c,
        i,
        s,
        sane_decimal(q, "quantity", positive=True),
        sane_decimal(p, "price", positive=True),
        sane_decimal(f, "fee", positive=False),
        fc,
        ts,
    )


class DurablePaperVenue(Venue):
    limit_key = "paper"

    def __init__(
        self,
        path: str | Path,
        instruments: Iterable[Instrument],
        costs: Costs,
        name: str = "paper",
        limiter: Any = None,
    ) -> None:
        super().__init__(limiter)
        self.name = name
        self.costs = costs
        self.instruments = {i.id: i for i in instruments}
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # durable against a killed process (what the crash tests do); an OS crash could lose
        # the last commits, as on any exchange simulator — never corrupt the file
        self._db.execute("PRAGMA synchronous=NORMAL")
        defer_checkpoints(self._db)  # checkpoints run on their own thread, off submit's path
        self._db.executescript(_SCHEMA)
        self.quarantined = self._quarantine_invalid_trades()
        self._checkpointer = WalCheckpointer(self.path).start(owner=self)
        self.last_price: dict[str, tuple[Decimal, int]] = {}
        self.invalid_prices = 0  # feed prices ignored (never a fill price)

    def _quarantine_invalid_trades(self) -> int:
        """Move trades that are not valid fills (an older version stored them) out of `trades`
        and mark their orders rejected; returns how many. One transaction."""
        bad: list[tuple[tuple, str]] = []
        for row in self._db.execute("SELECT * FROM trades"):
            try:
                _fill_of(row)
            except ValidationError as exc:
                bad.append((row, str(exc)))
        if not bad:
            return 0
        now = time.time_ns()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for row, reason in bad:
                self._db.execute(
                    "INSERT OR REPLACE INTO quarantined_trades VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (*row, reason, now),
                )
                self._db.execute("DELETE FROM trades WHERE trade_id = ?", (row[0],))
            for cid in {row[1] for row, _ in bad}:
                self._restate_order(cid)
            self._db.execute("COMMIT")
        except Exception:
            self._db.execute("ROLLBACK")
            raise
        log.warning(
            "paper venue file held trades that are not valid fills: moved to its "
            "quarantined_trades table, their orders marked rejected",
            extra={
                "venue_db": str(self.path),
                "trades": len(bad),
                "orders": sorted({row[1] for row, _ in bad}),
                "first_reason": bad[0][1],
            },
        )
        return len(bad)

    def _restate_order(self, client_order_id: str) -> None:
        """An order's filled quantity and average price from its remaining (valid) trades."""
        rows = self._db.execute(
            "SELECT quantity, price FROM trades WHERE client_order_id = ?", (client_order_id,)
        ).fetchall()
        filled = sum((Decimal(q) for q, _ in rows), Decimal(0))
        if not filled:
            self._db.execute(
                "UPDATE orders SET status = ?, filled_qty = '0', avg_price = NULL "
                "WHERE client_order_id = ?",
                (OrderStatus.REJECTED.value, client_order_id),
            )
            return
        avg = sum((Decimal(q) * Decimal(p) for q, p in rows), Decimal(0)) / filled
        self._db.execute(
            "UPDATE orders SET status = ?, filled_qty = ?, avg_price = ? WHERE client_order_id = ?",
            (OrderStatus.PARTIALLY_FILLED.value, str(filled), str(avg), client_order_id),
        )

    async def close(self) -> None:
        self._checkpointer.stop()
        self._db.close()

    # -- market data ----------------------------------------------------------------------
    def on_trade(self, instrument_id: str, price: Decimal, ts: int) -> None:
        """The last traded price fills the next market order; an invalid one is ignored."""
        try:
            sane_decimal(price, "price", positive=True)
        except ValidationError:
            self.invalid_prices += 1
            return
        self.last_price[instrument_id] = (price, ts)

    # -- counters -------------------------------------------------------------------------
    def _bump(self, name: str) -> None:
        self._db.execute(
            "INSERT INTO counters VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
            (name,),
        )

    def counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    @property
    def duplicate_submits(self) -> int:
        return self.counter("duplicate_submits")

    # -- Venue interface ------------------------------------------------------------------
    async def load_markets(self) -> dict[str, Instrument]:
        await self.throttle("load_markets")
        return dict(self.instruments)

    async def submit(self, request: OrderRequest) -> VenueOrder:
        await self.throttle("submit")
        existing = self._fetch(client_order_id=request.client_order_id)
        if existing is not None:
            self._bump("duplicate_submits")
            return existing
        inst = self.instruments.get(request.instrument_id)
        if inst is None:
            raise VenueError(
                self.name, f"unknown instrument {request.instrument_id}", retryable=False
            )
        if request.type is not OrderType.MARKET:
            raise VenueError(
                self.name,
                "the durable paper venue takes market orders only",
                retryable=False,
                code="invalid_order",
            )
        if request.instrument_id not in self.last_price:
            raise VenueError(
                self.name,
                "no price yet: the market has not traded",
                retryable=True,
                code="no_price",
            )
        last, ts = self.last_price[request.instrument_id]
        try:
            price = self.costs.fill_price(request.side.value, last)
            fee = self.costs.fee_for(price * request.quantity)
        except ArithmeticError as exc:  # a context that traps under/overflow: no valid fill
            raise VenueError(
                self.name,
                f"refused: no valid fill price from {last} ({type(exc).__name__})",
                retryable=False,
                code="invalid_price",
            ) from None
        try:  # the trade as it would be read back: never store one that is not a valid fill
            _fill_of(
                (
                    "D0-1",  # its id is drawn below, under the write lock
                    request.client_order_id,
                    request.instrument_id,
                    request.side.value,
                    str(request.quantity),
                    str(price),
                    str(fee),
                    inst.quote,
                    ts,
                )
            )
        except ValidationError as exc:
            raise VenueError(
                self.name,
                f"refused: the fill would be invalid ({exc})",
                retryable=False,
                code="invalid_price",
            ) from None
        # order, trade and counter in one transaction: the exchange never half-fills, and two
        # sessions sharing this venue (two processes) never draw the same order id
        self._db.execute("BEGIN IMMEDIATE")
        try:
            vid = f"D{self.counter('orders') + 1}"
            trade_id = f"{vid}-1"
            self._db.execute(
                "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    request.client_order_id,
                    vid,
                    request.instrument_id,
                    request.side.value,
                    str(request.quantity),
                    OrderStatus.FILLED.value,
                    str(request.quantity),
                    str(price),
                    ts,
                ),
            )
            self._db.execute(
                "INSERT INTO trades VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    trade_id,
                    request.client_order_id,
                    request.instrument_id,
                    request.side.value,
                    str(request.quantity),
                    str(price),
                    str(fee),
                    inst.quote,
                    ts,
                ),
            )
            self._bump("orders")
            self._db.execute("COMMIT")
        except Exception:
            self._db.execute("ROLLBACK")
            raise
        order = self._fetch(client_order_id=request.client_order_id)
        assert order is not None
        self.publish(order)
        return order

    async def cancel(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> VenueOrder:
        await self.throttle("cancel")
        order = self._fetch(client_order_id=client_order_id, venue_order_id=venue_order_id)
        if order is None:  # market orders fill or fail at once: nothing rests to cancel
            raise VenueError(self.name, "unknown order", retryable=False, code="unknown_order")
        return order

    async def fetch_order(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> VenueOrder | None:
        await self.throttle("fetch_order")
        return self._fetch(client_order_id=client_order_id, venue_order_id=venue_order_id)

    def _fetch(
        self, *, client_order_id: str | None = None, venue_order_id: str | None = None
    ) -> VenueOrder | None:
        if client_order_id is not None:
            row = self._db.execute(
                "SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,)
            ).fetchone()
        else:
            row = self._db.execute(
                "SELECT * FROM orders WHERE venue_order_id = ?", (venue_order_id,)
            ).fetchone()
        if row is None:
            return None
        cid, vid, iid, side, qty, status, filled, avg, ts = row
        return VenueOrder(
            cid,
            vid,
            iid,
            Side(side),
            OrderType.MARKET,
            Decimal(qty),
            None,
            OrderStatus(status),
            Decimal(filled),
            Decimal(avg) if avg else None,
            ts,
        )

    async def fetch_open_orders(self, instrument_id: str | None = None) -> list[VenueOrder]:
        await self.throttle("open_orders")
        return []  # market orders fill or fail at once

    async def balances(self) -> dict[str, Balance]:
        await self.throttle("balances")
        return {}

    async def my_trades(self, instrument_id: str, since_ns: int | None = None) -> list[Fill]:
        await self.throttle("my_trades")
        rows = self._db.execute(
            "SELECT * FROM trades WHERE instrument_id = ? AND ts >= ? ORDER BY rowid",
            (instrument_id, since_ns or 0),
        ).fetchall()
        return [_fill_of(row) for row in rows]

    async def order_fills(self, instrument_id: str, client_order_id: str) -> list[Fill]:
        """The trades of one order (indexed: cheap whatever the history)."""
        await self.throttle("my_trades")
        rows = self._db.execute(
            "SELECT * FROM trades WHERE client_order_id = ? ORDER BY rowid", (client_order_id,)
        ).fetchall()
        return [_fill_of(row) for row in rows]

    def order_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM orders").fetchone()[0])


__all__ = [
    "DurablePaperVenue",
    "sane_decimal",
]
