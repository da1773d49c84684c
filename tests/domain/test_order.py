"""Order validation and the order state machine."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nzeza.domain import (
    TRANSITIONS,
    Fill,
    Instrument,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderSubmitted,
    state_diagram,
)
from nzeza.errors import OrderStateError, ValidationError

BTC = Instrument(
    "paper",
    "BTC/USDT",
    "BTC",
    "USDT",
    Decimal("0.1"),
    Decimal("0.001"),
    Decimal("0.001"),
    Decimal(5),
)


def order(**kw) -> Order:
    base = dict(client_order_id="c1", instrument=BTC, side="buy", quantity=Decimal("1.000"))
    base.update(kw)
    return Order(**base)


def fill(qty: str, trade_id: str = "t", order_id: str = "c1", side: str = "buy") -> OrderFilled:
    return OrderFilled(
        Fill(trade_id, order_id, BTC.id, side, Decimal(qty), Decimal(100), 0, "USDT", 1)
    )


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"quantity": Decimal("0.0005")}, "quantity"),  # off lot
        ({"quantity": Decimal("-1")}, "quantity"),
        ({"quantity": float("nan")}, "quantity"),
        ({"quantity": float("inf")}, "quantity"),
        ({"type": "limit"}, "price"),  # limit without price
        ({"type": "limit", "price": Decimal("100.05")}, "price"),  # off tick
        ({"type": "market", "price": Decimal(100)}, "price"),
        ({"type": "stop"}, "stop_price"),
        ({"type": "limit", "price": Decimal(1), "quantity": Decimal("0.001")}, "notional"),
        ({"side": "long"}, "side"),
        ({"time_in_force": "forever"}, "time_in_force"),
        ({"time_in_force": "post_only"}, "time_in_force"),  # post-only on a market order
        ({"client_order_id": ""}, "client_order_id"),
    ],
)
def test_bad_orders_name_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        order(**kw)
    assert err.value.field == field
    assert field in str(err.value)


def test_happy_path_to_filled() -> None:
    o = order(type="limit", price=Decimal(100), time_in_force="post_only")
    o.apply(OrderSubmitted())
    o.apply(OrderAccepted("v1"))
    o.apply(fill("0.4", "t1"))
    assert o.status is OrderStatus.PARTIALLY_FILLED
    o.apply(fill("0.6", "t2"))
    assert o.status is OrderStatus.FILLED
    assert o.filled_qty == Decimal(1)
    assert o.venue_order_id == "v1"
    with pytest.raises(OrderStateError):
        o.apply(OrderCanceled())


def test_overfill_raises_and_changes_nothing() -> None:
    o = order()
    o.apply(OrderSubmitted())
    o.apply(fill("0.9", "t1"))
    with pytest.raises(ValidationError, match="more than the order quantity"):
        o.apply(fill("0.2", "t2"))
    assert o.filled_qty == Decimal("0.9")
    assert o.status is OrderStatus.PARTIALLY_FILLED


def test_duplicate_fill_is_ignored() -> None:
    o = order()
    o.apply(OrderSubmitted())
    assert o.apply(fill("0.5", "t1"))
    assert not o.apply(fill("0.5", "t1"))
    assert o.filled_qty == Decimal("0.5")


def test_fill_from_another_order_is_rejected() -> None:
    o = order()
    o.apply(OrderSubmitted())
    with pytest.raises(ValidationError):
        o.apply(fill("0.5", "t1", order_id="other"))


EVENTS = {
    "submit": lambda i: OrderSubmitted(),
    "accept": lambda i: OrderAccepted(f"v{i}"),
    "reject": lambda i: OrderRejected("no"),
    "cancel": lambda i: OrderCanceled(),
    "expire": lambda i: OrderExpired(),
    "fill": lambda i: fill("0.25", f"t{i}"),
}


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(sorted(EVENTS)), max_size=12))
def test_state_machine_follows_the_table(kinds: list[str]) -> None:
    o = order()
    for i, kind in enumerate(kinds):
        before = o.status
        allowed = kind in TRANSITIONS[before]
        overfill = kind == "fill" and o.filled_qty + Decimal("0.25") > o.quantity
        if allowed and not overfill:
            o.apply(EVENTS[kind](i))
            if kind == "fill":
                expect = (
                    OrderStatus.FILLED
                    if o.filled_qty == o.quantity
                    else OrderStatus.PARTIALLY_FILLED
                )
                assert o.status is expect
            else:
                assert o.status is TRANSITIONS[before][kind]
        else:
            with pytest.raises((OrderStateError, ValidationError)):
                o.apply(EVENTS[kind](i))
            assert o.status is before
        assert o.filled_qty <= o.quantity
        if before.is_terminal:
            assert o.status is before


def test_diagram_is_generated_from_the_table() -> None:
    text = state_diagram()
    for state, moves in TRANSITIONS.items():
        for event, target in moves.items():
            assert f"{state} --> {target}: {event}" in text
