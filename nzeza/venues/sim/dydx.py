"""A local dYdX v4 stub: the node's REST gateway (accounts, latest block, broadcast) and the
indexer endpoints nzeza reads (perpetual markets, orders, fills, subaccount).

The broadcast handler does what a validator's ante handler does for signatures: decodes the
TxRaw, checks the signer's address, sequence and the SIGN_MODE_DIRECT signature over the
SignDoc (chain id, account number, sequence), then applies MsgPlaceOrder / MsgCancelOrder to
its order list. Placed orders fill immediately at their limit price when `auto_fill` is set.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

from aiohttp import web

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


class DydxStub:
    def __init__(self, chain_id: str = "dydx-testnet-4", auto_fill: bool = True) -> None:
        self.chain_id = chain_id
        self.auto_fill = auto_fill
        self.markets = {m["ticker"]: m for m in (BTC_USD, ETH_USD)}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.height = 1000
        self.orders: list[dict[str, Any]] = []
        self.fills: list[dict[str, Any]] = []
        self.broadcasts: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    def add_account(self, address: str, account_number: int = 7, sequence: int = 0) -> None:
        self.accounts[address] = {
            "account_number": account_number,
            "sequence": sequence,
            "pubkey": None,
        }

    # -- server ------------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/cosmos/auth/v1beta1/accounts/{address}", self._account)
        app.router.add_get("/cosmos/base/tendermint/v1beta1/blocks/latest", self._latest)
        app.router.add_post("/cosmos/tx/v1beta1/txs", self._broadcast)
        app.router.add_get("/v4/perpetualMarkets", self._markets)
        app.router.add_get("/v4/orders", self._orders)
        app.router.add_get("/v4/fills", self._fills)
        app.router.add_get("/v4/addresses/{address}/subaccountNumber/{n}", self._subaccount)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

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
        acct["sequence"] += 1
        for msg in tx.messages:
            if msg.DESCRIPTOR.name == "MsgPlaceOrder":
                self._place(msg.order)
            else:
                for o in self.orders:
                    if o["clientId"] == str(msg.order_id.client_id) and o["status"] == "OPEN":
                        o["status"] = "CANCELED"
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
            "reduceOnly": order.reduce_only,
            "goodTilBlock": str(order.good_til_block) if order.good_til_block else None,
            "goodTilBlockTime": str(order.good_til_block_time)
            if order.good_til_block_time
            else None,
        }
        self.orders.append(row)
        if self.auto_fill:
            row["status"], row["totalFilled"] = "FILLED", row["size"]
            self.fills.append(
                {
                    "id": f"fill-{len(self.fills) + 1}",
                    "side": row["side"],
                    "liquidity": "TAKER",
                    "type": "LIMIT",
                    "market": market["ticker"],
                    "marketType": "PERPETUAL",
                    "price": row["price"],
                    "size": row["size"],
                    "fee": _s(size * price * 5 / 10000),
                    "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    "createdAtHeight": str(self.height),
                    "orderId": oid,
                    "clientMetadata": "0",
                    "subaccountNumber": 0,
                }
            )
        self.height += 1

    # -- indexer -----------------------------------------------------------------------------
    async def _markets(self, req: web.Request) -> web.Response:
        return web.json_response({"markets": self.markets})

    async def _orders(self, req: web.Request) -> web.Response:
        addr = req.query.get("address")
        rows = [o for o in self.orders if o["subaccountId"] == addr]
        if "status" in req.query:
            rows = [o for o in rows if o["status"] == req.query["status"]]
        return web.json_response(rows)

    async def _fills(self, req: web.Request) -> web.Response:
        addr = req.query.get("address")
        mine = {o["id"] for o in self.orders if o["subaccountId"] == addr}
        return web.json_response({"fills": [f for f in self.fills if f["orderId"] in mine]})

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
