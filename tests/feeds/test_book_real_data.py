"""The real-data proof: a local book from real Binance captures matches every exchange bookTicker.

The captures are bundled in the package (nzeza/feeds/captures, copied as-is from the shared
data folder). Each bookTicker whose update id the book reaches must equal the book's best
bid/ask prices and sizes; the number of checks is printed and bounded from below so the test
cannot pass vacuously.
"""

from __future__ import annotations

from nzeza.feeds import binance
from nzeza.feeds.book import OrderBook
from nzeza.feeds.capture import BINANCE_BTCUSDT, BINANCE_ETHUSDT, bundled, read_capture
from nzeza.feeds.check import BookTickerCheck
from nzeza.feeds.events import BestBidAsk, BookDelta, BookSnapshot


def replay(names: tuple[str, ...], symbol: str) -> tuple[OrderBook, BookTickerCheck, int]:
    book = OrderBook("binance", symbol)
    check = BookTickerCheck(book)
    deltas = 0
    for name in names:
        for ns, raw in read_capture(bundled(name)):
            for ev in binance.parse(raw, ns, symbol=symbol):
                if type(ev) is BestBidAsk:
                    check.on_ticker(ev)
                elif type(ev) in (BookDelta, BookSnapshot):
                    book.apply(ev)
                    deltas += type(ev) is BookDelta
                    check.after_apply()
                    assert not book.is_crossed(), f"crossed at {book.last_update_id}"
    return book, check, deltas


def test_btcusdt_two_files_in_sequence_match_every_reached_bookticker():
    book, check, deltas = replay(BINANCE_BTCUSDT, "BTCUSDT")
    print(f"\nBTCUSDT: {check.checks} bookTicker checks, {len(check.mismatches)} mismatches")
    assert check.mismatches == []
    assert check.checks > 1000
    assert book.in_sync and book.gaps == 0 and book.snapshots == 1
    assert book.applied > 6000 and deltas > 6400


def test_ethusdt_matches_every_reached_bookticker():
    book, check, _ = replay(BINANCE_ETHUSDT, "ETHUSDT")
    print(f"\nETHUSDT: {check.checks} bookTicker checks, {len(check.mismatches)} mismatches")
    assert check.mismatches == []
    assert check.checks > 300
    assert book.in_sync and book.gaps == 0


def test_skipping_the_first_file_is_detected_as_out_of_sync():
    # The 0809 file has no snapshot; seeding it with the 0808 snapshot must fail Binance's rule.
    snap_line = next(
        raw for _, raw in read_capture(bundled(BINANCE_BTCUSDT[0])) if "lastUpdateId" in raw
    )
    reasons = []
    book = OrderBook("binance", "BTCUSDT", on_resync=lambda b, r: reasons.append(r))
    for ns, raw in read_capture(bundled(BINANCE_BTCUSDT[1])):
        for ev in binance.parse(raw, ns):
            if type(ev) is BookDelta:
                book.apply(ev)
                if book.buffered == 3:
                    (snap,) = binance.parse(snap_line, symbol="BTCUSDT")
                    book.apply(snap)
    assert not book.in_sync and book.needs_snapshot
    assert reasons and "older than buffered" in reasons[0]
