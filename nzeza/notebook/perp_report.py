"""What a perpetual session did with funding and margin, read back from the ledger.

`perp_session_frames(ledger, session_id)` gathers, for a session whose instrument is a
perpetual (its recorded config has a `perp` section): every funding payment (`funding` rows:
time, position, mark, rate, amount; paid < 0, received > 0), the liquidations, and margin usage
at each bar close from the equity snapshots: initial margin in use / equity = gross exposure
(|position| × close) / leverage / equity, the measure `backtest_perp` reports as
`max_margin_usage`. `Report.perp_session` renders them (`nzeza paper|live --perp ...
--html PATH`); the backtest's own report is `research.plots.perp_figure`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd


@dataclass
class PerpSessionFrames:
    """A perpetual session's funding, liquidations and margin usage (quote currency)."""

    session_id: str
    venue_terms: dict[str, Any]  # the recorded perp terms: leverage, max leverage, mmr, interval
    funding: pd.DataFrame  # index ts (UTC): position, mark, rate, amount
    liquidations: pd.DataFrame
    margin: pd.Series  # margin usage per bar close (fraction; 0 when flat)

    @property
    def paid(self) -> float:
        return float(-self.funding.loc[self.funding["amount"] < 0, "amount"].sum())

    @property
    def received(self) -> float:
        return float(self.funding.loc[self.funding["amount"] > 0, "amount"].sum())

    def summary(self) -> pd.DataFrame:
        max_margin = float(self.margin.max()) if len(self.margin) else 0.0
        return pd.DataFrame(
            [
                {
                    "leverage": str(self.venue_terms.get("leverage")),
                    "funding payments": len(self.funding),
                    "funding paid": self.paid,
                    "funding received": self.received,
                    "net funding": self.received - self.paid,
                    "liquidations": len(self.liquidations),
                    "max margin usage [%]": max_margin * 100,
                }
            ]
        )

    def figure(self) -> Any:
        """Margin usage per bar close and the cumulative funding, one above the other."""
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(
            rows=2,
            cols=1,
            shared_xaxes=True,
            subplot_titles=("margin usage [%]", "cumulative funding (+ received, − paid)"),
        )
        fig.add_trace(
            go.Scatter(x=self.margin.index, y=self.margin * 100, name="margin usage [%]"),
            row=1,
            col=1,
        )
        cum = self.funding["amount"].cumsum()
        fig.add_trace(
            go.Scatter(x=cum.index, y=cum, mode="lines+markers", line_shape="hv", name="funding"),
            row=2,
            col=1,
        )
        fig.update_layout(height=520, title=f"Perpetual session {self.session_id}")
        return fig


def perp_session_frames(ledger: Any, session_id: str) -> PerpSessionFrames | None:
    """The funding, liquidations and margin usage of `session_id` (None: not a perpetual
    session, or no such session)."""
    row = ledger.session(session_id)
    if row is None:
        return None
    config = json.loads(row.get("config") or "{}")
    terms = config.get("perp")
    if not terms:
        return None
    leverage = Decimal(str(terms.get("leverage") or 1))
    rows = ledger.funding_entries(session_id)
    index = pd.DatetimeIndex(pd.to_datetime([r["ts"] for r in rows], unit="ns", utc=True))
    funding = pd.DataFrame(
        {k: [float(r[k]) for r in rows] for k in ("position", "mark", "rate", "amount")},
        index=index.rename("ts"),
    )
    liq = pd.DataFrame(ledger.liquidations(session_id))
    if len(liq):
        liq["time"] = pd.to_datetime(liq.pop("ts"), unit="ns", utc=True)
        liq = liq[["time", "position", "entry_price", "collateral", "maintenance_rate", "price"]]
    times, margin = [], []
    for ts, equity, _cash, gross, _net in ledger.exposure_curve(session_id):
        times.append(ts)
        margin.append(float(gross / leverage / equity) if equity > 0 else float("inf"))
    margin_series = pd.Series(
        margin, index=pd.to_datetime(times, unit="ns", utc=True), name="margin_usage"
    )
    return PerpSessionFrames(session_id, terms, funding, liq, margin_series)


__all__ = ["PerpSessionFrames", "perp_session_frames"]
