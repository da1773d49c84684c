"""Kraken spot websocket v2: sans-I/O parser, subscriptions and the book CRC32 checksum.

Messages (https://docs.kraken.com/api/docs/websocket-v2/book, /ticker, /trade):
- `{"channel": "book", "type": "snapshot"|"update", "data": [{"symbol", "bids": [{"price",
  "qty"}], "asks": [...], "checksum", "timestamp"}]}` → BookSnapshot / BookDelta carrying
  `checksum`
- `{"channel": "ticker", "type", "data": [{"symbol", "bid", "bid_qty", "ask", "ask_qty", "last",
  "volume", ...}]}` → Ticker
- `{"channel": "trade", "type", "data": [{"symbol", "side", "price", "qty", "ord_type",
  "trade_id", "timestamp"}]}` → Trade
- `{"channel": "heartbeat"}` / `{"method": "pong"}` → Heartbeat; `{"channel": "status"}` → none;
  `{"method": "subscribe", "success", "result"|"error"}` → SubscriptionAck (+ VenueErrorEvent)

Kraken v2 sends prices and quantities as JSON *numbers*, so messages are decoded with
`json.loads(parse_float=Decimal)`: the Decimal is made from the wire text, never via float.
Prices and trade sizes must be positive, book sizes non-negative, all within the `_wire`
bounds; a bad one is a `ParseError` naming its field.

Checksum (https://docs.kraken.com/api/docs/guides/spot-ws-book-v2): top 10 asks low→high then
top 10 bids high→low; each price and qty formatted to the pair's precision (from the instrument
channel), "." removed, leading zeros stripped; CRC32 of the concatenation as unsigned 32-bit.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from nzeza.errors import ParseError, ValidationError
from nzeza.feeds._wire import (
    dispatch_checked,
    iso_to_ns,
    loads_decimal,
    to_decimal,
)
from nzeza.feeds.events import (
    BookDelta,
    BookSnapshot,
    Event,
    Heartbeat,
    SubscriptionAck,
    Ticker,
    Trade,
    VenueErrorEvent,
)

if TYPE_CHECKING:
    from nzeza.feeds.book import OrderBook

VENUE = "kraken"
WS_URL = "wss://ws.kraken.com/v2"
BOOK_DEPTHS = (10, 25, 100, 500, 1000)


def parse(raw: str | bytes, recv_ns: int | None = None) -> list[Event]:
    """Parse one Kraken v2 message. Raises ParseError (only) on bad input."""
    msg = loads_decimal(VENUE, raw)
    return dispatch_checked(VENUE, _dispatch, msg, recv_ns)


def _dec(value: Any, field: str, positive: bool = False) -> Decimal:
    """A JSON number as an exact Decimal: >= 0, or > 0 with `positive` (prices, trade sizes)."""
    if type(value) is bool:
        raise ParseError(VENUE, field, "expected a number", value)
    try:
        number = to_decimal(value)
    except (ValueError, ArithmeticError) as exc:
        raise ParseError(VENUE, field, str(exc), value) from None
    if positive and not number:
        raise ParseError(VENUE, field, "must be positive", value)
    return number


def _px(value: Any, field: str) -> Decimal:
    return _dec(value, field, positive=True)


def _levels(raw_levels: Any, field: str) -> tuple[tuple[Decimal, Decimal], ...]:
    if type(raw_levels) is not list:
        raise ParseError(VENUE, field, "expected a list of levels", raw_levels)
    return tuple((_px(lv["price"], "price"), _dec(lv["qty"], "qty")) for lv in raw_levels)


def _ts(item: dict, field: str = "timestamp") -> int | None:
    value = item.get(field)
    return None if value is None else iso_to_ns(value, VENUE, field)


def _symbol(item: Any) -> str:
    sym = item["symbol"]
    if type(sym) is not str or not sym:
        raise ParseError(VENUE, "symbol", "expected a non-empty string", item)
    return sym


def _dispatch(msg: Any, recv_ns: int | None) -> list[Event]:
    if type(msg) is not dict:
        raise ParseError(VENUE, "message", "expected a JSON object", msg)
    method = msg.get("method")
    if method is not None:
        if method == "pong":
            return [Heartbeat(VENUE, "", None, recv_ns)]
        if method in ("subscribe", "unsubscribe"):
            ok = msg.get("success") is True
            result: dict[str, Any] = msg["result"] if type(msg.get("result")) is dict else {}
            sym = result.get("symbol", "")
            ack = SubscriptionAck(
                VENUE,
                str(result.get("channel", "")),
                (str(sym),) if sym else (),
                ok,
                str(msg.get("req_id", "")),
                recv_ns,
            )
            if ok:
                return [ack]
            return [ack, VenueErrorEvent(VENUE, str(msg.get("error", "")), method, recv_ns)]
        raise ParseError(VENUE, "method", f"unknown method {method!r}", msg)
    channel = msg.get("channel")
    if channel == "heartbeat":
        return [Heartbeat(VENUE, "", None, recv_ns)]
    if channel == "status":
        return []
    kind = msg.get("type")
    data = msg.get("data")
    if type(data) is not list:
        raise ParseError(VENUE, "data", "expected a list", msg)
    out: list[Event] = []
    if channel == "book":
        if kind not in ("snapshot", "update"):
            raise ParseError(VENUE, "type", f"unknown book message type {kind!r}", msg)
        for item in data:
            symbol = _symbol(item)
            bids = _levels(item["bids"], "bids")
            asks = _levels(item["asks"], "asks")
            checksum = item.get("checksum")
            if checksum is not None and (type(checksum) is not int or not 0 <= checksum < 2**32):
                raise ParseError(VENUE, "checksum", "expected an unsigned 32-bit integer", item)
            ts = _ts(item)
            if kind == "snapshot":
                out.append(BookSnapshot(VENUE, symbol, None, bids, asks, ts, recv_ns, checksum))
            else:
                out.append(BookDelta(VENUE, symbol, None, None, bids, asks, ts, recv_ns, checksum))
        return out
    if channel == "ticker":
        for item in data:
            out.append(
                Ticker(
                    VENUE,
                    _symbol(item),
                    _px(item["last"], "last"),
                    _px(item["bid"], "bid"),
                    _px(item["ask"], "ask"),
                    _dec(item["volume"], "volume") if "volume" in item else None,
                    _ts(item),
                    recv_ns,
                )
            )
        return out
    if channel == "trade":
        for item in data:
            side = item["side"]
            if side not in ("buy", "sell"):
                raise ParseError(VENUE, "side", f"unknown side {side!r}", item)
            out.append(
                Trade(
                    VENUE,
                    _symbol(item),
                    _px(item["price"], "price"),
                    _px(item["qty"], "qty"),
                    side,
                    str(item["trade_id"]),
                    _ts(item),
                    recv_ns,
                )
            )
        return out
    raise ParseError(VENUE, "channel", f"unknown channel {channel!r}", msg)


# ---------------------------------------------------------------- checksum


def _fmt(value: Decimal, precision: int) -> str:
    try:
        text = format(value.quantize(Decimal(1).scaleb(-precision)), "f")
    except ArithmeticError:  # too many digits for the context: cannot match; never crash
        text = format(value, "f")
    return text.replace(".", "").lstrip("0")


def checksum(
    bids: list[tuple[Decimal, Decimal]],
    asks: list[tuple[Decimal, Decimal]],
    price_precision: int,
    qty_precision: int,
) -> int:
    """Kraken's CRC32 of the top 10 levels: bids best-first (descending), asks ascending."""
    parts = [_fmt(p, price_precision) + _fmt(q, qty_precision) for p, q in asks[:10]]
    parts += [_fmt(p, price_precision) + _fmt(q, qty_precision) for p, q in bids[:10]]
    return zlib.crc32("".join(parts).encode("ascii")) & 0xFFFFFFFF


def checksum_fn(price_precision: int, qty_precision: int) -> Callable[[OrderBook], int]:
    """An `OrderBook(checksum_fn=...)` for a pair with these precisions."""

    def fn(book: OrderBook) -> int:
        bids, asks = book.depth(10)
        return checksum(bids, asks, price_precision, qty_precision)

    return fn


def subscribe_message(
    channel: str, symbols: list[str], *, depth: int | None = None, req_id: int | None = None
) -> dict[str, Any]:
    """A v2 subscribe request, e.g. `subscribe_message("book", ["BTC/USD"], depth=10)`."""
    params: dict[str, Any] = {"channel": channel, "symbol": list(symbols)}
    if depth is not None:
        if depth not in BOOK_DEPTHS:
            raise ValidationError("depth", depth, f"must be one of {BOOK_DEPTHS}")
        params["depth"] = depth
    msg: dict[str, Any] = {"method": "subscribe", "params": params}
    if req_id is not None:
        msg["req_id"] = req_id
    return msg


def ping_message(req_id: int | None = None) -> dict[str, Any]:
    """Application-level ping (answered with `{"method": "pong"}`)."""
    return {"method": "ping"} if req_id is None else {"method": "ping", "req_id": req_id}


__all__ = [
    "BOOK_DEPTHS",
    "VENUE",
    "WS_URL",
    "checksum",
    "checksum_fn",
    "parse",
    "ping_message",
    "subscribe_message",
]
