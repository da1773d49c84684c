"""nzeza.feeds — real-time market data (see DESIGN.md).

Sans-I/O cores: one parser per venue (`binance`, `coinbase`, `kraken`, `dydx`, `hyperliquid`;
each `parse(raw, recv_ns=None) -> list[Event]`, raising only `nzeza.errors.ParseError`), the
local `OrderBook`, `BarAggregator`, `ConsolidatedPrice`, `CircuitBreaker`. Thin asyncio shells:
`FeedConnection` / `FeedManager` (websockets client) and `ReplayServer` (websockets server),
imported lazily so `import nzeza.feeds` stays light.
"""

from __future__ import annotations

from typing import Any

from nzeza.feeds.bars import BarAggregator, TradeBar, timeframe_ns
from nzeza.feeds.book import OrderBook
from nzeza.feeds.breaker import BreakerState, CircuitBreaker
from nzeza.feeds.capture import CaptureWriter, bundled, read_capture
from nzeza.feeds.check import BookTickerCheck
from nzeza.feeds.consolidated import ConsolidatedPrice, ConsolidatedQuote
from nzeza.feeds.events import (
    BestBidAsk,
    BookDelta,
    BookSnapshot,
    Event,
    FundingUpdate,
    Heartbeat,
    SequenceGap,
    SubscriptionAck,
    Ticker,
    Trade,
    VenueErrorEvent,
)
from nzeza.feeds.sequence import SequenceTracker

_LAZY = {
    "Backoff": "nzeza.feeds.connection",
    "FeedConnection": "nzeza.feeds.connection",
    "FeedGaveUp": "nzeza.feeds.connection",
    "FeedManager": "nzeza.feeds.connection",
    "binance_rest_snapshot": "nzeza.feeds.connection",
    "Faults": "nzeza.feeds.replay",
    "ReplayServer": "nzeza.feeds.replay",
    "record": "nzeza.feeds.replay",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nzeza.feeds' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "Backoff",
    "BarAggregator",
    "BestBidAsk",
    "BookDelta",
    "BookSnapshot",
    "BookTickerCheck",
    "BreakerState",
    "CaptureWriter",
    "CircuitBreaker",
    "ConsolidatedPrice",
    "ConsolidatedQuote",
    "Event",
    "Faults",
    "FeedConnection",
    "FeedGaveUp",
    "FeedManager",
    "FundingUpdate",
    "Heartbeat",
    "OrderBook",
    "ReplayServer",
    "SequenceGap",
    "SequenceTracker",
    "SubscriptionAck",
    "Ticker",
    "Trade",
    "TradeBar",
    "VenueErrorEvent",
    "binance_rest_snapshot",
    "bundled",
    "read_capture",
    "record",
    "timeframe_ns",
]
