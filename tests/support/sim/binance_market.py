"""A local HTTP server on 127.0.0.1 that speaks the Binance spot REST endpoints ccxt uses for
markets and klines, serving real bars (e.g. a bundled sample) — for tests, never the internet.

Endpoints (paths, parameters and shapes as Binance documents them):
- `GET /api/v3/ping` → `{}`; `GET /api/v3/time` → `{"serverTime": ms}`
- `GET /api/v3/exchangeInfo` → timezone, serverTime, rateLimits, exchangeFilters, symbols with
  status TRADING, PRICE_FILTER / LOT_SIZE / NOTIONAL filters, permissions and permissionSets
- `GET /api/v3/klines?symbol=&interval=&startTime=&endTime=&limit=` → arrays of 12 fields
  `[openTime, "open", "high", "low", "close", "volume", closeTime, "quoteVolume", trades,
  "takerBuyBase", "takerBuyQuote", "0"]`, prices as strings; limit default 500, max 1000;
  startTime/endTime select bars by open time (inclusive); with only endTime (or neither) the
  latest `limit` bars up to it. Errors as Binance sends them: HTTP 400 with
  `{"code": -1121, "msg": "Invalid symbol."}`, -1120 invalid interval, -1130 bad limit.

Anything else → 404. Test hooks: `fail_next(n, status=429, retry_after=1)` answers the next n
kline requests with a rate-limit error and a `Retry-After` header; `mutate` rewrites the rows
of a kline response (to serve deliberately bad data); `requests` records every request.

Point ccxt at it with `ccxt_binance_options(server.url)`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

INTERVALS = {
    "1s": 1,
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
    "3d": 259200,
    "1w": 604800,
    "1M": 2592000,
}

Row = list[Any]


def symbol_info(
    symbol: str, base: str, quote: str, tick: str, step: str, min_notional: str = "5.00000000"
) -> dict[str, Any]:
    """One symbol of `GET /api/v3/exchangeInfo` as Binance sends it (both simulators use it)."""
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": [
            "LIMIT",
            "LIMIT_MAKER",
            "MARKET",
            "STOP_LOSS",
            "STOP_LOSS_LIMIT",
            "TAKE_PROFIT",
            "TAKE_PROFIT_LIMIT",
        ],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": "1000000.00000000",
                "tickSize": tick,
            },
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000.00000000", "stepSize": step},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": "76.51206670",
                "stepSize": "0.00000000",
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": min_notional,
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": ["SPOT", "MARGIN"],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def klines_from_frame(df: pd.DataFrame, interval: str) -> list[Row]:
    """Binance kline rows for an OHLCV frame (index = open time, UTC)."""
    step_ms = INTERVALS[interval] * 1000
    open_ms = (df.index.as_unit("ns").asi8 // 1_000_000).astype(np.int64)
    rows = []
    for t, o, h, lo, c, v in zip(
        open_ms, df["open"], df["high"], df["low"], df["close"], df["volume"], strict=True
    ):
        quote = v * (o + c) / 2
        rows.append(
            [
                int(t),
                f"{o:.8f}",
                f"{h:.8f}",
                f"{lo:.8f}",
                f"{c:.8f}",
                f"{v:.8f}",
                int(t) + step_ms - 1,
                f"{quote:.8f}",
                int(v * 7) + 1,
                f"{v / 2:.8f}",
                f"{quote / 2:.8f}",
                "0",
            ]
        )
    return rows


@dataclass
class Request:
    path: str
    params: dict[str, str]
    status: int = 200


class BinanceRestServer:
    """Serves `bars[(symbol, interval)]` (kline rows, ascending) on 127.0.0.1:<free port>."""

    def __init__(self, bars: dict[tuple[str, str], list[Row]], now_ms: int | None = None) -> None:
        self.bars = {k: sorted(v, key=lambda r: r[0]) for k, v in bars.items()}
        self._open_times = {
            k: np.array([r[0] for r in v], dtype=np.int64) for k, v in self.bars.items()
        }
        self.now_ms = now_ms
        self.requests: list[Request] = []
        self.mutate: Callable[[list[Row]], list[Row]] | None = None
        self._failures: list[tuple[int, int | None, dict[str, Any] | None]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> BinanceRestServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._handle(self)

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> BinanceRestServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- test hooks ------------------------------------------------------------------------
    def fail_next(
        self,
        n: int,
        status: int = 429,
        retry_after: int | None = 1,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next `n` data requests with `status` (429/418, or a 5xx with its `body`)
        and `Retry-After`."""
        with self._lock:
            self._failures.extend([(status, retry_after, body)] * n)

    def kline_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/api/v3/klines"]

    # -- handlers --------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        req = Request(parts.path, params)
        with self._lock:
            self.requests.append(req)
        route = self.routes().get(parts.path)
        headers: dict[str, str] = {}
        if route is None:
            status, body = 404, {"code": -1, "msg": f"no route {parts.path}"}
        elif parts.path in self.faulted_paths and self._failures:
            with self._lock:
                status, retry_after, fault_body = self._failures.pop(0)
            body = fault_body or {
                "code": -1003,
                "msg": "Too many requests; current limit of IP(127.0.0.1) is 6000 requests "
                "per minute. Please use the websocket for live updates to avoid polling "
                "the API.",
            }
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
        else:
            status, body = route(params)
        req.status = status
        payload = json.dumps(body, separators=(",", ":")).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json;charset=UTF-8")
        h.send_header("Content-Length", str(len(payload)))
        h.send_header("x-mbx-used-weight", "2")
        h.send_header("x-mbx-used-weight-1m", "2")
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(payload)

    # What a subclass extends: path → handler(params) -> (status, body); and which paths
    # `fail_next` faults (the data endpoints, never the market list).
    faulted_paths: frozenset[str] = frozenset({"/api/v3/klines"})

    def routes(self) -> dict[str, Callable[[dict[str, str]], tuple[int, Any]]]:
        return {
            "/api/v3/ping": lambda p: (200, {}),
            "/api/v3/time": lambda p: (200, {"serverTime": self._now()}),
            "/api/v3/exchangeInfo": self._exchange_info,
            "/api/v3/klines": self._klines,
        }

    def _now(self) -> int:
        if self.now_ms is not None:
            return self.now_ms
        return int(pd.Timestamp.now(tz="UTC").value // 1_000_000)

    def _exchange_info(self, params: dict[str, str]) -> tuple[int, Any]:
        symbols = sorted({s for s, _ in self.bars})
        infos = []
        for s in symbols:
            base, quote = (s[:-4], s[-4:]) if s.endswith("USDT") else (s[:-3], s[-3:])
            infos.append(symbol_info(s, base, quote, "0.01000000", "0.00001000"))
        return 200, {
            "timezone": "UTC",
            "serverTime": self._now(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {
                    "rateLimitType": "RAW_REQUESTS",
                    "interval": "MINUTE",
                    "intervalNum": 5,
                    "limit": 61000,
                },
            ],
            "exchangeFilters": [],
            "symbols": infos,
        }

    def _klines(self, params: dict[str, str]) -> tuple[int, Any]:
        symbol, interval = params.get("symbol"), params.get("interval")
        if not symbol:
            return 400, {
                "code": -1102,
                "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            }
        if interval not in INTERVALS:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        if not any(s == symbol for s, _ in self.bars):
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        try:
            limit = int(params.get("limit", 500))
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
        if not 1 <= limit <= 1000:
            return 400, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}
        rows = self.bars.get((symbol, interval), [])
        times = self._open_times.get((symbol, interval), np.array([], dtype=np.int64))
        lo = 0 if start is None else int(np.searchsorted(times, start, side="left"))
        hi = len(times) if end is None else int(np.searchsorted(times, end, side="right"))
        # Only the current (unfinished) bar or earlier exists on a real exchange.
        hi = min(hi, int(np.searchsorted(times, self._now(), side="right")))
        window = rows[lo:hi]
        # From startTime: the first `limit` bars; otherwise the latest `limit` up to endTime.
        page = window[:limit] if start is not None else window[-limit:]
        out = [list(r) for r in page]
        if self.mutate is not None:
            out = self.mutate(out)
        return 200, out


def ccxt_binance_options(base_url: str) -> dict[str, Any]:
    """ccxt config sending every Binance API family to `base_url` (same paths), spot only."""
    import ccxt

    api = {}
    for key, url in ccxt.binance().describe()["urls"]["api"].items():
        path = urlsplit(url).path
        api[key] = base_url.rstrip("/") + path
    return {
        "urls": {"api": api},
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False},
    }


__all__ = ["BinanceRestServer", "Request", "ccxt_binance_options", "klines_from_frame"]
