"""Parity: the session engine's replay against the research backtest, trade for trade.

If the two disagree for a strategy that passes the lookahead check, one of them is wrong; if the
windowed replay disagrees with the full-history backtest, the strategy looks ahead or needs more
history than its `warmup` says.

Why the windowed check calls the strategy once per bar (and cannot do fewer calls). A live
session acts on W_t = the last row of `strategy.target(X_t)`, X_t the trailing `warmup` bars
(the whole prefix before that many exist); research acts on F_t = `strategy.target(bars)`[t].
The engine's only input from the strategy is that sequence of targets, so the windowed replay
equals the backtest exactly when W_t = F_t (to the tolerance) at every bar. For a strategy known
only as code, no check with fewer calls can be equivalent: if some window X_t is never passed to
`target`, a strategy equal to this one on every frame that was passed but with another last
row on X_t (`if len(bars) == warmup and bars.index[-1] == t: ...`) gets the same verdict from
that check while its windowed replay differs. Calls on longer or shifted frames do not help for
the same reason (the last row is computed from that frame, not from X_t). So the gate keeps the
engine's own windowed replay — exactly what a session runs — and makes each step cheap instead:
the window's frame is built in about 15 µs (a prebuilt columns Index and a direct UTC index,
`engine.bars`), and the shipped strategies compute with `nzeza.strategies.indicators` (pandas'
own rolling kernels without pandas' ~50 µs of overhead per call), 30–80 µs a call. The gate
then runs at 7,900–12,600 bars/s on the shipped strategies (559 before; a strategy written with
pandas' `rolling` runs at about 2,400: its own overhead per operation is then most of the time).
`benchmarks/bench_research.py` measures it; `progress=True` shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nzeza.domain import Costs

if TYPE_CHECKING:
    from nzeza.strategies.base import TargetStrategy


# the side-by-side table's columns; the check also compares status, pnl and fees
COMPARED = ["entry_time", "exit_time", "side", "entry_price", "exit_price", "size"]


@dataclass
class ParityReport:
    strategy: str
    params: dict[str, Any]
    bars: int
    research_trades: int  # closed trades (the open one, if any, is compared too)
    engine_trades: int
    research_final_equity: float
    engine_final_equity: float
    equity_rel_diff: float
    max_price_rel_diff: float
    max_size_rel_diff: float
    max_pnl_rel_diff: float = 0.0  # |Δ pnl| and |Δ fees| relative to the trade's entry value
    mismatches: list[str] = field(default_factory=list)
    tolerance: float = 1e-9
    table: pd.DataFrame | None = None
    # a perpetual: funding payments (count, totals) and liquidations on both sides
    perp: dict[str, Any] | None = None

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
        if self.perp is not None:
            p = self.perp
            lines.append(
                f"  funding     research {p['research_payments']:6d} payments "
                f"{p['research_funding']:+,.6f}   engine {p['engine_payments']:6d} payments "
                f"{p['engine_funding']:+,.6f}   max rel diff {p['funding_rel_diff']:.2e}"
            )
            lines.append(
                f"  liquidations research {p['research_liquidations']}   "
                f"engine {p['engine_liquidations']}"
            )
        lines += [f"  ✗ {m}" for m in self.mismatches[:10]]
        return "\n".join(lines)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) == 0:
        return 0.0
    denom = np.maximum(np.abs(a), 1e-300)
    return float(np.max(np.abs(a - b) / denom))


def _max_diffs(rt: pd.DataFrame, et: pd.DataFrame) -> tuple[float, float, float]:
    """Max relative differences of prices, sizes, and pnl/fees (relative to entry value)."""
    if not len(rt):
        return 0.0, 0.0, 0.0
    col = lambda f, c: f[c].to_numpy(float)  # noqa: E731
    price = max(
        _rel(col(rt, "entry_price"), col(et, "entry_price")),
        _rel(col(rt, "exit_price"), col(et, "exit_price")),
    )
    size = _rel(col(rt, "size"), col(et, "size"))
    entry_value = np.maximum(np.abs(col(rt, "size") * col(rt, "entry_price")), 1e-300)
    pnl = max(float(np.max(np.abs(col(rt, c) - col(et, c)) / entry_value)) for c in ("pnl", "fees"))
    return price, size, pnl


def _differences(rt: pd.DataFrame, et: pd.DataFrame, tolerance: float) -> list[str]:
    """What differs between two aligned trade frames, beyond `tolerance` for numbers."""
    out: list[str] = []
    if not len(rt):
        return out
    for col in ("entry_time", "exit_time"):
        a, b = pd.to_datetime(rt[col], utc=True), pd.to_datetime(et[col], utc=True)
        bad = np.flatnonzero(a.to_numpy() != b.to_numpy())
        if len(bad):
            out.append(f"{col} differs at trade {bad[0]}: {a.iloc[bad[0]]} vs {b.iloc[bad[0]]}")
    for col in ("side", "status", "exit_reason"):
        if col not in rt.columns or col not in et.columns:
            continue
        differ = (
            rt[col].astype(str).str.lower().to_numpy() != et[col].astype(str).str.lower().to_numpy()
        )
        if differ.any():
            out.append(f"{col} differs at trade {int(np.flatnonzero(differ)[0])}")
    price, size, pnl = _max_diffs(rt, et)
    if price > tolerance:
        out.append(f"prices differ by {price:.2e} relative")
    if size > tolerance:
        out.append(f"sizes differ by {size:.2e} relative")
    if pnl > tolerance:
        out.append(f"pnl or fees differ by {pnl:.2e} of the entry value")
    return out


def compare(
    strategy: TargetStrategy,
    bars: pd.DataFrame,
    costs: Costs | None = None,
    init_cash: float = 10_000.0,
    windowed: bool = False,
    tolerance: float = 1e-9,
    progress: bool = False,
    orders: Any = None,
    perp: Any = None,
) -> ParityReport:
    """Run the research backtest and the engine replay on the same bars and costs; compare.
    `progress` shows the replay's progress bar (tqdm, on stderr); `orders` (an
    `OrderPolicy`, default the strategy's or market) is given to both. `perp` (a
    `research.perp.PerpSetup`): both trade the bars as that perpetual (`backtest_perp` and the
    engine's perpetual replay), and the funding payments (time by time, amounts to the
    tolerance) and the trades' exit reasons (liquidations) are compared too."""
    from nzeza.engine.replay import replay
    from nzeza.research import backtest

    costs = costs or Costs()
    research: Any
    if perp is not None:
        research = perp.backtest(strategy, bars, costs, init_cash)
        engine = replay(
            strategy, bars, costs, init_cash, windowed=windowed, progress=progress,
            perp=perp.spec, leverage=perp.leverage, funding=perp.funding, mark=perp.mark,
        )  # fmt: skip
    else:
        research = backtest(strategy, bars, costs=costs, init_cash=init_cash, orders=orders)
        engine = replay(
            strategy, bars, costs, init_cash, windowed=windowed, progress=progress, orders=orders
        )
    # every trade is compared, the open one (marked at the last close) included; the reported
    # maxima are over the closed trades
    rt = research.trades.reset_index(drop=True)
    et = engine.trades.reset_index(drop=True)
    mismatches: list[str] = []
    if list(et.columns) != list(rt.columns):
        mismatches.append(f"trade columns differ: {list(rt.columns)} vs {list(et.columns)}")
    if len(rt) != len(et):
        mismatches.append(f"trade count differs: research {len(rt)} vs engine {len(et)}")
    n = min(len(rt), len(et))
    rt, et = rt.iloc[:n], et.iloc[:n]
    mismatches += _differences(rt, et, tolerance)
    closed = (rt["status"].astype(str) == "closed").to_numpy() if n else np.zeros(0, bool)
    price_diff, size_diff, pnl_diff = _max_diffs(rt[closed], et[closed])
    table = pd.concat({"research": rt[COMPARED], "engine": et[COMPARED]}, axis=1) if n else None
    r_eq, e_eq = float(research.equity.iloc[-1]), float(engine.equity.iloc[-1])
    eq_diff = abs(r_eq - e_eq) / max(abs(r_eq), 1e-300)
    if eq_diff > tolerance:
        mismatches.append(f"final equity differs by {eq_diff:.2e} relative")
    perp_doc = None
    if perp is not None:
        perp_doc = _funding_parity(research, engine, tolerance, mismatches)
    return ParityReport(
        strategy=type(strategy).__name__,
        params=dict(getattr(strategy, "params", {}) or {}),
        bars=len(bars),
        research_trades=int((rt["status"].astype(str) == "closed").sum()),
        engine_trades=int((et["status"].astype(str) == "closed").sum()),
        research_final_equity=r_eq,
        engine_final_equity=e_eq,
        equity_rel_diff=eq_diff,
        max_price_rel_diff=price_diff,
        max_size_rel_diff=size_diff,
        max_pnl_rel_diff=pnl_diff,
        mismatches=mismatches,
        tolerance=tolerance,
        table=table,
        perp=perp_doc,
    )


def _funding_parity(research: Any, engine: Any, tolerance: float, out: list[str]) -> dict:
    """Funding time by time (times equal, amounts to `tolerance` relative) and liquidations;
    what differs is appended to `out`."""
    r = research.funding
    e = engine.funding if engine.funding is not None else pd.DataFrame({"amount": []})
    r_amt = r.to_numpy(dtype=float)
    e_amt = e["amount"].astype(float).to_numpy()
    diff = 0.0
    if len(r) != len(e):
        out.append(f"funding payments differ: research {len(r)} vs engine {len(e)}")
    else:
        times_r = pd.DatetimeIndex(r.index).as_unit("ns").asi8
        times_e = pd.DatetimeIndex(e.index).as_unit("ns").asi8
        bad = np.flatnonzero(times_r != times_e)
        if len(bad):
            out.append(f"funding time differs at payment {bad[0]}")
        diff = _rel(r_amt, e_amt)
        if diff > tolerance:
            out.append(f"funding amounts differ by {diff:.2e} relative")
    n_r, n_e = len(research.liquidations), len(engine.liquidations)
    if n_r != n_e:
        out.append(f"liquidations differ: research {n_r} vs engine {n_e}")
    return {
        "research_payments": len(r),
        "engine_payments": len(e),
        "research_funding": float(r_amt.sum()),
        "engine_funding": float(e_amt.sum()),
        "funding_rel_diff": diff,
        "research_liquidations": n_r,
        "engine_liquidations": n_e,
    }


__all__ = [
    "COMPARED",
    "ParityReport",
    "compare",
]
