"""A local dYdX v4 stub: the node's REST gateway (accounts, latest block, broadcast) and the
indexer endpoints nzeza reads (perpetual markets, orders, fills, subaccount).

The broadcast handler does what a validator's ante handler does for signatures: decodes the
TxRaw, checks the signer's address, sequence and the SIGN_MODE_DIRECT signature over the
SignDoc (chain id, account number, sequence), then applies MsgPlaceOrder / MsgCancelOrder to
its order list. A short-term order's good_til_block must lie in (height, height + 20], as the
chain requires.

Matching (`fill_at`): "limit" fills every placed order at once at its limit price (with
`auto_fill`); "oracle" fills an order that crosses the market's oracle price (`oracle()`,
default the market's `oraclePrice`) at that price, cancels a short-term (IOC) order that does
not (BEST_EFFORT_CANCELED), and rests a long-term one (OPEN) until it is cancelled.
`indexer_lag` delays an order (and its fills) at the indexer by that many reads of /v4/orders,
as the real indexer lags the chain. Fills are served newest first, `limit` a page, before a
height (`createdBeforeOrAtHeight`), as the indexer pages them.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

from aiohttp import web
from support.sim._server import LocalServer

from nzeza.venues.dydx.quantums import MarketParams, from_quantums, from_subticks
from nzeza.venues.dydx.tx import decode_tx, verify_signature

BTC_USD = {
    "ticker": "BTC-USD",
    "clobPairId": "0",
    "status": "ACTIVE",
    "oraclePrice": "60000",
    "atomicResolution": -10,
    "quantumConversionExponent": -9,
    "stepBaseQuantums": 1000000,
    "subticksPerTick": 100000,
    "tickSize": "1",
    "stepSize": "0.0001",
}
ETH_USD = {
    "ticker": "ETH-USD",
    "clobPairId": "1",
    "status": "ACTIVE",
    "oraclePrice": "3000",
    "atomicResolution": -9,
    "quantumConversionExponent": -9,
    "stepBaseQuantums": 1000000,
    "subticksPerTick": 100000,
    "tickSize": "0.1",
    "stepSize": "0.001",
}


def _s(d: Any) -> str:
    return f"{d.normalize():f}"  # the indexer prints decimals without trailing zeros


def _now_iso() -> str:
    now = time.time_ns()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 1_000_000_000))
    return f"{stamp}.{now // 1_000_000 % 1000:03d}Z"


class DydxStub(LocalServer):
    def __init__(
        self,
        chain_id: str = "dydx-testnet-4",
        auto_fill: bool = True,
        *,
        fill_at: str = "limit",
        oracle: Any = None,
        indexer_lag: int = 0,
        maker_fee: Any = None,
    ) -> None:
        super().__init__()
        self.chain_id = chain_id
        self.auto_fill = auto_fill
        self.fill_at = fill_at
        self.oracle = oracle  # callable -> Decimal, else each market's oraclePrice
        self.indexer_lag = indexer_lag
        self.order_reads = 0
        self.maker_fee = maker_fee  # a fee rate for every fill (negative: a rebate)
        self.markets = {m["ticker"]: m for m in (BTC_USD, ETH_USD)}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.height = 1000
        self.orders: list[dict[str, Any]] = []
        self.fills: list[dict[str, Any]] = []
        self.broadcasts: list[dict[str, Any]] = []
        self.funding: list[dict[str, Any]] = []  # (address, payment row) of /v4/fundingPayments
        self.funding_queries: list[dict[str, str]] = []

    def add_account(self, address: str, account_number: int = 7, sequence: int = 0) -> None:
        self.accounts[address] = {
            "account_number": account_number,
            "sequence": sequence,
            "pubkey": None,
        }

    # -- server ------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_get("/cosmos/auth/v1beta1/accounts/{address}", self._account)
        app.router.add_get("/cosmos/base/tendermint/v1beta1/blocks/latest", self._latest)
        app.router.add_post("/cosmos/tx/v1beta1/txs", self._broadcast)
        app.router.add_get("/v4/perpetualMarkets", self._markets)
        app.router.add_get("/v4/orders", self._orders)
        app.router.add_get("/v4/fills", self._fills)
        app.router.add_get("/v4/fundingPayments", self._funding_payments)
        app.router.add_get("/v4/addresses/{address}/subaccountNumber/{n}", self._subaccount)

    # -- node --------------------------------------------------------------------------------
    async def _account(self, req: web.Request) -> web.Response:
        a = self.accounts.get(req.match_info["address"])
        if a is None:
            return web.json_response({"code": 5, "message": "account not found"}, status=404)
        return web.json_response(
            {
                "account": {
                    "@type": "/cosmos.auth.v1beta1.BaseAccount",
                    "address": req.match_info["address"],
                    "account_number": str(a["account_number"]),
                    "sequence": str(a["sequence"]),
                }
            }
        )

    async def _latest(self, req: web.Request) -> web.Response:
        return web.json_response(
            {"block": {"header": {"height": str(self.height), "chain_id": self.chain_id}}}
        )

    def _fail(self, code: int, log: str, txhash: str) -> web.Response:
        return web.json_response(
            {"tx_response": {"code": code, "raw_log": log, "txhash": txhash, "codespace": "sdk"}}
        )

    async def _broadcast(self, req: web.Request) -> web.Response:
        body = await req.json()
        tx_bytes = base64.b64decode(body["tx_bytes"])
        txhash = hashlib.sha256(tx_bytes).hexdigest().upper()
        self.broadcasts.append({"mode": body.get("mode"), "txhash": txhash})
        tx = decode_tx(tx_bytes)
        first = tx.messages[0]
        oid = first.order.order_id if first.DESCRIPTOR.name == "MsgPlaceOrder" else first.order_id
        owner = oid.subaccount_id.owner
        acct = self.accounts.get(owner)
        if acct is None:
            return self._fail(9, "account not found", txhash)
        if tx.sequence != acct["sequence"]:
            return self._fail(
                32,
                f"account sequence mismatch, expected {acct['sequence']}, got {tx.sequence}",
                txhash,
            )
        doc = tx.sign_doc(self.chain_id, acct["account_number"])
        if not verify_signature(tx.public_key, doc, tx.signature):
            return self._fail(4, "signature verification failed", txhash)
        for msg in tx.messages:
            if msg.DESCRIPTOR.name == "MsgPlaceOrder" and msg.order.order_id.order_flags == 0:
                gtb = msg.order.good_til_block
                if not self.height < gtb <= self.height + 20:
                    return self._fail(
                        2, f"GoodTilBlock {gtb} not in ({self.height}, {self.height + 20}]", txhash
                    )
        acct["sequence"] += 1
        for msg in tx.messages:
            if msg.DESCRIPTOR.name == "MsgPlaceOrder":
                self._place(msg.order)
            else:
                for o in self.orders:
                    if o["clientId"] == str(msg.order_id.client_id) and o["status"] in (
                        "OPEN",
                        "BEST_EFFORT_OPENED",
                    ):
                        o["status"] = "CANCELED"
                        o["updatedAt"] = _now_iso()
        return web.json_response({"tx_response": {"code": 0, "txhash": txhash, "raw_log": "[]"}})

    def _place(self, order: Any) -> None:
        market = next(
            m for m in self.markets.values() if int(m["clobPairId"]) == order.order_id.clob_pair_id
        )
        params = MarketParams.from_indexer(market)
        size, price = from_quantums(order.quantums, params), from_subticks(order.subticks, params)
        oid = f"{len(self.orders) + 1:08x}"
        row = {
            "id": oid,
            "subaccountId": order.order_id.subaccount_id.owner,
            "clientId": str(order.order_id.client_id),
            "clobPairId": str(order.order_id.clob_pair_id),
            "side": "BUY" if order.side == 1 else "SELL",
            "size": _s(size),
            "totalFilled": "0",
            "price": _s(price),
            "status": "OPEN",
            "type": "LIMIT",
            "ticker": market["ticker"],
            "orderFlags": str(order.order_id.order_flags),
            # the indexer's names of the proto's time in force (0 unspecified: good til time)
            "timeInForce": {1: "IOC", 2: "POST_ONLY", 3: "FOK"}.get(
                int(order.time_in_force), "GTT"
            ),
            "reduceOnly": order.reduce_only,
            "goodTilBlock": str(order.good_til_block) if order.good_til_block else None,
            "goodTilBlockTime": str(order.good_til_block_time)
            if order.good_til_block_time
            else None,
            "createdAtHeight": str(self.height),
            "updatedAt": _now_iso(),
            "_visible_after": self.order_reads + self.indexer_lag,
        }
        self.orders.append(row)
        short = order.order_id.order_flags == 0
        if self.fill_at == "oracle":
            touch = self._oracle(market)
            crosses = price >= touch if row["side"] == "BUY" else price <= touch
            if crosses:
                self._fill(row, market, size, touch)
            elif short:  # IOC: never rests
                row["status"] = "BEST_EFFORT_CANCELED"
        elif self.auto_fill:
            self._fill(row, market, size, price)
        elif short:
            row["status"] = "BEST_EFFORT_OPENED"
        self.height += 1

    def _oracle(self, market: dict[str, Any]) -> Any:
        from decimal import Decimal

        return Decimal(str(self.oracle() if self.oracle else market["oraclePrice"]))

    def _fill(self, row: dict[str, Any], market: dict[str, Any], size: Any, price: Any) -> None:
        from decimal import Decimal

        row["status"], row["totalFilled"] = "FILLED", row["size"]
        rate = Decimal(str(self.maker_fee)) if self.maker_fee is not None else Decimal("0.0005")
        self.fills.append(
            {
                "id": f"fill-{len(self.fills) + 1}",
                "side": row["side"],
                "liquidity": "TAKER",
                "type": "LIMIT",
                "market": market["ticker"],
                "marketType": "PERPETUAL",
                "price": _s(price),
                "size": row["size"],
                "fee": _s(size * price * rate),
                "createdAt": _now_iso(),
                "createdAtHeight": str(self.height),
                "orderId": row["id"],
                "clientMetadata": "0",
                "subaccountNumber": 0,
            }
        )

    # -- indexer -----------------------------------------------------------------------------
    async def _markets(self, req: web.Request) -> web.Response:
        return web.json_response({"markets": self.markets})

    def _visible(self, order: dict[str, Any]) -> bool:
        return self.order_reads >= order["_visible_after"]

    async def _orders(self, req: web.Request) -> web.Response:
        self.order_reads += 1
        addr = req.query.get("address")
        rows = [o for o in self.orders if o["subaccountId"] == addr and self._visible(o)]
        if "status" in req.query:
            rows = [o for o in rows if o["status"] == req.query["status"]]
        if "ticker" in req.query:
            rows = [o for o in rows if o["ticker"] == req.query["ticker"]]
        return web.json_response([{k: v for k, v in o.items() if k[0] != "_"} for o in rows])

    async def _fills(self, req: web.Request) -> web.Response:
        q = req.query
        mine = {
            o["id"]
            for o in self.orders
            if o["subaccountId"] == q.get("address") and self._visible(o)
        }
        rows = [f for f in self.fills if f["orderId"] in mine]
        if "market" in q:
            rows = [f for f in rows if f["market"] == q["market"]]
        if "createdBeforeOrAtHeight" in q:
            rows = [
                f for f in rows if int(f["createdAtHeight"]) <= int(q["createdBeforeOrAtHeight"])
            ]
        rows.sort(key=lambda f: (int(f["createdAtHeight"]), f["id"]), reverse=True)
        return web.json_response({"fills": rows[: int(q.get("limit", 100))]})

    def pay_funding(
        self,
        address: str,
        created_at: str,
        ticker: str,
        payment: str,
        size: str,
        side: str,
        rate: str,
        oracle: str,
        subaccount: int = 0,
    ) -> None:
        """A funding payment of a subaccount, as the indexer's `/v4/fundingPayments` shows it."""
        self.height += 1
        self.funding.append(
            {"_address": address, "subaccountNumber": str(subaccount), "createdAt": created_at,
             "createdAtHeight": str(self.height), "perpetualId": "0", "ticker": ticker,
             "oraclePrice": oracle, "size": size, "side": side, "rate": rate,
             "payment": payment, "fundingIndex": "0"}
        )  # fmt: skip

    async def _funding_payments(self, req: web.Request) -> web.Response:
        """GET /v4/fundingPayments?address&subaccountNumber&limit&ticker&afterOrAt&page: the
        indexer's shape ({fundingPayments, pageSize, totalResults, offset}); with `page`
        newest first, `limit` a page."""
        q = req.query
        self.funding_queries.append(dict(q))
        rows = [
            r for r in self.funding
            if r["_address"] == q.get("address")
            and r["subaccountNumber"] == q.get("subaccountNumber", "0")
            and ("ticker" not in q or r["ticker"] == q["ticker"])
            and ("afterOrAt" not in q or r["createdAt"] >= q["afterOrAt"])
        ]  # fmt: skip
        rows.sort(key=lambda r: r["createdAt"], reverse="page" in q)
        limit = int(q.get("limit", 1000))
        offset = (int(q.get("page", 1)) - 1) * limit
        page = [{k: v for k, v in r.items() if k[0] != "_"} for r in rows[offset : offset + limit]]
        return web.json_response(
            {"fundingPayments": page, "pageSize": limit, "totalResults": len(rows),
             "offset": offset}
        )  # fmt: skip

    async def _subaccount(self, req: web.Request) -> web.Response:
        return web.json_response(
            {
                "subaccount": {
                    "address": req.match_info["address"],
                    "subaccountNumber": int(req.match_info["n"]),
                    "equity": "10000",
                    "freeCollateral": "9000",
                    "openPerpetualPositions": {},
                }
            }
        )
