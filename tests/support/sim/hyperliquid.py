"""A local Hyperliquid API server (the endpoints and shapes ccxt's hyperliquid uses): perps.

  POST /info {"type": ...}
    spotMeta                       tokens (ccxt loads them as currencies)
    metaAndAssetCtxs               [{"universe": [{name, szDecimals, maxLeverage}]}, [ctx]]
    userAbstraction                "default" (no unified margin)
    clearinghouseState             marginSummary, withdrawable, assetPositions (balance, positions)
    orderStatus {oid | cloid}      {"status": "order", "order": {...}} or {"status": "unknownOid"}
    frontendOpenOrders             open orders
    userFills / userFillsByTime    my trades
    userFunding {startTime, endTime}  funding payments: [{time, hash, delta: {type: "funding",
                                   coin, usdc, szi, fundingRate, nSamples}}] (`funding`)
  POST /exchange {"action", "nonce", "signature"}
    order                          statuses [{"resting": {"oid"}} | {"filled": {...}} | {"error"}]
    cancel / cancelByCloid         statuses ["success" | {"error"}]

Every /exchange request is checked the way Hyperliquid does: the EIP-712 "Agent" signature over
keccak(msgpack(action) ‖ nonce ‖ vault flag) must recover to the wallet address the simulator
was built with (an action signed by any other key is refused: "User or API Wallet … does not
exist."). Shapes follow https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from aiohttp import web
from support.sim._base import SimBase, SimMarket, SimOrder, fmt

D = Decimal
MARKETS = [
    SimMarket("BTC", "BTC", "USDC", D("1"), D("0.00001"), D("0.00001"), D("10"),
              D("60000"), D("60001")),
    SimMarket("ETH", "ETH", "USDC", D("0.1"), D("0.0001"), D("0.0001"), D("10"),
              D("3000.0"), D("3000.1")),
]  # fmt: skip
SZ_DECIMALS = {"BTC": 5, "ETH": 4}
# Info requests about the user (where `fail_next` faults apply); market metadata is public.
PRIVATE_INFO = frozenset(
    {
        "clearinghouseState",
        "orderStatus",
        "frontendOpenOrders",
        "userFills",
        "userFillsByTime",
        "userFunding",
    }
)


def recover_signer(action: dict[str, Any], nonce: int, signature: dict[str, Any]) -> str:
    """The address that signed an L1 action (lowercase 0x…), as Hyperliquid's node computes it.

    Uses ccxt's own encoders for the action hash and the EIP-712 phantom agent (what the
    client signs) and coincurve (ccxt's secp256k1 library) for the public-key recovery.
    """
    import ccxt
    import coincurve

    hl = ccxt.hyperliquid()
    phantom = hl.construct_phantom_agent(hl.action_hash(action, None, nonce), False)
    domain = {
        "chainId": 1337,
        "name": "Exchange",
        "verifyingContract": hl.options["zeroAddress"],
        "version": "1",
    }
    types = {
        "Agent": [{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}]
    }
    digest = bytes.fromhex(
        hl.hash_message(hl.eth_encode_structured_data(domain, types, phantom))[2:]
    )
    r = bytes.fromhex(str(signature["r"])[2:].rjust(64, "0"))
    s = bytes.fromhex(str(signature["s"])[2:].rjust(64, "0"))
    v = int(signature["v"]) - 27
    pub = coincurve.PublicKey.from_signature_and_message(r + s + bytes([v]), digest, hasher=None)
    return "0x" + ccxt.Exchange.hash(pub.format(compressed=False)[1:], "keccak", "hex")[-40:]


class HyperliquidSim(SimBase):
    def __init__(self, wallet_address: str = "") -> None:
        super().__init__(MARKETS, {"USDC": D(10000)})
        self.wallet = wallet_address.lower()
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # coin -> (szi, entry px)
        self.actions: list[str] = []
        self.asset = {m.symbol: i for i, m in enumerate(MARKETS)}
        self.funding: list[dict[str, Any]] = []  # userFunding rows, as Hyperliquid sends them

    def pay_funding(self, time_ms: int, coin: str, usdc: str, szi: str, rate: str) -> None:
        """Credit (usdc > 0) or debit a funding payment, in Hyperliquid's `userFunding` shape."""
        self.funding.append(
            {"time": time_ms, "hash": "0x" + "0" * 64,
             "delta": {"type": "funding", "coin": coin, "usdc": usdc, "szi": szi,
                       "fundingRate": rate, "nSamples": None}}
        )  # fmt: skip

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/info", self._info)
        app.router.add_post("/exchange", self._exchange)

    # -- /info -----------------------------------------------------------------------------
    async def _info(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        kind = body.get("type")
        if kind in PRIVATE_INFO:
            fault = self.take_fault()
            if fault is not None:
                return fault
        handler = {
            "spotMeta": self._spot_meta,
            "metaAndAssetCtxs": self._meta,
            "userAbstraction": lambda b: "default",
            "clearinghouseState": self._clearinghouse,
            "orderStatus": self._order_status,
            "frontendOpenOrders": self._open_orders,
            "userFills": self._fills,
            "userFillsByTime": self._fills,
            "userFunding": self._user_funding,
        }.get(kind)
        if handler is None:
            return web.json_response(
                {"status": "err", "response": f"unknown info type {kind}"}, status=422
            )
        return web.json_response(handler(body))

    def _user_funding(self, body: dict[str, Any]) -> Any:
        """userFunding: the user's funding payments from startTime (ms) to endTime, oldest
        first (at most 500, as Hyperliquid pages time-range queries)."""
        start = int(body.get("startTime") or 0)
        end = int(body.get("endTime") or 2**62)
        rows = [r for r in self.funding if start <= r["time"] <= end]
        return sorted(rows, key=lambda r: r["time"])[:500]

    def _spot_meta(self, body: dict[str, Any]) -> Any:
        usdc = {
            "name": "USDC",
            "szDecimals": 8,
            "weiDecimals": 8,
            "index": 0,
            "tokenId": "0x6d1e7cde53ba9467b783cb7c530ce054",
            "isCanonical": True,
            "evmContract": None,
            "fullName": None,
        }
        return {"universe": [], "tokens": [usdc]}

    def _meta(self, body: dict[str, Any]) -> Any:
        universe, ctxs = [], []
        for m in MARKETS:
            universe.append(
                {"name": m.symbol, "szDecimals": SZ_DECIMALS[m.symbol], "maxLeverage": 40}
            )
            mid = (m.bid + m.ask) / 2
            ctxs.append(
                {
                    "dayNtlVlm": "1169046.29406",
                    "funding": "0.0000125",
                    "impactPxs": [fmt(m.bid), fmt(m.ask)],
                    "markPx": fmt(mid),
                    "midPx": fmt(mid),
                    "openInterest": "688.11",
                    "oraclePx": fmt(mid),
                    "premium": "0.00031774",
                    "prevDayPx": fmt(mid),
                }
            )
        return [{"universe": universe}, ctxs]

    def _clearinghouse(self, body: dict[str, Any]) -> Any:
        positions, ntl = [], D(0)
        for coin, (szi, entry) in self.positions.items():
            if szi == 0:
                continue
            m = self.markets[coin]
            mark = (m.bid + m.ask) / 2
            ntl += abs(szi) * mark
            positions.append(
                {
                    "type": "oneWay",
                    "position": {
                        "coin": coin,
                        "szi": fmt(szi),
                        "leverage": {"type": "cross", "value": 20},
                        "entryPx": fmt(entry),
                        "positionValue": fmt(abs(szi) * mark),
                        "unrealizedPnl": fmt((mark - entry) * szi),
                        "returnOnEquity": "0.0",
                        "liquidationPx": None,
                        "marginUsed": fmt(abs(szi) * mark / 20),
                        "maxLeverage": 40,
                        "cumFunding": {"allTime": "0.0", "sinceOpen": "0.0", "sinceChange": "0.0"},
                    },
                }
            )
        value = self.balances["USDC"]
        summary = {
            "accountValue": fmt(value),
            "totalNtlPos": fmt(ntl),
            "totalRawUsd": fmt(value),
            "totalMarginUsed": fmt(ntl / 20),
        }
        return {
            "marginSummary": summary,
            "crossMarginSummary": summary,
            "crossMaintenanceMarginUsed": fmt(ntl / 40),
            "withdrawable": fmt(value - ntl / 20),
            "assetPositions": positions,
            "time": int(time.time() * 1000),
        }

    def _wire(self, o: SimOrder) -> dict[str, Any]:
        return {
            "coin": o.symbol,
            "side": "B" if o.side == "buy" else "A",
            "limitPx": fmt(o.price),
            "sz": fmt(o.qty - o.filled),
            "oid": int(o.oid),
            "timestamp": o.ts_ms,
            "triggerCondition": "N/A",
            "isTrigger": False,
            "triggerPx": "0.0",
            "children": [],
            "isPositionTpsl": False,
            "reduceOnly": False,
            "orderType": "Limit",
            "origSz": fmt(o.qty),
            "tif": o.tif,
            "cloid": o.cid or None,
        }

    def _order_status(self, body: dict[str, Any]) -> Any:
        oid = body.get("oid")
        o = self.by_cid(oid) if isinstance(oid, str) else self.orders.get(str(oid))
        if o is None:
            return {"status": "unknownOid"}
        return {
            "status": "order",
            "order": {"order": self._wire(o), "status": o.status, "statusTimestamp": o.ts_ms},
        }

    def _open_orders(self, body: dict[str, Any]) -> Any:
        return [self._wire(o) for o in self.orders.values() if o.status == "open"]

    def _fills(self, body: dict[str, Any]) -> Any:
        """userFillsByTime: at most 2000 fills from startTime, oldest first; userFills: the
        2000 most recent."""
        start = int(body.get("startTime") or 0)
        ordered = sorted(self.trades, key=lambda t: (t.ts_ms, int(t.tid)))
        if body.get("type") == "userFills":
            ordered = ordered[-2000:]
        out = []
        for t in ordered:
            if t.ts_ms < start or len(out) == 2000:
                continue
            out.append(
                {
                    "closedPnl": "0.0",
                    "coin": t.symbol,
                    "crossed": True,
                    "dir": "Open Long" if t.side == "buy" else "Open Short",
                    "hash": "0x" + t.tid.rjust(64, "0"),
                    "oid": int(t.oid),
                    "px": fmt(t.price),
                    "side": "B" if t.side == "buy" else "A",
                    "startPosition": "0.0",
                    "sz": fmt(t.qty),
                    "time": t.ts_ms,
                    "fee": fmt(t.fee),
                    "feeToken": "USDC",
                    "tid": int(t.tid),
                }
            )
        return out

    # -- /exchange -------------------------------------------------------------------------
    async def _exchange(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        action, nonce, sig = body.get("action") or {}, body.get("nonce"), body.get("signature")
        self.actions.append(str(action.get("type")))
        try:
            signer = recover_signer(action, int(nonce), sig)
        except (KeyError, TypeError, ValueError):
            signer = ""
        if self.wallet and signer != self.wallet:
            return web.json_response(
                {"status": "err", "response": f"User or API Wallet {signer} does not exist."}
            )
        fault = self.take_fault()
        if fault is not None:
            return fault
        kind = action.get("type")
        if kind == "order":
            statuses = [self._place(o) for o in action.get("orders", [])]
            await self.create_delay()
            return self._ok("order", statuses)
        if kind in ("cancel", "cancelByCloid"):
            statuses: list[Any] = []
            for c in action.get("cancels", []):
                o = (
                    self.by_cid(c.get("cloid"))
                    if kind == "cancelByCloid"
                    else self.orders.get(str(c.get("o")))
                )
                ok = self.cancel(o)
                statuses.append(
                    "success"
                    if ok
                    else {"error": "Order was never placed, already canceled, or filled."}
                )
            return self._ok("cancel", statuses)
        return self._ok("default", [])

    @staticmethod
    def _ok(kind: str, statuses: list[Any]) -> web.Response:
        return web.json_response(
            {"status": "ok", "response": {"type": kind, "data": {"statuses": statuses}}}
        )

    def _place(self, wire: dict[str, Any]) -> Any:
        m = MARKETS[int(wire["a"])]
        side = "buy" if wire["b"] else "sell"
        qty, px = D(str(wire["s"])), D(str(wire["p"]))
        cid = wire.get("c") or ""
        if cid and self.by_cid(cid) is not None:
            return {"error": "Duplicate order cloid."}
        if qty * px < m.min_notional:
            return {"error": "Order must have minimum value of $10."}
        tif = wire.get("t", {}).get("limit", {}).get("tif", "Gtc")
        o = self.place(m.symbol, side, "limit", qty, px, cid, tif.upper())
        o.tif = tif
        if o.status == "filled":
            assert o.avg is not None
            szi, entry = self.positions.get(m.symbol, (D(0), D(0)))
            signed = qty if side == "buy" else -qty
            new = szi + signed
            if new != 0 and (szi == 0 or (szi > 0) == (signed > 0)):
                entry = (abs(szi) * entry + qty * o.avg) / abs(new)
            self.positions[m.symbol] = (new, entry)
            # Perps settle in USDC: undo the spot-style base/quote moves of SimBase.place.
            self.balances.pop(m.base, None)
            self.balances["USDC"] = self.balances["USDC"] + signed * o.avg
            out: dict[str, Any] = {"totalSz": fmt(qty), "avgPx": fmt(o.avg), "oid": int(o.oid)}
            if cid:
                out["cloid"] = cid
            return {"filled": out}
        if o.status == "canceled":
            msg = "Order could not immediately match against any resting orders."
            return {"error": f"{msg} asset={wire['a']}"}
        rest: dict[str, Any] = {"oid": int(o.oid)}
        if cid:
            rest["cloid"] = cid
        return {"resting": rest}


__all__ = ["HyperliquidSim", "recover_signer"]
