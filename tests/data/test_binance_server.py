"""The local Binance REST server used by the downloader tests speaks Binance's kline semantics."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pandas as pd
import pytest
from support.sim.binance_market import BinanceRestServer

H = 3_600_000
T0 = int(pd.Timestamp("2021-01-01", tz="UTC").value // 10**6)


def get(srv: BinanceRestServer, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(srv.url + path, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_kline_rows_have_binance_shape(binance: BinanceRestServer, served_bars) -> None:
    status, rows = get(binance, f"/api/v3/klines?symbol=BTCUSDT&interval=1h&startTime={T0}&limit=2")
    assert status == 200 and len(rows) == 2
    row = rows[0]
    assert len(row) == 12 and row[0] == T0 and row[6] == T0 + H - 1
    assert all(isinstance(row[i], str) for i in (1, 2, 3, 4, 5, 7, 9, 10, 11))
    assert float(row[1]) == served_bars.loc["2021-01-01 00:00", "open"]
    assert rows[1][0] == T0 + H


def test_time_window_semantics(binance: BinanceRestServer) -> None:
    q = "/api/v3/klines?symbol=BTCUSDT&interval=1h"
    _, both = get(binance, f"{q}&startTime={T0}&endTime={T0 + 5 * H}&limit=1000")
    assert [r[0] for r in both] == [T0 + i * H for i in range(6)]  # both ends inclusive
    _, end_only = get(binance, f"{q}&endTime={T0}&limit=3")
    assert [r[0] for r in end_only] == [T0 - 2 * H, T0 - H, T0]  # latest 3 up to endTime
    _, mid = get(binance, f"{q}&startTime={T0 + 1}&limit=1")
    assert mid[0][0] == T0 + H  # first bar opening at or after startTime
    _, default = get(binance, f"{q}&startTime={T0}")
    assert len(default) == 500  # default limit
    _, latest = get(binance, q + "&limit=2")
    assert latest[-1][0] == int(pd.Timestamp("2021-05-31 23:00", tz="UTC").value // 10**6)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("symbol=BTCUSDT&interval=1h&limit=1001", -1130),
        ("symbol=BTCUSDT&interval=1h&limit=0", -1130),
        ("symbol=DOGEUSDT&interval=1h", -1121),
        ("symbol=BTCUSDT&interval=2x", -1120),
        ("interval=1h", -1102),
    ],
)
def test_errors_as_binance_sends_them(binance: BinanceRestServer, query: str, code: int) -> None:
    status, body = get(binance, f"/api/v3/klines?{query}")
    assert status == 400 and body["code"] == code and body["msg"]


def test_exchange_info_and_unknown_paths(binance: BinanceRestServer) -> None:
    status, info = get(binance, "/api/v3/exchangeInfo")
    assert status == 200 and info["timezone"] == "UTC"
    (sym,) = info["symbols"]
    assert (sym["symbol"], sym["baseAsset"], sym["quoteAsset"], sym["status"]) == (
        "BTCUSDT",
        "BTC",
        "USDT",
        "TRADING",
    )
    filters = {f["filterType"] for f in sym["filters"]}
    assert {"PRICE_FILTER", "LOT_SIZE", "NOTIONAL"} <= filters
    assert "SPOT" in sym["permissions"]
    assert get(binance, "/fapi/v1/exchangeInfo")[0] == 404


def test_rate_limit_fault_then_recovery(binance: BinanceRestServer) -> None:
    binance.fail_next(1, status=429, retry_after=7)
    req = urllib.request.Request(binance.url + "/api/v3/klines?symbol=BTCUSDT&interval=1h")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 429 and err.value.headers["Retry-After"] == "7"
    assert get(binance, "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=1")[0] == 200
