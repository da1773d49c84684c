"""The ccxt downloader against a local server that speaks Binance's real spot REST API."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import ccxt
import numpy as np
import pandas as pd
import pytest
from support.sim.binance_market import BinanceRestServer, ccxt_binance_options, klines_from_frame

from nzeza.data import cache_path, download_ohlcv, fetch_ohlcv_to_cache, read_cache
from nzeza.data.download import api_base_options, make_exchange
from nzeza.data.validate import OhlcvValidationError
from nzeza.errors import ValidationError, VenueError


def _fetch(options: dict[str, Any], cache: Path, since: str, until: str, **kw: Any):
    kw.setdefault("progress", False)
    return fetch_ohlcv_to_cache(
        "binance", "BTC/USDT", "1h", since, until, cache_dir=cache, exchange_options=options, **kw
    )


def test_pages_over_more_than_1000_bars(
    binance: BinanceRestServer, binance_options: dict, served_bars: pd.DataFrame, tmp_path: Path
) -> None:
    result = _fetch(binance_options, tmp_path, "2021-01-01", "2021-03-01")
    expected = served_bars.loc["2021-01-01":"2021-02-28 23:00"]
    assert len(expected) == 1416
    pd.testing.assert_frame_equal(result.bars, expected, check_freq=False, check_like=False)
    starts = [int(r.params["startTime"]) for r in binance.kline_requests()]
    limits = [int(r.params["limit"]) for r in binance.kline_requests()]
    first_ms = int(pd.Timestamp("2021-01-01", tz="UTC").value // 10**6)
    # Two pages: 1000 bars, then the 416 left (the second starts right after the first).
    assert starts == [first_ms, first_ms + 1000 * 3_600_000]
    assert limits == [1000, 416]
    assert result.requests == 2 and result.new_bars == 1416 and result.report.ok
    assert binance.requests[0].path == "/api/v3/exchangeInfo"
    assert {r.path for r in binance.requests} == {"/api/v3/exchangeInfo", "/api/v3/klines"}
    on_disk = read_cache(cache_path(tmp_path, "binance", "BTC/USDT", "1h"))
    pd.testing.assert_frame_equal(on_disk, expected, check_freq=False)


def test_resume_fetches_only_bars_after_the_cache(
    binance: BinanceRestServer, binance_options: dict, served_bars: pd.DataFrame, tmp_path: Path
) -> None:
    first = _fetch(binance_options, tmp_path, "2021-01-01", "2021-02-01")
    assert first.new_bars == 744 and first.requests == 1
    n_before = len(binance.kline_requests())

    again = _fetch(binance_options, tmp_path, "2021-01-01", "2021-02-01")
    assert again.requests == 0 and again.new_bars == 0  # fully cached: no kline request
    assert len(binance.kline_requests()) == n_before
    pd.testing.assert_frame_equal(again.bars, first.bars)

    more = _fetch(binance_options, tmp_path, "2021-01-01", "2021-03-01")
    new_requests = binance.kline_requests()[n_before:]
    assert [int(r.params["startTime"]) for r in new_requests] == [
        int(pd.Timestamp("2021-02-01", tz="UTC").value // 10**6)
    ]
    assert more.new_bars == 672 and more.requests == 1
    pd.testing.assert_frame_equal(
        more.bars, served_bars.loc["2021-01-01":"2021-02-28 23:00"], check_freq=False
    )


def test_earlier_since_backfills_before_the_cache(
    binance: BinanceRestServer, binance_options: dict, served_bars: pd.DataFrame, tmp_path: Path
) -> None:
    _fetch(binance_options, tmp_path, "2021-02-01", "2021-02-10")
    n_before = len(binance.kline_requests())
    back = _fetch(binance_options, tmp_path, "2021-01-25", "2021-02-10")
    reqs = binance.kline_requests()[n_before:]
    assert len(reqs) == 1 and int(reqs[0].params["limit"]) == 7 * 24
    assert back.new_bars == 7 * 24
    pd.testing.assert_frame_equal(
        back.bars, served_bars.loc["2021-01-25":"2021-02-09 23:00"], check_freq=False
    )


def test_duplicate_bars_from_the_exchange_are_dropped(
    binance: BinanceRestServer, binance_options: dict, served_bars: pd.DataFrame, tmp_path: Path
) -> None:
    binance.mutate = lambda rows: rows[:3] + rows[1:3] + rows[3:]  # two bars served twice
    result = _fetch(binance_options, tmp_path, "2021-01-01", "2021-01-03")
    assert result.duplicates_dropped == 2
    assert result.bars.index.is_unique and result.bars.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(
        result.bars, served_bars.loc["2021-01-01":"2021-01-02 23:00"], check_freq=False
    )


def test_bad_bars_are_reported_and_strict_raises_naming_the_bar(
    binance: BinanceRestServer, binance_options: dict, tmp_path: Path
) -> None:
    bad_ms = int(pd.Timestamp("2021-01-01 05:00", tz="UTC").value // 10**6)

    def corrupt(rows: list) -> list:
        for r in rows:
            if r[0] == bad_ms:
                r[2] = f"{float(r[1]) - 100:.8f}"  # high below open
        return [r for r in rows if r[0] != bad_ms + 3_600_000 * 3]  # and a missing bar

    binance.mutate = corrupt
    result = _fetch(binance_options, tmp_path, "2021-01-01", "2021-01-02")
    bad = pd.Timestamp(bad_ms, unit="ms", tz="UTC")
    assert result.report.high_below == [bad]
    assert result.report.gaps == [(bad + pd.Timedelta(hours=3), 1)]
    assert not result.report.ok

    with pytest.raises(OhlcvValidationError) as err:
        _fetch(binance_options, tmp_path / "strict", "2021-01-01", "2021-01-02", strict=True)
    assert err.value.time == bad and err.value.field == "high" and err.value.problem == "high_below"
    assert "2021-01-01 05:00:00Z" in str(err.value)
    # The data is still cached for inspection.
    assert read_cache(cache_path(tmp_path / "strict", "binance", "BTC/USDT", "1h")) is not None


def test_429_is_retried_after_retry_after(
    binance: BinanceRestServer, binance_options: dict, served_bars: pd.DataFrame, tmp_path: Path
) -> None:
    binance.fail_next(2, status=429, retry_after=3)
    waits: list[float] = []
    result = _fetch(binance_options, tmp_path, "2021-01-01", "2021-01-02", sleep=waits.append)
    assert waits == [3.0, 3.0] and result.retries == 2 and result.requests == 3
    assert [r.status for r in binance.kline_requests()] == [429, 429, 200]
    pd.testing.assert_frame_equal(
        result.bars, served_bars.loc["2021-01-01":"2021-01-01 23:00"], check_freq=False
    )


def test_418_without_retry_after_backs_off_exponentially(
    binance: BinanceRestServer, binance_options: dict, tmp_path: Path
) -> None:
    binance.fail_next(3, status=418, retry_after=None)
    waits: list[float] = []
    result = _fetch(
        binance_options, tmp_path, "2021-01-01", "2021-01-02", sleep=waits.append, backoff=0.5
    )
    assert waits == [0.5, 1.0, 2.0] and len(result.bars) == 24


def test_retries_exhausted_raise_retryable_venue_error_and_keep_progress(
    binance: BinanceRestServer, binance_options: dict, tmp_path: Path
) -> None:
    first = _fetch(binance_options, tmp_path, "2021-01-01", "2021-01-02")
    binance.fail_next(10, status=429, retry_after=1)
    with pytest.raises(VenueError) as err:
        _fetch(
            binance_options,
            tmp_path,
            "2021-01-01",
            "2021-01-03",
            sleep=lambda s: None,
            max_retries=2,
        )
    assert err.value.retryable and err.value.venue == "binance"
    assert len(binance.kline_requests()) == 1 + 3
    cached = read_cache(cache_path(tmp_path, "binance", "BTC/USDT", "1h"))
    pd.testing.assert_frame_equal(cached, first.bars, check_freq=False)


def test_interrupted_download_keeps_fetched_pages(
    binance: BinanceRestServer, binance_options: dict, tmp_path: Path
) -> None:
    # Page size 100; the third page is interrupted (Ctrl-C): the first two pages stay cached.
    real_fetch = ccxt.binance.fetch_ohlcv
    seen: list[int] = []

    def fetch_then_interrupt(self: Any, *a: Any, **kw: Any) -> Any:
        seen.append(kw.get("since"))
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real_fetch(self, *a, **kw)

    ex = make_exchange("binance", binance_options)
    ex.fetch_ohlcv = fetch_then_interrupt.__get__(ex)
    with pytest.raises(KeyboardInterrupt):
        fetch_ohlcv_to_cache(
            ex,
            "BTC/USDT",
            "1h",
            "2021-01-01",
            "2021-02-01",
            cache_dir=tmp_path,
            progress=False,
            limit=100,
        )
    cached = read_cache(cache_path(tmp_path, "binance", "BTC/USDT", "1h"))
    assert len(cached) == 200
    resumed = fetch_ohlcv_to_cache(
        ex,
        "BTC/USDT",
        "1h",
        "2021-01-01",
        "2021-02-01",
        cache_dir=tmp_path,
        progress=False,
        limit=1000,
    )
    assert resumed.new_bars == 744 - 200 and seen[-1] == cached.index[-1].value // 10**6 + 3600000


def test_download_ohlcv_returns_the_frame(
    binance: BinanceRestServer, binance_options: dict, served_bars: pd.DataFrame, tmp_path: Path
) -> None:
    bars = download_ohlcv(
        "binance",
        "BTC/USDT",
        "1h",
        "2021-03-01",
        "2021-03-02",
        cache_dir=tmp_path,
        progress=False,
        exchange_options=binance_options,
    )
    assert bars.index.name == "time" and str(bars.index.tz) == "UTC"
    assert list(bars.dtypes) == [np.float64] * 5
    assert bars.attrs["symbol"] == "BTC/USDT"
    pd.testing.assert_frame_equal(
        bars, served_bars.loc["2021-03-01":"2021-03-01 23:00"], check_freq=False
    )


def test_unclosed_bars_are_not_cached(served_bars: pd.DataFrame, tmp_path: Path) -> None:
    # The exchange clock is 2021-01-01 05:30: the 05:00 bar is still forming.
    now = int(pd.Timestamp("2021-01-01 05:30", tz="UTC").value // 10**6)
    rows = klines_from_frame(served_bars, "1h")
    with BinanceRestServer({("BTCUSDT", "1h"): rows}, now_ms=now) as srv:
        ex = make_exchange("binance", ccxt_binance_options(srv.url))
        ex.milliseconds = lambda: now
        result = fetch_ohlcv_to_cache(
            ex, "BTC/USDT", "1h", "2021-01-01", None, cache_dir=tmp_path, progress=False
        )
    assert result.bars.index[-1] == pd.Timestamp("2021-01-01 04:00", tz="UTC")
    assert len(result.bars) == 5


@pytest.mark.parametrize(
    ("kwargs", "field", "value"),
    [
        ({"symbol": "DOGE/USDT"}, "symbol", "DOGE/USDT"),
        ({"symbol": "BTCUSDT"}, "symbol", "BTCUSDT"),
        ({"timeframe": "7m"}, "timeframe", "7m"),
        ({"timeframe": "hourly"}, "timeframe", "hourly"),
        ({"since": "2021-02-30"}, "since", "2021-02-30"),
        ({"until": "yesterday-ish"}, "until", "yesterday-ish"),
        ({"until": "2020-12-01"}, "until", "2020-12-01"),
    ],
)
def test_bad_arguments_raise_naming_field_and_value(
    binance: BinanceRestServer,
    binance_options: dict,
    tmp_path: Path,
    kwargs: dict,
    field: str,
    value: str,
) -> None:
    args = {"symbol": "BTC/USDT", "timeframe": "1h", "since": "2021-01-01", "until": "2021-01-02"}
    args.update(kwargs)
    with pytest.raises(ValidationError) as err:
        fetch_ohlcv_to_cache(
            "binance",
            args["symbol"],
            args["timeframe"],
            args["since"],
            args["until"],
            cache_dir=tmp_path,
            progress=False,
            exchange_options=binance_options,
        )
    assert err.value.field == field and err.value.value == value
    assert repr(value) in str(err.value)
    assert binance.kline_requests() == []
    if kwargs == {"symbol": "BTCUSDT"}:
        assert "'BTC/USDT'" in str(err.value)  # suggests the unified symbol


def test_unknown_exchange_names_the_value() -> None:
    with pytest.raises(ValidationError) as err:
        make_exchange("binanse")
    assert err.value.field == "exchange" and "binance" in str(err.value)


def test_exchange_is_built_with_rate_limiting_on() -> None:
    ex = make_exchange("binance", {"rateLimit": 250})
    assert ex.enableRateLimit is True and ex.rateLimit == 250


def test_api_base_options_rewrite_every_binance_family_to_loopback(
    binance: BinanceRestServer,
) -> None:
    options = api_base_options("binance", binance.url)
    explicit = ccxt_binance_options(binance.url)["urls"]["api"]
    assert options["urls"]["api"] == explicit
    assert explicit["public"] == f"{binance.url}/api/v3"
    assert explicit["fapiPublic"] == f"{binance.url}/fapi/v1"


def test_guard_refuses_non_loopback_connections(loopback_only: Any) -> None:
    # 203.0.113.0/24 is TEST-NET-3 (documentation only); the guard refuses before any packet.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(ConnectionRefusedError, match="non-loopback"):
            sock.connect(("203.0.113.7", 443))
    finally:
        sock.close()
    assert loopback_only.blocked == [("203.0.113.7", 443)]
    loopback_only.blocked.clear()  # expected here; the fixture asserts it is empty at teardown


def test_download_traffic_stays_on_loopback(
    binance: BinanceRestServer, binance_options: dict, tmp_path: Path, loopback_only: Any
) -> None:
    _fetch(binance_options, tmp_path, "2021-01-01", "2021-01-02")
    assert loopback_only.allowed, "the download made no connection at all"
    assert all(addr[0] == "127.0.0.1" for addr in loopback_only.allowed)
