"""One ccxt wrapper for every CEX (ccxt.async_support), with per-venue differences as data.

Capabilities (`capabilities.py`) say how each venue differs; ccxt exceptions become
`VenueError` through `errors.map_error`; responses become nzeza's types through the pure
functions of `convert.py`.

Every HTTP request ccxt sends goes through the adapter's `RateLimiter` (ccxt's throttle hook is
ours), under the endpoint of the method that sent it. `my_trades` pages through the venue's
trade history the venue's way (`trades_paging`: forward from a time, from an id, by offset or by
cursor), so a session reconciling after a long outage sees every fill, not the first page.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from nzeza.domain import Fill, Instrument, OrderType, Side, TimeInForce
from nzeza.errors import ConfigError, VenueError
from nzeza.venues.base import (
    Balance,
    OrderRequest,
    Venue,
    VenueFunding,
    VenueOrder,
    VenuePosition,
)
from nzeza.venues.ccxt.capabilities import DAY_MS, ENDPOINT_OF, MAX_TRADE_PAGES, capabilities
from nzeza.venues.ccxt.convert import (
    need,
    to_balances,
    to_fill,
    to_funding,
    to_instrument,
    to_order,
    to_position,
)
from nzeza.venues.ccxt.errors import map_error
from nzeza.venues.ccxt.keys import eth_address


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
        limiter: Any = None,
    ) -> None:
        super().__init__(limiter)
        import ccxt.async_support as ccxt_async

        if not hasattr(ccxt_async, exchange_id):
            raise ConfigError("venue", f"ccxt has no exchange {exchange_id!r}")
        if live and api_url is not None and urlparse(api_url).scheme != "https":
            raise ConfigError(f"{exchange_id}.rest_url", "live endpoints must be https://")
        self.name = exchange_id
        self.caps = capabilities(exchange_id)
        # ccxt calls its throttle before every request; the throttle is ours (see below)
        config: dict[str, Any] = {"enableRateLimit": True, "timeout": timeout_ms}
        config["options"] = dict(self.caps["options"])
        given: set[str] = set()
        for k, v in (credentials or {}).items():
            secret = v.get_secret_value() if hasattr(v, "get_secret_value") else v
            if secret is not None and str(secret).strip():
                from nzeza.secrets import register_secret

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
        if exchange_id not in self.limiter.limits:
            from nzeza.execution.ratelimit import VenueLimits

            # an exchange nzeza has no published budget for: ccxt's own spacing of requests
            per_s = 1000 / max(1.0, float(self.exchange.rateLimit or 1000))
            self.limiter.add_limits(exchange_id, VenueLimits(max(1.0, per_s), per_s))

        async def throttle(cost: Any = None) -> None:
            await self.throttle()  # the endpoint of the method that sent the request

        self.exchange.throttle = throttle
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
            # ccxt's decimal_to_precision sets rounding HALF_UP and traps Underflow on the
            # current decimal context; a local copy keeps nzeza's arithmetic as it was
            with self.endpoint(ENDPOINT_OF.get(method, "other")), decimal.localcontext():
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
            inst = to_instrument(self.name, sym, m)
            if inst is not None:
                out[inst.id] = inst
        self.instruments = out
        return out

    def _order(
        self, o: dict[str, Any], instrument_id: str, request: OrderRequest | None = None
    ) -> VenueOrder:
        """A ccxt order as a VenueOrder (`convert.to_order`), remembering its client id."""
        cid = str(o.get("clientOrderId") or (request.client_order_id if request else ""))
        if cid and o.get("id"):
            self._client_ids[str(o["id"])] = cid
        return to_order(self.name, o, instrument_id, cid, request)

    def _market_price(self, request: OrderRequest) -> float | None:
        """The price ccxt is given: the limit, or for a market order where the venue needs one,
        the request's reference price (a non-retryable error without it)."""
        if request.price is not None:
            return float(request.price)
        needs = self.caps["market_needs_price"]
        if needs == "all" or (needs == "buy" and request.side is Side.BUY):
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
        stop = request.type is OrderType.STOP
        if request.type not in (OrderType.MARKET, OrderType.LIMIT) and not (
            stop and self.caps["stop_type"] is not None
        ):
            # a stop sent as a plain order would trade at once: where the venue's trigger
            # order is not wired (capabilities' `stop_refused` says why), it is refused before
            # anything is sent
            why = self.caps["stop_refused"] if stop else "market, limit, post-only and stop only"
            raise VenueError(
                self.name,
                f"{self.name} does not take {request.type.value} orders through nzeza ({why})",
                retryable=False,
                code="unsupported_order",
            )
        params: dict[str, Any] = {self.caps["client_id_param"]: request.client_order_id}
        if request.reduce_only:
            params["reduceOnly"] = True
        if request.type is OrderType.LIMIT and request.time_in_force is not TimeInForce.GTC:
            if request.time_in_force is TimeInForce.POST_ONLY:
                params["postOnly"] = True
            else:
                params["timeInForce"] = request.time_in_force.value.upper()
        if stop:
            if request.price is None:
                raise VenueError(
                    self.name,
                    "a stop order needs its trigger price",
                    retryable=False,
                    code="unsupported_order",
                )
            # ccxt's unified trigger order: a market order armed at the trigger (Binance spot:
            # STOP_LOSS with stopPrice; it triggers a buy at or above, a sell at or below)
            params[self.caps["stop_param"]] = float(request.price)
            return await self._send(request, self.caps["stop_type"], None, params)
        price = self._market_price(request)
        otype = request.type.value
        slip = self.caps["market_buy_as_ioc_limit"]
        if request.type is OrderType.MARKET and request.side is Side.BUY and slip is not None:
            tick = self.instruments[request.instrument_id].tick_size
            worst = Decimal(str(price)) * (1 + slip)
            otype, price = "limit", float((worst / tick).to_integral_value(decimal.ROUND_UP) * tick)
            params["timeInForce"] = "IOC"
        return await self._send(request, otype, price, params)

    async def _send(
        self, request: OrderRequest, otype: str, price: float | None, params: dict[str, Any]
    ) -> VenueOrder:
        """create_order, then the order's state as the venue has it (published)."""
        o = await self._call(
            "create_order",
            self._symbol(request.instrument_id),
            otype,
            request.side.value,
            float(request.quantity),
            price,
            params,
        )
        if o.get("id"):
            self._client_ids[str(o["id"])] = request.client_order_id
        stateless = not self.caps["create_returns_state"] or o.get("status") is None
        if stateless and o.get("id"):
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
            with self.endpoint("fetch_order"), decimal.localcontext():
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
            view = self._order(raw or {}, instrument_id)  # the cancel's own answer, complete
        self.publish(view)
        return view

    async def fetch_open_orders(self, instrument_id: str | None = None) -> list[VenueOrder]:
        sym = self._symbol(instrument_id) if instrument_id else None
        rows = await self._call("fetch_open_orders", sym)
        return [self._order(o, f"{self.name}:{o['symbol']}") for o in rows]

    async def balances(self) -> dict[str, Balance]:
        return to_balances(await self._call("fetch_balance"))

    async def positions(self) -> list[VenuePosition]:
        if not self.caps["positions"]:
            return []
        return [to_position(self.name, p) for p in await self._call("fetch_positions")]

    async def funding_payments(
        self, instrument_id: str, since_ns: int | None = None
    ) -> list[VenueFunding] | None:
        """The account's funding payments of `instrument_id` (ccxt `fetch_funding_history`:
        Binance USDⓈ-M `GET /fapi/v1/income?incomeType=FUNDING_FEE`, Hyperliquid `userFunding`),
        oldest first; None on a venue without them (spot)."""
        if not self.exchange.has.get("fetchFundingHistory"):
            return None
        since_ms = since_ns // 1_000_000 if since_ns is not None else None
        rows = await self._call("fetch_funding_history", self._symbol(instrument_id), since_ms)
        return sorted((to_funding(instrument_id, r) for r in rows or []), key=lambda f: f.ts)

    async def my_trades(self, instrument_id: str, since_ns: int | None = None) -> list[Fill]:
        since_ms = since_ns // 1_000_000 if since_ns is not None else None
        sym = self._symbol(instrument_id)
        rows = await self._trade_pages(sym, since_ms)
        for vid in {str(t.get("order") or "") for t in rows} - set(self._client_ids):
            if vid:  # a fill of an order this process did not send (e.g. before a restart)
                o = await self._fetch_raw(instrument_id, venue_order_id=vid)
                if o is not None and o.get("clientOrderId"):
                    self._client_ids[vid] = str(o["clientOrderId"])
        out = [
            to_fill(
                self.name,
                t,
                instrument_id,
                self._client_ids.get(str(t.get("order")), str(t.get("order") or "")),
            )
            for t in rows
        ]
        if since_ms is not None:
            out = [f for f in out if f.ts >= since_ms * 1_000_000]
        out.sort(key=lambda f: f.ts)
        return out

    async def _trade_pages(self, sym: str, since_ms: int | None) -> list[dict[str, Any]]:
        """Every trade of `sym` since `since_ms`, page by page the venue's way (deduplicated by
        trade id; `bad_response` if the venue keeps paging past MAX_TRADE_PAGES)."""
        mode, page = self.caps["trades_paging"], int(self.caps["trades_page"])
        seen: dict[str, dict[str, Any]] = {}

        def add(batch: list[dict[str, Any]]) -> int:
            new = 0
            for t in batch:
                tid = str(need(self.name, t, "id", "trade"))
                if tid not in seen:
                    seen[tid] = t
                    new += 1
            return new

        async def fetch(since: int | None, params: dict[str, Any]) -> list[dict[str, Any]]:
            return await self._call("fetch_my_trades", sym, since, page, params)

        now = int(self.exchange.milliseconds())
        start, cursor = since_ms, None
        for _ in range(MAX_TRADE_PAGES):
            if mode == "since":  # ascending from a time; a full page continues at its end
                at = max((int(t["timestamp"]) for t in seen.values()), default=start or 0)
                batch = await fetch(at, {})
                if add(batch) == 0 or len(batch) < page:
                    return list(seen.values())
            elif mode == "offset":  # newest first; `ofs` skips what was read
                batch = await fetch(since_ms, {"ofs": len(seen)})
                if add(batch) == 0 or len(batch) < page:
                    return list(seen.values())
            elif mode == "cursor":  # the response names the next page
                batch = await fetch(since_ms, {"cursor": cursor} if cursor else {})
                cursor = next(
                    (t["info"]["cursor"] for t in batch if (t.get("info") or {}).get("cursor")),
                    None,
                )
                if add(batch) == 0 or not cursor:
                    return list(seen.values())
            else:  # "from_id" (Binance): startTime answers one day at most, fromId the rest
                window = {} if start is None else {"endTime": min(start + DAY_MS - 1, now)}
                batch = await fetch(start, window)
                add(batch)
                if len(batch) == page:  # full: every later trade by id, up to the present
                    while len(batch) == page:
                        last = max(int(need(self.name, t, "id", "trade")) for t in batch)
                        batch = await fetch(None, {"fromId": last + 1})
                        if add(batch) == 0:
                            break
                    return list(seen.values())
                if start is None or start + DAY_MS > now:
                    return list(seen.values())
                start += DAY_MS  # a quiet day: the next one
        raise VenueError(
            self.name,
            f"my trades of {sym} still paging after {MAX_TRADE_PAGES} pages",
            retryable=False,
            code="bad_response",
        )


async def _async_true(*_args: Any, **_kw: Any) -> bool:
    return True


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


__all__ = ["CcxtVenue"]
