"""Coinbase Advanced Trade market-data websocket: sans-I/O parser, subscriptions, JWT auth.

Every message is an envelope `{"channel", "client_id", "timestamp", "sequence_num", "events"}`
(https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-channels):
- `l2_data` (subscribe as `level2`): events `{"type": "snapshot"|"update", "product_id",
  "updates": [{"side": "bid"|"offer", "event_time", "price_level", "new_quantity"}]}`;
  `new_quantity` is the new size at that level ("0" removes it) → BookSnapshot / BookDelta with
  `update_id = sequence_num`.
- `ticker`: events `{"type", "tickers": [{"product_id", "price", "volume_24_h", "best_bid",
  "best_ask", ...}]}` → Ticker
- `market_trades`: events `{"type", "trades": [{"trade_id", "product_id", "price", "size",
  "side": "BUY"|"SELL", "time"}]}` → Trade
- `heartbeats` → Heartbeat; `subscriptions` → SubscriptionAck; `{"type": "error"}` →
  VenueErrorEvent.

Prices and trade sizes must be positive, book sizes non-negative ("0" removes a level); a bad
one is a `ParseError` naming its field.

`sequence_num` counts every message on one connection (all channels). `CoinbaseParser` keeps
the last one and emits a `SequenceGap` when a number is skipped, so the shell can resync books.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from nzeza.errors import ParseError, ValidationError
from nzeza.feeds._wire import (
    SHAPE_ERRORS,
    decimal_field,
    dispatch_checked,
    iso_to_ns,
    level_object,
    loads,
    price_field,
    shape_error,
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
from nzeza.feeds.sequence import SequenceTracker

VENUE = "coinbase"
WS_URL = "wss://advanced-trade-ws.coinbase.com"
PRIVATE_CHANNELS = frozenset({"user", "futures_balance_summary"})


def parse(raw: str | bytes, recv_ns: int | None = None) -> list[Event]:
    """Parse one Coinbase Advanced Trade message. Raises ParseError (only) on bad input."""
    msg = loads(VENUE, raw)
    return dispatch_checked(VENUE, _dispatch, msg, recv_ns)


def sequence_of(msg: Any) -> int | None:
    """The envelope's `sequence_num`, if present and an integer."""
    if type(msg) is dict:
        seq = msg.get("sequence_num")
        if type(seq) is int:
            return seq
    return None


def _dispatch(msg: Any, recv_ns: int | None) -> list[Event]:
    if type(msg) is not dict:
        raise ParseError(VENUE, "message", "expected a JSON object", msg)
    if msg.get("type") == "error":
        return [VenueErrorEvent(VENUE, str(msg.get("message", "")), "error", recv_ns)]
    channel = msg.get("channel")
    events = msg.get("events")
    if type(channel) is not str:
        raise ParseError(VENUE, "channel", "missing or not a string", msg)
    if type(events) is not list:
        raise ParseError(VENUE, "events", "expected a list", msg)
    seq = msg.get("sequence_num")
    if seq is not None and (type(seq) is not int or seq < 0):
        raise ParseError(VENUE, "sequence_num", "expected a non-negative integer", msg)
    ts_raw = msg.get("timestamp")
    ts = iso_to_ns(ts_raw, VENUE, "timestamp") if ts_raw is not None else None
    out: list[Event] = []
    if channel == "l2_data":
        for ev in events:
            kind = ev["type"]
            if kind not in ("snapshot", "update"):
                raise ParseError(VENUE, "type", f"unknown l2_data event type {kind!r}", ev)
            symbol = _str(ev["product_id"], "product_id")
            bids, asks = [], []
            for up in ev["updates"]:
                level = level_object(up, "price_level", "new_quantity", VENUE)
                side = up["side"]
                if side == "bid":
                    bids.append(level)
                elif side in ("offer", "ask"):
                    asks.append(level)
                else:
                    raise ParseError(VENUE, "side", f"unknown side {side!r}", up)
            if kind == "snapshot":
                # Snapshots list bids best-first already; sort anyway so the event is canonical.
                bids.sort(reverse=True)
                asks.sort()
                out.append(BookSnapshot(VENUE, symbol, seq, tuple(bids), tuple(asks), ts, recv_ns))
            else:
                out.append(
                    BookDelta(VENUE, symbol, seq, seq, tuple(bids), tuple(asks), ts, recv_ns)
                )
        return out
    if channel in ("ticker", "ticker_batch"):
        for ev in events:
            for t in ev["tickers"]:
                out.append(
                    Ticker(
                        VENUE,
                        _str(t["product_id"], "product_id"),
                        price_field(t, "price", VENUE),
                        _opt(t, "best_bid", positive=True),
                        _opt(t, "best_ask", positive=True),
                        _opt(t, "volume_24_h"),
                        ts,
                        recv_ns,
                    )
                )
        return out
    if channel == "market_trades":
        for ev in events:
            for t in ev["trades"]:
                side = t["side"]
                if side not in ("BUY", "SELL"):
                    raise ParseError(VENUE, "side", f"unknown trade side {side!r}", t)
                out.append(
                    Trade(
                        VENUE,
                        _str(t["product_id"], "product_id"),
                        price_field(t, "price", VENUE),
                        price_field(t, "size", VENUE),
                        side.lower(),
                        str(t["trade_id"]),
                        iso_to_ns(t["time"], VENUE, "time"),
                        recv_ns,
                    )
                )
        return out
    if channel == "heartbeats":
        return [Heartbeat(VENUE, "", ts, recv_ns)]
    if channel == "subscriptions":
        for ev in events:
            subs = ev["subscriptions"]
            if type(subs) is not dict:
                raise ParseError(VENUE, "subscriptions", "expected an object", ev)
            for name, products in subs.items():
                if type(products) is not list:
                    raise ParseError(VENUE, "subscriptions", "expected product lists", ev)
                out.append(
                    SubscriptionAck(VENUE, name, tuple(map(str, products)), True, "", recv_ns)
                )
        return out
    if channel in ("status", "candles", "user", "futures_balance_summary"):
        return []  # known channels this layer does not turn into market events
    raise ParseError(VENUE, "channel", f"unknown channel {channel!r}", msg)


def _str(value: Any, field: str) -> str:
    if type(value) is not str or not value:
        raise ParseError(VENUE, field, "expected a non-empty string", value)
    return value


def _opt(data: dict, key: str, positive: bool = False) -> Any:
    value = data.get(key)
    return None if value is None or value == "" else decimal_field(data, key, VENUE, positive)


class CoinbaseParser:
    """Stateful wrapper: parses and checks `sequence_num` continuity on one connection."""

    def __init__(self) -> None:
        self.sequence = SequenceTracker(VENUE)

    def parse(self, raw: str | bytes, recv_ns: int | None = None) -> list[Event]:
        msg = loads(VENUE, raw)
        try:
            events = _dispatch(msg, recv_ns)
        except ParseError:
            raise
        except SHAPE_ERRORS as exc:
            raise shape_error(VENUE, exc, msg) from None
        seq = sequence_of(msg)
        if seq is not None:
            gap = self.sequence.check(seq, recv_ns)
            if gap is not None:
                return [gap, *events]
        return events

    def reset(self) -> None:
        self.sequence.reset()


# ---------------------------------------------------------------- subscriptions and auth


def subscribe_message(
    channel: str, product_ids: list[str] | None = None, jwt: str | None = None
) -> dict[str, Any]:
    """A subscribe request; `jwt` is required for private channels (see `build_jwt`)."""
    if channel in PRIVATE_CHANNELS and not jwt:
        raise ValidationError("jwt", None, f"channel {channel!r} is private: pass build_jwt(...)")
    msg: dict[str, Any] = {"type": "subscribe", "channel": channel}
    if product_ids:
        msg["product_ids"] = list(product_ids)
    if jwt:
        msg["jwt"] = jwt
    return msg


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def build_jwt(
    key_name: str, private_key_pem: str, *, now: int | None = None, ttl_s: int = 120
) -> str:
    """An ES256 JWT for the Advanced Trade websocket (CDP API key name + EC private key PEM).

    Header `{"alg": "ES256", "kid": key_name, "nonce", "typ": "JWT"}`, claims `{"iss": "cdp",
    "nbf", "exp", "sub": key_name}`; the signature is the raw 64-byte r||s (JWS form). Tokens
    live two minutes: build a fresh one for every (re)subscription.
    """
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            "private_key_pem", "(hidden)", f"is not a PEM EC key ({type(exc).__name__})"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValidationError("private_key_pem", "(hidden)", "must be an EC P-256 key")
    issued = int(time.time()) if now is None else now
    header = {"alg": "ES256", "kid": key_name, "nonce": secrets.token_hex(16), "typ": "JWT"}
    claims = {"iss": "cdp", "nbf": issued, "exp": issued + ttl_s, "sub": key_name}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    der = key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


__all__ = [
    "VENUE",
    "WS_URL",
    "CoinbaseParser",
    "build_jwt",
    "parse",
    "sequence_of",
    "subscribe_message",
]
