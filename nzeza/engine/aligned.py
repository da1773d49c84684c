"""Bars of several symbols aligned on one clock, from one time-ordered stream of their trades.

Sans-I/O: `AlignedBars.on_trade(symbol, price, size, ts)` takes the trades of every symbol of a
portfolio session in exchange-time order and returns the aligned bars it closed — each bar
start at most once, with one OHLCV bar per symbol that has traded so far. A trade in a later
bucket closes every earlier bucket (the stream is time-ordered, so no trade of any symbol can
still fall in it); a bucket in which a symbol did not trade gets a flat bar at that symbol's
last close (volume 0), and a symbol that has not traded yet has no bar (NaN in the panel, no
weight). `opened` says whether the trade just handled is the first of a new bucket: the
session's next open, where pending decisions execute.

`merge_trades` interleaves one trade stream per symbol into that one time-ordered stream (ties
in symbol order), ending when any of them ends: past that point the bars could not be aligned.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class _Building:
    open: float
    high: float
    low: float
    close: float
    volume: float


class AlignedBars:
    """One clock of `timeframe_ns` buckets over `symbols` (see the module docstring)."""

    def __init__(self, symbols: list[str], timeframe_ns: int) -> None:
        if timeframe_ns <= 0:
            raise ValueError("timeframe_ns must be positive")
        self.symbols = list(symbols)
        self.timeframe_ns = int(timeframe_ns)
        self.bucket: int | None = None  # start of the bucket being built
        self._bars: dict[str, _Building] = {}
        self._last_close: dict[str, float] = {}
        self.opened = False

    def on_trade(
        self, symbol: str, price: Any, size: Any, ts: int
    ) -> list[tuple[int, dict[str, dict[str, float]]]]:
        """Add one trade; return the aligned bars it closed as (bar start, {symbol: bar})."""
        start = ts - ts % self.timeframe_ns
        closed: list[tuple[int, dict[str, dict[str, float]]]] = []
        self.opened = False
        if self.bucket is None:
            self.bucket, self.opened = start, True
        elif start > self.bucket:
            closed.append((self.bucket, self._close()))
            nxt = self.bucket + self.timeframe_ns
            while nxt < start:  # buckets no symbol traded in: flat bars
                closed.append((nxt, self._close()))
                nxt += self.timeframe_ns
            self.bucket, self.opened = start, True
        elif start < self.bucket:
            return closed  # older than the bucket being built: never goes back in time
        p, q = float(price), float(size)
        bar = self._bars.get(symbol)
        if bar is None:
            self._bars[symbol] = _Building(p, p, p, p, q)
        else:
            bar.high, bar.low, bar.close = max(bar.high, p), min(bar.low, p), p
            bar.volume += q
        return closed

    def _close(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for sym in self.symbols:
            bar = self._bars.get(sym)
            if bar is not None:
                out[sym] = {
                    "open": bar.open,
                    "high": bar.high,
                    "low": bar.low,
                    "close": bar.close,
                    "volume": bar.volume,
                }
                self._last_close[sym] = bar.close
            elif sym in self._last_close:
                c = self._last_close[sym]
                out[sym] = {"open": c, "high": c, "low": c, "close": c, "volume": 0.0}
        self._bars = {}
        return out


def _ts(trade: Any) -> int:
    return int(trade.ts_ns if trade.ts_ns is not None else (trade.recv_ns or 0))


async def merge_trades(feeds: Mapping[str, AsyncIterable[Any]]) -> AsyncIterator[tuple[str, Any]]:
    """(symbol, trade) from one stream per symbol, in exchange-time order (module docstring)."""
    order = {s: i for i, s in enumerate(feeds)}
    iters = {s: aiter(f) for s, f in feeds.items()}
    heads: dict[str, Any] = {}
    try:
        for sym, it in iters.items():
            head = await anext(it, None)
            if head is None:
                return
            heads[sym] = head
        while True:
            sym = min(heads, key=lambda s: (_ts(heads[s]), order[s]))
            yield sym, heads[sym]
            head = await anext(iters[sym], None)
            if head is None:
                return
            heads[sym] = head
    finally:
        for it in iters.values():
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()


__all__ = ["AlignedBars", "merge_trades"]
