"""dYdX v4 indexer parser: object snapshot, array updates, batches, trades, message_id gaps."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from feeds._fixtures import fixture_lines

from nzeza.errors import ParseError
from nzeza.feeds import dydx
from nzeza.feeds.book import OrderBook
from nzeza.feeds.events import BookDelta, BookSnapshot, SequenceGap, SubscriptionAck, Trade

LINES = fixture_lines("dydx_v4.jsonl")


def test_snapshot_updates_and_batch_build_the_book():
    book = OrderBook("dydx", "BTC-USD", sequencing="none")
    events = [ev for line in LINES for ev in dydx.parse(line)]
    for ev in events:
        if isinstance(ev, (BookSnapshot, BookDelta)):
            book.apply(ev)
    assert any(isinstance(e, SubscriptionAck) for e in events)
    assert sum(isinstance(e, BookDelta) for e in events) == 3  # 1 + a batch of 2
    assert book.best_bid() == (D("28194"), D("1.986168516"))
    assert book.best_ask() == (D("28196"), D("2.387087565"))
    assert book.depth(5)[0] == [(D("28194"), D("1.986168516"))]
    trades = [e for e in events if isinstance(e, Trade)]
    assert [t.side for t in trades] == ["buy", "sell"] and trades[0].ts_ns == 1680568159353000000


def test_message_id_gap():
    p = dydx.DydxParser()
    p.parse(LINES[0])
    p.parse(LINES[1])
    out = p.parse(LINES[3])
    assert out[0] == SequenceGap("dydx", 2, 3, None)


def test_errors_and_builder():
    with pytest.raises(ParseError) as err:
        dydx.parse('{"type":"channel_data","channel":"v4_candles","id":"BTC-USD","contents":{}}')
    assert err.value.field == "channel"
    with pytest.raises(ParseError):
        dydx.parse(LINES[2].replace('"27773"', '"-1"').replace('"28194"', '"-1"'))
    assert dydx.subscribe_message("v4_orderbook", "BTC-USD", batched=True) == {
        "type": "subscribe",
        "channel": "v4_orderbook",
        "id": "BTC-USD",
        "batched": True,
    }
