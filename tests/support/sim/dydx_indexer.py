"""A local HTTP server on 127.0.0.1 that speaks the two dYdX v4 indexer endpoints ccxt's `dydx`
reads for funding history — for tests, never the internet.

Endpoints (shapes as the indexer sends them; docs.dydx.xyz/indexer-client/http and the
response examples in ccxt's dydx.py):
- `GET /v4/perpetualMarkets` → `{"markets": {ticker: {clobPairId, ticker, status, oraclePrice,
  nextFundingRate, initialMarginFraction, maintenanceMarginFraction, atomicResolution,
  quantumConversionExponent, tickSize, stepSize, stepBaseQuantums, subticksPerTick, ...}}}`
- `GET /v4/historicalFunding/{ticker}?limit=&effectiveBeforeOrAt=` → `{"historicalFunding":
  [{"ticker", "rate", "price", "effectiveAtHeight", "effectiveAt"}]}`, newest first: the
  `limit` (default 100, max 100) latest rows effective at or before `effectiveBeforeOrAt`
  (ISO 8601; default now). The indexer pages backwards; it has no "from" parameter.

Build rows with `funding_rows(rates, prices)`; point ccxt at it with
`ccxt_dydx_options(server.url)`. `requests` records (path, params) of every request.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd


def _iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def funding_rows(rates: pd.Series, prices: pd.Series, ticker: str) -> list[dict[str, Any]]:
    """`historicalFunding` rows for rates at their funding times (index, UTC), oldest first."""
    return [
        {
            "ticker": ticker,
            "rate": f"{r:.10g}",
            "price": f"{p:.10g}",
            "effectiveAtHeight": str(44_000_000 + 3_600 * i),
            "effectiveAt": _iso(t),
        }
        for i, (t, r, p) in enumerate(zip(rates.index, rates, prices, strict=True))
    ]


def market(ticker: str, oracle: str, tick: str, step: str) -> dict[str, Any]:
    """One perpetual market of `/v4/perpetualMarkets` (the fields of the indexer's response)."""
    return {
        "clobPairId": "0",
        "ticker": ticker,
        "status": "ACTIVE",
        "oraclePrice": oracle,
        "priceChange24H": "0",
        "volume24H": "0",
        "trades24H": 0,
        "nextFundingRate": "0",
        "initialMarginFraction": "0.02",
        "maintenanceMarginFraction": "0.012",
        "openInterest": "52.0691",
        "atomicResolution": -10,
        "quantumConversionExponent": -9,
        "tickSize": tick,
        "stepSize": step,
        "stepBaseQuantums": 1000000,
        "subticksPerTick": 100000,
        "marketType": "CROSS",
        "openInterestLowerCap": "0",
        "openInterestUpperCap": "0",
        "baseOpenInterest": "50.3776",
        "defaultFundingRate1H": "0",
    }


class DydxIndexerServer:
    """Serves `funding[ticker]` (rows, any order) for the markets in it on 127.0.0.1."""

    def __init__(self, funding: dict[str, list[dict[str, Any]]]) -> None:
        self.funding = {
            t: sorted(rows, key=lambda r: r["effectiveAt"], reverse=True)
            for t, rows in funding.items()
        }
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._httpd: ThreadingHTTPServer | None = None

    def start(self) -> DydxIndexerServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> DydxIndexerServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def funding_requests(self) -> list[dict[str, str]]:
        return [p for path, p in self.requests if path.startswith("/v4/historicalFunding/")]

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.requests.append((parts.path, params))
        status, body = 404, {"errors": [{"msg": f"no route {parts.path}"}]}
        if parts.path == "/v4/perpetualMarkets":
            markets = {t: market(t, "60000", "1", "0.0001") for t in self.funding}
            status, body = 200, {"markets": markets}
        elif parts.path.startswith("/v4/historicalFunding/"):
            status, body = self._historical(parts.path.rsplit("/", 1)[-1], params)
        payload = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    def _historical(self, ticker: str, params: dict[str, str]) -> tuple[int, Any]:
        if ticker not in self.funding:
            return 404, {"errors": [{"msg": f"{ticker} not found in markets of type PERPETUAL"}]}
        limit = int(params.get("limit", 100))
        if not 1 <= limit <= 100:
            return 400, {"errors": [{"param": "limit", "msg": "limit must be in [1, 100]"}]}
        rows = self.funding[ticker]
        if "effectiveBeforeOrAt" in params:
            before = pd.Timestamp(params["effectiveBeforeOrAt"])
            rows = [r for r in rows if pd.Timestamp(r["effectiveAt"]) <= before]
        return 200, {"historicalFunding": rows[:limit]}


def ccxt_dydx_options(base_url: str) -> dict[str, Any]:
    """ccxt config sending dydx's indexer calls to `base_url` (same `/v4` path)."""
    return {"urls": {"api": {"indexer": base_url.rstrip("/") + "/v4"}}}


__all__ = ["DydxIndexerServer", "ccxt_dydx_options", "funding_rows", "market"]
