"""Plotly figures for research results (a quant would rather look than read)."""

from __future__ import annotations

from typing import Any

import pandas as pd


def backtest_figure(result: Any, title: str | None = None) -> Any:
    """Price with entries/exits, equity, drawdown — one figure, shared time axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    bars, equity, trades = result.bars, result.equity, result.trades
    dd = equity / equity.cummax() - 1
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, row_heights=[0.45, 0.35, 0.2], vertical_spacing=0.02
    )
    fig.add_trace(
        go.Scattergl(x=bars.index, y=bars["close"], name="close", line={"width": 1}), row=1, col=1
    )
    if len(trades):
        longs = trades[trades["side"] == "long"]
        shorts = trades[trades["side"] == "short"]
        fig.add_trace(
            go.Scattergl(
                x=longs["entry_time"],
                y=longs["entry_price"],
                mode="markers",
                name="long entry",
                marker={"symbol": "triangle-up", "color": "green", "size": 7},
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scattergl(
                x=shorts["entry_time"],
                y=shorts["entry_price"],
                mode="markers",
                name="short entry",
                marker={"symbol": "triangle-down", "color": "red", "size": 7},
            ),
            row=1,
            col=1,
        )
    fig.add_trace(go.Scattergl(x=equity.index, y=equity.values, name="equity"), row=2, col=1)
    fig.add_trace(
        go.Scattergl(x=dd.index, y=dd.values * 100, name="drawdown %", fill="tozeroy"), row=3, col=1
    )
    name = title or f"{result.strategy!r}"
    fig.update_layout(
        title=name, height=650, template="plotly_white", margin={"l": 40, "r": 10, "t": 40, "b": 30}
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
