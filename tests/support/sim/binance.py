"""A local Binance spot REST server for trading (the endpoints and response shapes ccxt's
binance uses); `binance_market.py` beside it serves market data (klines) the same way, and
both describe markets with its `symbol_info`.

  GET    /api/v3/exchangeInfo   markets (PRICE_FILTER, LOT_SIZE, NOTIONAL)
  GET    /api/v3/account        balances                               (signed)
  POST   /api/v3/order          create (newClientOrderId)              (signed)
  DELETE /api/v3/order          cancel by orderId / origClientOrderId  (signed)
  GET    /api/v3/order          fetch by orderId / origClientOrderId   (signed)
  GET    /api/v3/openOrders     open orders                            (signed)
  GET    /api/v3/myTrades       my trades                              (signed)

Orders match at once against the top of book (market orders fill; marketable limits fill;
others rest). The book starts at SYMBOLS' bid/ask; `trade(symbol, price)` is a public trade:
the last price and the book move there (bid = price, ask = price + tick) and the resting stops
it reaches trigger and fill as market orders.

Stops as Binance spot takes them: `STOP_LOSS` / `TAKE_PROFIT` (market on trigger) with a
mandatory `stopPrice` (-1102 without it), no `price` (-1106), the type among the symbol's
`orderTypes` (-1116 otherwise). A STOP_LOSS buy triggers when the last price rises to its stop,
a sell when it falls to it (TAKE_PROFIT the other way round); one that would trigger at once
is refused (-2010 "Order would trigger immediately."). A triggered stop the balance cannot pay
for expires (EXPIRED), nothing traded. `before_cancel(order)`, if set, is called with the
order a cancel request names before the cancel is handled (a test's market trading through a
stop just before the session cancels it).

Faults for tests: `fail_next(status, code, msg)` answers the next request with an error;
`delay_next_create(s)` records the order, then answers only after `s` seconds (a response lost
to a client timeout). Duplicate client ids are refused (-2010), as Binance does.

The account holds `balances` (default 100,000 USDT and 1 BTC; `BinanceSim(balances={...})`
for another). A filled order moves them (commission in the quote currency), and an order the
free balance cannot pay for — a buy's quantity × fill price plus commission, a sell's
quantity — is refused with Binance's -2010 "insufficient balance" (kept in `refused`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from decimal import Decimal
from typing import Any

from aiohttp import web
from support.sim._server import LocalServer
from support.sim.binance_market import symbol_info

SYMBOLS = {
    "BTCUSDT": ("BTC", "USDT", "0.01", "0.00001", "5", "60000.00", "60000.01"),
    "ETHUSDT": ("ETH", "USDT", "0.01", "0.0001", "5", "3000.00", "3000.01"),
}


STOP_TYPES = ("STOP_LOSS", "TAKE_PROFIT")
SIM_TYPES = ("MARKET", "LIMIT", "LIMIT_MAKER", *STOP_TYPES)  # what this simulator matches


def _info_args(sym: str) -> tuple[str, str, str, str, str]:
    base, quote, tick, step, notional = SYMBOLS[sym][:5]
    return base, quote, tick, step, notional


def _triggers(otype: str, side: str, stop: Decimal, last: Decimal) -> bool:
    """Whether a last price `last` triggers a stop: STOP_LOSS buys at or above its stop and
    sells at or below; TAKE_PROFIT the other way round."""
    rising = (side == "BUY") == (otype == "STOP_LOSS")
    return last >= stop if rising else last <= stop


class BinanceSim(LocalServer):
    def __init__(self, balances: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.orders: dict[int, dict[str, Any]] = {}
        self.trades: list[dict[str, Any]] = []
        start = balances or {"USDT": 100000, "BTC": 1, "ETH": 0}
        self.balances = {k: Decimal(str(v)) for k, v in start.items()}
        self.refused: list[dict[str, str]] = []  # orders refused for insufficient balance
        self._ids = itertools.count(1000)
        self._faults: list[tuple[int, int, str, str | None]] = []
        self._delay = 0.0
        self.book = {sym: (Decimal(v[5]), Decimal(v[6])) for sym, v in SYMBOLS.items()}
        self.last = {sym: Decimal(v[5]) for sym, v in SYMBOLS.items()}
        # a test's market: called with each order a cancel request names, before the cancel
        # (e.g. the market trades through a stop just before the session cancels it)
        self.before_cancel: Any = None

    def trade(self, symbol: str, price: Any) -> list[dict[str, Any]]:
        """A public trade at `price`: the book and last price move there; the resting stops
        it reaches trigger and fill (or expire). Returns the orders it triggered."""
        px = Decimal(str(price))
        tick = Decimal(SYMBOLS[symbol][2])
        self.book[symbol] = (px, px + tick)
        self.last[symbol] = px
        hit = [
            o
            for o in self.orders.values()
            if o["symbol"] == symbol
            and o["status"] == "NEW"
            and o["type"] in STOP_TYPES
            and _triggers(o["type"], o["side"], Decimal(o["stopPrice"]), px)
        ]
        for o in hit:
            side, qty = o["side"], Decimal(o["origQty"])
            bid, ask = self.book[symbol]
            fill_px = ask if side == "BUY" else bid
            now = int(time.time() * 1000)
            o["updateTime"] = now
            if not self._settle(symbol, side, qty, fill_px):
                o["status"] = "EXPIRED"
                continue
            o.update(
                status="FILLED",
                executedQty=f"{qty:f}",
                cummulativeQuoteQty=f"{qty * fill_px:f}",
            )
            self._record_trade(symbol, o["orderId"], side, qty, fill_px, now)
        return hit

    def fail_next(self, status: int, code: int, msg: str, path: str | None = None) -> None:
        """Answer the next request (the next one to `path`, if given) with this error."""
        self._faults.append((status, code, msg, path))

    def delay_next_create(self, seconds: float) -> None:
        self._delay = seconds

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v3/exchangeInfo", self._info)
        r.add_get("/api/v3/account", self._account)
        r.add_post("/api/v3/order", self._create)
        r.add_delete("/api/v3/order", self._cancel)
        r.add_get("/api/v3/order", self._fetch)
        r.add_get("/api/v3/openOrders", self._open)
        r.add_get("/api/v3/myTrades", self._my_trades)

    def middlewares(self) -> list[Any]:
        return [self._mw]

    @web.middleware
    async def _mw(self, request: web.Request, handler: Any) -> web.StreamResponse:
        public = request.path in ("/api/v3/exchangeInfo", "/api/v3/account")
        signed = "signature" in request.query or "signature" in await request.text()
        if not public and not signed:
            return web.json_response({"code": -1102, "msg": "signature missing"}, status=400)
        for i, (status, code, msg, path) in enumerate(self._faults):
            if path is None or path == request.path:
                del self._faults[i]
                return web.json_response({"code": code, "msg": msg}, status=status)
        return await handler(request)

    async def _params(self, request: web.Request) -> dict[str, str]:
        params = dict(request.query)
        if request.method == "POST":
            params.update(dict(await request.post()))
        return params

    async def _info(self, request: web.Request) -> web.Response:
        symbols = [
            symbol_info(sym, base, quote, tick, step, notional)
            for sym, (base, quote, tick, step, notional, _, _) in SYMBOLS.items()
        ]
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": int(time.time() * 1000),
                "rateLimits": [],
                "exchangeFilters": [],
                "symbols": symbols,
            }
        )

    async def _account(self, request: web.Request) -> web.Response:
        if "signature" not in request.query:
            return web.json_response({"code": -1102, "msg": "signature missing"}, status=400)
        return web.json_response(
            {
                "makerCommission": 10,
                "takerCommission": 10,
                "canTrade": True,
                "accountType": "SPOT",
                "updateTime": int(time.time() * 1000),
                "permissions": ["SPOT"],
                "balances": [
                    {"asset": a, "free": f"{v:f}", "locked": "0.00000000"}
                    for a, v in self.balances.items()
                ],
            }
        )

    def _view(self, o: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in o.items() if not k.startswith("_")}

    async def _create(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        cid = p.get("newClientOrderId") or f"sim-{next(self._ids)}"
        if any(o["clientOrderId"] == cid for o in self.orders.values()):
            return web.json_response({"code": -2010, "msg": "Duplicate order sent."}, status=400)
        sym = p["symbol"]
        if sym not in SYMBOLS:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        bid, ask = self.book[sym]
        qty = Decimal(p["quantity"])
        price = Decimal(p.get("price", "0"))
        side, otype = p["side"], p["type"]
        refused = self._check_type(sym, otype, p)
        if refused is not None:
            return web.json_response({"code": refused[0], "msg": refused[1]}, status=400)
        stop = otype in STOP_TYPES
        crosses = not stop and (
            otype == "MARKET"
            or (side == "BUY" and price >= ask)
            or (side == "SELL" and price <= bid)
        )
        fill_px = ask if side == "BUY" else bid
        if crosses and not self._settle(sym, side, qty, fill_px):
            self.refused.append(dict(p))
            return web.json_response(
                {"code": -2010, "msg": "Account has insufficient balance for requested action."},
                status=400,
            )
        now = int(time.time() * 1000)
        oid = next(self._ids)
        o = {
            "symbol": sym,
            "orderId": oid,
            "orderListId": -1,
            "clientOrderId": cid,
            "transactTime": now,
            "price": f"{price:f}",
            "origQty": f"{qty:f}",
            "executedQty": f"{qty if crosses else 0:f}",
            "cummulativeQuoteQty": f"{qty * fill_px if crosses else 0:f}",
            "status": "FILLED" if crosses else "NEW",
            "timeInForce": p.get("timeInForce", "GTC"),
            "type": otype,
            "side": side,
            "workingTime": now,
            "selfTradePreventionMode": "NONE",
            "time": now,
            "updateTime": now,
            "isWorking": not stop,
            "origQuoteOrderQty": "0.00000000",
        }
        if stop:
            o["stopPrice"] = f"{Decimal(p['stopPrice']):f}"
        self.orders[oid] = o
        if crosses:
            self._record_trade(sym, oid, side, qty, fill_px, now)
        if self._delay:
            delay, self._delay = self._delay, 0.0
            await asyncio.sleep(delay)
        return web.json_response(self._view(o))

    def _check_type(self, sym: str, otype: str, p: dict[str, str]) -> tuple[int, str] | None:
        """Binance's refusal of an order type or its parameters (None: accepted)."""
        if otype not in SIM_TYPES or otype not in symbol_info(sym, *_info_args(sym))["orderTypes"]:
            return -1116, "Invalid orderType."
        if otype not in STOP_TYPES:
            if "stopPrice" in p:
                return -1106, "Parameter 'stopPrice' sent when not required."
            return None
        if not p.get("stopPrice"):
            return -1102, (
                "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed."
            )
        if "price" in p:
            return -1106, "Parameter 'price' sent when not required."
        if _triggers(otype, p["side"], Decimal(p["stopPrice"]), self.last[sym]):
            return -2010, "Order would trigger immediately."
        return None

    def _record_trade(
        self, sym: str, oid: int, side: str, qty: Decimal, px: Decimal, now: int
    ) -> None:
        self.trades.append(
            {
                "symbol": sym,
                "id": len(self.trades) + 1,
                "orderId": oid,
                "orderListId": -1,
                "price": f"{px:f}",
                "qty": f"{qty:f}",
                "quoteQty": f"{qty * px:f}",
                "commission": f"{qty * px / 1000:f}",
                "commissionAsset": "USDT",
                "time": now,
                "isBuyer": side == "BUY",
                "isMaker": False,
                "isBestMatch": True,
            }
        )

    def _settle(self, sym: str, side: str, qty: Decimal, price: Decimal) -> bool:
        """Move the balances for a fill; False (nothing moved) when they cannot cover it."""
        base, quote = SYMBOLS[sym][0], SYMBOLS[sym][1]
        cost = qty * price
        fee = cost / 1000  # the commission the trade reports
        if side == "BUY":
            if self.balances.get(quote, Decimal(0)) < cost + fee:
                return False
            self.balances[quote] -= cost + fee
            self.balances[base] = self.balances.get(base, Decimal(0)) + qty
        else:
            if self.balances.get(base, Decimal(0)) < qty:
                return False
            self.balances[base] -= qty
            self.balances[quote] = self.balances.get(quote, Decimal(0)) + cost - fee
        return True

    def _lookup(self, p: dict[str, str]) -> dict[str, Any] | None:
        if "orderId" in p:
            return self.orders.get(int(p["orderId"]))
        cid = p.get("origClientOrderId")
        return next((o for o in self.orders.values() if o["clientOrderId"] == cid), None)

    async def _fetch(self, request: web.Request) -> web.Response:
        o = self._lookup(dict(request.query))
        if o is None:
            return web.json_response({"code": -2013, "msg": "Order does not exist."}, status=400)
        return web.json_response(self._view(o))

    async def _cancel(self, request: web.Request) -> web.Response:
        o = self._lookup(dict(request.query))
        if o is not None and self.before_cancel is not None:
            self.before_cancel(o)
        if o is None or o["status"] not in ("NEW", "PARTIALLY_FILLED"):
            return web.json_response({"code": -2011, "msg": "Unknown order sent."}, status=400)
        o["status"] = "CANCELED"
        return web.json_response(self._view(o))

    async def _open(self, request: web.Request) -> web.Response:
        sym = request.query.get("symbol")
        return web.json_response(
            [
                self._view(o)
                for o in self.orders.values()
                if o["status"] in ("NEW", "PARTIALLY_FILLED") and sym in (None, o["symbol"])
            ]
        )

    async def _my_trades(self, request: web.Request) -> web.Response:
        """As Binance: `limit` (default 500, at most 1000) trades ascending; `fromId` from that
        trade id on; else [startTime, endTime] within one day (startTime alone: a day from it;
        neither: the last day)."""
        q = request.query
        sym = q.get("symbol")
        limit = min(int(q.get("limit", 500)), 1000)
        rows = [t for t in self.trades if t["symbol"] == sym]
        if "fromId" in q:
            if "startTime" in q or "endTime" in q:
                return web.json_response(
                    {"code": -1128, "msg": "Combination of optional parameters invalid."},
                    status=400,
                )
            rows = [t for t in rows if t["id"] >= int(q["fromId"])]
        else:
            day = 86_400_000
            now = int(time.time() * 1000)
            start = int(q["startTime"]) if "startTime" in q else None
            end = int(q["endTime"]) if "endTime" in q else None
            if start is None and end is None:
                start, end = now - day, now
            elif end is None:
                end = start + day  # type: ignore[operator]
            elif start is None:
                start = end - day
            if end - start > day:
                return web.json_response(
                    {"code": -1127, "msg": "More than 24 hours between startTime and endTime."},
                    status=400,
                )
            # (a trade stored without a time, as a test makes one, is in every window)
            rows = [t for t in rows if "time" not in t or start <= t["time"] <= end]
        return web.json_response(rows[:limit])
