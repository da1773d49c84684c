"""Divergence of a perpetual session: research is `backtest_perp`'s rule, not the spot backtest.

A paper (or live) session of a `Perpetual` (its record has a `perp` section: leverage,
maintenance margin rate, maximum leverage, funding interval) is measured against the
perpetual research rule (`nzeza.research.perp.simulate_perp`, the loop of `backtest_perp`,
without registering a trial) on the bars rebuilt from the session's feed, with

- the session's perpetual terms: its leverage and maintenance margin rate;
- the funding the session booked: each of its ledger `funding` rows is a funding time, its rate
  the funding series and its mark the mark series (research books them on its own position).

Beside the spot report's tracking error, missed and extra trades and slippage attribution, the
perpetual part compares funding paid and received and liquidations, session against research,
and checks every booked funding row: its amount must be −position × mark × rate (a tampered
amount or rate is named), and the net funding of the two may differ by at most the tracking
tolerance of the starting cash.

What it cannot see: a funding time the session never booked (it was flat then, or its funding
stream was silent) is not in the series, so research does not book it either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from nzeza.errors import ValidationError


@dataclass
class PerpDivergence:
    """The perpetual part of a session's divergence report (module docstring)."""

    leverage: float
    maintenance_margin_rate: float
    funding_times: int  # funding rows the session booked (the research funding series)
    session_funding_paid: float  # positive amounts, quote currency
    session_funding_received: float
    research_funding_paid: float
    research_funding_received: float
    session_liquidations: int
    research_liquidations: int
    # booked rows whose amount is not −position × mark × rate, as text (time and amounts)
    inconsistent: list[str] = field(default_factory=list)

    @property
    def session_funding(self) -> float:
        """Net funding of the session (+ received)."""
        return self.session_funding_received - self.session_funding_paid

    @property
    def research_funding(self) -> float:
        return self.research_funding_received - self.research_funding_paid

    @property
    def funding_gap(self) -> float:
        """Research net funding − session net funding (positive: the session did worse)."""
        return self.research_funding - self.session_funding

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out.update(
            session_funding=self.session_funding,
            research_funding=self.research_funding,
            funding_gap=self.funding_gap,
        )
        return out

    def lines(self) -> list[str]:
        return [
            f"  perpetual   {self.leverage:g}× (mmr {self.maintenance_margin_rate:g}), "
            f"{self.funding_times} funding times booked by the session",
            f"  funding     session paid {self.session_funding_paid:,.4f} received "
            f"{self.session_funding_received:,.4f}   research paid "
            f"{self.research_funding_paid:,.4f} received {self.research_funding_received:,.4f}"
            f"   gap {self.funding_gap:+,.4f}",
            f"  liquidations session {self.session_liquidations}, research "
            f"{self.research_liquidations}",
            *(f"  funding row {text}" for text in self.inconsistent),
        ]

    def problems(self, init_cash: float, tolerance: float) -> list[str]:
        """What fails the paper gate: an inconsistent funding row, net funding apart by more
        than `tolerance` of the starting cash, another number of liquidations."""
        out = [f"booked funding {text}" for text in self.inconsistent[:3]]
        if len(self.inconsistent) > 3:
            out.append(f"and {len(self.inconsistent) - 3} more inconsistent funding rows")
        if abs(self.funding_gap) > tolerance * init_cash:
            out.append(
                f"net funding {self.session_funding:+,.4f} booked by the session vs "
                f"{self.research_funding:+,.4f} in research (gap {self.funding_gap:+,.4f} > "
                f"{tolerance:.0e} of {init_cash:,.2f})"
            )
        if self.session_liquidations != self.research_liquidations:
            out.append(
                f"{self.session_liquidations} liquidations in the session, "
                f"{self.research_liquidations} in research"
            )
        return out


def off_history(
    ledger: Any, session_id: str, history: pd.Series | None, within_s: float = 60.0
) -> tuple[int, list[str]]:
    """The session's booked funding rates against a funding history (the one the promotion
    was judged on): how many booked times the history has (within `within_s` seconds: Binance
    stamps a funding time a few ms late), and each of those whose rate differs, as text."""
    if history is None or not len(history):
        return 0, []
    from nzeza.research.perp import funding_series

    rates = funding_series(history).sort_index()
    times = pd.DatetimeIndex(rates.index).as_unit("ns").asi8
    values = rates.to_numpy(dtype=float)
    checked, off = 0, []
    for row in ledger.funding_entries(session_id):
        ts = int(row["ts"])
        k = int(np.searchsorted(times, ts))
        near = [j for j in (k - 1, k) if 0 <= j < len(times)]
        if not near:
            continue
        j = min(near, key=lambda j: abs(int(times[j]) - ts))
        if abs(int(times[j]) - ts) > within_s * 1e9:
            continue
        checked += 1
        booked = float(row["rate"])
        if abs(booked - values[j]) > 1e-12 * max(1.0, abs(values[j])):
            when = pd.Timestamp(ts, unit="ns", tz="UTC")
            off.append(
                f"booked funding rate {row['rate']:f} at {when:%Y-%m-%d %H:%M:%S}, the funding "
                f"history has {values[j]:.10g}"
            )
    return checked, off


def is_perpetual(cfg: dict[str, Any]) -> bool:
    """Did the session trade a perpetual (its record has a `perp` section)?"""
    return bool(cfg.get("perp"))


def session_perpetual(cfg: dict[str, Any]) -> tuple[Any, float]:
    """The `Perpetual` a session traded (its symbol on the research grid, its recorded
    maintenance terms and funding interval) and its leverage."""
    from nzeza.domain import Perpetual
    from nzeza.engine.runner import session_instrument

    rec = cfg["perp"]
    try:
        leverage = Decimal(str(rec["leverage"]))
        mmr = Decimal(str(rec["maintenance_margin_rate"]))
        top = Decimal(str(rec["max_leverage"]))
    except (KeyError, ArithmeticError) as exc:
        raise ValidationError("perp", rec, f"is not a perpetual session record ({exc})") from None
    inst = session_instrument(str(cfg.get("symbol") or "BTCUSDT"))
    spec = Perpetual.of(
        inst,
        max_leverage=top,
        maintenance_margin_rate=mmr,
        funding_interval_hours=int(rec.get("funding_interval_hours") or 8),
    )
    return spec, float(spec.check_leverage(leverage))


def booked_funding(ledger: Any, session_id: str) -> tuple[pd.Series | None, pd.Series | None]:
    """The session's funding rows as a `funding_rate` series and a mark series (UTC funding
    times); (None, None) when it booked none."""
    rows = ledger.funding_entries(session_id)
    if not rows:
        return None, None
    index = pd.to_datetime([int(r["ts"]) for r in rows], unit="ns", utc=True)
    rates = pd.Series([float(r["rate"]) for r in rows], index=index, name="funding_rate")
    marks = pd.Series([float(r["mark"]) for r in rows], index=index, name="mark")
    keep = ~index.duplicated(keep="first")
    return rates[keep], marks[keep]


def research_perp(
    targets: np.ndarray,
    bars: pd.DataFrame,
    costs: Any,
    init_cash: float,
    cfg: dict[str, Any],
    ledger: Any,
    session_id: str,
) -> Any:
    """`backtest_perp`'s loop on the session's bars: its leverage, maintenance terms and the
    funding it booked (a `PerpSimulation`, its `fills` shaped as the spot kernel's)."""
    from nzeza.research.perp import simulate_perp

    spec, leverage = session_perpetual(cfg)
    rates, marks = booked_funding(ledger, session_id)
    values = np.clip(np.asarray(targets, dtype=np.float64), -1.0, 1.0)
    return simulate_perp(values, bars, costs, float(init_cash), spec, leverage, rates, marks)


def perp_report(
    ledger: Any, session_id: str, cfg: dict[str, Any], sim: Any, bars: pd.DataFrame, last_ns: int
) -> PerpDivergence:
    """Funding and liquidations of session `session_id` and of research `sim` up to the last
    compared bar (`last_ns`, its start)."""
    spec, leverage = session_perpetual(cfg)
    end = last_ns + (int(bars.index[1].value - bars.index[0].value) if len(bars) > 1 else 0)
    rows = [r for r in ledger.funding_entries(session_id) if int(r["ts"]) < end]
    inconsistent = []
    for r in rows:
        due = -r["position"] * r["mark"] * r["rate"]
        if abs(r["amount"] - due) > Decimal("1e-9") * max(Decimal(1), abs(due)):
            when = pd.Timestamp(int(r["ts"]), unit="ns", tz="UTC")
            inconsistent.append(
                f"at {when:%Y-%m-%d %H:%M:%S} is {r['amount']:f}, but −position × mark × rate "
                f"= −{r['position']:f} × {r['mark']:f} × {r['rate']:f} = {due:f}"
            )
    amounts = [float(r["amount"]) for r in rows]
    research = [
        float(a)
        for a, ts in zip(sim.funding["amount"], sim.funding["ts"], strict=True)
        if int(ts) < end
    ]
    last_bar = (
        int(np.searchsorted(pd.DatetimeIndex(bars.index).as_unit("ns").asi8, last_ns, side="right"))
        - 1
    )
    liquidations = [r for r in ledger.liquidations(session_id) if int(r.get("ts") or 0) < end]
    return PerpDivergence(
        leverage=leverage,
        maintenance_margin_rate=float(spec.maintenance_margin_rate),
        funding_times=len(rows),
        session_funding_paid=-sum(a for a in amounts if a < 0),
        session_funding_received=sum(a for a in amounts if a > 0),
        research_funding_paid=-sum(a for a in research if a < 0),
        research_funding_received=sum(a for a in research if a > 0),
        session_liquidations=len(liquidations),
        research_liquidations=sum(1 for liq in sim.liquidations if liq["bar"] <= last_bar),
        inconsistent=inconsistent,
    )


__all__ = [
    "PerpDivergence",
    "booked_funding",
    "is_perpetual",
    "off_history",
    "perp_report",
    "research_perp",
    "session_perpetual",
]
