"""Trailing-window indicators for a strategy's `target`: numpy arrays in, numpy arrays out.

    from nzeza.strategies.indicators import column, ready, sma

    def target(self, bars: pd.DataFrame) -> pd.Series:
        close = column(bars, "close")
        fast, slow = sma(close, self.fast), sma(close, self.slow)
        return pd.Series(ready(fast > slow, fast, slow), index=bars.index)

Why they exist. A session calls `target` on its trailing window at every closed bar, and the
promotion gate's windowed replay calls it once per bar of the history it replays (see
`nzeza.engine.parity`). On a 30-bar window the arithmetic is nothing; the time is pandas'
overhead per operation: about 50 µs for `close.rolling(10).mean()`, of which the computation is
3 µs. The rolling functions here call the same compiled kernels pandas' `Series.rolling` calls,
with the same window bounds and the same input cleaning (float64, ±inf as NaN), so
`sma(x, n)` equals `pd.Series(x).rolling(n).mean()` to the last bit (the tests compare them on
random and real data); they only skip the Python layers around the kernel. If a pandas release
moves the kernels, the functions fall back to the public pandas calls (same results, slower;
`FAST` says which is in use, and a test fails so the regression is seen).

Every function takes a 1-D array-like (a Series, an ndarray, a list) and returns a float64 array
of the same length. Rolling windows follow pandas' default `min_periods` (the window): NaN until
`n` values are in the window, and NaN while a NaN is in it. Nothing here looks ahead: `shift`
refuses a negative period.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from nzeza.errors import ValidationError
from nzeza.strategies.snapshots import snapshot_module

try:  # pandas' compiled rolling kernels (the ones `Series.rolling(n).<agg>()` runs)
    from pandas._libs.window import aggregations as _kernels

    _ROLL = {
        "sum": _kernels.roll_sum,
        "mean": _kernels.roll_mean,
        "var": _kernels.roll_var,
        "max": _kernels.roll_max,
        "min": _kernels.roll_min,
    }
    FAST = True
except (ImportError, AttributeError):  # pragma: no cover - a pandas that moved them
    _ROLL = {}
    FAST = False


def values(x: Any) -> np.ndarray:
    """`x` as a 1-D float64 array (a view of a float64 Series or array; no copy)."""
    try:
        if isinstance(x, np.ndarray) and x.dtype == np.float64:
            out = x
        elif isinstance(x, pd.Series | pd.Index):  # np.asarray on a Series costs 6× more
            out = x.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            out = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        kind = getattr(x, "dtype", type(x).__name__)
        raise ValidationError("values", str(kind), "must be numbers") from None
    if out.ndim != 1:
        raise ValidationError("values", f"shape {out.shape}", "must be one-dimensional")
    return out


# a frame up to this many rows is read as one array (a view of a single-block frame, a small
# copy otherwise); a longer one column by column, which never copies the whole frame
_SMALL_FRAME = 4096


def columns(bars: pd.DataFrame, *names: str) -> tuple[np.ndarray, ...]:
    """The named columns of `bars` as float64 arrays: `bars[name].to_numpy()` for each, without
    its ~10 µs per column on a session's window (one array of the frame, a slice per name)."""
    if len(bars) <= _SMALL_FRAME:
        try:
            block = bars.to_numpy(dtype=np.float64, na_value=np.nan)
            where = [bars.columns.get_loc(name) for name in names]
        except (TypeError, ValueError, KeyError):  # text columns, a missing name: one by one
            pass
        else:
            if all(isinstance(i, int) for i in where):  # no duplicated names
                return tuple(block[:, i] for i in where)
    out = []
    for name in names:
        if name not in bars.columns:
            raise ValidationError("bars", name, f"has no such column ({list(bars.columns)})")
        out.append(values(bars[name]))
    return tuple(out)


def column(bars: pd.DataFrame, name: str) -> np.ndarray:
    """One column of `bars` as a float64 array (see `columns`)."""
    return columns(bars, name)[0]


def _window(n: Any, field: str = "window") -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValidationError(field, n, "must be an integer of at least 1")
    return int(n)


def _rolling(kind: str, x: Any, n: Any, **kwargs: Any) -> np.ndarray:
    """pandas' `Series(x).rolling(n).<kind>(**kwargs)`, as an array."""
    n = _window(n)
    v = values(x)
    if not FAST:  # pragma: no cover - exercised only on a pandas without the kernels
        return getattr(pd.Series(v).rolling(n), kind)(**kwargs).to_numpy(dtype=np.float64)
    inf = np.isinf(v)
    if inf.any():  # pandas' _prep_values: infinities are missing values to the kernels
        v = np.where(inf, np.nan, v)
    end = np.arange(1, len(v) + 1, dtype=np.int64)  # FixedWindowIndexer, closed="right"
    start = np.maximum(end - n, 0)
    return _ROLL[kind](v, start, end, n, **kwargs)


def rolling_sum(x: Any, n: int) -> np.ndarray:
    """Sum of the last `n` values (`x.rolling(n).sum()`)."""
    return _rolling("sum", x, n)


def sma(x: Any, n: int) -> np.ndarray:
    """Simple moving average of the last `n` values (`x.rolling(n).mean()`)."""
    return _rolling("mean", x, n)


def rolling_max(x: Any, n: int) -> np.ndarray:
    """Highest of the last `n` values (`x.rolling(n).max()`)."""
    return _rolling("max", x, n)


def rolling_min(x: Any, n: int) -> np.ndarray:
    """Lowest of the last `n` values (`x.rolling(n).min()`)."""
    return _rolling("min", x, n)


def rolling_std(x: Any, n: int, ddof: int = 1) -> np.ndarray:
    """Standard deviation of the last `n` values (`x.rolling(n).std(ddof=ddof)`)."""
    if not FAST:  # pragma: no cover
        return _rolling("std", x, n, ddof=ddof)
    var = _rolling("var", x, n, ddof=int(ddof))
    with np.errstate(invalid="ignore"):
        out = np.sqrt(var)
    out[var < 0] = 0.0  # pandas' zsqrt: a rounding-negative variance is 0
    return out


def shift(x: Any, k: int = 1) -> np.ndarray:
    """The value `k` bars earlier (`x.shift(k)`), NaN for the first `k`. A negative `k` would
    read the future and is refused."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise ValidationError("periods", k, "must be an integer of at least 0 (no lookahead)")
    v = values(x)
    out = np.full(len(v), np.nan)
    if k < len(v):
        out[k:] = v[: len(v) - k]
    return out


def diff(x: Any, k: int = 1) -> np.ndarray:
    """`x - shift(x, k)` (`x.diff(k)`)."""
    with np.errstate(invalid="ignore"):  # inf - inf is NaN, as in pandas
        return values(x) - shift(x, k)


def ffill(x: Any, limit: int | None = None) -> np.ndarray:
    """NaN replaced by the last value before it, at most `limit` bars after it
    (`x.ffill(limit=limit)`)."""
    v = values(x)
    idx = np.arange(len(v))
    last = np.maximum.accumulate(np.where(np.isnan(v), -1, idx)) if len(v) else idx
    fill = last >= 0
    if limit is not None:
        fill &= idx - last <= _window(limit, "limit")
    return np.where(fill, v[np.maximum(last, 0)], np.nan) if len(v) else v.copy()


def rsi(x: Any, period: int) -> np.ndarray:
    """Cutler's RSI: simple means of gains and losses over `period` (finite memory), 100 when
    there was no loss, NaN until `period` changes are known."""
    delta = diff(x)
    gain = sma(np.maximum(delta, 0.0), period)  # NaN stays NaN, as pandas' clip
    loss = sma(-np.minimum(delta, 0.0), period)
    with np.errstate(divide="ignore", invalid="ignore"):
        rs = gain / np.where(loss == 0.0, np.nan, loss)
        out = 100 - 100 / (1 + rs)
    out = np.where(loss != 0, out, 100.0)
    return np.where(np.isnan(gain), np.nan, out)


def zscore(x: Any, n: int, ddof: int = 1) -> np.ndarray:
    """How many standard deviations `x` is from its mean over the last `n` values
    (`(x - x.rolling(n).mean()) / x.rolling(n).std(ddof=ddof)`; ±inf where the window is flat
    and `x` is off its mean, NaN where both are 0)."""
    v = values(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (v - sma(v, n)) / rolling_std(v, n, ddof=ddof)


def true_range(high: Any, low: Any, close: Any) -> np.ndarray:
    """The bar's range extended to the previous close: max(high − low, |high − prev close|,
    |low − prev close|); high − low on the first bar (pandas' `max(axis=1)` skipping NaN)."""
    h, lo, prev = values(high), values(low), shift(close, 1)
    for field, other in (("low", lo), ("close", prev)):
        if len(other) != len(h):
            raise ValidationError(
                field, f"{len(other)} values", f"must be as long as high ({len(h)})"
            )
    with np.errstate(invalid="ignore"):
        return np.fmax(np.fmax(h - lo, np.abs(h - prev)), np.abs(lo - prev))


def atr(high: Any, low: Any, close: Any, n: int) -> np.ndarray:
    """Average true range: the simple mean of `true_range` over the last `n` bars (finite
    memory, so a session's trailing window reproduces it exactly; Wilder's smoothing has
    infinite memory and would not)."""
    return sma(true_range(high, low, close), n)


def ready(target: Any, *needed: Any) -> np.ndarray:
    """`target` (float64) where every indicator in `needed` is defined (not NaN), 0 before:
    no position while an indicator is still warming up."""
    out = values(target)
    ok = np.ones(len(out), dtype=bool)
    for s in needed:
        ok &= ~np.isnan(values(s))
    return np.where(ok, out, 0.0)


# a strategy's identity covers the functions it imports from here (nzeza.strategies.identity)
snapshot_module(__name__)

__all__ = [
    "FAST",
    "atr",
    "column",
    "columns",
    "diff",
    "ffill",
    "ready",
    "rolling_max",
    "rolling_min",
    "rolling_std",
    "rolling_sum",
    "rsi",
    "shift",
    "sma",
    "true_range",
    "values",
    "zscore",
]
