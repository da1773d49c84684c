"""Slippage protection on books rebuilt from the real Binance BTCUSDT capture."""

from __future__ import annotations

from decimal import Decimal

import pytest
from execution.capture_books import rebuilt_books, snapshot_book
from risk.riskkit import BTC, INSTRUMENTS, buy, ctx, sell

from nzeza.domain import OrderType, TimeInForce
from nzeza.execution import estimate_slippage
from nzeza.risk import Action, RiskConfig, RiskEngine

D = Decimal
BOOK = snapshot_book()


def _eng(limit, how="reject") -> RiskEngine:
    return RiskEngine(RiskConfig(max_slippage_bps=limit, on_slippage_breach=how), INSTRUMENTS)


@pytest.mark.parametrize("qty", ["0.5", "5", "20"])
def test_slippage_at_under_over_the_estimate(qty):
    est = estimate_slippage(BOOK, "buy", D(qty))
    assert est.slippage_bps > 0
    c = ctx(book=BOOK)
    at = _eng(est.slippage_bps).check(buy(qty), c)
    assert at.action is Action.ACCEPT and at.slippage == est
    assert _eng(est.slippage_bps * D("1.0001")).check(buy(qty), c).accepted
    rej = _eng(est.slippage_bps * D("0.9999")).check(buy(qty), c).rejection
    assert rej.check == "slippage" and rej.value == est.slippage_bps


def test_default_limit_is_50_bps_and_rejects_a_book_sweep():
    eng = RiskEngine(RiskConfig(), INSTRUMENTS)
    total_asks = sum(s for _, s in BOOK.asks)
    assert eng.check(buy("1"), ctx(book=BOOK)).accepted
    d = eng.check(buy(str(total_asks + 1)), ctx(book=BOOK))  # more than the book holds
    assert d.rejection.check == "slippage" and d.rejection.value is None
    assert "insufficient liquidity" in d.rejection.detail


def test_breach_switches_to_an_ioc_limit_at_the_band_edge():
    est = estimate_slippage(BOOK, "sell", D(20))
    limit = est.slippage_bps / 2
    d = _eng(limit, "limit").check(sell("20"), ctx(book=BOOK))
    assert d.action is Action.AMEND
    assert d.intent.type is OrderType.LIMIT and d.intent.time_in_force is TimeInForce.IOC
    edge = est.mid * (1 - limit / 10_000)
    assert d.intent.price >= edge and d.intent.price - edge < BTC.tick_size
    assert d.intent.price % BTC.tick_size == 0


def test_breach_can_hand_over_to_twap():
    d = _eng(D("0.01"), "twap").check(buy("20"), ctx(book=BOOK))
    assert d.action is Action.TWAP and d.intent.quantity == D(20)


def test_limit_orders_are_not_slippage_checked():
    d = _eng(D("0.01")).check(buy("20", type="limit", price=D(61000)), ctx(book=BOOK))
    assert d.accepted


def test_on_every_verified_book_of_the_capture():
    eng = _eng(D(50))
    n = 0
    for book in rebuilt_books():
        est = estimate_slippage(book, "buy", D(2))
        assert eng.check(buy("2"), ctx(book=book)).accepted == (est.slippage_bps <= 50)
        n += 1
    assert n > 40
