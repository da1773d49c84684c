"""Hyperliquid websocket: sans-I/O parser and subscriptions.

Messages (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket):
- `{"channel": "l2Book", "data": {"coin", "time": ms, "levels": [[bids], [asks]]}}`, each level
  `{"px", "sz", "n"}` → BookSnapshot (every l2Book message is a full top-of-book snapshot;
  `update_id` is the book time in ms, which only grows)
- `{"channel": "trades", "data": [{"coin", "side": "B"|"A", "px", "sz", "hash", "time", "tid",
  "users"}]}` → Trade (`B`: the aggressor bought)
- `{"channel": "activeAssetCtx", "data": {"coin", "ctx": {"funding", "markPx", "oraclePx",
  "openInterest", "premium", "prevDayPx", "dayNtlVlm", "dayBaseVlm", "midPx", "impactPxs"}}}`
  (a perpetual's context, numbers as strings) → FundingUpdate(funding_rate=ctx.funding, the
  current hourly rate; mark=ctx.markPx). The message has no time: `ts_ns` is None. A spot
  asset's context (`WsActiveSpotAssetCtx`, no `funding`) gives no event.
- `{"channel": "subscriptionResponse", "data": {"method", "subscription"}}` → SubscriptionAck;
  `{"channel": "pong"}` → Heartbeat; `{"channel": "error", "data": text}` → VenueErrorEvent

Prices and trade sizes must be positive, book sizes non-negative; a bad one is a `ParseError`
naming its field.
"""

from __future__ import annotations

from typing import Any

from nzeza.errors import ParseError, ValidationError
from nzeza.feeds._wire import (
    dispatch_checked,
    level_object,
    loads,
    price_field,
    signed_decimal_field,
)
from nzeza.feeds.events import (
    BookSnapshot,
    Event,
    FundingUpdate,
    Heartbeat,
    SubscriptionAck,
    Trade,
    VenueErrorEvent,
)

VENUE = "hyperliquid"
WS_URL = "wss://api.hyperliquid.xyz/ws"


def parse(raw: str | bytes, recv_ns: int | None = None) -> list[Event]:
    """Parse one Hyperliquid message. Raises ParseError (only) on bad input."""
    msg = loads(VENUE, raw)
    return dispatch_checked(VENUE, _dispatch, msg, recv_ns)


def _ms(value: Any, field: str) -> int:
    if type(value) is not int or value < 0:
        raise ParseError(VENUE, field, "expected non-negative integer milliseconds", value)
    return value


def _dispatch(msg: Any, recv_ns: int | None) -> list[Event]:
    if type(msg) is not dict:
        raise ParseError(VENUE, "message", "expected a JSON object", msg)
    channel = msg.get("channel")
    data: Any = msg.get("data")
    if channel == "l2Book":
        coin = data["coin"]
        if type(coin) is not str or not coin:
            raise ParseError(VENUE, "coin", "expected a non-empty string", data)
        ms = _ms(data["time"], "time")
        bid_levels, ask_levels = data["levels"]
        bids = tuple(level_object(lv, "px", "sz", VENUE) for lv in bid_levels)
        asks = tuple(level_object(lv, "px", "sz", VENUE) for lv in ask_levels)
        return [BookSnapshot(VENUE, coin, ms, bids, asks, ms * 1_000_000, recv_ns)]
    if channel == "trades":
        if type(data) is not list:
            raise ParseError(VENUE, "data", "expected a list of trades", msg)
        out: list[Event] = []
        for t in data:
            side = t["side"]
            if side not in ("B", "A"):
                raise ParseError(VENUE, "side", f"unknown side {side!r}", t)
            coin = t["coin"]
            if type(coin) is not str or not coin:
                raise ParseError(VENUE, "coin", "expected a non-empty string", t)
            out.append(
                Trade(
                    VENUE,
                    coin,
                    price_field(t, "px", VENUE),
                    price_field(t, "sz", VENUE),
                    "buy" if side == "B" else "sell",
                    str(t["tid"]),
                    _ms(t["time"], "time") * 1_000_000,
                    recv_ns,
                )
            )
        return out
    if channel == "activeAssetCtx":
        if type(data) is not dict:
            raise ParseError(VENUE, "data", "expected an object", msg)
        coin = data["coin"]
        if type(coin) is not str or not coin:
            raise ParseError(VENUE, "coin", "expected a non-empty string", data)
        ctx = data["ctx"]
        if type(ctx) is not dict:
            raise ParseError(VENUE, "ctx", "expected an object", data)
        if "funding" not in ctx:
            return []  # a spot asset's context: no funding
        return [
            FundingUpdate(
                VENUE,
                coin,
                signed_decimal_field(ctx, "funding", VENUE),
                price_field(ctx, "markPx", VENUE),
                None,
                None,
                recv_ns,
            )
        ]
    if channel == "subscriptionResponse":
        sub = data["subscription"]
        if type(sub) is not dict:
            raise ParseError(VENUE, "subscription", "expected an object", data)
        coin = sub.get("coin")
        return [
            SubscriptionAck(
                VENUE,
                str(sub.get("type", "")),
                (str(coin),) if coin else (),
                data.get("method") == "subscribe",
                "",
                recv_ns,
            )
        ]
    if channel == "pong":
        return [Heartbeat(VENUE, "", None, recv_ns)]
    if channel == "error":
        return [VenueErrorEvent(VENUE, str(data)[:500], "error", recv_ns)]
    raise ParseError(VENUE, "channel", f"unknown channel {channel!r}", msg)


SUBSCRIPTIONS = ("l2Book", "trades", "bbo", "activeAssetCtx")


def subscribe_message(kind: str, coin: str) -> dict[str, Any]:
    """`{"method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC"}}`
    (`activeAssetCtx`: the coin's funding rate and mark price)."""
    if kind not in SUBSCRIPTIONS:
        raise ValidationError("subscription", kind, f"must be one of {', '.join(SUBSCRIPTIONS)}")
    return {"method": "subscribe", "subscription": {"type": kind, "coin": coin}}


def ping_message() -> dict[str, Any]:
    return {"method": "ping"}


__all__ = ["SUBSCRIPTIONS", "VENUE", "WS_URL", "parse", "ping_message", "subscribe_message"]
