"""OrderBook: Binance sequencing rules, buffering, resync signals, reading, and a model check."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nzeza.errors import BookOutOfSync
from nzeza.feeds.book import OrderBook
from nzeza.feeds.events import BookDelta, BookSnapshot


def snap(uid, bids=((100, 1),), asks=((101, 1),), checksum=None):
    return BookSnapshot(
        "binance",
        "X",
        uid,
        tuple((D(p), D(s)) for p, s in bids),
        tuple((D(p), D(s)) for p, s in asks),
        checksum=checksum,
    )


def delta(first, last, bids=(), asks=()):
    return BookDelta(
        "binance",
        "X",
        first,
        last,
        tuple((D(str(p)), D(str(s))) for p, s in bids),
        tuple((D(str(p)), D(str(s))) for p, s in asks),
    )


def test_deltas_before_snapshot_are_buffered_then_filtered_and_applied():
    book = OrderBook("binance", "X")
    assert book.apply(delta(5, 8, bids=[(99, 5)])) is False  # u <= lastUpdateId: dropped later
    book.apply(delta(9, 12, bids=[(100, 2)]))  # covers lastUpdateId+1 = 11
    book.apply(delta(13, 13, asks=[(101, 0), (102, 3)]))
    assert book.buffered == 3 and not book.in_sync and book.best_bid() is None
    book.apply(snap(10))
    assert book.in_sync and book.last_update_id == 13
    assert book.best_bid() == (D(100), D(2))
    assert book.best_ask() == (D(102), D(3))
    assert D(99) not in dict(book.depth(10)[0])


def test_first_diff_must_cover_snapshot_id_plus_one():
    book = OrderBook("binance", "X")
    book.apply(snap(10))
    book.apply(delta(12, 14))  # 11 missing
    assert not book.in_sync and book.needs_snapshot and book.gaps == 1


def test_snapshot_older_than_buffer_asks_for_another():
    reasons = []
    book = OrderBook("binance", "X", on_resync=lambda b, r: reasons.append(r))
    book.apply(delta(20, 25))
    book.apply(snap(10))
    assert book.needs_snapshot and "older than buffered" in reasons[0]
    book.apply(snap(22))  # the buffered diff is kept and now applies
    assert book.in_sync and book.last_update_id == 25


def test_gap_after_sync_flags_and_resyncs_with_new_snapshot():
    reasons = []
    book = OrderBook("binance", "X", on_resync=lambda b, r: reasons.append(r))
    book.apply(snap(10))
    book.apply(delta(11, 12, bids=[(100, 3)]))
    book.apply(delta(12, 12, bids=[(100, 9)]))  # duplicate: ignored
    assert book.best_bid() == (D(100), D(3))
    book.apply(delta(14, 15))  # gap: 13 missing
    assert not book.in_sync and reasons == ["diff U=14 is not previous u+1=13"]
    book.apply(delta(16, 17, asks=[(101, 7)]))  # buffered while out of sync
    assert book.buffered == 2
    book.apply(snap(15, bids=((100, 4),)))
    assert book.in_sync and book.last_update_id == 17
    assert book.best_bid() == (D(100), D(4)) and book.best_ask() == (D(101), D(7))
    assert book.resyncs == 1


def test_strict_mode_raises_typed_error():
    book = OrderBook("binance", "X", strict=True)
    book.apply(snap(10))
    with pytest.raises(BookOutOfSync) as err:
        book.apply(delta(30, 31))
    assert err.value.venue == "binance" and err.value.symbol == "X"


def test_crossed_depth_mid_and_symbol_guard():
    book = OrderBook("binance", "X", sequencing="none")
    book.apply(snap(1, bids=((100, 1), (99, 2), (98, 3)), asks=((101, 1), (102, 2))))
    assert book.depth(2) == ([(D(100), D(1)), (D(99), D(2))], [(D(101), D(1)), (D(102), D(2))])
    assert book.mid() == D("100.5") and not book.is_crossed()
    book.apply(BookDelta("binance", "X", None, 2, ((D(101), D(1)),), ()))
    assert book.is_crossed()
    with pytest.raises(ValueError, match="fed to book"):
        book.apply(BookDelta("binance", "Y", None, 3, (), ()))


def test_invalidate_and_max_depth_and_checksum():
    book = OrderBook(
        "k", "X", sequencing="none", max_depth=2, checksum_fn=lambda b: len(b), on_resync=None
    )
    book.apply(snap(None, bids=((100, 1), (99, 2), (98, 3)), asks=((101, 1),)))
    assert len(book) == 3  # 2 bids + 1 ask
    book.apply(BookDelta("binance", "X", None, None, ((D(97), D(1)),), (), checksum=3))
    assert book.in_sync and D(97) not in dict(book.depth(5)[0])
    book.apply(BookDelta("binance", "X", None, None, (), ((D(103), D(1)),), checksum=99))
    assert not book.in_sync and book.checksum_failures == 1
    book.apply(snap(None))
    assert book.in_sync
    book.invalidate("connection lost")
    assert not book.in_sync and book.last_reason == "connection lost"


prices = st.integers(1, 40)
sizes = st.integers(0, 3)
side_updates = st.lists(st.tuples(prices, sizes), max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(side_updates, side_updates), max_size=60))
def test_book_equals_a_plain_dict_model(updates):
    book = OrderBook("binance", "X")
    book.apply(snap(0, bids=(), asks=()))
    model_b: dict = {}
    model_a: dict = {}
    for i, (bids, asks) in enumerate(updates, 1):
        book.apply(delta(i, i, bids, asks))
        for model, ups in ((model_b, bids), (model_a, asks)):
            for p, s in ups:
                if s:
                    model[D(p)] = D(s)
                else:
                    model.pop(D(p), None)
        want_b = max(model_b.items()) if model_b else None
        want_a = min(model_a.items()) if model_a else None
        assert book.best_bid() == want_b
        assert book.best_ask() == want_a
    bids, asks = book.depth(1000)
    assert bids == sorted(model_b.items(), reverse=True)
    assert asks == sorted(model_a.items())


def test_none_sequencing_drops_deltas_the_new_snapshot_supersedes():
    # Kraken style: no ids. After a checksum failure the deltas that arrive before the new
    # snapshot are older than it; replaying them would put stale sizes back.
    book = OrderBook("kraken", "X", sequencing="none")
    book.apply(snap(None, bids=((100, 1),), asks=((101, 1),)))
    book.invalidate("checksum mismatch")
    book.apply(BookDelta("kraken", "X", None, None, ((D(100), D(5)),), ()))  # stale
    assert book.buffered == 1
    book.apply(snap(None, bids=((100, 3),), asks=((101, 2),)))
    assert book.in_sync and book.best_bid() == (D(100), D(3)) and book.buffered == 0
    # Coinbase style: ids. Only a delta newer than the snapshot survives it.
    cb = OrderBook("coinbase", "X", sequencing="none")
    cb.apply(BookDelta("coinbase", "X", 4, 4, ((D(99), D(9)),), ()))  # older than the snapshot
    cb.apply(BookDelta("coinbase", "X", 6, 6, ((D(98), D(8)),), ()))  # newer
    cb.apply(snap(5, bids=((100, 1),), asks=((101, 1),)))
    assert dict(cb.depth(5)[0]) == {D(100): D(1), D(98): D(8)} and cb.last_update_id == 6
