"""The dYdX v4 venue: orders signed locally and broadcast to a node; state from the indexer.

Node (Cosmos REST gateway, as `cosmjs`/the v4 clients' REST paths):
  GET  /cosmos/auth/v1beta1/accounts/{address}        account number and sequence
  GET  /cosmos/base/tendermint/v1beta1/blocks/latest  height for short-term good_til_block
  POST /cosmos/tx/v1beta1/txs {"tx_bytes", "mode": "BROADCAST_MODE_SYNC"}
Indexer (v4 REST): /v4/perpetualMarkets, /v4/orders, /v4/fills,
  /v4/addresses/{address}/subaccountNumber/{n}

Order lifecycle (dYdX's own rules, see docs/dydx.md):
- a market order, and any IOC/FOK order, is a *short-term* order: `good_til_block` = the latest
  height + 20, kept only in the validators' memory, so the indexer is the only witness of what
  became of it. A market order goes on the wire as an IOC limit at the worst price the session
  accepts: the request's reference price ± `market_slippage`, on the tick;
- GTC and post-only limits are *long-term* (stateful) orders, good until a time four weeks out;
- after a broadcast the indexer is polled (within the rate budget) until a short-term order is
  final (filled or cancelled) or its block passed, or a long-term order is seen, for at most
  `confirm_timeout_s`; fills are read from the indexer (`my_trades`, `order_fills`), paged;
- client ids are uint32 (`nzeza.execution.client_ids`: the ledger maps them to sessions).

Every request takes the venue's rate budget (`Venue.limiter`) under the method's endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import time
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any, ClassVar
from urllib.parse import urlparse

from pydantic import SecretStr

from nzeza.domain import Fill, Instrument, OrderStatus, OrderType, Side, TimeInForce
from nzeza.errors import ConfigError, ValidationError, VenueError
from nzeza.venues.base import (
    Balance,
    OrderRequest,
    Venue,
    VenueFunding,
    VenueOrder,
    VenuePosition,
)
from nzeza.venues.dydx.indexer import FINAL, OPEN_STATUSES, fill_of, funding_of, order_view
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

LONG_TERM_SECONDS = 28 * 86_400 - 60  # under the 95-day cap; GTC orders live four weeks
FILLS_PAGE = 100  # the indexer's page of fills (newest first)
MAX_FILL_PAGES = 1000
FUNDING_PAGE = 1000  # funding payments a request (the indexer's limit)


class DydxVenue(Venue):
    name = "dydx"
    # a perpetual-futures venue: the account is USDC collateral and signed positions
    caps: ClassVar[dict[str, Any]] = {"positions": True, "market_type": "swap"}

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
        limiter: Any = None,
        market_slippage: Decimal | str = "0.02",
        confirm_timeout_s: float = 10.0,
        poll_interval_s: float = 0.2,
        ssl_context: Any = None,
    ) -> None:
        super().__init__(limiter)
        for name, url in (("node_url", node_url), ("indexer_url", indexer_url)):
            scheme = urlparse(url).scheme
            if scheme not in ("http", "https"):
                raise ConfigError(f"dydx.{name}", f"scheme {scheme or '(none)'!r} is not http(s)")
            if live and scheme != "https":
                raise ConfigError(f"dydx.{name}", "live endpoints must be https://")
        if not isinstance(chain_id, str) or not chain_id.strip():
            raise ConfigError("dydx.chain_id", "is missing", "dydx-mainnet-1 for mainnet")
        slippage = Decimal(str(market_slippage))
        if not Decimal(0) < slippage < Decimal(1):
            raise ConfigError("dydx.market_slippage", f"{slippage} must be in (0, 1)")
        self.key = DydxKey.from_mnemonic(mnemonic)
        self.address = self.key.address
        self.node_url = node_url.rstrip("/")
        self.indexer_url = indexer_url.rstrip("/")
        self.chain_id = chain_id
        self.subaccount = subaccount
        self.timeout_s = timeout_s
        self.clock = clock
        self.market_slippage = slippage
        self.confirm_timeout_s = confirm_timeout_s
        self.poll_interval_s = poll_interval_s
        self.ssl_context = ssl_context  # trusts NZEZA_CA_FILE for the https endpoints
        self.markets: dict[str, MarketParams] = {}
        self.instruments: dict[str, Instrument] = {}
        self._session: Any = None
        self._lock = asyncio.Lock()  # one tx at a time: the account sequence is shared
        self._raw: dict[str, dict[str, Any]] = {}  # indexer order rows by order id

    def __repr__(self) -> str:
        return f"DydxVenue(address={self.address!r}, chain_id={self.chain_id!r})"

    async def _http(self) -> Any:
        if self._session is None:
            import aiohttp

            connector = aiohttp.TCPConnector(ssl=self.ssl_context) if self.ssl_context else None
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s), connector=connector
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _get(self, base: str, path: str, **params: Any) -> Any:
        import aiohttp

        await self.throttle()
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

    async def _height(self) -> int:
        latest = await self._get(self.node_url, "/cosmos/base/tendermint/v1beta1/blocks/latest")
        try:
            return int(latest["block"]["header"]["height"])
        except (KeyError, TypeError, ValueError):
            raise VenueError(
                self.name,
                "the node's latest block has no height",
                retryable=True,
                code="bad_response",
            ) from None

    # -- markets -------------------------------------------------------------------------------
    async def load_markets(self) -> dict[str, Instrument]:
        with self.endpoint("load_markets"):
            data = await self._get(self.indexer_url, "/v4/perpetualMarkets")
        out = {}
        for ticker, m in data["markets"].items():
            if m.get("status", "ACTIVE") != "ACTIVE":
                continue
            params = MarketParams.from_indexer(m)
            self.markets[ticker] = params
            base = ticker.split("-")[0]
            # a perpetual quoted in USD and settled in USDC: the position's cash leg is USDC
            inst = Instrument(
                self.name,
                ticker,
                base,
                "USDC",
                params.tick_size,
                params.step_size,
                params.step_size,
            )
            out[inst.id] = inst
        self.instruments = out
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
            await self.throttle()
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

    def _worst_price(self, request: OrderRequest, market: MarketParams) -> Decimal:
        """The limit a request goes out with: its price, or for a market order the reference
        price moved by `market_slippage` against us, on the tick (buys up, sells down)."""
        if request.type is not OrderType.MARKET:
            if request.price is None:
                raise ValidationError("price", None, "a dYdX limit order needs a price")
            return request.price
        if request.reference_price is None:
            raise VenueError(
                self.name,
                "a market order needs reference_price (dYdX takes an IOC limit at a worst price)",
                retryable=False,
                code="reference_price",
            )
        buy = request.side is Side.BUY
        raw = request.reference_price * (
            1 + self.market_slippage if buy else 1 - self.market_slippage
        )
        tick = market.tick_size
        return (raw / tick).to_integral_value(ROUND_UP if buy else ROUND_DOWN) * tick

    async def submit(self, request: OrderRequest) -> VenueOrder:
        if request.type not in (OrderType.MARKET, OrderType.LIMIT):
            # a dYdX stop is a conditional order (trigger subticks, its own order flags): sent
            # as a plain limit it would trade at once, so it is refused before anything is sent
            raise VenueError(
                self.name,
                f"{self.name} does not take {request.type.value} orders through nzeza "
                "(market, limit and post-only only)",
                retryable=False,
                code="unsupported_order",
            )
        with self.endpoint("submit"):
            market = self._market(request.instrument_id)
            flags = self._flags_for(request)
            oid = order_id(
                self.address,
                int(request.client_order_id),
                market.clob_pair_id,
                flags,
                self.subaccount,
            )
            tif = {TimeInForce.IOC: 1, TimeInForce.POST_ONLY: 2, TimeInForce.FOK: 3}.get(
                request.time_in_force, 0
            )
            if request.type is OrderType.MARKET:
                tif = 1  # IOC: whatever does not fill at once is cancelled, never rests
            kw: dict[str, Any] = {}
            if flags == SHORT_TERM:
                kw["good_til_block"] = await self._height() + SHORT_TERM_MAX_BLOCKS
            else:
                kw["good_til_block_time"] = int(self.clock()) + LONG_TERM_SECONDS
            msg = place_order_msg(
                oid,
                request.side.value,
                to_quantums(request.quantity, market),
                to_subticks(self._worst_price(request, market), market),
                time_in_force=tif,
                reduce_only=request.reduce_only,
                **kw,
            )
            await self._broadcast(msg)
            found = await self._confirm(request, kw.get("good_til_block"))
        view = found or VenueOrder(
            request.client_order_id,
            "",
            request.instrument_id,
            request.side,
            request.type,
            request.quantity,
            request.price,
            OrderStatus.SUBMITTED,  # broadcast, not seen at the indexer yet: state unknown
        )
        if found is not None:  # what we asked for wins over the wire form (IOC limit)
            view = VenueOrder(
                found.client_order_id,
                found.venue_order_id,
                found.instrument_id,
                request.side,
                request.type,
                request.quantity,
                request.price,
                found.status,
                found.filled_qty,
                found.avg_price,
                found.ts,
            )
        self.publish(view)
        return view

    async def _confirm(
        self, request: OrderRequest, good_til_block: int | None
    ) -> VenueOrder | None:
        """Poll the indexer for the order just broadcast: until a short-term order is final or
        its last block passed, a long-term one is seen, or `confirm_timeout_s` elapsed."""
        deadline = time.monotonic() + self.confirm_timeout_s
        seen: VenueOrder | None = None
        while True:
            with self.endpoint("fetch_order"):
                seen = await self._find(request.instrument_id, request.client_order_id)
            if seen is not None and (good_til_block is None or seen.status in FINAL):
                return seen
            if good_til_block is not None and await self._height() > good_til_block:
                return seen  # expired unfilled: the indexer's last word is all there is
            if time.monotonic() >= deadline:
                return seen
            await asyncio.sleep(self.poll_interval_s)

    async def cancel(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> VenueOrder:
        with self.endpoint("cancel"):
            current = await self._find(instrument_id, client_order_id, venue_order_id)
            if current is None:
                raise VenueError(self.name, "order not found", retryable=False, code="not_found")
            if current.status in FINAL:
                return current  # nothing left to cancel
            market = self._market(instrument_id)
            flags = int(self._raw.get(current.venue_order_id, {}).get("orderFlags", LONG_TERM))
            oid = order_id(
                self.address,
                int(current.client_order_id),
                market.clob_pair_id,
                flags,
                self.subaccount,
            )
            if flags == SHORT_TERM:
                msg = cancel_order_msg(
                    oid, good_til_block=await self._height() + SHORT_TERM_MAX_BLOCKS
                )
            else:
                msg = cancel_order_msg(oid, good_til_block_time=int(self.clock()) + 120)
            await self._broadcast(msg)
            view = await self._find(instrument_id, current.client_order_id) or current
        self.publish(view)
        return view

    async def _orders(self, instrument_id: str | None = None, **params: Any) -> list[VenueOrder]:
        query: dict[str, Any] = {"address": self.address, "subaccountNumber": self.subaccount}
        if instrument_id is not None:
            query["ticker"] = instrument_id.split(":", 1)[-1]
        rows = await self._get(self.indexer_url, "/v4/orders", **query, **params) or []
        out = []
        for row in rows:
            view = order_view(row, self.name)
            self._raw[view.venue_order_id] = row
            out.append(view)
        return out

    async def _find(
        self,
        instrument_id: str,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> VenueOrder | None:
        for o in await self._orders(instrument_id):
            if client_order_id is not None and o.client_order_id == client_order_id:
                return o
            if venue_order_id is not None and o.venue_order_id == venue_order_id:
                return o
        return None

    async def fetch_order(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> VenueOrder | None:
        with self.endpoint("fetch_order"):
            return await self._find(instrument_id, client_order_id, venue_order_id)

    async def fetch_open_orders(self, instrument_id: str | None = None) -> list[VenueOrder]:
        with self.endpoint("open_orders"):
            views = await self._orders(instrument_id)
        return [v for v in views if self._raw[v.venue_order_id]["status"] in OPEN_STATUSES]

    async def _subaccount(self) -> dict[str, Any]:
        data = await self._get(
            self.indexer_url, f"/v4/addresses/{self.address}/subaccountNumber/{self.subaccount}"
        )
        if not data or "subaccount" not in data:
            raise VenueError(
                self.name, "the indexer knows no such subaccount", retryable=False, code="not_found"
            )
        return data["subaccount"]

    async def balances(self) -> dict[str, Balance]:
        with self.endpoint("balances"):
            sub = await self._subaccount()
        free = Decimal(str(sub["freeCollateral"]))
        return {"USDC": Balance("USDC", free, Decimal(str(sub["equity"])) - free)}

    async def positions(self) -> list[VenuePosition]:
        with self.endpoint("positions"):
            sub = await self._subaccount()
        out = []
        for ticker, p in (sub.get("openPerpetualPositions") or {}).items():
            out.append(
                VenuePosition(f"{self.name}:{ticker}", Decimal(p["size"]), Decimal(p["entryPrice"]))
            )
        return out

    async def my_trades(self, instrument_id: str, since_ns: int | None = None) -> list[Fill]:
        """Every fill of `instrument_id` since `since_ns`, oldest first (the indexer pages
        newest first, `FILLS_PAGE` at a time, back to `since_ns`)."""
        with self.endpoint("my_trades"):
            rows = await self._fill_rows(instrument_id, since_ns)
            unknown = {str(r.get("orderId")) for r in rows} - set(self._raw)
            if unknown:  # fills of orders this process has not seen (sent before a restart)
                await self._orders(instrument_id)
        out = []
        for row in rows:
            order = self._raw.get(str(row.get("orderId")))
            cid = str(order["clientId"]) if order else str(row.get("orderId"))
            fill = fill_of(row, cid, instrument_id)
            if since_ns is None or fill.ts >= since_ns:
                out.append(fill)
        out.sort(key=lambda f: f.ts)
        return out

    async def funding_payments(
        self, instrument_id: str, since_ns: int | None = None
    ) -> list[VenueFunding] | None:
        """The subaccount's funding payments on `instrument_id` since `since_ns`, oldest first
        (the indexer's `GET /v4/fundingPayments`, `afterOrAt`, paged by `page`)."""
        ticker = instrument_id.split(":", 1)[-1]
        params: dict[str, Any] = {
            "address": self.address,
            "subaccountNumber": self.subaccount,
            "ticker": ticker,
            "limit": FUNDING_PAGE,
        }
        if since_ns is not None:
            secs, ns = divmod(int(since_ns), 1_000_000_000)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
            params["afterOrAt"] = f"{stamp}.{ns // 1_000_000:03d}Z"
        rows: list[dict[str, Any]] = []
        with self.endpoint("my_trades"):
            for page in range(1, MAX_FILL_PAGES + 1):
                data = await self._get(self.indexer_url, "/v4/fundingPayments", page=page, **params)
                got = (data or {}).get("fundingPayments") or []
                rows.extend(got)
                if len(got) < FUNDING_PAGE:
                    break
        out = {(f.ts, f.amount): f for f in (funding_of(r, instrument_id) for r in rows)}
        return sorted(
            (f for f in out.values() if since_ns is None or f.ts >= since_ns), key=lambda f: f.ts
        )

    async def order_fills(self, instrument_id: str, client_order_id: str) -> list[Fill]:
        """The fills of one order (the session books an order's fills with this)."""
        return [f for f in await self.my_trades(instrument_id) if f.order_id == client_order_id]

    async def _fill_rows(self, instrument_id: str, since_ns: int | None) -> list[dict[str, Any]]:
        ticker = instrument_id.split(":", 1)[-1]
        seen: dict[str, dict[str, Any]] = {}
        before: int | None = None
        for _ in range(MAX_FILL_PAGES):
            params: dict[str, Any] = {
                "address": self.address,
                "subaccountNumber": self.subaccount,
                "market": ticker,
                "marketType": "PERPETUAL",
                "limit": FILLS_PAGE,
            }
            if before is not None:
                params["createdBeforeOrAtHeight"] = before
            data = await self._get(self.indexer_url, "/v4/fills", **params)
            page = (data or {}).get("fills") or []
            new = [r for r in page if str(r.get("id")) not in seen]
            for r in new:
                seen[str(r.get("id"))] = r
            if len(page) < FILLS_PAGE or not new:
                return list(seen.values())
            oldest = min(page, key=lambda r: int(r.get("createdAtHeight") or 0))
            if since_ns is not None and fill_of(oldest, "", instrument_id).ts < since_ns:
                return list(seen.values())  # paged back past `since_ns`
            # the next page ends at the oldest height of this one (fills at that height may
            # straddle the pages: the ids tell them apart)
            before = int(oldest.get("createdAtHeight") or 0)
        raise VenueError(
            self.name,
            f"fills of {ticker} still paging after {MAX_FILL_PAGES} pages",
            retryable=False,
            code="bad_response",
        )


__all__ = [
    "FILLS_PAGE",
    "FUNDING_PAGE",
    "LONG_TERM_SECONDS",
    "MAX_FILL_PAGES",
    "DydxVenue",
]
