"""Portfolio replay: a panel of historical bars through the portfolio session core.

`replay_portfolio` runs a `PortfolioStrategy` across every symbol of a panel in one session (one
ledger session, one position per instrument, one shared cash balance) with the `PortfolioTrader`
a paper session runs; only the clock (bar timestamps) and the venue (fills at the next open with
the research `Costs`) are swapped. Its `orders` and `equity` have the shape of
`nzeza.research.portfolio.PortfolioResult`'s, so the two compare order for order
(`nzeza.engine.portfolio_parity`).
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from nzeza.domain import (
    Costs,
    Fill,
    Instrument,
    Portfolio,
)
from nzeza.domain.numbers import ZERO, to_decimal
from nzeza.engine.portfolio_risk import PortfolioRiskGate, portfolio_risk_config
from nzeza.engine.rebalance import PortfolioTrader
from nzeza.engine.replay import fill_replayed, research_instrument, start_replay_session
from nzeza.engine.roundtrips import trades_from_fills

if TYPE_CHECKING:
    from nzeza.ops.risksettings import RiskSettings
    from nzeza.risk import RiskConfig
    from nzeza.store import Ledger

ORDER_COLUMNS = ["time", "symbol", "side", "size", "price", "fees"]


@dataclass
class PortfolioReplayResult:
    """What `replay_portfolio` returns: every filled order (the research `orders` columns), the
    equity per bar, per-symbol positions and exposure, and the fills."""

    orders: pd.DataFrame
    equity: pd.Series
    positions: pd.DataFrame  # units per symbol at each close
    exposure: pd.DataFrame  # position value / equity per symbol at each close
    fills: list[Fill]
    symbols: list[str]
    session_id: str
    intents: int
    refused: list[dict[str, Any]]  # orders the risk check refused or clipped, with the reason
    instruments: dict[str, Instrument]

    @property
    def final_equity(self) -> float:
        return float(self.equity.iloc[-1])

    def trades(self, symbol: str, mark: float | None = None) -> pd.DataFrame:
        """One symbol's round-trip trades (the single-symbol trade table)."""
        inst_id = self.instruments[symbol].id
        mine = [f for f in self.fills if f.instrument_id == inst_id]
        last = self.positions.index[-1] if len(self.positions) else None
        return trades_from_fills(
            mine,
            None if mark is None else to_decimal(mark, "mark"),
            None if last is None else int(last.value),
        )


def panel_instruments(symbols: list[str], venue: str = "replay") -> dict[str, Instrument]:
    """A research-grid instrument per panel symbol (`BTC` → `replay:BTC/USD`)."""
    return {s: research_instrument(f"{s}/USD", venue) for s in symbols}


def replay_portfolio(
    strategy: Any,
    panel: pd.DataFrame,
    costs: Costs | None = None,
    init_cash: float = 10_000.0,
    *,
    instruments: dict[str, Instrument] | None = None,
    ledger: Ledger | None = None,
    session_id: str | None = None,
    windowed: bool = False,
    progress: bool = False,
    equity_every: int = 24,
    batch_bars: int = 5000,
    risk: RiskSettings | RiskConfig | None = None,
) -> PortfolioReplayResult:
    """Run a portfolio strategy over `panel` through the session core.

    `windowed=True` feeds the strategy its trailing `warmup` panel rows at every aligned close
    (what a session does); `windowed=False` computes the weights once on the whole panel (valid
    for a strategy without lookahead; `nzeza parity` runs both). `risk` (the
    settings' risk section, whose portfolio limits `portfolio_risk_config` takes, or a
    `RiskConfig`) runs a `PortfolioRiskGate` on each order before it is journaled: a refused
    order is journaled as rejected, a clipped one trades its allowed size; both are in
    `refused` and the ledger's risk events, with every limit set looser than its default. Off
    by default, as for single-symbol replay (research parity).
    """
    from nzeza.research.portfolio import check_panel

    symbols = check_panel(panel)
    costs = costs or Costs()
    instruments = instruments or panel_instruments(symbols)
    quote = next(iter(instruments.values())).quote
    session_id = session_id or f"replay-{uuid.uuid4().hex[:8]}"
    portfolio = Portfolio(quote, {quote: init_cash}, list(instruments.values()))
    if ledger is not None:
        record = {"symbols": symbols, "portfolio": True}
        start_replay_session(ledger, session_id, strategy, quote, init_cash, record)
    gate = None
    if risk is not None:
        from nzeza.ops.risksettings import RiskSettings

        config = portfolio_risk_config(risk) if isinstance(risk, RiskSettings) else risk
        gate = PortfolioRiskGate(
            instruments, portfolio, config=config, costs=costs, ledger=ledger, session_id=session_id
        )
        if ledger is not None and isinstance(risk, RiskSettings):
            from nzeza.engine.lifecycle import record_loosened

            record_loosened(ledger, session_id, risk, to_decimal(init_cash, "init_cash"))
    weights = None if windowed else strategy.weights(panel)
    trader = PortfolioTrader(
        strategy,
        instruments,
        costs,
        portfolio,
        session_id=session_id,
        ledger=ledger,
        precomputed_weights=weights,
    )
    n, k = len(panel), len(symbols)
    index = panel.index
    ts_list = index.asi8.tolist()
    o = np.column_stack([panel[(s, "open")].to_numpy(np.float64) for s in symbols])
    closes_f = pd.DataFrame(
        np.column_stack([panel[(s, "close")].to_numpy(np.float64) for s in symbols])
    )
    c = closes_f.ffill().bfill().to_numpy()
    fields = ("open", "high", "low", "close", "volume")
    rows = {
        s: np.column_stack(
            [
                panel[(s, f)].to_numpy(np.float64) if (s, f) in panel.columns else np.zeros(n)
                for f in fields
            ]
        )
        for s in symbols
    }
    equity = np.empty(n)
    positions = np.zeros((n, k))
    pos_f = [0.0] * k
    fills: list[Fill] = []
    refused: list[dict[str, Any]] = []
    col = {s: j for j, s in enumerate(symbols)}
    steps = tqdm(range(n), disable=not progress, desc="replay", unit="bar", total=n)
    with contextlib.ExitStack() as blocks:
        for i in steps:
            if ledger is not None and i % batch_bars == 0:
                blocks.close()
                blocks.enter_context(ledger.batch())
            ts = ts_list[i]
            opens = {
                s: (None if np.isnan(o[i, j]) else float(o[i, j])) for j, s in enumerate(symbols)
            }
            plan = trader.rebalance_at(ts, opens)
            if plan is not None:
                for sym, weight in plan.due:
                    sized = trader.size_next(sym, weight, plan.value)
                    if sized is None:
                        continue
                    qty = sized.quantity
                    if gate is not None:
                        verdict = gate.decide(sym, sized.side, qty, trader.last_open, ts)
                        if verdict.reason is not None:
                            refused.append(
                                {
                                    "time": index[i],
                                    "symbol": sym,
                                    "side": sized.side,
                                    "asked": float(qty),
                                    "allowed": float(verdict.quantity),
                                    "reason": verdict.reason,
                                }
                            )
                        qty = verdict.quantity
                        if qty <= ZERO:  # journaled as rejected: never sent, never resent
                            trader.journal(
                                sym, sized.side, sized.quantity, sized.reference_price, weight,
                                plan.decided_at, status="rejected",
                            )  # fmt: skip
                            continue
                    inst = instruments[sym]
                    intent = trader.journal(
                        sym, sized.side, qty, sized.reference_price, weight, plan.decided_at
                    )
                    fill = fill_replayed(
                        intent, qty, float(o[i, col[sym]]), ts, costs, inst, trader, ledger,
                        session_id,
                    )  # fmt: skip
                    fills.append(fill)
                    pos_f[col[sym]] = float(portfolio.snapshot().position(inst.id).quantity)
            bars = {s: rows[s][i] for s in symbols if not np.isnan(rows[s][i][3])}
            trader.on_bar_close(ts, {s: dict(zip(fields, r, strict=True)) for s, r in bars.items()})
            cash_f = float(portfolio.snapshot().cash)
            equity[i] = cash_f + sum(p * c[i, j] for j, p in enumerate(pos_f) if p != 0)
            positions[i] = pos_f
            if ledger is not None and (i % equity_every == 0 or i == n - 1):
                marks = {s: to_decimal(float(c[i, j]), "close") for j, s in enumerate(symbols)}
                eq, gross, net = trader.marks_value(marks)
                ledger.record_equity(session_id, ts, eq, portfolio.snapshot().cash, gross, net)
            if ledger is not None and ((i + 1) % batch_bars == 0 or i == n - 1):
                ledger.mark_bar(session_id, ts)
    if ledger is not None:
        ledger.set_session_status(session_id, "finished", reason="replay finished")
    cols = pd.Index(symbols, name="symbol")
    pos_frame = pd.DataFrame(positions, index=index, columns=cols)
    eq = pd.Series(equity, index=index, name="equity")
    exposure = (pos_frame * c).div(eq, axis=0).where(pos_frame != 0, 0.0)
    return PortfolioReplayResult(
        orders=orders_frame(fills, index, symbols, instruments),
        equity=eq,
        positions=pos_frame,
        exposure=exposure,
        fills=fills,
        symbols=symbols,
        session_id=session_id,
        intents=trader.seq,
        refused=refused,
        instruments=instruments,
    )


def orders_frame(
    fills: list[Fill], index: pd.DatetimeIndex, symbols: list[str], instruments: dict
) -> pd.DataFrame:
    """Fills as the research `orders` table: time, symbol, side, size, price, fees (floats)."""
    by_id = {inst.id: sym for sym, inst in instruments.items()}
    tz = index.tz
    return pd.DataFrame(
        {
            "time": pd.DatetimeIndex(pd.to_datetime([f.ts for f in fills], unit="ns", utc=True))
            .tz_convert(tz)
            .rename(None),
            "symbol": pd.Series([by_id[f.instrument_id] for f in fills], dtype=object),
            "side": pd.Series([str(f.side.value) for f in fills], dtype=object),
            "size": [float(f.quantity) for f in fills],
            "price": [float(f.price) for f in fills],
            "fees": [float(f.fee) for f in fills],
        },
        columns=ORDER_COLUMNS,
    )


__all__ = [
    "ORDER_COLUMNS",
    "PortfolioReplayResult",
    "orders_frame",
    "panel_instruments",
    "replay_portfolio",
]
