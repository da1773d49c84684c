"""The dYdX v4 venue: orders signed locally and broadcast to a node; state from the indexer.

Node (Cosmos REST gateway, as `cosmjs`/the v4 clients' REST paths):
  GET  /cosmos/auth/v1beta1/accounts/{address}        account number and sequence
  GET  /cosmos/base/tendermint/v1beta1/blocks/latest  height for short-term good_til_block
  POST /cosmos/tx/v1beta1/txs {"tx_bytes", "mode": "BROADCAST_MODE_SYNC"}
Indexer (v4 REST): /v4/perpetualMarkets, /v4/orders, /v4/fills,
  /v4/addresses/{address}/subaccountNumber/{n}
"""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from pydantic import SecretStr

from nzeza.domain import Fill, Instrument, OrderStatus, OrderType, Side, TimeInForce
from nzeza.errors import ConfigError, ValidationError, VenueError
from nzeza.venues.base import Balance, OrderRequest, Venue, VenueOrder, VenuePosition
from nzeza.venues.dydx.keys import DydxKey
from nzeza.venues.dydx.quantums import MarketParams, to_quantums, to_subticks
from nzeza.venues.dydx.tx import (
    LONG_TERM,
    SHORT_TERM,
    SHORT_TERM_MAX_BLOCKS,
    build_signed_tx,
    cancel_order_msg,
    order_id,
    place_order_msg,
)

_STATUS = {
    "OPEN": OrderStatus.ACCEPTED,
    "BEST_EFFORT_OPENED": OrderStatus.ACCEPTED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "BEST_EFFORT_CANCELED": OrderStatus.CANCELED,
    "UNTRIGGERED": OrderStatus.ACCEPTED,
}
LONG_TERM_SECONDS = 28 * 86_400 - 60  # under the 95-day cap; GTC orders live four weeks


class DydxVenue(Venue):
    name = "dydx"

    def __init__(
        self,
        mnemonic: str | SecretStr,
        *,
        node_url: str,
        indexer_url: str,
        chain_id: str,
        subaccount: int = 0,
        timeout_s: float = 10.0,
        clock: Any = time.time,
        live: bool = False,
    ) -> None:
        super().__init__()
        for name, url in (("node_url", node_url), ("indexer_url", indexer_url)):
            scheme = urlparse(url).scheme
            if scheme not in ("http", "https"):
                raise ConfigError(f"dydx.{name}", f"scheme {scheme or '(none)'!r} is not http(s)")
            if live and scheme != "https":
                raise ConfigError(f"dydx.{name}", "live endpoints must be https://")
        if not isinstance(chain_id, str) or not chain_id.strip():
            raise ConfigError("dydx.chain_id", "is missing", "dydx-mainnet-1 for mainnet")
        self.key = DydxKey.from_mnemonic(mnemonic)
        self.address = self.key.address
        self.node_url = node_url.rstrip("/")
        self.indexer_url = indexer_url.rstrip("/")
        self.chain_id = chain_id
        self.subaccount = subaccount
        self.timeout_s = timeout_s
        self.clock = clock
        self.markets: dict[str, MarketParams] = {}
        self._session: Any = None
        self._lock = asyncio.Lock()  # one tx at a time: the account sequence is shared
        self._raw: dict[str, dict[str, Any]] = {}  # indexer order rows by order id

    def __repr__(self) -> str:
        return f"DydxVenue(address={self.address!r}, chain_id={self.chain_id!r})"

    async def _http(self) -> Any:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _get(self, base: str, path: str, **params: Any) -> Any:
        import aiohttp

        session = await self._http()
        try:
            async with session.get(base + path, params=params or None) as r:
                if r.status == 404:
                    return None
                if r.status == 429 or r.status >= 500:
                    raise VenueError(
                        self.name, f"HTTP {r.status} on {path}", retryable=True, code=str(r.status)
                    )
                if r.status >= 400:
                    raise VenueError(
                        self.name, f"HTTP {r.status} on {path}", retryable=False, code=str(r.status)
                    )
                return await r.json()
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            raise VenueError(
                self.name, f"{type(exc).__name__} on {path}", retryable=True, code="timeout"
            ) from None

    # -- markets -------------------------------------------------------------------------------
    async def load_markets(self) -> dict[str, Instrument]:
        data = await self._get(self.indexer_url, "/v4/perpetualMarkets")
        out = {}
        for ticker, m in data["markets"].items():
            params = MarketParams.from_indexer(m)
            self.markets[ticker] = params
            base, quote = ticker.split("-")
            inst = Instrument(
                self.name, ticker, base, quote, params.tick_size, params.step_size, params.step_size
            )
            out[inst.id] = inst
        return out

    def _market(self, instrument_id: str) -> MarketParams:
        ticker = instrument_id.split(":", 1)[-1]
        try:
            return self.markets[ticker]
        except KeyError:
            raise ValidationError(
                "instrument_id", instrument_id, "unknown; call load_markets"
            ) from None

    # -- orders ----------------------------------------------------------------------------------
    async def _broadcast(self, msg: Any) -> str:
        async with self._lock:
            acct = await self._get(self.node_url, f"/cosmos/auth/v1beta1/accounts/{self.address}")
            if acct is None:
                raise VenueError(
                    self.name, "account not found on chain (fund it first)", retryable=False
                )
            a = acct["account"]
            signed = build_signed_tx(
                self.key,
                [msg],
                chain_id=self.chain_id,
                account_number=int(a["account_number"]),
                sequence=int(a["sequence"]),
            )
            session = await self._http()
            payload = {
                "tx_bytes": base64.b64encode(signed.tx_bytes).decode(),
                "mode": "BROADCAST_MODE_SYNC",
            }
            try:
                async with session.post(
                    self.node_url + "/cosmos/tx/v1beta1/txs", json=payload
                ) as r:
                    if r.status >= 500 or r.status == 429:
                        raise VenueError(self.name, f"broadcast HTTP {r.status}", retryable=True)
                    body = await r.json()
            except TimeoutError:
                raise VenueError(
                    self.name, "broadcast timed out", retryable=True, code="timeout"
                ) from None
            resp = body.get("tx_response", {})
            if int(resp.get("code", 0)) != 0:
                # 32 = sequence mismatch: another tx raced us; safe to retry after a lookup.
                raise VenueError(
                    self.name,
                    f"tx rejected: {resp.get('raw_log')}",
                    retryable=int(resp["code"]) == 32,
                    code=str(resp["code"]),
                )
            return str(resp.get("txhash"))

    def _flags_for(self, request: OrderRequest) -> int:
        short = request.type is OrderType.MARKET or request.time_in_force in (
            TimeInForce.IOC,
            TimeInForce.FOK,
        )
        return SHORT_TERM if short else LONG_TERM

    async def submit(self, request: OrderRequest) -> VenueOrder:
        market = self._market(request.instrument_id)
        if request.price is None:
            raise ValidationError("price", None, "dYdX orders carry a worst price; set one")
        flags = self._flags_for(request)
        oid = order_id(
            self.address, int(request.client_order_id), market.clob_pair_id, flags, self.subaccount
        )
        tif = {TimeInForce.IOC: 1, TimeInForce.POST_ONLY: 2, TimeInForce.FOK: 3}.get(
            request.time_in_force, 0
        )
        kw: dict[str, Any] = {}
        if flags == SHORT_TERM:
            latest = await self._get(self.node_url, "/cosmos/base/tendermint/v1beta1/blocks/latest")
            kw["good_til_block"] = int(latest["block"]["header"]["height"]) + SHORT_TERM_MAX_BLOCKS
        else:
            kw["good_til_block_time"] = int(self.clock()) + LONG_TERM_SECONDS
        msg = place_order_msg(
            oid,
            request.side.value,
            to_quantums(request.quantity, market),
            to_subticks(request.price, market),
            time_in_force=tif,
            reduce_only=request.reduce_only,
            **kw,
        )
        await self._broadcast(msg)
        found = await self.fetch_order(
            request.instrument_id, client_order_id=request.client_order_id
        )
        view = found or VenueOrder(
            request.client_order_id,
            "",
            request.instrument_id,
            request.side,
            request.type,
            request.quantity,
            request.price,
            OrderStatus.SUBMITTED,
        )
        self.publish(view)
        return view

    async def cancel(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> VenueOrder:
        current = await self.fetch_order(
            instrument_id, client_order_id=client_order_id, venue_order_id=venue_order_id
        )
        if current is None:
            raise VenueError(self.name, "order not found", retryable=False, code="not_found")
        market = self._market(instrument_id)
        flags = int(self._raw.get(current.venue_order_id, {}).get("orderFlags", LONG_TERM))
        oid = order_id(
            self.address, int(current.client_order_id), market.clob_pair_id, flags, self.subaccount
        )
        if flags == SHORT_TERM:
            latest = await self._get(self.node_url, "/cosmos/base/tendermint/v1beta1/blocks/latest")
            msg = cancel_order_msg(
                oid, good_til_block=int(latest["block"]["header"]["height"]) + SHORT_TERM_MAX_BLOCKS
            )
        else:
            msg = cancel_order_msg(oid, good_til_block_time=int(self.clock()) + 120)
        await self._broadcast(msg)
        return (
            await self.fetch_order(instrument_id, client_order_id=current.client_order_id)
            or current
        )

    def _order(self, row: dict[str, Any]) -> VenueOrder:
        self._raw[row["id"]] = row
        size, filled = Decimal(row["size"]), Decimal(row.get("totalFilled") or 0)
        status = _STATUS.get(row["status"], OrderStatus.ACCEPTED)
        if status is OrderStatus.ACCEPTED and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        return VenueOrder(
            row["clientId"],
            row["id"],
            f"{self.name}:{row['ticker']}",
            Side(row["side"].lower()),
            OrderType(row.get("type", "LIMIT").lower())
            if row.get("type", "LIMIT").lower() in ("limit", "market")
            else OrderType.LIMIT,
            size,
            Decimal(row["price"]),
            status,
            filled,
            Decimal(row["price"]) if filled else None,
        )

    async def _orders(self, **params: Any) -> list[VenueOrder]:
        rows = (
            await self._get(
                self.indexer_url,
                "/v4/orders",
                address=self.address,
                subaccountNumber=self.subaccount,
                **params,
            )
            or []
        )
        return [self._order(r) for r in rows]

    async def fetch_order(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> VenueOrder | None:
        for o in await self._orders():
            if client_order_id is not None and o.client_order_id == client_order_id:
                return o
            if venue_order_id is not None and o.venue_order_id == venue_order_id:
                return o
        return None

    async def fetch_open_orders(self, instrument_id: str | None = None) -> list[VenueOrder]:
        return [
            o for o in await self._orders(status="OPEN") if instrument_id in (None, o.instrument_id)
        ]

    async def balances(self) -> dict[str, Balance]:
        data = await self._get(
            self.indexer_url, f"/v4/addresses/{self.address}/subaccountNumber/{self.subaccount}"
        )
        sub = data["subaccount"]
        free = Decimal(sub["freeCollateral"])
        return {"USDC": Balance("USDC", free, Decimal(sub["equity"]) - free)}

    async def positions(self) -> list[VenuePosition]:
        data = await self._get(
            self.indexer_url, f"/v4/addresses/{self.address}/subaccountNumber/{self.subaccount}"
        )
        out = []
        for ticker, p in data["subaccount"].get("openPerpetualPositions", {}).items():
            out.append(
                VenuePosition(f"{self.name}:{ticker}", Decimal(p["size"]), Decimal(p["entryPrice"]))
            )
        return out

    async def my_trades(self, instrument_id: str, since_ns: int | None = None) -> list[Fill]:
        ticker = instrument_id.split(":", 1)[-1]
        data = await self._get(
            self.indexer_url,
            "/v4/fills",
            address=self.address,
            subaccountNumber=self.subaccount,
            market=ticker,
            marketType="PERPETUAL",
        )
        by_id = {r["id"]: r["clientId"] for r in self._raw.values()}
        if any(f["orderId"] not in by_id for f in data["fills"]):
            await self._orders()
            by_id = {r["id"]: r["clientId"] for r in self._raw.values()}
        out = []
        for f in data["fills"]:
            if f["market"] != ticker:
                continue
            ts = int(
                datetime.fromisoformat(f["createdAt"].replace("Z", "+00:00")).timestamp() * 1e9
            )
            if since_ns is not None and ts < since_ns:
                continue
            out.append(
                Fill(
                    f["id"],
                    by_id.get(f["orderId"], f["orderId"]),
                    instrument_id,
                    f["side"].lower(),
                    Decimal(f["size"]),
                    Decimal(f["price"]),
                    Decimal(f["fee"]),
                    "USDC",
                    ts,
                )
            )
        return out
