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

from nzeza.domain import Fill, Instrument, OrderStatus, OrderType, Side, TimeInForce
from nzeza.errors import ConfigError, VenueError, clip
from nzeza.venues.base import Balance, OrderRequest, Venue, VenueOrder, VenuePosition

CAPABILITIES: dict[str, dict[str, Any]] = {
    "default": {
        "options": {},
        # create_order param that carries our client order id
        "client_id_param": "clientOrderId",
        # how to find an order by client id: "param" (fetch_order with `fetch_by_client_id_param`)
        # or "scan" (list recent orders with `scan_methods`, match clientOrderId)
        "lookup_by_client_id": "param",
        "fetch_by_client_id_param": "clientOrderId",
        "scan_methods": ("fetch_open_orders", "fetch_closed_orders"),
        # cancel by client id: "param" (cancel_order with `cancel_client_id_param`) or "resolve"
        # (look the venue order id up first: the venue cancels by its own id only)
        "cancel_by_client_id": "param",
        "cancel_client_id_param": "clientOrderId",
        # False: the create response has no status/fills, so the order is fetched right after
        "create_returns_state": True,
        # market orders that must carry a price: None, "buy" (quote-sized market buys), "all"
        "market_needs_price": None,
        "market_type": "spot",
        "positions": False,
        "credentials": ("apiKey", "secret"),  # what a live venue must be given
        "methods_off": (),  # ccxt internals replaced by no-ops (see hyperliquid)
        "wallet_from_private_key": False,
    },
    "binance": {
        "options": {
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "defaultType": "spot",
        },
        "client_id_param": "newClientOrderId",
        "fetch_by_client_id_param": "origClientOrderId",
        "cancel_client_id_param": "origClientOrderId",
    },
    "coinbase": {
        # Advanced Trade: orders are fetched and cancelled by Coinbase's order id only.
        "options": {"fetchBalance": "v3PrivateGetBrokerageAccounts"},
        "client_id_param": "client_order_id",
        "lookup_by_client_id": "scan",
        "scan_methods": ("fetch_orders",),
        "cancel_by_client_id": "resolve",
        "create_returns_state": False,
        "market_needs_price": "buy",  # market buys are sized in quote: qty × reference price
    },
    "kraken": {
        "client_id_param": "cl_ord_id",
        "lookup_by_client_id": "scan",  # QueryOrders needs a txid; Open/ClosedOrders filter
        "cancel_client_id_param": "cl_ord_id",
        "create_returns_state": False,  # AddOrder answers {txid, descr} only
    },
    "hyperliquid": {
        # Perpetuals; orders are signed with the wallet key (EIP-712 over the L1 action).
        "options": {"fetchMarkets": {"types": ["swap"]}, "defaultType": "swap", "refSet": True},
        "client_id_param": "clientOrderId",
        "create_returns_state": False,  # statuses [{"resting": {"oid"}}] carry no order state
        "market_type": "swap",
        "positions": True,
        "market_needs_price": "all",  # a market order is an IOC limit at price ± slippage
        "credentials": ("walletAddress", "privateKey"),
        # The account address of the key when none is given (not for API "agent" wallets,
        # which sign for another account: give that account's walletAddress explicitly).
        "wallet_from_private_key": True,
        # ccxt would sign a builder-fee approval and a referral on the user's account before the
        # first order; nzeza never signs anything the user did not ask for.
        "methods_off": ("handle_builder_fee_approval",),
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

    `http_status`, when known, catches what ccxt classifies by body alone: a 408/425/429 or 5xx
    answer whose JSON error code ccxt maps to a generic ExchangeError is still retryable, and
    any other 4xx answer is not (ccxt calls unrecognised ones "ExchangeNotAvailable").
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
    if http_status is not None:
        if http_status in (408, 425, 429) or http_status >= 500:
            retryable = not isinstance(exc, never)
        elif 400 <= http_status < 500 and not isinstance(exc, ccxt.DDoSProtection):
            # ccxt files unrecognised 4xx bodies under ExchangeNotAvailable; a request the
            # venue refused as malformed or unauthorised fails the same way when sent again.
            # (Rate limiting ccxt recognised, e.g. Binance's 418 ban, stays retryable.)
            retryable = False
    code = type(exc).__name__
    text = clip(str(exc), 300)  # redacted before the cut: no secret's head survives
    return VenueError(venue, text or code, retryable=retryable, code=code)


class CcxtVenue(Venue):
    """A ccxt exchange behind the `Venue` interface. `api_url` points every REST base of the
    exchange at another host (the local simulators); live endpoints must be https and a live
    venue must be given every credential its capabilities list (checked here, at start-up)."""

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
        given: set[str] = set()
        for k, v in (credentials or {}).items():
            secret = v.get_secret_value() if hasattr(v, "get_secret_value") else v
            if secret is not None and str(secret).strip():
                from nzeza.ops.secrets import register_secret

                if k != "walletAddress":  # an address is public; everything else is a secret
                    register_secret(secret)
                config[k] = secret
                given.add(k)
        if (
            self.caps["wallet_from_private_key"]
            and "privateKey" in given
            and "walletAddress" not in given
        ):
            config["walletAddress"] = eth_address(config["privateKey"])
            given.add("walletAddress")
        missing = [c for c in self.caps["credentials"] if c not in given]
        if live and missing:
            raise ConfigError(
                f"{exchange_id}.credentials",
                f"missing {', '.join(missing)}",
                "a live venue needs every credential it signs with",
            )
        self.exchange = getattr(ccxt_async, exchange_id)(config)
        for method in self.caps["methods_off"]:
            setattr(self.exchange, method, _async_true)
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

    def _order(
        self, o: dict[str, Any], instrument_id: str, request: OrderRequest | None = None
    ) -> VenueOrder:
        """A ccxt order dict as a VenueOrder; `request` fills what a terse response leaves out."""
        filled = Decimal(str(o.get("filled") or 0))
        status = _STATUS.get(o.get("status") or "open", OrderStatus.ACCEPTED)
        if status is OrderStatus.ACCEPTED and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        price = o.get("price")
        avg = o.get("average")
        cid = str(o.get("clientOrderId") or (request.client_order_id if request else ""))
        if cid and o.get("id"):
            self._client_ids[str(o["id"])] = cid
        # What we asked for wins over the venue's rendering (Hyperliquid's market order is an
        # IOC limit on the wire).
        side = request.side.value if request else o.get("side")
        otype = request.type.value if request else o.get("type")
        amount = request.quantity if request else (o.get("amount") or 0)
        if request is not None:
            price = request.price
        return VenueOrder(
            cid,
            str(o.get("id") or ""),
            instrument_id,
            Side(side or "buy"),
            OrderType(otype if otype in ("limit", "market") else "limit"),
            Decimal(str(amount)),
            Decimal(str(price)) if price else None,
            status,
            filled,
            Decimal(str(avg)) if avg else None,
            int(o.get("timestamp") or 0) * 1_000_000,
        )

    def _market_price(self, request: OrderRequest) -> float | None:
        """The price ccxt is given: the limit, or for a market order where the venue needs one,
        the request's reference price (a non-retryable error without it)."""
        if request.price is not None:
            return float(request.price)
        need = self.caps["market_needs_price"]
        if need == "all" or (need == "buy" and request.side is Side.BUY):
            if request.reference_price is None:
                raise VenueError(
                    self.name,
                    f"a {request.side.value} market order needs reference_price here",
                    retryable=False,
                    code="reference_price",
                )
            return float(request.reference_price)
        return None

    async def submit(self, request: OrderRequest) -> VenueOrder:
        params: dict[str, Any] = {self.caps["client_id_param"]: request.client_order_id}
        if request.reduce_only:
            params["reduceOnly"] = True
        if request.type is OrderType.LIMIT and request.time_in_force is not TimeInForce.GTC:
            if request.time_in_force is TimeInForce.POST_ONLY:
                params["postOnly"] = True
            else:
                params["timeInForce"] = request.time_in_force.value.upper()
        price = self._market_price(request)
        o = await self._call(
            "create_order",
            self._symbol(request.instrument_id),
            request.type.value,
            request.side.value,
            float(request.quantity),
            price,
            params,
        )
        if o.get("id"):
            self._client_ids[str(o["id"])] = request.client_order_id
        if not self.caps["create_returns_state"] and o.get("id"):
            # The create response says "accepted" and nothing else; ask for the real state
            # (a retryable failure here is fine: the idempotent submit looks the order up).
            o = await self._fetch_raw(request.instrument_id, venue_order_id=str(o["id"])) or o
        view = self._order(o, request.instrument_id, request)
        self.publish(view)
        return view

    async def _fetch_raw(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> dict[str, Any] | None:
        import ccxt

        sym = self._symbol(instrument_id)
        if venue_order_id is None and client_order_id is not None:
            known = [vid for vid, cid in self._client_ids.items() if cid == client_order_id]
            if known and known[0]:
                venue_order_id = known[0]
            elif self.caps["lookup_by_client_id"] == "scan":
                return await self._scan(sym, client_order_id)
        params = {}
        if venue_order_id is None and client_order_id is not None:
            params[self.caps["fetch_by_client_id_param"]] = client_order_id
        self._last_status = None
        try:
            return await self.exchange.fetch_order(venue_order_id or "", sym, params)
        except ccxt.OrderNotFound:
            return None
        except ccxt.BaseError as exc:
            raise map_error(self.name, exc, self._last_status) from None

    async def _scan(self, symbol: str, client_order_id: str) -> dict[str, Any] | None:
        """Find an order by client id in the venue's recent order lists."""
        for method in self.caps["scan_methods"]:
            rows = await self._call(method, symbol, None, None, {})
            for o in rows:
                if str(o.get("clientOrderId") or "") == client_order_id:
                    return o
        return None

    async def fetch_order(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> VenueOrder | None:
        o = await self._fetch_raw(
            instrument_id, client_order_id=client_order_id, venue_order_id=venue_order_id
        )
        return None if o is None else self._order(o, instrument_id)

    async def cancel(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> VenueOrder:
        known = None
        if venue_order_id is None and self.caps["cancel_by_client_id"] == "resolve":
            known = await self.fetch_order(instrument_id, client_order_id=client_order_id)
            if known is None:
                raise VenueError(self.name, "order not found", retryable=False, code="not_found")
            venue_order_id = known.venue_order_id
        params = {}
        if venue_order_id is None and client_order_id is not None:
            params[self.caps["cancel_client_id_param"]] = client_order_id
        raw = await self._call(
            "cancel_order", venue_order_id or "", self._symbol(instrument_id), params
        )
        # Cancel responses are terse on most venues ({"count": 1}, ["success"]): read the order.
        view = await self.fetch_order(
            instrument_id, client_order_id=client_order_id, venue_order_id=venue_order_id
        )
        if view is None:
            merged = {**(raw or {}), "status": (raw or {}).get("status") or "canceled"}
            view = self._order(merged, instrument_id)
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
        sym = self._symbol(instrument_id)
        rows = await self._call("fetch_my_trades", sym, since_ms)
        for vid in {str(t.get("order") or "") for t in rows} - set(self._client_ids):
            if vid:  # a fill of an order this process did not send (e.g. before a restart)
                o = await self._fetch_raw(instrument_id, venue_order_id=vid)
                if o is not None and o.get("clientOrderId"):
                    self._client_ids[vid] = str(o["clientOrderId"])
        out = []
        for t in rows:
            fee = t.get("fee") or {}
            ts = t.get("timestamp")
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
                    int(ts if ts is not None else time.time() * 1000) * 1_000_000,
                )
            )
        return out


async def _async_true(*_args: Any, **_kw: Any) -> bool:
    return True


def eth_address(private_key_hex: str) -> str:
    """The Ethereum address (lowercase 0x…) of a secp256k1 private key given in hex."""
    import ccxt
    import coincurve  # ccxt's own secp256k1 dependency

    try:
        key = coincurve.PrivateKey(bytes.fromhex(private_key_hex.removeprefix("0x")))
    except ValueError:
        raise ConfigError("privateKey", "is not 32 bytes of hex") from None
    digest = ccxt.Exchange.hash(key.public_key.format(compressed=False)[1:], "keccak", "hex")
    return "0x" + digest[-40:]


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
