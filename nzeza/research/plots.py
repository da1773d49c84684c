"""Plotly figures for research results (a quant would rather look than read)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def bars_label(bars: pd.DataFrame, symbol: str | None = None) -> str:
    """What the bars are, for a chart title: symbol and timeframe from `bars.attrs` (set by the
    data loaders), else the sample name; `symbol` overrides."""
    attrs = getattr(bars, "attrs", {}) or {}
    name = symbol or attrs.get("symbol") or attrs.get("sample") or "unnamed bars"
    timeframe = attrs.get("timeframe")
    return f"{name} {timeframe}" if timeframe else str(name)


# marker per (side, entry|exit): entries point the way of the position, exits are crosses
_MARKERS = {
    ("long", "entry"): ("long entry", "triangle-up", "green"),
    ("long", "exit"): ("long exit", "x", "green"),
    ("short", "entry"): ("short entry", "triangle-down", "red"),
    ("short", "exit"): ("short exit", "x", "red"),
}


MAX_POINTS = 2_000  # per line trace: what a screen shows; a notebook stores kilobytes, not MBs


def thin(series: pd.Series, max_points: int = MAX_POINTS) -> pd.Series:
    """At most about `max_points` points of a line for a chart, keeping each bucket's lowest
    and highest value (peaks and drawdowns stay visible, unlike every k-th point), the first and
    the last. Short series are returned as they are."""
    n = len(series)
    if n <= max_points:
        return series
    values = series.to_numpy(dtype=float)
    size = -(-n // (max_points // 2))  # bucket length
    cut = n // size * size
    lows = np.where(np.isnan(values[:cut]), np.inf, values[:cut]).reshape(-1, size)
    highs = np.where(np.isnan(values[:cut]), -np.inf, values[:cut]).reshape(-1, size)
    offsets = np.arange(0, cut, size)
    keep = np.concatenate(
        [
            offsets + lows.argmin(axis=1),
            offsets + highs.argmax(axis=1),
            np.arange(cut, n),
            [0, n - 1],
        ]
    )
    return series.iloc[np.unique(keep)]


def backtest_figure(result: Any, title: str | None = None, symbol: str | None = None) -> Any:
    """Price with every trade's entry and exit, equity, drawdown — one figure, shared time
    axis. The title names the bars (symbol, timeframe) and the strategy (or `title`)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    bars, equity, trades = result.bars, result.equity, result.trades
    dd = thin(equity / equity.cummax() - 1)
    close = thin(bars["close"])
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, row_heights=[0.45, 0.35, 0.2], vertical_spacing=0.02
    )
    fig.add_trace(
        go.Scattergl(x=close.index, y=close.values, name="close", line={"width": 1}), row=1, col=1
    )
    for (side, leg), (name, marker, color) in _MARKERS.items():
        rows = trades[trades["side"] == side] if len(trades) else trades
        if leg == "exit" and len(rows):
            rows = rows[rows["status"] == "closed"]  # an open trade has no exit yet
        if not len(rows):
            continue
        fig.add_trace(
            go.Scattergl(
                x=rows[f"{leg}_time"],
                y=rows[f"{leg}_price"],
                mode="markers",
                name=name,
                marker={"symbol": marker, "color": color, "size": 8 if leg == "entry" else 7},
            ),
            row=1,
            col=1,
        )
    shown = thin(equity)
    fig.add_trace(go.Scattergl(x=shown.index, y=shown.values, name="equity"), row=2, col=1)
    fig.add_trace(
        go.Scattergl(x=dd.index, y=dd.values * 100, name="drawdown %", fill="tozeroy"), row=3, col=1
    )
    fig.update_layout(
        title=f"{bars_label(bars, symbol)} · {title or repr(result.strategy)}",
        height=650,
        template="plotly_white",
        margin={"l": 40, "r": 10, "t": 40, "b": 30},
    )
    return fig


def perp_figure(result: Any, title: str | None = None) -> Any:
    """A perpetual backtest: `backtest_figure`'s price (liquidations marked), equity and
    drawdown, then the funding paid and received (cumulative) and the margin usage."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    base = backtest_figure(result, title)
    fig = make_subplots(
        rows=5,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.36, 0.22, 0.12, 0.15, 0.15],
        vertical_spacing=0.02,
    )
    rows = {"y": 1, "y2": 2, "y3": 3}
    for trace in base.data:
        fig.add_trace(trace, row=rows.get(trace.yaxis or "y", 1), col=1)
    liq = result.liquidations
    if len(liq):
        fig.add_trace(
            go.Scattergl(
                x=liq["time"],
                y=liq["price"],
                mode="markers",
                name="liquidation",
                marker={"symbol": "x-thin-open", "color": "black", "size": 12},
            ),
            row=1,
            col=1,
        )
    funding = result.funding.cumsum()
    fig.add_trace(
        go.Scatter(x=funding.index, y=funding.values, name="funding (cumulative)",
                   line={"shape": "hv"}),
        row=4,
        col=1,
    )  # fmt: skip
    margin = thin(result.margin * 100)
    fig.add_trace(
        go.Scattergl(x=margin.index, y=margin.values, name="margin usage %", fill="tozeroy"),
        row=5,
        col=1,
    )
    fig.update_layout(
        title=f"{base.layout.title.text} · {result.spec.venue} perpetual {result.leverage:g}×",
        height=850,
        template="plotly_white",
        margin={"l": 40, "r": 10, "t": 40, "b": 30},
    )
    return fig


def portfolio_figure(result: Any, title: str | None = None) -> Any:
    """A portfolio backtest: equity, each symbol's exposure (position value / equity) and the
    drawdown — one figure, shared time axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    equity = result.equity
    dd = thin(equity / equity.cummax() - 1)
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, row_heights=[0.45, 0.35, 0.2], vertical_spacing=0.02
    )
    shown = thin(equity)
    fig.add_trace(go.Scattergl(x=shown.index, y=shown.values, name="equity"), row=1, col=1)
    for sym in result.symbols:
        exp = thin(result.exposure[sym])
        fig.add_trace(
            go.Scattergl(x=exp.index, y=exp.values, name=f"{sym} exposure", line={"width": 1}),
            row=2,
            col=1,
        )
    fig.add_trace(
        go.Scattergl(x=dd.index, y=dd.values * 100, name="drawdown %", fill="tozeroy"), row=3, col=1
    )
    attrs = getattr(result.bars, "attrs", {}) or {}
    label = f"{attrs.get('sample') or 'panel'} {attrs.get('timeframe') or ''}".strip()
    fig.update_layout(
        title=f"{label} ({', '.join(result.symbols)}) · {title or repr(result.strategy)}",
        height=650,
        template="plotly_white",
        margin={"l": 40, "r": 10, "t": 40, "b": 30},
    )
    return fig


def heatmap(frame: pd.DataFrame, x: str, y: str, value: str = "sharpe", title: str = "") -> Any:
    """A 2-parameter sweep as a heatmap of `value` (other parameters: best over them)."""
    import plotly.graph_objects as go

    pivot = frame.pivot_table(index=y, columns=x, values=value, aggfunc="max")
    fig = go.Figure(
        go.Heatmap(
            z=pivot.values,
            x=pivot.columns,
            y=pivot.index,
            colorscale="RdYlGn",
            zmid=0,
            colorbar={"title": value},
        )
    )
    fig.update_layout(
        title=title or f"{value} by {x} × {y}",
        xaxis_title=x,
        yaxis_title=y,
        template="plotly_white",
        height=450,
    )
    return fig


__all__ = [
    "MAX_POINTS",
    "backtest_figure",
    "bars_label",
    "heatmap",
    "perp_figure",
    "portfolio_figure",
    "thin",
]
