"""Order intents: what the engine wants to trade, before risk and before a venue sees it.

An intent is a value: instrument id, side, quantity, type, prices, time in force and the
reduce-only flag. `validate_intent` checks it against the known instruments and returns the
same intent with Decimal fields on the instrument's grid, or raises a `ValidationError` that
names the field and the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from nzeza.domain.enums import OrderType, Side, TimeInForce
from nzeza.domain.instrument import Instrument
from nzeza.domain.numbers import to_decimal
from nzeza.errors import ValidationError


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order the engine would like to place. Quantities in base units, prices in quote.

    `tag` is free text for the journal (e.g. "target", "stop", "flatten"); `seq` is the
    decision sequence the client order id is derived from.
    """

    instrument_id: str
    side: Side | str
    quantity: Decimal
    type: OrderType | str = OrderType.MARKET
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce | str = TimeInForce.GTC
    reduce_only: bool = False
    tag: str = ""
    seq: int = 0

    @property
    def signed_qty(self) -> Decimal:
        return self.quantity if Side(self.side) is Side.BUY else -self.quantity

    def with_changes(self, **changes: Any) -> OrderIntent:
        return replace(self, **changes)


def _enum(cls: Any, value: Any, field: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise ValidationError(field, value, f"must be one of {allowed}") from None


def validate_intent(
    intent: OrderIntent, instruments: Mapping[str, Instrument], reference_price: Any = None
) -> OrderIntent:
    """Check an intent; return it normalised (enums, Decimals) or raise `ValidationError`.

    Rules: known instrument; side, type and time in force valid; quantity positive, finite and
    on the lot (and ≥ min_qty); limit/stop prices on the tick; the notional (at the limit
    price, else at `reference_price` when given) at least the instrument's minimum notional.
    """
    inst = instruments.get(intent.instrument_id)
    if inst is None:
        raise ValidationError("instrument_id", intent.instrument_id, "is not a known instrument")
    side = _enum(Side, intent.side, "side")
    otype = _enum(OrderType, intent.type, "type")
    tif = _enum(TimeInForce, intent.time_in_force, "time_in_force")
    qty = inst.check_qty(to_decimal(intent.quantity, "quantity"), "quantity")
    price = stop = None
    if otype in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        if intent.price is None:
            raise ValidationError("price", None, f"is required for a {otype} order")
        price = inst.check_price(intent.price, "price")
    elif intent.price is not None:
        raise ValidationError("price", intent.price, f"must not be set on a {otype} order")
    if otype in (OrderType.STOP, OrderType.STOP_LIMIT):
        if intent.stop_price is None:
            raise ValidationError("stop_price", None, f"is required for a {otype} order")
        stop = inst.check_price(intent.stop_price, "stop_price")
    elif intent.stop_price is not None:
        raise ValidationError("stop_price", intent.stop_price, f"must not be set on a {otype}")
    if tif is TimeInForce.POST_ONLY and otype is not OrderType.LIMIT:
        raise ValidationError("time_in_force", tif.value, "is only valid on limit orders")
    if not isinstance(intent.reduce_only, bool):
        raise ValidationError("reduce_only", intent.reduce_only, "must be true or false")
    notional_price = (
        price
        or stop
        or (to_decimal(reference_price, "reference_price") if reference_price is not None else None)
    )
    if notional_price is not None:
        inst.check_notional(qty, notional_price)
    return replace(
        intent,
        side=side,
        type=otype,
        time_in_force=tif,
        quantity=qty,
        price=price,
        stop_price=stop,
    )


__all__ = [
    "OrderIntent",
    "validate_intent",
]
