"""The ccxt adapter's history and budget: every request through the rate limiter, trades paged
the venue's way, rebates booked, no guessed defaults.

Against the same local servers as `test_ccxt_venues.py` (each paging its trade history the way
its exchange does: Binance by day and by id, Coinbase by cursor, Kraken by offset with the
newest first, Hyperliquid from a time):

- every HTTP request ccxt sends is one reservation in the `RateLimiter`, under the endpoint of
  the `Venue` method that sent it (before: ccxt's limiter was off and nothing else ran);
- a budget makes calls wait (virtual clock: no wall time is measured);
- `my_trades` after a long outage returns every fill, across pages and quiet days (before: the
  first page only);
- a maker rebate (negative fee) is a fill (before: refused by `Fill`);
- an order without a status or a trade without a side or timestamp is a `VenueError` naming
  the field (before: "open", "buy" and the local clock were assumed).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
from support.sim._base import SimTrade
from venues.test_ccxt_venues import VENUES, _make

from nzeza.errors import VenueError
from nzeza.execution.client_ids import client_order_id
from nzeza.execution.ratelimit import ENDPOINTS, RateLimiter, VenueLimits
from nzeza.secrets import clear_secrets
from nzeza.venues import OrderRequest

D = Decimal
INST = {
    "binance": "binance:BTC/USDT",
    "coinbase": "coinbase:BTC/USD",
    "kraken": "kraken:BTC/USDT",
    "hyperliquid": "hyperliquid:BTC/USDC:USDC",
}
GENEROUS = {v: VenueLimits(10**9, 10**9) for v in VENUES}


def run(venue_id: str, test, limiter: RateLimiter | None = None) -> None:
    async def main() -> None:
        sim, factory, _ = _make(venue_id)
        url = await sim.start()
        venue = factory(url)
        if limiter is not None:
            venue.limiter = limiter
        try:
            await test(sim, venue)
        finally:
            await venue.close()
            await sim.stop()

    try:
        asyncio.run(main())
    finally:
        clear_secrets()


def cid(venue_id: str, n: int) -> str:
    return client_order_id("history", n, venue_id)


# -- every request through the limiter -------------------------------------------------------------
@pytest.mark.parametrize("venue_id", VENUES)
def test_every_request_is_one_reservation_under_its_method(venue_id):
    async def t(sim, v):
        lim = v.limiter
        await v.load_markets()
        await v.balances()
        await v.positions()
        inst = INST[venue_id]
        await v.submit(OrderRequest(cid(venue_id, 1), inst, "buy", D("0.001"), "limit", D(59000)))
        await v.fetch_open_orders(inst)
        v._client_ids.clear()
        await v.fetch_order(inst, client_order_id=cid(venue_id, 1))
        await v.cancel(inst, client_order_id=cid(venue_id, 1))
        await v.submit(
            OrderRequest(cid(venue_id, 2), inst, "sell", D("0.002"), reference_price=D(60000))
        )
        await v.my_trades(inst)
        counted = {ep: n for (venue, ep), n in lim.reservations.items() if venue == venue_id}
        # exactly one reservation per HTTP request the venue received
        assert sum(counted.values()) == len(sim.requests), (counted, sim.requests)
        assert set(counted) <= set(ENDPOINTS)
        expected = set(ENDPOINTS) - {"positions"}
        if venue_id == "hyperliquid":
            expected.add("positions")  # the only one that asks a venue for positions
        assert expected <= set(counted), counted

    run(venue_id, t, RateLimiter())


class VirtualTime:
    """A clock that only moves when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("venue_id", VENUES)
def test_a_budget_makes_the_venue_calls_wait(venue_id):
    """3 requests of burst, then 2 a second: 10 balance calls wait for the budget, and no
    prefix of them used more than the budget allows."""
    vt = VirtualTime()
    lim = RateLimiter({venue_id: VenueLimits(3, 2)}, clock=vt.clock, sleep=vt.sleep)
    stamps: list[float] = []

    async def t(sim, v):
        v.limiter = GENEROUS_LIMITER  # markets loaded outside the budget under test
        await v.load_markets()
        v.limiter = lim
        before = len(sim.requests)
        for _ in range(10):
            await v.balances()
            stamps.append(vt.now)
        sent = len(sim.requests) - before
        assert sent == lim.reservations[(venue_id, "balances")] >= 10
        assert vt.sleeps and lim.waited[venue_id] == pytest.approx(sum(vt.sleeps))
        for i, at in enumerate(stamps, 1):  # i calls (at least i requests) done by time `at`
            assert i <= 3 + 2 * at + 1e-9

    GENEROUS_LIMITER = RateLimiter(GENEROUS)
    run(venue_id, t)


# -- paging --------------------------------------------------------------------------------------
def _add_trades(sim, venue_id: str, order_cid: str, n: int, start_ms: int, step_ms: int) -> None:
    """`n` fills of the order with client id `order_cid`, as the venue would hold them."""
    if venue_id == "binance":
        o = next(o for o in sim.orders.values() if o["clientOrderId"] == order_cid)
        for k in range(n):
            sim.trades.append(
                {
                    "symbol": "BTCUSDT",
                    "id": len(sim.trades) + 1,
                    "orderId": o["orderId"],
                    "orderListId": -1,
                    "price": "60000.00",
                    "qty": "0.00001",
                    "quoteQty": "0.6",
                    "commission": "0.0006",
                    "commissionAsset": "USDT",
                    "time": start_ms + k * step_ms,
                    "isBuyer": False,
                    "isMaker": False,
                    "isBestMatch": True,
                }
            )
        return
    o = next(o for o in sim.orders.values() if o.cid == order_cid)
    for k in range(n):
        tid = sim.next_id()
        sim.trades.append(
            SimTrade(tid, o.oid, o.symbol, o.side, D("0.00001"), D(60000), D("0.0006"),
                     start_ms + k * step_ms)
        )  # fmt: skip
        o.trade_ids.append(tid)


@pytest.mark.parametrize("venue_id", VENUES)
def test_my_trades_after_a_long_outage_returns_every_fill_across_pages(venue_id):
    now = int(time.time() * 1000)
    since = now - 3 * 86_400_000  # three days ago
    inst = INST[venue_id]

    async def t(sim, v):
        await v.load_markets()
        first = await v.submit(
            OrderRequest(cid(venue_id, 3), inst, "sell", D("0.002"), reference_price=D(60000))
        )
        assert first.status.value == "filled"
        # its fill happened before the ones below (a venue's trade ids grow with time)
        if venue_id == "binance":
            sim.trades[-1]["time"] = since + 500
        else:
            sim.trades[-1].ts_ms = since + 500
        # day 1: 2,345 fills (several pages anywhere); day 2: none; day 3: 40
        _add_trades(sim, venue_id, cid(venue_id, 3), 2345, since + 1000, 20)
        _add_trades(sim, venue_id, cid(venue_id, 3), 40, since + 2 * 86_400_000 + 5000, 1000)
        v._client_ids.clear()  # a restarted process knows only the client id
        fills = await v.my_trades(inst, since_ns=since * 1_000_000)
        assert len(fills) == 2345 + 40 + 1  # and the first order's own fill
        assert len({f.trade_id for f in fills}) == len(fills)
        assert {f.order_id for f in fills} == {cid(venue_id, 3)}
        assert [f.ts for f in fills] == sorted(f.ts for f in fills)
        pages = sim.requests.count(TRADES[venue_id])
        assert pages >= 3  # it did page

    run(venue_id, t, RateLimiter(GENEROUS))


TRADES = {
    "binance": ("GET", "/api/v3/myTrades"),
    "coinbase": ("GET", "/api/v3/brokerage/orders/historical/fills"),
    "kraken": ("POST", "/0/private/TradesHistory"),
    "hyperliquid": ("POST", "/info"),
}


# -- rebates and missing fields --------------------------------------------------------------------
@pytest.mark.parametrize("venue_id", VENUES)
def test_a_maker_rebate_is_a_fill_with_a_negative_fee(venue_id):
    inst = INST[venue_id]

    async def t(sim, v):
        await v.load_markets()
        await v.submit(
            OrderRequest(cid(venue_id, 4), inst, "buy", D("0.002"), reference_price=D(60000))
        )
        if venue_id == "binance":
            sim.trades[-1]["commission"] = "-0.012"
        else:
            sim.trades[-1].fee = D("-0.012")
        [fill] = await v.my_trades(inst)
        assert fill.fee == D("-0.012") and fill.order_id == cid(venue_id, 4)

    run(venue_id, t, RateLimiter(GENEROUS))


def test_an_order_without_a_status_or_a_trade_without_side_or_time_is_named():
    inst = INST["binance"]

    async def t(sim, v):
        await v.load_markets()
        await v.submit(OrderRequest(cid("binance", 5), inst, "sell", D("0.002")))
        await v.submit(OrderRequest(cid("binance", 6), inst, "buy", D("0.001"), "limit", D(1)))
        resting = next(o for o in sim.orders.values() if o["clientOrderId"] == cid("binance", 6))
        del resting["status"]
        v._client_ids.clear()
        with pytest.raises(VenueError) as err:
            await v.fetch_order(inst, client_order_id=cid("binance", 6))
        assert err.value.code == "bad_response" and "no status" in str(err.value)
        for field, named in (("time", "timestamp"), ("isBuyer", "side")):
            trade = sim.trades[-1]
            saved = trade.pop(field)
            with pytest.raises(VenueError) as err:
                await v.my_trades(inst)
            assert err.value.code == "bad_response" and f"no {named}" in str(err.value)
            trade[field] = saved

    run("binance", t, RateLimiter(GENEROUS))


@pytest.mark.parametrize("venue_id", VENUES)
def test_ccxt_leaves_the_decimal_context_as_it_found_it(venue_id):
    """ccxt's decimal_to_precision sets ROUND_HALF_UP and traps Underflow on the current
    decimal context; after any order through the adapter, nzeza's arithmetic is unchanged
    (before: every later Decimal of the process rounded half up, and 1E-999999999 × 1.0005
    raised Underflow instead of rounding)."""
    import decimal

    before = decimal.getcontext().copy()

    async def t(sim, v):
        await v.load_markets()
        inst = INST[venue_id]
        await v.submit(OrderRequest(cid(venue_id, 7), inst, "buy", D("0.001"), "limit", D(59000)))
        await v.my_trades(inst)
        now = decimal.getcontext()
        assert now.rounding == before.rounding == decimal.ROUND_HALF_EVEN
        assert now.traps == before.traps and not now.traps[decimal.Underflow]

    run(venue_id, t, RateLimiter(GENEROUS))


def test_a_coinbase_market_buy_fills_the_base_quantity_asked_never_more():
    """Coinbase sizes market buys in quote: 0.16 BTC × a 61,800 reference bought 0.1648 BTC at
    the 60,000.01 ask, more than the order (a live session died on the overfill). It is sent
    as a base-sized IOC limit at the reference + 2 % instead."""

    async def t(sim, v):
        await v.load_markets()
        inst = INST["coinbase"]
        req = OrderRequest(cid("coinbase", 8), inst, "buy", D("0.16"), reference_price=D(61800))
        order = await v.submit(req)
        [placed] = sim.orders.values()
        assert placed.type == "limit" and placed.tif == "IOC" and placed.price == D("63036.00")
        assert order.type.value == "market" and order.filled_qty == D("0.16")
        [fill] = await v.my_trades(inst)
        assert fill.quantity == D("0.16") and fill.price == D("60000.01")

    run("coinbase", t, RateLimiter(GENEROUS))
