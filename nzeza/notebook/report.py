"""A single-file HTML report: sections of text, tables and plotly figures.

The first figure carries plotly.js inline so the file opens offline; later figures reuse it.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import pandas as pd

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;
margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}
pre{background:#f7f7f7;padding:.6rem;overflow-x:auto;font-size:.85rem}
.pass{color:#137333;font-weight:600}.fail{color:#b3261e;font-weight:600}
"""


class Report:
    """Collects sections in order; `write(path)` renders them into one HTML file."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._parts: list[str] = []
        self._plotly_included = False

    def heading(self, text: str) -> None:
        self._parts.append(f"<h2>{html.escape(text)}</h2>")

    def text(self, text: str) -> None:
        self._parts.append(f"<p>{html.escape(text)}</p>")

    def pre(self, text: str) -> None:
        self._parts.append(f"<pre>{html.escape(text)}</pre>")

    def table(self, frame: pd.DataFrame, float_format: str = "{:,.4f}") -> None:
        shown = frame.copy()
        for col in shown.columns:
            if pd.api.types.is_float_dtype(shown[col]):
                shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else float_format.format(v))
        self._parts.append(shown.to_html(index=False, escape=True, border=0))

    def gates(self, lines: list[tuple[str, bool, str]]) -> None:
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td class={'pass' if ok else 'fail'}>"
            f"{'PASS' if ok else 'FAIL'}</td><td style='text-align:left'>"
            f"{html.escape(detail)}</td></tr>"
            for name, ok, detail in lines
        )
        self._parts.append(f"<table><tr><th>gate</th><th></th><th>why</th></tr>{rows}</table>")

    def divergence(self, report: Any, fills: int = 10) -> None:
        """A session against the research backtest of the same bars (a
        `nzeza.promotion.DivergenceReport`): the summary, the attribution of the gap, and the
        first `fills` fills with their realised slippage and latency."""
        self._parts.append("<h3>Divergence from research</h3>")
        self.pre(str(report))
        rows = [{"component": c, "quote currency": float(v)} for c, v in report.attribution.items()]
        rows.append({"component": "gap (research − session)", "quote currency": report.gap})
        self.table(pd.DataFrame(rows))
        table = getattr(report, "fill_table", None)
        if table is not None and len(table):
            cols = ["ts", "side", "quantity", "reference", "market", "price", "fee"]
            cols += ["slippage_bps", "latency_ms"]
            self.table(table[cols].head(fills).astype({"ts": str}))

    def portfolio(self, frames: Any) -> None:
        """A portfolio run (`nzeza.notebook.portfolio_report.PortfolioFrames`): portfolio and
        per-symbol equity, per-symbol, gross and net exposure, and a per-symbol table."""
        self.heading(f"Portfolio: {frames.title}")
        for fig in frames.figures():
            self.figure(fig)
        if frames.values is None:
            self.text(
                "Per-symbol values need each symbol's bars: this session's feed was a websocket, "
                "whose messages the ledger does not keep (positions and portfolio exposure shown)."
            )
        self.table(frames.summary())

    def perp_session(self, frames: Any) -> None:
        """A perpetual session (`nzeza.notebook.perp_report.PerpSessionFrames`): funding paid
        and received, liquidations, margin usage over time, and the funding payments."""
        self.heading(f"Perpetual: funding and margin of session {frames.session_id}")
        self.table(frames.summary(), float_format="{:,.6f}")
        self.figure(frames.figure())
        if len(frames.funding):
            table = frames.funding.reset_index()
            table["ts"] = table["ts"].astype(str)
            self.table(table, float_format="{:,.8g}")
        else:
            self.text("No funding payment booked (flat at every funding time, or no stream).")
        if len(frames.liquidations):
            self.table(frames.liquidations.astype({"time": str}))

    def figure(self, fig: Any) -> None:
        self._parts.append(fig.to_html(full_html=False, include_plotlyjs=not self._plotly_included))
        self._plotly_included = True

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "\n".join(self._parts)
        doc = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>"
            f"{html.escape(self.title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1>{body}</body></html>"
        )
        tmp = path.with_suffix(".tmp")
        tmp.write_text(doc, encoding="utf-8")
        os.replace(tmp, path)
        return path


__all__ = [
    "Report",
]
