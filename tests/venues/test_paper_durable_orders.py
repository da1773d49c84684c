"""The durable paper venue's limit, post-only and stop orders: arrival against the last trade,
resting fills only on trades through the price (partial by the trade's size, maker fee), a
crossing post-only rejected, stops, cancels, and no fill twice from a feed re-read after a
restart. Prices computed by hand."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

from nzeza.domain import Costs, Instrument, OrderStatus
from nzeza.errors import VenueError
from nzeza.venues import OrderRequest
from nzeza.venues.paper.durable import DurablePaperVenue

INST = Instrument("paper", "BTC/USDT", "BTC", "USDT", D("0.01"), D("0.00001"))
COSTS = Costs(maker=0.0002, taker=0.001, slippage=0.0005)


def run(coro):
    return asyncio.run(coro)


def limit(cid: str, side: str, qty: str, price: str, tif: str = "gtc") -> OrderRequest:
    return OrderRequest(cid, INST.id, side, D(qty), "limit", D(price), time_in_force=tif)


@pytest.fixture
def venue(tmp_path):
    v = DurablePaperVenue(tmp_path / "v.db", [INST], COSTS)
    v.on_trade(INST.id, D("100"), 1, D("1"))
    yield v
    run(v.close())


def test_a_resting_limit_fills_only_on_trades_through_it_partially_as_maker(venue) -> None:
    view = run(venue.submit(limit("b1", "buy", "0.5", "99")))
    assert view.status is OrderStatus.ACCEPTED and view.filled_qty == 0
    assert venue.on_trade(INST.id, D("99.5"), 2, D("5")) == []  # above the limit
    assert venue.on_trade(INST.id, D("99"), 3, D("5")) == []  # at it: the queue is unknown
    [f1] = venue.on_trade(INST.id, D("98.9"), 4, D("0.2"))  # through it: 0.2 of 0.5
    assert (f1.price, f1.quantity, f1.fee) == (D("99"), D("0.2"), D("99") * D("0.2") * D("0.0002"))
    order = run(venue.fetch_order(INST.id, client_order_id="b1"))
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.filled_qty == D("0.2")
    [f2] = venue.on_trade(INST.id, D("98"), 5, D("3"))  # the rest, at the limit, not at 98
    assert (f2.price, f2.quantity) == (D("99"), D("0.3"))
    order = run(venue.fetch_order(INST.id, client_order_id="b1"))
    assert order.status is OrderStatus.FILLED and order.avg_price == D("99")
    assert venue.on_trade(INST.id, D("97"), 6, D("3")) == []
    assert run(venue.fetch_open_orders(INST.id)) == []


def test_a_limit_that_crosses_on_arrival_takes_capped_at_its_limit(venue) -> None:
    view = run(venue.submit(limit("b2", "buy", "0.1", "100.02")))  # last 100: it crosses
    [fill] = run(venue.order_fills(INST.id, "b2"))
    # 100 × 1.0005 = 100.05 > 100.02: never past the limit; a taker
    assert view.status is OrderStatus.FILLED and fill.price == D("100.02")
    assert fill.fee == D("100.02") * D("0.1") * D("0.001")


def test_a_crossing_post_only_is_rejected_and_a_resting_one_waits(venue) -> None:
    view = run(venue.submit(limit("p1", "sell", "0.1", "100", "post_only")))
    assert view.status is OrderStatus.REJECTED and run(venue.order_fills(INST.id, "p1")) == []
    view = run(venue.submit(limit("p2", "sell", "0.1", "101", "post_only")))
    assert view.status is OrderStatus.ACCEPTED
    [fill] = venue.on_trade(INST.id, D("101.5"), 2, D("1"))
    assert fill.price == D("101") and fill.fee == D("101") * D("0.1") * D("0.0002")


def test_a_stop_triggers_on_a_trade_at_its_price_and_takes(venue) -> None:
    stop = OrderRequest("s1", INST.id, "buy", D("0.1"), "stop", D("102"))
    assert run(venue.submit(stop)).status is OrderStatus.ACCEPTED
    assert venue.on_trade(INST.id, D("101.99"), 2, D("1")) == []
    [fill] = venue.on_trade(INST.id, D("102"), 3, D("0.01"))  # the whole rest: a taker
    assert fill.quantity == D("0.1") and fill.price == D("102") * D("1.0005")
    assert fill.fee == fill.price * D("0.1") * D("0.001")


def test_a_cancel_keeps_the_fills_before_it(venue) -> None:
    run(venue.submit(limit("c1", "buy", "0.5", "99")))
    venue.on_trade(INST.id, D("98"), 2, D("0.1"))
    done = run(venue.cancel(INST.id, client_order_id="c1"))
    assert done.status is OrderStatus.CANCELED and done.filled_qty == D("0.1")
    assert venue.on_trade(INST.id, D("97"), 3, D("9")) == []
    assert run(venue.cancel(INST.id, client_order_id="c1")).status is OrderStatus.CANCELED
    with pytest.raises(VenueError):
        run(venue.cancel(INST.id, client_order_id="nope"))


def test_a_feed_re_read_after_a_restart_never_fills_an_order_twice(tmp_path) -> None:
    path = tmp_path / "v.db"
    v = DurablePaperVenue(path, [INST], COSTS)
    tape = [(1, "100", "1"), (2, "98", "0.1"), (2, "98", "0.1"), (3, "99.5", "1")]
    v.on_trade(INST.id, D("100"), 1, D("1"))
    run(v.submit(limit("r1", "buy", "0.5", "99")))
    for ts, px, size in tape[1:3]:
        v.on_trade(INST.id, D(px), ts, D(size))  # two trades at the same time: 0.2 filled
    run(v.close())
    again = DurablePaperVenue(path, [INST], COSTS)  # a restart: the feed is read again
    try:
        for ts, px, size in tape:
            again.on_trade(INST.id, D(px), ts, D(size))
        order = run(again.fetch_order(INST.id, client_order_id="r1"))
        assert order.filled_qty == D("0.2") and order.status is OrderStatus.PARTIALLY_FILLED
        [fill] = again.on_trade(INST.id, D("98.5"), 4, D("1"))  # a new trade: the rest
        assert fill.quantity == D("0.3") and len(run(again.order_fills(INST.id, "r1"))) == 3
        assert [o.client_order_id for o in run(again.fetch_open_orders())] == []
    finally:
        run(again.close())


def test_an_older_file_without_the_order_columns_opens_and_takes_limits(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the orders table as an older nzeza created it
        db.execute(
            "CREATE TABLE orders (client_order_id TEXT PRIMARY KEY, venue_order_id TEXT NOT "
            "NULL, instrument_id TEXT NOT NULL, side TEXT NOT NULL, quantity TEXT NOT NULL, "
            "status TEXT NOT NULL, filled_qty TEXT NOT NULL, avg_price TEXT, ts INTEGER NOT NULL)"
        )
        db.execute(
            "INSERT INTO orders VALUES ('m1','D1','paper:BTC/USDT','buy','0.1','filled','0.1',"
            "'100',1)"
        )
    v = DurablePaperVenue(path, [INST], COSTS)
    try:
        old = run(v.fetch_order(INST.id, client_order_id="m1"))
        assert old.type.value == "market" and old.status is OrderStatus.FILLED
        v.on_trade(INST.id, D("100"), 2, D("1"))
        assert run(v.submit(limit("l1", "buy", "0.1", "99"))).status is OrderStatus.ACCEPTED
    finally:
        run(v.close())
