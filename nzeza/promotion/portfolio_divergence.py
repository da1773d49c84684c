"""Divergence of a portfolio session: a recorded multi-symbol paper or live session against the
research backtest (`nzeza.research.portfolio`, shared cash) of the panel rebuilt from its feed.

The panel is rebuilt as the session built it: every symbol's trades of the recorded feed
(`capture:NAME,NAME` or `replay:FILE,FILE`, one per symbol) merged in time order into aligned
bars (`nzeza.engine.aligned.AlignedBars`: a quiet symbol gets a flat bar at its last close).
The portfolio strategy's weights on that panel are backtested under the research costs, and
compared with the session as the single-symbol report does (`nzeza.promotion.divergence`):

- **portfolio**: final equity of both, the tracking error (max |session − research| / research
  over the bars both have), the session's annualised Sharpe;
- **per symbol**: the tracking error of the symbol's position value (max |session units −
  research units| × close / research equity), its orders matched by (decision bar, symbol,
  side) — missed, extra — and its realised slippage against the market price at fill time;
- **fills** and the **attribution** of the gap (slippage, fees, latency, trades) over every
  symbol's fills.

The report is a `DivergenceReport` (the paper gate reads the same fields; its trade counts are
summed over the symbols) with the per-symbol table in `symbols`.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

import numpy as np
import pandas as pd

from nzeza.errors import ValidationError
from nzeza.promotion.divergence import (
    DivergenceReport,
    fill_row,
    report_fields,
    session_equity,
)

SYMBOL_COLUMNS = [
    "tracking_error",
    "research_orders",
    "session_orders",
    "matched",
    "missed",
    "extra",
    "fills",
    "realised_slippage_bps",
]


@dataclass
class PortfolioDivergenceReport(DivergenceReport):
    """A `DivergenceReport` of a portfolio session with one row per symbol in `symbols`."""

    symbols: pd.DataFrame | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.pop("symbols", None)
        table = self.symbols if self.symbols is not None else pd.DataFrame()
        out["per_symbol"] = {
            str(sym): {k: _num(v) for k, v in row.items()}
            for sym, row in table.astype(object).iterrows()
        }
        return out

    def __str__(self) -> str:
        lines = [super().__str__(), "  per symbol"]
        if self.symbols is not None:
            for sym, r in self.symbols.iterrows():
                lines.append(
                    f"    {sym:<10} tracking error {r['tracking_error']:.2e}   orders research "
                    f"{int(r['research_orders'])}, session {int(r['session_orders'])}: "
                    f"{int(r['matched'])} matched, {int(r['missed'])} missed, {int(r['extra'])} "
                    f"extra   {int(r['fills'])} fills, slippage "
                    f"{r['realised_slippage_bps']:.2f} bps"
                )
        return "\n".join(lines)


def _num(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def session_panel(cfg: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """The aligned OHLCV panel a portfolio session built from its recorded feed, and each
    symbol's trade prices (time-indexed), or a `ValidationError` for an unrecorded feed."""
    from nzeza.engine.aligned import AlignedBars
    from nzeza.engine.portfolio_runner import symbol_feeds
    from nzeza.feeds.capture import read_capture
    from nzeza.feeds.events import Trade

    feed, symbols = cfg.get("feed"), list(cfg.get("symbols") or [])
    if not isinstance(feed, str) or not feed.startswith(("capture:", "replay:")):
        raise ValidationError(
            "feed",
            feed,
            "the session's trades were not recorded (only capture:NAME,... and replay:FILE,... "
            "feeds can be rebuilt); record each symbol's feed with `nzeza feed record`",
        )
    specs = symbol_feeds(feed, symbols)
    tf = int(cfg.get("timeframe_ns") or 0)

    def trades(i: int, spec: Any) -> Any:
        parse = import_module(f"nzeza.feeds.{spec.venue or 'binance'}").parse
        for path in spec.paths:
            for recv_ns, raw in read_capture(path):
                for ev in parse(raw, recv_ns):
                    if type(ev) is Trade and ev.symbol == spec.symbol:
                        yield (ev.ts_ns or 0, i, ev)

    agg = AlignedBars(symbols, tf)
    rows: dict[tuple[int, str], dict[str, float]] = {}
    prices: dict[str, list[tuple[int, float]]] = {s: [] for s in symbols}
    streams = [trades(i, spec) for i, spec in enumerate(specs)]
    for ts, i, trade in heapq.merge(*streams, key=lambda t: (t[0], t[1])):
        sym = symbols[i]
        for start, bars in agg.on_trade(sym, trade.price, trade.size, ts):
            for s, bar in bars.items():
                rows[(start, s)] = bar
        prices[sym].append((ts, float(trade.price)))
    if not rows:
        raise ValidationError("feed", feed, "holds no trade of the session's symbols")
    starts = sorted({start for start, _ in rows})
    index = pd.DatetimeIndex(pd.to_datetime(starts, unit="ns", utc=True), name="time")
    cols = pd.MultiIndex.from_product([symbols, ["open", "high", "low", "close", "volume"]])
    panel = pd.DataFrame(np.nan, index=index, columns=cols)
    pos = {start: k for k, start in enumerate(starts)}
    for (start, sym), bar in rows.items():
        for name, value in bar.items():
            panel.iat[pos[start], panel.columns.get_loc((sym, name))] = value
    series = {
        s: pd.Series(
            [p for _, p in ps], index=pd.to_datetime([t for t, _ in ps], unit="ns", utc=True)
        ).sort_index(kind="stable")
        for s, ps in prices.items()
    }
    return panel, series


def portfolio_divergence(
    ledger: Any,
    session_id: str,
    row: dict[str, Any],
    cfg: dict[str, Any],
    strategy: Any,
    costs: Any,
) -> PortfolioDivergenceReport:
    """Compare the portfolio session `session_id` with the research backtest of its panel
    (module docstring); `costs` are research's."""
    from nzeza.research.portfolio import run_vectorbt
    from nzeza.strategies.portfolio import panel_field

    timeframe = str(cfg.get("timeframe", "?"))
    tf_ns = int(cfg.get("timeframe_ns") or 0)
    init_cash = float(cfg.get("init_cash", 10_000.0))
    symbols = list(cfg.get("symbols") or [])
    by_inst = dict(zip(cfg.get("instruments") or [], symbols, strict=False))
    panel, prices = session_panel(cfg)
    if len(panel) < 2:
        raise ValidationError("session", session_id, "its feed has fewer than two bars")

    # research: the shared-cash backtest of the strategy's weights on this panel
    weights = strategy.weights(panel)
    pf = run_vectorbt(panel, weights, costs, init_cash)
    research = pd.Series(pf.value().to_numpy(np.float64), index=panel.index)
    held = pd.DataFrame(pf.assets().to_numpy(np.float64), index=panel.index, columns=symbols)
    rec = pf.orders.values

    equity = session_equity(ledger, session_id, research)
    both, last_ns = equity.both, equity.last_ns

    # orders by (decision bar, symbol, side)
    r_orders = {
        (int(panel.index[b - 1].value), symbols[c], "buy" if s == 0 else "sell")
        for b, c, s in zip(rec["idx"], rec["col"], rec["side"], strict=True)
        if b >= 1 and int(panel.index[b - 1].value) < last_ns
    }
    intents = {i["client_order_id"]: i for i in ledger.intents(session_id)}
    fills = [f for f in ledger.fills(session_id) if f.ts <= last_ns + tf_ns]
    s_orders: set[tuple[int, str, str]] = set()
    units = pd.DataFrame(0.0, index=both.index, columns=symbols)
    rows = []
    for f in fills:
        sym = by_inst.get(f.instrument_id)
        if sym is None:
            continue
        intent = intents.get(f.order_id)
        bar_ts = int(intent["bar_ts"]) if intent is not None else f.ts // tf_ns * tf_ns - tf_ns
        if bar_ts < last_ns:
            s_orders.add((bar_ts, sym, str(f.side)))
        signed = float(f.quantity) if f.side == "buy" else -float(f.quantity)
        held_from = int(np.searchsorted(units.index.asi8, bar_ts + tf_ns, side="left"))
        units.iloc[held_from:, units.columns.get_loc(sym)] += signed
        ref = float(
            panel[(sym, "open")].get(pd.Timestamp(bar_ts + tf_ns, unit="ns", tz="UTC"), math.nan)
        )
        market = float(prices[sym].asof(pd.Timestamp(int(f.ts), unit="ns", tz="UTC")))
        rows.append(fill_row(f, bar_ts, tf_ns, ref, market, costs, symbol=sym))
    table = pd.DataFrame(rows)

    # per symbol: position value tracking, orders, slippage
    closes = panel_field(panel, "close").reindex(both.index).ffill()
    gap_units = (units - held.reindex(both.index)).abs() * closes
    per_symbol = []
    for sym in symbols:
        mine_r = {o for o in r_orders if o[1] == sym}
        mine_s = {o for o in s_orders if o[1] == sym}
        mine = table[table["symbol"] == sym] if len(table) else table
        notional = float((mine["market"] * mine["quantity"]).sum()) if len(mine) else 0.0
        slip = (
            float((mine["slippage_bps"] * mine["market"] * mine["quantity"]).sum() / notional)
            if notional
            else 0.0
        )
        per_symbol.append(
            {
                "symbol": sym,
                "tracking_error": float((gap_units[sym] / both["research"].abs()).max()),
                "research_orders": len(mine_r),
                "session_orders": len(mine_s),
                "matched": len(mine_r & mine_s),
                "missed": len(mine_r - mine_s),
                "extra": len(mine_s - mine_r),
                "fills": len(mine),
                "realised_slippage_bps": slip,
            }
        )
    sym_table = pd.DataFrame(per_symbol).set_index("symbol")[SYMBOL_COLUMNS]

    return PortfolioDivergenceReport(
        **report_fields(
            session_id,
            row,
            f"{row['strategy']} {row['params']} on {', '.join(symbols)}",
            timeframe,
            init_cash,
            costs,
            equity,
            table,
            tf_ns,
            (r_orders, s_orders),
        ),
        symbols=sym_table,
    )


def session_divergence(
    ledger: Any, session_id: str, *, strategy: Any = None, costs: Any = None
) -> DivergenceReport:
    """`divergence.divergence` of any session: a portfolio session's is
    `portfolio_divergence` (`strategy` and `costs` default to what the session recorded)."""
    from nzeza.domain import Costs
    from nzeza.promotion.divergence import divergence, session_config, session_strategy

    row, cfg = session_config(ledger, session_id)
    if not cfg.get("portfolio"):
        return divergence(ledger, session_id, strategy=strategy, costs=costs)
    strategy = strategy if strategy is not None else session_strategy(row, cfg)
    costs = costs or Costs(float(cfg.get("fee", 0.001)), float(cfg.get("slippage", 0.0005)))
    return portfolio_divergence(ledger, session_id, row, cfg, strategy, costs)


__all__ = [
    "PortfolioDivergenceReport",
    "portfolio_divergence",
    "session_divergence",
    "session_panel",
]
