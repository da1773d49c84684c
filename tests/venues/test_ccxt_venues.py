"""The one ccxt wrapper against local servers speaking each exchange's real REST API.

Binance, Coinbase Advanced Trade, Kraken and Hyperliquid, each on 127.0.0.1 through ccxt's URL
override: ccxt builds its real requests (and signs them: the Kraken server checks the HMAC, the
Coinbase one the ES256 JWT, the Hyperliquid one recovers the EIP-712 signer) and parses the
exchange's real response shapes. Every venue goes through the same flow: markets, balance,
create, list, fetch by client id (the venue's own lookup, not our cache), cancel by client id,
a market order, my trades; then a lost create response, and the error → retryable mapping.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import coincurve
import pytest
from Crypto.Hash import keccak
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from support.sim.binance import BinanceSim
from support.sim.coinbase import CoinbaseSim
from support.sim.hyperliquid import HyperliquidSim
from support.sim.kraken import KrakenSim

from nzeza.domain import Fill, OrderStatus, OrderType
from nzeza.errors import ConfigError, VenueError
from nzeza.execution.client_ids import client_order_id
from nzeza.execution.retry import RetryPolicy
from nzeza.execution.submit import submit_idempotent
from nzeza.secrets import clear_secrets
from nzeza.venues import OrderRequest, VenueOrder
from nzeza.venues.ccxt import CcxtVenue, eth_address

D = Decimal
VENUES = ["binance", "coinbase", "kraken", "hyperliquid"]

# Test-only credentials, in each venue's real format.
BINANCE_KEY, BINANCE_SECRET = "k" * 64, "s" * 64
KRAKEN_KEY, KRAKEN_SECRET = "K" * 56, base64.b64encode(b"kraken-test-secret" * 4).decode()
COINBASE_NAME = "organizations/org-test/apiKeys/key-test"
_cb_key = ec.generate_private_key(ec.SECP256R1())
COINBASE_PEM = _cb_key.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.TraditionalOpenSSL,
    serialization.NoEncryption(),
).decode()
COINBASE_PUB = (
    _cb_key.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
HL_KEY = "0x" + "4c" * 32


def _eth_address(private_hex: str) -> str:
    # Independent of nzeza: pycryptodome's keccak (as Ethereum tooling computes addresses).
    pub = coincurve.PrivateKey(bytes.fromhex(private_hex[2:])).public_key.format(compressed=False)
    k = keccak.new(digest_bits=256)
    k.update(pub[1:])
    return "0x" + k.digest()[-20:].hex()


HL_WALLET = _eth_address(HL_KEY)


@dataclass
class Rig:
    venue_id: str
    sim: Any
    venue: CcxtVenue
    inst: str  # instrument id
    limit_price: Decimal  # a resting buy below the bid
    qty: Decimal

    def cid(self, seq: int) -> str:
        return client_order_id("sess-ccxt", seq, self.venue_id)


def _make(venue_id: str, timeout_ms: int = 2000) -> tuple[Any, Callable[[str], CcxtVenue], str]:
    if venue_id == "binance":
        creds: dict[str, Any] = {"apiKey": BINANCE_KEY, "secret": BINANCE_SECRET}
        sim: Any = BinanceSim()
        inst = "binance:BTC/USDT"
    elif venue_id == "coinbase":
        creds = {"apiKey": COINBASE_NAME, "secret": COINBASE_PEM}
        sim = CoinbaseSim(COINBASE_NAME, COINBASE_PUB)
        inst = "coinbase:BTC/USD"
    elif venue_id == "kraken":
        creds = {"apiKey": KRAKEN_KEY, "secret": KRAKEN_SECRET}
        sim = KrakenSim(KRAKEN_KEY, KRAKEN_SECRET)
        inst = "kraken:BTC/USDT"
    else:
        creds = {"walletAddress": HL_WALLET, "privateKey": HL_KEY}
        sim = HyperliquidSim(HL_WALLET)
        inst = "hyperliquid:BTC/USDC:USDC"

    def factory(url: str) -> CcxtVenue:
        return CcxtVenue(venue_id, credentials=creds, api_url=url, timeout_ms=timeout_ms)

    return sim, factory, inst


def with_rig(venue_id: str, test: Callable[[Rig], Awaitable[None]], timeout_ms: int = 2000):
    async def main() -> None:
        sim, factory, inst = _make(venue_id, timeout_ms)
        url = await sim.start()
        venue = factory(url)
        try:
            await venue.load_markets()
            await test(Rig(venue_id, sim, venue, inst, D(59000), D("0.001")))
        finally:
            await venue.close()
            await sim.stop()

    try:
        asyncio.run(main())
    finally:
        clear_secrets()


@pytest.mark.parametrize("venue_id", VENUES)
def test_markets_balance_orders_and_trades_through_the_real_endpoints(venue_id):
    async def t(r: Rig) -> None:
        v = r.venue
        inst = v.instruments[r.inst]
        assert inst.tick_size > 0 and inst.lot_size > 0 and inst.min_notional > 0
        bal = await v.balances()
        assert any(b.total > 0 for b in bal.values())
        # A resting limit buy, found by the venue's own client-id lookup.
        cid = r.cid(1)
        o = await v.submit(OrderRequest(cid, r.inst, "buy", r.qty, "limit", r.limit_price))
        assert o.client_order_id == cid and o.status is OrderStatus.ACCEPTED and o.venue_order_id
        assert [x.client_order_id for x in await v.fetch_open_orders(r.inst)] == [cid]
        v._client_ids.clear()  # forget what submit saw: a restarted process knows only the cid
        found = await v.fetch_order(r.inst, client_order_id=cid)
        assert found is not None and found.venue_order_id == o.venue_order_id
        assert found.price == r.limit_price and found.quantity == r.qty
        assert await v.fetch_order(r.inst, client_order_id=r.cid(999)) is None
        v._client_ids.clear()
        c = await v.cancel(r.inst, client_order_id=cid)
        assert c.status is OrderStatus.CANCELED and c.client_order_id == cid
        assert await v.fetch_open_orders(r.inst) == []
        # A market order fills at the touch; its fill maps back to our client id.
        mid = D(60000)
        m = await v.submit(OrderRequest(r.cid(2), r.inst, "sell", D("0.002"), reference_price=mid))
        assert m.status is OrderStatus.FILLED and m.type is OrderType.MARKET
        assert m.filled_qty == D("0.002")
        v._client_ids.clear()
        [fill] = await v.my_trades(r.inst)
        assert fill.order_id == r.cid(2) and fill.quantity == D("0.002") and fill.fee > 0
        assert fill.price == D(60000) and fill.side.value == "sell"
        # my_trades since a later time sees nothing.
        assert await v.my_trades(r.inst, since_ns=fill.ts + 10**9) == []

    with_rig(venue_id, t)


ENDPOINTS = {
    "binance": {
        ("POST", "/api/v3/order"),
        ("DELETE", "/api/v3/order"),
        ("GET", "/api/v3/myTrades"),
    },
    "coinbase": {
        ("GET", "/api/v3/brokerage/market/products"),
        ("GET", "/api/v3/brokerage/accounts"),
        ("POST", "/api/v3/brokerage/orders"),
        ("GET", "/api/v3/brokerage/orders/historical/batch"),
        ("POST", "/api/v3/brokerage/orders/batch_cancel"),
        ("GET", "/api/v3/brokerage/orders/historical/fills"),
    },
    "kraken": {
        ("GET", "/0/public/AssetPairs"),
        ("POST", "/0/private/BalanceEx"),
        ("POST", "/0/private/AddOrder"),
        ("POST", "/0/private/OpenOrders"),
        ("POST", "/0/private/CancelOrder"),
        ("POST", "/0/private/TradesHistory"),
    },
    "hyperliquid": {("POST", "/info"), ("POST", "/exchange")},
}


@pytest.mark.parametrize("venue_id", VENUES)
def test_requests_hit_the_exchange_endpoints(venue_id):
    async def t(r: Rig) -> None:
        await r.venue.balances()
        await r.venue.submit(OrderRequest(r.cid(1), r.inst, "buy", r.qty, "limit", r.limit_price))
        await r.venue.fetch_open_orders(r.inst)
        r.venue._client_ids.clear()
        await r.venue.cancel(r.inst, client_order_id=r.cid(1))
        await r.venue.my_trades(r.inst)
        assert ENDPOINTS[venue_id] <= set(r.sim.requests)

    with_rig(venue_id, t)


@pytest.mark.parametrize("venue_id", VENUES)
def test_lost_create_response_then_lookup_creates_exactly_one_order(venue_id):
    async def t(r: Rig) -> None:
        r.sim.delay_next_create(1.0)  # the order is made; the answer comes after the timeout
        cid = r.cid(7)
        req = OrderRequest(cid, r.inst, "buy", r.qty, "limit", r.limit_price)
        order = await submit_idempotent(r.venue, req, RetryPolicy(base_delay=0.01, jitter=0))
        assert order.client_order_id == cid
        assert len(r.sim.orders) == 1
        creates = [q for q in r.sim.requests if q == CREATE[venue_id]]
        assert len(creates) == 1  # looked up by client id, never resubmitted

    with_rig(venue_id, t, timeout_ms=300)


CREATE = {
    "binance": ("POST", "/api/v3/order"),
    "coinbase": ("POST", "/api/v3/brokerage/orders"),
    "kraken": ("POST", "/0/private/AddOrder"),
    "hyperliquid": ("POST", "/exchange"),
}

_CB_INSUFFICIENT = {
    "success": False,
    "failure_reason": "UNKNOWN_FAILURE_REASON",
    "order_id": "",
    "error_response": {
        "error": "INSUFFICIENT_FUND",
        "message": "Insufficient balance in source account",
        "error_details": "",
        "new_order_failure_reason": "INSUFFICIENT_FUND",
    },
}


def _hl_status_error(msg: str) -> dict[str, Any]:
    return {"status": "ok", "response": {"type": "order", "data": {"statuses": [{"error": msg}]}}}


# (venue, fault as the venue sends it, retryable?)
FAULTS: list[tuple[str, Callable[[Any], None], bool]] = [
    ("binance", lambda s: s.fail_next(429, -1003, "Too many requests"), True),
    ("binance", lambda s: s.fail_next(503, -1008, "Service unavailable"), True),
    ("binance", lambda s: s.fail_next(400, -2010, "Account has insufficient balance"), False),
    ("binance", lambda s: s.fail_next(401, -2015, "Invalid API-key"), False),
    (
        "coinbase",
        lambda s: s.fail_next(
            429, {"error": "rate_limit_exceeded", "message": "Too many requests"}
        ),
        True,
    ),
    (
        "coinbase",
        lambda s: s.fail_next(503, {"error": "unavailable", "message": "try again later"}),
        True,
    ),
    ("coinbase", lambda s: s.fail_next(200, _CB_INSUFFICIENT), False),
    (
        "coinbase",
        lambda s: s.fail_next(401, {"error": "unauthorized", "message": "Unauthorized"}),
        False,
    ),
    (
        "coinbase",
        lambda s: s.fail_next(400, {"error": "INVALID_ARGUMENT", "message": "bad size"}),
        False,
    ),
    ("kraken", lambda s: s.fail_next(200, {"error": ["EAPI:Rate limit exceeded"]}), True),
    ("kraken", lambda s: s.fail_next(200, {"error": ["EService:Unavailable"]}), True),
    ("kraken", lambda s: s.fail_next(520, {"error": []}), True),
    ("kraken", lambda s: s.fail_next(200, {"error": ["EOrder:Insufficient funds"]}), False),
    ("kraken", lambda s: s.fail_next(200, {"error": ["EAPI:Invalid key"]}), False),
    (
        "hyperliquid",
        lambda s: s.fail_next(429, {"status": "err", "response": "rate limited"}),
        True,
    ),
    (
        "hyperliquid",
        lambda s: s.fail_next(502, {"status": "err", "response": "bad gateway"}),
        True,
    ),
    (
        "hyperliquid",
        lambda s: s.fail_next(200, _hl_status_error("Insufficient margin to place order. asset=0")),
        False,
    ),
    (
        "hyperliquid",
        lambda s: s.fail_next(200, _hl_status_error("Order must have minimum value of $10.")),
        False,
    ),
]


@pytest.mark.parametrize(
    ("venue_id", "fault", "retryable"),
    FAULTS,
    ids=[f"{v}-{i}" for i, (v, _, _) in enumerate(FAULTS)],
)
def test_exchange_errors_map_with_the_right_retryable_flag(venue_id, fault, retryable):
    async def t(r: Rig) -> None:
        fault(r.sim)
        with pytest.raises(VenueError) as err:
            await r.venue.submit(
                OrderRequest(r.cid(3), r.inst, "buy", r.qty, "limit", r.limit_price)
            )
        assert err.value.retryable is retryable and err.value.venue == venue_id
        assert r.sim.orders == {}

    with_rig(venue_id, t)


def test_hyperliquid_refuses_an_action_signed_by_another_key():
    async def main() -> None:
        sim = HyperliquidSim(HL_WALLET)
        url = await sim.start()
        intruder = CcxtVenue(
            "hyperliquid",
            credentials={"walletAddress": HL_WALLET, "privateKey": "0x" + "77" * 32},
            api_url=url,
        )
        try:
            await intruder.load_markets()
            with pytest.raises(VenueError) as err:
                await intruder.submit(
                    OrderRequest(
                        client_order_id("s", 1, "hyperliquid"),
                        "hyperliquid:BTC/USDC:USDC",
                        "buy",
                        D("0.001"),
                        "limit",
                        D(59000),
                    )
                )
            assert "does not exist" in str(err.value) and not err.value.retryable
            assert sim.orders == {}
        finally:
            await intruder.close()
            await sim.stop()

    asyncio.run(main())
    clear_secrets()


def test_coinbase_rejects_a_token_signed_with_another_key():
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )

    async def main() -> None:
        sim = CoinbaseSim(COINBASE_NAME, COINBASE_PUB)
        url = await sim.start()
        v = CcxtVenue(
            "coinbase", credentials={"apiKey": COINBASE_NAME, "secret": other.decode()}, api_url=url
        )
        try:
            with pytest.raises(VenueError) as err:
                await v.load_markets()  # transaction_summary is a signed call
            assert not err.value.retryable and err.value.code == "AuthenticationError"
        finally:
            await v.close()
            await sim.stop()

    asyncio.run(main())
    clear_secrets()


@pytest.mark.parametrize("venue_id", VENUES)
def test_a_market_order_fill_reaches_the_updates_stream_once(venue_id):
    async def t(r: Rig) -> None:
        v = r.venue
        await v.submit(OrderRequest(r.cid(4), r.inst, "sell", D("0.002"), reference_price=60000))
        [order] = v.drain_updates()
        assert isinstance(order, VenueOrder) and order.status is OrderStatus.FILLED
        [fill] = await v.poll_fills(r.inst)
        assert v.drain_updates() == [fill] and isinstance(fill, Fill)
        assert fill.order_id == r.cid(4)
        assert await v.poll_fills(r.inst) == [] and v.drain_updates() == []

    with_rig(venue_id, t)


@pytest.mark.parametrize("venue_id", ["coinbase", "hyperliquid"])
def test_market_orders_that_need_a_price_say_so(venue_id):
    async def t(r: Rig) -> None:
        with pytest.raises(VenueError) as err:
            await r.venue.submit(OrderRequest(r.cid(5), r.inst, "buy", D("0.002")))
        assert err.value.code == "reference_price" and not err.value.retryable
        assert r.sim.orders == {}

    with_rig(venue_id, t)


@pytest.mark.parametrize(
    ("venue_id", "creds", "missing"),
    [
        ("kraken", {"apiKey": KRAKEN_KEY}, "secret"),
        ("coinbase", {}, "apiKey, secret"),
        ("hyperliquid", {"walletAddress": HL_WALLET}, "privateKey"),
    ],
)
def test_live_venue_without_its_credentials_fails_at_start_up(venue_id, creds, missing):
    with pytest.raises(ConfigError) as err:
        CcxtVenue(venue_id, credentials=creds, live=True)
    assert err.value.variable == f"{venue_id}.credentials" and missing in err.value.reason
    assert KRAKEN_KEY not in str(err.value)
    clear_secrets()


@pytest.mark.parametrize(
    ("venue_id", "echo"),
    [
        ("kraken", lambda s, k: s.fail_next(200, {"error": [f"EAPI:Invalid key {k}"]})),
        (
            "coinbase",
            lambda s, k: s.fail_next(401, {"error": "unauthorized", "message": f"bad {k}"}),
        ),
        (
            "hyperliquid",
            lambda s, k: s.fail_next(200, {"status": "err", "response": f"User {k} unknown"}),
        ),
    ],
)
def test_a_venue_echoing_a_secret_never_shows_it(venue_id, echo, caplog):
    secret = {
        "kraken": KRAKEN_SECRET,
        "coinbase": COINBASE_PEM.splitlines()[1],
        "hyperliquid": HL_KEY,
    }

    async def t(r: Rig) -> None:
        echo(r.sim, secret[venue_id])
        with pytest.raises(VenueError) as err:
            await r.venue.submit(
                OrderRequest(r.cid(3), r.inst, "buy", r.qty, "limit", r.limit_price)
            )
        texts = [str(err.value), repr(err.value), err.value.message, repr(r.venue)]
        import logging

        logging.getLogger("nzeza.test").error("submit failed: %s", err.value)
        texts += [rec.getMessage() for rec in caplog.records]
        assert secret[venue_id] not in "\n".join(texts)

    with_rig(venue_id, t)


def test_hyperliquid_wallet_address_is_derived_from_the_key_when_not_given():
    # The well-known address of private key 1 on Ethereum.
    assert eth_address("0x" + "00" * 31 + "01") == "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf"
    assert eth_address(HL_KEY) == HL_WALLET

    async def main() -> None:
        sim = HyperliquidSim(HL_WALLET)
        url = await sim.start()
        v = CcxtVenue("hyperliquid", credentials={"privateKey": HL_KEY}, api_url=url, live=False)
        try:
            await v.load_markets()
            o = await v.submit(
                OrderRequest(
                    client_order_id("s", 8, "hyperliquid"),
                    "hyperliquid:BTC/USDC:USDC",
                    "buy",
                    D("0.001"),
                    "limit",
                    D(59000),
                )
            )
            assert o.status is OrderStatus.ACCEPTED  # the simulator checked the signer
        finally:
            await v.close()
            await sim.stop()

    asyncio.run(main())
    with pytest.raises(ConfigError):
        CcxtVenue("hyperliquid", credentials={"privateKey": "0xnothex"})
    clear_secrets()


def test_binance_gets_a_post_only_order_as_limit_maker():
    async def t(r: Rig) -> None:
        view = await r.venue.submit(
            OrderRequest(
                r.cid(7), r.inst, "buy", r.qty, "limit", r.limit_price, time_in_force="post_only"
            )
        )
        sent = r.sim.orders[int(view.venue_order_id)]
        assert sent["type"] == "LIMIT_MAKER" and view.status.is_open

    with_rig("binance", t)


def test_binance_gets_a_stop_as_stop_loss_that_triggers_on_a_trade_through_it():
    """A buy stop above the market and a sell stop below reach Binance spot as STOP_LOSS
    market orders with their stopPrice (no price), rest untriggered until the market trades
    at the stop, then fill as takers; each fill maps back to our client id."""

    async def t(r: Rig) -> None:
        v, sim = r.venue, r.sim
        buy = await v.submit(OrderRequest(r.cid(1), r.inst, "buy", r.qty, "stop", D(60100)))
        sell = await v.submit(OrderRequest(r.cid(2), r.inst, "sell", r.qty, "stop", D(59900)))
        for view, side, stop in ((buy, "BUY", "60100"), (sell, "SELL", "59900")):
            sent = sim.orders[int(view.venue_order_id)]
            assert (sent["type"], sent["side"], D(sent["stopPrice"])) == (
                "STOP_LOSS",
                side,
                D(stop),
            )
            assert D(sent["price"]) == 0 and sent["status"] == "NEW"
            assert view.type is OrderType.STOP and view.price == D(stop) and view.status.is_open
        v._client_ids.clear()  # as a restarted process: the venue's own view of the stop
        found = await v.fetch_order(r.inst, client_order_id=r.cid(1))
        assert found is not None and found.type is OrderType.STOP and found.price == D(60100)
        assert {o.client_order_id for o in await v.fetch_open_orders(r.inst)} == {
            r.cid(1),
            r.cid(2),
        }
        # trades short of either stop trigger nothing
        assert sim.trade("BTCUSDT", "60099.99") == [] and sim.trade("BTCUSDT", "59900.01") == []
        assert sim.trades == []
        # the market trades up to the buy stop: it fills at the ask, the sell stop still rests
        assert [o["clientOrderId"] for o in sim.trade("BTCUSDT", "60100")] == [r.cid(1)]
        [fill] = await v.my_trades(r.inst)
        assert (fill.order_id, fill.side.value, fill.price) == (r.cid(1), "buy", D("60100.01"))
        done = await v.fetch_order(r.inst, client_order_id=r.cid(1))
        assert done is not None and done.status is OrderStatus.FILLED
        assert done.filled_qty == r.qty and done.type is OrderType.STOP
        # down through the sell stop: filled at the bid
        assert [o["clientOrderId"] for o in sim.trade("BTCUSDT", "59850")] == [r.cid(2)]
        fills = {f.order_id: f for f in await v.my_trades(r.inst)}
        assert (fills[r.cid(2)].side.value, fills[r.cid(2)].price) == ("sell", D(59850))
        assert await v.fetch_open_orders(r.inst) == []

    with_rig("binance", t)


def test_binance_refuses_a_stop_that_would_trigger_at_once():
    """A buy stop below the last price (a sell stop above it) is refused by the venue, not
    sent as an order that trades at once."""

    async def t(r: Rig) -> None:
        for seq, side, stop in ((1, "buy", D(59000)), (2, "sell", D(61000))):
            with pytest.raises(VenueError) as err:
                await r.venue.submit(OrderRequest(r.cid(seq), r.inst, side, r.qty, "stop", stop))
            assert not err.value.retryable and "trigger immediately" in str(err.value)
        assert r.sim.orders == {} and r.sim.trades == []

    with_rig("binance", t)


@pytest.mark.parametrize(
    "params, code",
    [
        ({"type": "STOP_LOSS"}, -1102),  # no stopPrice
        ({"type": "STOP_LOSS", "stopPrice": "61000", "price": "61000"}, -1106),
        ({"type": "STOP_LOSS_LIMIT", "stopPrice": "61000", "price": "61000"}, -1116),
        ({"type": "STOP_MARKET", "stopPrice": "61000"}, -1116),  # a futures type on spot
        ({"type": "TAKE_PROFIT", "side": "BUY", "stopPrice": "61000"}, -2010),  # at once
        ({"type": "MARKET", "stopPrice": "61000"}, -1106),
    ],
)
def test_the_binance_simulator_checks_stop_parameters_as_binance(params, code):
    """Raw requests past ccxt: the simulator refuses what Binance refuses, nothing recorded."""
    import aiohttp

    async def main() -> None:
        sim = BinanceSim()
        url = await sim.start()
        try:
            form = {"symbol": "BTCUSDT", "side": "SELL", "quantity": "0.001"} | params
            form["signature"] = "x"
            async with (
                aiohttp.ClientSession() as http,
                http.post(f"{url}/api/v3/order", data=form) as resp,
            ):
                body = await resp.json()
            assert resp.status == 400 and body["code"] == code
            assert sim.orders == {}
        finally:
            await sim.stop()

    asyncio.run(main())


@pytest.mark.parametrize("venue_id", ["coinbase", "kraken", "hyperliquid"])
def test_a_stop_is_refused_where_the_venue_has_none_wired(venue_id):
    """Where capabilities wire no trigger order, a stop is refused before anything is sent,
    naming the venue and why (a stop sent as a plain order would trade at once)."""

    async def t(r: Rig) -> None:
        before = dict(r.sim.orders)
        with pytest.raises(VenueError) as err:
            await r.venue.submit(OrderRequest(r.cid(8), r.inst, "buy", r.qty, "stop", D(70000)))
        assert err.value.code == "unsupported_order" and not err.value.retryable
        assert venue_id in str(err.value) and "stop" in str(err.value)
        assert r.venue.caps["stop_refused"] in str(err.value)
        assert r.sim.orders == before

    with_rig(venue_id, t)


def test_binance_usdm_refuses_a_stop_before_any_request():
    """USDⓈ-M stops (STOP_MARKET on Binance's algo-order endpoint) are not wired: refused by
    the data, before ccxt is asked for anything (no server behind this venue at all)."""

    async def main() -> None:
        venue = CcxtVenue("binanceusdm", api_url="http://127.0.0.1:9")
        try:
            req = OrderRequest("c1", "binanceusdm:BTC/USDT:USDT", "buy", D("0.001"), "stop", D(1))
            with pytest.raises(VenueError) as err:
                await venue.submit(req)
            assert err.value.code == "unsupported_order" and "algo-order" in str(err.value)
        finally:
            await venue.close()

    asyncio.run(main())
