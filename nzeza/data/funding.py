"""Funding-rate and mark-price history of perpetuals, via ccxt into the local Parquet cache.

    from nzeza.data.funding import download_funding, download_mark, load_funding, load_mark
    download_funding("binanceusdm", "BTC/USDT:USDT", since="2024-01-01")      # network
    rates = load_funding("binanceusdm", "BTC/USDT:USDT")   # Series "funding_rate", UTC times
    download_mark("binanceusdm", "BTC/USDT:USDT", "1h", since="2024-01-01")   # network
    marks = load_mark("binanceusdm", "BTC/USDT:USDT", "1h")  # = load("ccxt:...:1h:mark")

Funding history (`download_funding`): pages of ccxt's `fetch_funding_rate_history(symbol,
since=cursor, limit=page, params={"until": end})` (Binance USDⓈ-M: `GET /fapi/v1/fundingRate`,
up to 1000 rows from `startTime`, ascending), the cursor moving to the last funding time + 1 ms,
until the range is covered or a page comes back empty. A venue that pages from the newest row
back (dYdX's indexer) is walked the other way: `until` moves to the first funding time − 1 ms.
The same machinery as the OHLCV downloader (`nzeza.data.download`): `enableRateLimit`,
retries of rate-limit, network and transient venue errors after the server's `Retry-After` or
an exponential `Backoff`, a resumable cache (one contiguous span per venue and symbol; only
what lies before its first or after its last funding time is asked for), flushed atomically
every `flush_every` pages and on an interrupt (a backward walk only once its range is whole).

The cache file is `<cache_dir>/<venue>/<BASE-QUOTE_SETTLE>/funding.parquet` with columns
`ts` (UTC funding time), `funding_rate` (per funding interval, a fraction: 0.0001 = 0.01 %) and
`mark` (the price the venue books the payment at, where its history gives one: Binance's
`markPrice`, dYdX's oracle `price`; NaN otherwise), unique and ascending in `ts`.

Funding intervals are capabilities, stated as data (`FUNDING_VENUES`): 8 h on Binance, 1 h on
dYdX v4 and Hyperliquid. A funding time missing against that interval is a gap, reported (not
filled: a rate is not interpolated); a funding time that appears twice in a file is refused
with a `ValidationError` naming it (two rates for one time have no right answer).

Mark-price bars (`download_mark`): the OHLCV downloader with `price="mark"` (ccxt's
`fetch_ohlcv(..., params={"price": "mark"})`, Binance `GET /fapi/v1/markPriceKlines`), cached as
`<timeframe>-mark.parquet` and read back by `load("ccxt:VENUE:SYMBOL:TIMEFRAME:mark")`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nzeza.data.cache import default_cache_dir, symbol_dir, write_parquet_atomic
from nzeza.data.download import (
    DateLike,
    DownloadResult,
    _Caller,
    cached_range,
    check_symbol,
    fetch_ohlcv_to_cache,
    flush_cached,
    make_exchange,
    merge_cached,
    parse_range,
    range_ms,
    report_download,
)
from nzeza.errors import DataError, ValidationError
from nzeza.ops.logging import get_logger

log = get_logger(__name__)

FUNDING_COLUMNS = ("ts", "funding_rate", "mark")
FUNDING_FILE = "funding.parquet"
_MS = 1_000_000  # ns per ms


@dataclass(frozen=True)
class FundingVenue:
    """How a venue funds its perpetuals: interval between funding times, the page size of its
    funding history endpoint, and the field of a history row that holds the payment's price."""

    interval: pd.Timedelta
    page: int = 500
    mark_field: str | None = None
    # the venue pages from the newest row back (dYdX's indexer: `effectiveBeforeOrAt`, no
    # "from"): pages then walk back from the range's end with ccxt's `until`
    backward: bool = False


FUNDING_VENUES: dict[str, FundingVenue] = {
    "binance": FundingVenue(pd.Timedelta(hours=8), 1000, "markPrice"),
    "binanceusdm": FundingVenue(pd.Timedelta(hours=8), 1000, "markPrice"),
    "binancecoinm": FundingVenue(pd.Timedelta(hours=8), 1000, "markPrice"),
    "dydx": FundingVenue(pd.Timedelta(hours=1), 100, "price", backward=True),
    "hyperliquid": FundingVenue(pd.Timedelta(hours=1), 500, None),
}
"""ccxt exchange id → its funding capabilities (a venue not listed: interval unknown, no gap
check, pages of 500)."""


def funding_interval(venue: str) -> pd.Timedelta | None:
    """The time between two funding times on `venue` (8 h Binance, 1 h dYdX / Hyperliquid)."""
    info = FUNDING_VENUES.get(venue.lower())
    return None if info is None else info.interval


def funding_path(cache_dir: str | Path, venue: str, symbol: str) -> Path:
    """Where the funding history of `symbol` on `venue` is cached."""
    return symbol_dir(cache_dir, venue, symbol) / FUNDING_FILE


# -- checks -----------------------------------------------------------------------------------
@dataclass
class FundingReport:
    """What `check_funding` found: rows, span, and gaps against the venue's interval."""

    rows: int
    interval: pd.Timedelta | None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    # (last funding time before the gap, number of funding times missing after it)
    gaps: list[tuple[pd.Timestamp, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.gaps

    @property
    def missing(self) -> int:
        return sum(n for _, n in self.gaps)

    def __str__(self) -> str:
        every = "" if self.interval is None else f" every {_td(self.interval)}"
        if not self.rows:
            return f"funding report: no funding times{every}"
        head = (
            f"funding report: {self.rows:,} funding times{every}, "
            f"{self.start:%Y-%m-%d %H:%M} → {self.end:%Y-%m-%d %H:%M}"
        )
        if self.ok:
            return f"{head}: OK"
        shown = ", ".join(f"{n} after {t:%Y-%m-%d %H:%M}" for t, n in self.gaps[:5])
        more = f" (+{len(self.gaps) - 5} more gaps)" if len(self.gaps) > 5 else ""
        return f"{head}: {self.missing:,} missing in {len(self.gaps)} gap(s): {shown}{more}"

    def raise_if_bad(self) -> FundingReport:
        """Raise `DataError` naming the first gap, or return self when there is none."""
        if self.gaps:
            t, n = self.gaps[0]
            raise DataError(f"funding history has gaps: first {n} missing after {t} ({self})")
        return self


def _td(delta: pd.Timedelta) -> str:
    hours = delta / pd.Timedelta(hours=1)
    return f"{hours:g} h" if hours >= 1 else str(delta)


def check_funding(
    rates: pd.Series, venue: str | None = None, interval: pd.Timedelta | None = None
) -> FundingReport:
    """Check a funding series (index = funding times): tz-aware UTC, ascending, unique, finite;
    gaps against `interval` (default: the venue's) reported. A repeated time or a non-finite
    rate raises `ValidationError` naming it; an unsorted series raises too."""
    index = rates.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValidationError("ts", type(index).__name__, "funding times must be tz-aware UTC")
    dup = index.duplicated(keep=False)
    if dup.any():
        first = index[dup][0]
        count = int((index == first).sum())
        raise ValidationError(
            "ts", str(first), f"funding time appears {count} times (one rate per funding time)"
        )
    if not index.is_monotonic_increasing:
        i = int(np.flatnonzero(np.diff(index.as_unit("ns").asi8) < 0)[0]) + 1
        raise ValidationError("ts", str(index[i]), f"funding times not ascending (row {i})")
    values = rates.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError("funding_rate", rates.iloc[i], f"not a finite rate at {index[i]}")
    if interval is None and venue is not None:
        interval = funding_interval(venue)
    report = FundingReport(len(rates), interval)
    if len(rates):
        report.start, report.end = index[0], index[-1]
    if interval is not None and len(rates) > 1:
        step = interval.value
        diffs = np.diff(index.as_unit("ns").asi8)
        # a funding time lands a few ms after its hour on Binance: count whole intervals
        missing = np.rint(diffs / step).astype(np.int64) - 1
        for j in np.flatnonzero(missing > 0):
            report.gaps.append((index[j], int(missing[j])))
    return report


# -- the cache file ---------------------------------------------------------------------------
def _empty() -> pd.DataFrame:
    ts = pd.DatetimeIndex([], tz="UTC", name="ts").as_unit("ns")
    return pd.DataFrame(
        {"funding_rate": pd.Series(dtype=np.float64), "mark": pd.Series(dtype=np.float64)},
        index=ts,
    )


def read_funding(path: str | Path) -> pd.DataFrame | None:
    """The cached funding frame at `path` (index `ts`, UTC; columns `funding_rate`, `mark`), or
    None when there is no file yet. A repeated funding time is refused (`check_funding`)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        raw = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataError(
            f"funding file {path} is unreadable ({exc}); delete it to re-download"
        ) from exc
    missing = [c for c in ("ts", "funding_rate") if c not in raw.columns]
    if missing:
        raise ValidationError("columns", list(raw.columns), f"{path.name} has no {missing[0]}")
    ts = pd.DatetimeIndex(pd.to_datetime(raw["ts"], utc=True)).as_unit("ns").rename("ts")
    frame = pd.DataFrame(
        {
            "funding_rate": raw["funding_rate"].to_numpy(dtype=np.float64),
            "mark": raw["mark"].to_numpy(dtype=np.float64) if "mark" in raw else np.nan,
        },
        index=ts,
    ).astype(np.float64)
    check_funding(frame["funding_rate"])
    return frame


def _write(frame: pd.DataFrame, path: Path) -> None:
    write_parquet_atomic(frame.reset_index()[list(FUNDING_COLUMNS)], path)


def load_funding(
    venue: str, symbol: str, cache_dir: str | Path | None = None, *, strict: bool = False
) -> pd.Series:
    """The cached funding rates of `symbol` on `venue`: a Series named `funding_rate`, indexed by
    tz-aware UTC funding times, checked (`check_funding`; gaps are logged, and raise with
    `strict=True`). `attrs` carry `venue`, `symbol`, `interval`, `gaps` and `mark` (the cached
    price each payment was booked at, a Series on the same times, NaN where unknown)."""
    path = funding_path(cache_dir or default_cache_dir(), venue, symbol)
    frame = read_funding(path)
    if frame is None:
        raise DataError(
            f"no cached funding history for {venue} {symbol} (looked in {path}); download it "
            f"first (network): nzeza data funding {venue} {symbol} --since 2024-01-01"
        )
    rates = frame["funding_rate"].rename("funding_rate")
    report = check_funding(rates, venue)
    if not report.ok:
        log.warning("%s %s: %s", venue, symbol, report)
    if strict:
        report.raise_if_bad()
    rates.attrs = {
        "venue": venue,
        "symbol": symbol,
        "interval": report.interval,
        "gaps": list(report.gaps),
        "mark": frame["mark"].rename("mark"),
    }
    return rates


def load_mark(
    venue: str, symbol: str, timeframe: str, cache_dir: str | Path | None = None
) -> pd.DataFrame:
    """The cached mark-price bars of `symbol` on `venue` (`nzeza data mark` fills them), checked
    like every bar source; the same as `load("ccxt:VENUE:SYMBOL:TIMEFRAME:mark")` on the
    default cache."""
    from nzeza.data.cache import cache_path, read_cache
    from nzeza.data.checks import check_bars

    path = cache_path(cache_dir or default_cache_dir(), venue, symbol, timeframe, price="mark")
    bars = read_cache(path)
    if bars is None:
        raise DataError(
            f"no cached mark-price bars for {venue} {symbol} {timeframe} (looked in {path}); "
            f"download them first (network): nzeza data mark {venue} {symbol} "
            f"--timeframe {timeframe} --since 2024-01-01"
        )
    bars = check_bars(bars)
    bars.attrs = {"sample": f"ccxt:{venue}:{symbol}:{timeframe}:mark", "timeframe": timeframe}
    bars.attrs.update({"symbol": symbol, "price": "mark"})
    return bars


# -- the download -----------------------------------------------------------------------------
@dataclass
class FundingResult:
    """What `download_funding` did. `funding` is the requested range [since, until)."""

    funding: pd.DataFrame
    report: FundingReport
    path: Path
    exchange: str
    symbol: str
    requests: int = 0  # HTTP calls for funding rows (including retried ones)
    retries: int = 0
    fetched_rows: int = 0  # rows the exchange returned in range, before de-duplication
    new_rows: int = 0  # funding times the cache did not have before
    duplicates_dropped: int = 0
    waits: list[float] = field(default_factory=list)  # seconds slept before each retry

    @property
    def rates(self) -> pd.Series:
        """The funding rates of the range, as `load_funding` gives them."""
        return self.funding["funding_rate"].rename("funding_rate")

    def summary(self) -> str:
        f = self.funding
        span = f"{f.index[0]} → {f.index[-1]}" if len(f) else "no funding times"
        return (
            f"{self.exchange} {self.symbol} funding: {len(f):,} rates ({span}); "
            f"{self.new_rows:,} new from {self.requests} request(s), {self.retries} retr"
            f"{'y' if self.retries == 1 else 'ies'}, {self.duplicates_dropped} duplicate(s) "
            f"dropped; cache {self.path}"
        )


def _slot(ms: int, step: int | None) -> int:
    """The funding slot (interval start) a time falls in; the time itself without interval."""
    return ms if not step else ms - ms % step


def _segments(cached: pd.DataFrame | None, start: int, end: int, step: int | None) -> list:
    """Ranges [a, b) in ms to fetch so the cache covers [start, end) in one contiguous span."""
    if start >= end:
        return []
    if cached is None or cached.empty:
        return [(start, end)]
    first = int(cached.index[0].value // _MS)
    last = int(cached.index[-1].value // _MS)
    out = []
    # a funding time can only lie before the first cached one if its slot starts at/after since
    if (step and _slot(first, step) - step >= start) or (not step and start < first):
        out.append((start, first))
    if (step and _slot(last, step) + step < end) or (not step and end > last + 1):
        out.append((last + 1, end))
    return out


def _rows(batch: list[dict[str, Any]], mark_field: str | None) -> list[tuple[int, float, float]]:
    out = []
    for entry in batch:
        ts, rate = entry.get("timestamp"), entry.get("fundingRate")
        if ts is None or rate is None:
            continue
        mark = np.nan
        info = entry.get("info") or {}
        raw = info.get(mark_field) if mark_field and isinstance(info, dict) else None
        if raw not in (None, ""):  # Binance's oldest rows carry markPrice ""
            try:
                mark = float(raw)
            except (TypeError, ValueError):
                mark = np.nan
        out.append((int(ts), float(rate), mark))
    return out


def _frame(rows: list[tuple[int, float, float]]) -> pd.DataFrame:
    arr = np.array(rows, dtype=np.float64).reshape(-1, 3)
    index = pd.to_datetime(arr[:, 0].astype(np.int64), unit="ms", utc=True).as_unit("ns")
    return pd.DataFrame({"funding_rate": arr[:, 1], "mark": arr[:, 2]}, index=index.rename("ts"))


def _merge(cached: pd.DataFrame | None, rows: list[tuple[int, float, float]]):
    return merge_cached(cached, _frame(rows))


def _flush(cached: pd.DataFrame | None, rows: list, path: Path, result: FundingResult):
    return flush_cached(cached, _frame(rows), result, lambda f: _write(f, path))


def download_funding(
    exchange: Any,
    symbol: str,
    since: DateLike,
    until: DateLike | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    exchange_options: dict[str, Any] | None = None,
    *,
    limit: int | None = None,
    max_retries: int = 5,
    backoff: float = 1.0,
    flush_every: int = 20,
    strict: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> FundingResult:
    """Bring the funding cache of a perpetual up to date for [since, until) (see the module
    docstring) and return a `FundingResult`. `until` defaults to now (exclusive); `limit` is
    the page size (default: the venue's maximum, 1000 on Binance). `strict=True` raises
    `DataError` after the cache is written if the range has gaps."""
    start, end = parse_range(since, until, limit, "funding rates")
    ex = make_exchange(exchange, exchange_options)
    venue = FUNDING_VENUES.get(ex.id, FundingVenue(pd.Timedelta(0)))
    step = venue.interval.value // _MS or None
    path = funding_path(cache_dir or default_cache_dir(), ex.id, symbol)
    result = FundingResult(_empty(), FundingReport(0, None), path, ex.id, symbol)
    call = _Caller(ex, result, max_retries, backoff, sleep)  # type: ignore[arg-type]
    if not ex.has.get("fetchFundingRateHistory"):
        raise ValidationError("exchange", ex.id, "this exchange offers no funding-rate history")
    call("load_markets", ex.load_markets, count=False)
    check_symbol(ex, symbol)
    if not ex.markets[symbol].get("swap"):
        raise ValidationError(
            "symbol",
            symbol,
            f"not a perpetual on {ex.id}: funding exists only for swaps "
            "(a unified perpetual symbol looks like BTC/USDT:USDT)",
        )

    _, start_ms, end_ms = range_ms(ex, start, end)
    page = limit or venue.page
    cached = read_funding(path)
    before = 0 if cached is None else len(cached)
    segments = _segments(cached, start_ms, end_ms, step)
    total = sum(-(-(b - a) // step) if step else 0 for a, b in segments) or None

    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="rate", disable=not progress, desc=f"{ex.id} {symbol} funding")
    pending: list[tuple[int, float, float]] = []
    pages = 0

    def fetch(since: int, until: int) -> list[dict[str, Any]]:
        return (
            call(
                "fetch_funding_rate_history",
                functools.partial(
                    ex.fetch_funding_rate_history,
                    symbol,
                    since=since,
                    limit=page,
                    params={"until": until},
                ),
            )
            or []
        )

    def keep(batch: list[dict[str, Any]], lo: int, hi: int) -> list[tuple[int, float, float]]:
        rows = [r for r in _rows(batch, venue.mark_field) if lo <= r[0] < hi]
        result.fetched_rows += len(rows)
        bar.update(len(rows))
        return rows

    try:
        for seg_start, seg_end in segments:
            if venue.backward:
                # newest page first, `until` walking back; the segment is kept only whole, so
                # an interrupted walk never leaves a hole inside the cached span
                seg_rows: list[tuple[int, float, float]] = []
                hi = seg_end - 1
                while hi >= seg_start:
                    batch = fetch(seg_start, hi)
                    pages += 1
                    seg_rows += keep(batch, seg_start, hi + 1)
                    times = [int(e["timestamp"]) for e in batch if e.get("timestamp") is not None]
                    if not times:
                        break
                    first = min(times)
                    # a short page reached `since` (ccxt drops what lies before it), no earlier
                    # funding slot is left in the segment, or no progress
                    if len(batch) < page or first - 1 >= hi:
                        break
                    if step and _slot(first, step) - step < seg_start:
                        break
                    hi = first - 1
                pending += seg_rows
                continue
            cursor = seg_start
            while cursor < seg_end:
                batch = fetch(cursor, seg_end - 1)
                pages += 1
                pending += keep(batch, seg_start, seg_end)
                if not batch:
                    break
                last = max(int(e["timestamp"]) for e in batch if e.get("timestamp") is not None)
                # no progress, or the next funding time would fall at/after the range's end
                if last < cursor or (step and _slot(last, step) + step >= seg_end):
                    break
                cursor = last + 1
                if pages % flush_every == 0 and pending:
                    cached, pending = _flush(cached, pending, path, result), []
        if pending:
            cached, pending = _flush(cached, pending, path, result), []
    finally:
        bar.close()
        if pending:  # interrupted: keep what was fetched so the next call resumes from it
            _write(_merge(cached, pending)[0], path)

    if cached is None:
        cached = _empty()
    result.new_rows = len(cached) - before
    result.funding = cached_range(cached, start_ms, end_ms)
    result.funding.attrs = {"exchange": ex.id, "symbol": symbol}
    result.report = check_funding(result.funding["funding_rate"], ex.id)
    report_download(result, f"{ex.id} {symbol}", strict)
    return result


def download_mark(
    exchange: Any,
    symbol: str,
    timeframe: str,
    since: DateLike,
    until: DateLike | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    exchange_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> DownloadResult:
    """Mark-price bars of a perpetual for [since, until) into the cache (`price="mark"` of
    `fetch_ohlcv_to_cache`, whose keyword extras this takes)."""
    return fetch_ohlcv_to_cache(
        exchange,
        symbol,
        timeframe,
        since,
        until,
        cache_dir,
        progress,
        exchange_options,
        price="mark",
        **kwargs,
    )


__all__ = [
    "FUNDING_COLUMNS",
    "FUNDING_VENUES",
    "FundingReport",
    "FundingResult",
    "FundingVenue",
    "check_funding",
    "download_funding",
    "download_mark",
    "funding_interval",
    "funding_path",
    "load_funding",
    "load_mark",
    "read_funding",
]
