"""The local Parquet cache of downloaded bars: one file per (exchange, symbol, timeframe).

Layout: `<cache_dir>/<exchange>/<BASE-QUOTE[_SETTLE]>/<timeframe>.parquet`, each file a
canonical OHLCV frame (see `schema.py`), ascending and unique in time. Mark-price bars of a
perpetual sit beside the trade bars as `<timeframe>-mark.parquet`, its funding history as
`funding.parquet` (`nzeza.data.funding`). Writes are atomic
(temp file in the same folder, fsync, `os.replace`), so a crash or a concurrent reader never
sees a half-written file.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pandas as pd

from nzeza.data.schema import as_ohlcv
from nzeza.data.timeframe import Timeframe, parse_timeframe
from nzeza.errors import DataError, ValidationError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_cache_dir() -> Path:
    """`<NZEZA_DATA_DIR>/ohlcv` (settings' `data_dir`, default `nzeza-cache/ohlcv`)."""
    from nzeza.ops.settings import load_settings

    return Path(load_settings().data_dir) / "ohlcv"


PRICES = ("mark",)
"""Price series other than trades that the cache keeps bars of (ccxt's `params={"price": ...}`)."""


def cache_path(
    cache_dir: str | Path,
    exchange: str,
    symbol: str,
    timeframe: str | Timeframe,
    price: str | None = None,
) -> Path:
    """Where the bars of `symbol` on `exchange` at `timeframe` are cached (`price="mark"`: the
    mark-price bars of a perpetual).

    `BTC/USDT` → `BTC-USDT`, `BTC/USDT:USDT` → `BTC-USDT_USDT`.
    """
    tf = parse_timeframe(timeframe)
    if price is not None and price not in PRICES:
        raise ValidationError("price", price, f"must be one of {', '.join(PRICES)} (or None)")
    suffix = "" if price is None else f"-{price}"
    return symbol_dir(cache_dir, exchange, symbol) / f"{tf.text}{suffix}.parquet"


def symbol_dir(cache_dir: str | Path, exchange: str, symbol: str) -> Path:
    """The folder of everything cached for `symbol` on `exchange`."""
    sym = _safe(symbol.replace("/", "-").replace(":", "_"))
    return Path(cache_dir) / _safe(exchange) / sym


def _safe(part: str) -> str:
    # One path component, never "." / ".." / hidden: a symbol must not escape the cache.
    return _UNSAFE.sub("_", part).lstrip(".") or "_"


def read_cache(path: str | Path) -> pd.DataFrame | None:
    """The cached frame at `path`, or None when there is no file yet."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataError(
            f"cache file {path} is unreadable ({exc}); delete it to re-download"
        ) from exc
    return as_ohlcv(df, field=str(path))


def write_parquet_atomic(df: pd.DataFrame, path: str | Path) -> Path:
    """Write `df` to `path` as zstd Parquet via a temp file + rename; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            df.to_parquet(fh, compression="zstd", index=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


__all__ = [
    "PRICES",
    "cache_path",
    "default_cache_dir",
    "read_cache",
    "symbol_dir",
    "write_parquet_atomic",
]
