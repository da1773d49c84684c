"""A local Coinbase Advanced Trade REST server (the endpoints and shapes ccxt's coinbase uses).

  GET  /v2/currencies, /v2/currencies/crypto, /v2/exchange-rates   currencies (loaded by ccxt)
  GET  /api/v3/brokerage/market/products              markets (base_increment, quote_increment,
                                                       base_min_size, quote_min_size)
  GET  /api/v3/brokerage/transaction_summary          fee tier                          (signed)
  GET  /api/v3/brokerage/accounts                     balances (available_balance, hold)
  POST /api/v3/brokerage/orders                       create (client_order_id, order_configuration)
  GET  /api/v3/brokerage/orders/historical/{id}       one order
  GET  /api/v3/brokerage/orders/historical/batch      orders (order_status filter)
  POST /api/v3/brokerage/orders/batch_cancel          cancel by order ids
  GET  /api/v3/brokerage/orders/historical/fills      my trades

Private requests carry `Authorization: Bearer <JWT>`: an ES256 token of the CDP key, which the
simulator verifies against the key's public half (signature, `sub` = key name, `uri` = method
and path of this request, not expired) when built with one, as Coinbase does. Errors are
`{"error": "INVALID_ARGUMENT", "error_details", "message"}` with the HTTP status Coinbase uses.
Shapes follow https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from aiohttp import web
from support.sim._base import SimBase, SimMarket, SimOrder, fmt

D = Decimal
MARKETS = [
    SimMarket("BTC-USD", "BTC", "USD", D("0.01"), D("0.00000001"), D("0.00000001"), D("1"),
              D("60000.00"), D("60000.01")),
    SimMarket("ETH-USD", "ETH", "USD", D("0.01"), D("0.00000001"), D("0.00000001"), D("1"),
              D("3000.00"), D("3000.01")),
]  # fmt: skip
V3 = "/api/v3/brokerage"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CoinbaseSim(SimBase):
    def __init__(self, key_name: str = "", public_key_pem: str = "") -> None:
        super().__init__(MARKETS, {"USD": D(100000), "BTC": D(1), "ETH": D(0), "USDC": D(0)})
        self.key_name = key_name
        self.public_key_pem = public_key_pem
        self.account_ids = {c: str(uuid.uuid5(uuid.NAMESPACE_URL, c)) for c in self.balances}

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/v2/currencies", self._fiat)
        r.add_get("/v2/currencies/crypto", self._crypto)
        r.add_get("/v2/exchange-rates", self._rates)
        r.add_get(f"{V3}/market/products", self._products)
        r.add_get(f"{V3}/transaction_summary", self._private(self._fees))
        r.add_get(f"{V3}/accounts", self._private(self._accounts))
        r.add_post(f"{V3}/orders", self._private(self._create))
        r.add_get(f"{V3}/orders/historical/batch", self._private(self._list))
        r.add_get(f"{V3}/orders/historical/fills", self._private(self._fills))
        r.add_get(f"{V3}/orders/historical/{{order_id}}", self._private(self._get))
        r.add_post(f"{V3}/orders/batch_cancel", self._private(self._cancel))

    # -- auth ------------------------------------------------------------------------------
    def _auth_error(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return "missing bearer token"
        if not self.public_key_pem:
            return None
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        try:
            head, body, sig = header[7:].split(".")
            claims = json.loads(_b64d(body))
            raw = _b64d(sig)
            der = encode_dss_signature(
                int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            )
            key = serialization.load_pem_public_key(self.public_key_pem.encode())
            key.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr,call-arg]
        except (ValueError, InvalidSignature, TypeError):
            return "invalid signature"
        if claims.get("sub") != self.key_name or json.loads(_b64d(head)).get("kid") not in (
            None,
            self.key_name,
        ):
            return "wrong key"
        method, _, uri = str(claims.get("uri", "")).partition(" ")
        if method != request.method or not uri.endswith(request.path):
            return "token for another request"
        if int(claims.get("exp", 0)) < time.time():
            return "expired token"
        return None

    def _private(self, handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            problem = self._auth_error(request)
            if problem is not None:
                return web.json_response(
                    {"error": "unauthorized", "error_details": problem, "message": problem},
                    status=401,
                )
            fault = self.take_fault()
            if fault is not None:
                return fault
            return await handler(request)

        return wrapped

    # -- public ----------------------------------------------------------------------------
    async def _fiat(self, request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "USD", "name": "US Dollar", "min_size": "0.01"}]})

    async def _crypto(self, request: web.Request) -> web.Response:
        data = [
            {
                "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, code)),
                "code": code,
                "name": name,
                "color": "#F7931A",
                "sort_index": i,
                "exponent": 8,
                "type": "crypto",
                "address_regex": "^.+$",
            }
            for i, (code, name) in enumerate((("BTC", "Bitcoin"), ("ETH", "Ethereum")), 100)
        ]
        return web.json_response({"data": data})

    async def _rates(self, request: web.Request) -> web.Response:
        rates = {"USD": "1", "BTC": "0.0000166667", "ETH": "0.000333333"}
        return web.json_response({"data": {"currency": "USD", "rates": rates}})

    async def _products(self, request: web.Request) -> web.Response:
        if request.query.get("product_type") == "FUTURE":
            return web.json_response({"products": [], "num_products": 0})
        products = []
        for sym, m in self.markets.items():
            products.append(
                {
                    "product_id": sym,
                    "price": fmt(m.bid),
                    "price_percentage_change_24h": "0.5",
                    "volume_24h": "10967.87426597",
                    "volume_percentage_change_24h": "1.7",
                    "base_increment": fmt(m.lot),
                    "quote_increment": fmt(m.tick),
                    "quote_min_size": fmt(m.min_notional),
                    "quote_max_size": "150000000",
                    "base_min_size": fmt(m.min_qty),
                    "base_max_size": "3400",
                    "base_name": m.base,
                    "quote_name": "US Dollar",
                    "watched": False,
                    "is_disabled": False,
                    "new": False,
                    "status": "online",
                    "cancel_only": False,
                    "limit_only": False,
                    "post_only": False,
                    "trading_disabled": False,
                    "auction_mode": False,
                    "product_type": "SPOT",
                    "quote_currency_id": m.quote,
                    "base_currency_id": m.base,
                    "fcm_trading_session_details": None,
                    "mid_market_price": "",
                    "alias": "",
                    "alias_to": [],
                    "base_display_symbol": m.base,
                    "quote_display_symbol": m.quote,
                    "view_only": False,
                    "price_increment": fmt(m.tick),
                    "display_name": sym,
                    "product_venue": "CBE",
                }
            )
        return web.json_response({"products": products, "num_products": len(products)})

    # -- private ---------------------------------------------------------------------------
    async def _fees(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "total_volume": 0,
                "total_fees": 0,
                "fee_tier": {
                    "pricing_tier": "Advanced 1",
                    "usd_from": "0",
                    "usd_to": "1000",
                    "taker_fee_rate": "0.001",
                    "maker_fee_rate": "0.0006",
                },
                "margin_rate": None,
                "goods_and_services_tax": None,
                "advanced_trade_only_volume": 0,
                "advanced_trade_only_fees": 0,
                "coinbase_pro_volume": 0,
                "coinbase_pro_fees": 0,
            }
        )

    async def _accounts(self, request: web.Request) -> web.Response:
        accounts = []
        for ccy, total in self.balances.items():
            hold = self.held(ccy)
            accounts.append(
                {
                    "uuid": self.account_ids[ccy],
                    "name": f"{ccy} Wallet",
                    "currency": ccy,
                    "available_balance": {"value": fmt(total - hold, 16), "currency": ccy},
                    "default": True,
                    "active": True,
                    "created_at": "2023-01-04T06:20:06.456Z",
                    "updated_at": "2023-01-04T06:20:07.181Z",
                    "deleted_at": None,
                    "type": "ACCOUNT_TYPE_FIAT" if ccy == "USD" else "ACCOUNT_TYPE_CRYPTO",
                    "ready": True,
                    "hold": {"value": fmt(hold, 16), "currency": ccy},
                }
            )
        return web.json_response(
            {"accounts": accounts, "has_next": False, "cursor": "", "size": len(accounts)}
        )

    def _config(self, o: SimOrder) -> dict[str, Any]:
        if o.type == "market":
            return {"market_market_ioc": {"base_size": fmt(o.qty)}}
        key = {"IOC": "sor_limit_ioc", "FOK": "limit_limit_fok"}.get(o.tif, "limit_limit_gtc")
        cfg: dict[str, Any] = {"base_size": fmt(o.qty), "limit_price": fmt(o.price)}
        if key == "limit_limit_gtc":
            cfg["post_only"] = False
        return {key: cfg}

    def _view(self, o: SimOrder) -> dict[str, Any]:
        status = {"open": "OPEN", "filled": "FILLED", "canceled": "CANCELLED"}[o.status]
        tif = {"IOC": "IMMEDIATE_OR_CANCEL", "FOK": "FILL_OR_KILL"}.get(
            o.tif, "GOOD_UNTIL_CANCELLED"
        )
        return {
            "order_id": o.oid,
            "product_id": o.symbol,
            "user_id": "11111111-1111-1111-1111-111111111111",
            "order_configuration": self._config(o),
            "side": o.side.upper(),
            "client_order_id": o.cid,
            "status": status,
            "time_in_force": tif,
            "created_time": _iso(o.ts_ms),
            "completion_percentage": fmt(o.filled / o.qty * 100 if o.qty else D(0), 2),
            "filled_size": fmt(o.filled),
            "average_filled_price": fmt(o.avg or D(0)),
            "fee": "",
            "number_of_fills": str(len(o.trade_ids)),
            "filled_value": fmt(o.filled * (o.avg or 0)),
            "pending_cancel": False,
            "size_in_quote": False,
            "total_fees": fmt(o.fee),
            "size_inclusive_of_fees": False,
            "total_value_after_fees": fmt(o.filled * (o.avg or 0) + o.fee),
            "trigger_status": "INVALID_ORDER_TYPE",
            "order_type": o.type.upper(),
            "reject_reason": "",
            "settled": o.status != "open",
            "product_type": "SPOT",
            "reject_message": "",
            "cancel_message": "User requested cancel" if o.status == "canceled" else "",
            "order_placement_source": "RETAIL_ADVANCED",
            "outstanding_hold_amount": "0",
            "is_liquidation": False,
            "last_fill_time": _iso(o.ts_ms) if o.filled else None,
            "edit_history": [],
            "leverage": "",
            "margin_type": "UNKNOWN_MARGIN_TYPE",
            "retail_portfolio_id": "11111111-1111-1111-1111-111111111111",
        }

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        cid = str(body.get("client_order_id", ""))
        sym = body.get("product_id")
        m = self.markets.get(sym)
        if m is None:
            return web.json_response(
                {"error": "INVALID_ARGUMENT", "error_details": "unknown product", "message": sym},
                status=400,
            )
        if self.by_cid(cid) is not None:
            # Coinbase answers a reused client_order_id with the existing order (idempotent).
            existing = self.by_cid(cid)
            assert existing is not None
            return web.json_response(self._success(existing))
        ((key, cfg),) = body["order_configuration"].items()
        side = str(body["side"]).lower()
        if key == "market_market_ioc":
            touch = m.ask if side == "buy" else m.bid
            if "quote_size" in cfg:  # a market buy sized in quote
                qty = (D(cfg["quote_size"]) / touch).quantize(m.lot, ROUND_DOWN)
            else:
                qty = D(cfg["base_size"])
            o = self.place(sym, side, "market", qty, None, cid, "IOC", oid=str(uuid.uuid4()))
        else:
            tif = {"sor_limit_ioc": "IOC", "limit_limit_fok": "FOK"}.get(key, "GTC")
            qty, price = D(cfg["base_size"]), D(cfg["limit_price"])
            o = self.place(sym, side, "limit", qty, price, cid, tif, oid=str(uuid.uuid4()))
        await self.create_delay()
        return web.json_response(self._success(o))

    def _success(self, o: SimOrder) -> dict[str, Any]:
        return {
            "success": True,
            "failure_reason": "UNKNOWN_FAILURE_REASON",
            "order_id": o.oid,
            "success_response": {
                "order_id": o.oid,
                "product_id": o.symbol,
                "side": o.side.upper(),
                "client_order_id": o.cid,
            },
            "order_configuration": self._config(o),
        }

    async def _get(self, request: web.Request) -> web.Response:
        o = self.orders.get(request.match_info["order_id"])
        if o is None:
            return web.json_response(
                {
                    "error": "NOT_FOUND",
                    "error_details": "order with this orderID was not found",
                    "message": "order with this orderID was not found",
                },
                status=404,
            )
        return web.json_response({"order": self._view(o)})

    async def _list(self, request: web.Request) -> web.Response:
        statuses = set(request.query.getall("order_status", []))
        product = request.query.get("product_id")
        orders = [
            self._view(o)
            for o in sorted(self.orders.values(), key=lambda o: -o.ts_ms)
            if (not product or o.symbol == product)
        ]
        if statuses:
            orders = [v for v in orders if v["status"] in statuses]
        return web.json_response(
            {"orders": orders, "sequence": "0", "has_next": False, "cursor": ""}
        )

    async def _cancel(self, request: web.Request) -> web.Response:
        body = await request.json()
        results = []
        for oid in body.get("order_ids", []):
            ok = self.cancel(self.orders.get(oid))
            results.append(
                {
                    "success": ok,
                    "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON"
                    if ok
                    else "UNKNOWN_CANCEL_ORDER",
                    "order_id": oid,
                }
            )
        return web.json_response({"results": results})

    async def _fills(self, request: web.Request) -> web.Response:
        product = request.query.get("product_id")
        start = request.query.get("start_sequence_timestamp")
        since_ms = 0
        if start:
            since_ms = int(datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp() * 1000)
        fills = []
        for t in sorted(self.trades, key=lambda t: (t.ts_ms, int(t.tid)), reverse=True):
            if (product and t.symbol != product) or t.ts_ms < since_ms:
                continue
            fills.append(
                {
                    "entry_id": f"e-{t.tid}",
                    "trade_id": t.tid,
                    "order_id": t.oid,
                    "trade_time": _iso(t.ts_ms),
                    "trade_type": "FILL",
                    "price": fmt(t.price),
                    "size": fmt(t.qty),
                    "commission": fmt(t.fee),
                    "product_id": t.symbol,
                    "sequence_timestamp": _iso(t.ts_ms),
                    "liquidity_indicator": "TAKER",
                    "size_in_quote": False,
                    "user_id": "11111111-1111-1111-1111-111111111111",
                    "side": t.side.upper(),
                    "retail_portfolio_id": "11111111-1111-1111-1111-111111111111",
                }
            )
        # a page of `limit` (default 100), newest first; the cursor is the next page's offset
        offset = int(request.query.get("cursor") or 0)
        limit = int(request.query.get("limit") or 100)
        page = fills[offset : offset + limit]
        more = offset + limit < len(fills)
        return web.json_response({"fills": page, "cursor": str(offset + limit) if more else ""})


__all__ = ["CoinbaseSim"]
