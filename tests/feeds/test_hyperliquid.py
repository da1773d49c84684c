"""Hyperliquid parser on the real bundled capture."""

from __future__ import annotations

import pytest

from nzeza.errors import ParseError
from nzeza.feeds import hyperliquid
from nzeza.feeds.book import OrderBook
from nzeza.feeds.capture import HYPERLIQUID_BTC, bundled, read_capture
from nzeza.feeds.events import BookSnapshot, Trade


def test_real_capture_parses_into_sane_books_and_trades():
    book = OrderBook("hyperliquid", "BTC", sequencing="none")
    snaps = trades = 0
    for ns, raw in read_capture(bundled(HYPERLIQUID_BTC)):
        for ev in hyperliquid.parse(raw, ns):
            if isinstance(ev, BookSnapshot):
                snaps += 1
                book.apply(ev)
                assert book.in_sync and not book.is_crossed()
                assert list(ev.bids) == sorted(ev.bids, reverse=True)
            elif isinstance(ev, Trade):
                trades += 1
                assert ev.side in ("buy", "sell") and ev.price > 0 and ev.recv_ns == ns
    assert snaps > 10 and trades > 10
    bid, ask = book.best_bid(), book.best_ask()
    assert 100_000 < bid[0] < ask[0] < 110_000


def test_bad_side_and_builder():
    with pytest.raises(ParseError) as err:
        hyperliquid.parse(
            '{"channel":"trades","data":[{"coin":"BTC","side":"X","px":"1","sz":"1","time":1,"tid":1}]}'
        )
    assert err.value.field == "side"
    assert hyperliquid.subscribe_message("l2Book", "BTC") == {
        "method": "subscribe",
        "subscription": {"type": "l2Book", "coin": "BTC"},
    }
