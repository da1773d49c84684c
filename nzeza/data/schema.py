"""The OHLCV frame every nzeza layer exchanges, and the few helpers that produce it.

An OHLCV frame has a `DatetimeIndex` named `"time"` in UTC (nanosecond unit), each timestamp
being the bar's **open** time, and float64 columns `open, high, low, close` (quote currency
per base unit) and `volume` (base units traded in the bar). Rows are ascending in time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from nzeza.errors import ValidationError
from nzeza.ops.logging import get_logger

OHLCV_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
INDEX_NAME = "time"

log = get_logger(__name__)


def check_ohlcv_columns(df: Any, field: str = "bars") -> None:
    """Raise `ValidationError` unless `df` is a DataFrame with a DatetimeIndex and OHLCV columns."""
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(field, type(df).__name__, "expected a pandas DataFrame")
    if isinstance(df.columns, pd.MultiIndex):
        raise ValidationError(
            f"{field}.columns",
            list(df.columns.get_level_values(0).unique()),
            "several symbols side by side: pass one, e.g. df['BTC'] or "
            "load_sample(name, symbol='BTC')",
        )
    missing = [c for c in OHLCV_COLUMNS if c not in df.columns]
    if missing:
        raise ValidationError(
            f"{field}.columns",
            list(map(str, df.columns)),
            f"missing {missing}; an OHLCV frame needs {list(OHLCV_COLUMNS)}",
        )
    if not isinstance(df.index, pd.DatetimeIndex):
        raise ValidationError(
            f"{field}.index",
            type(df.index).__name__,
            "expected a DatetimeIndex of bar open times (UTC)",
        )


def to_utc_index(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """UTC, nanosecond unit, named "time". A naive index is taken to be UTC already."""
    idx = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return idx.as_unit("ns").rename(INDEX_NAME)


def as_ohlcv(df: pd.DataFrame, field: str = "bars") -> pd.DataFrame:
    """A copy of `df` in the canonical schema (column order, float64, UTC ns index).

    Does not sort or de-duplicate: ordering problems are for `validate_ohlcv` to report.
    """
    check_ohlcv_columns(df, field)
    out = df.loc[:, list(OHLCV_COLUMNS)].astype(np.float64)
    out.index = to_utc_index(df.index)
    out.columns.name = None
    return out


def drop_exact_duplicates(df: pd.DataFrame, what: str = "bars") -> tuple[pd.DataFrame, int]:
    """Drop rows repeating an earlier row exactly (same time, same OHLCV); log how many.

    Rows sharing a timestamp but *differing* in values are kept: which one is right is not
    knowable here, so `validate_ohlcv` reports them as duplicates instead.
    """
    keyed = df.reset_index()
    dup = keyed.duplicated(keep="first").to_numpy()
    n = int(dup.sum())
    if n:
        log.warning("%s: dropped %d exact duplicate row(s)", what, n)
        return df.loc[~dup], n
    return df, 0


__all__ = [
    "INDEX_NAME",
    "OHLCV_COLUMNS",
    "PRICE_COLUMNS",
    "as_ohlcv",
    "check_ohlcv_columns",
    "drop_exact_duplicates",
    "to_utc_index",
]
