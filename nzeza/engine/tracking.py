"""The bars a recorded session saw, rebuilt offline from the trades of its feed.

A paper session records its feed (capture files or a recording), its bar timeframe and its
costs in the ledger's session config. Rebuilding its bars from the same trades gives the
period the research backtest of that session runs on (`nzeza.promotion.divergence`), and the
trades themselves give the market price at each fill's time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from nzeza.errors import ValidationError


def capture_prices(
    paths: Iterable[str | Path], symbol: str, venue: str = "binance"
) -> pd.DataFrame:
    """The public trades of a capture as a frame (`price`, `size`) indexed by trade time."""
    from nzeza.engine.sources import capture_trades

    paths = list(paths)

    async def collect() -> list[tuple[int, float, float]]:
        return [
            (t.ts_ns or 0, float(t.price), float(t.size))
            async for t in capture_trades(paths, symbol, venue=venue)
        ]

    rows = asyncio.run(collect())
    if not rows:
        raise ValidationError("feed", [str(p) for p in paths], "has no trades for " + symbol)
    df = pd.DataFrame(rows, columns=["ts", "price", "size"])
    df.index = pd.to_datetime(df["ts"], unit="ns", utc=True)
    return df


def bars_of(trades: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """OHLCV bars of trades, labelled by their start.

    An interval with no trade is a flat bar at the previous close (as the live aggregator
    closes it on time); the last interval is dropped because a stream never closes it.
    """
    ohlc = trades["price"].resample(timeframe).ohlc()
    close = ohlc["close"].ffill()
    ohlc = ohlc.fillna({"open": close, "high": close, "low": close})
    ohlc["close"] = close
    ohlc["volume"] = trades["size"].resample(timeframe).sum()
    return ohlc.iloc[:-1]


def bars_from_capture(
    paths: Iterable[str | Path], symbol: str, timeframe: str, venue: str = "binance"
) -> pd.DataFrame:
    """OHLCV bars of a capture's public trades, by offline resampling (the session's bars)."""
    return bars_of(capture_prices(paths, symbol, venue), timeframe)


__all__ = ["bars_from_capture", "bars_of", "capture_prices"]
