"""The shipped strategies. Every indicator uses finite trailing windows (no EWM with infinite
memory), so a session's trailing window of `warmup` bars reproduces research exactly.

They compute on numpy arrays with `nzeza.strategies.indicators` (pandas' own rolling kernels
without pandas' overhead per call): a session calls `target` at every closed bar and the
promotion gate once per replayed bar, where that overhead was nearly all the time."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from nzeza.strategies.base import Strategy, quantize
from nzeza.strategies.indicators import (
    column,
    columns,
    diff,
    ffill,
    ready,
    rolling_max,
    rolling_min,
    rolling_std,
    rsi,
    shift,
    sma,
)


class SmaCross(Strategy):
    """Long (1) while SMA(fast) of close > SMA(slow), both including the current bar; else 0."""

    search_space: ClassVar[dict[str, list[Any]]] = {"fast": [5, 10, 20], "slow": [40, 80, 160]}

    description = "moving-average crossover, long only"
    fast: int = 10
    slow: int = 30

    def validate(self) -> None:
        self.require(self.fast >= 1, "fast", "must be at least 1")
        self.require(self.slow > self.fast, "slow", f"must be greater than fast ({self.fast})")

    @property
    def warmup(self) -> int:
        return self.slow

    def target(self, bars: pd.DataFrame) -> pd.Series:
        close = column(bars, "close")
        fast, slow = sma(close, self.fast), sma(close, self.slow)
        return pd.Series(ready(fast > slow, fast, slow), index=bars.index)


class DonchianBreakout(Strategy):
    """Channel breakout: long after a close above the highest high of the previous `window`
    bars, out (or short, with `short`) after a close below the lowest low of the previous
    `exit_window` bars. The position is latched between signals, looked up within the last
    `memory` bars (a breakout older than that is considered stale: flat)."""

    search_space: ClassVar[dict[str, list[Any]]] = {
        "window": [20, 55, 100],
        "exit_window": [10, 20],
    }

    description = "Donchian channel breakout (turtle-style), latched, optional short"
    window: int = 55
    exit_window: int = 20
    memory: int = 500
    short: bool = False

    def validate(self) -> None:
        self.require(self.window >= 2, "window", "must be at least 2")
        self.require(
            1 <= self.exit_window <= self.window,
            "exit_window",
            f"must be between 1 and window ({self.window})",
        )
        self.require(self.memory >= self.window, "memory", "must be at least window")

    @property
    def warmup(self) -> int:
        return self.memory + self.window + 1

    def target(self, bars: pd.DataFrame) -> pd.Series:
        high, low, close = columns(bars, "high", "low", "close")
        upper = shift(rolling_max(high, self.window), 1)
        lower = shift(rolling_min(low, self.exit_window), 1)
        signal = np.full(len(close), np.nan)
        signal[close > upper] = 1.0
        signal[close < lower] = -1.0 if self.short else 0.0
        latched = ffill(signal, limit=self.memory)
        latched = np.where(np.isnan(latched), 0.0, latched)
        return pd.Series(ready(latched, upper, lower), index=bars.index)


class RsiReversion(Strategy):
    """Mean reversion on RSI: long while RSI < `lower`, short while RSI > `upper` (if `short`)."""

    # long-only by default, where `upper` has no effect: varying it would only add duplicate
    # trials and overstate the number tried (the deflated Sharpe counts every trial)
    search_space: ClassVar[dict[str, list[Any]]] = {
        "period": [7, 14, 21],
        "lower": [20.0, 25.0, 30.0],
    }

    description = "RSI mean reversion (Cutler RSI), optional short"
    period: int = 14
    lower: float = 30.0
    upper: float = 70.0
    short: bool = False

    def validate(self) -> None:
        self.require(self.period >= 2, "period", "must be at least 2")
        self.require(0 < self.lower < self.upper < 100, "lower", "need 0 < lower < upper < 100")

    @property
    def warmup(self) -> int:
        return self.period + 1

    def target(self, bars: pd.DataFrame) -> pd.Series:
        r = rsi(column(bars, "close"), self.period)
        out = np.zeros(len(r))
        out[r < self.lower] = 1.0
        if self.short:
            out[r > self.upper] = -1.0
        return pd.Series(ready(out, r), index=bars.index)


class BollingerReversion(Strategy):
    """Fade the bands: long below mean − k·σ, short above mean + k·σ (if `short`), flat inside."""

    search_space: ClassVar[dict[str, list[Any]]] = {"window": [20, 50, 100], "k": [1.5, 2.0, 2.5]}

    description = "Bollinger band mean reversion"
    window: int = 20
    k: float = 2.0
    short: bool = True

    def validate(self) -> None:
        self.require(self.window >= 2, "window", "must be at least 2")
        self.require(self.k > 0, "k", "must be positive")

    @property
    def warmup(self) -> int:
        return self.window

    def target(self, bars: pd.DataFrame) -> pd.Series:
        close = column(bars, "close")
        mean = sma(close, self.window)
        std = rolling_std(close, self.window, ddof=0)
        out = np.zeros(len(close))
        out[close < mean - self.k * std] = 1.0
        if self.short:
            out[close > mean + self.k * std] = -1.0
        return pd.Series(ready(out, mean, std), index=bars.index)


class VolTargetMomentum(Strategy):
    """Time-series momentum scaled to a volatility target: sign(return over `lookback`) ×
    min(max_leverage, target_vol / realized vol), in `step` increments (fractional exposure).
    Volatility is annualised from `periods_per_year` (8760 for hourly bars)."""

    search_space: ClassVar[dict[str, list[Any]]] = {
        "lookback": [72, 168, 336],
        "target_vol": [0.3, 0.5],
    }

    description = "volatility-targeted momentum, fractional long/short"
    lookback: int = 168
    vol_window: int = 168
    target_vol: float = 0.5
    max_leverage: float = 1.0
    step: float = 0.1
    periods_per_year: float = 8760.0
    short: bool = True

    def validate(self) -> None:
        self.require(self.lookback >= 2, "lookback", "must be at least 2")
        self.require(self.vol_window >= 2, "vol_window", "must be at least 2")
        self.require(0 < self.target_vol <= 5, "target_vol", "must be in (0, 5] (annualised)")
        self.require(0 < self.max_leverage <= 1, "max_leverage", "must be in (0, 1]")
        self.require(0 <= self.step < 1, "step", "must be in [0, 1)")

    @property
    def warmup(self) -> int:
        return max(self.lookback, self.vol_window) + 1

    def target(self, bars: pd.DataFrame) -> pd.Series:
        close = column(bars, "close")
        with np.errstate(divide="ignore", invalid="ignore"):
            momentum = close / shift(close, self.lookback) - 1
            vol = rolling_std(diff(np.log(close)), self.vol_window) * np.sqrt(self.periods_per_year)
            size = np.minimum(self.target_vol / vol, self.max_leverage)
        direction = np.sign(momentum)
        if not self.short:
            direction = np.maximum(direction, 0.0)
        exposure = direction * size
        exposure = quantize(np.where(np.isnan(exposure), 0.0, exposure), self.step)
        return pd.Series(ready(exposure, momentum, vol), index=bars.index)


class TrendRsiCombo(Strategy):
    """A combination of signals: the SMA trend (long/short) confirmed by RSI — full size when
    the trend is up and RSI is not overbought (or down and not oversold), half size when the
    trend holds but RSI is stretched against it, flat otherwise."""

    search_space: ClassVar[dict[str, list[Any]]] = {"fast": [10, 20, 50], "slow": [100, 200]}

    description = "SMA trend confirmed by RSI, long/short, sized 0 / 0.5 / 1"
    fast: int = 20
    slow: int = 100
    period: int = 14
    overbought: float = 70.0
    oversold: float = 30.0
    short: bool = True

    def validate(self) -> None:
        self.require(self.slow > self.fast >= 1, "slow", "must be greater than fast")
        self.require(self.period >= 2, "period", "must be at least 2")
        self.require(
            0 < self.oversold < self.overbought < 100,
            "oversold",
            "need 0 < oversold < overbought < 100",
        )

    @property
    def warmup(self) -> int:
        return max(self.slow, self.period + 1)

    def target(self, bars: pd.DataFrame) -> pd.Series:
        close = column(bars, "close")
        fast, slow = sma(close, self.fast), sma(close, self.slow)
        r = rsi(close, self.period)
        up, down = fast > slow, fast < slow
        out = np.zeros(len(close))
        out[up] = np.where(r[up] < self.overbought, 1.0, 0.5)
        if self.short:
            out[down] = np.where(r[down] > self.oversold, -1.0, -0.5)
        return pd.Series(ready(out, fast, slow, r), index=bars.index)


SHIPPED: tuple[type[Strategy], ...] = (
    SmaCross,
    DonchianBreakout,
    RsiReversion,
    BollingerReversion,
    VolTargetMomentum,
    TrendRsiCombo,
)


__all__ = [
    "SHIPPED",
    "BollingerReversion",
    "DonchianBreakout",
    "RsiReversion",
    "SmaCross",
    "TrendRsiCombo",
    "VolTargetMomentum",
]
