"""estimate_slippage on books rebuilt from the real Binance captures."""

from __future__ import annotations

from decimal import Decimal

import pytest
from execution.capture_books import ETH, rebuilt_books, snapshot_book
from hypothesis import given, settings
from hypothesis import strategies as st

from nzeza.domain import Side
from nzeza.errors import InsufficientLiquidity, ValidationError
from nzeza.execution import SnapshotBook, estimate_slippage

D = Decimal
BOOK = snapshot_book()


def test_top_level_fill_costs_half_the_spread():
    (bid, _), (ask, ask_size) = BOOK.bids[0], BOOK.asks[0]
    est = estimate_slippage(BOOK, "buy", ask_size)
    mid = (bid + ask) / 2
    assert est.avg_price == ask and est.levels == 1 and est.touch_bps == 0
    assert est.slippage_bps == (ask - mid) / mid * 10_000
    assert est.filled_qty == ask_size and est.touch == ask and est.mid == mid


def test_walk_matches_an_independent_computation():
    qty = D(7)
    est = estimate_slippage(BOOK, "sell", qty)
    # Independent: expand the bids into per-unit prices in floats and average the first qty.
    rest, cost, levels = float(qty), 0.0, 0
    for p, s in BOOK.bids:
        take = min(float(s), rest)
        cost += take * float(p)
        rest -= take
        levels += 1
        if rest <= 1e-12:
            break
    assert float(est.avg_price) == pytest.approx(cost / float(qty), rel=1e-12)
    assert est.levels == levels and est.side is Side.SELL
    assert est.slippage_bps > est.touch_bps > 0  # both adverse, mid further than touch
    assert est.worst_price <= est.avg_price <= est.touch


def test_insufficient_liquidity_names_what_is_available():
    total = sum(s for _, s in BOOK.asks)
    with pytest.raises(InsufficientLiquidity) as err:
        estimate_slippage(BOOK, "buy", total + D("0.00000001"))
    assert err.value.available == total and err.value.side == "buy"
    assert estimate_slippage(BOOK, "buy", total).filled_qty == total


@pytest.mark.parametrize("bad", [("hold", "1"), ("buy", "0"), ("buy", "-1"), ("buy", "nan")])
def test_bad_inputs(bad):
    with pytest.raises(ValidationError):
        estimate_slippage(BOOK, bad[0], bad[1])


@settings(max_examples=50, deadline=None)
@given(
    st.decimals(min_value=D("0.0001"), max_value=D(40), places=4), st.sampled_from(["buy", "sell"])
)
def test_slippage_grows_with_size(qty, side):
    a = estimate_slippage(BOOK, side, qty)
    b = estimate_slippage(BOOK, side, qty * 2)
    assert b.slippage_bps >= a.slippage_bps >= 0
    assert b.levels >= a.levels


def test_every_verified_book_of_both_captures():
    n = 0
    for path in (None, ETH):
        for book in rebuilt_books(path) if path else rebuilt_books():
            for side in ("buy", "sell"):
                est = estimate_slippage(book, side, book.asks[0][1] + book.bids[0][1])
                assert est.slippage_bps >= est.touch_bps >= 0
                n += 1
    assert n > 100


class DepthOnly:
    """A book seen only through depth(n) — the shape of nzeza.feeds' OrderBook."""

    def __init__(self, book: SnapshotBook) -> None:
        self._b = book

    def depth(self, n: int):
        return {"bids": list(self._b.bids[:n]), "asks": list(self._b.asks[:n])}


class MappingSides:
    """Sides as unsorted price → size mappings."""

    def __init__(self, book: SnapshotBook) -> None:
        self.bids = dict(reversed(book.bids))
        self.asks = dict(reversed(book.asks))


@pytest.mark.parametrize("wrap", [DepthOnly, MappingSides])
def test_structural_protocol(wrap):
    assert estimate_slippage(wrap(BOOK), "buy", D(3)) == estimate_slippage(BOOK, "buy", D(3))


def _live_books(every: int = 50, count: int = 5):
    """The feeds OrderBook replayed from the real ETHUSDT capture, at `count` points where it
    has just matched the exchange's own bookTicker (every `every` checks)."""
    from nzeza.feeds import binance
    from nzeza.feeds.book import OrderBook
    from nzeza.feeds.capture import BINANCE_ETHUSDT, bundled, read_capture
    from nzeza.feeds.check import BookTickerCheck
    from nzeza.feeds.events import BestBidAsk

    book = OrderBook("binance", "ETHUSDT")
    check = BookTickerCheck(book)
    seen = 0
    for ns, raw in read_capture(bundled(BINANCE_ETHUSDT[0])):
        for ev in binance.parse(raw, ns, symbol="ETHUSDT"):
            if type(ev) is BestBidAsk:
                check.on_ticker(ev)
            elif hasattr(ev, "bids"):
                book.apply(ev)
                check.after_apply()
        if check.checks >= (seen + 1) * every:
            assert check.mismatches == [] and book.in_sync
            seen += 1
            yield book
            if seen >= count:
                return


def test_on_the_feeds_order_book_replayed_from_a_real_capture():
    n = 0
    for book in _live_books():
        bids, asks = book.depth(10**6)
        frozen = SnapshotBook.from_levels(bids, asks)
        for side in ("buy", "sell"):
            touch, size = book.best_ask() if side == "buy" else book.best_bid()
            qty = size + 1  # more than the touch holds: the walk goes deeper
            live = estimate_slippage(book, side, qty)
            assert live == estimate_slippage(frozen, side, qty)
            assert live.touch == touch and live.levels > 1
            assert live.slippage_bps > live.touch_bps > 0
        n += 1
    assert n == 5
