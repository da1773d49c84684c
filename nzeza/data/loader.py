"""Bars from anywhere: `load(path_or_spec)` reads a bundled sample, a CSV or Parquet file of
one's own, or the ccxt download cache, and returns a checked OHLCV frame.

    from nzeza.data import load
    bars = load("my_bars.csv")                      # time column and unit detected
    bars = load("panel.parquet", symbol="ETH")      # one symbol of a multi-symbol file
    bars = load("ccxt:binance:BTC/USDT:1h")         # the cache `nzeza data download` fills
    marks = load("ccxt:binanceusdm:BTC/USDT:USDT:1h:mark")  # mark-price bars (`nzeza data mark`)
    bars = load("btc_usd_1h")                       # a bundled sample

What a file may look like:
- comma, semicolon or tab separated (a banner line before the header is skipped);
- columns in any case and spacing (`Close`, ` VOLUME `); a volume named after its currency
  (`Volume BTC`) is taken when there is no plain `volume`; no volume at all is read as 0;
- the time in the index (Parquet) or in a column named `time`, `timestamp`, `date`,
  `datetime` or `open_time` (any case; `time_column=` names another);
- epochs in s, ms, µs or ns, told apart by magnitude (or `unit=`), or date strings: ISO 8601
  always; day-first dates (`31.12.2020`, `31/12/2020`) only with `dayfirst=True` — without it,
  a date that is not ISO is refused naming the column and the first bad value (a guess
  between 01/02 as January or February is how backtests go wrong silently);
- several symbols in a `symbol` column: pick one with `symbol=` (without it, the error lists
  them).

The frame is then checked (`nzeza.data.checks`): sorted, unique, finite, positive, high and
low consistent. `repair=True` sorts and drops exact duplicate rows, and puts what it changed in
`bars.attrs["repairs"]` (the CLI prints it); anything else is refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nzeza.data.checks import check_bars, repair_bars
from nzeza.data.schema import OHLCV_COLUMNS, as_ohlcv
from nzeza.data.timeframe import timeframe_of
from nzeza.errors import DataError, ValidationError

TIME_COLUMNS = ("time", "timestamp", "date", "datetime", "open_time")
UNITS = ("s", "ms", "us", "ns")
# epoch magnitude bounds: below 1e11 seconds (year 5138), below 1e14 ms, 1e17 µs, else ns
_UNIT_LIMITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")


def load(
    path_or_spec: str | Path,
    *,
    symbol: str | None = None,
    time_column: str | None = None,
    unit: str | None = None,
    dayfirst: bool = False,
    timeframe: str | None = None,
    repair: bool = False,
) -> pd.DataFrame:
    """Bars from a sample name, a CSV/Parquet path or `ccxt:VENUE:SYMBOL:TIMEFRAME` (see the
    module docstring), checked. `df.attrs` carries `sample` (the name shown in reports),
    `timeframe` and `symbol`; `repairs` lists what `repair=True` changed."""
    raw = read_bars(
        path_or_spec,
        symbol=symbol,
        time_column=time_column,
        unit=unit,
        dayfirst=dayfirst,
        timeframe=timeframe,
    )
    attrs = dict(raw.attrs)
    if repair:
        bars, changes = repair_bars(raw)
    else:
        bars, changes = check_bars(raw), []
    if attrs.get("timeframe") is None and len(bars) > 1:
        attrs["timeframe"] = timeframe_of(bars)
    bars.attrs = {**attrs, "repairs": changes}
    return bars


def load_panel(
    path_or_spec: str | Path,
    *,
    time_column: str | None = None,
    unit: str | None = None,
    dayfirst: bool = False,
    timeframe: str | None = None,
    repair: bool = False,
) -> pd.DataFrame:
    """Every symbol of a sample, a file (a `symbol`/`ticker`/`pair` column, or (symbol, field)
    columns) or a ccxt cache entry as a panel: columns a MultiIndex (symbol, field), rows the
    union of the symbols' bar times (NaN before a symbol's first bar or where it has none).
    Each symbol is read and checked as `load(spec, symbol=...)` reads it; a source of one
    symbol is a panel of one. `df.attrs`: `sample`, `timeframe`, `symbols`, `repairs`."""
    spec = str(path_or_spec)
    symbols = symbols_in(spec)
    frames: dict[str, pd.DataFrame] = {}
    repairs: list[str] = []
    attrs: dict[str, object] = {}
    for sym in symbols:
        bars = load(
            spec,
            symbol=sym,
            time_column=time_column,
            unit=unit,
            dayfirst=dayfirst,
            timeframe=timeframe,
            repair=repair,
        )
        name = str(sym if sym is not None else bars.attrs.get("symbol") or Path(spec).stem)
        attrs = attrs or dict(bars.attrs)
        repairs += [f"{name}: {change}" for change in bars.attrs.get("repairs") or []]
        frames[name] = bars.copy()
        frames[name].attrs = {}
    panel = pd.concat(frames, axis=1, names=["symbol", "field"]).sort_index()
    panel.index.name = "time"
    panel.attrs = {
        "sample": attrs.get("sample", spec),
        "timeframe": attrs.get("timeframe"),
        "symbol": None,
        "symbols": list(frames),
        "repairs": repairs,
    }
    return panel


def symbols_in(path_or_spec: str | Path) -> Sequence[str | None]:
    """The symbols a sample or file holds, in order ([None]: a file of one unnamed series)."""
    from nzeza.data.samples import SAMPLES

    spec = str(path_or_spec)
    if spec.startswith("ccxt:"):
        return [parse_ccxt_spec(spec)[1]]
    if spec in SAMPLES and not Path(spec).exists():
        return list(SAMPLES[spec].symbols)
    path = Path(spec).expanduser()
    if not path.is_file():
        _from_file(spec, None, None, None, False)  # the error naming what --data may be
    df = _read_file(path)
    if isinstance(df.columns, pd.MultiIndex):
        return list(dict.fromkeys(str(s) for s in df.columns.get_level_values(0)))
    df = _normalise_columns(df)
    col = next((c for c in ("symbol", "ticker", "pair") if c in df.columns), None)
    if col is None:
        return [None]
    return [*sorted(str(s) for s in pd.unique(df[col].dropna()))]


def read_bars(
    path_or_spec: str | Path,
    *,
    symbol: str | None = None,
    time_column: str | None = None,
    unit: str | None = None,
    dayfirst: bool = False,
    timeframe: str | None = None,
) -> pd.DataFrame:
    """What `load` reads, before the bar checks: for `nzeza data validate`, which reports
    every problem instead of refusing at the first."""
    from nzeza.data.samples import SAMPLES, load_sample

    if unit is not None and unit not in UNITS:
        raise ValidationError("unit", unit, f"must be one of {', '.join(UNITS)}")
    spec = str(path_or_spec)
    if spec.startswith("ccxt:"):
        raw = _from_cache(spec)
    elif spec in SAMPLES and not Path(spec).exists():
        info = SAMPLES[spec]
        if symbol is None and len(info.symbols) > 1:
            raise ValidationError(
                "symbol",
                None,
                f"sample {spec!r} holds several symbols ({', '.join(info.symbols)}): "
                "choose one with --symbol (symbol=...)",
            )
        raw = load_sample(spec, symbol=symbol)
    else:
        raw = _from_file(spec, symbol, time_column, unit, dayfirst)
    if timeframe is not None:
        from nzeza.data.timeframe import parse_timeframe

        raw.attrs = {**raw.attrs, "timeframe": parse_timeframe(timeframe).text}
    return raw


# -- the ccxt cache ---------------------------------------------------------------------------
def parse_ccxt_spec(spec: str) -> tuple[str, str, str]:
    """`ccxt:VENUE:SYMBOL:TIMEFRAME[:mark]` → (venue, symbol, timeframe); the symbol may hold a
    colon (`BTC/USDT:USDT`, a perpetual). `ccxt_spec_price` tells a mark-price spec."""
    parts = spec.split(":")
    if ccxt_spec_price(spec) is not None:
        parts = parts[:-1]
    if len(parts) < 4 or not all(parts[1:]):
        raise ValidationError(
            "--data", spec, "must be ccxt:VENUE:SYMBOL:TIMEFRAME, e.g. ccxt:binance:BTC/USDT:1h"
        )
    return parts[1], ":".join(parts[2:-1]), parts[-1]


def ccxt_spec_price(spec: str) -> str | None:
    """`"mark"` for `ccxt:VENUE:SYMBOL:TIMEFRAME:mark` (mark-price bars), else None."""
    from nzeza.data.cache import PRICES

    last = spec.rsplit(":", 1)[-1]
    return last if spec.startswith("ccxt:") and last in PRICES else None


def _from_cache(spec: str) -> pd.DataFrame:
    from nzeza.data.cache import cache_path, default_cache_dir, read_cache

    venue, symbol, timeframe = parse_ccxt_spec(spec)
    price = ccxt_spec_price(spec)
    path = cache_path(default_cache_dir(), venue, symbol, timeframe, price=price)
    bars = read_cache(path)
    if bars is None:
        how = (
            f"nzeza data download --exchange {venue} --symbol {symbol} --timeframe {timeframe}"
            if price is None
            else f"nzeza data {price} {venue} {symbol} --timeframe {timeframe}"
        )
        raise DataError(
            f"no cached bars for {spec} (looked in {path}); download them first (network): "
            f"{how} --since 2024-01-01   (the cache folder is NZEZA_DATA_DIR/ohlcv)"
        )
    bars.attrs = {"sample": spec, "timeframe": timeframe, "symbol": symbol}
    if price is not None:
        bars.attrs["price"] = price
    return bars


# -- files ------------------------------------------------------------------------------------
def _read_file(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    for compressed in (".gz",):
        if name.endswith(compressed):
            name = name[: -len(compressed)]
    try:
        if name.endswith(PARQUET_SUFFIXES):
            return pd.read_parquet(path)
        if name.endswith(CSV_SUFFIXES):
            sep, skip = _csv_layout(path)
            return pd.read_csv(path, sep=sep, skiprows=skip)
    except UnicodeDecodeError as exc:
        raise ValidationError("--data", str(path), f"is not UTF-8 text ({exc.reason})") from None
    except (ValueError, OSError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError("--data", str(path), f"cannot be read: {exc}") from None
    raise ValidationError(
        "--data", str(path), "must be a .csv, .txt, .tsv or .parquet file (optionally .gz)"
    )


def _csv_layout(path: Path) -> tuple[str, int]:
    """The delimiter (`,` unless the header has more `;` or tabs: European and TSV exports) and
    the lines to skip: a first line without any delimiter is a banner (CryptoDataDownload's
    URL line), not the header."""
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        first, second = fh.readline(), fh.readline()
    seps = (",", ";", "\t")
    if second and not any(c in first for c in seps):
        return max(seps, key=second.count), 1
    return max(seps, key=first.count), 0


def _normalise_columns(df: pd.DataFrame) -> pd.DataFrame:
    names = [re.sub(r"\s+", " ", str(c)).strip().lower() for c in df.columns]
    out = df.copy()
    out.columns = names
    if "volume" not in names:
        named = [c for c in names if c.startswith("volume")]
        if len(named) >= 2 and {"high", "low"} <= set(names):
            out = _base_volume(out, named[0], named[1])
        elif named:
            out = out.rename(columns={named[0]: "volume"})
        else:
            out["volume"] = 0.0
    return out


def _base_volume(df: pd.DataFrame, base: str, quote: str) -> pd.DataFrame:
    """Exports that carry the volume twice (`Volume BTC`, `Volume USD`: CryptoDataDownload)
    have been seen to swap the two mid-file; per row, the base volume is the one whose implied
    price (quote / base) lies within the bar's range (`nzeza.data.sources.fix_swapped_volume`,
    the rule that built the bundled samples). The count of swapped rows is in `attrs`."""
    from nzeza.data.sources import fix_swapped_volume

    def num(col: str) -> np.ndarray:
        return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)

    volume, swapped, _ambiguous = fix_swapped_volume(num(base), num(quote), num("low"), num("high"))
    out = df.drop(columns=[base, quote])
    out["volume"] = volume
    out.attrs = {**df.attrs, "volume_swapped": int(swapped.sum()), "volume_from": base}
    return out


def _from_file(
    spec: str, symbol: str | None, time_column: str | None, unit: str | None, dayfirst: bool
) -> pd.DataFrame:
    from nzeza.data.samples import SAMPLES

    path = Path(spec).expanduser()
    if not path.is_file():
        raise ValidationError(
            "--data",
            spec,
            "no such file; give a CSV or Parquet path, ccxt:VENUE:SYMBOL:TIMEFRAME (the "
            f"download cache) or a bundled sample ({', '.join(SAMPLES)})",
        )
    df = _read_file(path)
    if isinstance(df.columns, pd.MultiIndex):  # a panel, e.g. load_sample("bitstamp_1d") saved
        if df.columns.nlevels != 2:
            raise ValidationError(
                "columns", df.columns.nlevels, f"{path.name}: expected (symbol, field) columns"
            )
        df = df.stack(level=0, future_stack=True)
        df.index = df.index.set_names([df.index.names[0] or "time", "symbol"])
        df = df.reset_index(level="symbol").dropna(subset=["close"])
        df.columns.name = None
    if isinstance(df.index, pd.DatetimeIndex) and time_column is None:
        df = df.reset_index()
        df = df.rename(columns={df.columns[0]: "time"})
    df = _normalise_columns(df)
    swaps = {k: v for k, v in df.attrs.items() if k.startswith("volume_")}
    if len(df.columns) != len(set(df.columns)):
        dups = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
        raise ValidationError("columns", dups, f"{path.name}: columns repeat after lower-casing")
    df = _pick_symbol(df, symbol, path.name)
    tcol = _time_column(df, time_column, path.name)
    index = parse_times(df[tcol], tcol, unit=unit, dayfirst=dayfirst)
    df = df.drop(columns=[tcol])
    missing = [c for c in ("open", "high", "low", "close") if c not in df.columns]
    if missing:
        raise ValidationError(
            "columns",
            list(df.columns),
            f"{path.name} has no {', '.join(missing)} column (needs open, high, low, close; "
            "volume optional; names in any case)",
        )
    numeric = {}
    for col in OHLCV_COLUMNS:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                f"{col}", df[col].iloc[i], f"is not a number (row {i} of {path.name})"
            )
        numeric[col] = values.to_numpy(dtype=np.float64)
    frame = pd.DataFrame(numeric, index=pd.DatetimeIndex(index))
    bars = as_ohlcv(frame, field=path.name)
    bars.attrs = {"sample": path.name, "timeframe": None, "symbol": symbol, **swaps}
    return bars


def _pick_symbol(df: pd.DataFrame, symbol: str | None, what: str) -> pd.DataFrame:
    col = next((c for c in ("symbol", "ticker", "pair") if c in df.columns), None)
    if col is None:
        return df
    found = sorted(str(s) for s in pd.unique(df[col].dropna()))
    if symbol is None:
        if len(found) == 1:
            return df.drop(columns=[col])
        raise ValidationError(
            "symbol",
            None,
            f"{what} holds several symbols ({', '.join(found[:20])}"
            f"{', ...' if len(found) > 20 else ''}): choose one with --symbol (symbol=...)",
        )
    wanted = {symbol, symbol.upper(), symbol.split("/")[0].upper()}
    keep = df[col].astype(str).isin(wanted) | df[col].astype(str).str.upper().isin(wanted)
    if not keep.any():
        raise ValidationError("symbol", symbol, f"not in {what}; symbols: {', '.join(found[:20])}")
    return df.loc[keep].drop(columns=[col])


def _time_column(df: pd.DataFrame, given: str | None, what: str) -> str:
    if given is not None:
        key = given.strip().lower()
        if key not in df.columns:
            raise ValidationError(
                "time_column", given, f"not a column of {what}: {', '.join(map(str, df.columns))}"
            )
        return key
    for name in TIME_COLUMNS:
        if name in df.columns:
            return name
    raise ValidationError(
        "time_column",
        None,
        f"{what} has none of the time columns {', '.join(TIME_COLUMNS)} "
        f"(columns: {', '.join(map(str, df.columns))}); name it with --time-column",
    )


def epoch_unit(values: np.ndarray) -> str:
    """s / ms / us / ns for epoch numbers, from the magnitude of the largest one."""
    finite = values[np.isfinite(values)]
    top = float(np.abs(finite).max()) if len(finite) else 0.0
    for limit, unit in _UNIT_LIMITS:
        if top < limit:
            return unit
    return "ns"


def parse_times(
    column: pd.Series, name: str, *, unit: str | None = None, dayfirst: bool = False
) -> pd.DatetimeIndex:
    """A UTC DatetimeIndex from epochs (unit by magnitude unless given) or date strings (ISO
    8601; day-first only with `dayfirst`). Refuses with the column and the first bad value."""
    values = column
    if values.isna().any():
        i = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise ValidationError(name, None, f"row {i} has no time")
    if pd.api.types.is_datetime64_any_dtype(values):
        idx = pd.DatetimeIndex(values)
        return idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    if values.dtype == object:
        text = values.astype(str).str.strip()
        if text.str.fullmatch(r"-?\d+(\.\d+)?").all():
            values = pd.to_numeric(text)
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.to_numpy(dtype=np.float64)
        if not np.isfinite(numbers).all():
            i = int(np.flatnonzero(~np.isfinite(numbers))[0])
            raise ValidationError(name, column.iloc[i], f"row {i}: not a finite epoch")
        used = unit or epoch_unit(numbers)
        as_int = values.to_numpy()
        try:
            if np.issubdtype(as_int.dtype, np.integer):
                return pd.DatetimeIndex(pd.to_datetime(as_int, unit=used, utc=True))
            return pd.DatetimeIndex(pd.to_datetime(numbers, unit=used, utc=True))
        except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime) as exc:
            raise ValidationError(name, column.iloc[0], f"epochs in {used}: {exc}") from None
    text = values.astype(str).str.strip()
    if dayfirst:
        parsed = pd.to_datetime(text, dayfirst=True, utc=True, errors="coerce")
        hint = "not a day-first date such as 31.12.2020 or 31/12/2020 23:00"
    else:
        parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
        hint = (
            "not an ISO 8601 date/time (2020-12-31 or 2020-12-31T23:00:00Z); for day-first "
            "dates such as 31.12.2020 pass --dayfirst (dayfirst=True), or give epochs"
        )
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(name, text.iloc[i], f"row {i}: {hint}")
    return pd.DatetimeIndex(parsed)


__all__ = [
    "TIME_COLUMNS",
    "ccxt_spec_price",
    "epoch_unit",
    "load",
    "load_panel",
    "parse_ccxt_spec",
    "parse_times",
    "read_bars",
    "symbols_in",
]
