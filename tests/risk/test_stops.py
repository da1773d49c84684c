"""Locally managed stop-loss, take-profit and trailing stops (percent and ATR)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nzeza.domain import Side
from nzeza.errors import ValidationError
from nzeza.risk import StopManager, StopSpec

D = Decimal
ID = "binance:BTC/USDT"


def test_long_stop_loss_and_take_profit():
    m = StopManager()
    m.arm(ID, D(2), D(100), StopSpec(stop_loss=D("0.02"), take_profit=D("0.05")))
    assert m.on_price(ID, D("98.01")) == []
    [out] = m.on_price(ID, D(98))
    assert (out.side, out.quantity, out.reduce_only, out.tag) == (
        Side.SELL,
        D(2),
        True,
        "stop_loss",
    )
    assert not m.is_armed(ID) and m.on_price(ID, D(50)) == []
    m.arm(ID, D(2), D(100), StopSpec(stop_loss=D("0.02"), take_profit=D("0.05")))
    assert m.on_price(ID, D("104.99")) == []
    assert m.on_price(ID, D(105))[0].tag == "take_profit"


def test_short_stops_mirror():
    m = StopManager()
    m.arm(ID, D(-1), D(100), StopSpec(stop_loss=D("0.02"), take_profit=D("0.05")))
    assert m.on_price(ID, D("101.99")) == []
    [out] = m.on_price(ID, D(102))
    assert out.side is Side.BUY and out.tag == "stop_loss"


def test_trailing_percent_follows_the_high():
    m = StopManager()
    m.arm(ID, D(1), D(100), StopSpec(trailing_pct=D("0.1")))
    for p in (105, 120, 110):
        assert m.on_price(ID, D(p)) == []
    assert m.levels(ID)["trailing_stop"] == D(108)  # 120 × 0.9
    assert m.on_price(ID, D("108.01")) == []
    assert m.on_price(ID, D(108))[0].tag == "trailing_stop"


def test_trailing_atr_uses_the_latest_atr():
    m = StopManager()
    m.arm(ID, D(-1), D(100), StopSpec(trailing_atr=D(2)), atr=D(3))
    assert m.on_price(ID, D(90)) == []  # low 90, stop 96
    assert m.levels(ID)["trailing_stop"] == D(96)
    assert m.on_price(ID, D(95), atr=D(3)) == []  # 95 < 96
    # A smaller ATR tightens the stop to 90 + 2 × 1 = 92 before the price is judged.
    [out] = m.on_price(ID, D(93), atr=D(1))
    assert out.side is Side.BUY and out.tag == "trailing_stop"


def test_specs_are_validated():
    with pytest.raises(ValidationError):
        StopSpec(stop_loss=D("1.5"))
    with pytest.raises(ValidationError):
        StopSpec(trailing_pct=D("0.1"), trailing_atr=D(2))
    with pytest.raises(ValidationError):
        StopManager().arm(ID, D(1), D(100), StopSpec(trailing_atr=D(2)))


@given(st.lists(st.decimals(min_value=50, max_value=200, places=2), min_size=1, max_size=40))
def test_long_trailing_stop_never_loosens(prices):
    m = StopManager()
    m.arm(ID, D(1), D(100), StopSpec(trailing_pct=D("0.05")))
    last = m.levels(ID)["trailing_stop"]
    for p in prices:
        if m.on_price(ID, p):
            assert p <= last
            break
        level = m.levels(ID)["trailing_stop"]
        assert level >= last
        last = level
