"""Readers for the raw CSV exports behind the bundled samples, with their quirks fixed.

Used by `scripts/build_samples.py` (which writes `nzeza/data/samples/*.parquet`) and by tests
on real raw rows. Each reader returns the canonical OHLCV frame (see `schema.py`) sorted
ascending, plus a `notes` dict counting what was fixed, so the fixes are stated, not hidden.

Volume-swap rule (btc_usd_1h): a bar's volume-weighted price, quote volume / base volume, must
lie within the bar's [low, high] range. For each row we test both readings of the two volume
columns and keep the one whose implied price falls in [low·(1−tol), high·(1+tol)], tol = 2 %.
If both volumes are 0 the row is left as is; if neither reading fits, the row is left as
given and counted as `volume_ambiguous` (the bundled data has none). This does not depend on
the date where the exporter switched columns, so it also handles a switch back and forth
(the real file flips in 2019-03/04 and again in 2020-10).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nzeza.data.schema import OHLCV_COLUMNS, as_ohlcv
from nzeza.errors import DataError

PathOrBuffer = str | Path | io.IOBase
SWAP_TOLERANCE = 0.02


def fix_swapped_volume(
    base: np.ndarray,
    quote: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    tol: float = SWAP_TOLERANCE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (base volume, swapped mask, ambiguous mask) by the module's volume-swap rule.

    `base`/`quote` are the columns as labelled in the file; prices are quote per base unit.
    """
    base = np.asarray(base, dtype=np.float64)
    quote = np.asarray(quote, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64) * (1 - tol)
    hi = np.asarray(high, dtype=np.float64) * (1 + tol)
    with np.errstate(divide="ignore", invalid="ignore"):
        as_given = quote / base
        as_swapped = base / quote
    fits_given = (as_given >= lo) & (as_given <= hi)
    fits_swapped = (as_swapped >= lo) & (as_swapped <= hi)
    both_zero = (base == 0) & (quote == 0)
    swapped = fits_swapped & ~fits_given & ~both_zero
    ambiguous = ~fits_given & ~fits_swapped & ~both_zero
    return np.where(swapped, quote, base), swapped, ambiguous


def _sorted_with_notes(df: pd.DataFrame, notes: dict[str, Any]) -> pd.DataFrame:
    t = df.index.asi8
    notes["rows"] = len(df)
    notes["newest_first"] = bool(len(t) > 1 and t[0] > t[-1])
    # Rows out of place relative to the file's own (descending or ascending) direction.
    steps = np.diff(t)
    notes["rows_out_of_order"] = int(
        (steps > 0).sum() if notes["newest_first"] else (steps < 0).sum()
    )
    notes["duplicate_timestamps"] = int(df.index.duplicated().sum())
    return df.sort_index(kind="stable")


def read_btc_usd_1h_csv(src: PathOrBuffer) -> tuple[pd.DataFrame, dict[str, Any]]:
    """`btc_usd_1h_2018-2022.csv(.gz)`: `unix,date,symbol,open,high,low,close,volume,Volume USD`.

    Newest first; `unix` (seconds) is the bar open time; volume columns swapped in older rows.
    """
    raw = pd.read_csv(src, compression="infer")
    _require(raw, ["unix", "date", "open", "high", "low", "close", "volume", "Volume USD"], src)
    time = pd.to_datetime(raw["unix"], unit="s", utc=True)
    notes: dict[str, Any] = {
        "date_unix_mismatch": int((pd.to_datetime(raw["date"], utc=True) != time).sum())
    }
    base, swapped, ambiguous = fix_swapped_volume(
        raw["volume"].to_numpy(), raw["Volume USD"].to_numpy(), raw["low"], raw["high"]
    )
    notes["volume_swapped"] = int(swapped.sum())
    notes["volume_ambiguous"] = int(ambiguous.sum())
    if swapped.any():
        notes["volume_swapped_span"] = [str(time[swapped].min()), str(time[swapped].max())]
    frame = pd.DataFrame(
        {c: raw[c] for c in ("open", "high", "low", "close")} | {"volume": base}
    ).set_index(pd.DatetimeIndex(time))
    return _sorted_with_notes(as_ohlcv(frame), notes), notes


def read_coinbase_1h_csv(src: PathOrBuffer) -> tuple[pd.DataFrame, dict[str, Any]]:
    """`coinbase_btc_usd_1h…csv(.gz)`: a banner line, then
    `date,symbol,open,high,low,close,volume_btc,volume` with dates like `2019-10-17 09-AM` (UTC).

    `volume_btc` is the base volume; `volume` is USD and dropped.
    """
    raw = pd.read_csv(src, compression="infer", skiprows=1)
    _require(raw, ["date", "open", "high", "low", "close", "volume_btc"], src)
    time = pd.to_datetime(raw["date"], format="%Y-%m-%d %I-%p", utc=True)
    frame = pd.DataFrame(
        {c: raw[c] for c in ("open", "high", "low", "close")} | {"volume": raw["volume_btc"]}
    ).set_index(pd.DatetimeIndex(time))
    notes: dict[str, Any] = {"banner_lines": 1}
    return _sorted_with_notes(as_ohlcv(frame), notes), notes


def read_bitstamp_1d_csv(src: PathOrBuffer) -> tuple[pd.DataFrame, dict[str, Any]]:
    """`bitstamp_btc_eth_ltc_1d…csv(.gz)`: unnamed date column, `BTC:open … LTC:volume`.

    Returns a long frame (index time, columns symbol + OHLCV) without the empty pre-listing
    rows of each symbol; `notes["listed"]` gives each symbol's first day.
    """
    raw = pd.read_csv(src, compression="infer", index_col=0)
    time = pd.to_datetime(raw.index, format="%Y-%m-%d", utc=True)
    parts = []
    notes: dict[str, Any] = {}
    symbols = sorted({str(c).split(":", 1)[0] for c in raw.columns if ":" in str(c)})
    if not symbols:
        raise DataError(f"{src}: no SYMBOL:field columns in {list(raw.columns)[:6]}")
    for sym in symbols:
        cols = [f"{sym}:{f}" for f in OHLCV_COLUMNS]
        _require(raw, cols, src)
        sub = raw[cols].set_axis(list(OHLCV_COLUMNS), axis=1).set_index(pd.DatetimeIndex(time))
        empty = sub.isna().all(axis=1).to_numpy()
        # Only leading empty rows are "not listed yet"; an empty row later would be a real
        # hole and is kept for validation to report.
        lead = int(np.argmax(~empty)) if (~empty).any() else len(sub)
        sym_notes: dict[str, Any] = {"empty_pre_listing_rows": lead}
        sub = _sorted_with_notes(as_ohlcv(sub.iloc[lead:]), sym_notes)
        sym_notes["listed"] = str(sub.index[0].date()) if len(sub) else None
        notes[sym] = sym_notes
        parts.append(sub.assign(symbol=sym))
    long = pd.concat(parts)[["symbol", *OHLCV_COLUMNS]]
    return long, notes


def _require(raw: pd.DataFrame, cols: list[str], src: PathOrBuffer) -> None:
    missing = [c for c in cols if c not in raw.columns]
    if missing:
        raise DataError(f"{src}: missing column(s) {missing}; found {list(raw.columns)}")


__all__ = [
    "SWAP_TOLERANCE",
    "fix_swapped_volume",
    "read_bitstamp_1d_csv",
    "read_btc_usd_1h_csv",
    "read_coinbase_1h_csv",
]
