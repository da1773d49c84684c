"""A local Kraken spot REST server (the endpoints and response shapes ccxt's kraken uses).

  GET  /0/public/Assets            currencies (ccxt loads them with the markets)
  GET  /0/public/AssetPairs        markets (pair_decimals, lot_decimals, ordermin, costmin)
  POST /0/private/BalanceEx        balances {"XXBT": {"balance", "hold_trade"}}
  POST /0/private/AddOrder         create (cl_ord_id) → {"txid": [...], "descr": {"order"}}
  POST /0/private/QueryOrders      orders by txid (and cl_ord_id)
  POST /0/private/CancelOrder      cancel by txid or cl_ord_id → {"count": 1}
  POST /0/private/OpenOrders       {"open": {txid: order}}       (cl_ord_id filter)
  POST /0/private/ClosedOrders     {"closed": {txid: order}}     (cl_ord_id filter)
  POST /0/private/TradesHistory    {"trades": {trade id: trade}, "count"}

Private requests are authenticated the way Kraken does: `API-Key` header and `API-Sign` =
base64(HMAC-SHA512(base64-decoded secret, URI path + SHA-256(nonce + POST body))); a bad
signature is answered with `EAPI:Invalid key`. Errors are HTTP 200 with
`{"error": ["EOrder:Insufficient funds"]}`, as Kraken sends them (see `fail_next`).
Shapes follow https://docs.kraken.com/api-reference (spot REST).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from support.sim._base import SimBase, SimMarket, SimOrder, fmt

D = Decimal
MARKETS = [
    # Kraken's own ids: XBT for bitcoin, X/Z prefixes on the classic assets.
    SimMarket("XBTUSDT", "XXBT", "USDT", D("0.1"), D("0.00000001"), D("0.00005"), D("0.5"),
              D("60000.0"), D("60000.1")),
    SimMarket("ETHUSDT", "XETH", "USDT", D("0.01"), D("0.00000001"), D("0.002"), D("0.5"),
              D("3000.00"), D("3000.01")),
]  # fmt: skip
ASSETS = {
    "XXBT": {"aclass": "currency", "altname": "XBT", "decimals": 10, "display_decimals": 5},
    "XETH": {"aclass": "currency", "altname": "ETH", "decimals": 10, "display_decimals": 5},
    "USDT": {"aclass": "currency", "altname": "USDT", "decimals": 8, "display_decimals": 4},
    "ZUSD": {"aclass": "currency", "altname": "USD", "decimals": 4, "display_decimals": 2},
}


def _txid(n: str, prefix: str = "O") -> str:
    """Kraken-looking ids: OQCLML-BW3P3-BUCMWZ."""
    h = hashlib.sha256(n.encode()).hexdigest().upper()
    return f"{prefix}{h[:5]}-{h[5:10]}-{h[10:16]}"


class KrakenSim(SimBase):
    def __init__(self, api_key: str = "", api_secret: str = "") -> None:
        super().__init__(MARKETS, {"USDT": D(100000), "XXBT": D(1), "XETH": D(0), "ZUSD": D(0)})
        self.api_key = api_key
        self.api_secret = api_secret

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/0/public/Assets", self._assets)
        r.add_get("/0/public/AssetPairs", self._pairs)
        for name in (
            "BalanceEx",
            "AddOrder",
            "QueryOrders",
            "CancelOrder",
            "OpenOrders",
            "ClosedOrders",
            "TradesHistory",
        ):
            r.add_post(f"/0/private/{name}", self._private)

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"error": [], "result": result})

    @staticmethod
    def _err(*errors: str) -> web.Response:
        return web.json_response({"error": list(errors)})

    def _signed(self, request: web.Request, body: str, params: dict[str, str]) -> bool:
        if not self.api_key or not self.api_secret:
            return "API-Key" in request.headers and "API-Sign" in request.headers
        if request.headers.get("API-Key") != self.api_key:
            return False
        digest = hashlib.sha256((params.get("nonce", "") + body).encode()).digest()
        mac = hmac.new(
            base64.b64decode(self.api_secret), request.path.encode() + digest, hashlib.sha512
        )
        expected = base64.b64encode(mac.digest()).decode()
        return hmac.compare_digest(expected, request.headers.get("API-Sign", ""))

    def _order_info(self, o: SimOrder) -> dict[str, Any]:
        m = self.markets[o.symbol]
        places = -m.tick.as_tuple().exponent  # type: ignore[operator]
        at = f"limit {fmt(o.price, places)}" if o.type == "limit" else "market"
        info: dict[str, Any] = {
            "refid": None,
            "userref": 0,
            "cl_ord_id": o.cid,
            "status": {"open": "open", "filled": "closed", "canceled": "canceled"}[o.status],
            "opentm": o.ts_ms / 1000,
            "starttm": 0,
            "expiretm": 0,
            "descr": {
                "pair": o.symbol,
                "type": o.side,
                "ordertype": o.type,
                "price": fmt(o.price, places) if o.price is not None else "0",
                "price2": "0",
                "leverage": "none",
                "order": f"{o.side} {fmt(o.qty, 8)} {o.symbol} @ {at}",
                "close": "",
            },
            "vol": fmt(o.qty, 8),
            "vol_exec": fmt(o.filled, 8),
            "cost": fmt(o.filled * (o.avg or 0), 5),
            "fee": fmt(o.fee, 5),
            "price": fmt(o.avg or D(0), places),
            "stopprice": "0.00000",
            "limitprice": "0.00000",
            "misc": "",
            "oflags": "fciq",
        }
        if o.status != "open":
            info["closetm"] = o.ts_ms / 1000
            info["reason"] = None if o.status == "filled" else "User requested"
        if o.trade_ids:
            info["trades"] = [_txid(t, "T") for t in o.trade_ids]
        return info

    # -- public ----------------------------------------------------------------------------
    async def _assets(self, request: web.Request) -> web.Response:
        return self._ok({k: {**v, "status": "enabled"} for k, v in ASSETS.items()})

    async def _pairs(self, request: web.Request) -> web.Response:
        out = {}
        for sym, m in self.markets.items():
            alt_base = ASSETS[m.base]["altname"]
            out[sym] = {
                "altname": sym,
                "wsname": f"{alt_base}/{m.quote}",
                "aclass_base": "currency",
                "base": m.base,
                "aclass_quote": "currency",
                "quote": m.quote,
                "lot": "unit",
                "cost_decimals": 5,
                "pair_decimals": -m.tick.as_tuple().exponent,  # type: ignore[operator]
                "lot_decimals": -m.lot.as_tuple().exponent,  # type: ignore[operator]
                "lot_multiplier": 1,
                "leverage_buy": [],
                "leverage_sell": [],
                "fees": [[0, 0.4], [10000, 0.35], [50000, 0.24]],
                "fees_maker": [[0, 0.25], [10000, 0.2], [50000, 0.14]],
                "fee_volume_currency": "ZUSD",
                "margin_call": 80,
                "margin_stop": 40,
                "ordermin": fmt(m.min_qty),
                "costmin": fmt(m.min_notional),
                "tick_size": fmt(m.tick),
                "status": "online",
            }
        return self._ok(out)

    # -- private ---------------------------------------------------------------------------
    async def _private(self, request: web.Request) -> web.Response:
        body = await request.text()
        params = dict(parse_qsl(body, keep_blank_values=True))
        if not self._signed(request, body, params):
            return self._err("EAPI:Invalid key")
        fault = self.take_fault()
        if fault is not None:
            return fault
        name = request.path.rsplit("/", 1)[1]
        return await getattr(self, f"_{name}")(params)

    async def _BalanceEx(self, p: dict[str, str]) -> web.Response:
        return self._ok(
            {
                ccy: {"balance": fmt(total, 10), "hold_trade": fmt(self.held(ccy), 10)}
                for ccy, total in self.balances.items()
            }
        )

    async def _AddOrder(self, p: dict[str, str]) -> web.Response:
        m = self.markets.get(p.get("pair", ""))
        if m is None:
            return self._err("EQuery:Unknown asset pair")
        cid = p.get("cl_ord_id", "")
        if cid and self.by_cid(cid) is not None:
            return self._err("EOrder:Duplicate order")  # cl_ord_id must be unique
        qty = D(p["volume"])
        if qty < m.min_qty:
            return self._err("EOrder:Order minimum not met")
        price = D(p["price"]) if "price" in p else None
        tif = p.get("timeinforce", "GTC")
        oid = _txid(self.next_id())
        o = self.place(m.symbol, p["type"], p["ordertype"], qty, price, cid, tif, oid=oid)
        await self.create_delay()
        return self._ok({"descr": self._order_info(o)["descr"], "txid": [o.oid]})

    def _find(self, p: dict[str, str]) -> list[SimOrder]:
        if p.get("cl_ord_id"):
            o = self.by_cid(p["cl_ord_id"])
            return [o] if o else []
        ids = [t.strip() for t in p.get("txid", "").split(",") if t.strip()]
        return [self.orders[i] for i in ids if i in self.orders]

    async def _QueryOrders(self, p: dict[str, str]) -> web.Response:
        return self._ok({o.oid: self._order_info(o) for o in self._find(p)})

    async def _CancelOrder(self, p: dict[str, str]) -> web.Response:
        found = self._find(p)
        if not found or not self.cancel(found[0]):
            return self._err("EOrder:Unknown order")
        return self._ok({"count": 1})

    def _listed(self, p: dict[str, str], open_: bool) -> dict[str, Any]:
        cid = p.get("cl_ord_id")
        return {
            o.oid: self._order_info(o)
            for o in self.orders.values()
            if (o.status == "open") == open_ and (not cid or o.cid == cid)
        }

    async def _OpenOrders(self, p: dict[str, str]) -> web.Response:
        return self._ok({"open": self._listed(p, True)})

    async def _ClosedOrders(self, p: dict[str, str]) -> web.Response:
        closed = self._listed(p, False)
        return self._ok({"closed": closed, "count": len(closed)})

    async def _TradesHistory(self, p: dict[str, str]) -> web.Response:
        """As Kraken: 50 trades a page, newest first, `ofs` skips; `count` is the total."""
        start = float(p.get("start", 0))
        matching = [t for t in self.trades if t.ts_ms / 1000 >= start]
        matching.sort(key=lambda t: (t.ts_ms, int(t.tid)), reverse=True)
        ofs = int(p.get("ofs", 0))
        trades = {}
        for t in matching[ofs : ofs + 50]:
            o = self.orders[t.oid]
            trades[_txid(t.tid, "T")] = {
                "ordertxid": t.oid,
                "postxid": _txid(t.tid, "TK"),
                "pair": t.symbol,
                "time": t.ts_ms / 1000,
                "type": t.side,
                "ordertype": o.type,
                "price": fmt(t.price, 5),
                "cost": fmt(t.price * t.qty, 5),
                "fee": fmt(t.fee, 5),
                "vol": fmt(t.qty, 8),
                "margin": "0.00000",
                "misc": "",
                "trade_id": int(t.tid),
                "maker": False,
            }
        return self._ok({"trades": trades, "count": len(matching)})


__all__ = ["KrakenSim"]
