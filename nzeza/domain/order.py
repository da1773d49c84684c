"""Orders and their state machine.

An `Order` changes only by `order.apply(event)`. The allowed transitions are data
(`TRANSITIONS`), in the style of h11: anything not in the table raises `OrderStateError`, and
a fill can never take the filled quantity past the order quantity.

    NEW ──submit──► SUBMITTED ──accept──► ACCEPTED ──fill──► PARTIALLY_FILLED ──fill──► FILLED
     │                 │  │                 │                    │
     │                 │  └─fill (ack lost or IOC)───────────────┤
     ├─reject──► REJECTED ◄─reject─┘        ├─cancel/expire──► CANCELED / EXPIRED ◄─┘
     └─cancel──► CANCELED
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from nzeza.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from nzeza.domain.fill import Fill
from nzeza.domain.instrument import Instrument
from nzeza.domain.numbers import ZERO
from nzeza.errors import OrderStateError, ValidationError

S = OrderStatus
# {state: {event kind: new state}}; "fill" lands in PARTIALLY_FILLED and is promoted to FILLED
# when the filled quantity reaches the order quantity.
TRANSITIONS: dict[OrderStatus, dict[str, OrderStatus]] = {
    S.NEW: {"submit": S.SUBMITTED, "reject": S.REJECTED, "cancel": S.CANCELED},
    S.SUBMITTED: {
        "accept": S.ACCEPTED,
        "reject": S.REJECTED,
        "fill": S.PARTIALLY_FILLED,
        "cancel": S.CANCELED,
        "expire": S.EXPIRED,
    },
    S.ACCEPTED: {"fill": S.PARTIALLY_FILLED, "cancel": S.CANCELED, "expire": S.EXPIRED},
    S.PARTIALLY_FILLED: {"fill": S.PARTIALLY_FILLED, "cancel": S.CANCELED, "expire": S.EXPIRED},
    S.FILLED: {},
    S.CANCELED: {},
    S.REJECTED: {},
    S.EXPIRED: {},
}


# -- events (past tense) ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OrderSubmitted:
    ts: int = 0
    kind = "submit"


@dataclass(frozen=True, slots=True)
class OrderAccepted:
    venue_order_id: str | None = None
    ts: int = 0
    kind = "accept"


@dataclass(frozen=True, slots=True)
class OrderRejected:
    reason: str = ""
    ts: int = 0
    kind = "reject"


@dataclass(frozen=True, slots=True)
class OrderCanceled:
    reason: str = ""
    ts: int = 0
    kind = "cancel"


@dataclass(frozen=True, slots=True)
class OrderExpired:
    ts: int = 0
    kind = "expire"


@dataclass(frozen=True, slots=True)
class OrderFilled:
    fill: Fill
    kind = "fill"


OrderEvent = (
    OrderSubmitted | OrderAccepted | OrderRejected | OrderCanceled | OrderExpired | OrderFilled
)


def state_diagram() -> str:
    """The transition table as a Mermaid state diagram (generated, never hand-drawn)."""
    lines = ["stateDiagram-v2", "    [*] --> new"]
    for state, moves in TRANSITIONS.items():
        for event, target in moves.items():
            lines.append(f"    {state} --> {target}: {event}")
            if event == "fill" and target is S.PARTIALLY_FILLED:
                lines.append(f"    {state} --> filled: fill (complete)")
        if not moves:
            lines.append(f"    {state} --> [*]")
    return "\n".join(dict.fromkeys(lines))


@dataclass(slots=True)
class Order:
    """One order and everything that happened to it.

    Prices and quantities must already be on the instrument's grid (make them with
    `instrument.make_price` / `make_qty`); the constructor checks, and checks that the type,
    prices and time in force agree.
    """

    client_order_id: str
    instrument: Instrument
    side: Side
    quantity: Decimal
    type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    status: OrderStatus = field(default=OrderStatus.NEW, init=False)
    filled_qty: Decimal = field(default=ZERO, init=False)
    avg_fill_price: Decimal | None = field(default=None, init=False)
    venue_order_id: str | None = field(default=None, init=False)
    reason: str = field(default="", init=False)
    fills: list[Fill] = field(default_factory=list, init=False)
    _trade_ids: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.client_order_id, str) or not 0 < len(self.client_order_id) <= 64:
            raise ValidationError(
                "client_order_id", self.client_order_id, "must be 1 to 64 characters"
            )
        self.side = _enum(Side, self.side, "side")
        self.type = _enum(OrderType, self.type, "type")
        self.time_in_force = _enum(TimeInForce, self.time_in_force, "time_in_force")
        self.quantity = self.instrument.check_qty(self.quantity, "quantity")
        needs_price = self.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = self.type in (OrderType.STOP, OrderType.STOP_LIMIT)
        if needs_price:
            if self.price is None:
                raise ValidationError("price", None, f"is required for a {self.type} order")
            self.price = self.instrument.check_price(self.price, "price")
            self.instrument.check_notional(self.quantity, self.price)
        elif self.price is not None:
            raise ValidationError("price", self.price, f"must not be set on a {self.type} order")
        if needs_stop:
            if self.stop_price is None:
                raise ValidationError("stop_price", None, f"is required for a {self.type} order")
            self.stop_price = self.instrument.check_price(self.stop_price, "stop_price")
        elif self.stop_price is not None:
            raise ValidationError(
                "stop_price", self.stop_price, f"must not be set on a {self.type} order"
            )
        if self.time_in_force is TimeInForce.POST_ONLY and self.type is not OrderType.LIMIT:
            raise ValidationError("time_in_force", "post_only", "is only valid on limit orders")
        if not isinstance(self.reduce_only, bool):
            raise ValidationError("reduce_only", self.reduce_only, "must be true or false")

    @property
    def remaining_qty(self) -> Decimal:
        return self.quantity - self.filled_qty

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    def can(self, kind: str) -> bool:
        return kind in TRANSITIONS[self.status]

    def apply(self, event: OrderEvent) -> bool:
        """Apply one event. Returns False for an already-applied fill (same trade id)."""
        kind = event.kind
        if isinstance(event, OrderFilled) and event.fill.trade_id in self._trade_ids:
            return False  # venues resend fills after reconnects; applying twice would double it
        target = TRANSITIONS[self.status].get(kind)
        if target is None:
            raise OrderStateError(self.client_order_id, self.status.value, kind)
        if isinstance(event, OrderFilled):
            self._apply_fill(event.fill)
            target = S.FILLED if self.filled_qty == self.quantity else S.PARTIALLY_FILLED
        elif isinstance(event, OrderAccepted):
            self.venue_order_id = event.venue_order_id or self.venue_order_id
        elif isinstance(event, OrderRejected | OrderCanceled):
            self.reason = event.reason
        self.status = target
        return True

    def _apply_fill(self, fill: Fill) -> None:
        if fill.order_id != self.client_order_id:
            raise ValidationError("fill.order_id", fill.order_id, "belongs to another order")
        if fill.side is not self.side:
            raise ValidationError("fill.side", fill.side.value, f"order side is {self.side}")
        if fill.instrument_id != self.instrument.id:
            raise ValidationError("fill.instrument_id", fill.instrument_id, "wrong instrument")
        new_filled = self.filled_qty + fill.quantity
        if new_filled > self.quantity:
            raise ValidationError(
                "fill.quantity",
                fill.quantity,
                f"would fill {new_filled}, more than the order quantity {self.quantity}",
            )
        notional = (self.avg_fill_price or ZERO) * self.filled_qty + fill.price * fill.quantity
        self.avg_fill_price = notional / new_filled
        self.filled_qty = new_filled
        self.fills.append(fill)
        self._trade_ids.add(fill.trade_id)


def _enum(cls: Any, value: Any, field_name: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise ValidationError(field_name, value, f"must be one of {allowed}") from None


__all__ = [
    "TRANSITIONS",
    "Order",
    "OrderAccepted",
    "OrderCanceled",
    "OrderEvent",
    "OrderExpired",
    "OrderFilled",
    "OrderRejected",
    "OrderSubmitted",
    "S",
    "state_diagram",
]
