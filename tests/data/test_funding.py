"""Funding-rate and mark-price history via ccxt's binanceusdm against a local server that speaks
Binance USDⓈ-M futures' REST API (`support.sim.binance_futures`).

No funding history is bundled: the served series are constructed here, and every expectation
(times, rates, marks, request cursors) is computed by hand from them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from support.sim.binance_futures import (
    BinanceFuturesServer,
    ccxt_binanceusdm_options,
    funding_rows,
    mark_klines_from_frame,
)
from support.sim.dydx_indexer import DydxIndexerServer, ccxt_dydx_options
from support.sim.dydx_indexer import funding_rows as dydx_rows

from nzeza.cli import main
from nzeza.data import load
from nzeza.data.funding import (
    check_funding,
    download_funding,
    download_mark,
    funding_path,
    load_funding,
    load_mark,
    read_funding,
)
from nzeza.errors import DataError, ValidationError, VenueError

SYMBOL = "BTC/USDT:USDT"
START = pd.Timestamp("2024-01-01", tz="UTC")
N = 273  # 2024-01-01 00:00 → 2024-03-31 16:00, every 8 h
MS = 1_000_000


def _ms(ts: str | pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).value // MS)


@pytest.fixture(scope="module")
def rates() -> pd.Series:
    """Rates that cycle through +0.01 %, −0.0025 %, +0.0375 %, 0 and −0.05 % (a funding time
    with a rate of exactly zero is a real value, not a missing one)."""
    cycle = np.array([0.0001, -0.000025, 0.000375, 0.0, -0.0005])
    idx = pd.date_range(START, periods=N, freq="8h", tz="UTC", name="ts").as_unit("ns")
    return pd.Series(cycle[np.arange(N) % 5], index=idx, name="funding_rate")


@pytest.fixture(scope="module")
def marks(rates: pd.Series) -> pd.Series:
    return pd.Series(42_000.0 + 10.5 * np.arange(N), index=rates.index, name="mark")


@pytest.fixture(scope="module")
def mark_bars() -> pd.DataFrame:
    idx = pd.date_range(START, periods=72, freq="1h", tz="UTC", name="time").as_unit("ns")
    close = 42_000.0 + np.arange(72.0) * 3.25
    return pd.DataFrame(
        {"open": close - 1.5, "high": close + 4.0, "low": close - 6.0, "close": close},
        index=idx,
    ).assign(volume=0.0)


@pytest.fixture
def futures(
    rates: pd.Series, marks: pd.Series, mark_bars: pd.DataFrame
) -> Iterator[BinanceFuturesServer]:
    served = {"BTCUSDT": funding_rows(rates, marks)}
    mark = {("BTCUSDT", "1h"): mark_klines_from_frame(mark_bars, "1h")}
    with BinanceFuturesServer(served, mark) as srv:
        yield srv


@pytest.fixture
def options(futures: BinanceFuturesServer) -> dict[str, Any]:
    return ccxt_binanceusdm_options(futures.url)


def _download(options: dict, cache: Path, since: str, until: str, **kw: Any):
    kw.setdefault("progress", False)
    return download_funding(
        "binanceusdm", SYMBOL, since, until, cache_dir=cache, exchange_options=options, **kw
    )


def test_pages_of_100_cover_three_months_and_read_back_equal(
    futures: BinanceFuturesServer, options: dict, rates: pd.Series, marks: pd.Series, tmp_path
) -> None:
    result = _download(options, tmp_path, "2024-01-01", "2024-04-01", limit=100)
    reqs = futures.funding_requests()
    # Pages start at since, then 1 ms after the last funding time of the previous page:
    # rows 0-99, 100-199, 200-272 (the third page ends the range: no fourth request).
    assert [int(r.params["startTime"]) for r in reqs] == [
        _ms(START),
        _ms(rates.index[99]) + 1,
        _ms(rates.index[199]) + 1,
    ]
    assert {r.params["endTime"] for r in reqs} == {str(_ms("2024-04-01") - 1)}
    assert [r.params["limit"] for r in reqs] == ["100"] * 3 and result.requests == 3
    assert (
        result.new_rows == N
        and result.report.ok
        and futures.requests[0].path.endswith("/fapi/v1/exchangeInfo")
    )
    back = load_funding("binanceusdm", SYMBOL, tmp_path)
    pd.testing.assert_series_equal(back, rates, check_freq=False)
    assert str(back.index.tz) == "UTC" and back.attrs["interval"] == pd.Timedelta(hours=8)
    # the 5-cycle sums to −0.00005 per 40 h; 54 full cycles + 3 (0.0001 − 0.000025 + 0.000375)
    assert back.sum() == pytest.approx(54 * -0.00005 + 0.00045, abs=1e-15)
    frame = read_funding(funding_path(tmp_path, "binanceusdm", SYMBOL))
    pd.testing.assert_series_equal(frame["mark"], marks, check_freq=False)


def test_resume_fetches_only_what_is_missing(
    futures: BinanceFuturesServer, options: dict, rates: pd.Series, tmp_path
) -> None:
    first = _download(options, tmp_path, "2024-01-01", "2024-02-01")
    assert first.new_rows == 31 * 3 and first.requests == 1
    again = _download(options, tmp_path, "2024-01-01", "2024-02-01")
    assert again.requests == 0 and again.new_rows == 0
    n = len(futures.funding_requests())
    more = _download(options, tmp_path, "2024-01-01", "2024-03-01")
    new = futures.funding_requests()[n:]
    assert [int(r.params["startTime"]) for r in new] == [_ms("2024-01-31 16:00") + 1]
    assert more.new_rows == 29 * 3 and more.requests == 1
    pd.testing.assert_series_equal(
        more.rates, rates.loc[:"2024-02-29 16:00"], check_freq=False, check_names=False
    )
    # an earlier since backfills only before the cache's first funding time
    n = len(futures.funding_requests())
    _download(options, tmp_path / "b", "2024-02-01", "2024-02-10")
    back = _download(options, tmp_path / "b", "2024-01-30", "2024-02-10")
    new = futures.funding_requests()[n + 1 :]
    assert [(int(r.params["startTime"]), int(r.params["endTime"])) for r in new] == [
        (_ms("2024-01-30"), _ms("2024-02-01") - 1)
    ]
    assert back.new_rows == 6 and len(back.funding) == 11 * 3


def test_429_and_503_are_retried(
    futures: BinanceFuturesServer, options: dict, rates: pd.Series, tmp_path
) -> None:
    futures.fail_next(2, status=429, retry_after=3)
    futures.fail_next(
        1,
        status=503,
        retry_after=None,
        body={
            "code": -1001,
            "msg": "Internal error; unable to process your request. Please try again.",
        },
    )
    waits: list[float] = []
    result = _download(
        options, tmp_path, "2024-01-01", "2024-01-11", sleep=waits.append, backoff=0.5
    )
    # Retry-After honoured twice, then the backoff's third step (0.5 × 2²) for the 503
    assert waits == [3.0, 3.0, 2.0] and result.retries == 3 and result.requests == 4
    assert [r.status for r in futures.funding_requests()] == [429, 429, 503, 200]
    pd.testing.assert_series_equal(
        result.rates, rates.loc[:"2024-01-10 16:00"], check_freq=False, check_names=False
    )


def test_retries_exhausted_raise_a_retryable_error_and_keep_the_cache(
    futures: BinanceFuturesServer, options: dict, tmp_path
) -> None:
    first = _download(options, tmp_path, "2024-01-01", "2024-01-05")
    futures.fail_next(10, status=429, retry_after=1)
    with pytest.raises(VenueError) as err:
        _download(
            options, tmp_path, "2024-01-01", "2024-01-09", sleep=lambda s: None, max_retries=2
        )
    assert err.value.retryable and err.value.venue == "binanceusdm"
    pd.testing.assert_frame_equal(
        read_funding(funding_path(tmp_path, "binanceusdm", SYMBOL)), first.funding
    )


def test_duplicates_from_the_venue_are_dropped_and_jittered_times_are_no_gap(
    rates: pd.Series, tmp_path
) -> None:
    # Binance's funding times land a few ms after the hour (…00:00:00.004): not a gap
    jitter = pd.to_timedelta(np.arange(N) % 7, unit="ms")
    shifted = pd.Series(rates.to_numpy(), index=rates.index + jitter, name="funding_rate")
    with BinanceFuturesServer({"BTCUSDT": funding_rows(shifted)}) as srv:
        srv.mutate_funding = lambda rows: rows[:5] + rows[2:5] + rows[5:]  # 3 rows twice
        opts = ccxt_binanceusdm_options(srv.url)
        result = _download(opts, tmp_path, "2024-01-01", "2024-01-31")
        assert result.duplicates_dropped == 3 and result.report.ok
        assert result.funding.index.is_unique and len(result.funding) == 90
        assert result.funding["mark"].isna().all()  # markPrice "" as in Binance's oldest rows
        again = _download(opts, tmp_path, "2024-01-01", "2024-01-31")
        assert again.requests == 0  # the last time is 16:00:00.005: its slot ends the range


def test_gaps_are_reported_against_the_venue_interval(rates: pd.Series, tmp_path) -> None:
    holes = rates.drop(rates.index[[10, 11, 40]])
    with BinanceFuturesServer({"BTCUSDT": funding_rows(holes)}) as srv:
        opts = ccxt_binanceusdm_options(srv.url)
        result = _download(opts, tmp_path, "2024-01-01", "2024-02-01")
        assert result.report.gaps == [(rates.index[9], 2), (rates.index[39], 1)]
        assert result.report.missing == 3 and "3 missing in 2 gap(s)" in str(result.report)
        with pytest.raises(DataError, match="2 missing after 2024-01-04 00:00"):
            _download(opts, tmp_path / "s", "2024-01-01", "2024-02-01", strict=True)
    assert load_funding("binanceusdm", SYMBOL, tmp_path).attrs["gaps"] == result.report.gaps
    with pytest.raises(DataError, match="gaps"):
        load_funding("binanceusdm", SYMBOL, tmp_path, strict=True)


def test_hourly_venues_check_against_one_hour() -> None:
    idx = pd.date_range("2024-05-01", periods=6, freq="1h", tz="UTC")
    hourly = pd.Series([1e-5, 2e-5, -1e-5, 0.0, 3e-5, 1e-5], index=idx).drop(idx[[2, 3]])
    assert check_funding(hourly, "dydx").gaps == [(idx[1], 2)]
    assert check_funding(hourly, "hyperliquid").missing == 2
    # on an 8-hour venue, times 1 h or 3 h apart miss no funding time
    assert check_funding(hourly, "binanceusdm").ok


def test_a_repeated_funding_time_in_a_file_is_refused(tmp_path) -> None:
    path = funding_path(tmp_path, "binanceusdm", SYMBOL)
    path.parent.mkdir(parents=True)
    ts = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 08:00", "2024-01-01 08:00"], utc=True)
    pd.DataFrame({"ts": ts, "funding_rate": [1e-4, 2e-4, 3e-4], "mark": np.nan}).to_parquet(path)
    with pytest.raises(ValidationError) as err:
        load_funding("binanceusdm", SYMBOL, tmp_path)
    assert err.value.field == "ts" and "2024-01-01 08:00:00+00:00" in str(err.value)
    assert "2 times" in str(err.value)
    bad = pd.Series([1e-4, np.nan], index=ts[:2])
    with pytest.raises(ValidationError, match="funding_rate"):
        check_funding(bad, "binanceusdm")
    with pytest.raises(DataError, match="nzeza data funding binanceusdm BTC/USDT:USDT"):
        load_funding("binanceusdm", SYMBOL, tmp_path / "none")


def test_bad_arguments_name_field_and_value(options: dict, tmp_path) -> None:
    with pytest.raises(ValidationError) as err:
        download_funding("binanceusdm", "BTC/USDT:USDT", "2024-02-01", "2024-01-01")
    assert err.value.field == "until"
    with pytest.raises(ValidationError) as err:
        _download(options, tmp_path, "2024-01-01", "2024-01-02", limit=0)
    assert err.value.field == "limit"
    with pytest.raises(ValidationError) as err:
        download_funding(
            "binanceusdm", "ETH/USDT:USDT", "2024-01-01", "2024-01-02", tmp_path, False, options
        )
    assert err.value.field == "symbol" and err.value.value == "ETH/USDT:USDT"
    with pytest.raises(ValidationError) as err:
        download_funding("kraken", "BTC/USD", "2024-01-01", "2024-01-02", tmp_path, False)
    assert err.value.field == "exchange"


def test_mark_price_bars_into_the_cache_and_through_load(
    futures: BinanceFuturesServer, options: dict, mark_bars: pd.DataFrame, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("NZEZA_DATA_DIR", str(tmp_path))
    result = download_mark(
        "binanceusdm",
        SYMBOL,
        "1h",
        "2024-01-01",
        "2024-01-03",
        exchange_options=options,
        progress=False,
    )
    assert [r.path for r in futures.mark_requests()] == ["/fapi/v1/markPriceKlines"]
    req = futures.mark_requests()[0].params
    assert req["symbol"] == "BTCUSDT" and int(req["startTime"]) == _ms(START)
    assert result.report.ok and result.new_bars == 48 and result.path.name == "1h-mark.parquet"
    expected = mark_bars.iloc[:48]
    pd.testing.assert_frame_equal(result.bars, expected, check_freq=False)
    via_spec = load("ccxt:binanceusdm:BTC/USDT:USDT:1h:mark")
    pd.testing.assert_frame_equal(via_spec, expected, check_freq=False)
    assert via_spec.attrs["price"] == "mark" and via_spec.attrs["symbol"] == SYMBOL
    pd.testing.assert_frame_equal(load_mark("binanceusdm", SYMBOL, "1h"), via_spec)
    with pytest.raises(DataError, match="nzeza data mark binanceusdm BTC/USDT:USDT"):
        load("ccxt:binanceusdm:BTC/USDT:USDT:4h:mark")


def test_funding_and_mark_through_the_cli(
    futures: BinanceFuturesServer, rates: pd.Series, tmp_path, capsys, monkeypatch
) -> None:
    tmp_path = tmp_path / "ohlcv"  # the default cache under NZEZA_DATA_DIR
    common = ["--cache", str(tmp_path), "--api-base", futures.url, "--no-progress"]
    argv = ["data", "funding", "binanceusdm", SYMBOL, "--since", "2024-01-01"]
    assert main([*argv, "--until", "2024-01-11", *common]) == 0
    out = capsys.readouterr().out
    assert "30 rates" in out and "30 new from 1 request" in out and "every 8 h" in out
    assert ": OK" in out
    pd.testing.assert_series_equal(
        load_funding("binanceusdm", SYMBOL, tmp_path), rates.iloc[:30], check_freq=False
    )
    assert main([*argv, "--until", "2024-01-11", *common]) == 0
    assert "0 new from 0 request" in capsys.readouterr().out
    mark = ["data", "mark", "binanceusdm", SYMBOL, "--timeframe", "1h", "--since", "2024-01-01"]
    assert main([*mark, "--until", "2024-01-02", *common]) == 0
    out = capsys.readouterr().out
    assert "1h mark: 24 bars" in out and ": OK" in out  # no volume is no fault in marks
    monkeypatch.setenv("NZEZA_DATA_DIR", str(tmp_path.parent))
    spec = f"ccxt:binanceusdm:{SYMBOL}:1h:mark"
    assert main(["data", "validate", spec, "--strict"]) == 0 and ": OK" in capsys.readouterr().out
    assert main(["data", "funding", "binanceusdm", SYMBOL, "--since", "2024-13-01", *common]) == 2
    assert "'2024-13-01'" in capsys.readouterr().err


def test_dydx_pages_backwards_from_the_range_end(tmp_path) -> None:
    # dYdX's indexer has no "from": pages of the newest 100 rows at or before effectiveBeforeOrAt.
    # 10 days of hourly funding (240 rows, stamped 13 ms after the hour, as dYdX stamps them)
    idx = pd.date_range("2024-03-01", periods=240, freq="1h", tz="UTC").as_unit("ns")
    stamped = (idx + pd.Timedelta(milliseconds=13)).rename("ts")
    rates = pd.Series((np.arange(240) % 9 - 4) * 1.25e-6, index=stamped, name="funding_rate")
    prices = pd.Series(60_000.0 + np.arange(240), index=stamped)
    with DydxIndexerServer({"BTC-USD": dydx_rows(rates, prices, "BTC-USD")}) as srv:
        opts = ccxt_dydx_options(srv.url)
        sym = "BTC/USDC:USDC"
        kw: dict[str, Any] = {"cache_dir": tmp_path, "exchange_options": opts, "progress": False}
        result = download_funding("dydx", sym, "2024-03-02", "2024-03-09", **kw)
        # 168 rows in [03-02, 03-09): a page of 100 back from 03-08 23:00 (to 23:00 − 99 h =
        # 03-04 20:00), then the 68 before it (a short page: done)
        befores = [r["effectiveBeforeOrAt"] for r in srv.funding_requests()]
        assert befores == ["2024-03-08T23:59:59.999Z", "2024-03-04T20:00:00.012Z"]
        assert (
            result.new_rows == 7 * 24
            and result.report.ok
            and result.report.interval == (pd.Timedelta(hours=1))
        )
        pd.testing.assert_series_equal(
            result.rates, rates.loc["2024-03-02":"2024-03-08 23:59"], check_freq=False
        )
        assert (result.funding["mark"] == prices.loc["2024-03-02":"2024-03-08 23:59"]).all()
        # resuming: the hours after the cache only, one page back from the new end
        n = len(srv.funding_requests())
        more = download_funding("dydx", sym, "2024-03-02", "2024-03-10", **kw)
        assert [r["effectiveBeforeOrAt"] for r in srv.funding_requests()[n:]] == [
            "2024-03-09T23:59:59.999Z"
        ]
        assert more.new_rows == 24 and len(more.funding) == 8 * 24


def test_an_interrupted_download_keeps_its_pages_and_resumes(
    futures: BinanceFuturesServer, options: dict, rates: pd.Series, tmp_path
) -> None:
    import ccxt

    from nzeza.data.download import make_exchange

    real = ccxt.binanceusdm.fetch_funding_rate_history
    calls: list[int] = []

    def third_interrupts(self: Any, *a: Any, **kw: Any) -> Any:
        calls.append(kw["since"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, *a, **kw)

    ex = make_exchange("binanceusdm", options)
    ex.fetch_funding_rate_history = third_interrupts.__get__(ex)
    kw: dict[str, Any] = {"cache_dir": tmp_path, "progress": False, "limit": 50}
    with pytest.raises(KeyboardInterrupt):
        download_funding(ex, SYMBOL, "2024-01-01", "2024-03-01", **kw)
    kept = read_funding(funding_path(tmp_path, "binanceusdm", SYMBOL))
    assert len(kept) == 100  # two pages of 50
    n = len(futures.funding_requests())
    resumed = download_funding(
        "binanceusdm", SYMBOL, "2024-01-01", "2024-03-01", exchange_options=options, **kw
    )
    # 60 days × 3 = 180 funding times: the 80 after the kept 100, in pages of 50 and 30
    assert [int(r.params["startTime"]) for r in futures.funding_requests()[n:]] == [
        _ms(rates.index[99]) + 1,
        _ms(rates.index[149]) + 1,
    ]
    assert resumed.new_rows == 80
    pd.testing.assert_series_equal(resumed.rates, rates.iloc[:180], check_freq=False)
