"""Binance spot: sans-I/O parser for combined/raw streams and the REST depth snapshot.

Handled messages (https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams):
- `<symbol>@depth` / `@depth@100ms` diff depth: `{"e":"depthUpdate","E":ms,"s":..,"U":first,
  "u":last,"b":[[p,q]..],"a":[[p,q]..]}` → `BookDelta(first_update_id=U, update_id=u)`
- `<symbol>@bookTicker`: `{"u":id,"s":..,"b":p,"B":q,"a":p,"A":q}` → `BestBidAsk`
- `<symbol>@trade`: `{"e":"trade","E":ms,"s":..,"t":id,"p":..,"q":..,"T":ms,"m":bool}` → `Trade`
  (`m` true means the buyer was the maker, so the aggressor sold)
- REST `GET /api/v3/depth` body `{"lastUpdateId":..,"bids":..,"asks":..}` → `BookSnapshot`
  (the body names no symbol, so the caller passes it)
- `{"result":null,"id":n}` → `SubscriptionAck`; `{"code":..,"msg":..}` → `VenueErrorEvent`

Messages may come wrapped as `{"stream": name, "data": payload}` (combined streams) or bare.
"""

from __future__ import annotations

from typing import Any

import orjson

from nzeza.errors import ParseError
from nzeza.feeds._wire import DEC, SHAPE_ERRORS, loads, shape_error
from nzeza.feeds.events import (
    BestBidAsk,
    BookDelta,
    BookSnapshot,
    Event,
    SubscriptionAck,
    Trade,
    VenueErrorEvent,
)

_orjson_loads = orjson.loads

VENUE = "binance"
WS_URL = "wss://stream.binance.com:9443/stream"
REST_URL = "https://api.binance.com"
DEPTH_PATH = "/api/v3/depth"


def parse(raw: str | bytes, recv_ns: int | None = None, symbol: str = "") -> list[Event]:
    """Parse one Binance message into events. `symbol` names the book of a bare REST snapshot.

    Raises `ParseError` (only) when the message is malformed or of an unknown kind.
    """
    try:
        msg = _orjson_loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        msg = loads(VENUE, raw)  # raises the ParseError with the decoder's reason
    try:
        # Hot path, most frequent first: bookTicker (~70% of messages), trade, depth diff.
        if type(msg) is dict:
            data = msg.get("data", msg)
            if type(data) is dict:
                if "B" in data and "e" not in data:  # bookTicker
                    uid = data["u"]
                    sym = data["s"]
                    if type(uid) is int and uid >= 0 and type(sym) is str and sym:
                        ts = data.get("E")
                        return [
                            BestBidAsk(
                                VENUE,
                                sym,
                                uid,
                                DEC[data["b"]],
                                DEC[data["B"]],
                                DEC[data["a"]],
                                DEC[data["A"]],
                                None if ts is None else _ms(ts, "E"),
                                recv_ns,
                            )
                        ]
                kind = data.get("e")
                if kind == "trade":
                    tid, sym, ts, maker = data["t"], data["s"], data["T"], data["m"]
                    if (
                        type(tid) is int
                        and type(sym) is str
                        and sym
                        and type(ts) is int
                        and ts >= 0
                        and type(maker) is bool
                    ):
                        return [
                            Trade(
                                VENUE,
                                sym,
                                DEC[data["p"]],
                                DEC[data["q"]],
                                "sell" if maker else "buy",
                                str(tid),
                                ts * 1_000_000,
                                recv_ns,
                            )
                        ]
                elif kind == "depthUpdate":
                    first, last, sym = data["U"], data["u"], data["s"]
                    if (
                        type(first) is int
                        and type(last) is int
                        and 0 <= first <= last
                        and type(sym) is str
                        and sym
                    ):
                        dec = DEC
                        return [
                            BookDelta(
                                VENUE,
                                sym,
                                first,
                                last,
                                tuple([(dec[p], dec[q]) for p, q in data["b"]]),
                                tuple([(dec[p], dec[q]) for p, q in data["a"]]),
                                _ms(data["E"], "E"),
                                recv_ns,
                            )
                        ]
        # Everything else, and every malformed hot-path message, takes the checked path.
        return _dispatch(msg, recv_ns, symbol)
    except ParseError:
        raise
    except SHAPE_ERRORS as exc:
        raise shape_error(VENUE, exc, msg) from None


def _dispatch(msg: Any, recv_ns: int | None, symbol: str) -> list[Event]:
    if type(msg) is not dict:
        raise ParseError(VENUE, "message", "expected a JSON object", msg)
    data = msg.get("data")
    if data is None:
        data = msg
    elif type(data) is not dict:
        raise ParseError(VENUE, "data", "expected an object", msg)
    kind = data.get("e")
    dec = DEC
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
                tuple([(dec[p], dec[q]) for p, q in data["b"]]),
                tuple([(dec[p], dec[q]) for p, q in data["a"]]),
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
                dec[data["b"]],
                dec[data["B"]],
                dec[data["a"]],
                dec[data["A"]],
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
                dec[data["p"]],
                dec[data["q"]],
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
                tuple([(dec[p], dec[q]) for p, q in data["bids"]]),
                tuple([(dec[p], dec[q]) for p, q in data["asks"]]),
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


def _symbol(value: Any) -> str:
    if type(value) is not str or not value:
        raise ParseError(VENUE, "s", "expected a symbol string", value)
    return value


def _ms(value: Any, field: str) -> int:
    if type(value) is not int or value < 0:
        raise ParseError(VENUE, field, "expected non-negative integer milliseconds", value)
    return value * 1_000_000


# ---------------------------------------------------------------- subscriptions and REST


def stream_names(symbol: str, channels: tuple[str, ...] = ("depth@100ms", "bookTicker", "trade")):
    """Stream names for one symbol, e.g. `btcusdt@depth@100ms`."""
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
