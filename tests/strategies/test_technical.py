"""The shipped strategies compute with `nzeza.strategies.indicators`; each equals, to the last
bit, its pandas formulation from before (kept here as the reference), on the bundled history
and on short windows, for every combination of its default search space."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from support.pandas_indicators import reference_rsi

from nzeza.data import load_sample
from nzeza.strategies import technical
from nzeza.strategies.base import quantize


def _ready(series: pd.Series, *needed: pd.Series) -> pd.Series:
    mask = pd.Series(True, index=series.index)
    for s in needed:
        mask &= s.notna()
    return series.where(mask, 0.0).astype(float)


def sma_cross(s, bars):
    fast = bars["close"].rolling(s.fast).mean()
    slow = bars["close"].rolling(s.slow).mean()
    return _ready((fast > slow).astype(float), fast, slow)


def donchian_breakout(s, bars):
    upper = bars["high"].rolling(s.window).max().shift(1)
    lower = bars["low"].rolling(s.exit_window).min().shift(1)
    close = bars["close"]
    signal = pd.Series(np.nan, index=bars.index)
    signal[close > upper] = 1.0
    signal[close < lower] = -1.0 if s.short else 0.0
    return _ready(signal.ffill(limit=s.memory).fillna(0.0), upper, lower)


def rsi_reversion(s, bars):
    r = reference_rsi(bars["close"], s.period)
    out = pd.Series(0.0, index=bars.index)
    out[r < s.lower] = 1.0
    if s.short:
        out[r > s.upper] = -1.0
    return _ready(out, r)


def bollinger_reversion(s, bars):
    close = bars["close"]
    mean = close.rolling(s.window).mean()
    std = close.rolling(s.window).std(ddof=0)
    out = pd.Series(0.0, index=bars.index)
    out[close < mean - s.k * std] = 1.0
    if s.short:
        out[close > mean + s.k * std] = -1.0
    return _ready(out, mean, std)


def vol_target_momentum(s, bars):
    close = bars["close"]
    momentum = close / close.shift(s.lookback) - 1
    vol = np.log(close).diff().rolling(s.vol_window).std() * np.sqrt(s.periods_per_year)
    size = (s.target_vol / vol).clip(upper=s.max_leverage)
    direction = np.sign(momentum)
    if not s.short:
        direction = direction.clip(lower=0)
    return _ready(quantize((direction * size).fillna(0.0), s.step), momentum, vol)


def trend_rsi_combo(s, bars):
    close = bars["close"]
    fast = close.rolling(s.fast).mean()
    slow = close.rolling(s.slow).mean()
    r = reference_rsi(close, s.period)
    up, down = fast > slow, fast < slow
    out = pd.Series(0.0, index=bars.index)
    out[up] = np.where(r[up] < s.overbought, 1.0, 0.5)
    if s.short:
        out[down] = np.where(r[down] > s.oversold, -1.0, -0.5)
    return _ready(out, fast, slow, r)


REFERENCE = {
    f.__name__: f
    for f in (
        sma_cross,
        donchian_breakout,
        rsi_reversion,
        bollinger_reversion,
        vol_target_momentum,
        trend_rsi_combo,
    )
}


def configurations(cls):
    grid = cls.search_space
    shorts = [{"short": True}, {"short": False}] if "short" in cls._param_types else [{}]
    for combo in itertools.product(*grid.values()):
        for extra in shorts:
            yield cls(**dict(zip(grid, combo, strict=True)), **extra)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return load_sample("btc_usd_1h")


@pytest.mark.parametrize("cls", technical.SHIPPED, ids=lambda c: c.name)
def test_each_shipped_strategy_equals_its_pandas_formulation(cls, history) -> None:
    reference = REFERENCE[cls.name]
    tried = 0
    for s in configurations(cls):
        got = s.target(history)
        assert got.index.equals(history.index) and got.dtype == np.float64
        np.testing.assert_array_equal(got.to_numpy(), reference(s, history).to_numpy())
        for length in (1, 7, s.warmup, s.warmup + 50):  # a session's windows, short ones too
            part = history.iloc[5000 : 5000 + length]
            np.testing.assert_array_equal(s.target(part).to_numpy(), reference(s, part).to_numpy())
        tried += 1
    assert tried >= 9
