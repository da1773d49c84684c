"""dYdX v4 indexer websocket: sans-I/O parser and subscriptions.

Messages (dydxprotocol/v4-chain `indexer/services/comlink/public/websocket-documentation.md`):
- `{"type": "connected", "connection_id", "message_id": 0}` → Heartbeat
- `{"type": "subscribed", "channel": "v4_orderbook", "id": "BTC-USD", "message_id",
  "contents": {"bids": [{"price", "size"}], "asks": [...]}}` → BookSnapshot (levels as objects)
- `{"type": "channel_data", "channel": "v4_orderbook", "id", "message_id", "version",
  "contents": {"bids": [[price, size], ...], "asks": [...]}}` → BookDelta (levels as arrays;
  "bids"/"asks" optional; a size of "0" removes the level)
- `{"type": "channel_batch_data", ..., "contents": [contents, ...]}` → one event per contents
  (subscriptions made with `"batched": true`)
- `v4_trades`: contents `{"trades": [{"id", "side": "BUY"|"SELL", "size", "price",
  "createdAt"}]}` in `subscribed` (history) and `channel_data` → Trade
- `{"type": "unsubscribed"}` → SubscriptionAck(success=False is not used; channel named);
  `{"type": "error", "message"}` → VenueErrorEvent

Prices and trade sizes must be positive, book sizes non-negative; a bad one is a `ParseError`
naming its field.

`message_id` counts every message on a connection; `DydxParser` checks it with a
`SequenceTracker` and emits `SequenceGap` on a skip. Book deltas carry `update_id=message_id`.
"""

from __future__ import annotations

from typing import Any

from nzeza.errors import ParseError, ValidationError
from nzeza.feeds._wire import (
    dispatch_checked,
    iso_to_ns,
    level_object,
    levels_field,
    loads,
    price_field,
)
from nzeza.feeds.events import (
    BookDelta,
    BookSnapshot,
    Event,
    Heartbeat,
    SubscriptionAck,
    Trade,
    VenueErrorEvent,
)
from nzeza.feeds.sequence import SequenceTracker

VENUE = "dydx"
WS_URL = "wss://indexer.dydx.trade/v4/ws"
CHANNELS = ("v4_orderbook", "v4_trades")


def parse(raw: str | bytes, recv_ns: int | None = None) -> list[Event]:
    """Parse one dYdX indexer message. Raises ParseError (only) on bad input."""
    msg = loads(VENUE, raw)
    return dispatch_checked(VENUE, _dispatch, msg, recv_ns)


def _dispatch(msg: Any, recv_ns: int | None) -> list[Event]:
    if type(msg) is not dict:
        raise ParseError(VENUE, "message", "expected a JSON object", msg)
    kind = msg.get("type")
    if kind == "connected":
        return [Heartbeat(VENUE, "", None, recv_ns)]
    if kind == "error":
        return [VenueErrorEvent(VENUE, str(msg.get("message", "")), "error", recv_ns)]
    if kind not in ("subscribed", "channel_data", "channel_batch_data", "unsubscribed"):
        raise ParseError(VENUE, "type", f"unknown message type {kind!r}", msg)
    channel = msg.get("channel")
    if channel not in CHANNELS:
        raise ParseError(VENUE, "channel", f"unknown channel {channel!r}", msg)
    symbol = msg["id"]
    if type(symbol) is not str or not symbol:
        raise ParseError(VENUE, "id", "expected a market ticker", msg)
    if kind == "unsubscribed":
        return [SubscriptionAck(VENUE, channel, (symbol,), False, "unsubscribed", recv_ns)]
    mid = msg.get("message_id")
    if mid is not None and (type(mid) is not int or mid < 0):
        raise ParseError(VENUE, "message_id", "expected a non-negative integer", msg)
    contents = msg["contents"]
    out: list[Event] = []
    if kind == "subscribed":
        if type(contents) is not dict:
            raise ParseError(VENUE, "contents", "expected an object", msg)
        out.append(SubscriptionAck(VENUE, channel, (symbol,), True, "", recv_ns))
        if channel == "v4_orderbook":
            bids = tuple(level_object(lv, "price", "size", VENUE) for lv in contents["bids"])
            asks = tuple(level_object(lv, "price", "size", VENUE) for lv in contents["asks"])
            out.append(BookSnapshot(VENUE, symbol, mid, bids, asks, None, recv_ns))
        else:
            out.extend(_trades(symbol, contents, recv_ns))
        return out
    batch = contents if kind == "channel_batch_data" else [contents]
    if type(batch) is not list:
        raise ParseError(VENUE, "contents", "expected a list in channel_batch_data", msg)
    for part in batch:
        if type(part) is not dict:
            raise ParseError(VENUE, "contents", "expected an object", part)
        if channel == "v4_orderbook":
            bids = levels_field(part, "bids", VENUE) if part.get("bids") else ()
            asks = levels_field(part, "asks", VENUE) if part.get("asks") else ()
            out.append(BookDelta(VENUE, symbol, mid, mid, bids, asks, None, recv_ns))
        else:
            out.extend(_trades(symbol, part, recv_ns))
    return out


def _trades(symbol: str, contents: dict, recv_ns: int | None) -> list[Event]:
    out: list[Event] = []
    for t in contents["trades"]:
        side = t["side"]
        if side not in ("BUY", "SELL"):
            raise ParseError(VENUE, "side", f"unknown side {side!r}", t)
        out.append(
            Trade(
                VENUE,
                symbol,
                price_field(t, "price", VENUE),
                price_field(t, "size", VENUE),
                side.lower(),
                str(t.get("id", "")),
                iso_to_ns(t["createdAt"], VENUE, "createdAt"),
                recv_ns,
            )
        )
    return out


class DydxParser:
    """Stateful wrapper: parses and checks `message_id` continuity on one connection."""

    def __init__(self) -> None:
        self.sequence = SequenceTracker(VENUE)

    def parse(self, raw: str | bytes, recv_ns: int | None = None) -> list[Event]:
        msg = loads(VENUE, raw)
        events = dispatch_checked(VENUE, _dispatch, msg, recv_ns)
        mid = msg.get("message_id")
        if type(mid) is int:
            if msg.get("type") == "connected":
                self.sequence.reset()
            gap = self.sequence.check(mid, recv_ns)
            if gap is not None:
                return [gap, *events]
        return events

    def reset(self) -> None:
        self.sequence.reset()


def subscribe_message(channel: str, market: str, *, batched: bool = False) -> dict[str, Any]:
    """`{"type": "subscribe", "channel": "v4_orderbook", "id": "BTC-USD"}`."""
    if channel not in CHANNELS:
        raise ValidationError("channel", channel, f"must be one of {CHANNELS}")
    msg: dict[str, Any] = {"type": "subscribe", "channel": channel, "id": market}
    if batched:
        msg["batched"] = True
    return msg


__all__ = ["CHANNELS", "VENUE", "WS_URL", "DydxParser", "parse", "subscribe_message"]
