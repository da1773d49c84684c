"""Binance spot (and USDⓈ-M futures mark price): sans-I/O parser for combined/raw streams and
the REST depth snapshot.

Handled messages (https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams):
- `<symbol>@depth` / `@depth@100ms` diff depth: `{"e":"depthUpdate","E":ms,"s":..,"U":first,
  "u":last,"b":[[p,q]..],"a":[[p,q]..]}` → `BookDelta(first_update_id=U, update_id=u)`
- `<symbol>@bookTicker`: `{"u":id,"s":..,"b":p,"B":q,"a":p,"A":q}` → `BestBidAsk`
- `<symbol>@trade`: `{"e":"trade","E":ms,"s":..,"t":id,"p":..,"q":..,"T":ms,"m":bool}` → `Trade`
  (`m` true means the buyer was the maker, so the aggressor sold)
- USDⓈ-M futures `<symbol>@markPrice` / `@markPrice@1s` (https://developers.binance.com/docs/
  derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream):
  `{"e":"markPriceUpdate","E":ms,"s":..,"p":mark,"i":index,"P":est. settle,"r":funding rate,
  "T":next funding ms}` → `FundingUpdate(funding_rate=r, mark=p, next_funding_ns=T)`; a
  delivery contract's update (`"r":""`, `"T":0`: no funding) gives no event. The all-market
  stream `!markPrice@arr` sends a list of these as `data`: one event each.
- REST `GET /api/v3/depth` body `{"lastUpdateId":..,"bids":..,"asks":..}` → `BookSnapshot`
  (the body names no symbol, so the caller passes it)
- `{"result":null,"id":n}` → `SubscriptionAck`; `{"code":..,"msg":..}` → `VenueErrorEvent`

Messages may come wrapped as `{"stream": name, "data": payload}` (combined streams) or bare.

Prices (trade `p`, book levels, best bid/ask) and trade sizes must be positive; book sizes may
be zero (a removed level). Anything else is a `ParseError` naming the field (`_wire.PX`).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from nzeza.errors import ParseError
from nzeza.feeds._wire import (
    DEC,
    PX,
    SHAPE_ERRORS,
    decimal_field,
    dispatch_checked,
    levels_field,
    loads,
    price_field,
    signed_decimal_field,
)
from nzeza.feeds.events import (
    BestBidAsk,
    BookDelta,
    BookSnapshot,
    Event,
    FundingUpdate,
    SubscriptionAck,
    Trade,
    VenueErrorEvent,
)

VENUE = "binance"
WS_URL = "wss://stream.binance.com:9443/stream"
FUTURES_WS_URL = "wss://fstream.binance.com/stream"  # USDⓈ-M: where @markPrice streams are
REST_URL = "https://api.binance.com"
DEPTH_PATH = "/api/v3/depth"

# Integers the typed decode takes: int64 (msgspec's bound limit). orjson, the checked path's
# decoder, turns numbers beyond [-2**63, 2**64) into floats, which it refuses; anything the typed
# decode refuses goes to the checked path, so both give the same answer.
_NonNegative = Annotated[int, Meta(ge=0, le=2**63 - 1)]
_Int = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
_Level = tuple[str, str]


class _Payload(Struct, gc=False):
    """The fields of the three hot payloads (bookTicker, trade, depth diff), decoded in C.

    Unknown fields are ignored; a known field of the wrong type fails the typed decode and the
    message takes the checked path, which names the field in its ParseError. `b`/`a` are text in
    a bookTicker, level lists in a depth diff, and integer order ids in older trade payloads.
    """

    # bookTicker's fields first, in its wire order: msgspec matches keys fastest in field order.
    u: _NonNegative | None = None
    s: str = ""
    b: str | _Int | list[_Level] | None = None
    B: str | None = None
    a: str | _Int | list[_Level] | None = None
    A: str | None = None
    e: str | None = None
    E: _NonNegative | None = None
    U: _NonNegative | None = None
    t: _Int | None = None
    p: str | None = None
    q: str | None = None
    T: _NonNegative | None = None
    m: bool | None = None


class _Message(_Payload, gc=False):
    """A combined-stream envelope `{"stream", "data"}`, or a bare payload (raw streams)."""

    data: _Payload | None = None


_decode_hot = msgspec.json.Decoder(_Message).decode


def parse(raw: str | bytes, recv_ns: int | None = None, symbol: str = "") -> list[Event]:
    """Parse one Binance message into events. `symbol` names the book of a bare REST snapshot.

    Raises `ParseError` (only) when the message is malformed or of an unknown kind.

    Hot path: the three stream payloads are decoded straight into a typed struct by msgspec (no
    intermediate dict); everything else, and anything the hot path does not accept as is, goes
    through `parse_checked`, which gives the same events or the typed error.
    """
    try:
        msg = _decode_hot(raw)
    except (msgspec.DecodeError, TypeError):
        return parse_checked(raw, recv_ns, symbol)
    d = msg.data
    if d is None:
        d = msg
    e = d.e
    try:
        if e is None:
            if d.B is not None and d.u is not None and d.s:  # bookTicker (~70% of messages)
                ts = d.E
                return [
                    BestBidAsk(
                        VENUE,
                        d.s,
                        d.u,
                        PX[d.b],
                        DEC[d.B],
                        PX[d.a],
                        DEC[d.A],
                        None if ts is None else ts * 1_000_000,
                        recv_ns,
                    )
                ]
        elif e == "trade":
            tid, ts, maker = d.t, d.T, d.m
            if tid is not None and ts is not None and maker is not None and d.s:
                return [
                    Trade(
                        VENUE,
                        d.s,
                        PX[d.p],
                        PX[d.q],
                        "sell" if maker else "buy",
                        str(tid),
                        ts * 1_000_000,
                        recv_ns,
                    )
                ]
        elif e == "depthUpdate":
            first, last, ts, bids, asks = d.U, d.u, d.E, d.b, d.a
            if (
                first is not None
                and last is not None
                and first <= last
                and ts is not None
                and d.s
                and type(bids) is list
                and type(asks) is list
            ):
                px, dec = PX, DEC
                return [
                    BookDelta(
                        VENUE,
                        d.s,
                        first,
                        last,
                        tuple([(px[p], dec[q]) for p, q in bids]),
                        tuple([(px[p], dec[q]) for p, q in asks]),
                        ts * 1_000_000,
                        recv_ns,
                    )
                ]
    except SHAPE_ERRORS:
        pass  # a value the hot path cannot take: the checked path names the field
    return parse_checked(raw, recv_ns, symbol)


def parse_checked(raw: str | bytes, recv_ns: int | None = None, symbol: str = "") -> list[Event]:
    """The reference parser: every message kind, every field checked, errors name the field.

    `parse` gives exactly what this gives (a differential test holds them together); it only
    reaches its result faster for the hot payloads.
    """
    msg = loads(VENUE, raw)
    return dispatch_checked(VENUE, _dispatch, msg, recv_ns, symbol)


def _dispatch(msg: Any, recv_ns: int | None, symbol: str) -> list[Event]:
    if type(msg) is not dict:
        raise ParseError(VENUE, "message", "expected a JSON object", msg)
    data = msg.get("data")
    if data is None:
        data = msg
    elif type(data) is list:  # !markPrice@arr: every perpetual's mark price in one message
        out: list[Event] = []
        for item in data:
            if type(item) is not dict or item.get("e") != "markPriceUpdate":
                raise ParseError(VENUE, "data", "expected markPriceUpdate objects", item)
            out.extend(_mark_price(item, recv_ns))
        return out
    elif type(data) is not dict:
        raise ParseError(VENUE, "data", "expected an object", msg)
    kind = data.get("e")
    if kind == "markPriceUpdate":
        return _mark_price(data, recv_ns)
    if kind == "depthUpdate":
        first, last = data["U"], data["u"]
        if type(first) is not int or type(last) is not int or first > last or first < 0:
            raise ParseError(VENUE, "U/u", "expected integers with U <= u", msg)
        return [
            BookDelta(
                VENUE,
                _symbol(data["s"]),
                first,
                last,
                levels_field(data, "b", VENUE),
                levels_field(data, "a", VENUE),
                _ms(data["E"], "E"),
                recv_ns,
            )
        ]
    if kind is None and "u" in data and "B" in data:
        uid = data["u"]
        sym = data["s"]
        if type(uid) is not int or uid < 0 or type(sym) is not str or not sym:
            raise ParseError(VENUE, "u/s", "expected an integer id and a symbol", msg)
        ts = data.get("E")
        return [
            BestBidAsk(
                VENUE,
                sym,
                uid,
                price_field(data, "b", VENUE),
                decimal_field(data, "B", VENUE),
                price_field(data, "a", VENUE),
                decimal_field(data, "A", VENUE),
                None if ts is None else _ms(ts, "E"),
                recv_ns,
            )
        ]
    if kind == "trade":
        maker = data["m"]
        if type(maker) is not bool:
            raise ParseError(VENUE, "m", "expected a boolean", msg)
        tid = data["t"]
        sym = data["s"]
        ts = data["T"]
        if type(tid) is not int or type(sym) is not str or not sym:
            raise ParseError(VENUE, "t/s", "expected an integer trade id and a symbol", msg)
        if type(ts) is not int or ts < 0:
            raise ParseError(VENUE, "T", "expected non-negative integer milliseconds", msg)
        return [
            Trade(
                VENUE,
                sym,
                price_field(data, "p", VENUE),
                price_field(data, "q", VENUE),
                "sell" if maker else "buy",
                str(tid),
                ts * 1_000_000,
                recv_ns,
            )
        ]
    if kind is None and "lastUpdateId" in data:
        uid = data["lastUpdateId"]
        if type(uid) is not int or uid < 0:
            raise ParseError(VENUE, "lastUpdateId", "expected a non-negative integer", msg)
        return [
            BookSnapshot(
                VENUE,
                symbol.upper(),
                uid,
                levels_field(data, "bids", VENUE),
                levels_field(data, "asks", VENUE),
                None,
                recv_ns,
            )
        ]
    if kind is None and "id" in msg and "result" in msg:
        return [SubscriptionAck(VENUE, "", (), True, str(msg["id"]), recv_ns)]
    if kind is None and ("code" in msg or "error" in msg):
        err = msg.get("error", msg)
        if type(err) is not dict:
            raise ParseError(VENUE, "error", "expected an object", msg)
        return [VenueErrorEvent(VENUE, str(err.get("msg", "")), str(err.get("code", "")), recv_ns)]
    raise ParseError(VENUE, "e", f"unknown event type {kind!r}", msg)


def _mark_price(data: dict[str, Any], recv_ns: int | None) -> list[Event]:
    sym = _symbol(data["s"])
    nxt = data["T"]
    if type(nxt) is not int or nxt < 0:
        raise ParseError(VENUE, "T", "expected non-negative integer milliseconds", data)
    if data["r"] == "" and nxt == 0:
        return []  # a delivery contract: a mark price but no funding
    return [
        FundingUpdate(
            VENUE,
            sym,
            signed_decimal_field(data, "r", VENUE),
            price_field(data, "p", VENUE),
            nxt * 1_000_000 if nxt else None,
            _ms(data["E"], "E"),
            recv_ns,
        )
    ]


def _symbol(value: Any) -> str:
    if type(value) is not str or not value:
        raise ParseError(VENUE, "s", "expected a symbol string", value)
    return value


def _ms(value: Any, field: str) -> int:
    if type(value) is not int or value < 0:
        raise ParseError(VENUE, field, "expected non-negative integer milliseconds", value)
    return value * 1_000_000


# ---------------------------------------------------------------- subscriptions and REST


MARK_PRICE = "markPrice@1s"
"""The USDⓈ-M mark price and funding stream of a symbol, every second (`markPrice`: every 3 s)."""


def stream_names(symbol: str, channels: tuple[str, ...] = ("depth@100ms", "bookTicker", "trade")):
    """Stream names for one symbol, e.g. `btcusdt@depth@100ms` (`btcusdt@markPrice@1s` with
    `MARK_PRICE`, on the futures host `FUTURES_WS_URL`)."""
    return [f"{symbol.lower()}@{ch}" for ch in channels]


def subscribe_message(streams: list[str], request_id: int = 1) -> dict[str, Any]:
    """The JSON-RPC SUBSCRIBE request for a list of stream names."""
    return {"method": "SUBSCRIBE", "params": list(streams), "id": request_id}


def unsubscribe_message(streams: list[str], request_id: int = 1) -> dict[str, Any]:
    """The JSON-RPC UNSUBSCRIBE request."""
    return {"method": "UNSUBSCRIBE", "params": list(streams), "id": request_id}


def depth_snapshot_url(base_url: str, symbol: str, limit: int = 1000) -> str:
    """URL of the REST depth snapshot used to (re)build a local book."""
    return f"{base_url.rstrip('/')}{DEPTH_PATH}?symbol={symbol.upper()}&limit={limit}"


def symbol_of_stream(stream: str) -> str:
    """`btcusdt@depth@100ms` → `BTCUSDT`."""
    return stream.split("@", 1)[0].upper()


__all__ = [
    "DEPTH_PATH",
    "FUTURES_WS_URL",
    "MARK_PRICE",
    "REST_URL",
    "VENUE",
    "WS_URL",
    "depth_snapshot_url",
    "parse",
    "stream_names",
    "subscribe_message",
    "symbol_of_stream",
    "unsubscribe_message",
]
