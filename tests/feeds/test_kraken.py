"""Kraken v2 parser and the documented CRC32 book checksum."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from feeds._fixtures import fixture_lines

from nzeza.errors import ParseError, ValidationError
from nzeza.feeds import kraken
from nzeza.feeds.book import OrderBook
from nzeza.feeds.events import BookDelta, BookSnapshot, Heartbeat, SubscriptionAck, Ticker, Trade

LINES = fixture_lines("kraken_v2.jsonl")


def test_numbers_become_exact_decimals_from_wire_text():
    (snap,) = kraken.parse(LINES[0], 7)
    assert isinstance(snap, BookSnapshot) and snap.symbol == "MATIC/USD"
    assert snap.bids[0] == (D("0.5666"), D("4831.75496356"))
    assert snap.bids[6][0] == D("0.566") and str(snap.bids[6][0]) == "0.566"
    assert snap.checksum == 2439117997 and snap.recv_ns == 7
    assert snap.ts_ns == 1696613755440295000


def test_documented_checksums_match_and_the_book_stays_in_sync():
    book = OrderBook(
        "kraken", "MATIC/USD", sequencing="none", max_depth=10, checksum_fn=kraken.checksum_fn(4, 8)
    )
    (snap,) = kraken.parse(LINES[0])
    book.apply(snap)
    assert book.in_sync and book.checksum_failures == 0
    (upd,) = kraken.parse(LINES[1])
    assert isinstance(upd, BookDelta) and upd.checksum == 2114181697
    book.apply(upd)
    assert book.in_sync and book.checksum_failures == 0
    assert len(book.depth(100)[0]) == 10  # truncated to the subscribed depth


def test_wrong_checksum_puts_book_out_of_sync():
    reasons = []
    book = OrderBook(
        "kraken",
        "MATIC/USD",
        sequencing="none",
        max_depth=10,
        checksum_fn=kraken.checksum_fn(4, 8),
        on_resync=lambda b, r: reasons.append(r),
    )
    book.apply(kraken.parse(LINES[0])[0])
    bad = LINES[1].replace("1098.3947558", "1098.3947559")
    book.apply(kraken.parse(bad)[0])
    assert not book.in_sync and "checksum mismatch" in reasons[0]


def test_trade_ticker_heartbeat_ack():
    (trade,) = kraken.parse(LINES[2])
    assert trade == Trade(
        "kraken",
        "MATIC/USD",
        D("0.5147"),
        D("6423.46326"),
        "buy",
        "4665846",
        1695628116925533000,
        None,
    )
    (tick,) = kraken.parse(LINES[3])
    assert isinstance(tick, Ticker) and tick.bid_price == D("0.10025") and tick.ts_ns is None
    assert kraken.parse(LINES[4]) == [Heartbeat("kraken")]
    (ack,) = kraken.parse(LINES[5])
    assert isinstance(ack, SubscriptionAck) and ack.channel == "book" and ack.success


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (
            '{"channel":"book","type":"snapshot","data":[{"symbol":"X","bids":[{"price":-1,"qty":1}],"asks":[]}]}',
            "price",
        ),
        (
            '{"channel":"book","type":"update","data":[{"symbol":"X","bids":[{"price":NaN,"qty":1}],"asks":[]}]}',
            "price",  # a NaN token is read as Decimal('NaN') so its field can be named
        ),
        ('{"channel":"nope","data":[]}', "channel"),
        (
            '{"channel":"trade","type":"update","data":[{"symbol":"X","side":"buy","price":1,"qty":"1e999999"}]}',
            "qty",
        ),
    ],
)
def test_bad_input_names_the_field(raw, field):
    with pytest.raises(ParseError) as err:
        kraken.parse(raw)
    assert err.value.venue == "kraken" and err.value.field == field


def test_subscribe_builder():
    assert kraken.subscribe_message("book", ["BTC/USD"], depth=10) == {
        "method": "subscribe",
        "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 10},
    }
    with pytest.raises(ValidationError) as err:
        kraken.subscribe_message("book", ["BTC/USD"], depth=7)
    assert (err.value.field, err.value.value) == ("depth", 7)
