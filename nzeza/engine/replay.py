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
    Perpetual,
    Portfolio,
    Side,
)
from nzeza.domain.numbers import ZERO, to_decimal
from nzeza.engine.bars import bars_from_frame, frame_timestamps
from nzeza.engine.roundtrips import closed_only, open_only, trades_from_fills
from nzeza.engine.sizing import VolTargeting
from nzeza.engine.trader import Intent, Trader

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

    `perp` trades the bars as that perpetual (it is the instrument): targets × `leverage`,
    `funding` (a `funding_rate` series) booked at each funding time at `mark` (else the bar's
    close), and liquidation on the bar's range — the rule of `nzeza.research.perp`, in Decimal.
    """
    from nzeza.data.checks import check_bars

    check_bars(bars)  # sorted, unique, finite, positive, high/low consistent
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
        ledger.start_session(
            session_id,
            mode="replay",
            strategy=type(strategy).__name__,
            params=dict(getattr(strategy, "params", {}) or {}),
            venue="paper",
            currency=instrument.quote,
            initial_balances={instrument.quote: to_decimal(init_cash, "init_cash")},
        )
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
            if trader.pending is not None:
                intent = trader.intent_at(opens[i])
                if intent is not None:
                    fill = fill_at_open(
                        intent, opens[i], ts, costs, instrument, f"{session_id}-{intent.seq}"
                    )
                    order = None
                    if ledger is not None:
                        order = Order(
                            intent.client_order_id, instrument, Side(intent.side), intent.quantity
                        )
                        order.apply(OrderSubmitted(ts))
                        ledger.record_order(session_id, order, "submit")
                        order.apply(OrderFilled(fill))
                    trader.apply_fill(fill, order)
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
    "ReplayResult",
    "fill_at_open",
    "replay",
    "research_instrument",
]
