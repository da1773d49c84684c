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
- `v4_markets` (no `id`: every market at once): `subscribed` contents `{"markets": {ticker:
  {"oraclePrice", "nextFundingRate", ...}}}` → SubscriptionAck + one FundingUpdate per market;
  `channel_data` contents `{"trading": {ticker: {"nextFundingRate"?, ...}}, "oraclePrices":
  {ticker: {"price" (or "oraclePrice"), "effectiveAt", "effectiveAtHeight", "marketId"}}}` →
  FundingUpdate(funding_rate=nextFundingRate, the predicted next hourly rate; mark=the oracle
  price, dYdX's price for funding and margin; ts_ns=effectiveAt where given). Either half
  may come alone: `DydxParser` remembers each market's last rate and oracle price, so an
  oracle-only update carries the last rate (the stateless `parse` emits only what one message
  holds: an oracle price with no known rate gives no event).
- `{"type": "unsubscribed"}` → SubscriptionAck(success=False is not used; channel named);
  `{"type": "error", "message"}` → VenueErrorEvent

Prices and trade sizes must be positive, book sizes non-negative; a bad one is a `ParseError`
naming its field.

`message_id` counts every message on a connection; `DydxParser` checks it with a
`SequenceTracker` and emits `SequenceGap` on a skip. Book deltas carry `update_id=message_id`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from nzeza.errors import ParseError, ValidationError
from nzeza.feeds._wire import (
    dispatch_checked,
    iso_to_ns,
    level_object,
    levels_field,
    loads,
    price_field,
    signed_decimal_field,
)
from nzeza.feeds.events import (
    BookDelta,
    BookSnapshot,
    Event,
    FundingUpdate,
    Heartbeat,
    SubscriptionAck,
    Trade,
    VenueErrorEvent,
)
from nzeza.feeds.sequence import SequenceTracker

VENUE = "dydx"
WS_URL = "wss://indexer.dydx.trade/v4/ws"
CHANNELS = ("v4_orderbook", "v4_trades", "v4_markets")


class MarketState:
    """Each market's last known next funding rate and oracle price (`v4_markets` sends them
    apart: a trading update with the rate, an oracle update with the price)."""

    def __init__(self) -> None:
        self.rates: dict[str, Decimal] = {}
        self.oracles: dict[str, Decimal] = {}


def parse(raw: str | bytes, recv_ns: int | None = None) -> list[Event]:
    """Parse one dYdX indexer message. Raises ParseError (only) on bad input."""
    msg = loads(VENUE, raw)
    return dispatch_checked(VENUE, _dispatch, msg, recv_ns)


def _dispatch(msg: Any, recv_ns: int | None, state: MarketState | None = None) -> list[Event]:
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
    if channel == "v4_markets":
        return _markets(kind, msg, recv_ns, state or MarketState())
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


def _markets(kind: str, msg: dict, recv_ns: int | None, state: MarketState) -> list[Event]:
    if kind == "unsubscribed":
        return [SubscriptionAck(VENUE, "v4_markets", (), False, "unsubscribed", recv_ns)]
    contents = msg["contents"]
    if kind == "subscribed":
        if type(contents) is not dict or type(contents.get("markets")) is not dict:
            raise ParseError(VENUE, "markets", "expected an object of markets", msg)
        out: list[Event] = [SubscriptionAck(VENUE, "v4_markets", (), True, "", recv_ns)]
        for ticker, market in contents["markets"].items():
            if type(market) is not dict:
                raise ParseError(VENUE, "markets", "expected a market object", market)
            if "oraclePrice" in market:
                state.oracles[ticker] = price_field(market, "oraclePrice", VENUE)
            if "nextFundingRate" in market:
                state.rates[ticker] = signed_decimal_field(market, "nextFundingRate", VENUE)
                out.append(
                    FundingUpdate(
                        VENUE,
                        ticker,
                        state.rates[ticker],
                        state.oracles.get(ticker),
                        None,
                        None,
                        recv_ns,
                    )
                )
        return out
    batch = contents if kind == "channel_batch_data" else [contents]
    if type(batch) is not list:
        raise ParseError(VENUE, "contents", "expected a list in channel_batch_data", msg)
    out = []
    for part in batch:
        if type(part) is not dict:
            raise ParseError(VENUE, "contents", "expected an object", part)
        trading = part.get("trading") or {}
        oracles = part.get("oraclePrices") or {}
        if type(trading) is not dict or type(oracles) is not dict:
            raise ParseError(VENUE, "contents", "expected trading/oraclePrices objects", part)
        stamps: dict[str, int] = {}
        for ticker, oracle in oracles.items():
            if type(oracle) is not dict:
                raise ParseError(VENUE, "oraclePrices", "expected an oracle price object", oracle)
            key = "price" if "price" in oracle else "oraclePrice"
            state.oracles[ticker] = price_field(oracle, key, VENUE)
            if "effectiveAt" in oracle:
                stamps[ticker] = iso_to_ns(oracle["effectiveAt"], VENUE, "effectiveAt")
        changed = []
        for ticker, market in trading.items():
            if type(market) is not dict:
                raise ParseError(VENUE, "trading", "expected a market object", market)
            if "nextFundingRate" in market:
                state.rates[ticker] = signed_decimal_field(market, "nextFundingRate", VENUE)
                changed.append(ticker)
        changed += [t for t in oracles if t not in changed and t in state.rates]
        for ticker in changed:
            out.append(
                FundingUpdate(
                    VENUE,
                    ticker,
                    state.rates[ticker],
                    state.oracles.get(ticker),
                    None,
                    stamps.get(ticker),
                    recv_ns,
                )
            )
    return out


class DydxParser:
    """Stateful wrapper: parses and checks `message_id` continuity on one connection, and
    keeps each market's last funding rate and oracle price (`v4_markets`)."""

    def __init__(self) -> None:
        self.sequence = SequenceTracker(VENUE)
        self.markets = MarketState()

    def parse(self, raw: str | bytes, recv_ns: int | None = None) -> list[Event]:
        msg = loads(VENUE, raw)
        events = dispatch_checked(VENUE, _dispatch, msg, recv_ns, self.markets)
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


def subscribe_message(channel: str, market: str = "", *, batched: bool = False) -> dict[str, Any]:
    """`{"type": "subscribe", "channel": "v4_orderbook", "id": "BTC-USD"}`; `v4_markets` (every
    market's funding rate and oracle price) takes no market: `{"type": "subscribe",
    "channel": "v4_markets"}`."""
    if channel not in CHANNELS:
        raise ValidationError("channel", channel, f"must be one of {CHANNELS}")
    if channel != "v4_markets" and not market:
        raise ValidationError("market", market, f"{channel} needs a market, e.g. BTC-USD")
    msg: dict[str, Any] = {"type": "subscribe", "channel": channel}
    if channel != "v4_markets":
        msg["id"] = market
    if batched:
        msg["batched"] = True
    return msg


__all__ = [
    "CHANNELS",
    "VENUE",
    "WS_URL",
    "DydxParser",
    "MarketState",
    "parse",
    "subscribe_message",
]
