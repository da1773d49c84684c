"""Download OHLCV history with ccxt into the local Parquet cache, resuming where it stopped.

    from nzeza.data import download_ohlcv
    bars = download_ohlcv("binance", "BTC/USDT", "1h", since="2024-01-01")

How it works (ccxt's synchronous client: it runs in a notebook cell, where an event loop
is already running and `asyncio.run` would fail):
- the cache holds one contiguous span per (exchange, symbol, timeframe); only bars after the
  last cached bar (and, for an earlier `since`, before the first) are fetched, so a repeat
  call costs one request;
- pages of `fetch_ohlcv(symbol, timeframe, since=cursor, limit=page)` advance the cursor to
  the last bar + 1 timeframe until the end of the range or an empty page;
- ccxt's `enableRateLimit` spaces requests; rate-limit and network errors (HTTP 429/418,
  timeouts) are retried, waiting the server's `Retry-After` seconds when it sends one, else
  an exponential backoff; after `max_retries` a retryable `VenueError` is raised;
- bars not yet closed (open time + timeframe > exchange clock) are never cached;
- duplicates are dropped (a re-fetched bar replaces the cached one), the result validated
  with `validate_ohlcv` and the cache written atomically, every `flush_every` pages too, so
  an interrupted download resumes from the last flushed page;
- `price="mark"` downloads a perpetual's mark-price bars instead (ccxt's
  `fetch_ohlcv(..., params={"price": "mark"})`, Binance USDⓈ-M `GET /fapi/v1/markPriceKlines`)
  into their own cache file (`<timeframe>-mark.parquet`); their volume is zero, so the
  zero-volume check is off for them.
"""

from __future__ import annotations

import difflib
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from nzeza.data.cache import PRICES, cache_path, default_cache_dir, read_cache, write_parquet_atomic
from nzeza.data.schema import INDEX_NAME, OHLCV_COLUMNS
from nzeza.data.timeframe import Timeframe, parse_timeframe
from nzeza.data.validate import OhlcvReport, validate_ohlcv
from nzeza.errors import ValidationError, VenueError
from nzeza.ops.backoff import Backoff
from nzeza.ops.logging import get_logger

log = get_logger(__name__)

DateLike: TypeAlias = str | date | datetime | pd.Timestamp | int | float


@dataclass
class DownloadResult:
    """What `fetch_ohlcv_to_cache` did. `bars` is the requested range [since, until)."""

    bars: pd.DataFrame
    report: OhlcvReport
    path: Path
    exchange: str
    symbol: str
    timeframe: str
    price: str | None = None  # None: trade bars; "mark": mark-price bars
    requests: int = 0  # HTTP calls for bars (including retried ones)
    retries: int = 0
    fetched_rows: int = 0  # rows the exchange returned in range, before de-duplication
    new_bars: int = 0  # bars the cache did not have before
    duplicates_dropped: int = 0
    waits: list[float] = field(default_factory=list)  # seconds slept before each retry

    def summary(self) -> str:
        span = f"{self.bars.index[0]} → {self.bars.index[-1]}" if len(self.bars) else "no bars"
        kind = "" if self.price is None else f" {self.price}"
        return (
            f"{self.exchange} {self.symbol} {self.timeframe}{kind}: {len(self.bars):,} bars "
            f"({span}); "
            f"{self.new_bars:,} new from {self.requests} request(s), {self.retries} retr"
            f"{'y' if self.retries == 1 else 'ies'}, {self.duplicates_dropped} duplicate(s) "
            f"dropped; cache {self.path}"
        )


def parse_date(value: DateLike, field: str) -> pd.Timestamp:
    """A UTC timestamp from `"2024-01-01"`, an ISO string, a date/datetime, or epoch ms (int)."""
    if isinstance(value, bool):
        raise ValidationError(field, value, "expected a date like 2024-01-01")
    try:
        if isinstance(value, int | float | np.integer | np.floating):
            ts = pd.Timestamp(int(value), unit="ms")
        else:
            ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise ValidationError(
            field, value, "expected a date like 2024-01-01 or 2024-01-01T12:00Z (UTC)"
        ) from None
    if ts is pd.NaT or pd.isna(ts):
        raise ValidationError(field, value, "expected a date like 2024-01-01")
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def make_exchange(exchange: Any, exchange_options: dict[str, Any] | None = None) -> Any:
    """A ccxt exchange from its id (`"binance"`) with `enableRateLimit` on, or pass one through.

    `exchange_options` is deep-merged into ccxt's config (e.g. `{"urls": {"api": {...}},
    "options": {...}, "rateLimit": 100}`).
    """
    import ccxt

    if isinstance(exchange, ccxt.Exchange):
        return exchange
    if not isinstance(exchange, str) or exchange.lower() not in ccxt.exchanges:
        close = difflib.get_close_matches(str(exchange).lower(), ccxt.exchanges, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see ccxt.exchanges"
        raise ValidationError("exchange", exchange, f"not a ccxt exchange id; {hint}")
    config: dict[str, Any] = {"enableRateLimit": True, **(exchange_options or {})}
    return getattr(ccxt, exchange.lower())(config)


def api_base_options(exchange: str, base_url: str) -> dict[str, Any]:
    """ccxt config sending every REST API family of `exchange` to `base_url`, keeping paths.

    For a mirror, a recording proxy or a local test server: `https://api.binance.com/api/v3`
    becomes `<base_url>/api/v3`, `https://fapi.binance.com/fapi/v1` becomes `<base_url>/fapi/v1`.
    """
    from urllib.parse import urlsplit

    ex = make_exchange(exchange)
    base = base_url.rstrip("/")

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return base + urlsplit(value).path
        return value

    return {"urls": {"api": rewrite(ex.urls["api"])}}


def _spot_markets_only(ex: Any, symbol: str, exchange_options: dict[str, Any] | None) -> None:
    """For a spot symbol, load only spot markets (one request, not one per market type).

    Applies to exchanges whose `options["fetchMarkets"]` lists market types (Binance's
    `{"types": [...]}` or a plain list); an explicit `fetchMarkets` option is left alone.
    """
    if ":" in symbol or "fetchMarkets" in (exchange_options or {}).get("options", {}):
        return
    current = ex.options.get("fetchMarkets")
    if isinstance(current, dict) and "spot" in (current.get("types") or []):
        ex.options["fetchMarkets"] = {**current, "types": ["spot"]}
    elif isinstance(current, list) and "spot" in current:
        ex.options["fetchMarkets"] = ["spot"]


class _Caller:
    """Runs ccxt calls with retries on rate-limit/network errors, counting requests."""

    def __init__(
        self,
        ex: Any,
        result: DownloadResult,
        max_retries: int,
        backoff: float,
        sleep: Callable[[float], None],
    ) -> None:
        self.ex, self.result = ex, result
        self.max_retries, self.backoff, self.sleep = max_retries, backoff, sleep

    def __call__(self, what: str, fn: Callable[[], Any], count: bool = True) -> Any:
        import ccxt

        attempt = 0
        while True:
            if count:
                self.result.requests += 1
            self.ex.last_response_headers = None  # so a stale Retry-After is never reused
            try:
                return fn()
            except ccxt.BadSymbol as exc:
                raise ValidationError("symbol", self.result.symbol, str(exc)) from None
            # OperationFailed: "might succeed if retried" (ccxt) — network errors, rate limits,
            # and a venue's own transient errors (Binance -1001 "Internal error ... try again")
            except ccxt.OperationFailed as exc:
                if attempt >= self.max_retries:
                    raise VenueError(
                        self.ex.id,
                        f"{what} failed after {attempt + 1} attempt(s): {type(exc).__name__}",
                        retryable=True,
                    ) from exc
                wait = self._retry_after()
                if wait is None:
                    wait = Backoff(self.backoff, cap_s=60.0, jitter=0).delay(attempt)
                log.warning(
                    "%s: %s: %s; retry %d/%d in %.2fs",
                    self.ex.id,
                    what,
                    type(exc).__name__,
                    attempt + 1,
                    self.max_retries,
                    wait,
                )
                self.result.retries += 1
                self.result.waits.append(wait)
                self.sleep(wait)
                attempt += 1
            except ccxt.BaseError as exc:
                raise VenueError(self.ex.id, f"{what}: {exc}", retryable=False) from exc

    def _retry_after(self) -> float | None:
        headers = self.ex.last_response_headers or {}
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None


def _check_market(
    ex: Any, symbol: str, tf: Timeframe, timeframe: Any, price: str | None = None
) -> None:
    if not ex.has.get("fetchOHLCV"):
        raise ValidationError("exchange", ex.id, "this exchange offers no OHLCV history")
    if price == "mark" and not ex.has.get("fetchMarkOHLCV"):
        raise ValidationError("exchange", ex.id, "this exchange offers no mark-price history")
    if ex.timeframes and tf.text not in ex.timeframes:
        raise ValidationError("timeframe", timeframe, f"{ex.id} offers {', '.join(ex.timeframes)}")
    check_symbol(ex, symbol)


def check_symbol(ex: Any, symbol: str) -> None:
    """Refuse a symbol that is not one of `ex`'s loaded markets, suggesting the right one."""
    if symbol not in ex.markets:
        by_id = ex.markets_by_id.get(symbol) if ex.markets_by_id else None
        if by_id:
            hint = f"use the unified symbol {by_id[0]['symbol']!r}"
        else:
            close = difflib.get_close_matches(symbol.upper(), list(ex.markets), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "see exchange.symbols"
        raise ValidationError("symbol", symbol, f"not a market on {ex.id}; {hint}")


def _to_frame(rows: list[list[Any]]) -> pd.DataFrame:
    if not rows:
        empty = pd.DatetimeIndex([], tz="UTC", name=INDEX_NAME).as_unit("ns")
        return pd.DataFrame({c: pd.Series(dtype=np.float64) for c in OHLCV_COLUMNS}, index=empty)
    arr = np.array([[np.nan if x is None else x for x in r[:6]] for r in rows], dtype=np.float64)
    index = pd.to_datetime(arr[:, 0].astype(np.int64), unit="ms", utc=True).as_unit("ns")
    return pd.DataFrame(arr[:, 1:6], index=index.rename(INDEX_NAME), columns=list(OHLCV_COLUMNS))


def merge_cached(cached: pd.DataFrame | None, new: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Cache + newly fetched rows, unique by time (a re-fetched time replaces the cached one),
    ascending; and how many duplicates were dropped. OHLCV and funding caches alike."""
    combined = new if cached is None else pd.concat([cached, new])
    dup = combined.index.duplicated(keep="last")
    return combined[~dup].sort_index(kind="stable"), int(dup.sum())


def parse_range(
    since: DateLike, until: DateLike | None, limit: int | None, unit: str
) -> tuple[pd.Timestamp, pd.Timestamp | None]:
    """A download's range [since, until) as UTC timestamps (`until` None: up to now), after
    checking `until` is after `since` and the page `limit` (counted in `unit`) is positive."""
    start = parse_date(since, "since")
    end = None
    if until is not None:
        end = parse_date(until, "until")
        if end <= start:
            raise ValidationError("until", until, f"must be after since={start.isoformat()}")
    if limit is not None and limit <= 0:
        raise ValidationError("limit", limit, f"must be a positive number of {unit}")
    return start, end


def range_ms(ex: Any, start: pd.Timestamp, end: pd.Timestamp | None) -> tuple[int, int, int]:
    """The exchange's clock, and [start, end) in epoch ms with `end` (None: now) no later
    than that clock."""
    now_ms = int(ex.milliseconds())
    start_ms = int(start.value // 1_000_000)
    end_ms = now_ms if end is None else min(int(end.value // 1_000_000), now_ms)
    return now_ms, start_ms, end_ms


def cached_range(cached: pd.DataFrame, start_ms: int, end_ms: int) -> pd.DataFrame:
    """The rows of a cache in [start_ms, end_ms)."""
    lo = pd.Timestamp(start_ms * 1_000_000, tz="UTC")
    hi = pd.Timestamp(end_ms * 1_000_000, tz="UTC")
    return cached[(cached.index >= lo) & (cached.index < hi)]


def flush_cached(
    cached: pd.DataFrame | None,
    new: pd.DataFrame,
    result: Any,
    write: Callable[[pd.DataFrame], object],
) -> pd.DataFrame:
    """Merge `new` rows into the cache (`merge_cached`), count the duplicates dropped on
    `result`, write the merged cache with `write`, and return it."""
    merged, dups = merge_cached(cached, new)
    result.duplicates_dropped += dups
    write(merged)
    return merged


def report_download(result: Any, label: str, strict: bool) -> None:
    """Log a download's summary and, when its report is not ok, the report (a warning);
    `strict`: raise what the report found."""
    log.info("%s", result.summary())
    if not result.report.ok:
        log.warning("%s: %s", label, result.report)
    if strict:
        result.report.raise_if_bad()


def fetch_ohlcv_to_cache(
    exchange: Any,
    symbol: str,
    timeframe: str | Timeframe,
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
    price: str | None = None,
) -> DownloadResult:
    """Bring the cache up to date for [since, until) and return a `DownloadResult`.

    `until` defaults to now (exclusive); `limit` is the page size (default: the exchange's
    maximum, 1000 on Binance spot). `strict=True` raises `OhlcvValidationError` after the
    cache is written if the returned bars fail validation. `price="mark"`: the mark-price
    bars of a perpetual. See the module docstring.
    """
    tf = parse_timeframe(timeframe)
    start, end = parse_range(since, until, limit, "bars")
    if price is not None and price not in PRICES:
        raise ValidationError("price", price, f"must be one of {', '.join(PRICES)} (or None)")
    ex = make_exchange(exchange, exchange_options)
    path = cache_path(cache_dir or default_cache_dir(), ex.id, symbol, tf, price=price)
    empty = _to_frame([])
    result = DownloadResult(empty, None, path, ex.id, symbol, tf.text, price)  # type: ignore[arg-type]
    call = _Caller(ex, result, max_retries, backoff, sleep)
    _spot_markets_only(ex, symbol, exchange_options)
    call("load_markets", ex.load_markets, count=False)
    _check_market(ex, symbol, tf, timeframe, price)
    params = {} if price is None else {"price": price}

    now_ms, start_ms, end_ms = range_ms(ex, start, end)
    step = tf.ms
    start_ms = -(-start_ms // step) * step if tf.divides_day else start_ms  # first bar >= since
    page = limit or int(
        (ex.features or {}).get("spot", {}).get("fetchOHLCV", {}).get("limit") or 1000
    )

    cached = read_cache(path)
    before = 0 if cached is None else len(cached)
    segments = _segments(cached, start_ms, end_ms, step)
    total_bars = sum(max(0, (b - a) // step) for a, b in segments)

    from tqdm.auto import tqdm

    desc = f"{ex.id} {symbol} {tf.text}" + ("" if price is None else f" {price}")
    bar = tqdm(total=total_bars, unit="bar", disable=not progress, desc=desc)
    pending: list[list[Any]] = []
    pages = 0
    try:
        for seg_start, seg_end in segments:
            cursor = seg_start
            while cursor < seg_end:
                # Ask for no more than the range needs: the last page is usually short.
                n = int(min(page, -(-(seg_end - cursor) // step)))
                batch = call(
                    "fetch_ohlcv",
                    functools.partial(
                        ex.fetch_ohlcv, symbol, tf.text, since=cursor, limit=n, params=params
                    ),
                )
                pages += 1
                if not batch:
                    break
                # Keep bars in this segment that have closed by the exchange's clock.
                keep = [r for r in batch if seg_start <= r[0] < seg_end and r[0] + step <= now_ms]
                pending.extend(keep)
                result.fetched_rows += len(keep)
                bar.update(len(keep))
                last = max(r[0] for r in batch)
                if last < cursor or last + step >= seg_end:
                    break
                cursor = last + step
                if pages % flush_every == 0:
                    cached, pending = _flush(cached, pending, path, result), []
        if pending:
            cached, pending = _flush(cached, pending, path, result), []
    finally:
        bar.close()
        if pending:  # interrupted: keep what was fetched so the next call resumes from it
            _flush(cached, pending, path, result)

    if cached is None:
        cached = empty
    result.new_bars = len(cached) - before
    result.bars = cached_range(cached, start_ms, end_ms)
    result.bars.attrs = {"exchange": ex.id, "symbol": symbol, "timeframe": tf.text}
    if price is not None:
        result.bars.attrs["price"] = price
    # mark-price bars carry no volume: a run of zero volumes is what they are, not a fault
    if price is None:
        result.report = validate_ohlcv(result.bars, tf)
    else:
        result.report = validate_ohlcv(result.bars, tf, min_zero_volume_run=None)
    report_download(result, f"{ex.id} {symbol} {tf.text}", strict)
    return result


def _segments(cached: pd.DataFrame | None, start: int, end: int, step: int) -> list[tuple]:
    """Ranges [a, b) in ms to fetch so the cache covers [start, end) in one contiguous span."""
    if cached is None or cached.empty:
        return [(start, end)] if start < end else []
    first = int(cached.index[0].value // 1_000_000)
    last = int(cached.index[-1].value // 1_000_000)
    out = []
    if start < first:
        out.append((start, first))
    if end > last + step:
        out.append((last + step, end))
    return out


def _flush(cached: pd.DataFrame | None, rows: list, path: Path, result: DownloadResult):
    return flush_cached(cached, _to_frame(rows), result, lambda f: write_parquet_atomic(f, path))


def download_ohlcv(
    exchange: Any,
    symbol: str,
    timeframe: str | Timeframe,
    since: DateLike,
    until: DateLike | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    exchange_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """Bars of `symbol` on `exchange` for [since, until), via (and into) the Parquet cache.

    Returns an OHLCV frame (ascending UTC index "time", float64 columns, volume in base
    units). Keyword extras go to `fetch_ohlcv_to_cache` (limit, max_retries, strict...).
    """
    return fetch_ohlcv_to_cache(
        exchange,
        symbol,
        timeframe,
        since,
        until,
        cache_dir,
        progress,
        exchange_options,
        **kwargs,
    ).bars


__all__ = [
    "DownloadResult",
    "api_base_options",
    "cached_range",
    "check_symbol",
    "download_ohlcv",
    "fetch_ohlcv_to_cache",
    "flush_cached",
    "make_exchange",
    "merge_cached",
    "parse_date",
    "parse_range",
    "range_ms",
    "report_download",
]
