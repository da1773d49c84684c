from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nzeza.domain import Costs, Instrument
from nzeza.errors import ValidationError

BTC = Instrument(
    "binance",
    "BTC/USDT",
    "BTC",
    "USDT",
    Decimal("0.01"),
    Decimal("0.00001"),
    Decimal("0.00001"),
    Decimal(5),
)


def test_id() -> None:
    assert BTC.id == "binance:BTC/USDT"


@pytest.mark.parametrize(
    ("value", "rounding", "expected"),
    [
        ("100.005", ROUND_HALF_EVEN, "100.00"),
        ("100.015", ROUND_HALF_EVEN, "100.02"),
        ("100.001", ROUND_UP, "100.01"),
        ("100.019", ROUND_DOWN, "100.01"),
        (100.1, ROUND_HALF_EVEN, "100.10"),  # float via repr, not binary expansion
    ],
)
def test_make_price_rounds_as_told(value, rounding, expected) -> None:
    assert str(BTC.make_price(value, rounding)) == expected


def test_make_qty_rounds_down_by_default() -> None:
    assert BTC.make_qty("0.123456789") == Decimal("0.12345")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1, "abc", None, True, [1]])
def test_non_finite_negative_or_non_numeric_rejected(bad) -> None:
    with pytest.raises(ValidationError) as err:
        BTC.make_price(bad)
    assert err.value.field == "price"


def test_off_grid_rejected_by_check() -> None:
    with pytest.raises(ValidationError, match="tick size"):
        BTC.check_price("100.001")
    with pytest.raises(ValidationError, match="lot size"):
        BTC.check_qty("0.000015")
    with pytest.raises(ValidationError, match="minimum notional"):
        BTC.check_notional("0.0001", "100")


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**7), places=6))
def test_made_prices_are_on_grid(value: Decimal) -> None:
    price = BTC.make_price(value)
    assert price % BTC.tick_size == 0
    assert abs(price - value) <= BTC.tick_size / 2
    assert BTC.check_price(price) == price


def test_bad_instrument_definition() -> None:
    with pytest.raises(ValidationError) as err:
        Instrument("x", "A/B", "A", "B", Decimal(0), Decimal(1))
    assert err.value.field == "tick_size"


def test_costs_validation_and_prices() -> None:
    c = Costs(fee=0.001, slippage=0.0005)
    assert c.fill_price("buy", 100.0) == pytest.approx(100.05)
    assert c.fill_price("sell", Decimal(100)) == Decimal("99.9500")
    assert c.scaled(2) == Costs(0.002, 0.001)
    with pytest.raises(ValidationError) as err:
        Costs(fee=10)  # 10 bps given as a number of bps
    assert err.value.field == "fee"


@pytest.mark.parametrize("bad", [float("nan"), float("-inf"), -0.1, "1e400x", None])
def test_quantities_reject_non_finite_negative_and_junk(bad) -> None:
    with pytest.raises(ValidationError) as err:
        BTC.make_qty(bad)
    assert err.value.field == "quantity"
    with pytest.raises(ValidationError) as err:
        BTC.check_qty(bad)
    assert err.value.field == "quantity"


def test_quantity_below_minimum_and_unknown_rounding_mode_are_named() -> None:
    with pytest.raises(ValidationError, match="minimum quantity"):
        Instrument(
            "x", "A/B", "A", "B", Decimal("0.01"), Decimal("0.001"), Decimal("0.01")
        ).check_qty("0.005")
    with pytest.raises(ValidationError) as err:
        BTC.make_price("100", rounding="ROUND_CEILING")
    assert err.value.field == "rounding"
