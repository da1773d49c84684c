"""The bar checks every entry point runs before it trades on bars (backtest, sweep,
walk-forward, engine replay, the CLI): one `ValidationError` naming the first bad row.

    bars = check_bars(bars)                       # refuses; returns bars unchanged when fine
    bars, changes = repair_bars(bars)             # sorts, drops exact duplicates; says what

Checked, in this order (numpy over whole columns: ~1 ms on 33k bars):
- the frame: a DataFrame with one symbol's `open, high, low, close, volume` on a DatetimeIndex,
  at least one row;
- the index: no missing timestamp, strictly increasing (sorted, unique);
- the values: finite, prices > 0, volume ≥ 0, high ≥ max(open, close), low ≤ min(open, close).

`repair_bars` fixes only what has one right answer: rows out of order (a stable sort) and
exact duplicate rows (same time, same five values). Anything else — two different bars at one
time, NaN, inf, a non-positive price, high below low — is refused even under repair: which
value is right is not knowable here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from nzeza.data.schema import OHLCV_COLUMNS, check_ohlcv_columns
from nzeza.data.schema import PRICE_COLUMNS as PRICES
from nzeza.errors import ValidationError

REPAIR_HINT = "repair=True (CLI: --repair) sorts the rows and drops exact duplicates"


def _when(index: pd.Index, i: int) -> str:
    ts = index[i]
    return str(ts) if not pd.isna(ts) else "NaT"


def _check_index(bars: pd.DataFrame, field: str) -> None:
    index = bars.index
    if len(index) and index.hasnans:
        i = int(np.flatnonzero(index.isna())[0])
        raise ValidationError(f"{field}.index", "NaT", f"row {i} has no timestamp")
    i8 = index.asi8
    if len(i8) < 2 or bool((i8[1:] > i8[:-1]).all()):
        return
    i = int(np.flatnonzero(i8[1:] <= i8[:-1])[0]) + 1
    if i8[i] == i8[i - 1]:
        raise ValidationError(
            f"{field}.index",
            _when(index, i),
            f"duplicate timestamp at row {i} (also row {i - 1}); {REPAIR_HINT} "
            "when the rows are identical",
        )
    raise ValidationError(
        f"{field}.index",
        _when(index, i),
        f"bars out of order: row {i} is earlier than row {i - 1} ({_when(index, i - 1)}); "
        f"{REPAIR_HINT}",
    )


def _check_values(bars: pd.DataFrame, field: str) -> None:
    names = [c for c in OHLCV_COLUMNS if c in bars.columns]  # volume is optional
    cols = [bars[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in names]
    o, h, lo, c = cols[:4]
    v = cols[4] if len(cols) > 4 else np.zeros(len(o))
    n = len(o)
    first = n
    found: tuple[str, float, str] | None = None

    def consider(mask: np.ndarray, describe: Any) -> None:
        nonlocal first, found
        hits = np.flatnonzero(mask[:first])
        if len(hits):
            first = int(hits[0])
            found = describe(first)

    finite = np.isfinite(np.vstack(cols))
    if not finite.all():

        def bad_number(i: int) -> tuple[str, float, str]:
            k = int(np.argmin(finite[:, i]))
            return names[k], float(cols[k][i]), "must be a finite number"

        consider(~finite.all(axis=0), bad_number)
    with np.errstate(invalid="ignore"):
        prices = np.vstack((o, h, lo, c))
        positive = prices > 0
        if not positive.all():

            def not_positive(i: int) -> tuple[str, float, str]:
                k = int(np.argmin(positive[:, i]))
                return OHLCV_COLUMNS[k], float(prices[k, i]), "must be a positive price"

            consider(~positive.all(axis=0) & finite.all(axis=0), not_positive)
        consider(v < 0, lambda i: ("volume", float(v[i]), "must be >= 0"))
        top = np.maximum(o, c)
        consider(
            h < top,
            lambda i: ("high", float(h[i]), f"is below max(open, close) = {float(top[i])!r}"),
        )
        bottom = np.minimum(o, c)
        consider(
            lo > bottom,
            lambda i: ("low", float(lo[i]), f"is above min(open, close) = {float(bottom[i])!r}"),
        )
    if found is not None:
        col, value, why = found
        raise ValidationError(
            f"{field}.{col}", value, f"{why} (row {first}, {_when(bars.index, first)})"
        )


def _check_frame(bars: Any, field: str) -> None:
    """One symbol's open, high, low and close on a DatetimeIndex (volume optional here)."""
    if (
        isinstance(bars, pd.DataFrame)
        and not isinstance(bars.columns, pd.MultiIndex)
        and isinstance(bars.index, pd.DatetimeIndex)
        and "volume" not in bars.columns
        and all(c in bars.columns for c in PRICES)
    ):
        return
    check_ohlcv_columns(bars, field)


def check_bars(bars: Any, field: str = "bars") -> pd.DataFrame:
    """`bars` unchanged when they are fit to trade on, else `ValidationError` naming the first
    bad row (its position and timestamp) and column; see the module docstring."""
    _check_frame(bars, field)
    if len(bars) == 0:
        raise ValidationError(field, 0, "no bars (an empty frame, or a file with a header only)")
    _check_index(bars, field)
    _check_values(bars, field)
    return bars


def repair_bars(bars: Any, field: str = "bars") -> tuple[pd.DataFrame, list[str]]:
    """Bars sorted by time with exact duplicate rows dropped, and what was changed (one line a
    change; empty when nothing was). The result is then checked like `check_bars`: different
    rows sharing a timestamp, NaN, inf and impossible prices are refused, never repaired."""
    _check_frame(bars, field)
    changes: list[str] = []
    out = bars
    i8 = out.index.asi8
    if len(i8) > 1 and not bool((i8[1:] >= i8[:-1]).all()):
        moved = int((i8[1:] < i8[:-1]).sum())
        out = out.iloc[np.argsort(i8, kind="stable")]
        changes.append(
            f"sorted {len(out):,} rows by time ({moved:,} row(s) were earlier than the row "
            "before them)"
        )
    keyed = out[[c for c in OHLCV_COLUMNS if c in out.columns]].reset_index()
    dup = keyed.duplicated(keep="first").to_numpy()
    if dup.any():
        out = out.loc[~dup]
        times = keyed.iloc[np.flatnonzero(dup)[:3], 0].astype(str).tolist()
        changes.append(
            f"dropped {int(dup.sum()):,} exact duplicate row(s) (first at {', '.join(times)})"
        )
    if changes:
        out = out.copy()
        out.attrs = dict(bars.attrs)
    check_bars(out, field)
    return out, changes


__all__ = ["check_bars", "repair_bars"]
