"""Replay mode: historical bars through the full session core as fast as possible.

The loop is the same `Trader` a paper or live session runs; only the clock (bar timestamps) and
the venue (fills at the next bar's open with the research `Costs`) are swapped. The result has
`.trades` and `.equity` in the shape `nzeza.research.backtest` returns, so the two can be
compared trade for trade.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from nzeza.domain import (
    Costs,
    Fill,
    Instrument,
    Order,
    OrderFilled,
    OrderSubmitted,
    OrderType,
    Perpetual,
    Portfolio,
    Side,
    TimeInForce,
)
from nzeza.domain.costs import MAKER
from nzeza.domain.numbers import ZERO, to_decimal
from nzeza.engine.bars import bars_from_frame, frame_timestamps
from nzeza.engine.roundtrips import closed_only, open_only, trades_from_fills
from nzeza.engine.sizing import VolTargeting
from nzeza.engine.trader import Intent, Trader
from nzeza.errors import ValidationError
from nzeza.research.orders import FILL, REJECT, OrderPolicy, bar_outcome, order_price, policy_of

if TYPE_CHECKING:
    from nzeza.engine.perp import PerpAccount
    from nzeza.store import Ledger
    from nzeza.strategies.base import TargetStrategy


# A grid far finer than any float64 price or size difference the research side can express,
# so replay sizes are not rounded away from the backtest's (parity to 1e-9 relative).
RESEARCH_TICK = Decimal("1e-18")


def research_instrument(symbol: str = "BTC/USD", venue: str = "replay") -> Instrument:
    base, _, quote = symbol.partition("/")
    return Instrument(venue, symbol, base or "BASE", quote or "USD", RESEARCH_TICK, RESEARCH_TICK)


@dataclass
class ReplayResult:
    """What `replay` returns. `trades` and `equity` have the shape of `BacktestResult`'s:
    closed trades then the open one (`status` closed/open), equity per bar named "equity"."""

    trades: pd.DataFrame
    equity: pd.Series
    fills: list[Fill]
    session_id: str
    intents: int
    # limit, post-only or stop orders and their outcomes (empty for market orders)
    orders: list[dict] = field(default_factory=list)
    # a perpetual replay: funding booked per funding time (position, mark, rate, amount) and
    # the liquidations taken (None / empty otherwise)
    funding: pd.DataFrame | None = None
    liquidations: list[dict] = field(default_factory=list)

    @property
    def closed_trades(self) -> pd.DataFrame:
        return closed_only(self.trades)

    @property
    def open_trades(self) -> pd.DataFrame:
        return open_only(self.trades)

    @property
    def returns(self) -> pd.Series:
        return self.equity.pct_change().fillna(0.0).rename("returns")

    @property
    def final_equity(self) -> float:
        return float(self.equity.iloc[-1])


def fill_at_open(
    intent: Intent, open_price: float, ts: int, costs: Costs, instrument: Instrument, trade_id: str
) -> Fill:
    """The paper venue's bar-mode fill: next open × (1 ± slippage), fee on notional."""
    price = costs.fill_price(intent.side, to_decimal(open_price, "open"))
    return Fill(
        trade_id,
        intent.client_order_id,
        instrument.id,
        Side(intent.side),
        intent.quantity,
        price,
        costs.fee_for(intent.quantity * price),
        instrument.quote,
        ts,
    )


class BarOrders:
    """Replay's working limit, post-only or stop order (at most one), filled bar by bar by
    `nzeza.research.orders.bar_outcome` in Decimal: placed from the trader's decision at a
    close, alive `ttl` bars, replaced by the next decision; `orders` lists every outcome."""

    def __init__(
        self,
        policy: OrderPolicy,
        bars: pd.DataFrame,
        costs: Costs,
        instrument: Instrument,
        trader: Trader,
    ) -> None:
        self.policy = policy
        self.costs = costs
        self.instrument = instrument
        self.trader = trader
        self.n = len(bars)
        self.opens, self.highs, self.lows = (
            bars[c].to_numpy(dtype=np.float64).tolist() for c in ("open", "high", "low")
        )
        self.offset = to_decimal(policy.offset, "offset")
        self.work: dict | None = None
        self.orders: list[dict] = []

    def _close(self, status: str, bar: int) -> None:
        assert self.work is not None
        self.orders.append({**self.work["row"], "status": status, "bar": bar})
        self.work = None

    def at_bar(self, i: int, ts: int, ledger: Ledger | None, session_id: str) -> Fill | None:
        """This bar's outcome for the working order: the fill, or None."""
        w = self.work
        if w is not None and i > w["last"]:
            self._close("expired", w["last"])
            w = None
        if w is None:
            return None
        row = w["row"]
        d = to_decimal
        out = bar_outcome(
            row["kind"], row["side"], row["price"], d(self.opens[i], "open"),
            d(self.highs[i], "high"), d(self.lows[i], "low"), i == w["first"],
            self.costs.slippage_dec,
        )  # fmt: skip
        if out.status == REJECT:
            self._close("rejected", i)
            return None
        if out.status != FILL:
            return None
        trader = self.trader
        trader.pending = (w["target"], w["bar_ts"])
        maker = out.liquidity == MAKER
        rate = self.costs.maker_dec if maker else self.costs.fee_dec
        price = self.instrument.make_price(out.price)
        sized = trader.size_pending(out.reference, fill_price=price, fee_rate=rate)
        if sized is None or sized[0].side != row["side"]:
            self._close("cancelled", i)  # nothing left to trade at the fill
            return None
        order, target, bar_ts = sized
        intent = trader.journal(
            order.side, order.quantity, order.reference_price, target, bar_ts,
            order_type=row["kind"], price=row["price"],
        )  # fmt: skip
        fill = Fill(
            f"{session_id}-{intent.seq}", intent.client_order_id, self.instrument.id,
            Side(intent.side), intent.quantity, price,
            self.costs.fee_for(intent.quantity * price, out.liquidity), self.instrument.quote,
            ts, out.liquidity,
        )  # fmt: skip
        recorded = None
        if ledger is not None:
            recorded = self._order(intent.client_order_id, row, intent.quantity)
            recorded.apply(OrderSubmitted(ts))
            ledger.record_order(session_id, recorded, "submit")
            recorded.apply(OrderFilled(fill))
        trader.apply_fill(fill, recorded)
        self.orders.append({**row, "status": "filled", "bar": i, "fill": fill})
        self.work = None
        return fill

    def _order(self, cid: str, row: dict, quantity: Decimal) -> Order:
        side = Side(row["side"])
        if row["kind"] == "stop":
            return Order(cid, self.instrument, side, quantity, OrderType.STOP,
                         stop_price=row["price"])  # fmt: skip
        tif = TimeInForce.POST_ONLY if row["kind"] == "post_only" else TimeInForce.GTC
        return Order(cid, self.instrument, side, quantity, OrderType.LIMIT, row["price"],
                     time_in_force=tif)  # fmt: skip

    def after_close(self, i: int, close: float) -> None:
        """A decision taken at this close becomes the working order for the next bar."""
        trader = self.trader
        if trader.pending is None:
            return
        target, bar_ts = trader.pending
        trader.pending = None  # held here until a bar fills it
        if self.work is not None:
            self._close("cancelled", i)  # replaced by the new decision
        if i + 1 >= self.n:
            return
        snap = trader.portfolio.snapshot()
        pos = snap.position(self.instrument.id).quantity
        c = to_decimal(close, "close")
        value = snap.cash + pos * c if pos else snap.cash
        want = target * value / c - pos if value > 0 else ZERO
        if abs(want) <= _ABS_TOL:
            return
        side = "buy" if want > 0 else "sell"
        price = self.instrument.make_price(order_price(self.policy.kind, side, c, self.offset))
        row = {"decided_bar": i, "kind": self.policy.kind, "side": side, "price": price}
        self.work = {"row": row, "target": target, "bar_ts": bar_ts, "first": i + 1,
                     "last": i + self.policy.ttl}  # fmt: skip


_ABS_TOL = Decimal("1e-12")  # the kernel's zero (nzeza.research.kernel.ABS_TOL)


def start_replay_session(
    ledger: Ledger,
    session_id: str,
    strategy: Any,
    quote: str,
    init_cash: float,
    config: dict[str, Any] | None = None,
) -> None:
    """Open a replay's session in the ledger: mode `replay` on the paper venue, the
    strategy's class name and params, `init_cash` of the `quote` currency."""
    ledger.start_session(
        session_id,
        mode="replay",
        strategy=type(strategy).__name__,
        params=dict(getattr(strategy, "params", {}) or {}),
        venue="paper",
        currency=quote,
        initial_balances={quote: to_decimal(init_cash, "init_cash")},
        config=config,
    )


def fill_replayed(
    intent: Any,
    quantity: Decimal,
    open_price: float,
    ts: int,
    costs: Costs,
    instrument: Instrument,
    trader: Any,
    ledger: Ledger | None,
    session_id: str,
) -> Fill:
    """A replayed market order of `quantity` filled at the bar's open (`fill_at_open`),
    recorded as a submitted order when there is a ledger, and applied to the trader."""
    fill = fill_at_open(intent, open_price, ts, costs, instrument, f"{session_id}-{intent.seq}")
    order = None
    if ledger is not None:
        order = Order(intent.client_order_id, instrument, Side(intent.side), quantity)
        order.apply(OrderSubmitted(ts))
        ledger.record_order(session_id, order, "submit")
        order.apply(OrderFilled(fill))
    trader.apply_fill(fill, order)
    return fill


def replay(
    strategy: TargetStrategy,
    bars: pd.DataFrame,
    costs: Costs | None = None,
    init_cash: float = 10_000.0,
    *,
    instrument: Instrument | None = None,
    ledger: Ledger | None = None,
    session_id: str | None = None,
    windowed: bool = False,
    progress: bool = False,
    equity_every: int = 24,
    batch_bars: int = 5000,
    vol_targeting: VolTargeting | None = None,
    orders: OrderPolicy | None = None,
    perp: Perpetual | None = None,
    leverage: Any = 1,
    funding: pd.Series | pd.DataFrame | None = None,
    mark: pd.Series | None = None,
) -> ReplayResult:
    """Run `strategy` over `bars` through the session core.

    `windowed=True` feeds the strategy its trailing `warmup` bars at every closed bar (exactly
    what a live session does); `windowed=False` computes the targets once on the whole history
    (what backtesting.py does with its indicators) and is only valid for a strategy that passes
    the lookahead check — `nzeza parity` runs both. `vol_targeting` (off by default) scales
    each bar's target by the volatility rule of `nzeza.engine.sizing.VolTargeting`.
    `orders` (default: the strategy's `orders` attribute, else market) places limit,
    post-only or stop orders instead, filled by `nzeza.research.orders.bar_outcome` — the rule
    the backtest uses — with the maker or taker fee per fill.

    `perp` trades the bars as that perpetual (it is the instrument): targets × `leverage`,
    `funding` (a `funding_rate` series) booked at each funding time at `mark` (else the bar's
    close), and liquidation on the bar's range — the rule of `nzeza.research.perp`, in Decimal.
    """
    from nzeza.data.checks import check_bars

    check_bars(bars)  # sorted, unique, finite, positive, high/low consistent
    policy = policy_of(strategy, orders)
    if perp is not None and not policy.is_market:
        raise ValidationError(
            "orders", policy.kind, "a perpetual replay fills market orders only (as its backtest)"
        )
    costs = costs or Costs()
    lev = Decimal(1)
    events: list[tuple[int, int, float, float]] = []
    if perp is not None:
        from nzeza.research.perp import funding_at_bars, funding_series

        lev = perp.check_leverage(leverage)
        rates = None if funding is None else funding_series(funding)
        if mark is None and rates is not None:
            mark = rates.attrs.get("mark")  # a funding file's own marks, as research uses them
        events = funding_at_bars(pd.DatetimeIndex(bars.index), rates, mark)
        instrument = perp
    instrument = instrument or research_instrument()
    session_id = session_id or f"replay-{uuid.uuid4().hex[:8]}"
    portfolio = Portfolio(instrument.quote, {instrument.quote: init_cash}, [instrument])
    if ledger is not None:
        start_replay_session(ledger, session_id, strategy, instrument.quote, init_cash)
    targets = None if windowed else strategy.target(bars).reindex(bars.index).astype(float)
    trader = Trader(
        strategy,
        instrument,
        costs,
        portfolio,
        session_id=session_id,
        ledger=ledger,
        precomputed_targets=targets,
        vol_targeting=vol_targeting,
        leverage=lev,
    )
    account = None
    if perp is not None:
        from nzeza.engine.perp import PerpAccount

        account = PerpAccount(perp, costs, trader, session_id, ledger)
        highs = bars["high"].to_numpy(dtype=np.float64).tolist()
        lows = bars["low"].to_numpy(dtype=np.float64).tolist()
    ev = 0
    n = len(bars)
    ts_list = frame_timestamps(bars).tolist()
    opens = bars["open"].to_numpy(dtype=np.float64).tolist()
    closes = bars["close"].to_numpy(dtype=np.float64).tolist()
    # the strategy sees Bar objects only where it needs its window (windowed, vol targeting)
    bar_list = bars_from_frame(bars) if windowed or vol_targeting is not None else None
    equity = np.empty(n)
    fills: list[Fill] = []
    book = None if policy.is_market else BarOrders(policy, bars, costs, instrument, trader)
    # equity per bar in float from the cash and position the last fill left (both exact
    # Decimals in the portfolio); the ledger's equity snapshots are computed in Decimal
    cash_f, pos_f = float(portfolio.snapshot().cash), 0.0
    steps = tqdm(range(n), disable=not progress, desc="replay", unit="bar", total=n)
    with contextlib.ExitStack() as blocks:
        for i in steps:
            if ledger is not None and i % batch_bars == 0:
                blocks.close()  # group commit: one transaction per block of bars
                blocks.enter_context(ledger.batch())
            ts, close = ts_list[i], closes[i]
            if book is not None:
                filled = book.at_bar(i, ts, ledger, session_id)
                if filled is not None:
                    fills.append(filled)
                    snap = portfolio.snapshot()
                    cash_f = float(snap.cash)
                    pos_f = float(snap.position(instrument.id).quantity)
            elif trader.pending is not None:
                intent = trader.intent_at(opens[i])
                if intent is not None:
                    fill = fill_replayed(
                        intent, intent.quantity, opens[i], ts, costs, instrument, trader, ledger,
                        session_id,
                    )  # fmt: skip
                    fills.append(fill)
                    snap = portfolio.snapshot()
                    cash_f = float(snap.cash)
                    pos_f = float(snap.position(instrument.id).quantity)
            if account is not None:
                ev = _perp_bar(account, i, ts, lows[i], highs[i], close, events, ev, fills)
                snap = portfolio.snapshot()
                cash_f = float(snap.cash)
                pos_f = float(snap.position(instrument.id).quantity)
            if bar_list is None:
                trader.on_precomputed_close(ts)
            else:
                trader.on_bar_close(bar_list[i])
            if book is not None:
                book.after_close(i, close)
            equity[i] = cash_f + pos_f * close if pos_f else cash_f
            if ledger is not None and (i % equity_every == 0 or i == n - 1):
                # one instrument: exposure is the position's value at the close (Decimal)
                snap = portfolio.snapshot()
                qty = snap.position(instrument.id).quantity
                value = qty * to_decimal(close, "close") if qty else ZERO
                eq = snap.cash + value
                ledger.record_equity(session_id, ts, eq, snap.cash, abs(value), value)
            if ledger is not None and ((i + 1) % batch_bars == 0 or i == n - 1):
                ledger.mark_bar(session_id, ts)  # the resume point, committed with its block
    if ledger is not None:
        ledger.set_session_status(session_id, "finished", reason="replay finished")
    trades = trades_from_fills(
        fills, to_decimal(closes[-1], "close") if n else None, ts_list[-1] if n else None
    )
    result = ReplayResult(
        trades=trades,
        equity=pd.Series(equity, index=bars.index, name="equity"),
        fills=fills,
        session_id=session_id,
        intents=trader.seq,
        orders=[] if book is None else book.orders,
    )
    if account is not None:
        _perp_result(result, account)
    return result


def _perp_bar(
    account: PerpAccount,
    i: int,
    ts: int,
    low: float,
    high: float,
    close: float,
    events: list[tuple[int, int, float, float]],
    ev: int,
    fills: list[Fill],
) -> int:
    """After bar i's open: liquidation on its range, then its funding times (research.perp's
    order); returns the next funding event's position."""
    from nzeza.engine.perp import FundingEvent

    fill = account.check_liquidation(low, high, ts)
    if fill is not None:
        fills.append(fill)
    while ev < len(events) and events[ev][0] == i:
        _, at, rate, mark = events[ev]
        price = close if math.isnan(mark) else mark
        account.fund(FundingEvent(at, to_decimal(rate, "funding_rate"), to_decimal(price, "mark")))
        ev += 1
    return ev


def _perp_result(result: ReplayResult, account: PerpAccount) -> None:
    """Funding frame, liquidations and `exit_reason` on the trades (as research.perp has)."""
    rows = account.funding
    index = pd.DatetimeIndex(pd.to_datetime([r["ts"] for r in rows], unit="ns", utc=True))
    result.funding = pd.DataFrame(
        {k: [r[k] for r in rows] for k in ("position", "mark", "rate", "amount")},
        index=index.rename("ts"),
    )
    result.liquidations = list(account.liquidations)
    liq = {
        (pd.Timestamp(r["ts"], unit="ns", tz="UTC"), float(r["price"]))
        for r in account.liquidations
    }
    trades = result.trades
    reasons = [
        "open" if status == "open" else ("liquidation" if (t, float(p)) in liq else "signal")
        for t, p, status in zip(
            trades["exit_time"], trades["exit_price"], trades["status"], strict=True
        )
    ]
    result.trades = trades.assign(exit_reason=pd.Series(reasons, index=trades.index, dtype=object))


__all__ = [
    "RESEARCH_TICK",
    "BarOrders",
    "ReplayResult",
    "fill_at_open",
    "fill_replayed",
    "replay",
    "research_instrument",
    "start_replay_session",
]
