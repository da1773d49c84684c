"""Trades → OHLCV time bars that close on time, trade or no trade.

Sans-I/O: `BarAggregator.on_trade(trade)` and `BarAggregator.on_clock(now_ns)` return the bars
that closed. Bins are `[k * timeframe, (k + 1) * timeframe)` in UTC ns of the trade's exchange
time (`ts_ns`, else `recv_ns`), labelled by their start — the same convention as
`pandas.Series.resample(timeframe)` (closed="left", label="left"). An interval with no trade
yields a bar with `trades == 0`, volume 0 and open = high = low = close = the previous close
(what `resample().ohlc()` followed by a forward-filled close gives); nothing is emitted before
the first trade, since no price is known then.

A trade older than the open bar (out of order across the bin edge) cannot change a bar already
handed out: it is counted in `late` and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from nzeza.data.timeframe import parse_timeframe as _parse_timeframe
from nzeza.errors import ValidationError
from nzeza.feeds.events import Trade


@dataclass(frozen=True, slots=True)
class TradeBar:
    """One OHLCV bar aggregated from trades; the session turns it into the engine's float
    `engine.bars.Bar`. Prices in quote currency, volume in base units, times in UTC ns."""

    venue: str
    symbol: str
    start_ns: int
    end_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int


def timeframe_ns(text: str) -> int:
    """'1s', '5m', '1h', '1d', '250ms' → nanoseconds (the grammar of `nzeza.data.timeframe`,
    sub-second lengths allowed: a session may aggregate trades into 250 ms bars)."""
    return _parse_timeframe(text, "timeframe", subsecond=True).ns


class BarAggregator:
    """Builds bars of one timeframe for one symbol from trades and clock ticks."""

    def __init__(self, timeframe: int | str, venue: str = "", symbol: str = "") -> None:
        self.timeframe_ns = timeframe_ns(timeframe) if isinstance(timeframe, str) else timeframe
        if self.timeframe_ns <= 0:
            raise ValidationError("timeframe", timeframe, "must be positive")
        self.venue = venue
        self.symbol = symbol
        self._start: int | None = None  # start of the open bar
        self._o = self._h = self._l = self._c = Decimal(0)
        self._v = Decimal(0)
        self._n = 0
        self.late = 0
        self.emitted = 0

    def _close_until(self, t_ns: int) -> list[TradeBar]:
        """Close the open bar and every empty bar that ends at or before t_ns."""
        out: list[TradeBar] = []
        tf = self.timeframe_ns
        while self._start is not None and self._start + tf <= t_ns:
            start = self._start
            out.append(
                TradeBar(
                    self.venue,
                    self.symbol,
                    start,
                    start + tf,
                    self._o,
                    self._h,
                    self._l,
                    self._c,
                    self._v,
                    self._n,
                )
            )
            # The next bar starts empty at the previous close.
            self._start = start + tf
            self._o = self._h = self._l = self._c
            self._v = Decimal(0)
            self._n = 0
        self.emitted += len(out)
        return out

    def on_trade(self, trade: Trade) -> list[TradeBar]:
        """Add a trade; returns the bars it closed (possibly empty ones before it)."""
        ts = trade.ts_ns if trade.ts_ns is not None else trade.recv_ns
        if ts is None:
            raise ValidationError("ts_ns", None, "a trade without a timestamp cannot be binned")
        tf = self.timeframe_ns
        if self._start is None:
            self._start = ts - ts % tf
            self._o = self._h = self._l = self._c = trade.price
            self._v, self._n = trade.size, 1
            if not self.venue:
                self.venue, self.symbol = trade.venue, trade.symbol
            return []
        if ts < self._start:
            self.late += 1
            return []
        closed = self._close_until(ts)
        price = trade.price
        if self._n == 0:
            self._o = self._h = self._l = price
        elif price > self._h:
            self._h = price
        elif price < self._l:
            self._l = price
        self._c = price
        self._v += trade.size
        self._n += 1
        return closed

    def on_clock(self, now_ns: int) -> list[TradeBar]:
        """Time passed: close every bar that ended at or before `now_ns`."""
        return self._close_until(now_ns)

    @property
    def open_bar_start(self) -> int | None:
        return self._start


__all__ = ["BarAggregator", "TradeBar", "timeframe_ns"]
