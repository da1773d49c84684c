"""dYdX v4 order lifecycle against the local node + indexer (`DydxStub`, which checks every
signature the way a validator does and matches against an oracle price):

- a market order goes out as a short-term IOC limit at the worst price (reference ± slippage,
  on the tick) under a uint32 client id, and is followed at the indexer until final, also when
  the indexer lags the chain (before: one read right after the broadcast, then "submitted");
- an IOC that does not cross is cancelled by the venue, never rests;
- a resting long-term order is cancelled with a signed MsgCancelOrder;
- fills are paged from the indexer (more than a page), a negative fee is a rebate;
- an indexer row without a status is a named `bad_response`, never "open";
- every HTTP request is one reservation in the rate limiter, under its method's endpoint.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from support.sim.dydx import DydxStub
from venues.test_dydx import TEST_MNEMONIC

from nzeza.domain import OrderStatus
from nzeza.errors import VenueError
from nzeza.execution.client_ids import ClientIds
from nzeza.execution.ratelimit import RateLimiter, VenueLimits
from nzeza.secrets import clear_secrets
from nzeza.venues import OrderRequest
from nzeza.venues.dydx.tx import LONG_TERM, SHORT_TERM
from nzeza.venues.dydx.venue import DydxVenue

D = Decimal
INST = "dydx:BTC-USD"
IDS = ClientIds("dydx-lifecycle", "dydx")


def run(test, **stub_kw) -> None:
    async def main() -> None:
        stub = DydxStub(fill_at="oracle", **stub_kw)
        url = await stub.start()
        venue = DydxVenue(
            TEST_MNEMONIC,
            node_url=url,
            indexer_url=url,
            chain_id=stub.chain_id,
            poll_interval_s=0.01,
            limiter=RateLimiter({"dydx": VenueLimits(10**6, 10**6)}),
        )
        stub.add_account(venue.address, account_number=3, sequence=0)
        try:
            await venue.load_markets()
            await test(stub, venue)
        finally:
            await venue.close()
            await stub.stop()

    try:
        asyncio.run(main())
    finally:
        clear_secrets()


@pytest.mark.parametrize("lag", [0, 3])
def test_a_market_order_is_a_short_term_ioc_at_the_worst_price_followed_until_filled(lag):
    async def t(stub, v):
        inst = v.instruments[INST]
        assert inst.quote == "USDC" and inst.lot_size == D("0.0001")
        cid = IDS(1)
        req = OrderRequest(cid, INST, "buy", D("0.0005"), reference_price=D("60100.4"))
        order = await v.submit(req)
        row = stub.orders[0]
        assert row["clientId"] == cid and 0 <= int(cid) < 2**32
        assert row["orderFlags"] == str(SHORT_TERM) and row["goodTilBlock"] == str(1000 + 20)
        # 60100.4 × 1.02 = 61302.408 → up to the 1-dollar tick
        assert D(row["price"]) == D(61303) and row["size"] == "0.0005"
        assert order.status is OrderStatus.FILLED and order.type.value == "market"
        assert order.filled_qty == D("0.0005") and order.client_order_id == cid
        [fill] = await v.order_fills(INST, cid)
        assert fill.price == D(60000) and fill.quantity == D("0.0005")  # at the oracle
        assert fill.fee == D("0.0005") * D(60000) * D("0.0005")

    run(t, indexer_lag=lag)


def test_an_ioc_that_does_not_cross_is_cancelled_by_the_venue_and_never_rests():
    async def t(stub, v):
        req = OrderRequest(IDS(2), INST, "sell", D("0.0003"), reference_price=D(70000))
        order = await v.submit(req)  # worst price 68600 > oracle 60000: no buyer there
        assert stub.orders[0]["status"] == "BEST_EFFORT_CANCELED"
        assert order.status is OrderStatus.CANCELED and order.filled_qty == 0
        assert await v.fetch_open_orders(INST) == [] and await v.my_trades(INST) == []

    run(t)


def test_a_resting_long_term_order_is_cancelled_with_a_signed_cancel():
    async def t(stub, v):
        req = OrderRequest(IDS(3), INST, "buy", D("0.0002"), "limit", D(55000))
        order = await v.submit(req)
        assert stub.orders[0]["orderFlags"] == str(LONG_TERM)
        assert order.status is OrderStatus.ACCEPTED
        assert [o.client_order_id for o in await v.fetch_open_orders(INST)] == [IDS(3)]
        before = stub.accounts[v.address]["sequence"]
        done = await v.cancel(INST, client_order_id=IDS(3))
        assert done.status is OrderStatus.CANCELED
        assert stub.accounts[v.address]["sequence"] == before + 1  # a signed tx, accepted
        assert await v.fetch_open_orders(INST) == []

    run(t)


def test_fills_are_paged_from_the_indexer_and_a_negative_fee_is_a_rebate():
    async def t(stub, v):
        for n in range(1, 251):  # 250 fills: three pages of 100
            await v.submit(
                OrderRequest(IDS(100 + n), INST, "buy", D("0.0001"), reference_price=D(60000))
            )
        fills = await v.my_trades(INST)
        assert len(fills) == 250 and len({f.trade_id for f in fills}) == 250
        assert {f.order_id for f in fills} == {IDS(100 + n) for n in range(1, 251)}
        assert all(f.fee < 0 for f in fills)  # the maker rebate, booked as it is
        since = fills[200].ts
        assert [f.trade_id for f in await v.my_trades(INST, since_ns=since)] == [
            f.trade_id for f in fills if f.ts >= since
        ]

    run(t, maker_fee="-0.0001")


def test_an_indexer_order_without_a_status_is_a_named_error():
    async def t(stub, v):
        await v.submit(OrderRequest(IDS(4), INST, "buy", D("0.0001"), "limit", D(50000)))
        del stub.orders[0]["status"]
        with pytest.raises(VenueError) as err:
            await v.fetch_order(INST, client_order_id=IDS(4))
        assert err.value.code == "bad_response" and "status" in str(err.value)

    run(t)


def test_every_request_takes_the_rate_budget_under_its_method():
    async def t(stub, v):
        lim = v.limiter = RateLimiter()
        stub.requests.clear()
        await v.load_markets()
        await v.balances()
        await v.positions()
        await v.submit(OrderRequest(IDS(5), INST, "buy", D("0.0001"), "limit", D(50000)))
        await v.fetch_open_orders(INST)
        await v.fetch_order(INST, client_order_id=IDS(5))
        await v.cancel(INST, client_order_id=IDS(5))
        await v.my_trades(INST)
        counted = {ep: n for (venue, ep), n in lim.reservations.items() if venue == "dydx"}
        assert sum(counted.values()) == len(stub.requests)
        assert set(counted) == {
            "load_markets",
            "balances",
            "positions",
            "submit",
            "fetch_order",
            "open_orders",
            "cancel",
            "my_trades",
        }

    run(t)
