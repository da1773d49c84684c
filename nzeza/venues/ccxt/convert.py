"""ccxt's unified dicts (markets, orders, trades, balances, positions) as nzeza's types.

Pure functions, tested without an exchange. A response that lacks the side, type, status,
amount or timestamp of an order or trade is a `VenueError` (code `bad_response`) naming the
field, never a guessed default; a negative fee (a maker rebate) is a fill like any other.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from nzeza.domain import Fill, Instrument, OrderStatus, OrderType, Side
from nzeza.errors import ValidationError, VenueError, show_value
from nzeza.venues.base import Balance, OrderRequest, VenueFunding, VenueOrder, VenuePosition

STATUS = {
    "open": OrderStatus.ACCEPTED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


def bad_response(venue: str, text: str, retryable: bool = True) -> VenueError:
    """The venue answered something nzeza cannot take (retryable: its state is unknown, look
    it up again rather than assume)."""
    return VenueError(venue, text, retryable=retryable, code="bad_response")


def need(venue: str, data: dict[str, Any], key: str, what: str) -> Any:
    """`data[key]`, or a VenueError naming the field: never a guessed default."""
    value = data.get(key)
    if value is None or value == "":
        raise bad_response(
            venue, f"the venue's {what} has no {key}: {show_value(data.get('info', data))}"
        )
    return value


def to_instrument(venue: str, symbol: str, market: dict[str, Any]) -> Instrument | None:
    """A ccxt market as an Instrument (None when it has no price or amount precision)."""
    prec, lim = market["precision"], market["limits"]
    tick, lot = prec.get("price"), prec.get("amount")
    if tick is None or lot is None:
        return None
    return Instrument(
        venue,
        symbol,
        market["base"],
        market["quote"],
        Decimal(str(tick)),
        Decimal(str(lot)),
        Decimal(str(lim.get("amount", {}).get("min") or 0)),
        Decimal(str(lim.get("cost", {}).get("min") or 0)),
    )


def to_order(
    venue: str,
    o: dict[str, Any],
    instrument_id: str,
    client_order_id: str,
    request: OrderRequest | None = None,
) -> VenueOrder:
    """A ccxt order dict as a VenueOrder. `request` (what we sent) gives the side, type,
    amount and price a terse create response leaves out; its status and timestamp must be
    the venue's (`bad_response` otherwise)."""
    what = "order"
    raw_status = need(venue, o, "status", what)
    status = STATUS.get(str(raw_status))
    if status is None:
        raise bad_response(venue, f"unknown order status {raw_status!r}")
    filled = Decimal(str(o.get("filled") or 0))
    if status is OrderStatus.ACCEPTED and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    price = o.get("price")
    avg = o.get("average")
    # What we asked for wins over the venue's rendering (Hyperliquid's market order is an
    # IOC limit on the wire).
    if request is not None:
        side, otype, amount, price = (
            request.side.value,
            request.type.value,
            request.quantity,
            request.price,
        )
        ts = o.get("timestamp") or o.get("lastTradeTimestamp")
    else:
        side = need(venue, o, "side", what)
        otype = need(venue, o, "type", what)
        amount = need(venue, o, "amount", what)
        ts = need(venue, o, "timestamp", what)
    if side not in ("buy", "sell"):
        raise bad_response(venue, f"order side {side!r}")
    trigger = o.get("triggerPrice") or o.get("stopPrice")
    if request is None and otype == "market" and trigger:
        otype, price = "stop", trigger  # a market order armed at a trigger: our stop
    return VenueOrder(
        client_order_id,
        str(o.get("id") or ""),
        instrument_id,
        Side(side),
        # venues' other types (stop-limit, IOC limit on the wire) rest like limits
        OrderType(otype if otype in ("limit", "market", "stop") else "limit"),
        Decimal(str(amount)),
        Decimal(str(price)) if price else None,
        status,
        filled,
        Decimal(str(avg)) if avg else None,
        int(ts or 0) * 1_000_000,
    )


def to_fill(venue: str, t: dict[str, Any], instrument_id: str, order_id: str) -> Fill:
    """A ccxt trade as a Fill of the order `order_id` (our client order id where known)."""
    what = "trade"
    fee = t.get("fee") or {}
    side = need(venue, t, "side", what)
    ts = int(need(venue, t, "timestamp", what))
    try:
        return Fill(
            str(need(venue, t, "id", what)),
            order_id,
            instrument_id,
            side,
            Decimal(str(need(venue, t, "amount", what))),
            Decimal(str(need(venue, t, "price", what))),
            # a negative fee is a rebate (maker): booked as it is
            Decimal(str(fee.get("cost") or 0)),
            str(fee.get("currency") or ""),
            ts * 1_000_000,
        )
    except ValidationError as exc:
        raise bad_response(venue, f"a trade is not a valid fill: {exc}", retryable=False) from None


def to_balances(b: dict[str, Any]) -> dict[str, Balance]:
    """ccxt's balance (`total`, `free` per currency) as free and locked amounts."""
    out = {}
    for ccy, total in (b.get("total") or {}).items():
        if total is None:
            continue
        free = Decimal(str(b.get("free", {}).get(ccy) or 0))
        out[ccy] = Balance(ccy, free, Decimal(str(total)) - free)
    return out


def to_position(venue: str, p: dict[str, Any]) -> VenuePosition:
    """A ccxt position (contracts, side, entry price) as a signed VenuePosition."""
    qty = Decimal(str(p.get("contracts") or 0)) * (-1 if p.get("side") == "short" else 1)
    entry = p.get("entryPrice")
    return VenuePosition(f"{venue}:{p['symbol']}", qty, Decimal(str(entry)) if entry else None)


def to_funding(instrument_id: str, row: dict[str, Any]) -> VenueFunding:
    """A ccxt funding-history row as a VenueFunding, amounts exact from the venue's own text
    where it has it (Binance `income`, Hyperliquid `delta.usdc`; ccxt's are floats), with the
    rate and position where the venue gives them (Hyperliquid `fundingRate`, `szi`)."""
    venue = instrument_id.split(":", 1)[0]
    info = row.get("info") or {}
    delta = info.get("delta") or {}
    amount = delta.get("usdc", info.get("income"))
    if amount is None:
        amount = need(venue, row, "amount", "funding payment")
    ts = need(venue, row, "timestamp", "funding payment")
    rate, szi = delta.get("fundingRate"), delta.get("szi")
    try:
        return VenueFunding(
            instrument_id,
            int(ts) * 1_000_000,
            Decimal(str(amount)),
            Decimal(str(rate)) if rate not in (None, "") else None,
            Decimal(str(szi)) if szi not in (None, "") else None,
        )
    except (ArithmeticError, ValueError):
        raise bad_response(
            venue, f"the venue's funding payment is not a number: {show_value(info)}"
        ) from None


__all__ = [
    "STATUS",
    "bad_response",
    "need",
    "to_balances",
    "to_fill",
    "to_funding",
    "to_instrument",
    "to_order",
    "to_position",
]
