"""Per-symbol and portfolio equity and exposure of a portfolio run, for the HTML report.

`PortfolioFrames` holds, on one time index: the portfolio's equity, its gross and net exposure
(fractions of equity), and per symbol the position (units), its value (position × close) and its
exposure (value / equity). It is built from

- a portfolio replay or backtest result (`replay_frames`): everything is in the result;
- a portfolio session in the ledger (`session_frames`): equity, gross and net from the equity
  snapshots, positions from the fills; per-symbol values need each symbol's closes, rebuilt from
  the session's recorded feed when it is a capture (`capture:A,B` or `replay:FILE,FILE`: the
  same aligned bars the session built) — a websocket feed's bars are not in the ledger, so its
  per-symbol section shows positions only.

`Report.portfolio(frames)` (`nzeza.notebook.report`) renders them: two figures (portfolio and
per-symbol equity; per-symbol, gross and net exposure) and a per-symbol table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class PortfolioFrames:
    equity: pd.Series  # portfolio equity (quote currency)
    gross: pd.Series  # Σ |value| / equity
    net: pd.Series  # Σ value / equity
    positions: pd.DataFrame  # units per symbol
    values: pd.DataFrame | None  # position × close per symbol (None: no closes)
    exposure: pd.DataFrame | None  # value / equity per symbol
    title: str = "portfolio"

    def summary(self) -> pd.DataFrame:
        """One row per symbol: last position, last value and exposure, max |exposure|."""
        rows = []
        for sym in self.positions.columns:
            row: dict[str, Any] = {
                "symbol": sym,
                "position": float(self.positions[sym].iloc[-1]) if len(self.positions) else 0.0,
            }
            if self.values is not None and self.exposure is not None:
                row["value"] = float(self.values[sym].iloc[-1])
                row["exposure"] = float(self.exposure[sym].iloc[-1])
                row["max |exposure|"] = float(self.exposure[sym].abs().max())
            rows.append(row)
        rows.append(
            {
                "symbol": "portfolio",
                "position": np.nan,
                **(
                    {
                        "value": float(self.equity.iloc[-1]),
                        "exposure": float(self.net.iloc[-1]),
                        "max |exposure|": float(self.gross.max()),
                    }
                    if self.values is not None
                    else {}
                ),
            }
        )
        return pd.DataFrame(rows)

    def figures(self) -> list[Any]:
        import plotly.graph_objects as go

        eq = go.Figure()
        eq.add_trace(go.Scatter(x=self.equity.index, y=self.equity, name="portfolio"))
        if self.values is not None:
            for sym in self.values.columns:
                eq.add_trace(go.Scatter(x=self.values.index, y=self.values[sym], name=sym))
        eq.update_layout(
            title=f"{self.title}: portfolio equity and each symbol's position value",
            height=380,
            margin=dict(l=40, r=20, t=50, b=30),
        )
        ex = go.Figure()
        if self.exposure is not None:
            for sym in self.exposure.columns:
                ex.add_trace(go.Scatter(x=self.exposure.index, y=self.exposure[sym], name=sym))
        ex.add_trace(
            go.Scatter(x=self.gross.index, y=self.gross, name="gross", line=dict(dash="dot"))
        )
        ex.add_trace(go.Scatter(x=self.net.index, y=self.net, name="net", line=dict(dash="dash")))
        ex.update_layout(
            title=f"{self.title}: exposure (fraction of equity)",
            height=320,
            margin=dict(l=40, r=20, t=50, b=30),
        )
        return [eq, ex]


def replay_frames(result: Any, title: str = "portfolio") -> PortfolioFrames:
    """From a `PortfolioReplayResult` or a research `PortfolioResult`."""
    equity = result.equity.astype(float)
    exposure = result.exposure.astype(float)
    values = exposure.mul(equity, axis=0)
    return PortfolioFrames(
        equity=equity,
        gross=exposure.abs().sum(axis=1).rename("gross"),
        net=exposure.sum(axis=1).rename("net"),
        positions=result.positions.astype(float),
        values=values,
        exposure=exposure,
        title=title,
    )


def session_frames(
    ledger: Any, session_id: str, closes: pd.DataFrame | None = None
) -> PortfolioFrames:
    """From a portfolio session in the ledger; `closes` (per-symbol closes by bar start, UTC
    index) default to the bars rebuilt from the session's recorded capture feed, if any."""
    row = ledger.session(session_id)
    if row is None:
        from nzeza.errors import ValidationError

        raise ValidationError("session_id", session_id, "is not in the ledger")
    config = json.loads(row["config"] or "{}")
    symbols = list(config.get("symbols") or [])
    instruments = list(config.get("instruments") or [])
    curve = ledger.exposure_curve(session_id)
    index = pd.DatetimeIndex(
        pd.to_datetime([t for t, *_ in curve], unit="ns", utc=True), name="time"
    )
    equity = pd.Series([float(r[1]) for r in curve], index=index, name="equity")
    with np.errstate(divide="ignore", invalid="ignore"):
        gross = pd.Series([float(r[3]) for r in curve], index=index) / equity
        net = pd.Series([float(r[4]) for r in curve], index=index) / equity
    by_inst = dict(zip(instruments, symbols, strict=False))
    fills = ledger.fills(session_id)
    positions = pd.DataFrame(0.0, index=index, columns=pd.Index(symbols, name="symbol"))
    stamps = index.asi8
    # the fills of a rebalance decided at the close of bar D were made at one open: the first
    # trade of a later bar E (any symbol), so they are in the positions from E's close on. A
    # symbol's fill is priced (and stamped) at its own last trade, which may be older than E:
    # E is the later of the first bar after D and the bar of the rebalance's newest fill (off
    # only when no symbol traded in the bars right after D and the one that opened E did not
    # trade in the rebalance)
    decided = {i["client_order_id"]: i["bar_ts"] for i in ledger.intents(session_id)}
    tf = _tf(config)
    opened: dict[Any, int] = {}
    for fill in fills:
        d = decided.get(fill.order_id)
        first = fill.ts - fill.ts % tf if d is None else d + tf
        opened[d] = max(opened.get(d, first), fill.ts - fill.ts % tf, first)
    for fill in fills:
        sym = by_inst.get(fill.instrument_id)
        if sym is None:
            continue
        signed = float(fill.quantity) * (1 if fill.side.value == "buy" else -1)
        start = int(np.searchsorted(stamps, opened[decided.get(fill.order_id)], side="left"))
        positions.iloc[start:, positions.columns.get_loc(sym)] += signed
    if closes is None:
        closes = session_closes(config)
    values = exposure = None
    if closes is not None and len(index):
        aligned = closes.reindex(index, method="ffill")[symbols]
        values = positions * aligned
        exposure = values.div(equity, axis=0)
    return PortfolioFrames(
        equity, gross.rename("gross"), net.rename("net"), positions, values, exposure,
        title=session_id,
    )  # fmt: skip


def _tf(config: dict[str, Any]) -> int:
    return int(config.get("timeframe_ns") or 1)


def session_closes(config: dict[str, Any]) -> pd.DataFrame | None:
    """Each symbol's close per aligned bar, rebuilt from a recorded capture feed
    (`promotion.portfolio_divergence.session_panel`, as the session built its bars); None for a
    websocket feed, whose messages the ledger does not keep."""
    from nzeza.errors import ValidationError
    from nzeza.promotion.portfolio_divergence import session_panel
    from nzeza.strategies.portfolio import panel_field

    if len(config.get("symbols") or []) < 2:
        return None
    try:
        panel, _ = session_panel(config)
    except ValidationError:
        return None
    closes = panel_field(panel, "close")
    closes.columns = pd.Index(list(closes.columns))
    closes.index.name = "time"
    return closes


__all__ = ["PortfolioFrames", "replay_frames", "session_closes", "session_frames"]
