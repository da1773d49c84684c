"""Typed market-data events: what every venue parser produces and every consumer reads.

All events are frozen `msgspec.Struct`s: immutable, hashable, compared by value, built in C (a
nine-field event costs about a tenth of a frozen dataclass, which matters at hundreds of
thousands of messages per second). Prices and sizes are `Decimal` parsed from the wire
text (never via float). Book levels are `(price, size)` tuples; a size of zero in a delta means
"remove this level". Timestamps are UTC nanoseconds since the epoch: `ts_ns` is the exchange's
own event time where the message carries one, `recv_ns` the local receive time where the caller
knows it; either may be `None`.

Symbols are the venue's own spelling (`BTCUSDT`, `BTC-USD`, `BTC/USD`, `BTC`), so an event can be
traced back to the wire; mapping to instruments happens above this layer.
"""

from __future__ import annotations

from decimal import Decimal

from msgspec import Struct

Level = tuple[Decimal, Decimal]
"""One book level: (price, size), both Decimal, size in base units."""

Levels = tuple[Level, ...]


class Trade(Struct, frozen=True, gc=False):
    """A public trade. `side` is the aggressor's side: "buy" or "sell" ("" when unknown)."""

    venue: str
    symbol: str
    price: Decimal
    size: Decimal
    side: str
    trade_id: str
    ts_ns: int | None = None
    recv_ns: int | None = None


class BookSnapshot(Struct, frozen=True, gc=False):
    """A full book (or its top N levels). Bids best-first (descending), asks best-first.

    `update_id` is the venue's book sequence the snapshot reflects (Binance `lastUpdateId`,
    Coinbase `sequence_num`, ...), `None` where the venue has none. `checksum` is the venue's
    own checksum of the resulting book where it sends one (Kraken CRC32).
    """

    venue: str
    symbol: str
    update_id: int | None
    bids: Levels
    asks: Levels
    ts_ns: int | None = None
    recv_ns: int | None = None
    checksum: int | None = None


class BookDelta(Struct, frozen=True, gc=False):
    """Changed levels. Size zero removes the level; any other size replaces it.

    `first_update_id`..`update_id` is the range of venue book updates the delta covers
    (Binance `U`..`u`); venues without ranges set both to the same value or `None`.
    """

    venue: str
    symbol: str
    first_update_id: int | None
    update_id: int | None
    bids: Levels
    asks: Levels
    ts_ns: int | None = None
    recv_ns: int | None = None
    checksum: int | None = None


class BestBidAsk(Struct, frozen=True, gc=False):
    """Top of book as the venue reports it; `update_id` is the book update it reflects."""

    venue: str
    symbol: str
    update_id: int | None
    bid_price: Decimal
    bid_size: Decimal
    ask_price: Decimal
    ask_size: Decimal
    ts_ns: int | None = None
    recv_ns: int | None = None


class Ticker(Struct, frozen=True, gc=False):
    """A venue ticker: last price and, where sent, best bid/ask and 24 h base volume."""

    venue: str
    symbol: str
    last_price: Decimal | None
    bid_price: Decimal | None = None
    ask_price: Decimal | None = None
    volume_24h: Decimal | None = None
    ts_ns: int | None = None
    recv_ns: int | None = None


class FundingUpdate(Struct, frozen=True, gc=False):
    """A perpetual's funding rate and mark price as its venue streams them.

    `funding_rate` is a fraction per funding interval and may be negative (longs pay a
    positive rate): Binance USDⓈ-M's rate for the coming funding time (`markPriceUpdate` `r`),
    Hyperliquid's current hourly rate (`activeAssetCtx` `ctx.funding`), dYdX v4's predicted
    next hourly rate (`v4_markets` `nextFundingRate`). `mark` is the price the venue values
    positions and funding at (Binance `p`, Hyperliquid `markPx`, dYdX's oracle price), None
    where the message carries none. `next_funding_ns` is the next funding time (UTC ns) where
    the venue says (Binance `T`), else None.
    """

    venue: str
    symbol: str
    funding_rate: Decimal
    mark: Decimal | None = None
    next_funding_ns: int | None = None
    ts_ns: int | None = None
    recv_ns: int | None = None


class Heartbeat(Struct, frozen=True, gc=False):
    """A keep-alive from the venue (proves the connection is alive, carries no data)."""

    venue: str
    symbol: str = ""
    ts_ns: int | None = None
    recv_ns: int | None = None


class SubscriptionAck(Struct, frozen=True, gc=False):
    """The venue confirmed (or refused, `success=False`) a subscription request."""

    venue: str
    channel: str
    symbols: tuple[str, ...] = ()
    success: bool = True
    request_id: str = ""
    recv_ns: int | None = None


class VenueErrorEvent(Struct, frozen=True, gc=False):
    """The venue sent an error message over the stream (not a parse failure on our side)."""

    venue: str
    message: str
    code: str = ""
    recv_ns: int | None = None


class SequenceGap(Struct, frozen=True, gc=False):
    """A connection-level sequence number skipped (Coinbase `sequence_num`, dYdX `message_id`).

    Books fed over that connection may have missed an update and must be resynced.
    """

    venue: str
    expected: int
    received: int
    recv_ns: int | None = None


Event = (
    Trade
    | BookSnapshot
    | BookDelta
    | BestBidAsk
    | Ticker
    | FundingUpdate
    | Heartbeat
    | SubscriptionAck
    | VenueErrorEvent
    | SequenceGap
)

__all__ = [
    "BestBidAsk",
    "BookDelta",
    "BookSnapshot",
    "Event",
    "FundingUpdate",
    "Heartbeat",
    "Level",
    "Levels",
    "SequenceGap",
    "SubscriptionAck",
    "Ticker",
    "Trade",
    "VenueErrorEvent",
]
