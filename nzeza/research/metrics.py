"""Performance statistics of a backtest, in the units a quant expects (documented per field)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from nzeza import stats


def periods_per_year(freq: pd.Timedelta) -> float:
    return pd.Timedelta(days=365) / freq if freq > pd.Timedelta(0) else 1.0


def performance(
    equity: pd.Series, trades: pd.DataFrame, targets: pd.Series, freq: pd.Timedelta
) -> pd.Series:
    """total_return, cagr, sharpe / sortino (annualised), calmar, max_drawdown, win_rate,
    profit_factor, exposure (share of bars in a position), trades (closed), plus the per-period
    Sharpe, skew and raw kurtosis the deflated Sharpe needs."""
    ppy = periods_per_year(freq)
    rets = equity.pct_change().dropna()
    years = max((equity.index[-1] - equity.index[0]) / pd.Timedelta(days=365), 1e-9)
    total = float(equity.iloc[-1] / equity.iloc[0] - 1)
    cagr = (equity.iloc[-1] / equity.iloc[0]) ** (1 / years) - 1 if equity.iloc[-1] > 0 else -1.0
    mdd = stats.max_drawdown(equity)
    closed = trades[trades["status"] == "closed"] if "status" in trades else trades
    wins = closed["pnl"][closed["pnl"] > 0].sum()
    losses = -closed["pnl"][closed["pnl"] < 0].sum()
    skew, kurt = stats.moments(rets)
    held = targets.shift(1).fillna(0.0) != 0
    return pd.Series(
        {
            "total_return": total,
            "cagr": float(cagr),
            "sharpe": stats.sharpe_ratio(rets, ppy),
            "sortino": stats.sortino_ratio(rets, ppy),
            "calmar": float(cagr / mdd) if mdd > 0 else math.nan,
            "max_drawdown": mdd,
            "win_rate": float((closed["pnl"] > 0).mean()) if len(closed) else math.nan,
            "profit_factor": float(wins / losses)
            if losses > 0
            else (math.inf if wins > 0 else math.nan),
            "exposure": float(held.mean()),
            "trades": len(closed),
            "sharpe_per_period": stats.sharpe_ratio(rets),
            "skew": skew,
            "kurtosis": kurt,
            "n_obs": len(rets),
            "final_equity": float(equity.iloc[-1]),
        }
    )


def returns_stats_frame(values: pd.DataFrame, ppy: float) -> pd.DataFrame:
    """Vectorised stats per column of an equity DataFrame (sweeps)."""
    rets = values.pct_change().iloc[1:]
    mean, std = rets.mean(), rets.std(ddof=1)
    sr = (mean / std.replace(0, np.nan)).fillna(0.0)
    peaks = values.cummax()
    mdd = (1 - values / peaks).max()
    years = max((values.index[-1] - values.index[0]) / pd.Timedelta(days=365), 1e-9)
    growth = values.iloc[-1] / values.iloc[0]
    cagr = growth.clip(lower=0) ** (1 / years) - 1
    return pd.DataFrame(
        {
            "total_return": growth - 1,
            "cagr": cagr,
            "sharpe": sr * math.sqrt(ppy),
            "sharpe_per_period": sr,
            "max_drawdown": mdd,
            "calmar": cagr / mdd.replace(0, np.nan),
            "skew": rets.skew(),
            "kurtosis": rets.kurt() + 3.0,  # pandas gives excess kurtosis
            "n_obs": rets.count(),
            "final_equity": values.iloc[-1],
        }
    )
