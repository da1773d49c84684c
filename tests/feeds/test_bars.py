"""Bars from real capture trades equal offline pandas resampling; bars close on clock ticks."""

from __future__ import annotations

from decimal import Decimal as D

import pandas as pd
import pytest

from nzeza.errors import ValidationError
from nzeza.feeds import binance, hyperliquid
from nzeza.feeds.bars import BarAggregator, timeframe_ns
from nzeza.feeds.capture import (
    BINANCE_BTCUSDT,
    BINANCE_ETHUSDT,
    HYPERLIQUID_BTC,
    bundled,
    read_capture,
)
from nzeza.feeds.consolidated import ConsolidatedPrice
from nzeza.feeds.events import Trade


def _trades(names, parse):
    out = []
    for name in names:
        for ns, raw in read_capture(bundled(name)):
            out += [e for e in parse(raw, ns) if isinstance(e, Trade)]
    return out


def _pandas_bars(trades, timeframe: str) -> pd.DataFrame:
    idx = pd.to_datetime([t.ts_ns for t in trades], unit="ns", utc=True)
    px = pd.Series([float(t.price) for t in trades], index=idx)
    qty = pd.Series([t.size for t in trades], index=idx, dtype=object)
    ohlc = px.resample(timeframe).ohlc()
    vol = qty.resample(timeframe).sum()
    count = px.resample(timeframe).count()
    close = ohlc["close"].ffill()
    for col in ("open", "high", "low"):
        ohlc[col] = ohlc[col].fillna(close)
    ohlc["close"] = close
    ohlc["volume"] = vol.apply(lambda v: D(0) if v == 0 else v)
    ohlc["trades"] = count
    return ohlc


@pytest.mark.parametrize(
    ("names", "parse", "timeframe"),
    [
        (BINANCE_BTCUSDT, binance.parse, "1s"),
        (BINANCE_BTCUSDT, binance.parse, "1min"),
        (BINANCE_ETHUSDT, binance.parse, "5s"),
        (BINANCE_ETHUSDT, binance.parse, "250ms"),
        ((HYPERLIQUID_BTC,), hyperliquid.parse, "1s"),
    ],
)
def test_streamed_bars_equal_pandas_resample(names, parse, timeframe):
    trades = _trades(names, parse)
    trades.sort(key=lambda t: t.ts_ns)  # pandas sorts by time; the stream is in T order already
    tf_ns = pd.Timedelta(timeframe).value
    agg = BarAggregator(tf_ns)
    bars = []
    for t in trades:
        bars += agg.on_trade(t)
    last = trades[-1].ts_ns
    bars += agg.on_clock(last - last % tf_ns + tf_ns)  # the clock closes the final bar
    ref = _pandas_bars(trades, timeframe)
    assert len(bars) == len(ref) > 5
    assert agg.late == 0
    empty = 0
    for bar, (ts, row) in zip(bars, ref.iterrows(), strict=True):
        assert bar.start_ns == ts.value and bar.end_ns == ts.value + tf_ns
        assert (float(bar.open), float(bar.high), float(bar.low), float(bar.close)) == (
            row["open"],
            row["high"],
            row["low"],
            row["close"],
        )
        assert bar.volume == row["volume"] and bar.trades == row["trades"]
        empty += bar.trades == 0
    print(f"\n{names[0]} {timeframe}: {len(bars)} bars ({empty} without trades) match pandas")


def _t(ts_s: float, price: str, size: str = "1") -> Trade:
    return Trade("x", "S", D(price), D(size), "buy", "1", int(ts_s * 1e9))


def test_bar_closes_on_clock_without_a_trade_and_empty_bars_carry_close():
    agg = BarAggregator("1s")
    assert agg.on_trade(_t(10.2, "100")) == []
    assert agg.on_trade(_t(10.7, "101", "2")) == []
    assert agg.on_clock(10_999_999_999) == []
    (bar,) = agg.on_clock(11_000_000_000)  # exactly at the edge: the bar is over
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trades) == (
        D(100),
        D(101),
        D(100),
        D(101),
        D(3),
        2,
    )
    empties = agg.on_clock(13_500_000_000)
    assert [b.start_ns for b in empties] == [11_000_000_000, 12_000_000_000]
    assert all(b.trades == 0 and b.close == D(101) and b.volume == 0 for b in empties)
    assert agg.on_trade(_t(12.9, "99")) == [] and agg.late == 1  # older than the open bar


def test_timeframe_parsing():
    assert timeframe_ns("250ms") == 250_000_000 and timeframe_ns("5m") == 300 * 10**9
    with pytest.raises(ValueError):
        timeframe_ns("5x")


def test_consolidated_price_excludes_stale_and_outliers():
    cp = ConsolidatedPrice(max_age_ns=2 * 10**9, max_deviation="0.01")
    cp.update("binance", D("100.0"), 10 * 10**9)
    cp.update("coinbase", D("100.4"), 10 * 10**9)
    cp.update("kraken", D("100.2"), 10 * 10**9)
    cp.update("dydx", D("120"), 10 * 10**9)  # outlier
    cp.update("hyperliquid", D("100.1"), 5 * 10**9)  # stale at t=10.5
    q = cp.quote(10_500_000_000)
    assert q.price == D("100.2")
    assert q.contributors == ("binance", "coinbase", "kraken")
    assert set(q.excluded) == {"dydx", "hyperliquid"}
    assert "outlier" in q.excluded["dydx"] and "stale" in q.excluded["hyperliquid"]
    assert ConsolidatedPrice(min_sources=4).quote(0).price is None


def test_one_timeframe_grammar_subsecond_only_for_sessions() -> None:
    from nzeza.data.timeframe import parse_timeframe

    assert timeframe_ns("1h") == parse_timeframe("1h").ns == 3600 * 10**9
    assert (
        timeframe_ns("1000ms") == 10**9 and parse_timeframe("1000ms", subsecond=True).text == "1s"
    )
    with pytest.raises(ValidationError, match="timeframe"):
        parse_timeframe("250ms")  # historical bars and downloads: whole seconds only
