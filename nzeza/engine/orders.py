"""A session's own orders: domain `Order`s kept in step with what the venue reports.

The session sends orders by deterministic client id (`nzeza.execution.client_ids`), so its
orders at a venue are recognised after a restart: by the id's session prefix
(`order_prefix`) where the venue's format has room for one, else by the ledger's table of the
session's ids (dYdX); `Trader.ids.owns(cid)` answers for both. These helpers turn the venue's
views (`VenueOrder`) and fills into events on the domain `Order`, so the ledger's `orders` and
`order_events` tables follow the same state machine as everything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from nzeza.domain import (
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
    OrderType,
    TimeInForce,
)
from nzeza.errors import ValidationError
from nzeza.execution.client_ids import session_prefix
from nzeza.venues.base import VenueOrder


def order_prefix(session_id: str, venue: str = "paper") -> str | None:
    """The client order id prefix shared by every order of `session_id` on `venue` (None
    where the venue's ids have no room for one: the ledger maps them, see `ClientIds`)."""
    return session_prefix(session_id, venue)


def new_order(
    cid: str,
    instrument: Instrument,
    side: str,
    quantity: object,
    ts: int,
    kind: str = "market",
    price: Decimal | None = None,
) -> Order:
    """An order as the session sends it, already marked submitted: market, or an order
    policy's `kind` (limit | post_only | stop) at `price` (the limit, or the stop's trigger)."""
    extra: dict[str, Any] = {}
    if kind in ("limit", "post_only"):
        extra = {"type": OrderType.LIMIT, "price": price}
        if kind == "post_only":
            extra["time_in_force"] = TimeInForce.POST_ONLY
    elif kind == "stop":
        extra = {"type": OrderType.STOP, "stop_price": price}
    order = Order(cid, instrument, side, quantity, **extra)  # type: ignore[arg-type]
    order.apply(OrderSubmitted(ts))
    return order


def order_from_view(view: VenueOrder, instrument: Instrument) -> Order | None:
    """A domain order for an order found at the venue (None if its values are off our grid)."""
    # a stop's price is its trigger; a limit's, its limit (with its time in force)
    extra: dict[str, Any] = (
        {"stop_price": view.price}
        if view.type is OrderType.STOP
        else {"price": view.price, "time_in_force": view.time_in_force}
    )
    try:
        order = Order(
            view.client_order_id, instrument, view.side, view.quantity, type=view.type, **extra
        )
    except ValidationError:
        return None
    order.apply(OrderSubmitted(view.ts))
    return order


def follow(order: Order, view: VenueOrder | None, fills: Iterable[Fill] = ()) -> list[str]:
    """Move `order` to what the venue reports: accept, fills (once each), then a final state.

    Returns the names of the events applied, in order.
    """
    applied: list[str] = []
    if view is not None and view.status is OrderStatus.REJECTED:
        if order.can("reject"):
            order.apply(OrderRejected("rejected by the venue", view.ts))
            applied.append("rejected")
        return applied
    if order.status is OrderStatus.SUBMITTED and view is not None:
        order.apply(OrderAccepted(view.venue_order_id or None, view.ts))
        applied.append("accepted")
    for fill in fills:
        mine = fill.order_id == order.client_order_id
        if mine and order.can("fill") and order.apply(OrderFilled(fill)):
            applied.append("fill")
    if view is not None:
        if view.status is OrderStatus.CANCELED and order.can("cancel"):
            order.apply(OrderCanceled("canceled at the venue", view.ts))
            applied.append("canceled")
        elif view.status is OrderStatus.EXPIRED and order.can("expire"):
            order.apply(OrderExpired(view.ts))
            applied.append("expired")
    return applied


__all__ = [
    "follow",
    "new_order",
    "order_from_view",
    "order_prefix",
]
