"""Parity: the session engine's replay against the research backtest, trade for trade.

If the two disagree for a strategy that passes the lookahead check, one of them is wrong; if the
windowed replay disagrees with the full-history backtest, the strategy looks ahead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nzeza.domain import Costs

COMPARED = ["entry_time", "exit_time", "side", "entry_price", "exit_price", "size"]


@dataclass
class ParityReport:
    strategy: str
    params: dict[str, Any]
    bars: int
    research_trades: int
    engine_trades: int
    research_final_equity: float
    engine_final_equity: float
    equity_rel_diff: float
    max_price_rel_diff: float
    max_size_rel_diff: float
    mismatches: list[str] = field(default_factory=list)
    tolerance: float = 1e-9
    table: pd.DataFrame | None = None

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def __str__(self) -> str:
        head = "PARITY OK" if self.ok else "PARITY FAILED"
        lines = [
            f"{head}: {self.strategy} {self.params} on {self.bars} bars",
            f"  trades      research {self.research_trades:6d}   engine {self.engine_trades:6d}",
            f"  final eq.   research {self.research_final_equity:,.6f}   "
            f"engine {self.engine_final_equity:,.6f}   rel diff {self.equity_rel_diff:.2e}",
            f"  max rel diff: price {self.max_price_rel_diff:.2e}, "
            f"size {self.max_size_rel_diff:.2e} (tolerance {self.tolerance:.0e})",
        ]
        lines += [f"  ✗ {m}" for m in self.mismatches[:10]]
        return "\n".join(lines)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) == 0:
        return 0.0
    denom = np.maximum(np.abs(a), 1e-300)
    return float(np.max(np.abs(a - b) / denom))


def compare(
    strategy: Any,
    bars: pd.DataFrame,
    costs: Costs | None = None,
    init_cash: float = 10_000.0,
    windowed: bool = False,
    tolerance: float = 1e-9,
) -> ParityReport:
    """Run the research backtest and the engine replay on the same bars and costs; compare."""
    from nzeza.engine.replay import replay
    from nzeza.research import backtest

    costs = costs or Costs()
    research = backtest(strategy, bars, costs=costs, init_cash=init_cash)
    engine = replay(strategy, bars, costs, init_cash, windowed=windowed)
    rt = research.trades.reset_index(drop=True)
    et = engine.trades.reset_index(drop=True)
    if "status" in rt:
        rt = rt[rt["status"].astype(str).str.lower() != "open"].reset_index(drop=True)
    mismatches: list[str] = []
    if len(rt) != len(et):
        mismatches.append(f"trade count differs: research {len(rt)} vs engine {len(et)}")
    n = min(len(rt), len(et))
    price_diff = size_diff = 0.0
    if n:
        for col in ("entry_time", "exit_time"):
            a, b = (
                pd.to_datetime(rt[col].iloc[:n], utc=True),
                pd.to_datetime(et[col].iloc[:n], utc=True),
            )
            bad = np.flatnonzero(a.to_numpy() != b.to_numpy())
            if len(bad):
                mismatches.append(
                    f"{col} differs at trade {bad[0]}: {a.iloc[bad[0]]} vs {b.iloc[bad[0]]}"
                )
        sides = (
            rt["side"].iloc[:n].astype(str).str.lower().to_numpy()
            != et["side"].iloc[:n].astype(str).str.lower().to_numpy()
        )
        if sides.any():
            mismatches.append(f"side differs at trade {int(np.flatnonzero(sides)[0])}")
        price_diff = max(
            _rel(
                rt["entry_price"].iloc[:n].to_numpy(float),
                et["entry_price"].iloc[:n].to_numpy(float),
            ),
            _rel(
                rt["exit_price"].iloc[:n].to_numpy(float), et["exit_price"].iloc[:n].to_numpy(float)
            ),
        )
        size_diff = _rel(rt["size"].iloc[:n].to_numpy(float), et["size"].iloc[:n].to_numpy(float))
        if price_diff > tolerance:
            mismatches.append(f"prices differ by {price_diff:.2e} relative")
        if size_diff > tolerance:
            mismatches.append(f"sizes differ by {size_diff:.2e} relative")
    r_eq, e_eq = float(research.equity.iloc[-1]), float(engine.equity.iloc[-1])
    eq_diff = abs(r_eq - e_eq) / max(abs(r_eq), 1e-300)
    if eq_diff > tolerance:
        mismatches.append(f"final equity differs by {eq_diff:.2e} relative")
    table = (
        pd.concat({"research": rt[COMPARED].iloc[:n], "engine": et[COMPARED].iloc[:n]}, axis=1)
        if n
        else None
    )
    return ParityReport(
        strategy=type(strategy).__name__,
        params=dict(getattr(strategy, "params", {}) or {}),
        bars=len(bars),
        research_trades=len(rt),
        engine_trades=len(et),
        research_final_equity=r_eq,
        engine_final_equity=e_eq,
        equity_rel_diff=eq_diff,
        max_price_rel_diff=price_diff,
        max_size_rel_diff=size_diff,
        mismatches=mismatches,
        tolerance=tolerance,
        table=table,
    )
