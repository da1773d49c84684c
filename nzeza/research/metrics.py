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


SWEEP_STATS = [
    "total_return",
    "cagr",
    "sharpe",
    "sharpe_per_period",
    "max_drawdown",
    "calmar",
    "skew",
    "kurtosis",
    "n_obs",
    "final_equity",
]


def block_stats(
    returns: np.ndarray,
    first: np.ndarray,
    final: np.ndarray,
    max_dd: np.ndarray,
    skew: np.ndarray,
    kurt: np.ndarray,
    years: float,
    ppy: float,
) -> dict[str, np.ndarray]:
    """Per-combination statistics of a sweep block (`SWEEP_STATS`, in the units of
    `performance`; kurtosis raw) from the kernel's per-bar returns (one row per combination).

    Mean and standard deviation are the sums pandas itself makes for `DataFrame.mean()` and
    `.std()` over the same rows (`nanops.nanmean`/`nanvar`: NaN skipped, two-pass variance), so
    Sharpe ratios equal pandas' on the equity frame to the last bit; skew and kurtosis come from
    the kernel (pandas' formulas, equal to ~1e-15 relative).
    """
    mask = np.isnan(returns)
    count = returns.shape[1] - mask.sum(axis=1).astype(np.float64)
    values = np.where(mask, 0.0, returns) if mask.any() else returns
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = values.sum(axis=1, dtype=np.float64) / count
        sqr = (mean[:, None] - values) ** 2
        if values is not returns:
            sqr[mask] = 0.0
        ddof = np.where(count <= 1, np.nan, count - 1)
        std = np.sqrt(sqr.sum(axis=1, dtype=np.float64) / ddof)
        ratio = mean / np.where(std == 0, np.nan, std)
        sr = np.where(np.isnan(ratio), 0.0, ratio)
        growth = final / first
        cagr = np.clip(growth, 0, None) ** (1 / years) - 1
        calmar = cagr / np.where(max_dd == 0, np.nan, max_dd)
    return {
        "total_return": growth - 1,
        "cagr": cagr,
        "sharpe": sr * math.sqrt(ppy),
        "sharpe_per_period": sr,
        "max_drawdown": max_dd,
        "calmar": calmar,
        "skew": skew,
        "kurtosis": kurt + 3.0,  # raw: a normal distribution has 3
        "n_obs": count.astype(np.int64),
        "final_equity": final,
    }


__all__ = [
    "SWEEP_STATS",
    "block_stats",
    "performance",
    "periods_per_year",
]
