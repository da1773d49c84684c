"""Closed bars as the engine sees them, and the trailing window a strategy is fed.

The window keeps the last `size` bars in preallocated numpy arrays (a ring written twice, so the
last `size` rows are always one contiguous slice): appending is O(1) and building the strategy's
DataFrame copies only the window, whatever the session's length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed OHLCV bar. `ts` is the bar's open time in UTC nanoseconds."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class BarWindow:
    """The last `size` closed bars, as the DataFrame a strategy's `target` takes."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("window size must be >= 1")
        self.size = size
        self._data = np.empty((2 * size, len(FIELDS)), dtype=np.float64)
        self._ts = np.empty(2 * size, dtype=np.int64)
        self._n = 0  # bars appended in total

    def __len__(self) -> int:
        return min(self._n, self.size)

    def append(self, bar: Bar) -> None:
        i = self._n % self.size
        row = (bar.open, bar.high, bar.low, bar.close, bar.volume)
        self._data[i] = row
        self._data[i + self.size] = row
        self._ts[i] = self._ts[i + self.size] = bar.ts
        self._n += 1

    def closes(self) -> np.ndarray:
        """The window's closes, oldest first (a view: do not keep it across appends)."""
        n = len(self)
        start = (self._n - n) % self.size if self._n > self.size else 0
        return self._data[start : start + n, FIELDS.index("close")]

    def frame(self) -> pd.DataFrame:
        n = len(self)
        start = (self._n - n) % self.size if self._n > self.size else 0
        data = self._data[start : start + n]
        # UTC nanoseconds as datetime64 localized to UTC: the index `pd.to_datetime(ts, utc=True)`
        # gives, without its parsing (half the cost of a frame, built at every closed bar)
        ts = self._ts[start : start + n].astype("M8[ns]")
        index = pd.DatetimeIndex(ts, tz="UTC", name="time")
        return pd.DataFrame(data.copy(), index=index, columns=list(FIELDS))


def frame_timestamps(df: pd.DataFrame) -> np.ndarray:
    """The bars' open times in UTC nanoseconds (int64), from the frame's DatetimeIndex."""
    return df.index.as_unit("ns").asi8 if hasattr(df.index, "as_unit") else df.index.asi8


def bars_from_frame(df: pd.DataFrame) -> list[Bar]:
    """Bars from an OHLCV DataFrame with a UTC DatetimeIndex (ascending)."""
    ts = frame_timestamps(df)
    cols = [df[c].to_numpy(dtype=np.float64) for c in FIELDS]
    return [Bar(int(t), *(float(c[i]) for c in cols)) for i, t in enumerate(ts)]


__all__ = [
    "FIELDS",
    "Bar",
    "BarWindow",
    "bars_from_frame",
    "frame_timestamps",
]
