"""dYdX v4 indexer rows as venue-neutral values: orders, fills, the statuses of the lifecycle.

The indexer (REST `/v4/orders`, `/v4/fills`) is where a v4 client sees what the chain did with
its orders. Sans-I/O: rows in, `VenueOrder` / `Fill` out; a row without a field nzeza needs is
a `VenueError` (code `bad_response`) naming it, never a guessed default.

Order lifecycle as the indexer reports it:

| status | meaning | nzeza |
|---|---|---|
| BEST_EFFORT_OPENED | a short-term order seen by the indexer's node, not yet final | accepted |
| OPEN | on the book (long-term: in chain state) | accepted / partially filled |
| UNTRIGGERED | a conditional order waiting for its trigger | accepted |
| FILLED | completely filled | filled |
| BEST_EFFORT_CANCELED | a short-term order removed (IOC remainder, expired, cancelled) | canceled |
| CANCELED | cancelled or expired (a long-term order past its good-til-block-time) | canceled |

Fills carry `createdAt` (RFC 3339), `createdAtHeight`, the indexer's `orderId`, a `fee` in USDC
that is negative for a maker rebate, and come newest first, `limit` at a time.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from nzeza.domain import Fill, OrderStatus, OrderType, Side
from nzeza.errors import ParseError, ValidationError, VenueError, show_value
from nzeza.feeds._wire import iso_to_ns
from nzeza.venues.base import VenueFunding, VenueOrder

VENUE = "dydx"
STATUS = {
    "BEST_EFFORT_OPENED": OrderStatus.ACCEPTED,
    "OPEN": OrderStatus.ACCEPTED,
    "UNTRIGGERED": OrderStatus.ACCEPTED,
    "FILLED": OrderStatus.FILLED,
    "BEST_EFFORT_CANCELED": OrderStatus.CANCELED,
    "CANCELED": OrderStatus.CANCELED,
}
OPEN_STATUSES = ("BEST_EFFORT_OPENED", "OPEN", "UNTRIGGERED")
FINAL = (OrderStatus.FILLED, OrderStatus.CANCELED)


def bad(what: str, field: str, row: Any) -> VenueError:
    return VenueError(
        VENUE,
        f"the indexer's {what} has no valid {field}: {show_value(row)}",
        retryable=True,  # its state is unknown: look again rather than assume
        code="bad_response",
    )


def need(row: dict[str, Any], field: str, what: str) -> Any:
    value = row.get(field) if isinstance(row, dict) else None
    if value is None or value == "":
        raise bad(what, field, row)
    return value


def decimal_of(row: dict[str, Any], field: str, what: str) -> Decimal:
    try:
        value = Decimal(str(need(row, field, what)))
    except InvalidOperation:
        raise bad(what, field, row) from None
    if not value.is_finite():
        raise bad(what, field, row)
    return value


def order_view(row: dict[str, Any], venue: str = VENUE) -> VenueOrder:
    """An indexer order row as a VenueOrder (avg price unknown here: fills carry prices)."""
    what = "order"
    status = STATUS.get(str(need(row, "status", what)))
    if status is None:
        raise bad(what, "status", row)
    size, filled = decimal_of(row, "size", what), decimal_of(row, "totalFilled", what)
    if status is OrderStatus.ACCEPTED and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    side = str(need(row, "side", what)).lower()
    if side not in ("buy", "sell"):
        raise bad(what, "side", row)
    kind = str(need(row, "type", what)).lower()
    updated = row.get("updatedAt")
    return VenueOrder(
        str(need(row, "clientId", what)),
        str(need(row, "id", what)),
        f"{venue}:{need(row, 'ticker', what)}",
        Side(side),
        # stop and take-profit orders rest like limits until triggered
        OrderType.MARKET if kind == "market" else OrderType.LIMIT,
        size,
        decimal_of(row, "price", what),
        status,
        filled,
        None,
        _ns(updated, what, row) if updated else 0,
    )


def fill_of(row: dict[str, Any], client_id: str, instrument_id: str) -> Fill:
    """An indexer fill row as a Fill of the order with `client_id`."""
    what = "fill"
    side: Any = str(need(row, "side", what)).lower()  # Fill validates it (a ValidationError)
    try:
        return Fill(
            str(need(row, "id", what)),
            client_id,
            instrument_id,
            side,
            decimal_of(row, "size", what),
            decimal_of(row, "price", what),
            decimal_of(row, "fee", what),  # negative: a maker rebate
            "USDC",
            _ns(need(row, "createdAt", what), what, row),
        )
    except ValidationError as exc:
        raise VenueError(
            VENUE, f"a fill is not valid: {exc}", retryable=False, code="bad_response"
        ) from None


def funding_of(row: dict[str, Any], instrument_id: str) -> VenueFunding:
    """An indexer funding payment (`/v4/fundingPayments`: createdAt, payment, rate, size,
    side, oraclePrice) as a VenueFunding; the position signed by `side` (SHORT < 0)."""
    what = "funding payment"
    size = abs(decimal_of(row, "size", what))
    side = str(need(row, "side", what)).upper()
    if side not in ("LONG", "SHORT"):
        raise bad(what, "side", row)
    return VenueFunding(
        instrument_id,
        _ns(need(row, "createdAt", what), what, row),
        decimal_of(row, "payment", what),
        decimal_of(row, "rate", what),
        size if side == "LONG" else -size,
    )


def _ns(text: Any, what: str, row: Any) -> int:
    try:
        return iso_to_ns(text, VENUE, "createdAt")
    except ParseError:
        raise bad(what, "timestamp", row) from None


__all__ = ["FINAL", "OPEN_STATUSES", "STATUS", "fill_of", "funding_of", "order_view"]
