"""Portfolio parity: the engine's portfolio replay against `backtest_portfolio`, order for order.

Both run the same strategy on the same panel and costs; every filled order is compared (time,
symbol and side exactly; size, fill price and fees to a relative tolerance), and the equity at
every bar. A strategy whose windowed replay disagrees with the backtest looks ahead or needs
more history than its `warmup` says (e.g. a calendar rule whose trailing window of `warmup`
rows spans a hole in the data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nzeza.domain import Costs

COMPARED_ORDERS = ["time", "symbol", "side", "size", "price", "fees"]


@dataclass
class PortfolioParityReport:
    strategy: str
    params: dict[str, Any]
    bars: int
    symbols: list[str]
    research_orders: int
    engine_orders: int
    research_final_equity: float
    engine_final_equity: float
    equity_rel_diff: float  # the largest over every bar
    max_size_rel_diff: float
    max_price_rel_diff: float
    max_fee_rel_diff: float
    mismatches: list[str] = field(default_factory=list)
    tolerance: float = 1e-9
    table: pd.DataFrame | None = None

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def __str__(self) -> str:
        head = "PARITY OK" if self.ok else "PARITY FAILED"
        lines = [
            f"{head}: {self.strategy} {self.params} on {self.bars} bars of "
            f"{', '.join(self.symbols)} (portfolio, shared cash)",
            f"  orders      research {self.research_orders:6d}   engine {self.engine_orders:6d}",
            f"  final eq.   research {self.research_final_equity:,.6f}   "
            f"engine {self.engine_final_equity:,.6f}   max rel diff over bars "
            f"{self.equity_rel_diff:.2e}",
            f"  max rel diff: size {self.max_size_rel_diff:.2e}, price "
            f"{self.max_price_rel_diff:.2e}, fees {self.max_fee_rel_diff:.2e} "
            f"(tolerance {self.tolerance:.0e})",
        ]
        lines += [f"  ✗ {m}" for m in self.mismatches[:10]]
        return "\n".join(lines)


def _rel(a: np.ndarray, b: np.ndarray, floor: float = 1e-300) -> float:
    if len(a) == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), floor)))


def compare_orders(
    research: pd.DataFrame, engine: pd.DataFrame, tolerance: float
) -> tuple[list[str], float, float, float]:
    """What differs between two order tables (research `orders` columns), and the max relative
    differences of size, price and fees."""
    out: list[str] = []
    if len(research) != len(engine):
        out.append(f"order count differs: research {len(research)} vs engine {len(engine)}")
    n = min(len(research), len(engine))
    r, e = research.iloc[:n].reset_index(drop=True), engine.iloc[:n].reset_index(drop=True)
    for col in ("time", "symbol", "side"):
        a, b = r[col].astype(str).to_numpy(), e[col].astype(str).to_numpy()
        if col == "time":
            a = pd.to_datetime(r[col], utc=True).to_numpy()
            b = pd.to_datetime(e[col], utc=True).to_numpy()
        bad = np.flatnonzero(a != b)
        if len(bad):
            out.append(
                f"{col} differs at order {bad[0]}: {r[col].iloc[bad[0]]} vs {e[col].iloc[bad[0]]}"
            )
    size = _rel(r["size"].to_numpy(float), e["size"].to_numpy(float))
    price = _rel(r["price"].to_numpy(float), e["price"].to_numpy(float))
    # fees relative to the order's notional (a fee of 0 has no relative difference of its own)
    notional = np.maximum(np.abs(r["size"].to_numpy(float) * r["price"].to_numpy(float)), 1e-300)
    fees = (
        float(np.max(np.abs(r["fees"].to_numpy(float) - e["fees"].to_numpy(float)) / notional))
        if n
        else 0.0
    )
    for name, diff in (("sizes", size), ("prices", price), ("fees", fees)):
        if diff > tolerance:
            out.append(f"{name} differ by {diff:.2e} relative")
    return out, size, price, fees


def compare_portfolio(
    strategy: Any,
    panel: pd.DataFrame,
    costs: Costs | None = None,
    init_cash: float = 10_000.0,
    windowed: bool = False,
    tolerance: float = 1e-9,
    progress: bool = False,
) -> PortfolioParityReport:
    """`backtest_portfolio` and `replay_portfolio` on the same panel and costs, compared."""
    from nzeza.engine.portfolio_replay import replay_portfolio
    from nzeza.research.portfolio import backtest_portfolio

    costs = costs or Costs()
    research = backtest_portfolio(strategy, panel, costs, init_cash)
    engine = replay_portfolio(
        strategy, panel, costs, init_cash, windowed=windowed, progress=progress
    )
    ro, eo = research.orders, engine.orders
    mismatches, size, price, fees = compare_orders(ro, eo, tolerance)
    r_eq = research.equity.to_numpy(float)
    e_eq = engine.equity.to_numpy(float)
    eq_diff = _rel(r_eq, e_eq)
    if eq_diff > tolerance:
        bar = int(np.argmax(np.abs(r_eq - e_eq) / np.maximum(np.abs(r_eq), 1e-300)))
        mismatches.append(
            f"equity differs by {eq_diff:.2e} relative (first worst at {panel.index[bar]})"
        )
    n = min(len(ro), len(eo))
    table = (
        pd.concat(
            {
                "research": ro.iloc[:n].reset_index(drop=True),
                "engine": eo.iloc[:n].reset_index(drop=True),
            },
            axis=1,
        )
        if n
        else None
    )
    return PortfolioParityReport(
        strategy=type(strategy).__name__,
        params=dict(getattr(strategy, "params", {}) or {}),
        bars=len(panel),
        symbols=list(research.symbols),
        research_orders=len(ro),
        engine_orders=len(eo),
        research_final_equity=float(r_eq[-1]),
        engine_final_equity=float(e_eq[-1]),
        equity_rel_diff=eq_diff,
        max_size_rel_diff=size,
        max_price_rel_diff=price,
        max_fee_rel_diff=fees,
        mismatches=mismatches,
        tolerance=tolerance,
        table=table,
    )


__all__ = [
    "COMPARED_ORDERS",
    "PortfolioParityReport",
    "compare_orders",
    "compare_portfolio",
]
