"""The session dashboard: ledger and metrics of a running or finished session, as frames,
plotly figures and an ipywidgets panel that refreshes itself."""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

import pandas as pd

from nzeza.notebook.widgets import display_bundle
from nzeza.ops.metrics import BREAKER_STATES as _BREAKER
from nzeza.ops.metrics import WS_STATES as _WS
from nzeza.store import Ledger


def _ts(ns: Any) -> pd.Timestamp:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC")


def session_frames(ledger: Ledger, session_id: str) -> dict[str, pd.DataFrame]:
    """Positions, orders, fills, equity and risk events of one session, as DataFrames."""
    positions = pd.DataFrame(
        [
            {"instrument": k, **{f: float(v) for f, v in p.items()}}
            for k, p in ledger.positions(session_id).items()
        ],
        columns=["instrument", "quantity", "avg_entry_price", "realized_pnl", "fees"],
    )
    orders = pd.DataFrame(ledger.orders(session_id))
    if not orders.empty:
        orders["updated"] = orders.pop("updated_ns").map(_ts)
        orders = orders[
            [
                "client_order_id",
                "side",
                "order_type",
                "quantity",
                "status",
                "filled_qty",
                "avg_fill_price",
                "updated",
            ]
        ]
    fills = pd.DataFrame([f.to_dict() for f in ledger.fills(session_id)])
    if not fills.empty:
        fills["time"] = fills.pop("ts").map(_ts)
        for col in ("quantity", "price", "fee"):
            fills[col] = fills[col].astype(float)
    curve = ledger.equity_curve(session_id)
    equity = pd.Series(
        [float(e) for _, e in curve],
        index=pd.DatetimeIndex([_ts(t) for t, _ in curve], name="time"),
        name="equity",
        dtype=float,
    )
    risk = pd.DataFrame(ledger.risk_events(session_id))
    if not risk.empty:
        risk["time"] = risk.pop("ts").map(_ts)
        risk = risk[["time", "check_name", "limit_value", "value", "detail"]]
    return {
        "positions": positions,
        "orders": orders,
        "fills": fills,
        "equity": equity.to_frame(),
        "risk_events": risk,
    }


def session_summary(ledger: Ledger, session_id: str) -> dict[str, Any]:
    row = ledger.session(session_id)
    if row is None:
        raise KeyError(f"no session {session_id!r} in the ledger")
    curve = ledger.equity_curve(session_id)
    init = json.loads(row["initial_balances"]).get(row["currency"], "0")
    last = curve[-1][1] if curve else Decimal(init)
    peak, max_dd = Decimal(init), Decimal(0)
    for _, e in curve:
        peak = max(peak, e)
        if peak > 0:
            max_dd = max(max_dd, (peak - e) / peak)
    return {
        "session": session_id,
        "mode": row["mode"],
        "status": row["status"],
        "strategy": row["strategy"],
        "params": json.loads(row["params"]),
        "fills": len(ledger.fills(session_id)),
        "risk_events": len(ledger.risk_events(session_id)),
        "initial_equity": float(Decimal(init)),
        "equity": float(last),
        "return_pct": float((last / Decimal(init) - 1) * 100) if Decimal(init) else 0.0,
        "max_drawdown_pct": float(max_dd * 100),
    }


def read_metrics(url: str, timeout: float = 2.0) -> dict[str, float]:
    """Scrape a `/metrics` endpoint into {metric{labels}: value} (empty if unreachable)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def equity_figure(equity: pd.Series, title: str = "equity") -> Any:
    """Equity and drawdown, stacked (plotly)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from nzeza.research.plots import thin

    dd = thin(equity / equity.cummax() - 1) if len(equity) else equity
    equity = thin(equity)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.03
    )
    fig.add_trace(go.Scatter(x=equity.index, y=equity.values, name="equity"), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=dd.index, y=dd.values * 100, name="drawdown %", fill="tozeroy"), row=2, col=1
    )
    fig.update_layout(
        title=title,
        height=450,
        margin={"l": 40, "r": 10, "t": 40, "b": 30},
        template="plotly_white",
    )
    return fig


WS_STATES = {v: k for k, v in _WS.items()}
BREAKER_STATES = {v: k for k, v in _BREAKER.items()}


def health_frame(
    metrics: dict[str, float], risk_events: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Feed health and breaker state, one row per component: from a `/metrics` scrape and the
    ledger's risk events (a daily-loss or kill-switch event means that breaker tripped)."""
    rows: list[dict[str, Any]] = []

    def venue_of(key: str) -> str:
        inside = key[key.find("{") + 1 : key.rfind("}")] if "{" in key else ""
        labels = dict(p.split("=", 1) for p in inside.split(",") if "=" in p)
        return labels.get("venue") or labels.get("name") or "-"

    for key, value in sorted(metrics.items()):
        venue = venue_of(key)
        if key.startswith("nzeza_ws_state"):
            rows.append({"component": f"feed {venue}", "state": WS_STATES.get(int(value), value)})
        elif key.startswith("nzeza_circuit_breaker_state"):
            rows.append(
                {"component": f"circuit {venue}", "state": BREAKER_STATES.get(int(value), value)}
            )
        elif key.startswith(("nzeza_ws_reconnects_total", "nzeza_feed_parse_errors_total")):
            what = "reconnects" if "reconnects" in key else "parse errors"
            rows.append({"component": f"feed {venue} {what}", "state": int(value)})
        elif key.startswith("nzeza_feed_messages_total"):
            rows.append({"component": f"feed {venue} messages", "state": int(value)})
    trips = (
        risk_events[risk_events["check_name"].isin(["daily_loss", "kill_switch"])]
        if risk_events is not None and len(risk_events)
        else None
    )
    rows.append(
        {
            "component": "risk breaker",
            "state": (
                f"tripped ({trips.iloc[-1]['check_name']} at {trips.iloc[-1]['time']})"
                if trips is not None and len(trips)
                else "not tripped"
            ),
        }
    )
    return pd.DataFrame(rows, columns=["component", "state"])


class Dashboard:
    """An ipywidgets panel over one session; `refresh()` re-reads ledger and metrics.

    `start(interval)` refreshes on a timer in the notebook's event loop (a running session
    writes the ledger; the dashboard only reads, so it never disturbs the session).
    """

    def __init__(self, ledger: Ledger, session_id: str, metrics_url: str | None = None) -> None:
        import ipywidgets as w

        self.ledger, self.session_id, self.metrics_url = ledger, session_id, metrics_url
        self.summary = w.HTML()
        self.tables = w.Output()
        self.button = w.Button(description="Refresh", icon="refresh")
        self.button.on_click(lambda _: self.refresh())
        self.widget = w.VBox([w.HBox([self.button, self.summary]), self.tables])
        self._task: asyncio.Task[None] | None = None

    def refresh(self) -> None:
        s = session_summary(self.ledger, self.session_id)
        metrics = read_metrics(self.metrics_url) if self.metrics_url else {}
        frames = session_frames(self.ledger, self.session_id)
        self.summary.value = (
            f"<b>{s['session']}</b> {s['mode']} · {s['status']} · equity {s['equity']:,.2f} "
            f"({s['return_pct']:+.2f}%) · max DD {s['max_drawdown_pct']:.2f}% · fills {s['fills']}"
            f" · risk events {s['risk_events']}"
        )
        # the Output widget's state, not captured display() calls: the same in JupyterLab,
        # under papermill/nbclient and in a headless test (see nzeza.notebook.widgets)
        shown: list[Any] = [
            health_frame(metrics, frames["risk_events"]),
            frames["positions"],
            frames["orders"].tail(10),
        ]
        if len(frames["equity"]):
            shown.append(equity_figure(frames["equity"]["equity"], f"{self.session_id} equity"))
        self.tables.outputs = tuple(display_bundle(x) for x in shown)

    def start(self, interval: float = 5.0) -> None:
        import asyncio

        async def loop() -> None:
            while True:
                self.refresh()
                await asyncio.sleep(interval)

        self._task = asyncio.get_event_loop().create_task(loop())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        self.refresh()
        display(self.widget)


__all__ = [
    "BREAKER_STATES",
    "WS_STATES",
    "Dashboard",
    "equity_figure",
    "health_frame",
    "read_metrics",
    "session_frames",
    "session_summary",
]
