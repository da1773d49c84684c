"""The paper venue: matching by depth, fees, latency, resting limits, bar-mode Costs."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from execution.capture_books import snapshot_book

from nzeza.domain import Costs, Fill, Instrument, OrderStatus
from nzeza.execution import SnapshotBook, estimate_slippage
from nzeza.venues import OrderRequest, PaperVenue

D = Decimal
BTC = Instrument("binance", "BTC/USDT", "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D(5))
BOOK = SnapshotBook.from_levels(
    [(D(99), D(1)), (D(98), D(2))], [(D(101), D(1)), (D(102), D(2)), (D(103), D(1))]
)


def pv(**kw) -> PaperVenue:
    v = PaperVenue.book_mode([BTC], balances={"USDT": 1_000_000}, **kw)
    v.set_book(BTC.id, BOOK, 0)
    return v


def run(coro):
    return asyncio.run(coro)


def test_market_order_walks_levels_with_taker_fee():
    v = pv(taker_fee="0.001")
    o = run(v.submit(OrderRequest("c1", BTC.id, "buy", D("2.5"))))
    assert o.status is OrderStatus.FILLED and o.avg_price == (101 + 102 * D("1.5")) / D("2.5")
    fills = run(v.my_trades(BTC.id))
    assert [(f.price, f.quantity) for f in fills] == [(D(101), D(1)), (D(102), D("1.5"))]
    assert fills[1].fee == D(102) * D("1.5") * D("0.001")
    bal = run(v.balances())
    assert bal["BTC"].total == D("2.5")
    assert bal["USDT"].total == 1_000_000 - (101 + 153) - sum(f.fee for f in fills)


def test_market_order_larger_than_book_partially_fills_then_cancels():
    v = pv()
    o = run(v.submit(OrderRequest("c1", BTC.id, "sell", D(5))))
    assert o.status is OrderStatus.CANCELED and o.filled_qty == D(3)
    assert run(v.positions())[0].quantity == D(-3)


def test_paper_fill_matches_the_slippage_estimate_on_a_real_book():
    real = snapshot_book()
    v = PaperVenue.book_mode([BTC], balances={"USDT": 10**7}, taker_fee=0)
    v.set_book(BTC.id, real, 0)
    o = run(v.submit(OrderRequest("c1", BTC.id, "buy", D(12))))
    assert o.avg_price == estimate_slippage(real, "buy", D(12)).avg_price


def test_limit_takes_what_crosses_rests_and_fills_as_maker_later():
    v = pv(maker_fee="0.0001", taker_fee="0.001")
    o = run(v.submit(OrderRequest("c1", BTC.id, "buy", D(2), "limit", D(101))))
    assert o.status is OrderStatus.PARTIALLY_FILLED and o.filled_qty == D(1)
    assert [x.client_order_id for x in run(v.fetch_open_orders())] == ["c1"]
    assert run(v.my_trades(BTC.id))[0].liquidity == "taker"
    # the book moving through the resting order is not a trade: no fill
    moved = SnapshotBook.from_levels([(D(99), D(1))], [(D("100.5"), D(5))])
    assert v.set_book(BTC.id, moved, 10) == []
    assert v.on_trade(BTC.id, D(102), D(3), 11) == []  # a trade above a buy's limit
    # a trade through it: the rest fills at its limit, as maker
    [f] = v.on_trade(BTC.id, D("100.5"), D(5), 12)
    assert (f.price, f.quantity, f.fee) == (D(101), D(1), D(101) * D("0.0001"))
    assert f.liquidity == "maker"
    assert run(v.fetch_order(BTC.id, client_order_id="c1")).status is OrderStatus.FILLED


def test_ioc_fok_post_only():
    v = pv()
    ioc = run(v.submit(OrderRequest("i", BTC.id, "buy", D(2), "limit", D(101), "ioc")))
    assert ioc.status is OrderStatus.CANCELED and ioc.filled_qty == 1
    fok = run(v.submit(OrderRequest("f", BTC.id, "buy", D(5), "limit", D(102), "fok")))
    assert fok.status is OrderStatus.CANCELED and fok.filled_qty == 0
    po = run(v.submit(OrderRequest("p", BTC.id, "buy", D(1), "limit", D(101), "post_only")))
    assert po.status is OrderStatus.REJECTED
    ok = run(v.submit(OrderRequest("q", BTC.id, "buy", D(1), "limit", D(100), "post_only")))
    assert ok.status is OrderStatus.ACCEPTED


def test_latency_delays_matching_to_the_book_at_arrival():
    clock = {"t": 0}
    v = PaperVenue.book_mode(
        [BTC], balances={"USDT": 10**6}, latency_ns=50, clock=lambda: clock["t"]
    )
    v.set_book(BTC.id, BOOK)
    o = run(v.submit(OrderRequest("c1", BTC.id, "buy", D(1))))
    assert o.status is OrderStatus.ACCEPTED and o.filled_qty == 0
    clock["t"] = 49
    assert v.set_book(BTC.id, SnapshotBook.from_levels([(D(99), D(1))], [(D(105), D(1))])) == []
    clock["t"] = 50
    [f] = v.advance()
    assert f.price == D(105)  # the book when the order arrived, not when it was sent


def test_cancel_and_updates_stream():
    v = pv()
    run(v.submit(OrderRequest("c1", BTC.id, "buy", D(1), "limit", D(90))))
    c = run(v.cancel(BTC.id, client_order_id="c1"))
    assert c.status is OrderStatus.CANCELED
    ups = v.drain_updates()
    assert [u.status for u in ups] == [OrderStatus.ACCEPTED, OrderStatus.CANCELED]
    assert run(v.fetch_order(BTC.id, client_order_id="nope")) is None


def test_bar_mode_is_research_costs_exactly():
    costs = Costs(fee=0.001, slippage=0.0005)
    v = PaperVenue.bar_mode([BTC], costs, balances={"USDT": 10**6})
    v.advance(100)  # decided at the close of the bar ending at 100
    run(v.submit(OrderRequest("b", BTC.id, "buy", D("0.5"))))
    assert v.on_bar(BTC.id, D(60000), ts=100) == []  # same bar: not yet
    [f] = v.on_bar(BTC.id, D(60100), ts=200)  # next bar's open
    assert isinstance(f, Fill) and f.price == costs.fill_price("buy", D(60100))
    assert f.price == D(60100) * (1 + costs.slippage_dec)
    assert f.fee == costs.fee_for(f.price * D("0.5"))
    run(v.submit(OrderRequest("s", BTC.id, "sell", D("0.5"))))
    [g] = v.on_bar(BTC.id, D(60200), ts=300)
    assert g.price == D(60200) * (1 - costs.slippage_dec)
    assert run(v.positions()) == []


def test_bar_mode_fills_limit_post_only_and_stop_orders_by_the_research_rule():
    from nzeza.errors import ValidationError
    from nzeza.research.orders import bar_outcome

    costs = Costs(maker=0.0002, taker=0.001, slippage=0.0005)
    v = PaperVenue.bar_mode([BTC], costs, balances={"USDT": 10**6})
    v.advance(100)
    for req in (
        OrderRequest("lim", BTC.id, "buy", D("0.5"), "limit", D(59900)),
        OrderRequest("po-cross", BTC.id, "buy", D("0.5"), "limit", D(60100), "post_only"),
        OrderRequest("po", BTC.id, "sell", D("0.5"), "limit", D(60150), "post_only"),
        OrderRequest("stop", BTC.id, "buy", D("0.1"), "stop", D(60300)),
    ):
        run(v.submit(req))
    # bar 1: open 60000, high 60200, low 59850 — the limit fills inside the bar at 59900 as
    # maker; the post-only buy at 60100 ≥ open would cross: rejected; the sell post-only at
    # 60150 is traded through (high 60200 > 60150): maker at 60150; the stop is not reached
    fills = v.on_bar(BTC.id, D(60000), 200, high=D(60200), low=D(59850))
    got = {f.order_id: f for f in fills}
    assert set(got) == {"lim", "po"}
    assert (got["lim"].price, got["lim"].liquidity) == (D(59900), "maker")
    assert got["lim"].fee == D(59900) * D("0.5") * costs.maker_dec
    assert (got["po"].price, got["po"].liquidity) == (D(60150), "maker")
    assert run(v.fetch_order(BTC.id, client_order_id="po-cross")).status is OrderStatus.REJECTED
    # bar 2 gaps above the stop: a taker at the open with slippage, as research fills it
    [s] = v.on_bar(BTC.id, D(60400), 300, high=D(60500), low=D(60350))
    want = bar_outcome("stop", "buy", D(60300), D(60400), D(60500), D(60350), False, D("0.0005"))
    assert (s.price, s.liquidity) == (want.price, "taker") == (D(60400) * D("1.0005"), "taker")
    assert s.fee == s.price * D("0.1") * costs.fee_dec
    run(v.submit(OrderRequest("x", BTC.id, "buy", D("0.1"), "limit", D(1))))
    with pytest.raises(ValidationError) as err:  # a limit order with no bar range to meet
        v.on_bar(BTC.id, D(60400), 400)
    assert err.value.field == "high"


def test_bar_mode_needs_costs():
    from nzeza.errors import ValidationError

    with pytest.raises(ValidationError):
        PaperVenue([BTC], mode="bar")


def test_paper_matches_against_the_live_feeds_book():
    # The feeds OrderBook (replayed from the real ETHUSDT capture) is a book the paper venue
    # can match against directly, as a live session does.
    from execution.test_slippage import _live_books

    eth = Instrument(
        "binance", "ETH/USDT", "ETH", "USDT", D("0.01"), D("0.0001"), D("0.0001"), D(5)
    )
    book = next(_live_books(count=1))
    v = PaperVenue.book_mode([eth], balances={"USDT": 10**7}, taker_fee=0)
    v.set_book(eth.id, book, 0)
    o = run(v.submit(OrderRequest("live-1", eth.id, "buy", D(25))))
    assert o.status is OrderStatus.FILLED
    assert o.avg_price == estimate_slippage(book, "buy", D(25)).avg_price
    resting = run(v.submit(OrderRequest("live-2", eth.id, "sell", D(1), "limit", D(99999))))
    assert resting.status is OrderStatus.ACCEPTED  # far from the book: rests
