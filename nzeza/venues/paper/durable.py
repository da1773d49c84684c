"""A paper exchange whose state outlives the session that trades on it.

A real exchange keeps its orders and trades when our process dies; reconciliation after a crash
is only meaningful against state we did not write ourselves. `DurablePaperVenue` keeps its
orders and trades in its own SQLite file (not the session's ledger). It fills market orders at
the last traded price it has seen × (1 ± slippage) with fee × notional — the research `Costs`
convention, so a session whose orders arrive at each bar's first trade executes exactly at the
bar's open — and it is idempotent by client order id: submitting an id it knows returns the
existing order and creates nothing (counted in `duplicate_submits`).

Limit, post-only (`time_in_force="post_only"`) and stop (`type="stop"`, `price` = the trigger)
orders meet the last traded price on arrival: a limit that crosses fills at once as a taker at
min(last × (1 + slippage), limit) (a buy; a sell mirrors), a post-only one that would cross is
rejected, a stop already beyond its trigger fills as a taker at last × (1 ± slippage); else the
order rests. A resting limit or post-only order fills only when a public trade (`on_trade`)
goes strictly *through* its price, at its price, as a maker (maker fee), up to the trade's size
(partial fills; a trade's size is shared, best price first). This venue keeps no book, so the
queue ahead of an order at its own price is unknown: a trade *at* the price never fills it
(the book-mode `PaperVenue` models the queue). A resting stop triggers on a trade at or beyond
its price and fills the rest as a taker at that trade × (1 ± slippage). Each order remembers
the last trade it met, so a feed re-read after a restart never fills it twice.

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

from nzeza.domain import Costs, Fill, Instrument, OrderStatus, OrderType, Side, TimeInForce
from nzeza.domain.costs import MAKER, TAKER
from nzeza.errors import ValidationError, VenueError
from nzeza.ops.logging import get_logger
from nzeza.ops.walcheckpoint import WalCheckpointer, defer_checkpoints
from nzeza.venues.base import Balance, OrderRequest, Venue, VenueFunding, VenueOrder
from nzeza.venues.paper.matching import trades_through

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
CREATE TABLE IF NOT EXISTS funding (
    instrument_id TEXT NOT NULL, ts INTEGER NOT NULL, amount TEXT NOT NULL, rate TEXT,
    position TEXT, PRIMARY KEY (instrument_id, ts));
"""


# limit, post-only and stop orders rest: their kind, price and the last public trade they have
# met (`seen_ts`, `seen_n`: the n-th trade at that exchange time), so a feed re-read after a
# restart never fills an order twice with the same trade. Added to files of older versions.
_ORDER_COLUMNS = (
    ("type", "TEXT NOT NULL DEFAULT 'market'"),
    ("price", "TEXT"),
    ("time_in_force", "TEXT NOT NULL DEFAULT 'gtc'"),
    ("seen_ts", "INTEGER NOT NULL DEFAULT 0"),
    ("seen_n", "INTEGER NOT NULL DEFAULT 0"),
)
_ORDER_FIELDS = (
    "client_order_id, venue_order_id, instrument_id, side, quantity, status, filled_qty, "
    "avg_price, ts, type, price, time_in_force, seen_ts, seen_n"
)


def _add_order_columns(db: sqlite3.Connection) -> None:
    have = {row[1] for row in db.execute("PRAGMA table_info(orders)")}
    for name, decl in _ORDER_COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE orders ADD COLUMN {name} {decl}")


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


def _view(row: tuple) -> VenueOrder:
    cid, vid, iid, side, qty, status, filled, avg, ts, kind, price, tif, _, _ = row
    return VenueOrder(
        cid,
        vid,
        iid,
        Side(side),
        OrderType(kind),
        Decimal(qty),
        Decimal(price) if price else None,
        OrderStatus(status),
        Decimal(filled),
        Decimal(avg) if avg else None,
        ts,
        TimeInForce(tif),
    )


def _arrival(request: OrderRequest, last: Decimal) -> str:
    """What an order meets on arrival at the last traded price: "fill" (a market order, a
    limit that crosses, a stop already beyond its trigger), "reject" (a post-only order that
    would cross) or "rest"."""
    if request.type is OrderType.MARKET or request.price is None:
        return "fill"
    buy = request.side is Side.BUY
    if request.type is OrderType.STOP:
        return "fill" if (last >= request.price if buy else last <= request.price) else "rest"
    crosses = last <= request.price if buy else last >= request.price
    if request.time_in_force is TimeInForce.POST_ONLY:
        return "reject" if crosses else "rest"
    return "fill" if crosses else "rest"


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
        _add_order_columns(self._db)
        self.quarantined = self._quarantine_invalid_trades()
        self._checkpointer = WalCheckpointer(self.path).start(owner=self)
        self.last_price: dict[str, tuple[Decimal, int]] = {}
        self.invalid_prices = 0  # feed prices ignored (never a fill price)
        # per instrument: the last public trade (exchange ts, n-th at that ts), and the ids
        # of the orders resting on it (limit, post-only, stop)
        self._tick: dict[str, tuple[int, int]] = {}
        self._resting: dict[str, set[str]] = {}
        for view in self._open_views():
            self._resting.setdefault(view.instrument_id, set()).add(view.client_order_id)

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

    def _open_views(self) -> list[VenueOrder]:
        rows = self._db.execute(
            f"SELECT {_ORDER_FIELDS} FROM orders WHERE status IN (?, ?, ?) ORDER BY rowid",
            tuple(s.value for s in OrderStatus if s.is_open),
        ).fetchall()
        return [_view(row) for row in rows]

    async def close(self) -> None:
        self._checkpointer.stop()
        self._db.close()

    # -- market data ----------------------------------------------------------------------
    def on_trade(
        self, instrument_id: str, price: Decimal, ts: int, size: Decimal | None = None
    ) -> list[Fill]:
        """A public trade from the feed: the last price (it fills the next market order) and
        the resting orders it trades through (module docstring). An invalid price is ignored.
        `size` None (a feed without sizes) lets a trade fill a whole resting order. Returns
        the fills it made (persisted before they are returned)."""
        try:
            sane_decimal(price, "price", positive=True)
        except ValidationError:
            self.invalid_prices += 1
            return []
        self.last_price[instrument_id] = (price, ts)
        tick_ts, n = self._tick.get(instrument_id, (None, 0))
        tick = (ts, n + 1 if tick_ts == ts else 1)
        self._tick[instrument_id] = tick
        if not self._resting.get(instrument_id):
            return []
        return self._meet_trade(instrument_id, price, tick, size)

    def _meet_trade(
        self, instrument_id: str, px: Decimal, tick: tuple[int, int], size: Decimal | None
    ) -> list[Fill]:
        left = size
        out: list[Fill] = []
        views = [v for v in map(self._fetch_cid, self._resting[instrument_id]) if v is not None]
        # best price first: the highest bid, the lowest ask (a trade's size is shared)
        views.sort(key=lambda v: (v.side is Side.SELL, -(v.price or 0) if v.side is Side.BUY
                                  else (v.price or 0)))  # fmt: skip
        for view in views:
            seen = self._seen(view.client_order_id)
            if tick <= seen or not view.status.is_open or view.price is None:
                continue  # a trade it met before (the feed re-read after a restart)
            buy = view.side is Side.BUY
            remaining = view.quantity - view.filled_qty
            if view.type is OrderType.STOP:
                if px >= view.price if buy else px <= view.price:
                    fill_px = self.costs.fill_price(view.side.value, px)
                    out += self._trade(view, remaining, fill_px, TAKER, tick)
                continue
            # a limit (post-only too) fills only when the market trades through its price:
            # this venue keeps no book, so the queue ahead of it at its price is unknown
            if not trades_through(view.side, view.price, px):
                continue
            if left is not None and left <= 0:
                break
            qty = remaining if left is None else min(left, remaining)
            if left is not None:
                left -= qty
            out += self._trade(view, qty, view.price, MAKER, tick)
        return out

    def _seen(self, cid: str) -> tuple[int, int]:
        row = self._db.execute(
            "SELECT seen_ts, seen_n FROM orders WHERE client_order_id = ?", (cid,)
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def _trade(
        self,
        view: VenueOrder,
        qty: Decimal,
        price: Decimal,
        liquidity: str,
        tick: tuple[int, int],
    ) -> list[Fill]:
        """One fill of a resting order: trade, order and its watermark in one transaction."""
        inst = self.instruments[view.instrument_id]
        fee = self.costs.fee_for(price * qty, liquidity)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            n = int(
                self._db.execute(
                    "SELECT COUNT(*) FROM trades WHERE client_order_id = ?",
                    (view.client_order_id,),
                ).fetchone()[0]
            )
            trade_id = f"{view.venue_order_id}-{n + 1}"
            row = (
                trade_id,
                view.client_order_id,
                view.instrument_id,
                view.side.value,
                str(qty),
                str(price),
                str(fee),
                inst.quote,
                tick[0],
            )
            fill = _fill_of(row)
            self._db.execute("INSERT INTO trades VALUES (?,?,?,?,?,?,?,?,?)", row)
            filled = view.filled_qty + qty
            notional = (view.avg_price or Decimal(0)) * view.filled_qty + price * qty
            status = OrderStatus.FILLED if filled >= view.quantity else OrderStatus.PARTIALLY_FILLED
            self._db.execute(
                "UPDATE orders SET status = ?, filled_qty = ?, avg_price = ?, seen_ts = ?, "
                "seen_n = ? WHERE client_order_id = ?",
                (status.value, str(filled), str(notional / filled), tick[0], tick[1],
                 view.client_order_id),
            )  # fmt: skip
            self._db.execute("COMMIT")
        except Exception:
            self._db.execute("ROLLBACK")
            raise
        if status is OrderStatus.FILLED:
            self._resting[view.instrument_id].discard(view.client_order_id)
        done = self._fetch_cid(view.client_order_id)
        if done is not None:
            self.publish(done)
        return [fill]

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
        if request.type not in (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP):
            raise VenueError(
                self.name,
                f"the durable paper venue takes market, limit, post-only and stop orders, "
                f"not {request.type.value}",
                retryable=False,
                code="invalid_order",
            )
        if request.type is not OrderType.MARKET and request.price is None:
            raise VenueError(
                self.name,
                f"a {request.type.value} order needs its price",
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
        outcome = _arrival(request, last)
        if outcome == "rest" or outcome == "reject":
            status = OrderStatus.ACCEPTED if outcome == "rest" else OrderStatus.REJECTED
            return self._insert(request, status, ts, None, None)
        try:
            if request.type is OrderType.LIMIT:  # crosses on arrival: a taker, never past L
                slipped = self.costs.fill_price(request.side.value, last)
                assert request.price is not None
                price = (min if request.side is Side.BUY else max)(slipped, request.price)
            else:
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
        return self._insert(request, OrderStatus.FILLED, ts, price, fee)

    def _insert(
        self,
        request: OrderRequest,
        status: OrderStatus,
        ts: int,
        price: Decimal | None,
        fee: Decimal | None,
    ) -> VenueOrder:
        """The order (and its one trade when `price` is given) and the counter, in one
        transaction: the exchange never half-fills, and two sessions sharing this venue (two
        processes) never draw the same order id."""
        inst = self.instruments[request.instrument_id]
        tick = self._tick.get(request.instrument_id, (ts, 0))
        self._db.execute("BEGIN IMMEDIATE")
        try:
            vid = f"D{self.counter('orders') + 1}"
            filled = request.quantity if price is not None else Decimal(0)
            self._db.execute(
                f"INSERT INTO orders ({_ORDER_FIELDS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    request.client_order_id,
                    vid,
                    request.instrument_id,
                    request.side.value,
                    str(request.quantity),
                    status.value,
                    str(filled),
                    None if price is None else str(price),
                    ts,
                    request.type.value,
                    None if request.price is None else str(request.price),
                    request.time_in_force.value,
                    tick[0],
                    tick[1],
                ),
            )
            if price is not None:
                self._db.execute(
                    "INSERT INTO trades VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        f"{vid}-1",
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
        if status.is_open:
            self._resting.setdefault(request.instrument_id, set()).add(request.client_order_id)
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
        """Cancel a resting order (its fills so far stay); a finished order is returned as
        it is."""
        await self.throttle("cancel")
        order = self._fetch(client_order_id=client_order_id, venue_order_id=venue_order_id)
        if order is None:
            raise VenueError(self.name, "unknown order", retryable=False, code="unknown_order")
        if order.status.is_open:
            self._db.execute(
                "UPDATE orders SET status = ? WHERE client_order_id = ?",
                (OrderStatus.CANCELED.value, order.client_order_id),
            )
            self._resting.get(order.instrument_id, set()).discard(order.client_order_id)
            order = self._fetch_cid(order.client_order_id)
            assert order is not None
            self.publish(order)
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

    def _fetch_cid(self, cid: str) -> VenueOrder | None:
        return self._fetch(client_order_id=cid)

    def _fetch(
        self, *, client_order_id: str | None = None, venue_order_id: str | None = None
    ) -> VenueOrder | None:
        if client_order_id is not None:
            row = self._db.execute(
                f"SELECT {_ORDER_FIELDS} FROM orders WHERE client_order_id = ?",
                (client_order_id,),
            ).fetchone()
        else:
            row = self._db.execute(
                f"SELECT {_ORDER_FIELDS} FROM orders WHERE venue_order_id = ?", (venue_order_id,)
            ).fetchone()
        return None if row is None else _view(row)

    async def fetch_open_orders(self, instrument_id: str | None = None) -> list[VenueOrder]:
        await self.throttle("open_orders")
        views = self._open_views()
        return [v for v in views if instrument_id is None or v.instrument_id == instrument_id]

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

    def credit_funding(self, payment: VenueFunding) -> None:
        """The paper account is credited exactly what the session booked (it has no funding of
        its own), kept in the file: `funding_payments` gives it back, across restarts too."""
        self._db.execute(
            "INSERT OR IGNORE INTO funding VALUES (?, ?, ?, ?, ?)",
            (
                payment.instrument_id, int(payment.ts), str(payment.amount),
                None if payment.rate is None else str(payment.rate),
                None if payment.position is None else str(payment.position),
            ),
        )  # fmt: skip

    async def funding_payments(
        self, instrument_id: str, since_ns: int | None = None
    ) -> list[VenueFunding] | None:
        await self.throttle("my_trades")
        rows = self._db.execute(
            "SELECT ts, amount, rate, position FROM funding WHERE instrument_id = ? AND ts >= ?"
            " ORDER BY ts",
            (instrument_id, since_ns or 0),
        ).fetchall()
        return [
            VenueFunding(
                instrument_id, int(ts), Decimal(amount),
                None if rate is None else Decimal(rate),
                None if pos is None else Decimal(pos),
            )
            for ts, amount, rate, pos in rows
        ]  # fmt: skip

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
