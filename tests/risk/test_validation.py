"""Order validation names the field and the value; the instrument rules at, under and over.

BTC/USDT here: tick 0.01, lot 0.00001, min qty 0.00001, min notional 5 (see riskkit).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from risk.riskkit import BTC, INSTRUMENTS, buy, ctx

from nzeza.domain.intent import OrderIntent, validate_intent
from nzeza.errors import ValidationError
from nzeza.risk import RiskConfig, RiskEngine

D = Decimal
KNOWN = {i.id: i for i in INSTRUMENTS}


def _intent(**kw) -> OrderIntent:
    base = dict(instrument_id=BTC.id, side="buy", quantity=D("0.1"))
    base.update(kw)
    return OrderIntent(**base)


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"quantity": D(0)}, "quantity", D(0)),
        ({"quantity": D("-0.1")}, "quantity", D("-0.1")),
        ({"quantity": D("NaN")}, "quantity", D("NaN")),
        ({"quantity": D("Infinity")}, "quantity", D("Infinity")),
        ({"quantity": "ten"}, "quantity", "ten"),
        ({"quantity": D("0.100001")}, "quantity", D("0.100001")),  # off the lot
        ({"instrument_id": "binance:DOGE/USDT"}, "instrument_id", "binance:DOGE/USDT"),
        ({"side": "hold"}, "side", "hold"),
        ({"time_in_force": "forever"}, "time_in_force", "forever"),
        ({"type": "iceberg"}, "type", "iceberg"),
        ({"type": "limit"}, "price", None),  # a limit order needs its price
        ({"type": "limit", "price": D("60000.005")}, "price", D("60000.005")),  # off the tick
        ({"type": "limit", "price": D(-1)}, "price", D(-1)),
        ({"price": D(60000)}, "price", D(60000)),  # a market order carries no price
        ({"type": "market", "time_in_force": "post_only"}, "time_in_force", "post_only"),
        ({"type": "stop"}, "stop_price", None),
        ({"reduce_only": "yes"}, "reduce_only", "yes"),
    ],
)
def test_bad_intent_is_a_validation_error_naming_field_and_value(changes, field, value):
    with pytest.raises(ValidationError) as err:
        validate_intent(_intent(**changes), KNOWN)
    assert err.value.field == field
    if isinstance(value, Decimal) and value.is_nan():
        assert err.value.value.is_nan()
    else:
        assert err.value.value == value
    assert field in str(err.value)


def test_valid_intent_is_normalised_to_enums_and_the_grid():
    out = validate_intent(
        _intent(side="sell", type="limit", price="60000.01", time_in_force="ioc"), KNOWN
    )
    assert (out.side.value, out.type.value, out.time_in_force.value) == ("sell", "limit", "ioc")
    assert out.price == D("60000.01") and out.quantity == D("0.1")


@pytest.mark.parametrize(
    ("price", "accepted"),
    [
        ("49999.99", False),
        ("50000", True),
        ("50000.01", True),
    ],  # × 0.0001 = 4.999999 / 5 / 5.000001
)
def test_min_notional_at_under_over(price, accepted):
    eng = RiskEngine(RiskConfig(), INSTRUMENTS)
    d = eng.check(buy("0.0001", type="limit", price=D(price)), ctx())
    assert d.accepted is accepted
    if not accepted:
        assert d.rejection.check == "instrument" and d.rejection.detail == "field notional"
        assert d.rejection.value == D("4.999999")


@pytest.mark.parametrize(
    ("qty", "accepted"),
    [("0.000009", False), ("0.00001", True), ("0.00002", True)],  # min qty 0.00001, lot 0.00001
)
def test_min_qty_and_lot_at_under_over(qty, accepted):
    eng = RiskEngine(RiskConfig(), INSTRUMENTS)
    # Priced high enough that min notional never binds here.
    d = eng.check(buy(qty, type="limit", price=D(1_000_000)), ctx())
    assert d.accepted is accepted
    if not accepted:
        assert d.rejection.check == "instrument" and d.rejection.value == D(qty)


def test_a_rejection_from_validation_is_counted_and_journaled():
    seen = []
    eng = RiskEngine(RiskConfig(), INSTRUMENTS, journal=lambda r, i, ts: seen.append(r))
    eng.check(buy("0.000001"), ctx())
    assert eng.rejections == {"instrument": 1} and seen[0].check == "instrument"
    assert "quantity" in str(seen[0]) and "0.000001" in str(seen[0])
