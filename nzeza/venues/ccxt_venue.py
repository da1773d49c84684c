"""One ccxt wrapper for every CEX (ccxt.async_support), with per-venue differences as data.

`CAPABILITIES["default"]` says how a typical venue behaves; each venue's entry overrides only
what differs (freqtrade's `_ft_has` idea). ccxt exceptions become `VenueError` with the
retryable flag set by `map_error`: network trouble, timeouts, 429/DDoS and unavailability are
retryable; invalid orders, insufficient funds, auth and bad requests are not.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from nzeza.domain import Fill, Instrument, OrderStatus, OrderType, Side
from nzeza.errors import ConfigError, VenueError
from nzeza.venues.base import Balance, OrderRequest, Venue, VenueOrder, VenuePosition

CAPABILITIES: dict[str, dict[str, Any]] = {
    "default": {
        "options": {},
        "client_id_param": "clientOrderId",
        "fetch_by_client_id_param": "clientOrderId",
        "market_type": "spot",
        "positions": False,
        "needs_price_for_market": False,
    },
    "binance": {
        "options": {
            "fetchMarkets": ["spot"],
            "fetchCurrencies": False,
            "fetchMargins": False,
            "defaultType": "spot",
        },
        "client_id_param": "newClientOrderId",
        "fetch_by_client_id_param": "origClientOrderId",
    },
    "coinbase": {"options": {"fetchCurrencies": False}, "client_id_param": "client_order_id"},
    "kraken": {"options": {"fetchCurrencies": False}, "client_id_param": "cl_ord_id"},
    "hyperliquid": {
        "options": {"fetchMarkets": ["spot"]},
        "client_id_param": "clientOrderId",
        "positions": True,
        "needs_price_for_market": True,  # market orders carry a slippage-bounded price
    },
}

_STATUS = {
    "open": OrderStatus.ACCEPTED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


def capabilities(venue: str) -> dict[str, Any]:
    out = dict(CAPABILITIES["default"])
    out.update(CAPABILITIES.get(venue, {}))
    return out


def map_error(venue: str, exc: BaseException, http_status: int | None = None) -> VenueError:
    """A ccxt exception as a VenueError with the right retryable flag (message redacted).

    `http_status`, when known, catches what ccxt classifies by body alone: a 429 or 5xx answer
    whose JSON error code ccxt maps to a generic ExchangeError is still retryable.
    """
    import ccxt

    retryable_types = (
        ccxt.RequestTimeout,
        ccxt.DDoSProtection,  # includes RateLimitExceeded (HTTP 429)
        ccxt.ExchangeNotAvailable,  # includes OnMaintenance (5xx)
        ccxt.NetworkError,
    )
    never = (ccxt.InvalidOrder, ccxt.InsufficientFunds, ccxt.AuthenticationError, ccxt.BadRequest)
    retryable = isinstance(exc, retryable_types) and not isinstance(exc, never)
    if http_status is not None and (http_status == 429 or http_status >= 500):
        retryable = not isinstance(exc, never)
    code = type(exc).__name__
    text = str(exc)[:300]
    return VenueError(venue, text or code, retryable=retryable, code=code)


class CcxtVenue(Venue):
    """A ccxt exchange behind the `Venue` interface. `api_url` points every REST base of the
    exchange at another host (the local simulators); live endpoints must be https."""

    def __init__(
        self,
        exchange_id: str,
        *,
        credentials: dict[str, Any] | None = None,
        api_url: str | None = None,
        timeout_ms: int = 10_000,
        live: bool = False,
    ) -> None:
        super().__init__()
        import ccxt.async_support as ccxt_async

        if not hasattr(ccxt_async, exchange_id):
            raise ConfigError("venue", f"ccxt has no exchange {exchange_id!r}")
        if live and api_url is not None and urlparse(api_url).scheme != "https":
            raise ConfigError(f"{exchange_id}.rest_url", "live endpoints must be https://")
        self.name = exchange_id
        self.caps = capabilities(exchange_id)
        config: dict[str, Any] = {"enableRateLimit": False, "timeout": timeout_ms}
        config["options"] = dict(self.caps["options"])
        for k, v in (credentials or {}).items():
            secret = v.get_secret_value() if hasattr(v, "get_secret_value") else v
            if secret is not None:
                from nzeza.ops.secrets import register_secret

                register_secret(secret)
                config[k] = secret
        self.exchange = getattr(ccxt_async, exchange_id)(config)
        if api_url is not None:
            _point_at(self.exchange, api_url)
        self.instruments: dict[str, Instrument] = {}
        self._last_status: int | None = None
        original = self.exchange.handle_errors

        def record_status(code: Any, *args: Any) -> Any:
            self._last_status = int(code) if code else None  # for map_error's 429/5xx rule
            return original(code, *args)

        self.exchange.handle_errors = record_status
        self._client_ids: dict[str, str] = {}  # venue order id -> client order id

    def __repr__(self) -> str:
        return f"CcxtVenue({self.name!r})"

    async def close(self) -> None:
        await self.exchange.close()

    async def _call(self, method: str, *args: Any, **kw: Any) -> Any:
        import ccxt

        self._last_status = None
        try:
            return await getattr(self.exchange, method)(*args, **kw)
        except ccxt.BaseError as exc:
            raise map_error(self.name, exc, self._last_status) from None

    def _symbol(self, instrument_id: str) -> str:
        return instrument_id.split(":", 1)[1]

    async def load_markets(self) -> dict[str, Instrument]:
        markets = await self._call("load_markets", True)
        out = {}
        for sym, m in markets.items():
            if not m.get("active", True) or m.get("type", "spot") != self.caps["market_type"]:
                continue
            prec, lim = m["precision"], m["limits"]
            tick, lot = prec.get("price"), prec.get("amount")
            if tick is None or lot is None:
                continue
            inst = Instrument(
                self.name,
                sym,
                m["base"],
                m["quote"],
                Decimal(str(tick)),
                Decimal(str(lot)),
                Decimal(str(lim.get("amount", {}).get("min") or 0)),
                Decimal(str(lim.get("cost", {}).get("min") or 0)),
            )
            out[inst.id] = inst
        self.instruments = out
        return out

    def _order(self, o: dict[str, Any], instrument_id: str) -> VenueOrder:
        filled = Decimal(str(o.get("filled") or 0))
        status = _STATUS.get(o.get("status") or "open", OrderStatus.ACCEPTED)
        if status is OrderStatus.ACCEPTED and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        price = o.get("price")
        avg = o.get("average")
        if o.get("clientOrderId") and o.get("id"):
            self._client_ids[str(o["id"])] = str(o["clientOrderId"])
        return VenueOrder(
            str(o.get("clientOrderId") or ""),
            str(o.get("id") or ""),
            instrument_id,
            Side(o.get("side") or "buy"),
            OrderType(o.get("type") or "limit"),
            Decimal(str(o.get("amount") or 0)),
            Decimal(str(price)) if price else None,
            status,
            filled,
            Decimal(str(avg)) if avg else None,
            int(o.get("timestamp") or 0) * 1_000_000,
        )

    async def submit(self, request: OrderRequest) -> VenueOrder:
        params = {self.caps["client_id_param"]: request.client_order_id}
        if request.reduce_only:
            params["reduceOnly"] = True
        price = request.price
        if price is None and self.caps["needs_price_for_market"]:
            raise VenueError(self.name, "market orders need a worst price here", retryable=False)
        o = await self._call(
            "create_order",
            self._symbol(request.instrument_id),
            request.type.value,
            request.side.value,
            float(request.quantity),
            float(price) if price is not None else None,
            params,
        )
        o.setdefault("clientOrderId", request.client_order_id)
        view = self._order(o, request.instrument_id)
        self._client_ids[view.venue_order_id] = request.client_order_id
        self.publish(view)
        return view

    async def fetch_order(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> VenueOrder | None:
        import ccxt

        params = {}
        if client_order_id is not None:
            params[self.caps["fetch_by_client_id_param"]] = client_order_id
        try:
            o = await self.exchange.fetch_order(
                venue_order_id or "", self._symbol(instrument_id), params
            )
        except ccxt.OrderNotFound:
            return None
        except ccxt.BaseError as exc:
            raise map_error(self.name, exc, self._last_status) from None
        return self._order(o, instrument_id)

    async def cancel(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> VenueOrder:
        params = {}
        if client_order_id is not None:
            params[self.caps["fetch_by_client_id_param"]] = client_order_id
        o = await self._call(
            "cancel_order", venue_order_id or "", self._symbol(instrument_id), params
        )
        view = self._order(o, instrument_id)
        self.publish(view)
        return view

    async def fetch_open_orders(self, instrument_id: str | None = None) -> list[VenueOrder]:
        sym = self._symbol(instrument_id) if instrument_id else None
        rows = await self._call("fetch_open_orders", sym)
        return [self._order(o, f"{self.name}:{o['symbol']}") for o in rows]

    async def balances(self) -> dict[str, Balance]:
        b = await self._call("fetch_balance")
        out = {}
        for ccy, total in (b.get("total") or {}).items():
            if total is None:
                continue
            free = Decimal(str(b.get("free", {}).get(ccy) or 0))
            out[ccy] = Balance(ccy, free, Decimal(str(total)) - free)
        return out

    async def positions(self) -> list[VenuePosition]:
        if not self.caps["positions"]:
            return []
        rows = await self._call("fetch_positions")
        out = []
        for p in rows:
            qty = Decimal(str(p.get("contracts") or 0)) * (-1 if p.get("side") == "short" else 1)
            entry = p.get("entryPrice")
            out.append(
                VenuePosition(
                    f"{self.name}:{p['symbol']}", qty, Decimal(str(entry)) if entry else None
                )
            )
        return out

    async def my_trades(self, instrument_id: str, since_ns: int | None = None) -> list[Fill]:
        since_ms = since_ns // 1_000_000 if since_ns is not None else None
        rows = await self._call("fetch_my_trades", self._symbol(instrument_id), since_ms)
        out = []
        for t in rows:
            fee = t.get("fee") or {}
            out.append(
                Fill(
                    str(t["id"]),
                    self._client_ids.get(str(t.get("order")), str(t.get("order") or "")),
                    instrument_id,
                    t["side"],
                    Decimal(str(t["amount"])),
                    Decimal(str(t["price"])),
                    Decimal(str(fee.get("cost") or 0)),
                    str(fee.get("currency") or ""),
                    int(t.get("timestamp") or time.time() * 1000) * 1_000_000,
                )
            )
        return out


def _point_at(exchange: Any, base_url: str) -> None:
    """Replace scheme://host of every REST base in `exchange.urls['api']` with `base_url`."""

    def swap(v: Any) -> Any:
        if isinstance(v, str) and v.startswith("http"):
            u = urlparse(v)
            return base_url.rstrip("/") + u.path
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        return v

    exchange.urls["api"] = swap(exchange.urls["api"])
