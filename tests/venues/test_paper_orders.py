"""The paper venue's limit, post-only and stop orders over a real capture (the bundled Binance
BTCUSDT websocket capture of 2024-08-08: depth diffs rebuilt into the feeds' OrderBook, and the
public trades): post-only refused when it would cross, resting orders filled only by trades
through their price (or at it once the queue ahead has traded), stops triggered by trades,
maker and taker fees per fill.

The bundled execution heads (`tests/execution/data/*_head.jsonl.gz`) hold depth and book
tickers only — no trades — so the trades come from the full capture's first minutes."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

import pytest

from nzeza.domain import Instrument, OrderStatus
from nzeza.domain.booklike import book_side
from nzeza.execution import estimate_slippage
from nzeza.feeds import binance
from nzeza.feeds.book import OrderBook
from nzeza.feeds.capture import BINANCE_BTCUSDT, bundled, read_capture
from nzeza.feeds.events import Trade
from nzeza.venues import OrderRequest, PaperVenue

D = Decimal
BTC = Instrument("binance", "BTC/USDT", "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D(5))
MAKER, TAKER = D("-0.0001"), D("0.0005")  # a maker rebate
LINES = 12_000  # ~2 minutes of the capture, ~2,000 trades


def run(coro):
    return asyncio.run(coro)


def capture():
    """(receive ns, event) of the capture's first LINES lines, the book applied as it goes;
    yields ("start", ns) once the book is in sync and the first trade arrives."""
    book = OrderBook("binance", "BTCUSDT")
    started = False
    for ns, raw in itertools.islice(read_capture(bundled(BINANCE_BTCUSDT[0])), LINES):
        for ev in binance.parse(raw, ns, symbol="BTCUSDT"):
            if hasattr(ev, "bids"):
                book.apply(ev)
            elif type(ev) is Trade and book.in_sync:
                if not started:
                    started = True
                    yield ns, "start", book
                yield ns, ev, book


def drive(place):
    """Replay the capture into a fresh paper venue; `place(venue, book, ns)` submits the
    orders at the start. Returns the venue, the trades after the start and, per trade id,
    per trade's receive time, the book's opposite side for a buy and for a sell then."""
    venue = PaperVenue.book_mode(
        [BTC], balances={"USDT": 10**6, "BTC": 0}, maker_fee=MAKER, taker_fee=TAKER
    )
    trades, books = [], {}
    for ns, ev, book in capture():
        if ev == "start":
            venue.set_book(BTC.id, book, ns)
            place(venue, book, ns)
            continue
        trades.append((ns, ev.price, ev.size))
        books.setdefault(
            ns, {"buy": book_side(book, "asks", 20), "sell": book_side(book, "bids", 20)}
        )
        venue.on_trade(BTC.id, ev.price, ev.size, ns)
    return venue, trades, books


def expected_rest_fills(trades, side, limit, qty, queue):
    """The rule, restated as a plain loop over the trades: through the limit fills (up to the
    trade's size); at the limit, the queue ahead trades first."""
    left, out = qty, []
    for ns, price, size in trades:
        through = price < limit if side == "buy" else price > limit
        if through:
            take = min(left, size)
        elif price == limit:
            ahead = min(queue, size)
            queue -= ahead
            take = min(left, size - ahead)
        else:
            continue
        if take > 0:
            out.append((ns, limit, take))
            left -= take
        if left == 0:
            break
    return out


def walk(levels, side, qty, trade_price):
    """Average price of `qty` taken from `levels`, each clamped to the trade's price."""
    left, cost = qty, D(0)
    for price, size in levels:
        take = min(left, size)
        price = max(price, trade_price) if side == "buy" else min(price, trade_price)
        cost += take * price
        left -= take
        if left == 0:
            break
    assert left == 0
    return cost / qty


def fills_of(venue, cid):
    return [f for f in run(venue.my_trades(BTC.id)) if f.order_id == cid]


def test_post_only_is_refused_when_it_would_cross_and_rests_otherwise():
    seen = {}

    def place(v, book, ns):
        (bid, bid_size), (ask, _) = book.best_bid(), book.best_ask()
        seen.update(bid=bid, bid_size=bid_size, ask=ask)
        for cid, price in (("cross-at-ask", ask), ("cross-above", ask + 5)):
            o = v.submit_now(
                OrderRequest(cid, BTC.id, "buy", D("0.001"), "limit", price, "post_only")
            )
            assert o.status is OrderStatus.REJECTED and o.filled_qty == 0
        o = v.submit_now(
            OrderRequest("join-bid", BTC.id, "buy", D("0.001"), "limit", bid, "post_only")
        )
        assert o.status is OrderStatus.ACCEPTED and o.filled_qty == 0

    venue, trades, _ = drive(place)
    assert fills_of(venue, "cross-at-ask") == []
    # it joined the bid behind the size the book showed there: it fills by the rule
    want = expected_rest_fills(trades, "buy", seen["bid"], D("0.001"), seen["bid_size"])
    got = fills_of(venue, "join-bid")
    assert want and [(f.ts, f.price, f.quantity) for f in got] == want
    assert all(f.liquidity == "maker" and f.fee == f.price * f.quantity * MAKER for f in got)
    # the queue ahead is honoured: never earlier than at the front of the queue, and later
    # when the first trades at the bid were smaller than the size shown ahead
    front = expected_rest_fills(trades, "buy", seen["bid"], D("0.001"), D(0))
    assert got[0].ts >= front[0][0]
    assert seen["bid_size"] > 0


@pytest.mark.parametrize("ticks", [300, 1200])
def test_a_resting_limit_fills_only_on_trades_through_it(ticks):
    seen = {}

    def place(v, book, ns):
        (bid, _), (ask, _) = book.best_bid(), book.best_ask()
        seen.update(buy=bid - ticks * BTC.tick_size, sell=ask + ticks * BTC.tick_size)
        for cid, side in (("buy", "buy"), ("sell", "sell")):
            req = OrderRequest(cid, BTC.id, side, D("0.003"), "limit", seen[side])
            assert v.submit_now(req).status is OrderStatus.ACCEPTED  # nothing crossed: rests
            seen[f"q_{side}"] = v.orders[cid].queue_ahead

    venue, trades, _ = drive(place)
    filled = 0
    for side in ("buy", "sell"):
        want = expected_rest_fills(trades, side, seen[side], D("0.003"), seen[f"q_{side}"])
        got = fills_of(venue, side)
        assert [(f.ts, f.price, f.quantity) for f in got] == want
        assert all(f.liquidity == "maker" and f.fee < 0 for f in got)  # the rebate, per fill
        reached = [
            t for t in trades if (t[1] <= seen[side] if side == "buy" else t[1] >= seen[side])
        ]
        if got:
            filled += 1
            assert got[0].ts >= reached[0][0]  # never before the market traded there
        else:
            assert not [t for t in reached if t[1] != seen[side]]  # nothing traded through
    assert filled == 2  # both sides were traded through in these minutes


def test_stops_trigger_on_trades_and_take_as_takers():
    seen = {}

    def place(v, book, ns):
        (bid, _), (ask, _) = book.best_bid(), book.best_ask()
        seen.update(sell=bid - 300 * BTC.tick_size, buy=ask + 50 * BTC.tick_size)
        for side in ("sell", "buy"):
            req = OrderRequest(f"stop-{side}", BTC.id, side, D("0.002"), "stop", seen[side])
            assert v.submit_now(req).status is OrderStatus.ACCEPTED
        # and a market order: a taker at the book, what the slippage estimate says
        est = estimate_slippage(book, "buy", D("0.05"))
        o = v.submit_now(OrderRequest("mkt", BTC.id, "buy", D("0.05")))
        assert o.status is OrderStatus.FILLED and o.avg_price == est.avg_price

    venue, trades, books = drive(place)
    [mkt] = fills_of(venue, "mkt")[:1]
    assert mkt.liquidity == "taker" and mkt.fee == mkt.price * mkt.quantity * TAKER
    triggered = 0
    for side in ("sell", "buy"):
        hit = [t for t in trades if (t[1] <= seen[side] if side == "sell" else t[1] >= seen[side])]
        got = fills_of(venue, f"stop-{side}")
        if not hit:
            assert got == []
            continue
        triggered += 1
        assert {f.ts for f in got} == {hit[0][0]}  # at the first trade at or through the stop
        assert all(f.liquidity == "taker" and f.fee == f.price * f.quantity * TAKER for f in got)
        qty = sum(f.quantity for f in got)
        avg = sum(f.price * f.quantity for f in got) / qty
        assert qty == D("0.002")
        # it walked the book of that moment, no slice better than the triggering trade (the
        # 100 ms depth diffs lag the trades: the stale book can be better than the market)
        assert avg == walk(books[hit[0][0]][side], side, D("0.002"), hit[0][1])
    assert triggered == 2  # both stops were reached in these minutes
