"""The ccxt wrapper against a local Binance server on 127.0.0.1; error mapping for all venues."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import ccxt
import pytest
from support.sim.binance import BinanceSim

from nzeza.domain import OrderStatus
from nzeza.errors import ConfigError, VenueError
from nzeza.execution.client_ids import client_order_id
from nzeza.execution.retry import RetryPolicy
from nzeza.execution.submit import submit_idempotent
from nzeza.venues import OrderRequest
from nzeza.venues.ccxt import CAPABILITIES, CcxtVenue, capabilities, map_error

D = Decimal
KEY, SECRET = "k" * 64, "s" * 64
BTC = "binance:BTC/USDT"


def with_sim(test, timeout_ms: int = 2000):
    async def main():
        sim = BinanceSim()
        url = await sim.start()
        v = CcxtVenue(
            "binance",
            credentials={"apiKey": KEY, "secret": SECRET},
            api_url=url,
            timeout_ms=timeout_ms,
        )
        try:
            await test(sim, v)
        finally:
            await v.close()
            await sim.stop()

    asyncio.run(main())


def test_markets_balance_orders_trades_through_the_real_endpoints():
    async def t(sim, v):
        markets = await v.load_markets()
        inst = markets[BTC]
        assert (inst.tick_size, inst.lot_size, inst.min_notional) == (D("0.01"), D("0.00001"), 5)
        bal = await v.balances()
        assert bal["USDT"].total == 100000 and bal["BTC"].free == 1
        cid = client_order_id("sess", 1, "binance")
        o = await v.submit(OrderRequest(cid, BTC, "buy", D("0.001"), "limit", D(59000)))
        assert o.client_order_id == cid and o.status is OrderStatus.ACCEPTED
        assert [x.client_order_id for x in await v.fetch_open_orders(BTC)] == [cid]
        assert (await v.fetch_order(BTC, client_order_id=cid)).venue_order_id == o.venue_order_id
        assert await v.fetch_order(BTC, client_order_id="nz-unknown") is None
        c = await v.cancel(BTC, client_order_id=cid)
        assert c.status is OrderStatus.CANCELED
        m = await v.submit(
            OrderRequest(client_order_id("sess", 2, "binance"), BTC, "sell", D("0.002"))
        )
        assert m.status is OrderStatus.FILLED and m.avg_price == D("60000")
        [fill] = await v.my_trades(BTC)
        assert fill.order_id == m.client_order_id and fill.price == D("60000") and fill.fee > 0
        assert ("POST", "/api/v3/order") in sim.requests and (
            "GET",
            "/api/v3/myTrades",
        ) in sim.requests

    with_sim(t)


def test_timeout_then_lookup_creates_exactly_one_order_at_the_exchange():
    async def t(sim, v):
        await v.load_markets()
        sim.delay_next_create(1.0)  # the order is made, the response arrives after the timeout
        cid = client_order_id("sess", 7, "binance")
        req = OrderRequest(cid, BTC, "buy", D("0.001"), "limit", D(59000))
        order = await submit_idempotent(v, req, RetryPolicy(base_delay=0.01, jitter=0))
        assert order.client_order_id == cid
        assert len(sim.orders) == 1
        creates = [r for r in sim.requests if r == ("POST", "/api/v3/order")]
        assert len(creates) == 1  # looked up, never resubmitted

    with_sim(t, timeout_ms=300)


@pytest.mark.parametrize(
    ("status", "code", "msg", "retryable"),
    [
        (429, -1003, "Too many requests", True),
        (503, -1008, "Service unavailable", True),
        (400, -2010, "Account has insufficient balance for requested action.", False),
        (400, -1013, "Filter failure: LOT_SIZE", False),
        (401, -2015, "Invalid API-key, IP, or permissions for action.", False),
    ],
)
def test_http_errors_map_with_the_right_retryable_flag(status, code, msg, retryable):
    async def t(sim, v):
        await v.load_markets()
        sim.fail_next(status, code, msg)
        with pytest.raises(VenueError) as err:
            await v.submit(OrderRequest("nz-e", BTC, "buy", D("0.001"), "limit", D(59000)))
        assert err.value.retryable is retryable and err.value.venue == "binance"

    with_sim(t)


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (ccxt.NetworkError, True),
        (ccxt.RequestTimeout, True),
        (ccxt.DDoSProtection, True),
        (ccxt.RateLimitExceeded, True),
        (ccxt.ExchangeNotAvailable, True),
        (ccxt.OnMaintenance, True),
        (ccxt.InvalidOrder, False),
        (ccxt.OrderNotFound, False),
        (ccxt.InsufficientFunds, False),
        (ccxt.AuthenticationError, False),
        (ccxt.PermissionDenied, False),
        (ccxt.BadRequest, False),
        (ccxt.BadSymbol, False),
        (ccxt.ExchangeError, False),
    ],
)
@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken", "hyperliquid"])
def test_error_mapping_table(venue, exc, retryable):
    err = map_error(venue, exc("boom"))
    assert err.retryable is retryable and err.code == exc.__name__ and err.venue == venue


def test_capabilities_are_data_overriding_a_default():
    assert set(CAPABILITIES) >= {"default", "binance", "coinbase", "kraken", "hyperliquid"}
    assert capabilities("hyperliquid")["positions"] is True
    assert capabilities("kraken")["positions"] is False  # inherited
    assert capabilities("binance")["client_id_param"] == "newClientOrderId"


def test_live_endpoints_must_be_https_and_unknown_exchange_is_config_error():
    with pytest.raises(ConfigError):
        CcxtVenue("binance", api_url="http://127.0.0.1:1", live=True)
    with pytest.raises(ConfigError):
        CcxtVenue("nosuchexchange")


@pytest.mark.parametrize(
    ("exc", "status", "retryable"),
    [
        (ccxt.ExchangeNotAvailable, 400, False),  # ccxt's name for an unrecognised 400 body
        (ccxt.ExchangeNotAvailable, 404, False),
        (ccxt.ExchangeError, 503, True),  # a 5xx whose JSON code ccxt did not know
        (ccxt.ExchangeError, 429, True),
        (ccxt.ExchangeError, 408, True),
        (ccxt.DDoSProtection, 418, True),  # Binance's temporary IP ban
        (ccxt.InvalidOrder, 503, False),  # a reject stays a reject whatever the status
        (ccxt.InsufficientFunds, 429, False),
    ],
)
def test_http_status_refines_the_retryable_flag(exc, status, retryable):
    assert map_error("x", exc("boom"), status).retryable is retryable


def test_map_error_redacts_before_it_truncates() -> None:
    """A secret that straddles map_error's 300-character cut must not leave its head behind."""
    from nzeza.secrets import clear_secrets, register_secret

    secret = "sk_live_" + "R" * 40
    clear_secrets()
    register_secret(secret)
    try:
        err = map_error("binance", ccxt.AuthenticationError("w" * 280 + secret))
    finally:
        clear_secrets()
    text = str(err)
    assert not any(secret[:n] in text for n in range(10, len(secret) + 1)), text
