"""A local HTTP server on 127.0.0.1 that speaks the Binance USDⓈ-M futures REST endpoints ccxt's
`binanceusdm` uses to load markets and read funding-rate and mark-price history — for tests,
never the internet. It runs in the spot server's shell (`BinanceRestServer`): same request log,
same `fail_next` faults (on the data endpoints), same `mutate` hook.

Endpoints (paths, parameters and shapes as Binance documents them,
developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api):
- `GET /fapi/v1/ping` → `{}`; `GET /fapi/v1/time` → `{"serverTime": ms}`
- `GET /fapi/v1/exchangeInfo` → timezone, serverTime, futuresType, rateLimits, assets, symbols
  (contractType PERPETUAL, marginAsset, pricePrecision, quantityPrecision, PRICE_FILTER /
  LOT_SIZE / MARKET_LOT_SIZE / MIN_NOTIONAL filters, ...)
- `GET /fapi/v1/fundingRate?symbol=&startTime=&endTime=&limit=` (Get Funding Rate History) →
  `[{"symbol", "fundingRate", "fundingTime", "markPrice"}]`, ascending; rate and mark as strings,
  the time an integer of ms; limit default 100, max 1000; with startTime, the first `limit` rows
  at or after it (up to endTime); without, the latest `limit` rows up to endTime (or now).
  Errors: HTTP 400 `{"code": -1121, "msg": "Invalid symbol."}`, -1130 bad limit.
- `GET /fapi/v1/markPriceKlines?symbol=&interval=&startTime=&endTime=&limit=` → kline arrays
  like spot's, volume fields "0" (a mark price has no volume).

Build funding rows with `funding_rows(series, marks)`; point ccxt at the server with
`ccxt_binanceusdm_options(server.url)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from support.sim.binance_market import INTERVALS, BinanceRestServer, Row, klines_from_frame


def funding_rows(rates: pd.Series, marks: pd.Series | None = None) -> list[dict[str, Any]]:
    """`fundingRate` response rows for a series of rates (index = funding times, UTC), with
    the mark price at each time when given (Binance prints both with 8 decimals)."""
    ms = (rates.index.as_unit("ns").asi8 // 1_000_000).astype(np.int64)
    rows = []
    for i, (t, r) in enumerate(zip(ms, rates.to_numpy(), strict=True)):
        mark = "" if marks is None else f"{float(marks.iloc[i]):.8f}"
        rows.append(
            {"symbol": "", "fundingTime": int(t), "fundingRate": f"{r:.8f}", "markPrice": mark}
        )
    return rows


def mark_klines_from_frame(df: pd.DataFrame, interval: str) -> list[Row]:
    """`markPriceKlines` rows for an OHLC frame: the kline layout, every volume field "0"."""
    rows = klines_from_frame(df.assign(volume=0.0), interval)
    for r in rows:
        r[5], r[7], r[8], r[9], r[10] = "0", "0", 0, "0", "0"
    return rows


def perpetual_info(symbol: str, base: str, quote: str) -> dict[str, Any]:
    """One symbol of `GET /fapi/v1/exchangeInfo` as Binance sends it for a USDⓈ-M perpetual."""
    return {
        "symbol": symbol,
        "pair": symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": quote,
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": ["PoW"],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "maxPrice": "4529764",
                "minPrice": "556.80",
                "tickSize": "0.10",
            },
            {"filterType": "LOT_SIZE", "maxQty": "1000", "minQty": "0.001", "stepSize": "0.001"},
            {
                "filterType": "MARKET_LOT_SIZE",
                "maxQty": "120",
                "minQty": "0.001",
                "stepSize": "0.001",
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSets": ["GRID", "COPY"],
    }


class BinanceFuturesServer(BinanceRestServer):
    """Serves `funding[symbol]` (fundingRate rows) and `mark[(symbol, interval)]` (kline rows)
    for USDⓈ-M perpetuals `symbols` on 127.0.0.1:<free port>."""

    faulted_paths = frozenset({"/fapi/v1/fundingRate", "/fapi/v1/markPriceKlines"})

    def __init__(
        self,
        funding: dict[str, list[dict[str, Any]]],
        mark: dict[tuple[str, str], list[Row]] | None = None,
        now_ms: int | None = None,
    ) -> None:
        super().__init__(mark or {}, now_ms=now_ms)
        self.funding = {
            s: sorted(({**r, "symbol": s} for r in rows), key=lambda r: r["fundingTime"])
            for s, rows in funding.items()
        }
        self.symbols = sorted(set(self.funding) | {s for s, _ in self.bars})
        self.mutate_funding: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None
        self.api_secret: str | None = None  # set: /fapi/v1/income checks the HMAC signature
        self.income: list[dict[str, Any]] = []  # the account's income history (`pay_funding`)

    def pay_funding(self, symbol: str, time_ms: int, income: str, tran_id: int) -> None:
        """A FUNDING_FEE income row (credited > 0, debited < 0), as Binance sends it."""
        self.income.append(
            {"symbol": symbol, "incomeType": "FUNDING_FEE", "income": income, "asset": "USDT",
             "info": "FUNDING_FEE", "time": time_ms, "tranId": tran_id, "tradeId": ""}
        )  # fmt: skip

    def routes(self) -> dict[str, Callable[[dict[str, str]], tuple[int, Any]]]:
        return {
            "/fapi/v1/ping": lambda p: (200, {}),
            "/fapi/v1/time": lambda p: (200, {"serverTime": self._now()}),
            "/fapi/v1/exchangeInfo": self._futures_info,
            "/fapi/v1/fundingRate": self._funding_rate,
            "/fapi/v1/markPriceKlines": self._mark_klines,
            "/fapi/v1/income": self._income,
        }

    def _income(self, params: dict[str, str]) -> tuple[int, Any]:
        """GET /fapi/v1/income (USER_DATA, signed): symbol, incomeType, startTime, endTime,
        limit (100, at most 1000); oldest first from startTime, else the newest `limit`."""
        import hashlib
        import hmac
        from urllib.parse import urlencode

        if "signature" not in params or "timestamp" not in params:
            return 400, {"code": -1102, "msg": "Mandatory parameter 'signature' was not sent."}
        if self.api_secret is not None:
            unsigned = urlencode({k: v for k, v in params.items() if k != "signature"})
            want = hmac.new(self.api_secret.encode(), unsigned.encode(), hashlib.sha256)
            if not hmac.compare_digest(want.hexdigest(), params["signature"]):
                return 400, {"code": -1022, "msg": "Signature for this request is not valid."}
        try:
            limit = int(params.get("limit", 100))
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
        if not 1 <= limit <= 1000:
            return 400, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}
        rows = sorted(self.income, key=lambda r: r["time"])
        rows = [
            r for r in rows
            if ("symbol" not in params or r["symbol"] == params["symbol"])
            and ("incomeType" not in params or r["incomeType"] == params["incomeType"])
            and (start is None or r["time"] >= start)
            and (end is None or r["time"] <= end)
        ]  # fmt: skip
        return 200, rows[:limit] if start is not None else rows[-limit:]

    def funding_requests(self) -> list[Any]:
        return [r for r in self.requests if r.path == "/fapi/v1/fundingRate"]

    def mark_requests(self) -> list[Any]:
        return [r for r in self.requests if r.path == "/fapi/v1/markPriceKlines"]

    def _futures_info(self, params: dict[str, str]) -> tuple[int, Any]:
        return 200, {
            "timezone": "UTC",
            "serverTime": self._now(),
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 2400,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            ],
            "exchangeFilters": [],
            "assets": [
                {"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"},
                {"asset": "BTC", "marginAvailable": True, "autoAssetExchange": "-0.10000000"},
            ],
            "symbols": [perpetual_info(s, s[:-4], s[-4:]) for s in self.symbols],
        }

    def _funding_rate(self, params: dict[str, str]) -> tuple[int, Any]:
        symbol = params.get("symbol")
        if symbol is not None and symbol not in self.symbols:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        try:
            limit = int(params.get("limit", 100))
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
        if not 1 <= limit <= 1000:
            return 400, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}
        rows = self.funding.get(symbol or "", [])
        hi = self._now() if end is None else min(end, self._now())
        window = [r for r in rows if (start is None or r["fundingTime"] >= start)]
        window = [r for r in window if r["fundingTime"] <= hi]
        page = window[:limit] if start is not None else window[-limit:]
        out = [dict(r) for r in page]
        if self.mutate_funding is not None:
            out = self.mutate_funding(out)
        return 200, out

    def _mark_klines(self, params: dict[str, str]) -> tuple[int, Any]:
        if params.get("interval") not in INTERVALS:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        return self._klines(params)


def ccxt_binanceusdm_options(base_url: str) -> dict[str, Any]:
    """ccxt config sending every binanceusdm API family to `base_url` (same paths)."""
    import ccxt

    api = {}
    for key, url in ccxt.binanceusdm().describe()["urls"]["api"].items():
        if isinstance(url, str):
            api[key] = base_url.rstrip("/") + urlsplit(url).path
    return {"urls": {"api": api}}


__all__ = [
    "BinanceFuturesServer",
    "ccxt_binanceusdm_options",
    "funding_rows",
    "mark_klines_from_frame",
    "perpetual_info",
]
